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
//! With `--train N` (closed loop) a source sends N datagrams in one send
//! (`UDP_SEGMENT`) and takes its replies whole (`UDP_GRO`): a reply of
//! several datagrams is cut at `--size` and each is checked on its own.
//!
//! Loss is a figure, not an error: UDP may drop, and what matters is how
//! much. `--max-loss` turns it into a gate (exit status 3 above it).
//! Datagrams due in the measured window are followed to the end: received,
//! lost (no reply by the end of the drain), out of order (a later one of
//! the same source came first), duplicated, corrupted.

use crate::bench::report::UdpFigures;
use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use crate::bench::config::{Config, OpenLoop};
use crate::bench::pacing::grid::Grid;
use crate::bench::pacing::timer::PacingTimer;
use crate::bench::report::Report;
use crate::bench::report::histograms;
use crate::bench::report::warnings::Warnings;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

pub mod payload;
mod report;

use payload::Stamp;

/// The pacing timer's token (sources are 0 to N-1).
const TIMER: Token = Token(usize::MAX);
/// SIGINT, SIGTERM and SIGHUP.
const SIGNALS: Token = Token(usize::MAX - 1);

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
    /// Datagrams due in the window, and their replies received.
    sent: u64,
    received: u64,
}

/// Why `--size` does not fit `--mode udp`, if it does not (checked with
/// the other flags, so `bench --check` says it).
pub fn size_problem(size: usize) -> Option<String> {
    if size < payload::HEADER {
        return Some(format!(
            "--mode udp needs --size of at least {} bytes (its header)",
            payload::HEADER
        ));
    }
    (size > crate::client::datagram::MAX_DATAGRAM).then(|| {
        format!(
            "--size {size} does not fit a UDP datagram (at most {})",
            crate::client::datagram::MAX_DATAGRAM
        )
    })
}

pub fn run(config: &Config) -> Result<Report, String> {
    let warnings = Warnings::default();
    if let Some(problem) = size_problem(config.size) {
        return Err(problem);
    }
    let mut poll = Poll::new().map_err(|err| format!("cannot create a poll instance: {err}"))?;
    let mut sources = open_sources(config, &poll)?;
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(|err| format!("cannot catch signals: {err}"))?;
    poll.registry()
        .register(&mut signals, SIGNALS, Interest::READABLE)
        .map_err(|err| format!("cannot catch signals: {err}"))?;
    let mut run = Run::new(config);
    run.signal = crate::bench::signals::caught_signal();
    let mut events = Events::with_capacity(1024);
    // Sub-millisecond pacing: the poll's own timeout counts in whole ms.
    let mut timer =
        PacingTimer::new(poll.registry(), TIMER).map_err(|err| format!("cannot create a timer: {err}"))?;
    let server_cpu = |pid: Option<u32>| {
        pid.and_then(|pid| crate::bench::report::process::process_cpu_seconds(&pid.to_string()))
    };
    let client_before = crate::bench::report::process::process_cpu_seconds("self");
    let mut server_before = None;
    let mut window_started = false;
    let mut datagram = vec![0; config.size * config.train.max(1)];
    // Room for the largest datagram, or a train of them taken whole.
    let mut buf = vec![0; 65_536];
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
        run.receive_ready(&mut poll, &mut events, &mut sources, &mut buf, None, &mut signals)?;
        timer.fired();
        if run.signal.is_some() {
            // The window ends here; what was due so far is still followed.
            run.window_until = Instant::now().max(run.window_from);
            break;
        }
    }
    let server_after = server_cpu(config.server_pid);
    let client_after = crate::bench::report::process::process_cpu_seconds("self");
    run.drain(
        &mut poll,
        &mut events,
        &mut sources,
        &mut buf,
        config.drain_timeout,
        &mut signals,
    )?;
    if run.figures.received == 0 && run.refused > 0 && run.signal.is_none() {
        return Err(format!(
            "nothing answers on {} (UDP): the datagrams were refused (ICMP port unreachable)",
            config.addr
        ));
    }
    warn_of_silent_addresses(&sources, &warnings);
    let cpu = (
        client_before.zip(client_after).map(|(a, b)| b - a).unwrap_or(0.0),
        server_before.zip(server_after).map(|(a, b)| b - a),
    );
    Ok(report::build(config, &run, cpu, warnings))
}

