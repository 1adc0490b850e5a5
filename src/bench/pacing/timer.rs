//! The open loop's clock: a `timerfd` in the worker's own poll.
//!
//! `epoll_wait` (and so mio's poll timeout) counts in milliseconds, rounded
//! up: a send due in 0.3 ms would go out 1 ms late, and at tens of
//! thousands of messages per second the lag would be the timer's, not the
//! server's. A timerfd fires with the kernel's high-resolution timers
//! (within the thread's timer slack, 50 us by default) and is one more
//! readable source of the same poll: no thread sleeps, and the worker
//! still wakes for whatever comes first, a socket or the next send.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

pub struct PacingTimer {
    fd: OwnedFd,
    /// Set while an expiry is pending: disarming an idle timer is skipped.
    armed: bool,
}

impl PacingTimer {
    pub fn new(registry: &Registry, token: Token) -> io::Result<PacingTimer> {
        let fd = crate::sys::timerfd_create()?;
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        Ok(PacingTimer { fd, armed: false })
    }

    /// Fires once, `after` from now (at once for zero).
    pub fn arm(&mut self, after: Duration) -> io::Result<()> {
        // A zero it_value would disarm the timer: one nanosecond fires at once.
        let after = after.max(Duration::from_nanos(1));
        self.set(after)?;
        self.armed = true;
        Ok(())
    }

    pub fn disarm(&mut self) -> io::Result<()> {
        if self.armed {
            self.set(Duration::ZERO)?;
            self.armed = false;
        }
        Ok(())
    }

    /// Notes that the timer fired. Its expiry count is not read: mio's
    /// registration is edge-triggered, and every expiry wakes the poll
    /// anew, so the read would be one system call per wake-up for nothing.
    pub fn fired(&mut self) {
        self.armed = false;
    }

    fn set(&mut self, value: Duration) -> io::Result<()> {
        crate::sys::timerfd_set(&self.fd, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::time::Instant;

    #[test]
    fn fires_through_the_poll_and_never_early() {
        let mut poll = Poll::new().unwrap();
        let mut timer = PacingTimer::new(poll.registry(), Token(7)).unwrap();
        let mut events = Events::with_capacity(4);
        for delay_us in [1, 300, 1500] {
            let delay = Duration::from_micros(delay_us);
            let started = Instant::now();
            timer.arm(delay).unwrap();
            poll.poll(&mut events, Some(Duration::from_secs(5))).unwrap();
            let waited = started.elapsed();
            assert_eq!(
                events.iter().next().map(|e| e.token()),
                Some(Token(7)),
                "{delay:?}"
            );
            timer.fired();
            assert!(waited >= delay, "fired early: {waited:?} < {delay:?}");
        }
        // Disarmed, it stays silent.
        timer.arm(Duration::from_millis(1)).unwrap();
        timer.disarm().unwrap();
        poll.poll(&mut events, Some(Duration::from_millis(20))).unwrap();
        assert!(events.is_empty());
    }
}
