//! The reactor: one thread, one `mio::Poll`, every connection in a slab.
//!
//! Each turn of the loop waits for events, then hands each one to its
//! connection (the slab key is the token) through the [`Service`] in use.
//! A connection that used up its read budget is queued in `yielded` and
//! driven again at the end of the turn; while that queue is not empty the
//! next poll does not sleep. Otherwise the poll sleeps until the earliest of
//! the timers: accept back-off, idle timeouts, the stats line, the drain.
//!
//! Stopping is graceful: the first SIGINT/SIGTERM/SIGHUP stops accepting;
//! connections are then closed as they fall quiet ([`super::drain`]) and the
//! rest are cut off after `--shutdown-timeout`. A second signal stops now.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::transport::Listener;
use log::{debug, info};
use mio::{Events, Poll, Token};
use slab::Slab;

use super::admission::Admission;
use super::config::Config;
use super::drain::Drain;
use super::handshake::HandshakeTimer;
use super::idle::IdleTimer;
use super::limits::{DeadPeers, PerSource};
use super::listener::Bound;
use super::metrics::MetricsEndpoint;
use super::proxy::ProxyGate;
use super::shutdown::ShutdownSignals;
use super::stats::{Closed, Levels, StatsBoard, StatsReporter, Summary, plural};
use crate::error::describe;
use crate::service::{Progress, Readiness, Service, Transferred};
use crate::udp::echo::UdpEcho;
use crate::udp::guard::{Guard, local_broadcasts};

use super::tokens::{self, LISTENER, SIGNALS, UDP, UNIX_LISTENER, WAKE};

/// How long to stop accepting after the process or system ran out of file
/// descriptors or memory: long enough not to spin, short enough that clients
/// in the backlog are picked up soon after something frees up.
pub(super) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long `--busy-poll` keeps spinning without events before it sleeps
/// again: a busy server never sleeps, an idle one gives its core back.
const BUSY_POLL_SPIN: Duration = Duration::from_millis(50);

/// How often a reactor hands its figures to the board: fresh enough for a
/// stats line or a scrape, rare enough that counting the pending bytes of
/// every connection costs nothing that matters.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// What a reactor is built from besides its service.
pub struct Setup<'a> {
    pub bound: Bound,
    pub config: &'a Config,
    /// `--max-connections`, shared with the other reactors.
    pub admission: Arc<Admission>,
    /// The reactor's number, with `--threads`, for its log lines.
    pub tag: Option<usize>,
    /// Where to publish figures for the stats line, and under which slot.
    pub board: Option<(StatsBoard, usize)>,
    /// The stats line itself, on one reactor only.
    pub reporter: Option<StatsReporter>,
    /// `--max-connections-per-ip`, shared with the other reactors.
    pub per_source: Option<PerSource>,
    /// `--metrics-addr`, on the first reactor only.
    pub metrics: Option<MetricsEndpoint>,
}

