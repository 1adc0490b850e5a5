//! The reactor: one thread, one `mio::Poll`, every connection in a slab.
//!
//! Each turn of the loop waits for events, then hands each one to its
//! connection (the slab key is the token) through the [`Service`] in use.
//! A connection that used up its read budget is queued in `yielded` and
//! driven again at the end of the turn; while that queue is not empty the
//! next poll does not sleep. Otherwise the poll sleeps until the earliest of
//! the timers: accept back-off, idle timeouts, the stats line, the drain
//! deadline.
//!
//! Stopping is graceful: the first SIGINT/SIGTERM stops accepting and closes
//! every quiet connection at once; the others are served until they finish
//! or `--shutdown-timeout` passes. A second signal stops now.

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
use crate::idle::IdleTimer;
use crate::service::{Progress, Readiness, Service, Transferred};
use crate::shutdown::ShutdownSignals;
use crate::stats::StatsReporter;
use crate::{fd_limit, listener};

/// Reserved tokens, at the top of the range so they never meet a slab key.
const LISTENER: Token = Token(usize::MAX);
const SIGNALS: Token = Token(usize::MAX - 1);

/// How long to stop accepting after the process or system ran out of file
/// descriptors or memory: long enough not to spin, short enough that clients
/// in the backlog are picked up soon after something frees up.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long `--busy-poll` keeps spinning without events before it sleeps
/// again: a busy server never sleeps, an idle one gives its core back.
const BUSY_POLL_SPIN: Duration = Duration::from_millis(50);

/// Descriptors kept free beside the connections: the standard streams, the
/// poll and signal descriptors, the listener, and room for a log file.
const SPARE_FDS: u64 = 16;

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
    /// Connections served at once; `None`: the open-file limit less a few.
    pub max_connections: Option<usize>,
    /// Close a connection silent for this long.
    pub idle_timeout: Option<Duration>,
    /// After the first stop signal, how long busy connections are served.
    pub shutdown_timeout: Duration,
    /// Log a line of figures this often.
    pub stats_interval: Option<Duration>,
    /// Poll without sleeping while traffic flows (costs a core).
    pub busy_poll: bool,
    /// Reactors, each a thread with its own listener on the same address.
    pub threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 10000)),
            backlog: 1024,
            max_pending: 64 * 1024,
            read_buffer: 64 * 1024,
            broadcast: false,
            max_connections: None,
            idle_timeout: None,
            shutdown_timeout: Duration::from_secs(5),
            stats_interval: None,
            busy_poll: false,
            threads: 1,
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

/// One reactor's own pieces: its poll, its listener, its signal pipe.
struct Bound {
    poll: Poll,
    listener: TcpListener,
    signals: ShutdownSignals,
}

impl Bound {
    fn new(addr: SocketAddr, config: &Config) -> io::Result<Bound> {
        let mut listener = listener::bind(addr, config.backlog, config.threads > 1)?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        // Each reactor has its own pipe: signal-hook notifies every one.
        let signals = ShutdownSignals::register(poll.registry(), SIGNALS)?;
        Ok(Bound {
            poll,
            listener,
            signals,
        })
    }
}

/// The bound listeners, ready to run.
pub struct Server {
    config: Config,
    /// One per reactor; with `--threads N` they share the address through
    /// `SO_REUSEPORT` and the kernel spreads new connections over them.
    reactors: Vec<Bound>,
    /// Connection cap of each reactor.
    max_connections: usize,
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
        let first = Bound::new(config.addr, config).map_err(fail)?;
        // With port 0 the first bind picks the port; the others join it.
        let addr = first.listener.local_addr().map_err(fail)?;
        let mut reactors = vec![first];
        for _ in 1..threads {
            reactors.push(Bound::new(addr, config).map_err(fail)?);
        }
        info!(
            "accepting up to {max_connections} connections at once on {threads} reactor(s) (open-file limit {fd_limit})"
        );
        Ok(Server {
            config: config.clone(),
            reactors,
            max_connections: max_connections.div_ceil(threads),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.reactors[0].listener.local_addr()
    }

    /// Serves until stopped by SIGINT or SIGTERM (see the module docs).
    pub fn run(self) -> io::Result<Summary> {
        let Server {
            config,
            mut reactors,
            max_connections,
        } = self;
        if reactors.len() == 1 {
            let bound = reactors.pop().expect("one reactor");
            return run_reactor(bound, &config, max_connections, None);
        }
        let summaries: Vec<io::Result<Summary>> = std::thread::scope(|scope| {
            let handles: Vec<_> = reactors
                .into_iter()
                .enumerate()
                .map(|(id, bound)| {
                    let config = &config;
                    std::thread::Builder::new()
                        .name(format!("reactor-{id}"))
                        .spawn_scoped(scope, move || {
                            run_reactor(bound, config, max_connections, Some(id))
                        })
                })
                .collect::<io::Result<_>>()?;
            Ok::<_, io::Error>(
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(io::Error::other("a reactor panicked")))
                    })
                    .collect(),
            )
        })?;
        let mut total = Summary::default();
        for summary in summaries {
            let summary = summary?;
            total.connections += summary.connections;
            total.bytes_read += summary.bytes_read;
            total.bytes_written += summary.bytes_written;
        }
        info!(
            "all reactors stopped: served {} connections, echoed {} bytes",
            total.connections, total.bytes_written
        );
        Ok(total)
    }
}

