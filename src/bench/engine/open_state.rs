//! What the open loop keeps: per connection, its schedule and the messages
//! in flight; per worker, the pacing timer and who is due next. The open
//! loop itself (`open_loop.rs`) works on these.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use mio::Token;

use crate::bench::pacing::grid::Grid;
use crate::bench::pacing::schedule::Schedule;
use crate::bench::pacing::timer::PacingTimer;

/// The pacing timer's token, below Ctrl-C's and above every slab key.
pub(super) const PACING: Token = Token(usize::MAX - 1);

/// A send this much after its intended time is late.
pub const LATE: Duration = Duration::from_millis(1);

/// One message queued on a connection.
pub(super) struct Outstanding {
    pub(super) intended: Instant,
    /// When its first byte was written.
    pub(super) sent_at: Option<Instant>,
    /// Stream offset just past its last byte.
    pub(super) end: u64,
}

/// A connection's open-loop state.
pub(super) struct OpenConn {
    pub(super) schedule: Schedule,
    /// Intended time of the next message not yet queued.
    pub(super) next_due: Instant,
    /// Queued messages in stream order.
    pub(super) outstanding: VecDeque<Outstanding>,
    /// How many at the front of `outstanding` have their first byte out.
    pub(super) started: usize,
    /// Queuing stopped at `--max-inflight` with messages due.
    pub(super) held: bool,
    /// Draining: half-close once every message of the window is written.
    pub(super) closing: bool,
}

/// The worker's clock for the open loop.
pub(super) struct Pacing {
    pub(super) timer: PacingTimer,
    /// (next due time, slab key): at most one entry per connection that
    /// is neither held nor done with the window.
    pub(super) due: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Due times: from time zero of the rate profile (the start of the
    /// warm-up), rounded up to `--pacing-grid`.
    pub(super) grid: Grid,
    /// When the timer is set to fire, if it is.
    pub(super) armed_for: Option<Instant>,
    /// The connections of one release, kept to reuse its allocation.
    pub(super) ready: Vec<usize>,
}
