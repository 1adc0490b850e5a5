//! Saying a refused source in the log at most once per [`EVERY`], so that
//! a peer that is refused in a loop cannot fill the log, nor the memory of
//! who was said when.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often one source is said, at most.
pub const EVERY: Duration = Duration::from_secs(10);

/// Sources remembered at most. Past this many within [`EVERY`], a new
/// source is counted (by the caller) but not said until some expire.
const REMEMBERED: usize = 10_000;

/// When each source was last said.
#[derive(Debug, Default)]
pub struct OncePerSource {
    last: HashMap<IpAddr, Instant>,
    /// Full, and none expires before this: a new source is turned down
    /// without a scan of the table (a flood of new sources costs one scan
    /// per expiry, not one per source).
    full_until: Option<Instant>,
}

/// One [`OncePerSource`] for all reactors, so that the limit holds for the
/// server, not for each reactor.
pub type SharedOncePerSource = Arc<Mutex<OncePerSource>>;

impl OncePerSource {
    /// Whether `ip` should be said now; if so, it is not again for [`EVERY`].
    pub fn due(&mut self, ip: IpAddr, now: Instant) -> bool {
        let fresh = |last: &Instant| now.saturating_duration_since(*last) < EVERY;
        if self.last.get(&ip).is_some_and(fresh) {
            return false;
        }
        if self.last.len() >= REMEMBERED && !self.last.contains_key(&ip) {
            if self.full_until.is_some_and(|until| now < until) {
                return false;
            }
            self.last.retain(|_, last| fresh(last));
            if self.last.len() >= REMEMBERED {
                self.full_until = self.last.values().min().map(|oldest| *oldest + EVERY);
                return false;
            }
            self.full_until = None;
        }
        self.last.insert(ip, now);
        true
    }
}

/// [`OncePerSource::due`] on the shared table.
pub fn due(shared: &SharedOncePerSource, ip: IpAddr, now: Instant) -> bool {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .due(ip, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_said_once_per_period_and_the_table_stays_bounded() {
        let mut said = OncePerSource::default();
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(said.due(ip, t0));
        assert!(!said.due(ip, t0 + Duration::from_secs(9)));
        assert!(said.due(ip, t0 + EVERY));
        // A flood of sources within one period: the table stops growing and
        // the sources past it are not said.
        let flood = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        let t1 = t0 + EVERY;
        let newly_said = (0..REMEMBERED as u32 * 2)
            .filter(|&i| said.due(flood(i), t1))
            .count();
        assert_eq!(newly_said, REMEMBERED - 1, "the table held `ip` already");
        assert_eq!(said.last.len(), REMEMBERED);
        assert_eq!(
            said.full_until,
            Some(t1 + EVERY),
            "the oldest, said at t1, expires first"
        );
        // Once the period has passed, room is made for new ones.
        assert!(said.due(flood(REMEMBERED as u32 * 3), t1 + EVERY));
        assert!(said.last.len() <= REMEMBERED);
    }
}
