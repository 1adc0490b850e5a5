//! The open loop (`--rate`): each connection sends its messages at their
//! scheduled times, whether or not earlier echoes have come back.
//!
//! A message is *queued* when its time comes (its bytes appended to the
//! connection's stream target), *sent* when its first byte is written, and
//! *complete* when the last byte of its echo has been read back (an echo is
//! a byte stream: several messages may be in flight on one connection, and
//! they complete in order). Its latency counts from its intended time, so
//! a stall of the server shows in full for every message that should have
//! been sent during it (no coordinated omission); its uncorrected latency
//! counts from the actual send, and the send lag is the difference.
//!
//! At most `--max-inflight` messages per connection are queued or
//! unanswered at once; past that, due messages wait (their latency still
//! counts from their intended time) and the connection is *held*. Every
//! message intended inside the window is accounted for: it completes, or
//! at the end of the drain it counts as a timeout with its latency recorded
//! as at least the time it waited.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::time::Instant;

use super::open_state::{LATE, OpenConn, Outstanding, PACING, Pacing};
use crate::bench::config::OpenLoop;
use crate::bench::engine::Phase;
use crate::bench::engine::State;
use crate::bench::engine::Worker;
use crate::bench::engine::histograms;
use crate::bench::engine::in_window;
use crate::bench::pacing::grid::Grid;
use crate::bench::pacing::schedule::Schedule;
use crate::bench::pacing::timer::PacingTimer;

