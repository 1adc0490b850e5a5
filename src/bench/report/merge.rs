//! `mio-echo bench merge FILE...`: one report from the `--json` reports of
//! runs made at the same time on several hosts.
//!
//! Counts, rates and CPU seconds add up; percentiles come from the sum of
//! the histograms, never from averaging percentiles (the p99 of two hosts
//! is not the mean of their p99s). Inputs that cannot be merged are refused
//! with the file named; inputs that can, but not quite as the user may
//! think, are merged with a warning.

use std::path::Path;

use hdrhistogram::Histogram;

use crate::bench::report::Cpu;
use crate::bench::report::Errors;
use crate::bench::report::Histograms;
use crate::bench::report::Latency;
use crate::bench::report::Rate;
use crate::bench::report::Report;
use crate::bench::report::TlsFigures;
use crate::bench::report::Window;
use crate::bench::report::histograms::decode;
use crate::bench::report::histograms::encode;

/// Windows that overlap less than this share of the shorter one were not
/// run at the same time: their summed rates are not a combined rate.
const MIN_OVERLAP: f64 = 0.9;

/// Reads and merges the reports; the error names the file at fault.
pub fn merge_files(paths: &[impl AsRef<Path>]) -> Result<Report, String> {
    let mut inputs = Vec::with_capacity(paths.len());
    let mut seen = Vec::with_capacity(paths.len());
    for path in paths {
        let path = path.as_ref();
        let name = path.display().to_string();
        // The same run twice would count its every message twice.
        let identity = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(index) = seen.iter().position(|earlier| *earlier == identity) {
            let earlier: &Path = paths[index].as_ref();
            return Err(format!(
                "{name}: the same file as {} (a report merged twice counts its run twice)",
                earlier.display()
            ));
        }
        seen.push(identity);
        inputs.push((name, read_report(path)?));
    }
    merge(inputs)
}

/// A saved `bench --json` report.
pub fn read_report(path: &Path) -> Result<Report, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("{name}: cannot read it: {}", crate::error::describe(&err)))?;
    serde_json::from_str(text.trim())
        .or_else(|err| {
            // `kubectl logs` mixes stderr (warnings) into the report's
            // file: the report is its one line that is a JSON object.
            text.lines()
                .rev()
                .find(|line| line.starts_with('{'))
                .map_or(Err(err), serde_json::from_str)
        })
        .map_err(|err| format!("{name}: not a mio-echo bench --json report ({err})"))
}

