//! One run: the streams' workers or the datagram engine, then the report
//! and its files.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use super::config::{Config, Mode};
use super::datagrams;
use super::engine;
use super::engine::sources::{check_source_ips, choose_source_ips};
use super::probe::{LiveCounters, Probe};
use super::report::intervals;
use super::report::live::LiveOut;
use super::report::warnings::Warnings;
use super::report::{Report, collect, output};
use crate::fd_limit;

/// Descriptors the process needs besides its connections.
const SPARE_FDS: u64 = 32;

/// Runs the benchmark and returns what it measured; errors are for setup
/// problems only (traffic errors are counted in the report).
pub fn run(config: &Config) -> Result<Report, String> {
    check_fd_limit(config.connections)?;
    let files = output::Files::open(config)?;
    let (mut report, intervals) = if config.mode == Mode::Udp {
        (datagrams::run(config)?, None)
    } else {
        run_streams(config)?
    };
    report
        .file_errors
        .extend(files.write(&report, intervals.as_ref()));
    for error in &report.file_errors {
        eprintln!("error: {error}");
    }
    Ok(report)
}

/// Every mode but UDP's: the workers over their connections.
fn run_streams(config: &Config) -> Result<(Report, Option<intervals::Board>), String> {
    // Spreading over source addresses is TCP's (a Unix socket has no ports).
    let source_ips = if config.unix.is_some() {
        Vec::new()
    } else {
        choose_source_ips(config)?
    };
    let warnings = Warnings::default();
    check_source_ips(&source_ips, &warnings);
    warn_if_late(config, &warnings);
    if let Some(pid) = config
        .server_pid
        .filter(|pid| super::report::process::process_cpu_seconds(&pid.to_string()).is_none())
    {
        warnings.once(
            "server-pid",
            format!("no process {pid} can be read here: the server's CPU time is not reported"),
        );
    }
    let pattern = match &config.payload {
        Some(payload) => super::engine::pattern::Pattern::repeating(payload),
        None => super::engine::pattern::Pattern::default(),
    };
    let live = LiveCounters::default();
    let workers = config.threads.clamp(1, config.connections.max(1));
    let live_out = std::sync::Arc::new(std::sync::Mutex::new(LiveOut::open(&config.live)?));
    let board = |length| {
        let board = intervals::Board::new(length, workers);
        match &config.open_loop {
            Some(open) => board.with_target(open.profile.clone(), config.warmup),
            None => board,
        }
    };
    let intervals = config.interval.map(|length| {
        let board = board(length);
        if config.live.is_empty() {
            return board;
        }
        let live_out = live_out.clone();
        board.with_sink(Box::new(move |summary, length, end| {
            live_out
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .write(summary, length, end);
        }))
    });
    let steps = config.step.map(board);
    let threads = config.threads.clamp(1, config.connections.max(1));
    let connected = Barrier::new(threads);
    let config = &Config {
        threads,
        ..config.clone()
    };

    // `hold` with `--server-pid`: the memory the held connections cost it.
    let rss_before = config
        .server_pid
        .filter(|_| config.mode == Mode::Hold)
        .and_then(super::report::process::process_rss_bytes);
    let started = Instant::now();
    let plan = |t: usize| engine::Plan {
        config,
        pattern: &pattern,
        ids: (t as u64..config.connections as u64).step_by(threads).collect(),
        source_ips: &source_ips,
        live: &live,
        connected: &connected,
        warnings: &warnings,
        intervals: intervals.as_ref(),
        steps: steps.as_ref(),
    };
    let mut tallies = thread::scope(|scope| {
        let others: Vec<_> = (1..threads)
            .map(|t| {
                let plan = plan(t);
                scope.spawn(move || engine::run(plan, None))
            })
            .collect();
        let probe = Probe::new(
            &live,
            config.mode,
            intervals.as_ref(),
            &warnings,
            config.server_pid,
            config.progress,
        );
        let mut tallies = vec![engine::run(plan(0), Some(probe))];
        tallies.extend(others.into_iter().map(|h| {
            h.join()
                .unwrap_or_else(|_| Err("a load generator thread panicked".into()))
        }));
        tallies
    });
    let window = match tallies.first_mut() {
        Some(Ok(first)) => first.cpu_window.take().unwrap_or_default(),
        _ => super::probe::CpuWindow::default(),
    };
    log::debug!("bench finished in {:?}", started.elapsed());

    let tallies = tallies.into_iter().collect::<Result<Vec<_>, _>>()?;
    let rss_held = window.server_rss;
    let mut report = collect::report(config, tallies, window, warnings);
    report.server_memory = rss_before
        .zip(rss_held)
        .map(|(before, held)| super::report::ServerMemory {
            rss_before_bytes: before,
            rss_held_bytes: held,
            bytes_per_connection: held.saturating_sub(before) as f64 / report.connected.max(1) as f64,
        });
    report.intervals = intervals.as_ref().map(intervals::Board::summaries);
    report.file_errors.extend(
        live_out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .errors(),
    );
    report.steps = steps.as_ref().map(|board| {
        board
            .summaries()
            .into_iter()
            .map(|mut figures| super::report::Step {
                // A step's own field: the flattened figures must not say it twice.
                target_per_s: figures.target_per_s.take().unwrap_or(0.0),
                figures,
            })
            .collect()
    });
    if !config.slo.is_empty() {
        report.slo = Some(config.slo.iter().map(|gate| gate.evaluate(&report)).collect());
    }
    Ok((report, intervals))
}

/// `--start-at` already past: the run starts at once, not with the hosts
/// it was meant to start with.
fn warn_if_late(config: &Config, warnings: &Warnings) {
    let Some(late) = config
        .start_at
        .and_then(|at| std::time::SystemTime::now().duration_since(at).ok())
        .filter(|late| *late > Duration::from_millis(100))
    else {
        return;
    };
    warnings.once(
        "start-at-past",
        format!(
            "--start-at was {:.1} s ago: this run starts now, not together with runs that started on time",
            late.as_secs_f64()
        ),
    );
}

fn check_fd_limit(connections: usize) -> Result<(), String> {
    let limit =
        fd_limit::raise_to_hard_limit().map_err(|err| format!("cannot read the open-file limit: {err}"))?;
    let needed = connections as u64 + SPARE_FDS;
    if needed > limit {
        return Err(format!(
            "cannot open {connections} connections: the open-file limit is {limit} (its hard limit), \
             and {connections} connections need about {needed}; use fewer connections or raise the hard limit"
        ));
    }
    Ok(())
}