impl Worker<'_> {
    fn open_loop(&self) -> &OpenLoop {
        self.plan.config.open_loop.as_ref().expect("open loop configured")
    }

    /// The due time of Λ-point `point`: the grid time at or after the
    /// time the profile gives it.
    fn intended_time(&self, point: f64) -> Instant {
        let grid = self.pacing.as_ref().expect("pacing started").grid;
        grid.due(self.open_loop().profile.time_of(point))
    }

    /// Starts every open connection's schedule at `origin` (the warm-up's start).
    pub(super) fn start_open_loop(&mut self, origin: Instant) -> io::Result<()> {
        // The kernel may fire this thread's timers up to its timer slack
        // late (50 us by default) to batch wake-ups; the pacing coalesces
        // on purpose already, so no slack on top.
        crate::sys::set_timer_slack(1);
        let timer = PacingTimer::new(self.poll.registry(), PACING)?;
        self.pacing = Some(Pacing {
            timer,
            due: BinaryHeap::new(),
            grid: Grid::new(origin, self.open_loop().grid),
            armed_for: None,
            ready: Vec::new(),
        });
        self.tally.latency_uncorrected = Some(histograms::new_histogram());
        self.tally.send_lag = Some(histograms::new_histogram());
        let arrival = self.open_loop().arrival;
        let total = self.plan.config.connections as u64;
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            let schedule = Schedule::new(self.conns[key].id, total, arrival);
            let next_due = self.intended_time(schedule.next_point());
            self.conns[key].open = Some(Box::new(OpenConn {
                schedule,
                next_due,
                outstanding: VecDeque::new(),
                started: 0,
                held: false,
                closing: false,
            }));
            self.arm_connection(key, next_due);
        }
        Ok(())
    }

    fn arm_connection(&mut self, key: usize, due: Instant) {
        if due < self.measure_until
            && let Some(pacing) = &mut self.pacing
        {
            pacing.due.push(Reverse((due, key)));
        }
    }

    /// Queues and writes every message whose grid time has come; called
    /// once a turn, after the events. Re-arms the timer for the next one.
    pub(super) fn release_due(&mut self) -> io::Result<()> {
        let Some(pacing) = &mut self.pacing else {
            return Ok(());
        };
        let now = Instant::now();
        if pacing.due.peek().is_none_or(|&Reverse((due, _))| due > now) {
            // Between grid times (a turn for echoes): nothing to release.
            return self.arm_pacing();
        }
        // Reused release after release: no allocation on the pacing path.
        let mut ready = std::mem::take(&mut pacing.ready);
        while let Some(&Reverse((due, key))) = pacing.due.peek() {
            if due > now {
                break;
            }
            pacing.due.pop();
            ready.push(key);
        }
        // The writes of one release go out together (one io_uring
        // submission where the kernel allows it), as closed-loop pingpong
        // sends a turn's messages.
        self.gathering = self.batch.is_some();
        for key in ready.drain(..) {
            if self.conns.contains(key) {
                self.queue_due(key, now);
                self.pump(key);
            }
        }
        if let Some(pacing) = &mut self.pacing {
            pacing.ready = ready;
        }
        self.gathering = false;
        self.send_queued();
        self.arm_pacing()
    }

    /// Sets the timer for the next grid time with a message due.
    fn arm_pacing(&mut self) -> io::Result<()> {
        let Some(pacing) = &mut self.pacing else {
            return Ok(());
        };
        match pacing.due.peek() {
            Some(&Reverse((at, _))) => {
                if pacing.armed_for != Some(at) {
                    pacing.timer.arm(at.saturating_duration_since(Instant::now()))?;
                    pacing.armed_for = Some(at);
                }
            }
            None => {
                pacing.timer.disarm()?;
                pacing.armed_for = None;
            }
        }
        Ok(())
    }

    /// The timer fired; the due messages go out in [`Worker::release_due`]
    /// at the end of the turn.
    pub(super) fn on_pacing_timer(&mut self) {
        if let Some(pacing) = &mut self.pacing {
            pacing.timer.fired();
            pacing.armed_for = None;
        }
    }

    /// Queues the connection's messages due by `now`, up to `--max-inflight`
    /// (then the connection is held), and arms its next due time.
    fn queue_due(&mut self, key: usize, now: Instant) {
        let Some(was_held) = self.conns.get(key).and_then(|c| c.open.as_ref()).map(|o| o.held) else {
            return;
        };
        let max_inflight = self.open_loop().max_inflight;
        let size = self.plan.config.size as u64;
        let (from, until) = (self.measure_from, self.measure_until);
        loop {
            let conn = &mut self.conns[key];
            let open = conn.open.as_mut().expect("checked above");
            let intended = open.next_due;
            if intended > now || intended >= until {
                open.held = false;
                return self.arm_connection(key, intended);
            }
            if open.outstanding.len() >= max_inflight {
                // Completions make room (see `complete_open`).
                open.held = true;
                return;
            }
            conn.target += size;
            open.outstanding.push_back(Outstanding {
                intended,
                sent_at: None,
                end: conn.target,
            });
            if !was_held && now - intended > LATE && in_window(from, until, intended) {
                // Due a while ago and nothing held it back: this loop was late.
                self.tally.generator_late += 1;
            }
            open.schedule.advance();
            let point = open.schedule.next_point();
            let next_due = self.intended_time(point);
            self.conns[key].open.as_mut().expect("checked above").next_due = next_due;
        }
    }

    /// Marks the messages whose first byte has now been written.
    pub(super) fn on_written(&mut self, key: usize) {
        self.on_written_at(key, Instant::now());
    }

    /// Marks the messages whose first byte was written at `now`.
    pub(super) fn on_written_at(&mut self, key: usize, now: Instant) {
        let (from, until) = (self.measure_from, self.measure_until);
        let conn = &mut self.conns[key];
        let size = self.plan.config.size as u64;
        let Some(open) = conn.open.as_mut() else {
            return;
        };
        while let Some(message) = open.outstanding.get_mut(open.started) {
            if message.end - size >= conn.sent {
                break;
            }
            message.sent_at = Some(now);
            open.started += 1;
            if in_window(from, until, message.intended) {
                let lag = now.saturating_duration_since(message.intended);
                self.tally.sends += 1;
                if lag > LATE {
                    self.tally.late_sends += 1;
                }
                if let Some(send_lag) = &mut self.tally.send_lag {
                    histograms::record(send_lag, lag);
                }
                for recorder in &mut self.recorders {
                    recorder.record_send_lag(lag);
                }
            }
        }
    }

    /// Counts the messages whose echo is now complete; true if any was.
    pub(super) fn complete_open(&mut self, key: usize) -> bool {
        let now = Instant::now();
        self.now = now;
        let (from, until) = (self.measure_from, self.measure_until);
        let conn = &mut self.conns[key];
        let Some(open) = conn.open.as_mut() else {
            return false;
        };
        let mut completed = 0;
        let mut timings = std::mem::take(&mut self.completed_scratch);
        while open.outstanding.front().is_some_and(|m| m.end <= conn.verified) {
            let message = open.outstanding.pop_front().expect("front exists");
            open.started = open.started.saturating_sub(1);
            completed += 1;
            if in_window(from, until, message.intended) {
                timings.push((now - message.intended, message.sent_at.map(|sent| now - sent)));
            }
        }
        let held = open.held;
        self.unpublished.0 += completed;
        if in_window(from, until, now) {
            self.tally.messages += completed;
        }
        for (latency, uncorrected) in timings.drain(..) {
            self.record_latency(latency, uncorrected);
        }
        self.completed_scratch = timings;
        if completed > 0 && held {
            self.queue_due(key, now);
        }
        completed > 0
    }

    /// Drain: queue what is still due from the window, and half-close once
    /// all of it is written.
    pub(super) fn close_open_loop(&mut self, key: usize) {
        let now = Instant::now();
        self.queue_due(key, now);
        if let Some(open) = self.conns[key].open.as_mut() {
            open.closing = true;
        }
        if let Err(err) = self.half_close_when_written(key) {
            return self.fail(key, &err);
        }
        self.pump(key);
    }

    /// Half-closes a draining connection once nothing of the window is left
    /// to write.
    pub(super) fn half_close_when_written(&mut self, key: usize) -> io::Result<()> {
        let until = self.measure_until;
        let conn = &mut self.conns[key];
        // Nothing of the window left to queue: every message intended
        // before its end is queued.
        let done = conn
            .open
            .as_ref()
            .is_some_and(|open| open.closing && !open.held && open.next_due >= until);
        if done && conn.state == State::Open && conn.sent == conn.target && self.phase == Phase::Draining {
            conn.half_close()?;
            conn.state = State::HalfClosed;
        }
        Ok(())
    }

    /// The drain ran out: every message of the window still unanswered (or
    /// never written) is a timeout, its latency recorded as at least the
    /// time it waited.
    pub(super) fn time_out_open_loop(&mut self, deadline: Instant) {
        let (from, until) = (self.measure_from, self.measure_until);
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            let Some(mut open) = self.conns[key].open.take() else {
                continue;
            };
            for message in open.outstanding.drain(..) {
                if in_window(from, until, message.intended) {
                    self.tally.errors.timeouts += 1;
                    if message.sent_at.is_none() {
                        self.tally.late_sends += 1;
                    }
                    self.record_latency(deadline - message.intended, None);
                }
            }
            let mut due = open.next_due;
            while due < until {
                if due >= from {
                    self.tally.errors.timeouts += 1;
                    self.tally.late_sends += 1;
                    self.record_latency(deadline.saturating_duration_since(due), None);
                }
                open.schedule.advance();
                due = self.intended_time(open.schedule.next_point());
            }
        }
    }
}
