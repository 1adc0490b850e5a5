//! `--max-connections`, true for the whole server, not per reactor.
//!
//! Every reactor takes a place before it accepts and gives it back when
//! that connection is gone (closed, refused, or never accepted), through
//! one atomic count: no lock on the accept path. A reactor that finds no
//! place stops accepting and leaves its clients in its backlog; since the
//! place may be freed by another reactor, whichever frees one after a
//! claim failed wakes every reactor (a `mio::Waker` each) to try again.
//! That happens only at the cap, never per connection below it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mio::Waker;

pub struct Admission {
    limit: usize,
    open: AtomicUsize,
    /// A claim failed since places were last given back: some reactor
    /// stopped accepting and must be woken by the next release.
    starved: AtomicBool,
    /// One per reactor.
    wakers: Vec<Waker>,
}

impl Admission {
    pub fn new(limit: usize, wakers: Vec<Waker>) -> Admission {
        Admission {
            limit: limit.max(1),
            open: AtomicUsize::new(0),
            starved: AtomicBool::new(false),
            wakers,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Takes a place for a connection about to be accepted, if one is free.
    pub fn claim(&self) -> bool {
        // SeqCst throughout: a reactor that fails here and then finds no
        // room must be sure the next release sees `starved`.
        let claimed = self
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < self.limit).then_some(open + 1)
            })
            .is_ok();
        if !claimed {
            self.starved.store(true, Ordering::SeqCst);
        }
        claimed
    }

    /// Gives back `count` places (a connection gone, or a claim that found
    /// nobody to accept), waking the reactors if one was refused meanwhile.
    pub fn release(&self, count: usize) {
        if count == 0 {
            return;
        }
        let before = self.open.fetch_sub(count, Ordering::SeqCst);
        debug_assert!(before >= count, "released more places than were taken");
        if self.starved.swap(false, Ordering::SeqCst) {
            for waker in &self.wakers {
                if let Err(err) = waker.wake() {
                    log::debug!("cannot wake a reactor: {err}");
                }
            }
        }
    }

    pub fn has_room(&self) -> bool {
        self.open.load(Ordering::SeqCst) < self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_exact_across_threads() {
        let admission = Admission::new(10, Vec::new());
        let claimed: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| (0..100).filter(|_| admission.claim()).count()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(claimed, 10);
        assert!(!admission.has_room());
        admission.release(3);
        assert!(admission.has_room());
        assert_eq!((0..10).filter(|_| admission.claim()).count(), 3);
    }
}
