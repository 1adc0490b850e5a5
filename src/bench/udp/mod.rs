//! `bench --mode udp`: `--connections` sources (one UDP socket each)
//! sending datagrams of `--size` to a UDP echo server, every reply checked
//! by its content ([`payload`]).
//!
//! With `--rate` it is an open loop: datagrams go out on schedule over all
//! sources whatever comes back, and latency counts from when each was due.
//! Without it, each source keeps one datagram in flight and sends the next
//! when the reply comes, or when [`RETRY_AFTER`] passes without one (that
//! datagram then counts as lost unless it turns up later).
//!
//! Loss is a figure, not an error: UDP may drop, and what matters is how
//! much. `--max-loss` turns it into a gate (exit status 3 above it).
//! Datagrams due in the measured window are followed to the end: received,
//! lost (no reply by the end of the drain), out of order (a later one of
//! the same source came first), duplicated, corrupted.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use super::report::Report;
use super::timer::PacingTimer;
use super::{Config, Warnings, histograms};

pub mod payload;
mod report;

use payload::Stamp;

/// The pacing timer's token (sources are 0 to N-1).
const TIMER: Token = Token(usize::MAX);

/// Closed loop: a source whose datagram got no reply sends the next after this.
pub const RETRY_AFTER: Duration = Duration::from_millis(200);

/// One source: its socket and what it is waiting for.
struct Source {
    socket: UdpSocket,
    next_sequence: u64,
    /// Sent, due in the window, not yet answered.
    outstanding: HashSet<u64>,
    /// Sequence numbers answered (to tell duplicates), in the window.
    answered: HashSet<u64>,
    highest_answered: Option<u64>,
    /// Closed loop: when its datagram in flight went out.
    in_flight_since: Option<Instant>,
}

/// What became of the window's datagrams.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UdpFigures {
    /// Datagrams due in the window (and sent).
    pub sent: u64,
    pub received: u64,
    /// No reply by the end of the drain.
    pub lost: u64,
    /// A later datagram of the same source was answered first.
    pub out_of_order: u64,
    /// Replies to a datagram already answered.
    pub duplicated: u64,
    /// Replies that are not exactly what was sent.
    pub corrupted: u64,
    /// Sends the socket refused (its buffer full, or an ICMP error).
    pub send_errors: u64,
    /// `lost / sent`.
    pub loss: f64,
}

pub fn run(config: &Config) -> Result<Report, String> {
    let warnings = Warnings::default();
    if config.size < payload::HEADER {
        return Err(format!(
            "--mode udp needs --size of at least {} bytes (its header)",
            payload::HEADER
        ));
    }
    if config.size > crate::client::datagram::MAX_DATAGRAM {
        return Err(format!(
            "--size {} does not fit a UDP datagram (at most {})",
            config.size,
            crate::client::datagram::MAX_DATAGRAM
        ));
    }
    let mut poll = Poll::new().map_err(|err| format!("cannot create a poll instance: {err}"))?;
    let mut sources = open_sources(config, &poll)?;
    let mut events = Events::with_capacity(1024);
    // Sub-millisecond pacing: the poll's own timeout counts in whole ms.
    let mut timer =
        PacingTimer::new(poll.registry(), TIMER).map_err(|err| format!("cannot create a timer: {err}"))?;
    let mut run = Run::new(config);
    let server_cpu = |pid: Option<u32>| pid.and_then(|pid| super::process_cpu_seconds(&pid.to_string()));
    let client_before = super::process_cpu_seconds("self");
    let mut server_before = None;
    let mut window_started = false;
    let mut datagram = vec![0; config.size];
    let mut buf = vec![0; crate::client::datagram::MAX_DATAGRAM + 1];
    loop {
        let now = Instant::now();
        if !window_started && now >= run.window_from {
            window_started = true;
            server_before = server_cpu(config.server_pid);
        }
        if now >= run.window_until {
            break;
        }
        run.send_due(&mut sources, &mut datagram, now);
        let wait = run.next_wakeup(&sources, now);
        timer
            .arm(wait)
            .map_err(|err| format!("cannot arm the timer: {err}"))?;
        run.receive_ready(&mut poll, &mut events, &mut sources, &mut buf, None)?;
        timer.fired();
    }
    let server_after = server_cpu(config.server_pid);
    let client_after = super::process_cpu_seconds("self");
    run.drain(
        &mut poll,
        &mut events,
        &mut sources,
        &mut buf,
        config.drain_timeout,
    )?;
    let cpu = (
        client_before.zip(client_after).map(|(a, b)| b - a).unwrap_or(0.0),
        server_before.zip(server_after).map(|(a, b)| b - a),
    );
    Ok(report::build(config, &run, cpu, warnings))
}

fn open_sources(config: &Config, poll: &Poll) -> Result<Vec<Source>, String> {
    let local: SocketAddr = if config.addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    (0..config.connections)
        .map(|index| {
            let fail = |err: io::Error| {
                format!(
                    "cannot open a UDP socket to {}: {}",
                    config.addr,
                    crate::error::describe(&err)
                )
            };
            let mut socket = UdpSocket::bind(local).map_err(fail)?;
            // Connected: only the server's replies arrive, and an ICMP
            // unreachable shows as an error.
            socket.connect(config.addr).map_err(fail)?;
            poll.registry()
                .register(&mut socket, Token(index), Interest::READABLE)
                .map_err(fail)?;
            Ok(Source {
                socket,
                next_sequence: 0,
                outstanding: HashSet::new(),
                answered: HashSet::new(),
                highest_answered: None,
                in_flight_since: None,
            })
        })
        .collect()
}