pub struct Reactor<S: Service> {
    /// "reactor N: " with `--threads`, so log lines say which one.
    pub(super) tag: String,
    pub(super) poll: Poll,
    /// `None` once stopping: new clients are refused.
    pub(super) listener: Option<Listener>,
    /// `--unix PATH`; `None` once stopping, as `listener`.
    pub(super) unix_listener: Option<Listener>,
    pub(super) signals: ShutdownSignals,
    pub(super) service: S,
    pub(super) connections: Slab<S::Connection>,
    pub(super) admission: Arc<Admission>,
    /// Accepting stopped at `--max-connections`; clients wait in the
    /// backlog and are accepted as soon as a connection closes anywhere.
    pub(super) at_capacity: bool,
    /// Set while accepting is paused after running out of descriptors.
    pub(super) accept_paused_until: Option<Instant>,
    pub(super) idle: Option<IdleTimer>,
    /// `--tls-handshake-timeout`, for a service with handshakes.
    pub(super) handshakes: Option<HandshakeTimer>,
    /// `--proxy-protocol`: connections waiting for their header.
    pub(super) proxy: Option<ProxyGate>,
    /// Socket options that find vanished peers.
    pub(super) dead_peers: DeadPeers,
    pub(super) per_source: Option<PerSource>,
    pub(super) metrics: Option<MetricsEndpoint>,
    /// `--udp`: this reactor's UDP echo socket.
    pub(super) udp: Option<UdpEcho>,
    pub(super) board: Option<(StatsBoard, usize)>,
    pub(super) stats: Option<StatsReporter>,
    pub(super) shutdown_timeout: Duration,
    pub(super) drain_quiet: Duration,
    /// Set by the first stop signal.
    pub(super) drain: Option<Drain>,
    /// Connections that hit their budget with bytes possibly left unread.
    pub(super) yielded: Vec<usize>,
    /// The previous turn's `yielded`, kept to reuse its allocation.
    pub(super) yielded_now: Vec<usize>,
    /// Connections a service dropped while driving another one.
    pub(super) casualties: Vec<(usize, String)>,
    /// Connections whose idle timeout passed, or that fell quiet while stopping.
    pub(super) expired: Vec<usize>,
    /// The time after the last poll: timers need no more precision.
    pub(super) now: Instant,
    /// `--busy-poll`: poll without sleeping until this long passes without events.
    pub(super) busy_poll: Option<Duration>,
    /// When the last poll returned events, for the busy-poll spin.
    pub(super) last_busy: Instant,
    pub(super) summary: Summary,
    /// When the figures were last handed to the board, and what they were
    /// (counts and active connections).
    pub(super) published: (Instant, Summary, usize),
}

impl<S: Service> Reactor<S> {
    pub fn new(setup: Setup<'_>, service: S) -> Self {
        let now = Instant::now();
        let Setup {
            bound,
            config,
            admission,
            tag,
            board,
            reporter,
            per_source,
            metrics,
        } = setup;
        Reactor {
            tag: tag.map_or_else(String::new, |id| format!("reactor {id}: ")),
            poll: bound.poll,
            listener: bound.listener,
            unix_listener: bound.unix,
            udp: bound.udp.zip(config.udp).map(|(socket, udp)| {
                // Each source address reaches one reactor (udp::bind_group):
                // each guards its share of the table.
                let max_sources = udp.max_sources.div_ceil(config.threads.max(1));
                UdpEcho::new(socket, Guard::new(udp.rate, max_sources, local_broadcasts()))
            }),
            signals: bound.signals,
            service,
            connections: Slab::new(),
            admission,
            at_capacity: false,
            accept_paused_until: None,
            idle: config.idle_timeout.map(|timeout| IdleTimer::new(timeout, now)),
            handshakes: S::HANDSHAKES.then(|| HandshakeTimer::new(config.tls_handshake_timeout)),
            proxy: config.proxy.clone().map(ProxyGate::new),
            dead_peers: config.dead_peers,
            per_source,
            metrics,
            board,
            stats: reporter,
            shutdown_timeout: config.shutdown_timeout,
            drain_quiet: config.drain_quiet,
            drain: None,
            yielded: Vec::new(),
            yielded_now: Vec::new(),
            casualties: Vec::new(),
            expired: Vec::new(),
            now,
            busy_poll: config.busy_poll.then_some(BUSY_POLL_SPIN),
            last_busy: now,
            summary: Summary::default(),
            published: (now, Summary::default(), 0),
        }
    }