/// The address source `index` sends from: `--source-ips` in turn; on
/// IPv4 loopback, one loopback address per source (127.0.0.1, .2, ...), so
/// a server's per-address guard (`serve --udp-rate`) sees each source
/// apart, as it would see distinct clients; elsewhere the system's choice.
fn source_address(config: &Config, index: usize) -> SocketAddr {
    if !config.source_ips.is_empty() {
        return (config.source_ips[index % config.source_ips.len()], 0).into();
    }
    match config.addr {
        SocketAddr::V4(addr) if addr.ip().is_loopback() => {
            // 127.0.0.1 upwards, within 127.0.0.0/8.
            let offset = (index % 0x00FF_FFFE) as u32;
            (std::net::Ipv4Addr::from(0x7F00_0001 + offset), 0).into()
        }
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// Replies that stop for some source addresses only look like a
/// per-source guard refusing them: say so. (Over half lost from an
/// address, while another lost under 5%.)
fn warn_of_silent_addresses(sources: &[Source], warnings: &Warnings) {
    let mut by_address: std::collections::HashMap<std::net::IpAddr, (u64, u64)> =
        std::collections::HashMap::new();
    for source in sources {
        if let Ok(local) = source.socket.local_addr() {
            let entry = by_address.entry(local.ip()).or_default();
            entry.0 += source.sent;
            entry.1 += source.received;
        }
    }
    let loss = |(sent, received): (u64, u64)| 1.0 - received as f64 / sent.max(1) as f64;
    let refused = by_address
        .values()
        .filter(|&&counts| counts.0 > 0 && loss(counts) > 0.5)
        .count();
    let answered = by_address
        .values()
        .any(|&counts| counts.0 > 0 && loss(counts) < 0.05);
    if refused > 0 && answered {
        warnings.once(
            "udp-silent-sources",
            format!(
                "replies stopped for {refused} of {} source addresses while others were answered: a per-source \
                 guard (serve's --udp-rate, a firewall's rate limit) may be refusing them",
                by_address.len()
            ),
        );
    }
}

fn open_sources(config: &Config, poll: &Poll) -> Result<Vec<Source>, String> {
    (0..config.connections)
        .map(|index| {
            let local = source_address(config, index);
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
            if config.train > 1 {
                // Replies in trains too, whole: one read for N datagrams.
                crate::sys::mmsg::enable_gro(&socket).map_err(fail)?;
            }
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
                sent: 0,
                received: 0,
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
    /// Sends and receives refused with ECONNREFUSED (ICMP port unreachable).
    refused: u64,
    /// The signal that cut the run short, if one did.
    signal: Option<i32>,
    /// Signals caught so far (one more during the drain ends it).
    signals_caught: u32,
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
            refused: 0,
            signal: None,
            signals_caught: 0,
        }
    }

    /// When the open loop's `n`-th datagram (from 1) is due: on the
    /// `--pacing-grid`, as the stream modes' messages are.
    fn due_at(&self, open: &OpenLoop, n: u64) -> Instant {
        Grid::new(self.started, open.grid).due(open.profile.time_of(n as f64))
    }

    fn in_window(&self, due: Instant) -> bool {
        due >= self.window_from && due < self.window_until
    }

    /// How long the poll may wait: until the next datagram is due (open
    /// loop) or a source's wait for its reply runs out (closed loop), and
    /// never past the window.
    fn next_wakeup(&self, sources: &[Source], now: Instant) -> Duration {
        let next = match &self.config.open_loop {
            Some(open) => self.due_at(open, self.sent_total + 1),
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
        signals: &mut Signals,
    ) -> Result<(), String> {
        match poll.poll(events, wait) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(err) => return Err(format!("poll failed: {err}")),
        }
        for event in events.iter() {
            if event.token() == SIGNALS {
                for signal in signals.pending() {
                    self.signal.get_or_insert(signal);
                    self.signals_caught += 1;
                }
                continue;
            }
            if let Some(source) = sources.get_mut(event.token().0) {
                self.receive(source, buf)?;
            }
        }
        Ok(())
    }

    fn send_due(&mut self, sources: &mut [Source], datagram: &mut [u8], now: Instant) {
        match &self.config.open_loop {
            Some(open) => loop {
                // Each datagram keeps the time it was due, not when it went.
                let due_at = self.due_at(open, self.sent_total + 1);
                if due_at > now {
                    break;
                }
                let index = (self.sent_total % sources.len() as u64) as usize;
                self.send(&mut sources[index], index, datagram, due_at);
                self.sent_total += 1;
            },
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

    /// Sends the source's next datagram, or its next train of `--train`.
    fn send(&mut self, source: &mut Source, index: usize, datagram: &mut [u8], due: Instant) {
        let size = self.config.size;
        let train = self.config.train.max(1);
        let first = source.next_sequence;
        source.next_sequence += train as u64;
        for (k, part) in datagram.chunks_mut(size).take(train).enumerate() {
            let stamp = Stamp {
                source: index as u32,
                sequence: first + k as u64,
                due_ns: due.duration_since(self.started).as_nanos() as u64,
            };
            payload::write(part, stamp);
        }
        let bytes = &datagram[..size * train];
        let sent = if train > 1 {
            crate::sys::mmsg::send_segmented(&source.socket, bytes, size as u16)
        } else {
            source.socket.send(bytes)
        };
        if sent
            .as_ref()
            .is_err_and(|err| err.kind() == io::ErrorKind::ConnectionRefused)
        {
            self.refused += 1;
        }
        let refused = sent.is_err();
        if self.in_window(due) {
            // A refused send is still due: it counts as sent, and lost.
            self.figures.sent += train as u64;
            source.sent += train as u64;
            self.figures.send_errors += u64::from(refused) * train as u64;
            source.outstanding.extend(first..first + train as u64);
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
                    self.refused += 1;
                    continue;
                }
                Err(err) => return Err(format!("receiving UDP failed: {}", crate::error::describe(&err))),
            };
            let now = Instant::now();
            // One datagram, or (--train) a train of them taken whole: cut
            // at --size, each checked on its own.
            let cut = if self.config.train > 1 {
                self.config.size
            } else {
                n
            };
            if n == 0 {
                self.check_reply(source, &buf[..0], now);
            }
            for part in buf[..n].chunks(cut.max(1)) {
                self.check_reply(source, part, now);
            }
        }
    }

    /// One reply: matched to its datagram by its stamp, every byte checked.
    fn check_reply(&mut self, source: &mut Source, part: &[u8], now: Instant) {
        let Some(stamp) = payload::read(part, self.config.size) else {
            self.figures.corrupted += 1;
            return;
        };
        source.in_flight_since = None;
        let due = self.started + Duration::from_nanos(stamp.due_ns);
        if !self.in_window(due) {
            return;
        }
        if !source.outstanding.remove(&stamp.sequence) {
            if source.answered.contains(&stamp.sequence) {
                self.figures.duplicated += 1;
            }
            return;
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
        source.received += 1;
        let micros = now.saturating_duration_since(due).as_micros().max(1) as u64;
        self.latency.saturating_record(micros);
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
        signals: &mut Signals,
    ) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let caught_before = self.signals_caught;
        while sources.iter().any(|s| !s.outstanding.is_empty()) {
            let left = deadline.saturating_duration_since(Instant::now());
            // A signal during the drain ends it: what has not come is lost.
            if left.is_zero() || self.signals_caught > caught_before {
                break;
            }
            self.receive_ready(poll, events, sources, buf, Some(left), signals)?;
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
