//! The reactor: one thread, one `mio::Poll`, every connection in a slab.
//!
//! Each turn of the loop waits for events, then hands each one to its
//! connection (the slab key is the token) through the [`Service`] in use.
//! A connection that used up its read budget is queued in `yielded` and
//! driven again at the end of the turn; while that queue is not empty the
//! next poll does not sleep.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::broadcast::BroadcastService;
use crate::echo::EchoService;
use crate::error::describe;
use crate::service::{Progress, Readiness, Service, Transferred};
use crate::shutdown::ShutdownSignals;
use crate::{fd_limit, listener};

/// Reserved tokens, at the top of the range so they never meet a slab key.
const LISTENER: Token = Token(usize::MAX);
const SIGNALS: Token = Token(usize::MAX - 1);

/// How long to stop accepting after the process or system ran out of file
/// descriptors or memory: long enough not to spin, short enough that clients
/// in the backlog are picked up soon after something frees up.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Settings of `mio-echo serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// Length of the kernel's queue of connections not yet accepted.
    pub backlog: i32,
    /// Per-connection limit on unsent echo bytes before reading pauses.
    pub max_pending: usize,
    /// Size of the one read buffer all connections share.
    pub read_buffer: usize,
    /// Send every client's bytes to every client instead of echoing.
    pub broadcast: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 10000)),
            backlog: 1024,
            max_pending: 64 * 1024,
            read_buffer: 64 * 1024,
            broadcast: false,
        }
    }
}

/// What the server did, logged when it stops.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub connections: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

/// A bound listener, ready to run.
pub struct Server {
    config: Config,
    poll: Poll,
    listener: TcpListener,
    signals: ShutdownSignals,
}

impl Server {
    /// Binds the listener and sets up the reactor; the caller can then print
    /// [`Server::local_addr`] before calling [`Server::run`].
    pub fn bind(config: &Config) -> Result<Server, String> {
        let fail = |err: io::Error| format!("cannot listen on {}: {}", config.addr, describe(&err));
        if let Err(err) = fd_limit::raise_to_hard_limit() {
            warn!("cannot raise the open-file limit: {}", describe(&err));
        }
        let mut listener = listener::bind(config.addr, config.backlog).map_err(fail)?;
        let poll = Poll::new().map_err(fail)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(fail)?;
        let signals = ShutdownSignals::register(poll.registry(), SIGNALS).map_err(fail)?;
        Ok(Server {
            config: config.clone(),
            poll,
            listener,
            signals,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGINT or SIGTERM, then closes every connection.
    pub fn run(self) -> io::Result<Summary> {
        let config = self.config.clone();
        if config.broadcast {
            Reactor::new(
                self,
                BroadcastService::new(config.read_buffer, config.max_pending),
            )
            .run()
        } else {
            Reactor::new(self, EchoService::new(config.read_buffer, config.max_pending)).run()
        }
    }
}

struct Reactor<S: Service> {
    poll: Poll,
    listener: TcpListener,
    signals: ShutdownSignals,
    service: S,
    connections: Slab<S::Connection>,
    /// Connections that hit their budget with bytes possibly left unread.
    yielded: Vec<usize>,
    /// The previous turn's `yielded`, kept to reuse its allocation.
    yielded_now: Vec<usize>,
    /// Connections a service dropped while driving another one.
    casualties: Vec<(usize, String)>,
    /// Set while accepting is paused after running out of descriptors.
    accept_paused_until: Option<Instant>,
    summary: Summary,
}

impl<S: Service> Reactor<S> {
    fn new(server: Server, service: S) -> Self {
        Reactor {
            poll: server.poll,
            listener: server.listener,
            signals: server.signals,
            service,
            connections: Slab::new(),
            yielded: Vec::new(),
            yielded_now: Vec::new(),
            casualties: Vec::new(),
            accept_paused_until: None,
            summary: Summary::default(),
        }
    }

    fn run(mut self) -> io::Result<Summary> {
        let mut events = Events::with_capacity(1024);
        let mut stopping = false;
        while !stopping {
            let timeout = self.poll_timeout();
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            std::mem::swap(&mut self.yielded, &mut self.yielded_now);
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    SIGNALS => stopping |= self.signals.received(),
                    Token(key) => {
                        // A stale event (its connection closed earlier in this
                        // batch, the key maybe reused) is only a spurious wake-up.
                        if let Some(conn) = self.connections.get_mut(key) {
                            S::on_readiness(conn, Readiness::of(event));
                            self.drive(key);
                        }
                    }
                }
            }
            let mut again = std::mem::take(&mut self.yielded_now);
            for key in again.drain(..) {
                self.drive(key);
            }
            self.yielded_now = again;
            if self
                .accept_paused_until
                .is_some_and(|until| Instant::now() >= until)
            {
                self.accept_all();
            }
        }
        info!(
            "stopping: closing {} connections; served {} connections, echoed {} bytes",
            self.connections.len(),
            self.summary.connections,
            self.summary.bytes_written
        );
        Ok(self.summary)
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.yielded.is_empty() {
            return Some(Duration::ZERO);
        }
        self.accept_paused_until
            .map(|until| until.saturating_duration_since(Instant::now()))
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    self.accept_paused_until = None;
                    if let Err(err) = self.add_connection(stream, peer) {
                        debug!("cannot set up connection from {peer}: {}", describe(&err));
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if is_out_of_resources(&err) => {
                    if self.accept_paused_until.is_none() {
                        warn!(
                            "cannot accept: {} ({} connections open); retrying every {:?}",
                            describe(&err),
                            self.connections.len(),
                            ACCEPT_BACKOFF
                        );
                    }
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    break;
                }
                // ECONNABORTED and the like concern one client only.
                Err(err) => debug!("accept failed: {}", describe(&err)),
            }
        }
    }

