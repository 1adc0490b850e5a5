//! Adding up the workers' tallies into one [`Report`].

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

use crate::bench::config::Config;
use crate::bench::config::Mode;
use crate::bench::engine::LATE;
use crate::bench::engine::Tally;
use crate::bench::probe::CpuWindow;
use crate::bench::report::Cpu;
use crate::bench::report::Errors;
use crate::bench::report::Histograms;
use crate::bench::report::Latency;
use crate::bench::report::Rate;
use crate::bench::report::Report;
use crate::bench::report::TlsFigures;
use crate::bench::report::Window;
use crate::bench::report::histograms;
use crate::bench::report::histograms::encode;
use crate::bench::report::tcp::TcpFigures;
use crate::bench::report::warnings::Warnings;

/// Late sends of the load generator's own making, as a share of all sends,
/// above which the report says the figures are limited by the generator.
const GENERATOR_LATE_SHARE: f64 = 0.01;

/// Fewer sends than this say nothing about the load generator's share.
const GENERATOR_LATE_MIN_SENDS: u64 = 1000;

/// A connect rate achieved below this share of `--connect-rate` is warned of.
const CONNECT_RATE_SHORT: f64 = 0.95;

/// Sums and merges what each worker measured (histograms added, never
/// percentiles averaged).
pub fn report(config: &Config, tallies: Vec<Tally>, window: CpuWindow, warnings: Warnings) -> Report {
    let mut errors = Errors::default();
    let mut latency = histograms::new_histogram();
    let open_loop = config.open_loop.is_some();
    let mut uncorrected = open_loop.then(histograms::new_histogram);
    let mut send_lag = open_loop.then(histograms::new_histogram);
    let (mut connected, mut messages, mut bytes, mut cycles) = (0, 0, 0, 0);
    let (mut late_sends, mut generator_late, mut sends) = (0, 0, 0);
    let mut io_uring_sends = true;
    let mut connect_time = Duration::ZERO;
    let (mut measured, mut signal) = (Duration::ZERO, None);
    let mut stalled = 0;
    let mut warmup_ran = Duration::ZERO;
    let mut stopped_early = Some(None);
    let mut window_from: Option<Instant> = None;
    let threads = tallies.len();
    let mut tls: Option<TlsFigures> = None;
    let mut handshake_latency = histograms::new_histogram();
    let mut tcp: Option<TcpFigures> = None;
    for tally in tallies {
        if let Some(part) = &tally.tcp {
            tcp.get_or_insert_default().merge(part);
        }
        // Rates are over the time traffic ran: the longest worker's window.
        measured = measured.max(tally.measured);
        window_from = match (window_from, tally.window_from) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        signal = signal.or(tally.signal);
        stalled += tally.stalled;
        warmup_ran = warmup_ran.max(tally.warmup_ran);
        // Early only when every worker stopped early: say the first reason.
        stopped_early = match (stopped_early, tally.stopped_early) {
            (Some(first), Some(why)) => Some(first.or(Some(why))),
            _ => None,
        };
        errors.add(&tally.errors);
        add(&mut latency, &tally.latency);
        if let (Some(sum), Some(part)) = (&mut uncorrected, &tally.latency_uncorrected) {
            add(sum, part);
        }
        if let (Some(sum), Some(part)) = (&mut send_lag, &tally.send_lag) {
            add(sum, part);
        }
        late_sends += tally.late_sends;
        generator_late += tally.generator_late;
        sends += tally.sends;
        connected += tally.connected;
        messages += tally.messages;
        bytes += tally.bytes;
        cycles += tally.cycles;
        connect_time = connect_time.max(tally.connect_time);
        io_uring_sends &= tally.batched_sends;
        add(&mut handshake_latency, &tally.handshake_latency);
        if let Some(part) = tally.tls {
            let sum = tls.get_or_insert(TlsFigures {
                negotiated: part.negotiated.clone().unwrap_or_default(),
                handshakes: 0,
                resumed: 0,
                handshake_latency: None,
            });
            sum.handshakes += part.handshakes;
            sum.resumed += part.resumed;
        }
    }
    let secs = measured.as_secs_f64();
    let per_second = |count: u64| if secs > 0.0 { count as f64 / secs } else { 0.0 };
    let rate = config.open_loop.as_ref().map(|open| {
        // The profile's time zero is the start of the warm-up.
        let warmup = config.warmup.as_secs_f64();
        let due = open.profile.due_by(warmup + secs) - open.profile.due_by(warmup);
        Rate {
            target: if secs > 0.0 {
                due / secs
            } else {
                open.profile.rate_at(warmup)
            },
            achieved: per_second(messages),
        }
    });
    // Not on a tiny sample, and never when the server answered nothing (the
    // sends then waited on it, not on this process).
    if sends >= GENERATOR_LATE_MIN_SENDS
        && messages > 0
        && generator_late as f64 > GENERATOR_LATE_SHARE * sends as f64
    {
        warnings.once(
            "generator-late",
            format!(
                "the figures are limited by the load generator, not the server: {generator_late} of {sends} sends \
                 ({:.1}%) went out more than {} ms after their time while their connections could take them; \
                 use more --threads, or fewer connections per thread",
                100.0 * generator_late as f64 / sends as f64,
                LATE.as_millis()
            ),
        );
    }
    let churn = config.mode == Mode::Churn;
    let connect_rate = config.connect_rate.map(|target| Rate {
        target,
        achieved: if churn {
            per_second(cycles)
        } else {
            connected as f64 / connect_time.as_secs_f64().max(f64::MIN_POSITIVE)
        },
    });
    if let Some(rate) = connect_rate.filter(|rate| rate.achieved < CONNECT_RATE_SHORT * rate.target) {
        warnings.once(
            "connect-rate",
            format!(
                "connections were made at {:.0}/s, under the --connect-rate of {:.0}/s asked for ({:.0}%): the \
                 server (or this load generator) did not keep up",
                rate.achieved,
                rate.target,
                100.0 * rate.achieved / rate.target
            ),
        );
    }
    if stalled > 0 {
        warnings.once(
            "stalled-connections",
            format!(
                "{stalled} of {connected} connections completed no exchange in the measured window \
                 (is the server at its connection limit?); their messages count as timeouts"
            ),
        );
    }
    let per_unit = |cpu: f64, units: u64| (units > 0).then(|| cpu * 1e6 / units as f64);
    let per_message = |cpu: f64| if churn { None } else { per_unit(cpu, messages) };
    let per_cycle = |cpu: f64| if churn { per_unit(cpu, cycles) } else { None };
    Report {
        command: None,
        host: None,
        mode: config.mode.name().to_string(),
        addr: config.target(),
        proxy_header: config
            .proxy_header
            .map(|version| format!("{version:?}").to_lowercase()),
        connections: config.connections,
        size: config.size,
        threads,
        warmup_s: config.warmup.as_secs_f64(),
        warmup_ran_s: (warmup_ran + Duration::from_millis(1) < config.warmup)
            .then_some(warmup_ran.as_secs_f64()),
        duration_s: config.duration.as_secs_f64(),
        measured_s: secs,
        stopped_early: stopped_early.flatten().map(str::to_string),
        interrupted: signal.is_some(),
        signal: signal.map(|number| crate::bench::signals::signal_name(number).to_string()),
        stalled_connections: stalled,
        file_errors: Vec::new(),
        server_memory: None,
        connected: if churn { 0 } else { connected },
        connect_time_s: connect_time.as_secs_f64(),
        messages,
        messages_per_s: per_second(messages),
        bytes,
        bytes_per_s: per_second(bytes),
        cycles,
        connections_per_s: per_second(cycles),
        connect_rate,
        rate,
        latency: Latency::from_micros(&latency),
        latency_uncorrected: uncorrected.as_ref().and_then(Latency::from_micros),
        send_lag: send_lag.as_ref().and_then(Latency::from_micros),
        late_sends: open_loop.then_some(late_sends),
        histograms: Histograms {
            latency: encode(&latency),
            latency_uncorrected: uncorrected.as_ref().map(encode),
            handshake: tls.as_ref().map(|_| encode(&handshake_latency)),
            send_lag: send_lag.as_ref().map(encode),
        },
        errors,
        tcp,
        cpu: Cpu {
            client_seconds: window.client,
            client_us_per_message: per_message(window.client),
            client_us_per_cycle: per_cycle(window.client),
            server_seconds: window.server,
            server_us_per_message: window.server.and_then(per_message),
            server_us_per_cycle: window.server.and_then(per_cycle),
        },
        io_uring_sends,
        warnings: warnings.into_messages(),
        slo: None,
        window: window_from.map(|from| {
            let start = unix_seconds(from);
            Window {
                start_unix_s: start,
                end_unix_s: start + secs,
            }
        }),
        intervals: None,
        steps: None,
        max_rate: None,
        tls: tls.map(|figures| TlsFigures {
            handshake_latency: Latency::from_micros(&handshake_latency),
            ..figures
        }),
        udp: None,
        merged_from: None,
    }
}

/// Wall-clock seconds since the Unix epoch at `instant`.
pub fn unix_seconds(instant: Instant) -> f64 {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let wall_now = wall.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    if instant <= now {
        wall_now - (now - instant).as_secs_f64()
    } else {
        wall_now + (instant - now).as_secs_f64()
    }
}

/// Adds `part` into `sum`; every histogram of bench has the same bounds, so
/// this cannot fail short of a bug.
fn add(sum: &mut Histogram<u64>, part: &Histogram<u64>) {
    sum.add(part).expect("histograms of one shape add up");
}