/// Merges named reports (see the module docs).
pub fn merge(inputs: Vec<(String, Report)>) -> Result<Report, String> {
    let Some((first_name, first)) = inputs.first() else {
        return Err("nothing to merge".into());
    };
    let mut warnings = Vec::new();
    let mut latency: Option<Histogram<u64>> = None;
    let mut uncorrected: Option<Option<Histogram<u64>>> = None;
    for (name, report) in &inputs {
        if report.mode != first.mode {
            return Err(format!(
                "{name}: a {} run cannot merge with {first_name}'s {} run",
                report.mode, first.mode
            ));
        }
        if report.size != first.size {
            return Err(format!(
                "{name}: messages of {} B cannot merge with {first_name}'s of {} B",
                report.size, first.size
            ));
        }
        let histogram = decode(&report.histograms.latency)
            .map_err(|err| format!("{name}: histograms.latency is {err}"))?;
        add(&mut latency, histogram, name, first_name)?;
        let part = report
            .histograms
            .latency_uncorrected
            .as_deref()
            .map(decode)
            .transpose()
            .map_err(|err| format!("{name}: histograms.latency_uncorrected is {err}"))?;
        uncorrected = Some(match (uncorrected, part) {
            (None, part) => part,
            (Some(Some(mut sum)), Some(part)) => {
                sum.add(&part)
                    .map_err(|_| format!("{name}: histograms of a different range than {first_name}'s"))?;
                Some(sum)
            }
            _ => None,
        });
        if report.addr != first.addr {
            warnings.push(format!(
                "{name} measured {}, {first_name} {}: different servers (or one server under two names)",
                report.addr, first.addr
            ));
        }
        if report.rate.is_some() != first.rate.is_some() {
            let kind = |r: &Report| {
                if r.rate.is_some() {
                    "an open loop (--rate)"
                } else {
                    "a closed loop"
                }
            };
            warnings.push(format!(
                "{name} ran {}, {first_name} {}: their latencies do not measure the same thing",
                kind(report),
                kind(first)
            ));
        }
        if report.duration_s != first.duration_s {
            warnings.push(format!(
                "{name} measured a {} s window, {first_name} a {} s one",
                report.duration_s, first.duration_s
            ));
        }
        if let (Some(a), Some(b)) = (report.window, first.window)
            && overlap(a, b) < MIN_OVERLAP
        {
            warnings.push(format!(
                "{name} did not run at the same time as {first_name} (their windows overlap {:.0}%): \
                 the percentiles merge, but the summed rates are not one combined rate; start hosts \
                 together with --start-at",
                100.0 * overlap(a, b)
            ));
        }
    }
    let latency = latency.expect("at least one input");
    let uncorrected = uncorrected.flatten();
    let sum = |field: fn(&Report) -> f64| inputs.iter().map(|(_, r)| field(r)).sum::<f64>();
    let count = |field: fn(&Report) -> u64| inputs.iter().map(|(_, r)| field(r)).sum::<u64>();
    let mut errors = Errors::default();
    for (_, report) in &inputs {
        errors.add(&report.errors);
    }
    let rate = inputs.iter().try_fold(
        Rate {
            target: 0.0,
            achieved: 0.0,
        },
        |total, (_, r)| {
            r.rate.map(|rate| Rate {
                target: total.target + rate.target,
                achieved: total.achieved + rate.achieved,
            })
        },
    );
    let optional_sum =
        |field: fn(&Report) -> Option<f64>| inputs.iter().map(|(_, r)| field(r)).sum::<Option<f64>>();
    let messages = count(|r| r.messages);
    let cycles = count(|r| r.cycles);
    let client_seconds = sum(|r| r.cpu.client_seconds);
    let server_seconds = optional_sum(|r| r.cpu.server_seconds);
    let per_unit = |cpu: f64, units: u64| (units > 0).then(|| cpu * 1e6 / units as f64);
    let churn = first.mode == "churn";
    let per_message = |cpu: f64| if churn { None } else { per_unit(cpu, messages) };
    let per_cycle = |cpu: f64| if churn { per_unit(cpu, cycles) } else { None };
    // From the earliest start, but never longer than the longest window
    // measured: hosts that did not run together do not make a longer run.
    let longest = inputs.iter().map(|(_, r)| r.measured_s).fold(0.0, f64::max);
    let window = inputs
        .iter()
        .filter_map(|(_, r)| r.window)
        .reduce(|a, b| Window {
            start_unix_s: a.start_unix_s.min(b.start_unix_s),
            end_unix_s: a.end_unix_s.max(b.end_unix_s),
        })
        .map(|w| Window {
            end_unix_s: w.end_unix_s.min(w.start_unix_s + longest),
            ..w
        });
    let mut all_warnings: Vec<String> = inputs
        .iter()
        .flat_map(|(name, r)| r.warnings.iter().map(move |w| format!("{name}: {w}")))
        .collect();
    all_warnings.extend(warnings);
    let (tls, handshake) = merge_tls(&inputs, first_name)?;
    Ok(Report {
        command: None,
        host: None,
        mode: first.mode.clone(),
        addr: first.addr.clone(),
        proxy_header: first.proxy_header.clone(),
        connections: inputs.iter().map(|(_, r)| r.connections).sum(),
        size: first.size,
        threads: inputs.iter().map(|(_, r)| r.threads).sum(),
        warmup_s: first.warmup_s,
        warmup_ran_s: inputs.iter().find_map(|(_, r)| r.warmup_ran_s),
        duration_s: first.duration_s,
        measured_s: inputs.iter().map(|(_, r)| r.measured_s).fold(0.0, f64::max),
        stopped_early: inputs
            .iter()
            .find_map(|(name, r)| r.stopped_early.as_ref().map(|why| format!("{name}: {why}"))),
        interrupted: inputs.iter().any(|(_, r)| r.interrupted),
        signal: inputs.iter().find_map(|(_, r)| r.signal.clone()),
        stalled_connections: count(|r| r.stalled_connections),
        file_errors: Vec::new(),
        // Each host's connections, together.
        tcp: inputs
            .iter()
            .filter_map(|(_, report)| report.tcp)
            .reduce(|mut sum, part| {
                sum.merge(&part);
                sum
            }),
        server_memory: None,
        connected: count(|r| r.connected),
        connect_time_s: inputs.iter().map(|(_, r)| r.connect_time_s).fold(0.0, f64::max),
        messages,
        messages_per_s: sum(|r| r.messages_per_s),
        bytes: count(|r| r.bytes),
        bytes_per_s: sum(|r| r.bytes_per_s),
        cycles,
        connections_per_s: sum(|r| r.connections_per_s),
        connect_rate: inputs
            .iter()
            .map(|(_, r)| r.connect_rate)
            .collect::<Option<Vec<_>>>()
            .map(|rates| Rate {
                target: rates.iter().map(|r| r.target).sum(),
                achieved: rates.iter().map(|r| r.achieved).sum(),
            }),
        rate,
        latency: Latency::from_micros(&latency),
        latency_uncorrected: uncorrected.as_ref().and_then(Latency::from_micros),
        // Only the latency histograms travel in a report: send lags cannot merge.
        send_lag: None,
        late_sends: inputs.iter().map(|(_, r)| r.late_sends).sum(),
        histograms: Histograms {
            latency: encode(&latency),
            latency_uncorrected: uncorrected.as_ref().map(encode),
            handshake: handshake.as_ref().map(encode),
            send_lag: None,
        },
        errors,
        cpu: Cpu {
            client_seconds,
            client_us_per_message: per_message(client_seconds),
            client_us_per_cycle: per_cycle(client_seconds),
            server_seconds,
            server_us_per_message: server_seconds.and_then(per_message),
            server_us_per_cycle: server_seconds.and_then(per_cycle),
        },
        io_uring_sends: inputs.iter().all(|(_, r)| r.io_uring_sends),
        warnings: all_warnings,
        slo: None,
        window,
        intervals: None,
        steps: None,
        max_rate: None,
        tls,
        udp: None,
        merged_from: Some(inputs.iter().map(|(name, _)| name.clone()).collect()),
    })
}

