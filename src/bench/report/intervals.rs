//! Figures per stretch of the window: `--interval` (a time series) and
//! `--rate-steps` (one stretch per step).
//!
//! Each worker records into its current stretch and, when the stretch is
//! over, adds it to a shared [`Board`] (histograms added, never
//! percentiles averaged). A stretch is complete once every worker has added
//! its part; the progress line shows the latest complete one, a [`Sink`]
//! (`--out`) gets it as it completes, and the report lists them all.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::bench::pacing::schedule::RateProfile;
use crate::bench::report::errors::Errors;
use crate::bench::report::histograms;
use crate::bench::report::tcp::TcpFigures;

/// A worker's running totals, read as each stretch ends.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Messages (churn: connect cycles) completed in the window.
    pub done: u64,
    pub bytes: u64,
    pub errors: Errors,
    /// Connections open now (not a running total).
    pub connections: u64,
    /// `TCP_INFO` of those connections, read as a stretch closes.
    pub tcp: Option<TcpFigures>,
}

/// One stretch of all workers together.
#[derive(Clone)]
pub struct Stretch {
    /// Corrected latency (closed loop: the only one), microseconds.
    pub latency: Histogram<u64>,
    /// Open loop: latency from the actual send.
    pub uncorrected: Option<Histogram<u64>>,
    /// Open loop: actual minus intended send.
    pub send_lag: Option<Histogram<u64>>,
    pub messages: u64,
    pub bytes: u64,
    pub errors: Errors,
    /// Open at the stretch's end, over all workers.
    pub connections: u64,
    /// `TCP_INFO` at the stretch's end, over all workers.
    pub tcp: Option<TcpFigures>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub max_us: Option<f64>,
    pub errors: u64,
    #[serde(default)]
    pub messages: u64,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub errors_by_kind: Errors,
    /// Open loop: send lag percentiles of the stretch's sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lag_p50_us: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lag_p99_us: Option<f64>,
    /// Connections open as the stretch ended.
    #[serde(default)]
    pub connections: u64,
    /// Open loop: the target rate at the stretch's middle (a ramp or
    /// steps show in these).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_per_s: Option<f64>,
    /// The path's figures as the stretch ended (TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpFigures>,
}

/// Called with each stretch as it completes: its summary, its length, and
/// the wall-clock time of its end.
pub type Sink = Box<dyn FnMut(&Summary, Duration, SystemTime) + Send>;

/// The stretches of all workers, shared.
pub struct Board {
    pub length: Duration,
    workers: usize,
    stretches: Mutex<Vec<Stretch>>,
    /// The window's start, as the workers' recorders began.
    start: OnceLock<Instant>,
    /// `--out`: each stretch written as it completes.
    sink: Option<Mutex<Sink>>,
    /// Open loop: the rate profile and the warm-up before the window, for
    /// each stretch's target at its middle.
    target: Option<(RateProfile, Duration)>,
}

impl Board {
    pub fn new(length: Duration, workers: usize) -> Board {
        Board {
            length,
            workers,
            stretches: Mutex::new(Vec::new()),
            start: OnceLock::new(),
            sink: None,
            target: None,
        }
    }

    /// Open loop: each stretch's summary says the target rate at its
    /// middle (a ramp or steps move it).
    pub fn with_target(mut self, profile: RateProfile, warmup: Duration) -> Board {
        self.target = Some((profile, warmup));
        self
    }

    fn summarize(&self, index: usize, stretch: &Stretch) -> Summary {
        let mut summary = stretch.summary(index, self.length);
        summary.target_per_s = self.target.as_ref().map(|(profile, warmup)| {
            profile.rate_at(warmup.as_secs_f64() + summary.t_s + self.length.as_secs_f64() / 2.0)
        });
        summary
    }

    /// Hands every stretch to `sink` as it completes.
    pub fn with_sink(mut self, sink: Sink) -> Board {
        self.sink = Some(Mutex::new(sink));
        self
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
        if let (Some(sum), Some(part)) = (&mut stretch.send_lag, &part.send_lag) {
            sum.add(part).expect("histograms of one shape add up");
        }
        stretch.messages += part.messages;
        stretch.bytes += part.bytes;
        stretch.errors.add(&part.errors);
        stretch.connections += part.connections;
        if let Some(part) = &part.tcp {
            stretch.tcp.get_or_insert_default().merge(part);
        }
        stretch.reporters += 1;
        // Each worker adds its stretches in order, so they complete in order.
        if stretch.reporters == self.workers
            && let Some(sink) = &self.sink
        {
            let summary = self.summarize(index, stretch);
            let start = *self.start.get_or_init(Instant::now);
            let end = start + self.length * (index as u32 + 1);
            // The wall-clock time of the stretch's end (it may be a moment ago).
            let at = SystemTime::now() - Instant::now().saturating_duration_since(end);
            drop(stretches);
            (sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))(&summary, self.length, at);
        }
    }

    /// The latest stretch every worker has reported, with its index.
    pub fn latest_complete(&self) -> Option<(usize, Summary)> {
        let stretches = self
            .stretches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let index = stretches.iter().rposition(|s| s.reporters >= self.workers)?;
        Some((index, self.summarize(index, &stretches[index])))
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
            .map(|(index, stretch)| self.summarize(index, stretch))
            .collect()
    }
}

