//! Graceful stop: which connections to keep serving after the first signal.
//!
//! A connection is *busy* while its client is sending, not merely while a
//! buffer happens to hold bytes: a client streaming at full speed is, at
//! many instants, fully read and fully echoed, and a rule judged on one
//! instant cut such clients off mid-transfer (they got a reset after
//! hundreds of megabytes). So the rule is over time: once stopping, a
//! connection is closed when its client has sent nothing for `quiet_after`
//! *and* nothing is owed to it (no unsent echo, its socket read dry). Every
//! other connection is served until it finishes or `--shutdown-timeout`
//! passes. Idle clients are thus closed `quiet_after` after the signal, a
//! client that pauses for longer than that mid-stream is closed too (it was
//! owed nothing), and a peer that died without a reset cannot hold the stop.
//!
//! The times are only kept while stopping: serving costs nothing extra.

use std::time::{Duration, Instant};

pub struct Drain {
    /// When the busy connections are cut off.
    pub deadline: Instant,
    quiet_after: Duration,
    /// Per slab key: when its client last sent bytes, or the signal's time.
    /// No connection is accepted while stopping, so keys are not reused.
    last_heard: Vec<Instant>,
    /// When [`Drain::sweep`] may next find a connection to close.
    next_sweep: Instant,
}

impl Drain {
    /// Starts stopping at `now`; `key_bound` is above every open slab key.
    pub fn begin(now: Instant, timeout: Duration, quiet_after: Duration, key_bound: usize) -> Drain {
        Drain {
            deadline: now + timeout,
            quiet_after,
            last_heard: vec![now; key_bound],
            next_sweep: now + quiet_after,
        }
    }

    /// The client of `key` sent bytes.
    pub fn heard(&mut self, key: usize, now: Instant) {
        if let Some(last) = self.last_heard.get_mut(key) {
            *last = now;
        }
    }

    /// The next time the reactor must wake up for the drain.
    pub fn next_deadline(&self) -> Instant {
        self.deadline.min(self.next_sweep)
    }

    pub fn timed_out(&self, now: Instant) -> bool {
        now >= self.deadline
    }

    /// Appends to `closing` the connections to close now: those for which
    /// `owed_nothing` holds and whose client has been silent long enough.
    /// `open` lists every open connection with whether it is owed nothing.
    pub fn sweep(
        &mut self,
        now: Instant,
        open: impl Iterator<Item = (usize, bool)>,
        closing: &mut Vec<usize>,
    ) {
        if now < self.next_sweep {
            return;
        }
        let mut next = now + self.quiet_after;
        for (key, owed_nothing) in open {
            let due = self
                .last_heard
                .get(key)
                .map_or(now, |last| *last + self.quiet_after);
            if due > now {
                next = next.min(due);
            } else if owed_nothing {
                closing.push(key);
            }
        }
        self.next_sweep = next;
    }
}

/// How a graceful stop goes: `--shutdown-timeout` and `--drain-quiet`.
#[derive(Debug, Clone, Copy)]
pub struct DrainPolicy {
    pub timeout: Duration,
    pub quiet_after: Duration,
}

impl DrainPolicy {
    /// Starts stopping at `now`; `key_bound` is above every open slab key.
    pub fn begin(&self, now: Instant, key_bound: usize) -> Drain {
        Drain::begin(now, self.timeout, self.quiet_after, key_bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_millis(250);

    fn sweep(drain: &mut Drain, now: Instant, open: &[(usize, bool)]) -> Vec<usize> {
        let mut closing = Vec::new();
        drain.sweep(now, open.iter().copied(), &mut closing);
        closing
    }

    #[test]
    fn silent_connections_owed_nothing_close_after_the_quiet_period() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut drain = Drain::begin(t0, Duration::from_secs(5), QUIET, 3);
        assert!(sweep(&mut drain, at(249), &[(0, true), (1, true)]).is_empty());
        drain.heard(1, at(200));
        assert_eq!(sweep(&mut drain, at(250), &[(0, true), (1, true)]), [0]);
        assert_eq!(
            drain.next_deadline(),
            at(450),
            "the sending one is checked at its own due time"
        );
        assert_eq!(sweep(&mut drain, at(450), &[(1, true)]), [1]);
    }

    #[test]
    fn a_connection_still_owed_bytes_is_kept() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut drain = Drain::begin(t0, Duration::from_secs(5), QUIET, 1);
        assert!(sweep(&mut drain, at(300), &[(0, false)]).is_empty());
        assert_eq!(drain.next_deadline(), at(550), "rechecked one quiet period later");
        assert_eq!(sweep(&mut drain, at(550), &[(0, true)]), [0]);
    }

    #[test]
    fn a_client_sending_without_pause_is_never_closed_before_the_deadline() {
        let t0 = Instant::now();
        let mut drain = Drain::begin(t0, Duration::from_secs(2), QUIET, 1);
        let mut now = t0;
        while !drain.timed_out(now) {
            now += Duration::from_millis(10);
            drain.heard(0, now);
            assert!(
                sweep(&mut drain, now, &[(0, true)]).is_empty(),
                "closed at {:?}",
                now - t0
            );
        }
    }
}
