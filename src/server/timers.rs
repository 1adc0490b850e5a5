//! The per-connection clocks: `--idle-timeout` and, for a service with
//! handshakes, `--tls-handshake-timeout`. The reactor tells them when a
//! connection opens, is heard from and closes; they say which are due.

use std::time::{Duration, Instant};

use super::handshake::HandshakeTimer;
use super::idle::IdleTimer;

/// Why a connection's time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    /// Silent for `--idle-timeout`.
    Idle,
    /// Its handshake took longer than this (the reactor checks that it is
    /// still in its handshake: the clock does not know).
    Handshake(Duration),
}

pub(super) struct Timers {
    idle: Option<IdleTimer>,
    handshakes: Option<HandshakeTimer>,
    /// Keys of one expiry, kept to reuse the allocation.
    expired: Vec<usize>,
}

impl Timers {
    pub fn new(idle_timeout: Option<Duration>, handshake_timeout: Option<Duration>, now: Instant) -> Timers {
        Timers {
            idle: idle_timeout.map(|timeout| IdleTimer::new(timeout, now)),
            handshakes: handshake_timeout.map(HandshakeTimer::new),
            expired: Vec::new(),
        }
    }

    #[inline]
    pub fn opened(&mut self, key: usize, now: Instant) {
        if let Some(idle) = &mut self.idle {
            idle.opened(key, now);
        }
        if let Some(handshakes) = &mut self.handshakes {
            handshakes.opened(key, now);
        }
    }

    /// Bytes moved on `key`: it is not idle.
    #[inline]
    pub fn touched(&mut self, key: usize, now: Instant) {
        if let Some(idle) = &mut self.idle {
            idle.touched(key, now);
        }
    }

    #[inline]
    pub fn closed(&mut self, key: usize) {
        if let Some(idle) = &mut self.idle {
            idle.closed(key);
        }
        if let Some(handshakes) = &mut self.handshakes {
            handshakes.closed(key);
        }
    }

    /// Checked on every turn of the loop: nothing to do, and no call made,
    /// when neither timeout is set.
    #[inline]
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.idle.is_none() && self.handshakes.is_none() {
            return None;
        }
        let idle = self.idle.as_ref().and_then(IdleTimer::next_deadline);
        let handshake = self.handshakes.as_ref().and_then(HandshakeTimer::next_deadline);
        [idle, handshake].into_iter().flatten().min()
    }

    /// Appends the connections whose time ran out by `now` to `due`.
    #[inline]
    pub fn expire(&mut self, now: Instant, due: &mut Vec<(usize, Due)>) {
        if self.idle.is_some() || self.handshakes.is_some() {
            self.expire_set(now, due);
        }
    }

    fn expire_set(&mut self, now: Instant, due: &mut Vec<(usize, Due)>) {
        if let Some(idle) = &mut self.idle {
            idle.expire(now, &mut self.expired);
            due.extend(self.expired.drain(..).map(|key| (key, Due::Idle)));
        }
        if let Some(handshakes) = &mut self.handshakes {
            let timeout = Due::Handshake(handshakes.timeout());
            handshakes.expire(now, &mut self.expired);
            due.extend(self.expired.drain(..).map(|key| (key, timeout)));
        }
    }
}
