//! What the server did: the [`Summary`] each reactor keeps, and the periodic
//! `--stats-interval` line, one line for all reactors together.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use log::info;

/// Why a connection was closed, for the summary and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The client finished and got all of its echo.
    Finished,
    /// A reset, broken pipe or other socket error.
    Reset,
    IdleTimeout,
    /// The peer stopped answering (keepalive, `--user-timeout`).
    DeadPeer,
    /// Closed by a graceful stop (quiet, or cut off at the timeout).
    Shutdown,
    /// A broadcast client too slow to take what it was sent.
    SlowConsumer,
    /// A TLS client without a certificate that verifies (`--tls-client-ca`).
    ClientCertificate,
}

impl Closed {
    pub const ALL: [Closed; 7] = [
        Closed::Finished,
        Closed::Reset,
        Closed::IdleTimeout,
        Closed::DeadPeer,
        Closed::Shutdown,
        Closed::SlowConsumer,
        Closed::ClientCertificate,
    ];

    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            Closed::Finished => "finished",
            Closed::Reset => "reset",
            Closed::IdleTimeout => "idle_timeout",
            Closed::DeadPeer => "keepalive",
            Closed::Shutdown => "shutdown",
            Closed::SlowConsumer => "slow_consumer",
            Closed::ClientCertificate => "tls_client_cert",
        }
    }
}

/// What a reactor (or the whole server) did: counts only ever grow.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub connections: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// `--proxy-protocol`: connections whose header was read.
    pub proxy_accepted: u64,
    /// `--proxy-protocol`: connections closed for an invalid, late or
    /// untrusted header.
    pub proxy_rejected: u64,
    /// Connections closed because the peer stopped answering (keepalive
    /// probes or `--user-timeout`).
    pub dead_peers: u64,
    /// Connections refused over `--max-connections-per-ip`.
    pub per_ip_rejected: u64,
    /// Closed connections by [`Closed`] reason, in [`Closed::ALL`]'s order.
    pub closed: [u64; 7],
    /// Failed accepts, and the times accepting paused for lack of descriptors.
    pub accept_errors: u64,
    pub accept_backoffs: u64,
    /// Times a connection stopped reading because its unsent echo reached
    /// `--max-pending` (backpressure).
    pub read_pauses: u64,
    /// `--udp`: datagrams and what became of them.
    pub udp: crate::udp::UdpCounts,
    /// Segments the kernel retransmitted on TCP connections, read from
    /// `TCP_INFO` as each closes (with `--metrics-addr` only: a system call
    /// per connection, none per message).
    pub tcp_retransmits: u64,
}

/// How many counts a [`Summary`] holds.
const COUNTERS: usize = 27;

impl Summary {
    pub fn add(&mut self, other: &Summary) {
        for (sum, part) in self.counters_mut().into_iter().zip(other.counters()) {
            *sum += part;
        }
    }

    pub fn count_close(&mut self, reason: Closed) {
        self.closed[reason as usize] += 1;
    }

    /// Every count, in a fixed order (for the board and for adding up).
    pub fn counters(&self) -> [u64; COUNTERS] {
        let c = &self.closed;
        let u = &self.udp;
        [
            self.connections,
            self.bytes_read,
            self.bytes_written,
            self.proxy_accepted,
            self.proxy_rejected,
            self.dead_peers,
            self.per_ip_rejected,
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[6],
            self.accept_errors,
            self.accept_backoffs,
            self.read_pauses,
            u.received,
            u.echoed,
            u.bytes,
            u.dropped,
            u.errors,
            u.low_port,
            u.broadcast,
            u.rate_limited,
            u.evicted,
            self.tcp_retransmits,
        ]
    }

    fn counters_mut(&mut self) -> [&mut u64; COUNTERS] {
        let [c0, c1, c2, c3, c4, c5, c6] = &mut self.closed;
        let u = &mut self.udp;
        [
            &mut self.connections,
            &mut self.bytes_read,
            &mut self.bytes_written,
            &mut self.proxy_accepted,
            &mut self.proxy_rejected,
            &mut self.dead_peers,
            &mut self.per_ip_rejected,
            c0,
            c1,
            c2,
            c3,
            c4,
            c5,
            c6,
            &mut self.accept_errors,
            &mut self.accept_backoffs,
            &mut self.read_pauses,
            &mut u.received,
            &mut u.echoed,
            &mut u.bytes,
            &mut u.dropped,
            &mut u.errors,
            &mut u.low_port,
            &mut u.broadcast,
            &mut u.rate_limited,
            &mut u.evicted,
            &mut self.tcp_retransmits,
        ]
    }

    /// The reactor's last line (and, with `--udp`, what its datagrams did).
    pub fn log_stopped(&self, tag: &str, udp_on: bool) {
        info!(
            "{tag}stopped: served {}, echoed {}",
            plural(self.connections, "connection"),
            plural(self.bytes_written, "byte")
        );
        if udp_on {
            let udp = &self.udp;
            info!(
                "{tag}UDP: {} received, {} echoed ({}); refused {} (source port below 1024 {}, broadcast source {}, \
                 over --udp-rate {}); {} dropped (socket full), {} socket errors, {} sources evicted{}",
                udp.received,
                udp.echoed,
                plural(udp.bytes, "byte"),
                udp.refused(),
                udp.low_port,
                udp.broadcast,
                udp.rate_limited,
                udp.dropped,
                udp.errors,
                udp.evicted,
                if udp.trains > 0 {
                    format!("; {} received whole (UDP_GRO)", plural(udp.trains, "train"))
                } else {
                    String::new()
                }
            );
        }
    }

    fn from_counters(values: [u64; COUNTERS]) -> Summary {
        let mut summary = Summary::default();
        for (field, value) in summary.counters_mut().into_iter().zip(values) {
            *field = value;
        }
        summary
    }
}