fn run_reactor(
    bound: Bound,
    config: &Config,
    max_connections: usize,
    id: Option<usize>,
) -> io::Result<Summary> {
    if config.broadcast {
        let service = BroadcastService::new(config.read_buffer, config.max_pending);
        Reactor::new(bound, config, max_connections, id, service).run()
    } else {
        let service = EchoService::new(config.read_buffer, config.max_pending);
        Reactor::new(bound, config, max_connections, id, service).run()
    }
}

struct Reactor<S: Service> {
    /// "reactor N: " with `--threads`, so log lines say which one.
    tag: String,
    poll: Poll,
    /// `None` once stopping: new clients are refused.
    listener: Option<TcpListener>,
    signals: ShutdownSignals,
    service: S,
    connections: Slab<S::Connection>,
    max_connections: usize,
    /// Accepting stopped at `max_connections`; clients wait in the backlog
    /// and are accepted as soon as a connection closes.
    at_capacity: bool,
    /// Set while accepting is paused after running out of descriptors.
    accept_paused_until: Option<Instant>,
    idle: Option<IdleTimer>,
    stats: Option<StatsReporter>,
    shutdown_timeout: Duration,
    /// Set by the first stop signal: when the busy connections are cut off.
    drain_deadline: Option<Instant>,
    /// Connections that hit their budget with bytes possibly left unread.
    yielded: Vec<usize>,
    /// The previous turn's `yielded`, kept to reuse its allocation.
    yielded_now: Vec<usize>,
    /// Connections a service dropped while driving another one.
    casualties: Vec<(usize, String)>,
    /// Connections whose idle timeout passed.
    expired: Vec<usize>,
    /// The time after the last poll: timers need no more precision.
    now: Instant,
    /// `--busy-poll`: poll without sleeping until this long passes without events.
    busy_poll: Option<Duration>,
    /// When the last poll returned events, for the busy-poll spin.
    last_busy: Instant,
    summary: Summary,
}

impl<S: Service> Reactor<S> {
    fn new(bound: Bound, config: &Config, max_connections: usize, id: Option<usize>, service: S) -> Self {
        let now = Instant::now();
        Reactor {
            tag: id.map_or_else(String::new, |id| format!("reactor {id}: ")),
            poll: bound.poll,
            listener: Some(bound.listener),
            signals: bound.signals,
            service,
            connections: Slab::new(),
            max_connections,
            at_capacity: false,
            accept_paused_until: None,
            idle: config.idle_timeout.map(|timeout| IdleTimer::new(timeout, now)),
            stats: config
                .stats_interval
                .map(|interval| StatsReporter::new(interval, now)),
            shutdown_timeout: config.shutdown_timeout,
            drain_deadline: None,
            yielded: Vec::new(),
            yielded_now: Vec::new(),
            casualties: Vec::new(),
            expired: Vec::new(),
            now,
            busy_poll: config.busy_poll.then_some(BUSY_POLL_SPIN),
            last_busy: now,
            summary: Summary::default(),
        }
    }

