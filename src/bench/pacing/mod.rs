//! Pacing the open loop: when each message is due, and the timer that
//! wakes the workers for it.

pub mod schedule;
pub mod timer;
