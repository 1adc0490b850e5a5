//! The measured window's bookkeeping: recording a round trip, ending the
//! window early (nothing left to measure, Ctrl-C), waiting for `--start-at`.

use std::io;
use std::time::{Duration, Instant, SystemTime};

use mio::Events;

use crate::bench::config::Mode;
use crate::bench::engine::Phase;
use crate::bench::engine::State;
use crate::bench::engine::Worker;
use crate::bench::engine::histograms;
use crate::bench::report::intervals::Counts;
use crate::bench::report::tcp::TcpFigures;

impl Worker<'_> {
    /// The running totals a stretch is measured by: messages (churn: cycles),
    /// bytes and errors, and the connections open now.
    pub(super) fn stretch_counts(&self) -> Counts {
        let done = if self.config().mode == Mode::Churn {
            self.tally.cycles
        } else {
            self.tally.messages
        };
        Counts {
            done,
            bytes: self.tally.bytes,
            errors: self.tally.errors,
            connections: self.conns.len() as u64,
            tcp: None,
        }
    }

    /// `TCP_INFO` of every connection open now (TCP only: a Unix socket
    /// has none). One system call per connection: read per stretch and at
    /// the window's end, never per message.
    pub(super) fn tcp_sample(&self) -> Option<TcpFigures> {
        if self.config().unix.is_some() {
            return None;
        }
        let mut figures = TcpFigures::default();
        for (_, conn) in &self.conns {
            if matches!(conn.state, State::Connecting) {
                continue;
            }
            if let Ok(info) = crate::sys::tcp_info(&conn.stream) {
                figures.add(&info);
            }
        }
        Some(figures)
    }

    /// Records a round trip in the window: into the run's histograms and
    /// the current stretches.
    pub(super) fn record_latency(&mut self, latency: Duration, uncorrected: Option<Duration>) {
        histograms::record(&mut self.tally.latency, latency);
        if let (Some(histogram), Some(value)) = (&mut self.tally.latency_uncorrected, uncorrected) {
            histograms::record(histogram, value);
        }
        for recorder in &mut self.recorders {
            recorder.record(latency, uncorrected);
        }
    }

    /// `--start-at`: keeps the connections served (and Ctrl-C heard) until
    /// the wall clock reaches `start`, so hosts started apart run together.
    pub(super) fn wait_until(&mut self, start: SystemTime, events: &mut Events) -> io::Result<()> {
        while self.stopped.is_none() {
            let Ok(left) = start.duration_since(SystemTime::now()) else {
                return Ok(());
            };
            self.turn(events, Some(left.min(Duration::from_millis(100))))?;
        }
        Ok(())
    }

    /// Ends the measured window now.
    pub(super) fn stop(&mut self, why: &'static str) {
        if self.stopped.is_none() {
            self.stopped = Some((Instant::now(), why));
        }
    }

    /// Ends the window when there is nothing left to measure: every
    /// connection gone (none is reopened outside churn), or in churn every
    /// slot's connect failed in a row with none open.
    pub(super) fn stop_if_nothing_left(&mut self) {
        let slots = self.plan.ids.len();
        match self.config().mode {
            Mode::Churn if self.failed_in_a_row >= slots && self.conns.len() <= self.connecting => {
                self.stop("no connection could be made")
            }
            Mode::Churn => {}
            _ if self.conns.is_empty() && self.queue.is_empty() => self.stop("every connection was lost"),
            _ => {}
        }
    }

    /// Closed loop, at the end of the window: a connection that completed
    /// no round trip in it and got nothing back was not served (a server at its connection limit
    /// leaves it in the backlog): its message counts as a timeout now,
    /// rather than being answered in the drain once others have gone, and
    /// the run says so.
    pub(super) fn give_up_on_stalled(&mut self) {
        let stalled: Vec<usize> = self
            .conns
            .iter()
            // Nothing ever came back on it: a server that answered part of
            // a message is served, and its fault is found in the drain.
            .filter(|(_, conn)| {
                conn.state == crate::bench::engine::State::Open
                    && !conn.answered_in_window
                    && conn.verified == 0
            })
            .map(|(key, _)| key)
            .collect();
        if stalled.is_empty() {
            return;
        }
        for &key in &stalled {
            if self.conns[key].awaiting {
                self.tally.errors.timeouts += 1;
            }
            self.remove(key);
        }
        self.tally.stalled += stalled.len() as u64;
    }

    /// A signal (Ctrl-C, SIGTERM, SIGHUP): the first ends the window (the
    /// drain still checks what is in flight), one during the drain ends the
    /// drain too, what is in flight counting as timeouts. Either way the run
    /// is interrupted: it never exits 0.
    pub(super) fn interrupted(&mut self, signal: i32) {
        self.tally.signal.get_or_insert(signal);
        if self.phase == Phase::Draining {
            self.abandon_drain = true;
        } else {
            self.stop("interrupted");
        }
    }
}
