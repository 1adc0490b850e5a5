//! `mio-echo bench`: a load generator for echo servers.
//!
//! T workers ([`worker`]) each run their own `mio::Poll` over their share of
//! the connections, the first on the calling thread and the others on their
//! own; the first also samples CPU time around the measured window and keeps
//! the progress line ([`probe`]). Their tallies merge into a [`Report`].

mod collect;
mod histograms;
pub mod intervals;
pub mod merge;
pub mod output;
mod pattern;
mod probe;
mod process;
pub mod report;
pub mod schedule;
pub mod search;
mod send_batch;
pub mod slo;
mod sources;
mod timer;
pub mod udp;
mod worker;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Barrier, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

use crate::fd_limit;
pub use process::process_cpu_seconds;
pub use report::Report;
pub use schedule::{Arrival, RateProfile};
use sources::{check_source_ips, choose_source_ips};

/// What each connection does; see `mio-echo bench --help` and docs/bench.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// One message at a time per connection: send, wait for the whole echo, check, repeat
    Pingpong,
    /// Write continuously with a bounded window in flight, checking every byte back
    Stream,
    /// Connect, send, half-close, read the echo to EOF, close; again, on every slot
    Churn,
    /// Open all connections, one exchange each, then hold them idle for the duration
    Hold,
    /// UDP datagrams from --connections sources (sockets), each reply checked; --rate for
    /// an open loop; loss, reordering and duplicates reported
    Udp,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Pingpong => "pingpong",
            Mode::Stream => "stream",
            Mode::Churn => "churn",
            Mode::Hold => "hold",
            Mode::Udp => "udp",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub connections: usize,
    pub size: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub mode: Mode,
    pub threads: usize,
    /// Bytes in flight per connection in stream mode.
    pub window: usize,
    /// New connections per second over all threads; `None`: as fast as accepted.
    pub connect_rate: Option<f64>,
    /// Source addresses to spread connections over; empty: automatic.
    pub source_ips: Vec<IpAddr>,
    /// The server's PID, to report its CPU time per message.
    pub server_pid: Option<u32>,
    /// Show a live progress line (only ever on a terminal).
    pub progress: bool,
    /// Pingpong: send each turn's messages in one io_uring submission
    /// where the kernel allows it.
    pub io_uring: bool,
    /// After the window, how long connections may take to finish their echo.
    pub drain_timeout: Duration,
    /// `--rate`: pingpong as an open loop; `None`: a closed loop.
    pub open_loop: Option<OpenLoop>,
    /// `--slo`: gates checked after the run.
    pub slo: Vec<slo::Gate>,
    /// `--interval`: figures per stretch of this length.
    pub interval: Option<Duration>,
    /// `--rate-steps`: the length of each step, reported apart.
    pub step: Option<Duration>,
    /// `--hdr-log`: where to write the interval log.
    pub hdr_log: Option<std::path::PathBuf>,
    /// `--hgrm`: where to write the percentile distribution.
    pub hgrm: Option<std::path::PathBuf>,
    /// `--start-at`: the wall-clock time the window (or warm-up) begins.
    pub start_at: Option<std::time::SystemTime>,
    /// `--proxy-header`: each connection starts with a PROXY header.
    pub proxy_header: Option<crate::proxy_protocol::Version>,
    /// `--proxy-split`: that header in two writes.
    pub proxy_split: bool,
    /// `--unix PATH`: connect to this Unix domain socket instead of `addr`.
    pub unix: Option<String>,
    /// `--max-loss`: UDP's gate, a share of the window's datagrams.
    pub max_loss: Option<f64>,
    /// `--tls`: every connection speaks TLS (the PROXY header, if any,
    /// goes before the handshake, as a balancer sends it).
    pub tls: Option<crate::tls::client::ClientTls>,
}

impl Config {
    /// The server, as the user named it: a TCP address or a Unix socket.
    pub fn target(&self) -> String {
        self.unix.clone().unwrap_or_else(|| self.addr.to_string())
    }
}

/// The open loop's settings (`--rate`, `--arrival`, `--max-inflight`).
#[derive(Debug, Clone)]
pub struct OpenLoop {
    /// Messages per second of all connections together, from the start of
    /// the warm-up (which runs at the window's first rate).
    pub profile: RateProfile,
    pub arrival: Arrival,
    /// Messages one connection may have queued or unanswered at once.
    pub max_inflight: usize,
}

/// Rates seen while running, for the progress line.
#[derive(Default)]
pub struct LiveCounters {
    pub messages: AtomicU64,
    pub bytes: AtomicU64,
    pub cycles: AtomicU64,
    pub errors: AtomicU64,
}

