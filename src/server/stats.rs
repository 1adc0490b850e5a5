//! What the server did: the [`Summary`] each reactor keeps, and the periodic
//! `--stats-interval` line, one line for all reactors together.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use log::info;

/// What a reactor (or the whole server) did, logged when it stops.
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
}

impl Summary {
    pub fn add(&mut self, other: &Summary) {
        self.connections += other.connections;
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
        self.proxy_accepted += other.proxy_accepted;
        self.proxy_rejected += other.proxy_rejected;
        self.dead_peers += other.dead_peers;
        self.per_ip_rejected += other.per_ip_rejected;
    }
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
    active: AtomicU64,
    connections: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

/// Where the reactors publish their figures for the stats line. Relaxed
/// stores once per poll turn: no cost per byte or per connection, and a
/// reactor asleep in its poll has nothing newer to say.
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

    pub fn publish(&self, reactor: usize, active: usize, summary: Summary) {
        let slot = &self.slots[reactor];
        slot.active.store(active as u64, Ordering::Relaxed);
        slot.connections.store(summary.connections, Ordering::Relaxed);
        slot.bytes_read.store(summary.bytes_read, Ordering::Relaxed);
        slot.bytes_written.store(summary.bytes_written, Ordering::Relaxed);
    }

    /// Active connections and totals over all reactors.
    fn total(&self) -> (u64, Summary) {
        let mut active = 0;
        let mut total = Summary::default();
        for slot in self.slots.iter() {
            active += slot.active.load(Ordering::Relaxed);
            total.add(&Summary {
                connections: slot.connections.load(Ordering::Relaxed),
                bytes_read: slot.bytes_read.load(Ordering::Relaxed),
                bytes_written: slot.bytes_written.load(Ordering::Relaxed),
                ..Summary::default()
            });
        }
        (active, total)
    }

    fn reactors(&self) -> usize {
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
        let (active, summary) = self.board.total();
        let (then, before) = self.last;
        let secs = now.duration_since(then).as_secs_f64().max(1e-9);
        let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
        let reactors = match self.board.reactors() {
            1 => String::new(),
            n => format!(" (all {n} reactors)"),
        };
        info!(
            "stats{reactors}: {active} active, {} accepted ({:.1}/s), {} bytes in ({:.2} MB/s), {} bytes out ({:.2} MB/s)",
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
        let figures = |n| Summary {
            connections: n,
            bytes_read: 10 * n,
            bytes_written: 100 * n,
            ..Summary::default()
        };
        board.publish(0, 1, figures(1));
        board.publish(2, 4, figures(5));
        let (active, total) = board.total();
        assert_eq!(active, 5);
        assert_eq!(total, figures(6));
    }
}