/// What is true of a reactor now (not counts): for the gauges.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    /// Connections being served.
    pub active: u64,
    /// Unsent echo bytes held for slow clients.
    pub pending_bytes: u64,
    /// Connections waiting for their PROXY header.
    pub proxy_waiting: u64,
}

/// `n` and the noun, singular for one: "1 connection", "2 connections".
pub fn plural(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// One reactor's latest figures, published once per turn of its loop.
/// Aligned to a cache line so reactors never write to the same one.
#[derive(Default)]
#[repr(align(64))]
struct Slot {
    counters: [AtomicU64; COUNTERS],
    levels: [AtomicU64; 3],
}

/// Where the reactors publish their figures for the stats line and the
/// metrics. Relaxed stores once per poll turn: no cost per byte or per
/// connection, and a reactor asleep in its poll has nothing newer to say.
#[derive(Clone)]
pub struct StatsBoard {
    slots: Arc<[Slot]>,
}

impl StatsBoard {
    pub fn new(reactors: usize) -> StatsBoard {
        StatsBoard {
            slots: (0..reactors.max(1)).map(|_| Slot::default()).collect(),
        }
    }

    pub fn publish(&self, reactor: usize, levels: Levels, summary: Summary) {
        let slot = &self.slots[reactor];
        for (cell, value) in slot.counters.iter().zip(summary.counters()) {
            cell.store(value, Ordering::Relaxed);
        }
        let levels = [levels.active, levels.pending_bytes, levels.proxy_waiting];
        for (cell, value) in slot.levels.iter().zip(levels) {
            cell.store(value, Ordering::Relaxed);
        }
    }

    /// One reactor's figures.
    pub fn reactor(&self, reactor: usize) -> (Levels, Summary) {
        let slot = &self.slots[reactor];
        let counters = slot.counters.each_ref().map(|cell| cell.load(Ordering::Relaxed));
        let [active, pending_bytes, proxy_waiting] =
            slot.levels.each_ref().map(|cell| cell.load(Ordering::Relaxed));
        (
            Levels {
                active,
                pending_bytes,
                proxy_waiting,
            },
            Summary::from_counters(counters),
        )
    }

    /// Levels and totals over all reactors.
    pub fn total(&self) -> (Levels, Summary) {
        let mut levels = Levels::default();
        let mut total = Summary::default();
        for reactor in 0..self.reactors() {
            let (l, summary) = self.reactor(reactor);
            levels.active += l.active;
            levels.pending_bytes += l.pending_bytes;
            levels.proxy_waiting += l.proxy_waiting;
            total.add(&summary);
        }
        (levels, total)
    }

    pub fn reactors(&self) -> usize {
        self.slots.len()
    }
}

/// Logs the stats line; owned by one reactor (the first), which reads every
/// reactor's figures from the board.
pub struct StatsReporter {
    board: StatsBoard,
    interval: Duration,
    next: Instant,
    /// The totals at the previous line, for the rates since then.
    last: (Instant, Summary),
}

impl StatsReporter {
    pub fn new(board: StatsBoard, interval: Duration, now: Instant) -> StatsReporter {
        StatsReporter {
            board,
            interval,
            next: now + interval,
            last: (now, Summary::default()),
        }
    }

    pub fn next_deadline(&self) -> Instant {
        self.next
    }

    /// Logs a line if one is due.
    pub fn tick(&mut self, now: Instant) {
        if now < self.next {
            return;
        }
        let (levels, summary) = self.board.total();
        let active = levels.active;
        let (then, before) = self.last;
        let secs = now.duration_since(then).as_secs_f64().max(1e-9);
        let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
        let reactors = match self.board.reactors() {
            1 => String::new(),
            n => format!(" (all {n} reactors)"),
        };
        let udp = &summary.udp;
        let datagrams = if udp.received > 0 {
            format!(
                "; UDP {} echoed ({:.1}/s), {} refused, {} dropped",
                udp.echoed,
                rate(udp.echoed, before.udp.echoed),
                udp.refused(),
                udp.dropped
            )
        } else {
            String::new()
        };
        info!(
            "stats{reactors}: {active} active, {} accepted ({:.1}/s), {} bytes in ({:.2} MB/s), {} bytes out ({:.2} MB/s){datagrams}",
            summary.connections,
            rate(summary.connections, before.connections),
            summary.bytes_read,
            rate(summary.bytes_read, before.bytes_read) / 1e6,
            summary.bytes_written,
            rate(summary.bytes_written, before.bytes_written) / 1e6,
        );
        self.last = (now, summary);
        while self.next <= now {
            self.next += self.interval;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_read_right() {
        assert_eq!(plural(1u64, "connection"), "1 connection");
        assert_eq!(plural(0u64, "connection"), "0 connections");
        assert_eq!(plural(2u64, "byte"), "2 bytes");
    }

    #[test]
    fn the_board_sums_every_reactor() {
        let board = StatsBoard::new(3);
        let figures = |n| {
            let mut summary = Summary {
                connections: n,
                bytes_read: 10 * n,
                bytes_written: 100 * n,
                read_pauses: 2 * n,
                ..Summary::default()
            };
            summary.closed[Closed::IdleTimeout as usize] = 3 * n;
            summary
        };
        let active = |n| Levels {
            active: n,
            pending_bytes: 7 * n,
            proxy_waiting: 0,
        };
        board.publish(0, active(1), figures(1));
        board.publish(2, active(4), figures(5));
        let (levels, total) = board.total();
        assert_eq!(levels, active(5));
        assert_eq!(total, figures(6));
        assert_eq!(board.reactor(2), (active(4), figures(5)));
    }
}