/// Warnings of a run: each printed on stderr as it happens (above the
/// progress line, if there is one) and kept for the report.
#[derive(Default)]
pub struct Warnings {
    said: Mutex<(HashSet<&'static str>, Vec<String>)>,
    /// The progress line, once shown, so a warning does not tear it.
    bar: OnceLock<ProgressBar>,
}

impl Warnings {
    /// Says `message`, unless a warning of the same `kind` was said already.
    pub fn once(&self, kind: &'static str, message: String) {
        let mut said = self.said.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !said.0.insert(kind) {
            return;
        }
        match self.bar.get() {
            Some(bar) => bar.suspend(|| eprintln!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
        said.1.push(message);
    }

    pub fn show_above(&self, bar: &ProgressBar) {
        let _ = self.bar.set(bar.clone());
    }

    fn into_messages(self) -> Vec<String> {
        self.said
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .1
    }
}

/// The first SIGINT, SIGTERM or SIGHUP the process caught, for as long as
/// it runs: each worker also hears them on its own poll, but one that
/// arrives between two runs (the probes of a rate search) or before a
/// worker listens must not be lost, nor kill the process without a report.
static CAUGHT: OnceLock<std::sync::Arc<std::sync::atomic::AtomicUsize>> = OnceLock::new();

/// Catches SIGINT, SIGTERM and SIGHUP from now on (see [`caught_signal`]).
pub fn catch_signals() -> Result<(), String> {
    let flag = CAUGHT.get_or_init(Default::default);
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        signal_hook::flag::register_usize(signal, std::sync::Arc::clone(flag), signal as usize)
            .map_err(|err| format!("cannot catch signals: {err}"))?;
    }
    Ok(())
}

/// The signal caught so far, if any.
pub fn caught_signal() -> Option<i32> {
    let caught = CAUGHT.get()?.load(std::sync::atomic::Ordering::SeqCst);
    (caught != 0).then_some(caught as i32)
}

/// A signal's name as the user knows it.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// The exit status of a run a signal ended: 128 + its number, as a shell
/// reports it (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP).
pub fn signal_exit_status(name: &str) -> u8 {
    let number = match name {
        "SIGTERM" => libc::SIGTERM,
        "SIGHUP" => libc::SIGHUP,
        _ => libc::SIGINT,
    };
    128 + number as u8
}

/// Descriptors the process needs besides its connections.
const SPARE_FDS: u64 = 32;

/// Runs the benchmark and returns what it measured; errors are for setup
/// problems only (traffic errors are counted in the report).
pub fn run(config: &Config) -> Result<Report, String> {
    check_fd_limit(config.connections)?;
    let files = output::Files::open(config)?;
    let (mut report, intervals) = if config.mode == Mode::Udp {
        (udp::run(config)?, None)
    } else {
        run_streams(config)?
    };
    report.file_errors = files.write(&report, intervals.as_ref());
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
        .filter(|pid| process_cpu_seconds(&pid.to_string()).is_none())
    {
        warnings.once(
            "server-pid",
            format!("no process {pid} can be read here: the server's CPU time is not reported"),
        );
    }
    let pattern = pattern::Pattern::default();
    let live = LiveCounters::default();
    let workers = config.threads.clamp(1, config.connections.max(1));
    let intervals = config
        .interval
        .map(|length| intervals::Board::new(length, workers));
    let steps = config.step.map(|length| intervals::Board::new(length, workers));
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
        .and_then(process::process_rss_bytes);
    let started = Instant::now();
    let plan = |t: usize| worker::Plan {
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
                scope.spawn(move || worker::run(plan, None))
            })
            .collect();
        let probe = probe::Probe::new(
            &live,
            config.mode,
            intervals.as_ref(),
            &warnings,
            config.server_pid,
            config.progress,
        );
        let mut tallies = vec![worker::run(plan(0), Some(probe))];
        tallies.extend(others.into_iter().map(|h| {
            h.join()
                .unwrap_or_else(|_| Err("a load generator thread panicked".into()))
        }));
        tallies
    });
    let window = match tallies.first_mut() {
        Some(Ok(first)) => first.cpu_window.take().unwrap_or_default(),
        _ => probe::CpuWindow::default(),
    };
    log::debug!("bench finished in {:?}", started.elapsed());

    let tallies = tallies.into_iter().collect::<Result<Vec<_>, _>>()?;
    let rss_held = window.server_rss;
    let mut report = collect::report(config, tallies, window, warnings);
    report.server_memory = rss_before
        .zip(rss_held)
        .map(|(before, held)| report::ServerMemory {
            rss_before_bytes: before,
            rss_held_bytes: held,
            bytes_per_connection: held.saturating_sub(before) as f64 / report.connected.max(1) as f64,
        });
    report.intervals = intervals.as_ref().map(intervals::Board::summaries);
    report.steps = steps.as_ref().map(|board| {
        let warmup = config.warmup.as_secs_f64();
        let step = board.length.as_secs_f64();
        board
            .summaries()
            .into_iter()
            .enumerate()
            .map(|(i, figures)| report::Step {
                target_per_s: config
                    .open_loop
                    .as_ref()
                    .map_or(0.0, |open| open.profile.rate_at(warmup + (i as f64 + 0.5) * step)),
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
