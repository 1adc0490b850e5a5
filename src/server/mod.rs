//! The server: one reactor per thread, each with its own `mio::Poll` and its
//! own listener on the shared address. [`Server`] binds them and runs them;
//! the files are listed in the crate's map (`lib.rs`).

mod accept;
mod activation;
mod admission;
mod config;
mod deadlines;
mod drain;
mod figures;
mod handshake;
mod idle;
mod limits;
mod listener;
pub mod metrics;
pub mod proxy;
mod reactor;
mod said;
mod shutdown;
mod stats;
mod timers;
mod tokens;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use log::{info, warn};

use crate::error::describe;
use crate::fd_limit;
use admission::Admission;
pub use config::{Config, READ_BUFFER};
pub use limits::{DeadPeers, Keepalive};
use limits::{PerSource, SourceCounts};
use listener::Bound;
use metrics::MetricsEndpoint;
use stats::{StatsBoard, StatsReporter};
pub use stats::{Summary, plural};

/// Descriptors kept free beside the connections: the standard streams, the
/// poll and signal descriptors, the listener, and room for a log file.
const SPARE_FDS: u64 = 16;

/// The bound listeners, ready to run.
pub struct Server {
    config: Config,
    /// One per reactor; with `--threads N` they share the address through
    /// `SO_REUSEPORT` and the kernel spreads new connections over them.
    reactors: Vec<Bound>,
    /// `--max-connections`, for all reactors together.
    admission: Arc<Admission>,
    /// Where the reactors publish their figures, when a stats line or the
    /// metrics read them.
    board: Option<StatsBoard>,
    /// `--metrics-addr`, bound, for the first reactor to serve.
    metrics: Option<MetricsEndpoint>,
}

