//! `serve`'s flags: what to listen on and how to serve.

use std::time::Duration;

use clap::Args;

use super::address::{Endpoint, HostPort, parse_host_port};
use super::values::{
    Failure, MAX_BYTES, MAX_COUNT, MAX_THREADS, parse_count, parse_millis, parse_rate, parse_seconds,
    parse_size, parse_timeout, parse_whole_seconds,
};
use crate::server;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub endpoint: Endpoint,

    /// Send every chunk from any client to every connected client, the sender included
    #[arg(help_heading = "Connection", long)]
    pub broadcast: bool,

    /// Bytes owed to a client before reading from it pauses
    ///
    /// Reading stops while this many bytes wait to be echoed back to the client, and resumes as
    /// it reads. [1-1073741824]
    #[arg(help_heading = "Limits", long, value_name = "BYTES", default_value_t = 64 * 1024, value_parser = parse_size::<MAX_BYTES>)]
    pub max_pending: usize,

    /// SO_SNDBUF of every accepted connection (set on the listeners, which pass it on)
    #[arg(help_heading = "Connection", long, value_name = "BYTES", value_parser = parse_size::<MAX_BYTES>)]
    pub sndbuf: Option<usize>,

    /// SO_RCVBUF of every accepted connection
    #[arg(help_heading = "Connection", long, value_name = "BYTES", value_parser = parse_size::<MAX_BYTES>)]
    pub rcvbuf: Option<usize>,

    /// TCP congestion control of every accepted connection (what the kernel has: cubic, bbr, reno)
    #[arg(help_heading = "Connection", long, value_name = "NAME")]
    pub congestion: Option<String>,

    /// The IP TOS byte (IPv6: traffic class) of every accepted connection, decimal or 0x..
    #[arg(help_heading = "Connection", long, value_name = "BYTE", value_parser = super::socket_args::parse_tos)]
    pub tos: Option<u8>,

    /// Length of the kernel's queue of connections waiting to be accepted
    #[arg(help_heading = "Connection", long, default_value_t = 1024, value_parser = clap::value_parser!(i32).range(1..))]
    pub backlog: i32,

    /// Connections served at once, all reactors together
    ///
    /// More wait in the backlog, neither refused nor reset. [default: the open-file limit less
    /// a few spare] [1-10000000]
    #[arg(help_heading = "Limits", long, value_name = "N", value_parser = parse_count::<MAX_COUNT>)]
    pub max_connections: Option<usize>,

    /// Close a connection after SECS seconds without traffic [default: never]
    #[arg(help_heading = "Limits", long, value_name = "SECS", value_parser = parse_timeout)]
    pub idle_timeout: Option<Duration>,

    /// How long a stop serves busy connections
    ///
    /// On SIGINT, SIGTERM or SIGHUP, busy connections are served for up to SECS more; a second
    /// signal stops at once.
    #[arg(help_heading = "Connection", long, value_name = "SECS", default_value = "5", value_parser = parse_seconds)]
    pub shutdown_timeout: Duration,

    /// While stopping, how long a client must be quiet to be closed
    ///
    /// A connection is closed once its client has sent nothing for SECS and nothing is owed to
    /// it.
    // 0.25 s: ten times the longest gap measured between two reads from a
    // client that is sending (`head -c 3000M /dev/zero | mio-echo send`, with
    // a 2-thread bench loading another server so both cores of the 2-core VM
    // were busy: the longest gap per run was 12-23 ms over 6 runs), short
    // enough that a server with only idle clients stops well within a second.
    #[arg(help_heading = "Connection", long, value_name = "SECS", default_value = "0.25", value_parser = parse_timeout)]
    pub drain_quiet: Duration,

    /// Log active connections, totals and rates every SECS seconds
    #[arg(help_heading = "Observability", long, value_name = "SECS", value_parser = parse_timeout)]
    pub stats_interval: Option<Duration>,

    /// Poll without sleeping while traffic flows
    ///
    /// Lower latency for a whole core; after 50 ms without events the reactor sleeps again.
    #[arg(help_heading = "Connection", long)]
    pub busy_poll: bool,

    /// Reactors: threads, each with its own listener
    ///
    /// They share the address through SO_REUSEPORT. [1-1024]
    #[arg(help_heading = "Connection", long, short = 't', default_value_t = 1, value_parser = parse_count::<MAX_THREADS>)]
    pub threads: usize,

    /// Require a PROXY protocol header on every connection
    ///
    /// Version 1 or 2, as HAProxy's send-proxy and send-proxy-v2 send it. The header is never
    /// echoed, and the client it names is the one in the logs. A v2 header may be at most 4,096
    /// bytes.
    #[arg(help_heading = "PROXY and load balancers", long)]
    pub proxy_protocol: bool,

    /// With --proxy-protocol: close a connection whose header is not complete after SECS
    #[arg(help_heading = "PROXY and load balancers", long, value_name = "SECS", default_value = "3", value_parser = parse_timeout, requires = "proxy_protocol")]
    pub proxy_timeout: Duration,

    /// Send TCP keepalive probes after SECS of silence
    ///
    /// A peer that vanished (host gone, cable pulled) is found and its connection closed within
    /// SECS + interval x probes.
    #[arg(help_heading = "Connection", long, value_name = "SECS", value_parser = parse_whole_seconds)]
    pub keepalive: Option<Duration>,

    /// With --keepalive: seconds between probes [default: a third of --keepalive, at least 1]
    #[arg(help_heading = "Connection", long, value_name = "SECS", value_parser = parse_whole_seconds, requires = "keepalive")]
    pub keepalive_interval: Option<Duration>,

    /// With --keepalive: unanswered probes before the peer counts as gone
    #[arg(help_heading = "Connection", long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=127), requires = "keepalive")]
    pub keepalive_probes: u32,

    /// Drop a connection whose data stays unacknowledged for MS
    ///
    /// TCP_USER_TIMEOUT: sent data or keepalive probes unacknowledged for MS milliseconds.
    #[arg(help_heading = "Connection", long, value_name = "MS", value_parser = parse_millis)]
    pub user_timeout: Option<Duration>,

    /// Connections served at once from one source address
    ///
    /// The PROXY header's client with --proxy-protocol. More are closed at accept, counted, and
    /// logged once per source per 10 s. [1-10000000]
    #[arg(help_heading = "Limits", long, value_name = "N", value_parser = parse_count::<MAX_COUNT>)]
    pub max_connections_per_ip: Option<usize>,

    /// Serve Prometheus metrics at HOST:PORT
    ///
    /// GET /metrics, and GET /healthz (200, or 503 while stopping). Port 0 picks one, named on
    /// the line after the echo address.
    #[arg(help_heading = "Observability", long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub metrics_addr: Option<HostPort>,

    /// Check the command line and exit without serving
    ///
    /// Exit 0 if a start would go ahead: the TLS certificate and key are loaded and the Unix
    /// socket path is checked. For deployment files (systemd units, Kubernetes manifests) to be
    /// tested against this binary.
    #[arg(long)]
    pub check: bool,

    /// Serve on a Unix domain stream socket too
    ///
    /// A path, or @NAME in the abstract namespace (no file). A file left by a server that is
    /// gone is replaced; the file is removed when the server stops, if it is still the one it
    /// made.
    #[arg(help_heading = "Transports", long, value_name = "PATH")]
    pub unix: Option<String>,

    /// With --unix: serve the Unix socket only, no TCP
    #[arg(help_heading = "Transports", long, requires = "unix", conflicts_with_all = ["udp", "udp_only"])]
    pub unix_only: bool,

    /// With --unix: permissions of the socket file, octal (who may connect)
    #[arg(help_heading = "Transports", long, value_name = "OCTAL", default_value = "660", value_parser = parse_mode, requires = "unix")]
    pub unix_mode: u32,

    /// Serve UDP echo (RFC 862) on the same address too
    ///
    /// Each datagram back to its source, unchanged. Never to source ports below 1024 or
    /// broadcast sources, and at most --udp-rate answers per second per source address
    /// (docs/udp.md).
    #[arg(help_heading = "Transports", long)]
    pub udp: bool,

    /// Serve UDP echo only, no TCP
    #[arg(help_heading = "Transports", long, conflicts_with_all = ["udp", "tls_cert", "tls_self_signed", "broadcast", "proxy_protocol"])]
    pub udp_only: bool,

    /// With --udp: answers per second per source address
    ///
    /// A token bucket holding one second's worth, for the whole server; more are dropped and
    /// counted.
    #[arg(help_heading = "Transports", long, value_name = "PKTS_PER_S", default_value = "1000", value_parser = parse_rate)]
    pub udp_rate: f64,

    /// With --udp: source addresses whose rate is tracked at most
    ///
    /// All reactors together. The oldest is forgotten for a new one once its bucket has
    /// refilled; until then the new one is refused. This bounds the memory a flood of sources
    /// can take. [1-10000000]
    #[arg(help_heading = "Transports", long, value_name = "N", default_value_t = 65_536, value_parser = parse_count::<MAX_COUNT>)]
    pub udp_max_sources: usize,

    /// Serve TLS with this certificate chain (PEM; with --tls-key)
    #[arg(help_heading = "TLS", long, value_name = "FILE", requires = "tls_key", conflicts_with_all = ["tls_self_signed", "broadcast"])]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key of --tls-cert (PEM: RSA, ECDSA or Ed25519)
    #[arg(help_heading = "TLS", long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Serve TLS with a fresh self-signed certificate
    ///
    /// ECDSA P-256, for the listen address and localhost; its SHA-256 fingerprint is printed at
    /// start.
    #[arg(help_heading = "TLS", long, conflicts_with = "broadcast")]
    pub tls_self_signed: bool,

    /// With TLS: close a connection whose handshake is not done within SECS
    #[arg(help_heading = "TLS", long, value_name = "SECS", default_value = "10", value_parser = parse_timeout)]
    pub tls_handshake_timeout: Duration,

    /// With --tls-self-signed: save the certificate (PEM) so that clients can trust it
    #[arg(help_heading = "TLS", long, value_name = "FILE", requires = "tls_self_signed")]
    pub tls_write_cert: Option<std::path::PathBuf>,

    /// ALPN protocols to offer, comma-separated, in order of preference
    #[arg(help_heading = "TLS", long, value_name = "PROTO,...", value_delimiter = ',')]
    pub tls_alpn: Vec<String>,

    /// Mutual TLS: require a client certificate signed by a CA in FILE (PEM)
    ///
    /// A client that sends none, or one that does not verify (unknown CA, expired, not for
    /// client use), is refused in the handshake: counted in the metrics as
    /// closed{reason="tls_client_cert"} and logged once per source per 10 s. The subject of
    /// each accepted certificate is logged at debug.
    #[arg(help_heading = "TLS", long, value_name = "FILE")]
    pub tls_client_ca: Option<std::path::PathBuf>,

    /// With --tls-client-ca: ask for a client certificate without requiring one
    ///
    /// A client may send none; one it sends must still verify.
    #[arg(help_heading = "TLS", long, requires = "tls_client_ca")]
    pub tls_client_ca_optional: bool,

    /// With --proxy-protocol: the peers allowed to send a header
    ///
    /// CIDR ranges, comma-separated; a connection from anywhere else is closed at once.
    /// [default: 127.0.0.0/8,::1/128]
    #[arg(help_heading = "PROXY and load balancers", long, value_name = "CIDR,...", value_delimiter = ',', value_parser = parse_cidr, requires = "proxy_protocol")]
    pub proxy_trust: Vec<ipnet::IpNet>,
}

