//! `--find-max-rate`: the highest open-loop rate that meets the `--slo` gates.
//!
//! Each probe is a whole run at one rate (its own connections, warm-up and
//! fresh histograms). The rate doubles until a probe fails its gates, then
//! the interval between the last pass and the first fail is halved until it
//! is within 5% of its top. A first probe that fails halves the rate
//! instead, until one passes.

use crate::bench::report::{MaxRate, RateProbe};

use crate::bench::config::Config;
use crate::bench::config::OpenLoop;
use crate::bench::pacing::schedule::RateProfile;
use crate::bench::report::Report;
use crate::bench::run;

/// The search stops once (first fail - last pass) / first fail is below this.
const PRECISION: f64 = 0.05;
/// Below this many messages per second nothing is worth probing.
const LOWEST: f64 = 1.0;
/// The start when `--rate` does not give one.
pub const DEFAULT_START: f64 = 1000.0;

/// Runs the search; the report returned is the best passing probe's (the
/// last probe's when none passed), with the search in `max_rate`.
pub fn find_max_rate(config: &Config, start: f64, highest: f64) -> Result<Report, String> {
    let mut probes = Vec::new();
    // The last passing and the first failing probe, each with its report.
    let mut low: Option<(f64, Report)> = None;
    let mut high: Option<(f64, Report)> = None;
    let mut rate = start;
    let mut interrupted = None;
    loop {
        let report = probe(config, rate)?;
        let pass = !report.failed_a_gate() && !report.interrupted;
        eprintln!(
            "probe {rate:.0} msg/s: achieved {:.0} msg/s, p99 {}: {}",
            report.rate.map_or(0.0, |r| r.achieved),
            report
                .latency
                .as_ref()
                .map_or("-".into(), |l| format!("{:.0} us", l.p99_us)),
            if report.interrupted {
                "interrupted"
            } else if pass {
                "PASS"
            } else {
                "FAIL"
            }
        );
        probes.push(RateProbe {
            rate,
            achieved: report.rate.map_or(0.0, |r| r.achieved),
            p99_us: report.latency.as_ref().map(|l| l.p99_us),
            pass,
            interrupted: report.interrupted,
        });
        if report.interrupted {
            // Not a fail: the bracket stays what the finished probes found.
            interrupted = Some(report);
            break;
        }
        if pass {
            low = Some((rate, report));
        } else {
            high = Some((rate, report));
        }
        rate = match (&low, &high) {
            (Some((l, _)), Some((h, _))) if (h - l) / h <= PRECISION => break,
            (Some((l, _)), Some((h, _))) => (l + h) / 2.0,
            (Some((l, _)), None) if l * 2.0 > highest => break,
            (Some((l, _)), None) => l * 2.0,
            (None, Some((h, _))) if h / 2.0 < LOWEST => break,
            (None, Some((h, _))) => h / 2.0,
            (None, None) => unreachable!("a probe either passed or failed"),
        };
    }
    let answer = MaxRate {
        low: low.as_ref().map(|(rate, _)| *rate),
        high: high.as_ref().map(|(rate, _)| *rate),
        probes,
        interrupted: interrupted.is_some(),
    };
    let signal = interrupted.as_ref().and_then(|report| report.signal.clone());
    let mut report = match low.or(high) {
        Some((_, report)) => report,
        None => interrupted.expect("at least one probe ran"),
    };
    // The search as a whole was interrupted, whichever probe's figures stand.
    if answer.interrupted {
        report.interrupted = true;
        report.signal = signal;
    }
    report.max_rate = Some(answer);
    Ok(report)
}

fn probe(config: &Config, rate: f64) -> Result<Report, String> {
    let open = config
        .open_loop
        .as_ref()
        .ok_or("--find-max-rate needs the open loop")?;
    let profile = RateProfile::new(&[(config.warmup, rate, rate), (config.duration, rate, rate)]);
    let config = Config {
        open_loop: Some(OpenLoop {
            profile,
            ..open.clone()
        }),
        // Each probe's figures stand alone; the files would hold the last only.
        hdr_log: None,
        hgrm: None,
        ..config.clone()
    };
    run(&config)
}
