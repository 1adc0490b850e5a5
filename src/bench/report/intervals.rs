//! Figures per stretch of the window: `--interval` (a time series) and
//! `--rate-steps` (one stretch per step).
//!
//! Each worker records into its current stretch and, when the stretch is
//! over, adds it to a shared [`Board`] (histograms added, never
//! percentiles averaged). A stretch is complete once every worker has added
//! its part; the progress line shows the latest complete one, and the
//! report lists them all.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::bench::report::histograms;

/// One stretch of all workers together.
#[derive(Clone)]
pub struct Stretch {
    /// Corrected latency (closed loop: the only one), microseconds.
    pub latency: Histogram<u64>,
    /// Open loop: latency from the actual send.
    pub uncorrected: Option<Histogram<u64>>,
    pub messages: u64,
    pub errors: u64,
    /// Workers that added their part.
    reporters: usize,
}

/// What the report says of a stretch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Seconds from the window's start to the stretch's start.
    pub t_s: f64,
    pub messages_per_s: f64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub max_us: Option<f64>,
    pub errors: u64,
}

/// The stretches of all workers, shared.
pub struct Board {
    pub length: Duration,
    workers: usize,
    stretches: Mutex<Vec<Stretch>>,
}

impl Board {
    pub fn new(length: Duration, workers: usize) -> Board {
        Board {
            length,
            workers,
            stretches: Mutex::new(Vec::new()),
        }
    }

    fn add(&self, index: usize, part: &Stretch) {
        let mut stretches = self
            .stretches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while stretches.len() <= index {
            stretches.push(Stretch::empty(part.uncorrected.is_some()));
        }
        let stretch = &mut stretches[index];
        stretch
            .latency
            .add(&part.latency)
            .expect("histograms of one shape add up");
        if let (Some(sum), Some(part)) = (&mut stretch.uncorrected, &part.uncorrected) {
            sum.add(part).expect("histograms of one shape add up");
        }
        stretch.messages += part.messages;
        stretch.errors += part.errors;
        stretch.reporters += 1;
    }

    /// The latest stretch every worker has reported, with its index.
    pub fn latest_complete(&self) -> Option<(usize, Summary)> {
        let stretches = self
            .stretches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let index = stretches.iter().rposition(|s| s.reporters >= self.workers)?;
        Some((index, stretches[index].summary(index, self.length)))
    }

    /// Every stretch, in order (after the run).
    pub fn all(&self) -> Vec<Stretch> {
        self.stretches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn summaries(&self) -> Vec<Summary> {
        self.all()
            .iter()
            .enumerate()
            .map(|(index, stretch)| stretch.summary(index, self.length))
            .collect()
    }
}

impl Stretch {
    fn empty(open_loop: bool) -> Stretch {
        Stretch {
            latency: histograms::new_histogram(),
            uncorrected: open_loop.then(histograms::new_histogram),
            messages: 0,
            errors: 0,
            reporters: 0,
        }
    }

    pub fn summary(&self, index: usize, length: Duration) -> Summary {
        let secs = length.as_secs_f64();
        let quantile = |q: f64| (!self.latency.is_empty()).then(|| self.latency.value_at_quantile(q) as f64);
        Summary {
            t_s: index as f64 * secs,
            messages_per_s: self.messages as f64 / secs,
            p50_us: quantile(0.5),
            p99_us: quantile(0.99),
            max_us: (!self.latency.is_empty()).then(|| self.latency.max() as f64),
            errors: self.errors,
        }
    }
}

/// One worker's current stretch.
pub struct Recorder<'a> {
    board: &'a Board,
    start: Instant,
    index: usize,
    current: Stretch,
    /// The worker's message and error counts when the stretch began.
    counts_at_start: (u64, u64),
    /// Stretches past this one are not recorded (the window's end).
    last: usize,
}

impl<'a> Recorder<'a> {
    /// Starts at `start` (the window's start), for a window of `window`.
    pub fn new(board: &'a Board, start: Instant, window: Duration, open_loop: bool) -> Recorder<'a> {
        let stretches = (window.as_secs_f64() / board.length.as_secs_f64())
            .ceil()
            .max(1.0) as usize;
        Recorder {
            board,
            start,
            index: 0,
            current: Stretch::empty(open_loop),
            counts_at_start: (0, 0),
            last: stretches - 1,
        }
    }

    /// When the current stretch ends.
    pub fn next_boundary(&self) -> Instant {
        self.start + self.board.length * (self.index as u32 + 1)
    }

    /// Closes the stretches that ended by `now`; `messages` and `errors`
    /// are the worker's running totals.
    pub fn roll(&mut self, now: Instant, messages: u64, errors: u64) {
        while self.index < self.last && now >= self.next_boundary() {
            self.close(messages, errors);
            self.index += 1;
        }
    }

    fn close(&mut self, messages: u64, errors: u64) {
        self.current.messages = messages - self.counts_at_start.0;
        self.current.errors = errors - self.counts_at_start.1;
        self.counts_at_start = (messages, errors);
        self.board.add(self.index, &self.current);
        let open_loop = self.current.uncorrected.is_some();
        self.current = Stretch::empty(open_loop);
    }

    pub fn record(&mut self, latency: Duration, uncorrected: Option<Duration>) {
        histograms::record(&mut self.current.latency, latency);
        if let (Some(histogram), Some(value)) = (&mut self.current.uncorrected, uncorrected) {
            histograms::record(histogram, value);
        }
    }

    /// Closes the last stretch (and any the worker slept through).
    pub fn finish(mut self, messages: u64, errors: u64) {
        while self.index < self.last {
            self.close(messages, errors);
            self.index += 1;
        }
        self.close(messages, errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_of_all_workers_add_up_and_complete_together() {
        let board = Board::new(Duration::from_secs(1), 2);
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut a = Recorder::new(&board, t0, Duration::from_secs(3), false);
        let mut b = Recorder::new(&board, t0, Duration::from_secs(3), false);
        a.record(Duration::from_micros(100), None);
        b.record(Duration::from_micros(300), None);
        a.roll(at(1000), 10, 0);
        assert!(
            board.latest_complete().is_none(),
            "b has not reported the first second"
        );
        b.roll(at(1500), 20, 1);
        let (index, first) = board.latest_complete().unwrap();
        assert_eq!(index, 0);
        assert_eq!(first.messages_per_s, 30.0);
        assert_eq!(first.errors, 1);
        assert_eq!(first.max_us, Some(300.0));
        a.record(Duration::from_micros(50), None);
        a.finish(15, 0);
        b.finish(20, 1);
        let all = board.summaries();
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(all[1].messages_per_s, 5.0);
        assert_eq!(all[1].p50_us, Some(50.0));
        assert_eq!(all[2].messages_per_s, 0.0);
        assert_eq!(all[2].t_s, 2.0);
    }
}
