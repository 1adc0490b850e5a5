//! Connections that must finish something within one timeout: a PROXY
//! header, a scrape of the metrics, a TLS handshake.
//!
//! One timeout for all, so deadlines come in arrival order: a queue, not a
//! heap. Each entry names its connection by slab key and serial; when the
//! key has been reused since (or the connection is done), the owner's
//! `live(key, serial)` says no and the entry is passed over. Entries of
//! connections gone are swept once they outnumber the open ones (plus a
//! margin), so memory follows the connections open now, not every one
//! opened within the last timeout.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Stale entries tolerated before a sweep, beyond one per open connection:
/// a sweep is then paid for by as many closes.
pub const STALE_MARGIN: usize = 1024;

pub struct Deadlines {
    timeout: Duration,
    /// (deadline, slab key, serial), oldest first.
    queue: VecDeque<(Instant, usize, u64)>,
    next_serial: u64,
}

impl Deadlines {
    pub fn new(timeout: Duration) -> Deadlines {
        Deadlines {
            timeout,
            queue: VecDeque::new(),
            next_serial: 0,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The wait of the connection under `key` begins; returns the serial
    /// that tells it apart from a later one under the same key (never 0).
    pub fn start(&mut self, key: usize, now: Instant) -> u64 {
        self.next_serial += 1;
        self.queue.push_back((now + self.timeout, key, self.next_serial));
        self.next_serial
    }

    /// When the earliest wait ends (its connection may be gone by then).
    pub fn next(&self) -> Option<Instant> {
        self.queue.front().map(|&(deadline, _, _)| deadline)
    }

    /// The key of a connection whose time is up by `now` and that is still
    /// the one its entry was set for; `None` when no more are due.
    pub fn pop_due(&mut self, now: Instant, live: impl Fn(usize, u64) -> bool) -> Option<usize> {
        while let Some(&(deadline, key, serial)) = self.queue.front() {
            if deadline > now {
                return None;
            }
            self.queue.pop_front();
            if live(key, serial) {
                return Some(key);
            }
        }
        None
    }

    /// The oldest connection still waiting, taken out of the queue.
    pub fn pop_oldest(&mut self, live: impl Fn(usize, u64) -> bool) -> Option<usize> {
        while let Some((_, key, serial)) = self.queue.pop_front() {
            if live(key, serial) {
                return Some(key);
            }
        }
        None
    }

    /// A connection went: once the entries outnumber the `open` ones by
    /// more than the margin, those of connections gone are dropped.
    pub fn sweep(&mut self, open: usize, live: impl Fn(usize, u64) -> bool) {
        if self.queue.len() > 2 * open + STALE_MARGIN {
            self.queue.retain(|&(_, key, serial)| live(key, serial));
        }
    }

    pub fn clear(&mut self) {
        self.queue.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_live_entries_come_due_and_gone_ones_are_swept() {
        let t0 = Instant::now();
        let mut deadlines = Deadlines::new(Duration::from_secs(10));
        let first = deadlines.start(0, t0);
        let second = deadlines.start(1, t0 + Duration::from_secs(1));
        assert_eq!(deadlines.next(), Some(t0 + Duration::from_secs(10)));
        // Key 0's connection is gone; key 1's is still the one.
        let live = |key: usize, serial: u64| key == 1 && serial == second;
        assert_ne!(first, second);
        assert_eq!(deadlines.pop_due(t0 + Duration::from_secs(10), live), None);
        assert_eq!(deadlines.pop_due(t0 + Duration::from_secs(11), live), Some(1));
        for key in 0..10_000 {
            deadlines.start(key, t0);
            deadlines.sweep(0, |_, _| false);
        }
        assert!(deadlines.len() <= STALE_MARGIN + 1, "{} kept", deadlines.len());
        deadlines.start(7, t0);
        assert_eq!(deadlines.pop_oldest(|key, _| key == 7), Some(7));
    }
}