/// The run's clock, schedule and figures.
struct Run<'a> {
    config: &'a Config,
    started: Instant,
    window_from: Instant,
    window_until: Instant,
    /// Open loop: datagrams sent so far over all sources.
    sent_total: u64,
    figures: UdpFigures,
    latency: Histogram<u64>,
}

impl<'a> Run<'a> {
    fn new(config: &'a Config) -> Run<'a> {
        let started = Instant::now();
        let window_from = started + config.warmup;
        Run {
            config,
            started,
            window_from,
            window_until: window_from + config.duration,
            sent_total: 0,
            figures: UdpFigures::default(),
            latency: histograms::new_histogram(),
        }
    }

    fn in_window(&self, due: Instant) -> bool {
        due >= self.window_from && due < self.window_until
    }

    /// How long the poll may wait: until the next datagram is due (open
    /// loop) or a source's wait for its reply runs out (closed loop), and
    /// never past the window.
    fn next_wakeup(&self, sources: &[Source], now: Instant) -> Duration {
        let next = match &self.config.open_loop {
            Some(open) => {
                self.started + Duration::from_secs_f64(open.profile.time_of(self.sent_total as f64 + 1.0))
            }
            None => sources
                .iter()
                .filter_map(|s| s.in_flight_since)
                .min()
                .map_or(now, |since| since + RETRY_AFTER),
        };
        next.min(self.window_until).saturating_duration_since(now)
    }

    /// Waits up to `wait` for replies and reads every source that has some.
    fn receive_ready(
        &mut self,
        poll: &mut Poll,
        events: &mut Events,
        sources: &mut [Source],
        buf: &mut [u8],
        wait: Option<Duration>,
    ) -> Result<(), String> {
        match poll.poll(events, wait) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(err) => return Err(format!("poll failed: {err}")),
        }
        for event in events.iter() {
            if let Some(source) = sources.get_mut(event.token().0) {
                self.receive(source, buf)?;
            }
        }
        Ok(())
    }

    fn send_due(&mut self, sources: &mut [Source], datagram: &mut [u8], now: Instant) {
        match &self.config.open_loop {
            Some(open) => {
                let elapsed = now.duration_since(self.started).as_secs_f64();
                let due = open.profile.due_by(elapsed).floor() as u64;
                while self.sent_total < due {
                    // Each datagram keeps the time it was due, not when it went.
                    let due_at = self.started
                        + Duration::from_secs_f64(open.profile.time_of(self.sent_total as f64 + 1.0));
                    let index = (self.sent_total % sources.len() as u64) as usize;
                    self.send(&mut sources[index], index, datagram, due_at.min(now));
                    self.sent_total += 1;
                }
            }
            None => {
                for (index, source) in sources.iter_mut().enumerate() {
                    let waiting = source
                        .in_flight_since
                        .is_some_and(|since| now.duration_since(since) < RETRY_AFTER);
                    if !waiting {
                        self.send(source, index, datagram, now);
                        source.in_flight_since = Some(now);
                    }
                }
            }
        }
    }

    fn send(&mut self, source: &mut Source, index: usize, datagram: &mut [u8], due: Instant) {
        let sequence = source.next_sequence;
        source.next_sequence += 1;
        let stamp = Stamp {
            source: index as u32,
            sequence,
            due_ns: due.duration_since(self.started).as_nanos() as u64,
        };
        payload::write(datagram, stamp);
        let refused = source.socket.send(datagram).is_err();
        if self.in_window(due) {
            // A refused send is still due: it counts as sent, and lost.
            self.figures.sent += 1;
            self.figures.send_errors += u64::from(refused);
            source.outstanding.insert(sequence);
        }
    }

    /// Reads everything one source has (edge-triggered: to WouldBlock).
    fn receive(&mut self, source: &mut Source, buf: &mut [u8]) -> Result<(), String> {
        loop {
            let n = match source.socket.recv(buf) {
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // An ICMP error for an earlier datagram: nothing to read.
                Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
                    self.figures.send_errors += 1;
                    continue;
                }
                Err(err) => return Err(format!("receiving UDP failed: {}", crate::error::describe(&err))),
            };
            let now = Instant::now();
            let Some(stamp) = payload::read(&buf[..n], self.config.size) else {
                self.figures.corrupted += 1;
                continue;
            };
            source.in_flight_since = None;
            let due = self.started + Duration::from_nanos(stamp.due_ns);
            if !self.in_window(due) {
                continue;
            }
            if !source.outstanding.remove(&stamp.sequence) {
                if source.answered.contains(&stamp.sequence) {
                    self.figures.duplicated += 1;
                }
                continue;
            }
            source.answered.insert(stamp.sequence);
            if source
                .highest_answered
                .is_some_and(|highest| stamp.sequence < highest)
            {
                self.figures.out_of_order += 1;
            }
            source.highest_answered = source.highest_answered.max(Some(stamp.sequence));
            self.figures.received += 1;
            let micros = now.saturating_duration_since(due).as_micros().max(1) as u64;
            self.latency.saturating_record(micros);
        }
    }

    /// After the window: replies still on their way are waited for, up to
    /// `limit`; what has not come by then is lost.
    fn drain(
        &mut self,
        poll: &mut Poll,
        events: &mut Events,
        sources: &mut [Source],
        buf: &mut [u8],
        limit: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        while sources.iter().any(|s| !s.outstanding.is_empty()) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.receive_ready(poll, events, sources, buf, Some(left))?;
        }
        self.figures.lost = sources.iter().map(|s| s.outstanding.len() as u64).sum();
        self.figures.loss = if self.figures.sent > 0 {
            self.figures.lost as f64 / self.figures.sent as f64
        } else {
            0.0
        };
        Ok(())
    }
}