/// TLS figures merge when every report has them: handshakes add up, their
/// latencies from the summed histograms; the first report's session says
/// the protocol.
fn merge_tls(
    inputs: &[(String, Report)],
    first_name: &str,
) -> Result<(Option<TlsFigures>, Option<Histogram<u64>>), String> {
    let mut handshake = None;
    let mut merged: Option<TlsFigures> = None;
    for (name, report) in inputs {
        let (Some(tls), Some(encoded)) = (&report.tls, &report.histograms.handshake) else {
            return Ok((None, None));
        };
        let part = decode(encoded).map_err(|err| format!("{name}: histograms.handshake is {err}"))?;
        add(&mut handshake, part, name, first_name)?;
        let sum = merged.get_or_insert_with(|| TlsFigures {
            handshakes: 0,
            resumed: 0,
            ..tls.clone()
        });
        sum.handshakes += tls.handshakes;
        sum.resumed += tls.resumed;
    }
    if let (Some(figures), Some(histogram)) = (&mut merged, &handshake) {
        figures.handshake_latency = Latency::from_micros(histogram);
    }
    Ok((merged, handshake))
}

fn add(
    sum: &mut Option<Histogram<u64>>,
    part: Histogram<u64>,
    name: &str,
    first: &str,
) -> Result<(), String> {
    match sum {
        None => *sum = Some(part),
        Some(total) => {
            if part.sigfig() != total.sigfig() {
                return Err(format!(
                    "{name}: histograms of {} significant digits cannot merge with {first}'s of {}",
                    part.sigfig(),
                    total.sigfig()
                ));
            }
            total
                .add(&part)
                .map_err(|_| format!("{name}: histograms of a different range than {first}'s"))?;
        }
    }
    Ok(())
}

/// How much two windows overlap, as a share of the shorter one.
fn overlap(a: Window, b: Window) -> f64 {
    let shared = a.end_unix_s.min(b.end_unix_s) - a.start_unix_s.max(b.start_unix_s);
    let shorter = (a.end_unix_s - a.start_unix_s).min(b.end_unix_s - b.start_unix_s);
    if shorter <= 0.0 {
        0.0
    } else {
        (shared / shorter).clamp(0.0, 1.0)
    }
}
