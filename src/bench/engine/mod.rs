//! One load-generator thread: its own `mio::Poll` over its share of the
//! connections, so one thread drives thousands of them.
//!
//! A run has three phases. *Connecting*: open this thread's connections
//! (paced, at most [`MAX_CONNECTING`] in flight so the server's backlog does
//! not overflow into SYN retries), then meet the other threads at a barrier.
//! *Running*: traffic by mode, counted only inside the measured window
//! (pingpong gathers each turn's next messages and sends them together at
//! the turn's end, see [`Worker::to_send`]).
//! *Draining*: every connection half-closes and must get back all it sent,
//! then EOF: a server that drops the last byte or closes early is caught here.
//!
//! The window ends early when nothing is left to measure (every connection
//! gone and none can be made) or on Ctrl-C; rates are then taken over the
//! time it really lasted. A second Ctrl-C cuts the drain short.
//!
//! [`connect`] opens connections; [`batch`] writes pingpong's batched sends.

mod batch;
mod connect;
mod link;
mod open_loop;
mod open_state;
pub mod pattern;
pub mod sources;
mod tally;
mod traffic;
mod window;

pub use tally::Tally;

pub use open_state::LATE;

use std::io;
use std::net::IpAddr;
use std::sync::Barrier;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::transport::Stream;
use crate::transport::readiness::{Hints, Readiness};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use crate::bench::config::Config;
use crate::bench::config::Mode;
use crate::bench::engine::pattern::Pattern;
use crate::bench::probe::LiveCounters;
use crate::bench::probe::Probe;
use crate::bench::report::histograms;
use crate::bench::report::intervals::Board;
use crate::bench::report::intervals::{Counts, Recorder};
use crate::bench::report::warnings::Warnings;
use crate::sys::uring::SendBatch;

/// Connects in flight per thread: below the server's default backlog.
pub(in crate::bench) const MAX_CONNECTING: usize = 256;
/// A connect not done by then counts as failed.
pub(in crate::bench) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Ctrl-C's token, above every slab key.
const SIGNALS: Token = Token(usize::MAX);

/// Everything a worker shares with the others.
pub struct Plan<'a> {
    pub config: &'a Config,
    pub pattern: &'a Pattern,
    /// Global ids of this worker's connections (slots, in churn mode).
    pub ids: Vec<u64>,
    pub source_ips: &'a [IpAddr],
    pub live: &'a LiveCounters,
    /// All workers and the coordinating thread meet here once connected.
    pub connected: &'a Barrier,
    pub warnings: &'a Warnings,
    /// `--interval`: the time series all workers add to.
    pub intervals: Option<&'a Board>,
    /// `--rate-steps`: one stretch per step.
    pub steps: Option<&'a Board>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    /// `--tls`: connected, the handshake under way (counted as connecting).
    Handshaking,
    Open,
    /// Wrote FIN; reading the rest of the echo until the server's EOF.
    HalfClosed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Running,
    Draining,
}

struct Conn {
    stream: Stream,
    /// Seeds the byte pattern; in churn mode, also the slot it refills.
    id: u64,
    state: State,
    /// Stream offset of the next byte to send.
    sent: u64,
    /// Bytes echoed back and checked so far.
    verified: u64,
    /// End offset of the current message: writes stop there.
    target: u64,
    /// A message is in flight and its completion not yet counted.
    awaiting: bool,
    /// A round trip of it completed in the measured window.
    answered_in_window: bool,
    /// When the current message (churn: the connect) started.
    started: Instant,
    /// What the events said of its socket (see `transport::readiness`).
    hints: Hints,
    /// Its next message waits in [`Worker::to_send`] for the end of the turn.
    send_queued: bool,
    /// Open loop (`--rate`): its schedule and messages in flight.
    open: Option<Box<open_state::OpenConn>>,
    /// `--proxy-header`: header bytes still to write before the pattern
    /// (they are not part of the echoed stream: the server drops them).
    preamble: Vec<u8>,
    /// `--tls`: the session the bytes pass through.
    tls: Option<Box<crate::tls::session::ClientSession>>,
}

