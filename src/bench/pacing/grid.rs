//! The grid the open loop's sends are planned on (`--pacing-grid`).
//!
//! A loop that sleeps between sends pays a wake-up for each: the timer's
//! system call, the poll's and a context switch, more than the message
//! costs at tens of thousands a second. So the schedule is laid on a grid:
//! a message whose place in the schedule falls inside a step is *due* at
//! the step's start, and every message due at one grid time goes out in one
//! wake-up, as a micro-burst of about rate × step messages across a
//! worker's connections. The due time is the grid time, and every latency
//! counts from it: a burst sent late still shows in full, and the send lag
//! is the loop's own delay after the grid time, not the rounding.
//!
//! Rounding down moves a message by less than a step, so over any stretch
//! the count is the profile's to within a step's worth; over a stretch
//! whose ends are grid times (the warm-up and the window, when their
//! lengths are whole steps) it is exactly the profile's, so the target
//! rate and the achieved one count the same messages.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Grid {
    /// Grid time zero: the start of the warm-up.
    origin: Instant,
    step: Duration,
}

/// Past any run's end: a schedule that has run out of rate.
const FAR: Duration = Duration::from_secs(365 * 24 * 3600);

impl Grid {
    pub fn new(origin: Instant, step: Duration) -> Grid {
        Grid {
            origin,
            step: step.max(Duration::from_nanos(1)),
        }
    }

    /// The due time of a message placed `secs` after the origin: the
    /// start of the step it falls in.
    pub fn due(&self, secs: f64) -> Instant {
        let Ok(exact) = Duration::try_from_secs_f64(secs) else {
            // Negative or not a number never comes from a schedule; infinite does.
            return self.origin + if secs > 0.0 { FAR } else { Duration::ZERO };
        };
        let exact = exact.min(FAR).as_nanos();
        let step = self.step.as_nanos();
        let steps = exact / step;
        self.origin + Duration::from_nanos((steps * step).min(FAR.as_nanos()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_are_the_grid_times_that_start_their_step() {
        let origin = Instant::now();
        let grid = Grid::new(origin, Duration::from_micros(1000));
        for secs in [0.0, 0.0000001, 0.0005, 0.001, 0.0010001, 0.73, 2.9999999] {
            let due = grid.due(secs).duration_since(origin);
            assert_eq!(due.as_nanos() % 1_000_000, 0, "{secs}: {due:?} off the grid");
            let exact = Duration::from_secs_f64(secs);
            assert!(due <= exact, "{secs}: due {due:?} after its place");
            assert!(
                exact - due < Duration::from_micros(1000),
                "{secs}: moved a step or more"
            );
        }
        assert_eq!(grid.due(0.0015), origin + Duration::from_millis(1));
        assert_eq!(grid.due(0.0009), origin);
    }

    #[test]
    fn a_window_of_whole_steps_counts_exactly_the_profiles_messages() {
        // 3,000/s on a 2 ms grid: six messages a step, none lost or added,
        // where the exact times fall on the window's edges and where not.
        let origin = Instant::now();
        let grid = Grid::new(origin, Duration::from_millis(2));
        let dues: Vec<Duration> = (0..30_000)
            .map(|n| grid.due(n as f64 / 3000.0).duration_since(origin))
            .collect();
        for window_ms in [(0, 1000), (4, 10), (1234, 5678)] {
            let (from, until) = (
                Duration::from_millis(window_ms.0),
                Duration::from_millis(window_ms.1),
            );
            let counted = dues.iter().filter(|&&d| d >= from && d < until).count();
            let expected = (window_ms.1 - window_ms.0) as usize * 3;
            assert_eq!(counted, expected, "{window_ms:?}");
        }
    }

    #[test]
    fn a_schedule_that_ran_out_of_rate_is_due_far_away() {
        let origin = Instant::now();
        let grid = Grid::new(origin, Duration::from_millis(1));
        assert!(grid.due(f64::INFINITY) >= origin + Duration::from_secs(364 * 24 * 3600));
        assert_eq!(grid.due(1e30), grid.due(f64::INFINITY));
    }
}
