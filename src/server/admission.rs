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

    /// For a reactor at the cap, woken to try again: true if a place is
    /// free now. If not, the next release must wake it once more, as a
    /// failed claim would: another reactor may have taken the place that
    /// woke it, only to find nobody to accept and give it back. (Checking
    /// the room alone lost that wake-up, and a client waited in the
    /// backlog for good.) Marked before the room is checked again, so a
    /// release in between is seen one way or the other.
    pub fn room_or_wait(&self) -> bool {
        if self.has_room() {
            return true;
        }
        self.starved.store(true, Ordering::SeqCst);
        self.has_room()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The race `max_connections_holds_across_reactors` once lost a client
    /// to: reactor B, at the cap, is woken by a release, but reactor X takes
    /// the place first, finds nobody in its backlog and gives it back. B,
    /// finding no room meanwhile, must still be woken by that release.
    #[test]
    fn a_reactor_that_finds_no_room_after_a_wake_is_woken_again() {
        use mio::{Events, Poll, Token};
        let mut poll = Poll::new().unwrap();
        let waker = Waker::new(poll.registry(), Token(0)).unwrap();
        let admission = Admission::new(1, vec![waker]);
        let mut events = Events::with_capacity(4);
        let woken = |poll: &mut Poll, events: &mut Events| {
            poll.poll(events, Some(std::time::Duration::from_millis(200)))
                .unwrap();
            !events.is_empty()
        };
        assert!(admission.claim(), "A's connection");
        assert!(!admission.claim(), "B at the cap");
        admission.release(1);
        assert!(woken(&mut poll, &mut events), "A's close wakes B");
        assert!(admission.claim(), "X takes the place first");
        assert!(!admission.room_or_wait(), "B finds none");
        admission.release(1);
        assert!(woken(&mut poll, &mut events), "X's give-back wakes B again");
        assert!(admission.room_or_wait());
    }

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
