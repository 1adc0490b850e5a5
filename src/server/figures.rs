//! A reactor's figures: its summary, counted as it serves, and their way to
//! the board that the stats line and the metrics endpoint read.

use std::time::{Duration, Instant};

use super::stats::{Levels, StatsBoard, StatsReporter, Summary};

/// How often a reactor hands its figures to the board: fresh enough for a
/// stats line or a scrape, rare enough that counting the pending bytes of
/// every connection costs nothing that matters.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

pub(super) struct Figures {
    /// Counted by the reactor and its doors as things happen.
    pub summary: Summary,
    /// Where to publish, and under which slot; `None` without a stats line
    /// or metrics.
    board: Option<(StatsBoard, usize)>,
    /// The stats line itself, on one reactor only.
    stats: Option<StatsReporter>,
    /// When the figures were last published, and what they were (counts
    /// and active connections).
    published: (Instant, Summary, usize),
}

impl Figures {
    pub fn new(board: Option<(StatsBoard, usize)>, stats: Option<StatsReporter>, now: Instant) -> Figures {
        Figures {
            summary: Summary::default(),
            board,
            stats,
            published: (now, Summary::default(), 0),
        }
    }

    /// Hands the figures to the board, at most every [`PUBLISH_EVERY`]
    /// unless `force`. The pending bytes are counted only when published
    /// (`pending`), not tracked per write: a broadcast fills every
    /// client's queue from one read.
    #[inline]
    pub fn publish(
        &mut self,
        now: Instant,
        force: bool,
        active: usize,
        pending: impl FnOnce() -> u64,
        proxy_waiting: usize,
    ) {
        let Some((board, slot)) = &self.board else { return };
        if !force && now < self.published.0 + PUBLISH_EVERY {
            return;
        }
        self.published = (now, self.summary, active);
        let levels = Levels {
            active: active as u64,
            pending_bytes: pending(),
            proxy_waiting: proxy_waiting as u64,
        };
        board.publish(*slot, levels, self.summary);
    }

    /// Logs the stats line when it is due.
    #[inline]
    pub fn tick(&mut self, now: Instant) {
        if let Some(stats) = &mut self.stats {
            stats.tick(now);
        }
    }

    /// When the reactor must wake up for its figures: the stats line, and
    /// changes the board has not seen (a reactor that falls idle would
    /// otherwise keep its last changes to itself).
    #[inline]
    pub fn next_deadline(&self, active: usize) -> Option<Instant> {
        // No stats line and no metrics: nothing to publish or log, and
        // nothing compared (this runs on every turn).
        self.board.as_ref()?;
        let stats = self.stats.as_ref().map(StatsReporter::next_deadline);
        let (at, summary, published_active) = &self.published;
        let changed = *summary != self.summary || *published_active != active;
        let unpublished = changed.then_some(*at + PUBLISH_EVERY);
        [stats, unpublished].into_iter().flatten().min()
    }
}
