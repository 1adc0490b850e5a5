//! A `bench --mode udp` run as a [`Report`]: the common fields, and the
//! datagrams' fates in `udp`.

use crate::bench::config::Config;
use crate::bench::datagrams::Run;
use crate::bench::report::Cpu;
use crate::bench::report::Errors;
use crate::bench::report::Histograms;
use crate::bench::report::Latency;
use crate::bench::report::Rate;
use crate::bench::report::Report;
use crate::bench::report::Window;
use crate::bench::report::histograms::encode;
use crate::bench::report::warnings::Warnings;

pub(super) fn build(config: &Config, run: &Run<'_>, cpu: (f64, Option<f64>), warnings: Warnings) -> Report {
    let figures = run.figures;
    // The window that ran: shorter when a signal cut it.
    let secs = run
        .window_until
        .saturating_duration_since(run.window_from)
        .as_secs_f64();
    let per_second = |count: u64| count as f64 / secs.max(f64::MIN_POSITIVE);
    let per_datagram = |seconds: f64| (figures.received > 0).then(|| seconds * 1e6 / figures.received as f64);
    if figures.corrupted > 0 {
        warnings.once(
            "udp-corrupted",
            format!("{} replies were not what was sent", figures.corrupted),
        );
    }
    let (client_seconds, server_seconds) = cpu;
    let start = crate::bench::report::collect::unix_seconds(run.window_from);
    let mut report = Report {
        command: None,
        host: None,
        mode: "udp".into(),
        addr: config.addr.to_string(),
        proxy_header: None,
        connections: config.connections,
        size: config.size,
        threads: 1,
        warmup_s: config.warmup.as_secs_f64(),
        warmup_ran_s: None,
        duration_s: config.duration.as_secs_f64(),
        measured_s: secs,
        stopped_early: run.signal.map(|_| "interrupted".to_string()),
        interrupted: run.signal.is_some(),
        signal: run
            .signal
            .map(|number| crate::bench::signals::signal_name(number).to_string()),
        stalled_connections: 0,
        file_errors: Vec::new(),
        tcp: None,
        server_memory: None,
        connected: 0,
        connect_time_s: 0.0,
        messages: figures.received,
        messages_per_s: per_second(figures.received),
        bytes: figures.received * config.size as u64,
        bytes_per_s: per_second(figures.received * config.size as u64),
        cycles: 0,
        connections_per_s: 0.0,
        connect_rate: None,
        rate: config.open_loop.as_ref().map(|_| Rate {
            target: per_second(figures.sent),
            achieved: per_second(figures.received),
        }),
        latency: Latency::from_micros(&run.latency),
        latency_uncorrected: None,
        send_lag: None,
        late_sends: None,
        histograms: Histograms {
            latency: encode(&run.latency),
            latency_uncorrected: None,
            handshake: None,
            send_lag: None,
        },
        // Loss is a figure (`udp.lost`), not an error; corruption is one.
        errors: Errors {
            mismatches: figures.corrupted,
            ..Errors::default()
        },
        cpu: Cpu {
            client_seconds,
            client_us_per_message: per_datagram(client_seconds),
            client_us_per_cycle: None,
            server_seconds,
            server_us_per_message: server_seconds.and_then(per_datagram),
            server_us_per_cycle: None,
        },
        io_uring_sends: false,
        warnings: Vec::new(),
        slo: None,
        window: Some(Window {
            start_unix_s: start,
            end_unix_s: start + secs,
        }),
        intervals: None,
        steps: None,
        max_rate: None,
        tls: None,
        udp: Some(figures),
        merged_from: None,
    };
    let mut verdicts: Vec<_> = config.slo.iter().map(|gate| gate.evaluate(&report)).collect();
    if let Some(max_loss) = config.max_loss {
        verdicts.push(crate::bench::report::Verdict {
            gate: format!("loss<={}%", max_loss * 100.0),
            value: Some(figures.loss * 100.0),
            pass: figures.loss <= max_loss,
            measured: Some(format!("{:.3}%", figures.loss * 100.0)),
        });
    }
    report.slo = (!verdicts.is_empty()).then_some(verdicts);
    report.warnings = warnings.into_messages();
    report
}