impl Server {
    /// Binds the listeners and sets up the reactors; the caller can then
    /// print [`Server::local_addr`] before calling [`Server::run`].
    pub fn bind(config: &Config) -> Result<Server, String> {
        let fail = |err: io::Error| format!("cannot listen on {}: {}", config.addr, describe(&err));
        let fd_limit = fd_limit::raise_to_hard_limit().unwrap_or_else(|err| {
            warn!("cannot raise the open-file limit: {}", describe(&err));
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        });
        let threads = config.threads.max(1);
        let max_connections = config
            .max_connections
            .unwrap_or_else(|| fd_limit.saturating_sub(SPARE_FDS * threads as u64).max(1) as usize);
        let inherited = if config.tcp {
            activation::inherited_listener()?
        } else {
            None
        };
        let listeners: Vec<Option<_>> = if let Some(socket) = inherited {
            // Every reactor polls a copy of the one socket systemd passed.
            let addr = socket.local_addr().map_err(fail)?;
            info!("serving the socket systemd passed (fd 3, {addr}); --addr is not used");
            (0..threads)
                .map(|_| {
                    socket
                        .try_clone()
                        .map(|copy| Some(mio::net::TcpListener::from_std(copy)))
                })
                .collect::<io::Result<_>>()
                .map_err(fail)?
        } else if config.tcp {
            let group = listener::bind_group(config.addr, config.backlog, threads).map_err(fail)?;
            group.into_iter().map(Some).collect()
        } else {
            (0..threads).map(|_| None).collect()
        };
        if !config.socket.is_default() {
            for listener in listeners.iter().flatten() {
                let socket = socket2::SockRef::from(listener);
                let ipv6 = listener.local_addr().is_ok_and(|addr| addr.is_ipv6());
                let took = config.socket.apply(&socket, ipv6)?;
                log::debug!(
                    "listener {:?}: accepted connections get {took}",
                    listener.local_addr()
                );
            }
        }
        // UDP on the port TCP got (port 0 picks one for both).
        let udp_addr = match listeners.first() {
            Some(Some(tcp)) => tcp.local_addr().map_err(fail)?,
            _ => config.addr,
        };
        let udp_sockets: Vec<Option<_>> = match &config.udp {
            Some(_) => crate::udp::bind_group(udp_addr, threads)
                .map_err(|err| format!("cannot listen on {udp_addr} (UDP): {}", describe(&err)))?
                .into_iter()
                .map(Some)
                .collect(),
            None => (0..threads).map(|_| None).collect(),
        };
        let unix = unix_listeners(config, threads)?;
        let reactors = listeners
            .into_iter()
            .zip(unix)
            .zip(udp_sockets)
            .map(|((tcp, unix), udp)| Bound::new(tcp, unix, udp))
            .collect::<io::Result<Vec<_>>>()
            .map_err(fail)?;
        let wakers = reactors
            .iter()
            .map(|bound| mio::Waker::new(bound.registry(), tokens::WAKE))
            .collect::<io::Result<_>>()
            .map_err(fail)?;
        let admission = Arc::new(Admission::new(max_connections, wakers));
        if let Some(udp) = &config.udp {
            info!(
                "UDP echo on {udp_addr}{}: at most {} datagrams/s answered per source, {} sources tracked",
                if config.tcp { " too" } else { " only" },
                udp.rate,
                udp.max_sources
            );
            if !udp_addr.ip().is_loopback() {
                warn!(
                    "UDP echo on {udp_addr}, not loopback: a reflector for spoofed traffic if the guards \
                     (--udp-rate, ports below 1024, broadcast sources) are not enough for this network"
                );
            }
        }
        info!(
            "accepting up to {} at once on {} (open-file limit {fd_limit})",
            plural(max_connections as u64, "connection"),
            plural(threads as u64, "reactor"),
        );
        if let Some(warning) = unguarded_warning(config) {
            warn!("{warning}");
        }
        if let Some(proxy) = &config.proxy {
            let trusted: Vec<String> = proxy.trusted.iter().map(ToString::to_string).collect();
            info!(
                "PROXY protocol required (v1 or v2, within {:?}); trusted proxies: {}",
                proxy.timeout,
                trusted.join(", ")
            );
        }
        let board = (config.stats_interval.is_some() || config.metrics_addr.is_some())
            .then(|| StatsBoard::new(threads));
        let metrics = match (config.metrics_addr, &board) {
            (Some(addr), Some(board)) => {
                let fail = |err: io::Error| format!("cannot serve metrics on {addr}: {}", describe(&err));
                // A deep backlog: a flood of scrapers (hostile or not) waits
                // in it to be accepted and shed, instead of having SYNs dropped.
                let listener = listener::bind_group(addr, 4096, 1).map_err(fail)?.remove(0);
                Some(MetricsEndpoint::new(listener, board.clone(), reactors[0].registry()).map_err(fail)?)
            }
            _ => None,
        };
        Ok(Server {
            config: config.clone(),
            reactors,
            admission,
            board,
            metrics,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.reactors[0].local_addr()
    }

    /// Where the metrics are served, with `--metrics-addr`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|m| m.local_addr().ok())
    }

    /// Serves until stopped by SIGINT, SIGTERM or SIGHUP (see [`reactor`]).
    pub fn run(self) -> io::Result<Summary> {
        let Server {
            config,
            reactors,
            admission,
            board,
            metrics,
        } = self;
        let sources = SourceCounts::default();
        let refusals_said = said::SharedOncePerSource::default();
        let single = reactors.len() == 1;
        let setup = |id: usize, bound: Bound| reactor::Setup {
            bound,
            config: &config,
            admission: Arc::clone(&admission),
            tag: (config.threads > 1).then_some(id),
            board: board.clone().map(|board| (board, id)),
            reporter: None,
            per_source: config
                .max_per_ip
                .map(|limit| PerSource::new(limit, sources.clone())),
            metrics: None,
            refusals_said: Arc::clone(&refusals_said),
        };
        let summaries: Vec<io::Result<Summary>> = std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(reactors.len());
            let mut reactors = reactors.into_iter().enumerate();
            // The first reactor runs on this thread: a single-reactor server
            // stays a single-threaded process. It also keeps the stats line
            // and serves the metrics.
            let (_, first) = reactors.next().expect("at least one reactor");
            for (id, bound) in reactors {
                let setup = setup(id, bound);
                handles.push(
                    std::thread::Builder::new()
                        .name(format!("reactor-{id}"))
                        .spawn_scoped(scope, move || run_reactor(setup))?,
                );
            }
            let mut first = setup(0, first);
            first.reporter = board
                .clone()
                .zip(config.stats_interval)
                .map(|(board, interval)| StatsReporter::new(board, interval, std::time::Instant::now()));
            first.metrics = metrics;
            let mut summaries = vec![run_reactor(first)];
            summaries.extend(handles.into_iter().map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a reactor panicked")))
            }));
            Ok::<_, io::Error>(summaries)
        })?;
        let mut total = Summary::default();
        for summary in summaries {
            total.add(&summary?);
        }
        if !single {
            info!(
                "all reactors stopped: served {}, echoed {}",
                plural(total.connections, "connection"),
                plural(total.bytes_written, "byte")
            );
        }
        Ok(total)
    }
}