    fn run(mut self) -> io::Result<Summary> {
        let mut events = Events::with_capacity(1024);
        loop {
            if self.drain_deadline.is_some() && self.connections.is_empty() {
                break;
            }
            let timeout = self.poll_timeout();
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
                // A signal interrupted the wait: no events, but the timers run.
                events.clear();
            }
            self.now = Instant::now();
            if self.busy_poll.is_some() && !events.is_empty() {
                self.last_busy = self.now;
            }
            std::mem::swap(&mut self.yielded, &mut self.yielded_now);
            let mut stop_now = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    SIGNALS if self.signals.received() => {
                        if self.drain_deadline.is_some() {
                            info!(
                                "{}second stop signal: closing {} connections now",
                                self.tag,
                                self.connections.len()
                            );
                            stop_now = true;
                        } else {
                            self.begin_drain();
                        }
                    }
                    SIGNALS => {}
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
            self.run_timers();
            if stop_now {
                break;
            }
            if self.drain_deadline.is_some_and(|deadline| self.now >= deadline) {
                info!(
                    "{}shutdown timeout: closing {} connections still busy",
                    self.tag,
                    self.connections.len()
                );
                break;
            }
        }
        info!(
            "{}stopped: served {} connections, echoed {} bytes",
            self.tag, self.summary.connections, self.summary.bytes_written
        );
        // Dropping the reactor closes whatever connections remain.
        Ok(self.summary)
    }

    fn run_timers(&mut self) {
        if self.accept_paused_until.is_some_and(|until| self.now >= until)
            || (self.at_capacity && self.connections.len() < self.max_connections)
        {
            self.accept_all();
        }
        if let Some(idle) = &mut self.idle {
            idle.expire(self.now, &mut self.expired);
            let mut expired = std::mem::take(&mut self.expired);
            for key in expired.drain(..) {
                self.close(key, "idle timeout");
            }
            self.expired = expired;
        }
        if let Some(stats) = &mut self.stats {
            stats.tick(self.now, self.connections.len(), self.summary);
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.yielded.is_empty() {
            return Some(Duration::ZERO);
        }
        if self
            .busy_poll
            .is_some_and(|spin| self.now.duration_since(self.last_busy) < spin)
        {
            // Spinning: the next event is seen without a wake-up's latency.
            return Some(Duration::ZERO);
        }
        let deadlines = [
            self.accept_paused_until,
            self.idle.as_ref().and_then(IdleTimer::next_deadline),
            self.stats.as_ref().map(StatsReporter::next_deadline),
            self.drain_deadline,
        ];
        let earliest = deadlines.into_iter().flatten().min()?;
        Some(earliest.saturating_duration_since(Instant::now()))
    }

    /// First stop signal: refuse new clients, close the quiet connections,
    /// keep serving the busy ones until they finish or the timeout passes.
    fn begin_drain(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.drain_deadline = Some(self.now + self.shutdown_timeout);
        info!(
            "{}stopping: no new connections; {} open, busy ones served for up to {:?}",
            self.tag,
            self.connections.len(),
            self.shutdown_timeout
        );
        // Classified once, now: a connection with nothing in flight (after
        // reading what is already there) is closed; a busy one is served to
        // its EOF or the deadline, even through moments when it is drained,
        // since its client may still be sending.
        let keys: Vec<usize> = self.connections.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.drive(key);
            if self.connections.get(key).is_some_and(S::is_quiet) {
                self.close(key, "nothing in flight at shutdown");
            }
        }
    }

    fn accept_all(&mut self) {
        while let Some(listener) = &self.listener {
            if self.connections.len() >= self.max_connections {
                if !self.at_capacity {
                    debug!(
                        "at {} connections: new clients wait in the backlog",
                        self.max_connections
                    );
                }
                self.at_capacity = true;
                return;
            }
            self.at_capacity = false;
            match listener.accept() {
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
            debug!("{}connection {key} from {peer} to {local}", self.tag);
        }
        entry.insert(self.service.open(stream));
        if let Some(idle) = &mut self.idle {
            idle.opened(key, self.now);
        }
        self.summary.connections += 1;
        Ok(())
    }

    fn drive(&mut self, key: usize) {
        let mut moved = Transferred::default();
        let progress = self.service.drive(key, &mut self.connections, &mut moved);
        self.summary.bytes_read += moved.read;
        self.summary.bytes_written += moved.written;
        if moved.read + moved.written > 0 {
            log::trace!("connection {key}: read {}, wrote {}", moved.read, moved.written);
            if let Some(idle) = &mut self.idle {
                idle.touched(key, self.now);
            }
        }
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
        if let Some(idle) = &mut self.idle {
            idle.closed(key);
        }
        debug!("{}connection {key} closed: {why}", self.tag);
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
