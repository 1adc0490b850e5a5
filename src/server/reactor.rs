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

use log::{debug, info};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::accept::{Arrival, Doors};
use super::admission::Admission;
use super::config::Config;
use super::drain::{Drain, DrainPolicy};
use super::figures::Figures;
use super::limits::PerSource;
use super::listener::Bound;
use super::metrics::MetricsEndpoint;
use super::proxy::ProxyGate;
use super::said::{self, SharedOncePerSource};
use super::shutdown::ShutdownSignals;
use super::stats::{Closed, StatsBoard, StatsReporter, Summary, plural};
use super::timers::{Due, Timers};
use super::tokens::{self, SIGNALS, UDP, WAKE};
use crate::error::describe;
use crate::service::{Progress, Service, Transferred};
use crate::transport::readiness::Readiness;
use crate::udp::echo::UdpEcho;
use crate::udp::guard::{Guard, local_broadcasts};

/// How long `--busy-poll` keeps spinning without events before it sleeps
/// again: a busy server never sleeps, an idle one gives its core back.
const BUSY_POLL_SPIN: Duration = Duration::from_millis(50);

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
    /// Sources whose TLS client certificate was refused, and when they were
    /// last said in the log; shared with the other reactors.
    pub refusals_said: SharedOncePerSource,
}