impl Stretch {
    fn empty(open_loop: bool) -> Stretch {
        Stretch {
            latency: histograms::new_histogram(),
            uncorrected: open_loop.then(histograms::new_histogram),
            send_lag: open_loop.then(histograms::new_histogram),
            messages: 0,
            bytes: 0,
            errors: Errors::default(),
            connections: 0,
            tcp: None,
            reporters: 0,
        }
    }

    pub fn summary(&self, index: usize, length: Duration) -> Summary {
        let secs = length.as_secs_f64();
        let quantile = |q: f64| (!self.latency.is_empty()).then(|| self.latency.value_at_quantile(q) as f64);
        let lag = |q: f64| {
            self.send_lag
                .as_ref()
                .filter(|lag| !lag.is_empty())
                .map(|lag| lag.value_at_quantile(q) as f64)
        };
        Summary {
            t_s: index as f64 * secs,
            messages_per_s: self.messages as f64 / secs,
            p50_us: quantile(0.5),
            p90_us: quantile(0.9),
            p99_us: quantile(0.99),
            max_us: (!self.latency.is_empty()).then(|| self.latency.max() as f64),
            errors: self.errors.total(),
            messages: self.messages,
            bytes: self.bytes,
            errors_by_kind: self.errors,
            send_lag_p50_us: lag(0.5),
            send_lag_p99_us: lag(0.99),
            connections: self.connections,
            target_per_s: None,
            tcp: self.tcp,
        }
    }
}

/// One worker's current stretch.
pub struct Recorder<'a> {
    board: &'a Board,
    start: Instant,
    index: usize,
    current: Stretch,
    /// The worker's running totals when the stretch began.
    counts_at_start: Counts,
    /// Stretches past this one are not recorded (the window's end).
    last: usize,
}

impl<'a> Recorder<'a> {
    /// Starts at `start` (the window's start), for a window of `window`.
    pub fn new(board: &'a Board, start: Instant, window: Duration, open_loop: bool) -> Recorder<'a> {
        let stretches = (window.as_secs_f64() / board.length.as_secs_f64())
            .ceil()
            .max(1.0) as usize;
        board.start.get_or_init(|| start);
        Recorder {
            board,
            start,
            index: 0,
            current: Stretch::empty(open_loop),
            counts_at_start: Counts::default(),
            last: stretches - 1,
        }
    }

    /// When the current stretch ends.
    pub fn next_boundary(&self) -> Instant {
        self.start + self.board.length * (self.index as u32 + 1)
    }

    /// Closes the stretches that ended by `now`; `counts` are the
    /// worker's running totals.
    pub fn roll(&mut self, now: Instant, counts: Counts) {
        while self.index < self.last && now >= self.next_boundary() {
            self.close(counts);
            self.index += 1;
        }
    }

    fn close(&mut self, counts: Counts) {
        let before = self.counts_at_start;
        self.current.messages = counts.done - before.done;
        self.current.bytes = counts.bytes - before.bytes;
        self.current.errors = counts.errors.since(&before.errors);
        self.current.connections = counts.connections;
        self.current.tcp = counts.tcp;
        self.counts_at_start = counts;
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

    /// Open loop: a send's lag, in the stretch it went out in.
    pub fn record_send_lag(&mut self, lag: Duration) {
        if let Some(histogram) = &mut self.current.send_lag {
            histograms::record(histogram, lag);
        }
    }

    /// Closes the last stretch (and any the worker slept through).
    pub fn finish(mut self, counts: Counts) {
        while self.index < self.last {
            self.close(counts);
            self.index += 1;
        }
        self.close(counts);
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
        let counts = |done, timeouts| Counts {
            done,
            bytes: done * 100,
            errors: Errors {
                timeouts,
                ..Errors::default()
            },
            connections: 1,
            tcp: None,
        };
        a.roll(at(1000), counts(10, 0));
        assert!(
            board.latest_complete().is_none(),
            "b has not reported the first second"
        );
        b.roll(at(1500), counts(20, 1));
        let (index, first) = board.latest_complete().unwrap();
        assert_eq!(index, 0);
        assert_eq!(first.messages_per_s, 30.0);
        assert_eq!(first.errors, 1);
        assert_eq!(first.errors_by_kind.timeouts, 1);
        assert_eq!((first.messages, first.bytes, first.connections), (30, 3000, 2));
        assert_eq!(first.max_us, Some(300.0));
        a.record(Duration::from_micros(50), None);
        a.finish(counts(15, 0));
        b.finish(counts(20, 1));
        let all = board.summaries();
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(all[1].messages_per_s, 5.0);
        assert_eq!(all[1].p50_us, Some(50.0));
        assert_eq!(all[2].messages_per_s, 0.0);
        assert_eq!(all[2].t_s, 2.0);
    }
}
