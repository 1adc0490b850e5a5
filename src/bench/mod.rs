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
mod output;
mod pattern;
mod probe;
pub mod report;
pub mod schedule;
pub mod search;
mod send_batch;
pub mod slo;
mod timer;
mod worker;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Barrier, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

use crate::fd_limit;
pub use report::Report;
pub use schedule::{Arrival, RateProfile};

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
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Pingpong => "pingpong",
            Mode::Stream => "stream",
            Mode::Churn => "churn",
            Mode::Hold => "hold",
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

/// Loopback source addresses churn spreads its connections over.
const CHURN_SOURCE_ADDRESSES: usize = 64;

/// Descriptors the process needs besides its connections.
const SPARE_FDS: u64 = 32;

/// Runs the benchmark and returns what it measured; errors are for setup
/// problems only (traffic errors are counted in the report).
pub fn run(config: &Config) -> Result<Report, String> {
    check_fd_limit(config.connections)?;
    let source_ips = choose_source_ips(config)?;
    let warnings = Warnings::default();
    check_source_ips(&source_ips, &warnings);
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
    let mut report = collect::report(config, tallies, window, warnings);
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
    output::write_files(config, &report, intervals.as_ref())?;
    Ok(report)
}

/// Warns about a source address this machine cannot send from (connects
/// from it would all fail with no other explanation).
fn check_source_ips(ips: &[IpAddr], warnings: &Warnings) {
    for ip in ips {
        let probe = socket2::Socket::new(
            socket2::Domain::for_address(SocketAddr::new(*ip, 0)),
            socket2::Type::STREAM,
            None,
        )
        .and_then(|socket| socket.bind(&SocketAddr::new(*ip, 0).into()));
        if let Err(err) = probe {
            warnings.once(
                "source-ip",
                format!(
                    "source address {ip} cannot be used here: {}; connections from it will fail",
                    crate::error::describe(&err)
                ),
            );
        }
    }
}

/// CPU seconds (user + system) used so far by a process (`self` or a PID)
/// and all its descendants, from /proc: a forking server such as
/// `socat ... fork` serves each client in a child, and its children's time
/// is its cost too (live children directly, reaped ones through the
/// parent's cutime/cstime).
pub fn process_cpu_seconds(pid: &str) -> Option<f64> {
    let pid: u32 = if pid == "self" {
        std::process::id()
    } else {
        pid.parse().ok()?
    };
    let stats = all_process_stats();
    let own = stats.iter().find(|s| s.pid == pid)?;
    let mut ticks = own.ticks;
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for child in stats.iter().filter(|s| s.ppid == parent) {
            ticks += child.ticks;
            frontier.push(child.pid);
        }
    }
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks as f64 / per_second as f64)
}

struct ProcessStat {
    pid: u32,
    ppid: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    ticks: u64,
}

fn all_process_stats() -> Vec<ProcessStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesised command name (which may hold spaces).
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
        let number = |i: usize| fields.get(i)?.parse::<u64>().ok();
        Some(ProcessStat {
            pid,
            ppid: number(1)? as u32,
            ticks: number(11)? + number(12)? + number(13)? + number(14)?,
        })
    })
    .collect()
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

/// Source addresses: the user's, or on loopback as many of 127.0.0.x as it
/// takes to stay within the ephemeral port range of one source address.
fn choose_source_ips(config: &Config) -> Result<Vec<IpAddr>, String> {
    if !config.source_ips.is_empty() {
        if let Some(ip) = config
            .source_ips
            .iter()
            .find(|ip| ip.is_ipv4() != config.addr.is_ipv4())
        {
            return Err(format!(
                "source address {ip} is not of the same family as {}",
                config.addr
            ));
        }
        return Ok(config.source_ips.clone());
    }
    if !config.addr.ip().is_loopback() || !config.addr.is_ipv4() {
        return Ok(Vec::new());
    }
    let ports = ephemeral_port_count();
    let needed = if config.mode == Mode::Churn {
        // Every churn cycle leaves a TIME_WAIT socket on our side, and the
        // kernel's search for a free port per (source, destination) walks
        // past them: with one source address it took a quarter of the load
        // generator's CPU, so churn measured the client. Spread over 64
        // addresses, the search stays short (docs/benchmarks.md).
        CHURN_SOURCE_ADDRESSES
    } else if config.connections > ports {
        config.connections.div_ceil(ports.max(1)).min(250)
    } else {
        return Ok(Vec::new());
    };
    Ok((1..=needed as u8)
        .map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .collect())
}

fn ephemeral_port_count() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(|n| n.parse::<usize>().ok());
            Some(bounds.next()??.abs_diff(bounds.next()??) + 1)
        })
        .unwrap_or(28_232)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(connections: usize, addr: &str) -> Config {
        Config {
            addr: addr.parse().unwrap(),
            connections,
            size: 512,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            mode: Mode::Pingpong,
            threads: 1,
            window: 1 << 18,
            connect_rate: None,
            source_ips: Vec::new(),
            server_pid: None,
            progress: false,
            io_uring: true,
            drain_timeout: Duration::from_secs(5),
            open_loop: None,
            slo: Vec::new(),
            interval: None,
            step: None,
            hdr_log: None,
            hgrm: None,
            start_at: None,
        }
    }

    #[test]
    fn loopback_spreads_over_source_addresses_beyond_the_port_range() {
        let ports = ephemeral_port_count();
        assert!(choose_source_ips(&config(100, "127.0.0.1:1")).unwrap().is_empty());
        let ips = choose_source_ips(&config(ports * 2 + 1, "127.0.0.1:1")).unwrap();
        assert_eq!(ips.len(), 3);
        assert_eq!(ips[2], IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
    }

    #[test]
    fn mixed_address_families_are_refused() {
        let mut config = config(10, "127.0.0.1:1");
        config.source_ips = vec!["::1".parse().unwrap()];
        assert!(choose_source_ips(&config).unwrap_err().contains("family"));
    }
}