    fn add_connection(&mut self, mut stream: TcpStream, peer: SocketAddr) -> io::Result<()> {
        // Echo traffic is small request/response pairs: Nagle would hold each
        // reply back for the peer's delayed ACK.
        stream.set_nodelay(true)?;
        let entry = self.connections.vacant_entry();
        let key = entry.key();
        // Registered once for both directions: no epoll_ctl per message.
        self.poll
            .registry()
            .register(&mut stream, Token(key), Interest::READABLE | Interest::WRITABLE)?;
        if log::log_enabled!(log::Level::Debug) {
            // As seed 002's server prints both ends; getsockname only when asked for.
            let local = stream
                .local_addr()
                .map_or_else(|_| "?".to_string(), |addr| addr.to_string());
            debug!("connection {key} from {peer} to {local}");
        }
        entry.insert(self.service.open(stream));
        self.summary.connections += 1;
        Ok(())
    }

    fn drive(&mut self, key: usize) {
        let mut moved = Transferred::default();
        let progress = self.service.drive(key, &mut self.connections, &mut moved);
        self.summary.bytes_read += moved.read;
        self.summary.bytes_written += moved.written;
        log::trace!("connection {key}: read {}, wrote {}", moved.read, moved.written);
        match progress {
            Progress::Waiting => {}
            Progress::Yielded => self.yielded.push(key),
            Progress::Finished => self.close(key, "finished"),
            Progress::Failed(err) => self.close(key, &describe(&err)),
        }
        self.service.take_casualties(&mut self.casualties);
        while let Some((victim, why)) = self.casualties.pop() {
            self.close(victim, &why);
        }
    }

    fn close(&mut self, key: usize, why: &str) {
        let Some(mut conn) = self.connections.try_remove(key) else {
            return;
        };
        // Dropping the socket closes it; with its receive queue empty (we read
        // to EOF) the kernel sends an orderly FIN, i.e. shutdown(Write) + close.
        if let Err(err) = self.poll.registry().deregister(S::stream(&mut conn)) {
            debug!("connection {key}: deregister failed: {}", describe(&err));
        }
        debug!("connection {key} closed: {why}");
    }
}

/// Accept errors that concern the whole process, not one client: retrying at
/// once would only spin.
fn is_out_of_resources(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