pub struct Reactor<S: Service> {
    /// "reactor N: " with `--threads`, so log lines say which one.
    tag: String,
    poll: Poll,
    signals: ShutdownSignals,
    service: S,
    connections: Slab<S::Connection>,
    /// Accepting, the limits and the PROXY gate.
    doors: Doors,
    /// Idle and handshake timeouts.
    timers: Timers,
    figures: Figures,
    drain_policy: DrainPolicy,
    /// Set by the first stop signal.
    drain: Option<Drain>,
    /// `--udp`: this reactor's UDP echo socket.
    udp: Option<UdpEcho>,
    /// `--metrics-addr`, on the first reactor.
    metrics: Option<MetricsEndpoint>,
    /// Refused TLS client certificates are said once per source per 10 s,
    /// whichever reactor refuses them.
    refusals_said: SharedOncePerSource,
    /// Read each TCP connection's retransmissions as it closes (for the
    /// metrics: one `getsockopt` per connection, so only when they are on).
    sample_tcp_info: bool,
    /// Connections that hit their budget with bytes possibly left unread.
    yielded: Vec<usize>,
    /// The previous turn's `yielded`, kept to reuse its allocation.
    yielded_now: Vec<usize>,
    /// Connections a service dropped while driving another one.
    casualties: Vec<(usize, String)>,
    /// Connections whose time ran out this turn.
    due: Vec<(usize, Due)>,
    /// Connections that fell quiet while stopping.
    quiet: Vec<usize>,
    /// The time after the last poll: timers need no more precision.
    now: Instant,
    /// `--busy-poll`: poll without sleeping until this long passes without events.
    busy_poll: Option<Duration>,
    /// When the last poll returned events, for the busy-poll spin.
    last_busy: Instant,
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
            refusals_said,
        } = setup;
        let tag = tag.map_or_else(String::new, |id| format!("reactor {id}: "));
        let proxy = config.proxy.clone().map(ProxyGate::new);
        let handshake_timeout = S::HANDSHAKES.then_some(config.tls_handshake_timeout);
        Reactor {
            doors: Doors::new(
                tag.clone(),
                bound.listeners,
                admission,
                proxy,
                per_source,
                config.dead_peers,
            ),
            tag,
            poll: bound.poll,
            udp: bound.udp.zip(config.udp).map(|(socket, udp)| {
                // Each source address reaches one reactor (udp::bind_group):
                // each guards its share of the table.
                let max_sources = udp.max_sources.div_ceil(config.threads.max(1));
                UdpEcho::new(socket, Guard::new(udp.rate, max_sources, local_broadcasts()))
            }),
            signals: bound.signals,
            service,
            connections: Slab::new(),
            timers: Timers::new(config.idle_timeout, handshake_timeout, now),
            figures: Figures::new(board, reporter, now),
            drain_policy: DrainPolicy {
                timeout: config.shutdown_timeout,
                quiet_after: config.drain_quiet,
            },
            drain: None,
            metrics,
            refusals_said,
            sample_tcp_info: config.metrics_addr.is_some(),
            yielded: Vec::new(),
            yielded_now: Vec::new(),
            casualties: Vec::new(),
            due: Vec::new(),
            quiet: Vec::new(),
            now,
            busy_poll: config.busy_poll.then_some(BUSY_POLL_SPIN),
            last_busy: now,
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
                    token if tokens::is_listener(token) => self.accept_all(),
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
                    token if tokens::is_proxy_waiting(token) => {
                        let summary = &mut self.figures.summary;
                        let registry = self.poll.registry();
                        if let Some(arrival) =
                            self.doors.on_proxy_readable(registry, token, self.now, summary)
                        {
                            self.seat(arrival);
                        }
                    }
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
        let summary = &mut self.figures.summary;
        summary.log_stopped(&self.tag, self.udp.is_some());
        // Dropping the reactor closes whatever connections remain.
        summary.closed[Closed::Shutdown as usize] += self.connections.len() as u64;
        self.publish(true);
        Ok(self.figures.summary)
    }

    fn run_timers(&mut self) {
        self.doors
            .expire(self.poll.registry(), self.now, &mut self.figures.summary);
        if let Some(udp) = &mut self.udp {
            udp.flush_log(Some(self.now));
        }
        if let Some(endpoint) = &mut self.metrics {
            endpoint.expire(self.poll.registry(), self.now);
        }
        if self.doors.should_retry(self.now) {
            self.accept_all();
        }
        self.timers.expire(self.now, &mut self.due);
        let mut due = std::mem::take(&mut self.due);
        for (key, why) in due.drain(..) {
            match why {
                Due::Idle => self.close(key, Closed::IdleTimeout, "idle timeout"),
                Due::Handshake(timeout) => {
                    if self.connections.get(key).is_some_and(S::handshaking) {
                        let why = format!("handshake not done within {timeout:?}");
                        self.close(key, Closed::IdleTimeout, &why);
                    }
                }
            }
        }
        self.due = due;
        if let Some(drain) = &mut self.drain {
            let open = self
                .connections
                .iter()
                .map(|(key, conn)| (key, S::is_quiet(conn)));
            drain.sweep(self.now, open, &mut self.quiet);
            let mut quiet = std::mem::take(&mut self.quiet);
            for key in quiet.drain(..) {
                self.close(key, Closed::Shutdown, "quiet at shutdown");
            }
            self.quiet = quiet;
        }
        self.publish(false);
        self.figures.tick(self.now);
    }

    /// Accepts what waits on the listeners, and serves it.
    fn accept_all(&mut self) {
        loop {
            let open = self.connections.len();
            let summary = &mut self.figures.summary;
            let Some(arrival) = self
                .doors
                .accept_next(self.poll.registry(), self.now, open, summary)
            else {
                break;
            };
            self.seat(arrival);
        }
    }

    /// Gives a client the doors let in its place in the slab.
    fn seat(&mut self, mut arrival: Arrival) {
        let entry = self.connections.vacant_entry();
        let key = entry.key();
        // Registered once for both directions: no epoll_ctl per message.
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(err) = self
            .poll
            .registry()
            .register(&mut arrival.stream, Token(key), interest)
        {
            self.doors.turned_away(arrival.client, &err);
            return;
        }
        if log::log_enabled!(log::Level::Debug) {
            // As seed 002's server prints both ends; getsockname only when asked for.
            let local = arrival.stream.local_name();
            let via = if arrival.client == arrival.peer {
                String::new()
            } else {
                format!(" via {}", arrival.peer)
            };
            debug!(
                "{}connection {key} from {}{via} to {local}",
                self.tag, arrival.client
            );
        }
        self.doors.seated(key, &arrival);
        self.timers.opened(key, self.now);
        self.figures.summary.connections += 1;
        let proxied = arrival.proxied;
        let client = arrival.client_ip();
        entry.insert(self.service.open(arrival.stream, client));
        if proxied {
            // Bytes may already wait behind the PROXY header: no new
            // edge will announce them.
            self.drive(key);
        }
    }

    /// First stop signal: refuse new clients; from now on connections are
    /// closed once quiet (see [`super::drain`]).
    fn begin_drain(&mut self) {
        self.doors.close(self.poll.registry());
        let key_bound = self.connections.iter().map(|(key, _)| key + 1).max().unwrap_or(0);
        self.drain = Some(self.drain_policy.begin(self.now, key_bound));
        info!(
            "{}stopping: no new connections; {} open, each closed once its client is quiet for {:?}, busy ones served for up to {:?}",
            self.tag,
            plural(self.connections.len() as u64, "connection"),
            self.drain_policy.quiet_after,
            self.drain_policy.timeout
        );
    }

    /// Answers the datagrams waiting on the UDP socket (a budget's worth).
    fn echo_datagrams(&mut self) {
        if let Some(udp) = &mut self.udp {
            udp.on_readable(self.now);
            self.figures.summary.udp = udp.counts();
        }
    }

    /// Hands this reactor's figures to the board (see [`Figures::publish`]).
    fn publish(&mut self, force: bool) {
        let connections = &self.connections;
        let pending = || connections.iter().map(|(_, conn)| S::owed(conn) as u64).sum();
        let proxy_waiting = self.doors.proxy_waiting();
        self.figures
            .publish(self.now, force, connections.len(), pending, proxy_waiting);
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
            self.doors.next_deadline(),
            self.timers.next_deadline(),
            self.figures.next_deadline(self.connections.len()),
            self.metrics.as_ref().and_then(MetricsEndpoint::next_deadline),
            self.udp.as_ref().and_then(UdpEcho::next_log_deadline),
            self.drain.as_ref().map(Drain::next_deadline),
        ];
        let earliest = deadlines.into_iter().flatten().min()?;
        Some(earliest.saturating_duration_since(Instant::now()))
    }

    fn drive(&mut self, key: usize) {
        let mut moved = Transferred::default();
        let progress = self.service.drive(key, &mut self.connections, &mut moved);
        let summary = &mut self.figures.summary;
        summary.read_pauses += u64::from(moved.paused);
        summary.bytes_read += moved.read;
        summary.bytes_written += moved.written;
        let heard = moved.read > 0 || moved.received;
        if heard || moved.written > 0 {
            log::trace!("connection {key}: read {}, wrote {}", moved.read, moved.written);
            self.timers.touched(key, self.now);
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
                self.figures.summary.dead_peers += 1;
                info!(
                    "{}connection {key}: the peer stopped answering ({}), closed",
                    self.tag,
                    describe(&err)
                );
                self.close(key, Closed::DeadPeer, "peer unreachable");
            }
            Progress::Failed(err) => self.close(key, Closed::Reset, &describe(&err)),
            Progress::Refused(refusal) => {
                if let Some(ip) = refusal.client
                    && said::due(&self.refusals_said, ip, self.now)
                {
                    info!(
                        "{}TLS clients from {ip} are refused: {} (said once per 10 s per source; all are counted)",
                        self.tag, refusal.why
                    );
                }
                self.close(key, Closed::ClientCertificate, &refusal.why);
            }
        }
        self.service.take_casualties(&mut self.casualties);
        while let Some((victim, why)) = self.casualties.pop() {
            self.close(victim, Closed::SlowConsumer, &why);
        }
    }

    fn close(&mut self, key: usize, reason: Closed, why: &str) {
        let Some(mut conn) = self.connections.try_remove(key) else {
            return;
        };
        self.figures.summary.count_close(reason);
        if matches!(reason, Closed::Shutdown | Closed::IdleTimeout) {
            S::farewell(&mut conn);
        }
        if self.sample_tcp_info {
            // A Unix stream has no TCP_INFO: nothing to add.
            if let Ok(info) = crate::sys::tcp_info(S::stream(&mut conn)) {
                self.figures.summary.tcp_retransmits += u64::from(info.total_retrans);
            }
        }
        // Dropping the socket closes it; with its receive queue empty (we read
        // to EOF) the kernel sends an orderly FIN, i.e. shutdown(Write) + close.
        if let Err(err) = self.poll.registry().deregister(S::stream(&mut conn)) {
            debug!("connection {key}: deregister failed: {}", describe(&err));
        }
        self.timers.closed(key);
        self.doors.left(key);
        // Closed before it is said to be (tests count descriptors on the word).
        drop(conn);
        debug!("{}connection {key} closed: {why}", self.tag);
    }
}
