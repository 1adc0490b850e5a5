//! `--tls-handshake-timeout`: a connection that has not finished its TLS
//! handshake in time is closed, whether or not `--idle-timeout` is set (a
//! peer that opens connections and never says hello would otherwise hold
//! them for ever, or until a record trickles in).
//!
//! The deadlines are `deadlines.rs`'s queue; this keeps which connection
//! holds each slab key, as the queue's entries name them by key and serial.

use std::time::{Duration, Instant};

use super::deadlines::Deadlines;

pub struct HandshakeTimer {
    deadlines: Deadlines,
    /// Per slab key, the serial of the connection holding it (0: none).
    serials: Vec<u64>,
    open: usize,
}

impl HandshakeTimer {
    pub fn new(timeout: Duration) -> HandshakeTimer {
        HandshakeTimer {
            deadlines: Deadlines::new(timeout),
            serials: Vec::new(),
            open: 0,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.deadlines.timeout()
    }

    pub fn opened(&mut self, key: usize, now: Instant) {
        if self.serials.len() <= key {
            self.serials.resize(key + 1, 0);
        }
        self.serials[key] = self.deadlines.start(key, now);
        self.open += 1;
    }

    pub fn closed(&mut self, key: usize) {
        let Some(serial) = self.serials.get_mut(key) else {
            return;
        };
        if *serial != 0 {
            *serial = 0;
            self.open -= 1;
        }
        let serials = &self.serials;
        self.deadlines
            .sweep(self.open, |key, serial| serials.get(key) == Some(&serial));
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// Appends the keys whose time is up by `now` (the caller closes those
    /// still handshaking).
    pub fn expire(&mut self, now: Instant, expired: &mut Vec<usize>) {
        let serials = &self.serials;
        while let Some(key) = self
            .deadlines
            .pop_due(now, |key, serial| serials.get(key) == Some(&serial))
        {
            expired.push(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::deadlines::STALE_MARGIN;

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
