//! What one load-generator thread measured, before the threads' tallies
//! are added up into a report (`crate::bench::report::collect`).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::bench::probe::CpuWindow;
use crate::bench::report::Errors;
use crate::bench::report::histograms;
use crate::tls::session::Negotiated;

/// What one thread measured.
pub struct Tally {
    pub connected: u64,
    pub connect_time: Duration,
    pub messages: u64,
    pub bytes: u64,
    pub cycles: u64,
    /// Round trips in microseconds; open loop: from each message's intended
    /// send time (corrected for coordinated omission).
    pub latency: Histogram<u64>,
    /// Open loop: the same messages from their actual send.
    pub latency_uncorrected: Option<Histogram<u64>>,
    /// Open loop: actual send minus intended send.
    pub send_lag: Option<Histogram<u64>>,
    /// Open loop: messages first written more than `LATE` (1 ms) after their
    /// time, or never written.
    pub late_sends: u64,
    /// Open loop: late sends whose delay was this load generator's own
    /// (its loop late while the connection could take the message).
    pub generator_late: u64,
    /// Open loop: messages written (their first byte) in the window.
    pub sends: u64,
    pub errors: Errors,
    /// `TCP_INFO` of the connections open as the window ended.
    pub tcp: Option<crate::bench::report::tcp::TcpFigures>,
    /// CPU time over the window, from the worker that holds the probe.
    pub cpu_window: Option<CpuWindow>,
    /// Its pingpong messages went out in io_uring batches.
    pub batched_sends: bool,
    /// How much of the warm-up ran (less than asked when stopped in it).
    pub warmup_ran: Duration,
    /// How much of the measured window this worker ran.
    pub measured: Duration,
    /// When the window began.
    pub window_from: Option<Instant>,
    /// Why its window ended before the planned end, if it did.
    pub stopped_early: Option<&'static str>,
    /// The signal that ended it (SIGINT, SIGTERM, SIGHUP).
    pub signal: Option<i32>,
    /// Closed loop: connections with no exchange completed in the window.
    pub stalled: u64,
    /// `--tls`: what the handshakes settled on, and how many there were.
    pub tls: Option<TlsTally>,
    /// `--tls`: from the start of each TCP connect to the end of its
    /// handshake, microseconds (churn: those in the window).
    pub handshake_latency: Histogram<u64>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            connected: 0,
            connect_time: Duration::ZERO,
            messages: 0,
            bytes: 0,
            cycles: 0,
            latency: histograms::new_histogram(),
            latency_uncorrected: None,
            send_lag: None,
            late_sends: 0,
            generator_late: 0,
            sends: 0,
            errors: Errors::default(),
            tcp: None,
            cpu_window: None,
            batched_sends: false,
            warmup_ran: Duration::ZERO,
            measured: Duration::ZERO,
            window_from: None,
            stopped_early: None,
            signal: None,
            stalled: 0,
            tls: None,
            handshake_latency: histograms::new_histogram(),
        }
    }
}

/// What a worker saw of TLS.
pub struct TlsTally {
    /// The first completed handshake's protocol, suite and ALPN.
    pub negotiated: Option<Negotiated>,
    pub handshakes: u64,
    /// Handshakes that resumed an earlier session (`--tls-resume`).
    pub resumed: u64,
}