impl ServeArgs {
    /// The TLS identity asked for, if any.
    pub fn tls_settings(&self) -> Option<crate::tls::config::TlsSettings> {
        use crate::tls::config::{ClientAuth, Identity, TlsSettings};
        let identity = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Identity::Files(crate::tls::pem::KeyPair {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ if self.tls_self_signed => Identity::SelfSigned {
                write_cert: self.tls_write_cert.clone(),
            },
            _ => return None,
        };
        Some(TlsSettings {
            identity,
            alpn: self.tls_alpn.clone(),
            client_auth: match &self.tls_client_ca {
                Some(ca) if self.tls_client_ca_optional => ClientAuth::Optional(ca.clone()),
                Some(ca) => ClientAuth::Required(ca.clone()),
                None => ClientAuth::Off,
            },
        })
    }
}

/// `10.0.0.0/8`, or a bare address for just that host.
fn parse_cidr(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("'{text}' is not an address range (CIDR, like 10.0.0.0/8)"))
}

impl ServeArgs {
    /// The server's settings, with everything a start loads from outside
    /// loaded (the TLS identity) or checked (the Unix socket's path), so
    /// that `--check` fails exactly where a start would, short of binding.
    pub fn config(&self) -> Result<server::Config, Failure> {
        let addr = self.endpoint.listen_addr()?;
        let settings = self.tls_settings();
        if self.tls_client_ca.is_some() && settings.is_none() {
            return Err(Failure::Usage(
                "--tls-client-ca needs TLS: give --tls-cert and --tls-key, or --tls-self-signed".into(),
            ));
        }
        let tls = settings
            .map(|settings| crate::tls::config::load(&settings, addr))
            .transpose()?;
        if let Some(name) = &self.unix {
            crate::transport::unix::check(name)
                .map_err(|err| format!("cannot listen on {name}: {}", crate::error::describe(&err)))?;
        }
        Ok(server::Config {
            addr,
            read_buffer: server::READ_BUFFER,
            tls,
            broadcast: self.broadcast,
            backlog: self.backlog,
            max_pending: self.max_pending,
            socket: crate::transport::knobs::Knobs {
                sndbuf: self.sndbuf,
                rcvbuf: self.rcvbuf,
                congestion: self.congestion.clone(),
                tos: self.tos,
                ..Default::default()
            },
            max_connections: self.max_connections,
            idle_timeout: self.idle_timeout,
            shutdown_timeout: self.shutdown_timeout,
            drain_quiet: self.drain_quiet,
            stats_interval: self.stats_interval,
            busy_poll: self.busy_poll,
            threads: self.threads,
            proxy: self.proxy_protocol.then(|| server::proxy::ProxyConfig {
                timeout: self.proxy_timeout,
                trusted: if self.proxy_trust.is_empty() {
                    server::proxy::loopback_ranges()
                } else {
                    self.proxy_trust.clone()
                },
            }),
            dead_peers: server::DeadPeers {
                keepalive: self.keepalive.map(|idle| server::Keepalive {
                    idle,
                    interval: self
                        .keepalive_interval
                        .unwrap_or_else(|| (idle / 3).max(Duration::from_secs(1))),
                    probes: self.keepalive_probes,
                }),
                user_timeout: self.user_timeout,
            },
            max_per_ip: self.max_connections_per_ip,
            tls_handshake_timeout: self.tls_handshake_timeout,
            metrics_addr: self.metrics_addr.as_ref().map(HostPort::resolve).transpose()?,
            tcp: !self.udp_only && !self.unix_only,
            unix: self.unix.clone().map(|name| (name, self.unix_mode)),
            udp: (self.udp || self.udp_only).then_some(crate::udp::UdpConfig {
                rate: self.udp_rate,
                max_sources: self.udp_max_sources,
            }),
        })
    }
}

/// File permissions in octal: `660`, `0600`.
fn parse_mode(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text.trim(), 8)
        .ok()
        .filter(|mode| *mode <= 0o777)
        .ok_or_else(|| format!("'{text}' is not a file mode in octal (like 660)"))
}
