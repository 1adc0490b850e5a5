//! The periodic `--stats-interval` line.

use std::time::{Duration, Instant};

use log::info;

use crate::server::Summary;

pub struct StatsReporter {
    interval: Duration,
    next: Instant,
    /// The figures at the previous line, for the rates since then.
    last: (Instant, Summary),
}

impl StatsReporter {
    pub fn new(interval: Duration, now: Instant) -> StatsReporter {
        StatsReporter {
            interval,
            next: now + interval,
            last: (now, Summary::default()),
        }
    }

    pub fn next_deadline(&self) -> Instant {
        self.next
    }

    /// Logs a line if one is due.
    pub fn tick(&mut self, now: Instant, active: usize, summary: Summary) {
        if now < self.next {
            return;
        }
        let (then, before) = self.last;
        let secs = now.duration_since(then).as_secs_f64().max(1e-9);
        let rate = |now: u64, then: u64| (now - then) as f64 / secs;
        info!(
            "stats: {active} active, {} accepted ({:.1}/s), {} bytes in ({:.2} MB/s), {} bytes out ({:.2} MB/s)",
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
