//! The settings of `mio-echo serve`, as the command line gives them: every
//! field is set there (no defaults filled in behind a flag's back), and
//! everything that can fail at start-up short of binding (the TLS
//! certificate and key) is already loaded.

use std::net::SocketAddr;
use std::time::Duration;

use super::limits::DeadPeers;
use super::proxy::ProxyConfig;
use crate::tls::config::Loaded;
use crate::udp::UdpConfig;

/// Settings of `mio-echo serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// Length of the kernel's queue of connections not yet accepted.
    pub backlog: i32,
    /// Per-connection limit on unsent echo bytes before reading pauses.
    pub max_pending: usize,
    /// `--sndbuf`, `--rcvbuf`, `--congestion`, `--tos`: set on the TCP
    /// listeners, whose accepted connections inherit them (no system call
    /// per connection).
    pub socket: crate::transport::knobs::Knobs,
    /// Size of the one read buffer all connections share.
    pub read_buffer: usize,
    /// Send every client's bytes to every client instead of echoing.
    pub broadcast: bool,
    /// Connections served at once; `None`: the open-file limit less a few.
    pub max_connections: Option<usize>,
    /// Close a connection silent for this long.
    pub idle_timeout: Option<Duration>,
    /// After the first stop signal, how long busy connections are served.
    pub shutdown_timeout: Duration,
    /// While stopping, a client silent this long and owed nothing is closed.
    pub drain_quiet: Duration,
    /// Log a line of figures this often.
    pub stats_interval: Option<Duration>,
    /// Poll without sleeping while traffic flows (costs a core).
    pub busy_poll: bool,
    /// Reactors, each a thread with its own listener on the same address.
    pub threads: usize,
    /// `--proxy-protocol`: every connection starts with a PROXY header.
    pub proxy: Option<ProxyConfig>,
    /// `--keepalive`, `--user-timeout`: finding peers that vanished.
    pub dead_peers: DeadPeers,
    /// `--max-connections-per-ip`.
    pub max_per_ip: Option<usize>,
    /// `--metrics-addr`: where to serve Prometheus metrics.
    pub metrics_addr: Option<SocketAddr>,
    /// `--tls-*`: serve TLS with this configuration.
    pub tls: Option<Loaded>,
    /// `--tls-handshake-timeout`: a TLS handshake not done by then is closed.
    pub tls_handshake_timeout: Duration,
    /// Serve TCP (false with `--udp-only`).
    pub tcp: bool,
    /// `--udp`: UDP echo on the same address, behind these guards.
    pub udp: Option<UdpConfig>,
    /// `--unix PATH` (or `@name`) and the socket file's permissions.
    pub unix: Option<(String, u32)>,
}

/// The one read buffer's size: bytes pass through it on their way back.
pub const READ_BUFFER: usize = 64 * 1024;

#[cfg(test)]
impl Config {
    /// A loopback server with nothing optional on, for tests.
    pub fn plain(addr: SocketAddr) -> Config {
        Config {
            addr,
            backlog: 1024,
            max_pending: 64 * 1024,
            socket: crate::transport::knobs::Knobs::default(),
            read_buffer: READ_BUFFER,
            broadcast: false,
            max_connections: None,
            idle_timeout: None,
            shutdown_timeout: Duration::from_secs(5),
            drain_quiet: Duration::from_millis(250),
            stats_interval: None,
            busy_poll: false,
            threads: 1,
            proxy: None,
            dead_peers: DeadPeers::default(),
            max_per_ip: None,
            metrics_addr: None,
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
            tcp: true,
            udp: None,
            unix: None,
        }
    }
}