struct Worker<'a> {
    plan: Plan<'a>,
    /// The first worker's extra duties: CPU sampling and the progress line.
    probe: Option<Probe<'a>>,
    poll: Poll,
    conns: Slab<Conn>,
    scratch: Box<[u8]>,
    /// Ids waiting to connect.
    queue: Vec<u64>,
    connecting: usize,
    next_connect: Instant,
    connect_interval: Option<Duration>,
    phase: Phase,
    measure_from: Instant,
    measure_until: Instant,
    /// The time after the last poll, or at the last completed message: one
    /// clock read per message is enough for window checks and the next start.
    now: Instant,
    tally: Tally,
    /// Counts since the last publication to the live counters.
    unpublished: (u64, u64, u64),
    /// Pingpong connections whose next message is written at the end of the
    /// turn, all together. A server that has caught up sleeps in its poll,
    /// and the write that wakes it pays for the wake-up (on a VM, an
    /// inter-processor interrupt and an exit to the hypervisor): one write
    /// per message would wake it again and again within one turn, a burst
    /// wakes it once. It is also what real clients behind a proxy look like.
    to_send: Vec<usize>,
    /// True while a turn handles its events: completed messages queue
    /// their successors in `to_send` instead of writing them.
    gathering: bool,
    /// Writes `to_send` in one system call; `None`: one `send(2)` each
    /// (not pingpong, `--no-io-uring`, or io_uring refused here).
    batch: Option<SendBatch>,
    /// Open loop: the timer and every connection's next due time.
    pacing: Option<open_state::Pacing>,
    /// Ctrl-C, SIGTERM and SIGHUP, as events of this worker's poll (every
    /// worker has its own).
    signals: Option<Signals>,
    /// Set once the window ended before `measure_until`: when, and why.
    stopped: Option<(Instant, &'static str)>,
    /// A second Ctrl-C during the drain: stop waiting for echoes.
    abandon_drain: bool,
    /// Connects failed since the last one that succeeded (churn gives up
    /// when every slot has failed in a row).
    failed_in_a_row: usize,
    /// Errors already added to the live counters.
    published_errors: u64,
    /// This worker's current `--interval` and `--rate-steps` stretches.
    recorders: Vec<Recorder<'a>>,
    /// Open loop: the timings of a read's completed messages, kept to
    /// reuse its allocation.
    completed_scratch: Vec<(Duration, Option<Duration>)>,
}

/// Runs one worker to the end of the drain.
pub fn run<'a>(plan: Plan<'a>, probe: Option<Probe<'a>>) -> Result<Tally, String> {
    let poll = match Poll::new() {
        Ok(poll) => poll,
        Err(err) => {
            // The others wait at the barrier for this thread: meet them first.
            plan.connected.wait();
            return Err(format!("cannot create a poll instance: {err}"));
        }
    };
    let config = plan.config;
    let per_thread_rate = config.connect_rate.map(|rate| rate / config.threads as f64);
    let now = Instant::now();
    let mut worker = Worker {
        queue: plan.ids.iter().rev().copied().collect(),
        plan,
        probe,
        poll,
        conns: Slab::new(),
        scratch: vec![0; 64 * 1024].into_boxed_slice(),
        connecting: 0,
        next_connect: now,
        connect_interval: per_thread_rate.map(|rate| Duration::from_secs_f64(1.0 / rate)),
        phase: Phase::Connecting,
        measure_from: now,
        measure_until: now,
        now,
        tally: Tally::new(),
        unpublished: (0, 0, 0),
        to_send: Vec::new(),
        gathering: false,
        batch: None,
        pacing: None,
        signals: None,
        stopped: None,
        abandon_drain: false,
        failed_in_a_row: 0,
        published_errors: 0,
        recorders: Vec::new(),
        completed_scratch: Vec::new(),
    };
    match Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(mut signals) => match worker
            .poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
        {
            Ok(()) => worker.signals = Some(signals),
            Err(err) => log::debug!("signals not caught: {err}"),
        },
        Err(err) => log::debug!("signals not caught: {err}"),
    }
    // One that came before this worker listened (between two probes).
    if let Some(signal) = crate::bench::signals::caught_signal() {
        worker.interrupted(signal);
    }
    // io_uring sends raw bytes: TLS records must come from the session.
    if config.mode == Mode::Pingpong && config.io_uring && config.tls.is_none() {
        match SendBatch::new() {
            Ok(batch) => worker.batch = Some(batch),
            Err(err) => log::debug!("io_uring refused ({err}): one send per message"),
        }
    }
    worker.tally.batched_sends = worker.batch.is_some();
    worker
        .run()
        .map_err(|err| format!("load generator failed: {err}"))?;
    Ok(worker.tally)
}

