//! What to run: the mode, the load's shape and rate, what to write.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::pacing::schedule::{Arrival, RateProfile};
use super::slo;

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
    /// Show a live progress line (only ever on a terminal: standard error).
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
    /// `--payload`, `--payload-file`: every message is these bytes (else
    /// the pattern).
    pub payload: Option<Vec<u8>>,
    /// `--bind`, `--sndbuf`, ...: options set on every connection.
    pub knobs: crate::transport::knobs::Knobs,
    /// `--out`: a line per interval, written as each completes.
    pub live: Vec<crate::bench::report::live::Spec>,
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
    /// `--train`: UDP datagrams a source sends in one send (`UDP_SEGMENT`),
    /// and takes back whole (`UDP_GRO`); 1 for one a send.
    pub train: usize,
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
    /// Due times are rounded up to this grid (see `pacing::grid`).
    pub grid: Duration,
}
