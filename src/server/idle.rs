//! Closing connections that have been silent for `--idle-timeout`.
//!
//! A min-heap of deadlines, one entry per connection, re-armed lazily: traffic
//! only stores the time of the last activity (no heap operation per message);
//! when an entry comes due, the connection is closed if it was silent since,
//! else the entry is pushed again for its new deadline. Timers thus cost
//! O(log n) per timeout period per connection and nothing per byte, and
//! thousands of idle connections add nothing to a busy one's path. A timer
//! wheel would make the push O(1), but with one uniform timeout the heap
//! holds at most one live entry per connection and stays simple. Entries
//! of closed connections are dropped in one sweep once they outnumber the
//! live ones (plus a margin), so memory follows the connections open now,
//! not every connection opened within the last timeout.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

pub struct IdleTimer {
    timeout_ms: u64,
    origin: Instant,
    /// (deadline in ms since `origin`, slab key, serial of the connection).
    heap: BinaryHeap<Reverse<(u64, usize, u32)>>,
    /// Per slab key: the last activity and the serial of the connection now
    /// holding that key (a stale heap entry for a reused key is ignored).
    activity: Vec<Activity>,
    next_serial: u32,
    /// Connections open now (entries in the heap beyond these are stale).
    open: usize,
}

/// Stale heap entries tolerated before a sweep, beyond one per open
/// connection: a sweep is then paid for by as many closes.
const STALE_MARGIN: usize = 1024;

#[derive(Debug, Clone, Copy, Default)]
struct Activity {
    last_ms: u64,
    serial: u32,
}

impl IdleTimer {
    pub fn new(timeout: Duration, origin: Instant) -> IdleTimer {
        IdleTimer {
            timeout_ms: timeout.as_millis().max(1) as u64,
            origin,
            heap: BinaryHeap::new(),
            activity: Vec::new(),
            next_serial: 0,
            open: 0,
        }
    }

    fn ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_millis() as u64
    }

    /// A connection was accepted under `key`.
    pub fn opened(&mut self, key: usize, now: Instant) {
        if self.activity.len() <= key {
            self.activity.resize(key + 1, Activity::default());
        }
        // Serial 0 marks a closed key.
        self.next_serial = self.next_serial.checked_add(1).unwrap_or(1);
        self.open += 1;
        let last_ms = self.ms(now);
        self.activity[key] = Activity {
            last_ms,
            serial: self.next_serial,
        };
        self.heap.push(Reverse((
            last_ms.saturating_add(self.timeout_ms),
            key,
            self.next_serial,
        )));
    }

    /// Connection `key` moved bytes.
    pub fn touched(&mut self, key: usize, now: Instant) {
        let ms = self.ms(now);
        if let Some(activity) = self.activity.get_mut(key) {
            activity.last_ms = ms;
        }
    }

    /// When the earliest entry comes due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap
            .peek()
            .map(|Reverse((deadline, _, _))| self.origin + Duration::from_millis(*deadline))
    }

    /// Appends to `expired` the keys silent for the whole timeout by `now`.
    /// The caller closes them (and must, as their entries are gone).
    pub fn expire(&mut self, now: Instant, expired: &mut Vec<usize>) {
        let now_ms = self.ms(now);
        while let Some(&Reverse((deadline, key, serial))) = self.heap.peek() {
            if deadline > now_ms {
                break;
            }
            self.heap.pop();
            let Some(activity) = self.activity.get(key) else {
                continue;
            };
            if activity.serial != serial {
                continue; // the connection it was for has closed
            }
            let due = activity.last_ms.saturating_add(self.timeout_ms);
            if due <= now_ms {
                expired.push(key);
            } else {
                self.heap.push(Reverse((due, key, serial)));
            }
        }
    }

    /// Connection `key` closed: its entry, if any, becomes stale.
    pub fn closed(&mut self, key: usize) {
        let Some(activity) = self.activity.get_mut(key) else {
            return;
        };
        if activity.serial != 0 {
            activity.serial = 0;
            self.open -= 1;
        }
        if self.heap.len() > 2 * self.open + STALE_MARGIN {
            let activity = &self.activity;
            self.heap
                .retain(|Reverse((_, key, serial))| activity.get(*key).is_some_and(|a| a.serial == *serial));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_only_connections_silent_for_the_whole_timeout() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut timer = IdleTimer::new(Duration::from_millis(100), t0);
        timer.opened(0, at(0));
        timer.opened(1, at(0));
        timer.touched(1, at(60));
        let mut expired = Vec::new();
        timer.expire(at(99), &mut expired);
        assert!(expired.is_empty());
        timer.expire(at(100), &mut expired);
        assert_eq!(expired, [0]);
        assert_eq!(
            timer.next_deadline(),
            Some(at(160)),
            "re-armed at last activity + timeout"
        );
        expired.clear();
        timer.expire(at(160), &mut expired);
        assert_eq!(expired, [1]);
    }

    /// Issue 19, item 6: 300,000 short connections under a long timeout
    /// leave no entry each behind (before, the heap held all 300,000 until
    /// their deadlines passed).
    #[test]
    fn closed_connections_leave_nothing_behind() {
        let t0 = Instant::now();
        let mut timer = IdleTimer::new(Duration::from_secs(3600), t0);
        timer.opened(0, t0); // one that stays open
        for i in 0..300_000u64 {
            let now = t0 + Duration::from_micros(i);
            timer.opened(1 + (i % 8) as usize, now);
            timer.closed(1 + (i % 8) as usize);
        }
        assert!(
            timer.heap.len() <= 2 + STALE_MARGIN,
            "{} entries left",
            timer.heap.len()
        );
        assert_eq!(timer.open, 1);
        let mut expired = Vec::new();
        timer.expire(t0 + Duration::from_secs(3600), &mut expired);
        assert_eq!(expired, [0], "the open one still expires");
    }

    #[test]
    fn a_reused_key_is_not_expired_by_its_predecessors_entry() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut timer = IdleTimer::new(Duration::from_millis(100), t0);
        timer.opened(3, at(0));
        timer.closed(3);
        timer.opened(3, at(50));
        let mut expired = Vec::new();
        timer.expire(at(100), &mut expired);
        assert!(expired.is_empty(), "the old entry was for the closed connection");
        timer.expire(at(150), &mut expired);
        assert_eq!(expired, [3]);
    }
}