/// What to warn about when the server faces a network with none of the
/// guards against dead peers and greedy sources.
fn unguarded_warning(config: &Config) -> Option<String> {
    let guarded = config.dead_peers.any() || config.max_per_ip.is_some() || config.idle_timeout.is_some();
    (!config.addr.ip().is_loopback() && !guarded).then(|| {
        format!(
            "{} is not loopback and no --keepalive, --user-timeout, --idle-timeout or \
             --max-connections-per-ip is set: a vanished peer keeps its connection forever, \
             and one source can take every slot",
            config.addr
        )
    })
}

/// `--unix`: the listener bound once, a copy for each reactor (all poll
/// it; whichever accepts first serves the client).
fn unix_listeners(
    config: &Config,
    threads: usize,
) -> Result<Vec<Option<crate::transport::Listener>>, String> {
    use crate::transport::{Listener, unix};
    let Some((name, mode)) = &config.unix else {
        return Ok((0..threads).map(|_| None).collect());
    };
    let fail = |err: io::Error| format!("cannot listen on {name}: {}", describe(&err));
    let (listener, file) = unix::bind(name, *mode).map_err(fail)?;
    let mut copies = Vec::with_capacity(threads);
    for _ in 1..threads {
        let copy = listener.try_clone().map_err(fail)?;
        copies.push(Some(Listener::Unix(
            mio::net::UnixListener::from_std(copy),
            file.shared(),
        )));
    }
    info!("listening on the Unix socket {name}");
    copies.insert(
        0,
        Some(Listener::Unix(mio::net::UnixListener::from_std(listener), file)),
    );
    Ok(copies)
}

fn run_reactor(setup: reactor::Setup<'_>) -> io::Result<Summary> {
    use crate::service::broadcast::BroadcastService;
    use crate::service::echo::EchoService;
    let config = setup.config;
    if let Some(tls) = &config.tls {
        let service = crate::service::tls_echo::TlsEchoService::new(
            std::sync::Arc::clone(&tls.config),
            config.read_buffer,
            config.max_pending,
        );
        return reactor::Reactor::new(setup, service).run();
    }
    if config.broadcast {
        let service = BroadcastService::new(config.read_buffer, config.max_pending);
        reactor::Reactor::new(setup, service).run()
    } else {
        let service = EchoService::new(config.read_buffer, config.max_pending);
        reactor::Reactor::new(setup, service).run()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_server_facing_a_network_without_guards_is_warned_about() {
        let open = Config {
            addr: "0.0.0.0:10000".parse().unwrap(),
            ..Config::plain("127.0.0.1:10000".parse().unwrap())
        };
        assert!(unguarded_warning(&open).unwrap().contains("not loopback"));
        assert!(
            unguarded_warning(&Config::plain("127.0.0.1:10000".parse().unwrap())).is_none(),
            "loopback needs no guard"
        );
        let guarded = Config {
            max_per_ip: Some(100),
            ..open.clone()
        };
        assert!(unguarded_warning(&guarded).is_none());
        let guarded = Config {
            dead_peers: DeadPeers {
                user_timeout: Some(Duration::from_secs(30)),
                ..DeadPeers::default()
            },
            ..open
        };
        assert!(unguarded_warning(&guarded).is_none());
    }
}
