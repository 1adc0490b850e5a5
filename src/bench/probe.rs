//! What the first worker does besides its own connections: sample CPU time
//! at both ends of the measured window and keep the progress line fresh.
//!
//! Living in a worker rather than in a coordinating thread matters: with a
//! single worker the process then has one thread, and Linux takes its fast
//! path for every socket syscall (no reference count on the file, which a
//! shared descriptor table needs; 2.7% of the load generator's CPU).

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::bench::config::Mode;
use crate::bench::report::intervals::Board;
use crate::bench::report::process::process_cpu_seconds;
use crate::bench::report::warnings::Warnings;

/// How often the progress line is redrawn.
pub const REDRAW: Duration = Duration::from_millis(250);

/// CPU seconds used during the measured window.
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuWindow {
    pub client: f64,
    pub server: Option<f64>,
    /// `--server-pid`: the server's resident memory as the window ended.
    pub server_rss: Option<u64>,
}

pub struct Probe<'a> {
    live: &'a LiveCounters,
    /// What the progress line shows: the rates that mean something in it.
    mode: Mode,
    /// `--interval`: the latest complete stretch is shown too.
    intervals: Option<&'a Board>,
    server_pid: Option<u32>,
    bar: Option<ProgressBar>,
    /// Counters at the last redraw, for the rates shown.
    last: (Instant, (u64, u64, u64)),
    /// CPU times at the start of the window, once it has started.
    start: Option<(f64, Option<f64>)>,
}

impl<'a> Probe<'a> {
    /// `progress`: show a progress line (only ever on a terminal).
    pub fn new(
        live: &'a LiveCounters,
        mode: Mode,
        intervals: Option<&'a Board>,
        warnings: &Warnings,
        server_pid: Option<u32>,
        progress: bool,
    ) -> Probe<'a> {
        // On standard error: `bench > result.txt` still shows it.
        let bar = (progress && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid template"));
            warnings.show_above(&bar);
            bar
        });
        Probe {
            live,
            mode,
            intervals,
            server_pid,
            bar,
            last: (Instant::now(), (0, 0, 0)),
            start: None,
        }
    }

    /// When the worker must wake up for the next redraw, if there is a line.
    pub fn next_redraw(&self) -> Option<Instant> {
        self.bar.as_ref().map(|_| self.last.0 + REDRAW)
    }

    pub fn window_started(&mut self) {
        if self.start.is_none() {
            self.start = Some(self.cpu());
        }
    }

    pub fn window_ended(&mut self) -> CpuWindow {
        let (client_after, server_after) = self.cpu();
        let server_rss = self
            .server_pid
            .and_then(crate::bench::report::process::process_rss_bytes);
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let Some((client_before, server_before)) = self.start else {
            return CpuWindow::default();
        };
        CpuWindow {
            client: client_after - client_before,
            server: server_after.zip(server_before).map(|(a, b)| a - b),
            server_rss,
        }
    }

    fn cpu(&self) -> (f64, Option<f64>) {
        let client = process_cpu_seconds("self").unwrap_or(0.0);
        let server = self
            .server_pid
            .and_then(|pid| process_cpu_seconds(&pid.to_string()));
        (client, server)
    }

    /// Redraws the progress line if one is due.
    pub fn tick(&mut self, now: Instant) {
        let Some(bar) = &self.bar else { return };
        if now < self.last.0 + REDRAW {
            return;
        }
        let counts = (
            self.live.messages.load(Ordering::Relaxed),
            self.live.bytes.load(Ordering::Relaxed),
            self.live.cycles.load(Ordering::Relaxed),
        );
        let secs = (now - self.last.0).as_secs_f64().max(1e-9);
        let rate = |then: u64, now: u64| now.saturating_sub(then) as f64 / secs;
        let errors = self.live.errors.load(Ordering::Relaxed);
        let mb = rate(self.last.1.1, counts.1) / 1e6;
        let rates = match self.mode {
            Mode::Stream => format!("{mb:.2} MB/s"),
            Mode::Churn => format!("{:.0} connections/s, {mb:.2} MB/s", rate(self.last.1.2, counts.2)),
            Mode::Pingpong | Mode::Hold | Mode::Udp => {
                format!("{:.0} msg/s, {mb:.2} MB/s", rate(self.last.1.0, counts.0))
            }
        };
        let last = self
            .intervals
            .and_then(|board| Some((board.latest_complete()?, board.length)));
        let last = last.map_or(String::new(), |((_, s), length)| {
            let us = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
            format!(
                " | {:.0}-{:.0} s: p50 {} us, p99 {} us, max {} us, {} errors",
                s.t_s,
                s.t_s + length.as_secs_f64(),
                us(s.p50_us),
                us(s.p99_us),
                us(s.max_us),
                s.errors
            )
        });
        bar.set_message(format!("{rates}, {errors} errors{last}"));
        bar.tick();
        self.last = (now, counts);
    }
}

use std::sync::atomic::AtomicU64;

/// Rates seen while running, for the progress line.
#[derive(Default)]
pub struct LiveCounters {
    pub messages: AtomicU64,
    pub bytes: AtomicU64,
    pub cycles: AtomicU64,
    pub errors: AtomicU64,
}
