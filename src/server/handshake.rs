//! `--tls-handshake-timeout`: a connection that has not finished its TLS
//! handshake in time is closed, whether or not `--idle-timeout` is set (a
//! peer that opens connections and never says hello would otherwise hold
//! them for ever, or until a record trickles in).
//!
//! One timeout for all, so deadlines come in arrival order: a queue, not a
//! heap. An entry is checked when it comes due; the connection it was for
//! may have finished its handshake or closed since (its key then holds a
//! newer serial, or none). Entries of closed connections are swept once
//! they outnumber the open ones, so memory follows the connections open now.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Stale entries tolerated before a sweep, beyond one per open connection.
const STALE_MARGIN: usize = 1024;

pub struct HandshakeTimer {
    timeout: Duration,
    /// (deadline, slab key, serial), oldest first.
    deadlines: VecDeque<(Instant, usize, u64)>,
    /// Per slab key, the serial of the connection holding it (0: none).
    serials: Vec<u64>,
    next_serial: u64,
    open: usize,
}

impl HandshakeTimer {
    pub fn new(timeout: Duration) -> HandshakeTimer {
        HandshakeTimer {
            timeout,
            deadlines: VecDeque::new(),
            serials: Vec::new(),
            next_serial: 0,
            open: 0,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn opened(&mut self, key: usize, now: Instant) {
        if self.serials.len() <= key {
            self.serials.resize(key + 1, 0);
        }
        self.next_serial += 1;
        self.serials[key] = self.next_serial;
        self.open += 1;
        self.deadlines
            .push_back((now + self.timeout, key, self.next_serial));
    }

    pub fn closed(&mut self, key: usize) {
        let Some(serial) = self.serials.get_mut(key) else {
            return;
        };
        if *serial != 0 {
            *serial = 0;
            self.open -= 1;
        }
        if self.deadlines.len() > 2 * self.open + STALE_MARGIN {
            let serials = &self.serials;
            self.deadlines
                .retain(|&(_, key, serial)| serials.get(key) == Some(&serial));
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.front().map(|&(deadline, _, _)| deadline)
    }

    /// Appends the keys whose time is up by `now` (the caller closes those
    /// still handshaking).
    pub fn expire(&mut self, now: Instant, expired: &mut Vec<usize>) {
        while let Some(&(deadline, key, serial)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            if self.serials.get(key) == Some(&serial) {
                expired.push(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_connection_it_was_set_for_expires() {
        let t0 = Instant::now();
        let mut timer = HandshakeTimer::new(Duration::from_secs(10));
        timer.opened(0, t0);
        timer.opened(1, t0);
        timer.closed(1);
        timer.opened(1, t0 + Duration::from_secs(5));
        let mut expired = Vec::new();
        timer.expire(t0 + Duration::from_secs(10), &mut expired);
        assert_eq!(
            expired,
            [0],
            "key 1's first connection is gone; its second has 5 s left"
        );
        timer.expire(t0 + Duration::from_secs(15), &mut expired);
        assert_eq!(expired, [0, 1]);
    }

    #[test]
    fn closed_connections_leave_nothing_behind() {
        let t0 = Instant::now();
        let mut timer = HandshakeTimer::new(Duration::from_secs(10));
        for i in 0..100_000 {
            timer.opened(i % 4, t0);
            timer.closed(i % 4);
        }
        assert!(timer.deadlines.len() <= STALE_MARGIN + 1);
    }
}