    pub fn run(mut self) -> io::Result<Summary> {
        let mut events = Events::with_capacity(1024);
        loop {
            if self.drain.is_some() && self.connections.is_empty() {
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
                    LISTENER | UNIX_LISTENER => self.accept_all(),
                    UDP => self.echo_datagrams(),
                    SIGNALS if self.signals.received() => {
                        if self.drain.is_some() {
                            info!(
                                "{}second stop signal: closing {} now",
                                self.tag,
                                plural(self.connections.len() as u64, "connection")
                            );
                            stop_now = true;
                        } else {
                            self.begin_drain();
                        }
                    }
                    SIGNALS | WAKE => {}
                    token if tokens::is_proxy_waiting(token) => self.on_proxy_readable(token),
                    tokens::METRICS_LISTENER => {
                        if let Some(endpoint) = &mut self.metrics {
                            endpoint.accept_all(self.poll.registry(), self.now);
                        }
                    }
                    token if tokens::is_scraper(token) => {
                        let stopping = self.drain.is_some();
                        if let Some(endpoint) = &mut self.metrics {
                            endpoint.on_event(self.poll.registry(), token, stopping);
                        }
                    }
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
            if self.udp.as_ref().is_some_and(|udp| udp.yielded) {
                self.echo_datagrams();
            }
            self.run_timers();
            if stop_now {
                break;
            }
            if self.drain.as_ref().is_some_and(|drain| drain.timed_out(self.now)) {
                info!(
                    "{}shutdown timeout: closing {} still busy",
                    self.tag,
                    plural(self.connections.len() as u64, "connection")
                );
                break;
            }
        }
        if let Some(udp) = &mut self.udp {
            udp.flush_log(None);
        }
        self.summary.log_stopped(&self.tag, self.udp.is_some());
        // Dropping the reactor closes whatever connections remain.
        self.summary.closed[Closed::Shutdown as usize] += self.connections.len() as u64;
        self.publish(true);
        Ok(self.summary)
    }

    fn run_timers(&mut self) {
        self.expire_proxy_headers();
        if let Some(udp) = &mut self.udp {
            udp.flush_log(Some(self.now));
        }
        if let Some(endpoint) = &mut self.metrics {
            endpoint.expire(self.poll.registry(), self.now);
        }
        if self.accept_paused_until.is_some_and(|until| self.now >= until)
            || (self.at_capacity && self.admission.has_room())
        {
            self.accept_all();
        }
        if let Some(idle) = &mut self.idle {
            idle.expire(self.now, &mut self.expired);
            let mut expired = std::mem::take(&mut self.expired);
            for key in expired.drain(..) {
                self.close(key, Closed::IdleTimeout, "idle timeout");
            }
            self.expired = expired;
        }
        if let Some(handshakes) = &mut self.handshakes {
            let timeout = handshakes.timeout();
            handshakes.expire(self.now, &mut self.expired);
            let mut expired = std::mem::take(&mut self.expired);
            for key in expired.drain(..) {
                if self.connections.get(key).is_some_and(S::handshaking) {
                    let why = format!("handshake not done within {timeout:?}");
                    self.close(key, Closed::IdleTimeout, &why);
                }
            }
            self.expired = expired;
        }
        if let Some(drain) = &mut self.drain {
            let open = self
                .connections
                .iter()
                .map(|(key, conn)| (key, S::is_quiet(conn)));
            drain.sweep(self.now, open, &mut self.expired);
            let mut quiet = std::mem::take(&mut self.expired);
            for key in quiet.drain(..) {
                self.close(key, Closed::Shutdown, "quiet at shutdown");
            }
            self.expired = quiet;
        }
        self.publish(false);
        if let Some(stats) = &mut self.stats {
            stats.tick(self.now);
        }
    }

    /// Answers the datagrams waiting on the UDP socket (a budget's worth).
    fn echo_datagrams(&mut self) {
        if let Some(udp) = &mut self.udp {
            udp.on_readable(self.now);
            self.summary.udp = udp.counts();
        }
    }

    /// Hands this reactor's figures to the board (for the stats line and
    /// the metrics), at most every [`PUBLISH_EVERY`] unless `now` is set.
    fn publish(&mut self, now: bool) {
        if self.board.is_none() || (!now && self.now < self.published.0 + PUBLISH_EVERY) {
            return;
        }
        self.published = (self.now, self.summary, self.connections.len());
        if let Some((board, slot)) = &self.board {
            let levels = Levels {
                active: self.connections.len() as u64,
                // Counted when published, not tracked per write: a
                // broadcast fills every client's queue from one read.
                pending_bytes: self
                    .connections
                    .iter()
                    .map(|(_, conn)| S::owed(conn) as u64)
                    .sum(),
                proxy_waiting: self.proxy.as_ref().map_or(0, |gate| gate.len() as u64),
            };
            board.publish(*slot, levels, self.summary);
        }
    }

    /// When figures the board has not seen must be published: a reactor
    /// that falls idle would otherwise keep its last changes to itself.
    fn unpublished_since(&self) -> Option<Instant> {
        // Without a board (no stats line, no metrics) nothing is compared:
        // this runs on every turn of the loop.
        self.board.as_ref()?;
        let (at, summary, active) = self.published;
        let changed = summary != self.summary || active != self.connections.len();
        changed.then_some(at + PUBLISH_EVERY)
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.yielded.is_empty() || self.udp.as_ref().is_some_and(|udp| udp.yielded) {
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
            self.handshakes.as_ref().and_then(HandshakeTimer::next_deadline),
            self.stats.as_ref().map(StatsReporter::next_deadline),
            self.proxy.as_ref().and_then(ProxyGate::next_deadline),
            self.metrics.as_ref().and_then(MetricsEndpoint::next_deadline),
            self.udp.as_ref().and_then(UdpEcho::next_log_deadline),
            self.drain.as_ref().map(Drain::next_deadline),
            self.unpublished_since(),
        ];
        let earliest = deadlines.into_iter().flatten().min()?;
        Some(earliest.saturating_duration_since(Instant::now()))
    }

    pub(super) fn drive(&mut self, key: usize) {
        let mut moved = Transferred::default();
        let progress = self.service.drive(key, &mut self.connections, &mut moved);
        self.summary.read_pauses += u64::from(moved.paused);
        self.summary.bytes_read += moved.read;
        self.summary.bytes_written += moved.written;
        let heard = moved.read > 0 || moved.received;
        if heard || moved.written > 0 {
            log::trace!("connection {key}: read {}, wrote {}", moved.read, moved.written);
            if let Some(idle) = &mut self.idle {
                idle.touched(key, self.now);
            }
            if let Some(drain) = self.drain.as_mut().filter(|_| heard) {
                drain.heard(key, self.now);
            }
        }
        match progress {
            Progress::Waiting => {}
            Progress::Yielded => self.yielded.push(key),
            Progress::Finished => self.close(key, Closed::Finished, "finished"),
            Progress::Failed(err) if err.kind() == io::ErrorKind::TimedOut => {
                // The kernel gave up on the peer: keepalive probes or sent
                // data went unanswered (--keepalive, --user-timeout).
                self.summary.dead_peers += 1;
                info!(
                    "{}connection {key}: the peer stopped answering ({}), closed",
                    self.tag,
                    describe(&err)
                );
                self.close(key, Closed::DeadPeer, "peer unreachable");
            }
            Progress::Failed(err) => self.close(key, Closed::Reset, &describe(&err)),
        }
        self.service.take_casualties(&mut self.casualties);
        while let Some((victim, why)) = self.casualties.pop() {
            self.close(victim, Closed::SlowConsumer, &why);
        }
    }

    pub(super) fn close(&mut self, key: usize, reason: Closed, why: &str) {
        let Some(mut conn) = self.connections.try_remove(key) else {
            return;
        };
        self.summary.count_close(reason);
        if matches!(reason, Closed::Shutdown | Closed::IdleTimeout) {
            S::farewell(&mut conn);
        }
        // Dropping the socket closes it; with its receive queue empty (we read
        // to EOF) the kernel sends an orderly FIN, i.e. shutdown(Write) + close.
        if let Err(err) = self.poll.registry().deregister(S::stream(&mut conn)) {
            debug!("connection {key}: deregister failed: {}", describe(&err));
        }
        if let Some(idle) = &mut self.idle {
            idle.closed(key);
        }
        if let Some(handshakes) = &mut self.handshakes {
            handshakes.closed(key);
        }
        self.admission.release(1);
        if let Some(per_source) = &mut self.per_source {
            per_source.closed(key);
        }
        // Closed before it is said to be (tests count descriptors on the word).
        drop(conn);
        debug!("{}connection {key} closed: {why}", self.tag);
    }
}
