//! Pacing the open loop: when each message is due, the grid its due time
//! is rounded to, and the timer that wakes the workers for it.

pub mod grid;
pub mod schedule;
pub mod timer;