impl Worker<'_> {
    fn config(&self) -> &Config {
        self.plan.config
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let started = Instant::now();
        if self.config().mode != Mode::Churn {
            while (!self.queue.is_empty() || self.connecting > 0) && self.stopped.is_none() {
                self.start_connects();
                let timeout = self.connect_wait();
                self.turn(&mut events, Some(timeout))?;
                self.expire_connects();
            }
        }
        self.tally.connect_time = started.elapsed();
        self.plan.connected.wait();
        if let Some(start) = self.config().start_at {
            self.wait_until(start, &mut events)?;
        }

        let now = Instant::now();
        self.now = now;
        self.phase = Phase::Running;
        self.measure_from = now + self.config().warmup;
        self.measure_until = self.measure_from + self.config().duration;
        self.tally.window_from = Some(self.measure_from);
        let open_loop = self.config().open_loop.is_some();
        let (from, length) = (self.measure_from, self.config().duration);
        self.recorders = [self.plan.intervals, self.plan.steps]
            .into_iter()
            .flatten()
            .map(|board| Recorder::new(board, from, length, open_loop))
            .collect();
        if self.config().mode == Mode::Churn {
            self.queue = self.plan.ids.iter().rev().copied().collect();
            // The connect schedule starts with the traffic.
            self.next_connect = now;
        } else if self.conns.is_empty() && self.stopped.is_none() {
            self.stop(if self.tally.connected == 0 {
                "no connection could be made"
            } else {
                "every connection was lost"
            });
        }
        let open: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        if self.config().open_loop.is_some() {
            self.start_open_loop(now)?;
            self.release_due()?;
        } else {
            for key in open {
                self.begin_message(key);
                self.pump(key);
            }
        }
        while Instant::now() < self.measure_until {
            self.start_connects();
            self.stop_if_nothing_left();
            if self.stopped.is_some() {
                break;
            }
            let timeout = self.running_wait();
            self.turn(&mut events, Some(timeout))?;
            if let Some(probe) = self.probe.as_mut().filter(|_| self.now >= self.measure_from) {
                probe.window_started();
            }
        }
        if let Some(probe) = &mut self.probe {
            self.tally.cpu_window = Some(probe.window_ended());
        }
        let window_end = self
            .stopped
            .map_or(self.measure_until, |(at, _)| at.min(self.measure_until));
        self.tally.warmup_ran = window_end.min(self.measure_from).saturating_duration_since(now);
        self.tally.measured = window_end.saturating_duration_since(self.measure_from);
        self.tally.stopped_early = self.stopped.map(|(_, why)| why);
        // The last stretch closes after the drain; it reports the
        // connections open as the window ended, not after the drain.
        let open_at_window_end = self.conns.len() as u64;
        self.tally.tcp = self.tcp_sample();
        // A window cut short ends here: the open loop schedules nothing
        // past it, and nothing after it is counted in it.
        self.measure_until = window_end.max(self.measure_from);

        if self.config().mode == Mode::Pingpong && self.config().open_loop.is_none() && self.stopped.is_none()
        {
            self.give_up_on_stalled();
        }
        self.phase = Phase::Draining;
        self.queue.clear();
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.stop_sending(key);
        }
        let deadline = Instant::now() + self.config().drain_timeout;
        while !self.conns.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.abandon_drain {
                // Given up on (the drain timed out, or a signal cut it
                // short): what is still in flight never came back.
                if self.pacing.is_some() {
                    // Open loop: every message of the window is accounted for.
                    self.time_out_open_loop(Instant::now());
                } else {
                    self.tally.errors.timeouts += self.conns.len() as u64;
                }
                break;
            }
            self.turn(&mut events, Some(left))?;
        }
        self.publish();
        let counts = Counts {
            connections: open_at_window_end,
            tcp: self.tally.tcp,
            ..self.stretch_counts()
        };
        for recorder in std::mem::take(&mut self.recorders) {
            recorder.finish(counts);
        }
        Ok(())
    }

    /// One poll and the handling of its events.
    fn turn(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        match self.poll.poll(events, timeout) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(err) => return Err(err),
        }
        self.now = Instant::now();
        if !self.recorders.is_empty() {
            let mut counts = self.stretch_counts();
            if self.recorders.iter().any(|r| self.now >= r.next_boundary()) {
                counts.tcp = self.tcp_sample();
            }
            for recorder in &mut self.recorders {
                recorder.roll(self.now, counts);
            }
        }
        if let Some(probe) = &mut self.probe {
            probe.tick(self.now);
        }
        self.gathering = self.phase == Phase::Running && self.batch.is_some() && self.pacing.is_none();
        for event in events.iter() {
            if event.token() == open_state::PACING {
                self.on_pacing_timer();
                continue;
            }
            if event.token() == SIGNALS {
                let caught: Vec<i32> = self
                    .signals
                    .as_mut()
                    .map(|s| s.pending().collect())
                    .unwrap_or_default();
                for signal in caught {
                    self.interrupted(signal);
                }
                continue;
            }
            let key = event.token().0;
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            conn.hints.on(Readiness::of(event));
            if conn.state == State::Connecting && !self.finish_connect(key) {
                continue;
            }
            if self.conns[key].state == State::Handshaking && !self.advance_handshake(key) {
                continue;
            }
            self.pump(key);
        }
        self.gathering = false;
        self.send_queued();
        self.release_due()?;
        self.publish();
        Ok(())
    }

    /// Poll timeout while running: the end of the window, the start of the
    /// window (the probe samples CPU there), the next paced connect, the
    /// next redraw of the progress line, whichever comes first.
    fn running_wait(&self) -> Duration {
        let now = Instant::now();
        let mut until = self.measure_until;
        if let Some(probe) = &self.probe {
            if now < self.measure_from {
                until = until.min(self.measure_from);
            }
            if let Some(redraw) = probe.next_redraw() {
                until = until.min(redraw);
            }
        }
        for recorder in &self.recorders {
            until = until.min(recorder.next_boundary());
        }
        let wait = until.saturating_duration_since(now);
        if self.queue.is_empty() {
            wait
        } else {
            wait.min(self.connect_wait())
        }
    }

    fn publish(&mut self) {
        let (messages, bytes, cycles) = std::mem::take(&mut self.unpublished);
        let live = self.plan.live;
        let errors = self.tally.errors.total();
        if errors > self.published_errors {
            live.errors
                .fetch_add(errors - self.published_errors, Ordering::Relaxed);
            self.published_errors = errors;
        }
        if messages > 0 {
            live.messages.fetch_add(messages, Ordering::Relaxed);
        }
        if bytes > 0 {
            live.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        if cycles > 0 {
            live.cycles.fetch_add(cycles, Ordering::Relaxed);
        }
    }
}

fn in_window(from: Instant, until: Instant, now: Instant) -> bool {
    now >= from && now < until
}
