//! Opening a worker's connections: paced, bounded in flight, spread over
//! source addresses, each failure counted (and the first one explained).

use crate::transport::readiness::Hints;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use crate::transport::Stream;
use mio::{Interest, Token};
use socket2::{Domain, Protocol, Socket, Type};

use crate::bench::engine::CONNECT_TIMEOUT;
use crate::bench::engine::Conn;
use crate::bench::engine::MAX_CONNECTING;
use crate::bench::engine::Phase;
use crate::bench::engine::State;
use crate::bench::engine::Worker;

impl Worker<'_> {
    pub(super) fn connect_wait(&self) -> Duration {
        let pacing = self.next_connect.saturating_duration_since(Instant::now());
        if self.connecting > 0 {
            // Also wake to expire connects that hang (a full backlog drops SYNs).
            pacing
                .max(Duration::from_millis(1))
                .min(Duration::from_millis(100))
        } else {
            pacing
        }
    }

    pub(super) fn start_connects(&mut self) {
        while self.connecting < MAX_CONNECTING {
            let now = Instant::now();
            if let Some(interval) = self.connect_interval {
                if now < self.next_connect {
                    return;
                }
                // A schedule, not a gap between connects: the poll wakes
                // at millisecond granularity, so every connect due by now
                // goes (5 a wake at 5,000/s). Keeping only one interval of
                // debt capped the rate near 1,000/s.
                self.next_connect += interval;
            }
            let Some(id) = self.queue.pop() else { return };
            self.open(id);
        }
    }

    pub(super) fn open(&mut self, id: u64) {
        let stream = match self.new_socket(id) {
            Ok(stream) => stream,
            Err(err) => return self.connect_failed(id, &err),
        };
        let entry = self.conns.vacant_entry();
        let mut conn = Conn {
            stream,
            id,
            state: State::Connecting,
            sent: 0,
            verified: 0,
            target: 0,
            awaiting: false,
            answered_in_window: false,
            started: Instant::now(),
            hints: Hints::connecting(),
            send_queued: false,
            open: None,
            preamble: Vec::new(),
            tls: None,
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(err) = self
            .poll
            .registry()
            .register(&mut conn.stream, Token(entry.key()), interest)
        {
            return self.connect_failed(id, &err);
        }
        entry.insert(conn);
        self.connecting += 1;
    }

    pub(super) fn new_socket(&self, id: u64) -> io::Result<Stream> {
        if let Some(path) = &self.config().unix {
            return Stream::connect_unix(path);
        }
        let addr = self.config().addr;
        let ips = self.plan.source_ips;
        let knobs = &self.config().knobs;
        if ips.is_empty() && knobs.is_default() {
            return TcpStream::connect(addr).map(Stream::from_tcp);
        }
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        // --bind is a source address, as --source-ips: bound below.
        let options = crate::transport::knobs::Knobs {
            bind: None,
            ..knobs.clone()
        };
        options.apply(&socket, addr.is_ipv6()).map_err(io::Error::other)?;
        let source = match (ips.is_empty(), knobs.bind) {
            (false, _) => Some(ips[(id % ips.len() as u64) as usize]),
            (true, bind) => bind.map(|bind| bind.ip()),
        };
        if let Some(source) = source {
            // Let connect pick the port per (source, destination), not bind per source.
            set_bind_address_no_port(&socket)?;
            socket.bind(&SocketAddr::new(source, 0).into())?;
        }
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(err) => return Err(err),
        }
        Ok(Stream::from_tcp(TcpStream::from_std(socket.into())))
    }

    /// True once connected; on failure the connection is dropped and counted.
    pub(super) fn finish_connect(&mut self, key: usize) -> bool {
        let conn = &mut self.conns[key];
        if !(conn.hints.writable() || conn.hints.hung_up()) {
            return false;
        }
        let failure = match conn.stream.take_error() {
            Ok(Some(err)) | Err(err) => Some(err),
            Ok(None) => match conn.stream.connected() {
                Ok(()) => None,
                // A spurious wake-up: still connecting.
                Err(err) if err.kind() == io::ErrorKind::NotConnected => return false,
                Err(err) => Some(err),
            },
        };
        if let Some(err) = failure {
            self.connecting -= 1;
            let id = conn.id;
            self.remove(key);
            self.connect_failed(id, &err);
            self.refill(id);
            return false;
        }
        let tcp = self.plan.config.unix.is_none();
        // Small messages go at once (unless --delay asks for Nagle).
        if tcp && self.plan.config.knobs.nodelay != Some(false) {
            let _ = conn.stream.socket().set_tcp_nodelay(true);
        }
        if let (Some(version), true) = (self.plan.config.proxy_header, tcp) {
            // As a balancer would: the header first, with the real endpoints.
            let socket = conn.stream.socket();
            let ends = (socket.local_addr().ok(), socket.peer_addr().ok());
            let (Some(Some(local)), Some(Some(peer))) = (
                ends.0.map(|addr| addr.as_socket()),
                ends.1.map(|addr| addr.as_socket()),
            ) else {
                return false;
            };
            let mut header = crate::proxy_protocol::encode(version, local, peer);
            if self.plan.config.proxy_split {
                // Half now, half with the first message: two writes, two
                // segments (Nagle is off), so the server sees it split.
                let rest = header.split_off(header.len() / 2);
                if let Err(err) = conn.stream.write_all(&header) {
                    self.fail(key, &err);
                    return false;
                }
                header = rest;
            }
            conn.preamble = header;
        }
        if self.plan.config.tls.is_some() {
            return self.start_tls(key);
        }
        self.opened(key);
        true
    }

    /// The connection is ready for traffic (TLS: its handshake is done).
    pub(super) fn opened(&mut self, key: usize) {
        self.connecting -= 1;
        self.conns[key].state = State::Open;
        self.tally.connected += 1;
        self.failed_in_a_row = 0;
        if self.phase == Phase::Running {
            self.begin_message(key);
        }
    }

    pub(super) fn expire_connects(&mut self) {
        let now = Instant::now();
        let stale: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                matches!(c.state, State::Connecting | State::Handshaking) && now - c.started > CONNECT_TIMEOUT
            })
            .map(|(key, _)| key)
            .collect();
        for key in stale {
            let id = self.conns[key].id;
            self.connecting -= 1;
            self.remove(key);
            self.connect_failed(id, &io::Error::from(io::ErrorKind::TimedOut));
        }
    }

    /// Counts a failed connect; the first of the run is also explained on
    /// stderr (and in the report), the rest are only counted.
    fn connect_failed(&mut self, id: u64, err: &io::Error) {
        log::debug!("connect {id} failed: {err}");
        self.tally.errors.connect_failures += 1;
        self.failed_in_a_row += 1;
        self.plan.warnings.once(
            "connect",
            format!(
                "connecting to {} failed: {} (further failures are counted, not shown)",
                self.config().target(),
                crate::error::describe(err)
            ),
        );
    }
}

/// `IP_BIND_ADDRESS_NO_PORT`: without it, bind(port 0) reserves a port per
/// source address for any destination, and one address runs out at the size
/// of the ephemeral range. socket2 does not expose it.
pub(super) fn set_bind_address_no_port(socket: &Socket) -> io::Result<()> {
    crate::sys::set_int_option(socket, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)
}
