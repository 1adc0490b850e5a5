//! What a bench run measured: the `--json` object (the text summary is `text.rs`).
//! Field names are documented in docs/bench.md; keep the two in step.

pub mod collect;
pub mod errors;
pub mod histograms;
pub mod html;
pub mod intervals;
pub mod live;
pub mod merge;
pub mod output;
pub mod process;
pub mod tcp;
mod text;
pub mod warnings;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub use errors::Errors;
pub use intervals::Summary as IntervalSummary;

/// Round-trip percentiles in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    /// `--percentiles`: the ones asked for, in their order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<Percentile>,
}

/// One percentile asked for with `--percentiles`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentile {
    /// From more than 0 to 100 (99.99).
    pub p: f64,
    pub us: f64,
}

impl Latency {
    /// Percentiles of a histogram of microseconds; `None` when it is empty.
    pub fn from_micros(histogram: &Histogram<u64>) -> Option<Latency> {
        if histogram.is_empty() {
            return None;
        }
        let us = |quantile: f64| histogram.value_at_quantile(quantile) as f64;
        Some(Latency {
            samples: histogram.len(),
            p50_us: us(0.50),
            p90_us: us(0.90),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: histogram.max() as f64,
            mean_us: histogram.mean(),
            percentiles: Vec::new(),
        })
    }
}

/// Target and achieved rate of an open loop, messages per second.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Rate {
    /// Messages due in the window over its length.
    pub target: f64,
    /// Messages whose echo completed in the window over its length.
    pub achieved: f64,
}

/// Histograms in microseconds, each the base64 of HdrHistogram's V2
/// deflate-compressed encoding.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Histograms {
    pub latency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_uncorrected: Option<String>,
    /// `--tls`: handshake latencies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<String>,
    /// Open loop: the send lags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lag: Option<String>,
}

/// `--tls`: what the handshakes settled on and what they took.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsFigures {
    #[serde(flatten)]
    pub negotiated: crate::tls::session::Negotiated,
    /// Handshakes completed (churn: in the window; else all of the run's).
    pub handshakes: u64,
    /// Of those, sessions resumed (`--tls-resume`); the rest were full.
    pub resumed: u64,
    /// From the start of the TCP connect to the end of the handshake.
    pub handshake_latency: Option<Latency>,
}

/// CPU time over the measured window, the load generator's and, with
/// `--server-pid`, the server's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cpu {
    pub client_seconds: f64,
    /// Per round trip (pingpong, hold); `null` in stream and churn.
    pub client_us_per_message: Option<f64>,
    /// Per connect-send-echo-close cycle (churn only).
    pub client_us_per_cycle: Option<f64>,
    pub server_seconds: Option<f64>,
    pub server_us_per_message: Option<f64>,
    pub server_us_per_cycle: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The command line that ran it, and where (for the HTML report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub mode: String,
    pub addr: String,
    /// `--proxy-header`: the PROXY protocol version each connection began with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_header: Option<String>,
    pub connections: usize,
    pub size: usize,
    pub threads: usize,
    pub warmup_s: f64,
    /// The warm-up that ran, when a stop cut it short (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_ran_s: Option<f64>,
    /// The window asked for.
    pub duration_s: f64,
    /// The window that ran: shorter when the run stopped early. Every rate
    /// is over this time.
    pub measured_s: f64,
    /// Why the window ended early (every connection lost, none could be
    /// made, interrupted); `null` when it ran to its end.
    pub stopped_early: Option<String>,
    /// A signal ended the run: Ctrl-C (SIGINT), SIGTERM or SIGHUP; the
    /// exit status is then 128 + its number (130, 143, 129).
    pub interrupted: bool,
    /// Which signal, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Closed loop: connections that completed no exchange in the window
    /// (a server at its connection limit leaves them in its backlog); their
    /// messages count as timeouts.
    #[serde(default)]
    pub stalled_connections: u64,
    /// Output files that could not be written at the end: the report is
    /// still printed, and the exit status is 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_errors: Vec<String>,
    /// `hold` with `--server-pid`: the server's memory while holding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_memory: Option<ServerMemory>,
    /// Connections established in the connect phase (all modes but churn).
    pub connected: u64,
    /// Time to establish all of them.
    pub connect_time_s: f64,
    /// Round trips completed in the window (pingpong, hold).
    pub messages: u64,
    pub messages_per_s: f64,
    /// Echoed bytes received and verified in the window.
    pub bytes: u64,
    pub bytes_per_s: f64,
    /// Whole connect-send-echo-close cycles completed in the window (churn).
    pub cycles: u64,
    pub connections_per_s: f64,
    /// `--connect-rate`: the rate asked for and the one achieved, connections
    /// per second (the connect phase's; churn: cycles per second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_rate: Option<Rate>,
    /// Open loop: the rate asked for and the rate echoed back, messages/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// Round trips; in an open loop from each message's intended send
    /// time (corrected for coordinated omission).
    pub latency: Option<Latency>,
    /// Open loop: the same messages timed from their actual send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_uncorrected: Option<Latency>,
    /// Open loop: actual send minus intended send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_lag: Option<Latency>,
    /// Open loop: messages written more than 1 ms after their time, or never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_sends: Option<u64>,
    /// The whole run's histograms, for `bench merge` and HdrHistogram's tools.
    pub histograms: Histograms,
    pub errors: Errors,
    /// TCP: `TCP_INFO` of the connections open as the window ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<tcp::TcpFigures>,
    pub cpu: Cpu,
    /// Pingpong messages went out in io_uring batches, one system call per
    /// turn (false: one `send(2)` per message).
    pub io_uring_sends: bool,
    /// What the run warned about on stderr, in order.
    pub warnings: Vec<String>,
    /// `--slo`: each gate with its measured value and verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<Vec<Verdict>>,
    /// When the measured window ran, wall-clock (for `bench merge`).
    pub window: Option<Window>,
    /// `--interval`: figures per stretch of the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intervals: Option<Vec<IntervalSummary>>,
    /// `--rate-steps`: figures per step, with its target rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Step>>,
    /// `--find-max-rate`: the answer and every probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<MaxRate>,
    /// `--tls`: protocol, cipher suite and handshakes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFigures>,
    /// `--mode udp`: what became of the datagrams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpFigures>,
    /// `bench merge`: the files merged, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<Vec<String>>,
}

/// The server's resident memory, read from /proc before the connections
/// were opened and at the end of the window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ServerMemory {
    pub rss_before_bytes: u64,
    pub rss_held_bytes: u64,
    /// (held - before) / connections held.
    pub bytes_per_connection: f64,
}

/// The measured window in Unix time, seconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Window {
    pub start_unix_s: f64,
    pub end_unix_s: f64,
}

/// One step of `--rate-steps`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    pub target_per_s: f64,
    #[serde(flatten)]
    pub figures: IntervalSummary,
}

impl Report {
    /// `--percentiles`: each latency's chosen percentiles, from the run's
    /// histograms.
    pub fn add_percentiles(&mut self, chosen: &[f64]) -> Result<(), String> {
        if chosen.is_empty() {
            return Ok(());
        }
        let pairs = [
            (&mut self.latency, Some(&self.histograms.latency)),
            (
                &mut self.latency_uncorrected,
                self.histograms.latency_uncorrected.as_ref(),
            ),
            (&mut self.send_lag, self.histograms.send_lag.as_ref()),
        ];
        for (latency, encoded) in pairs {
            if let (Some(latency), Some(encoded)) = (latency, encoded) {
                let histogram = histograms::decode(encoded)?;
                latency.percentiles = chosen
                    .iter()
                    .map(|&p| Percentile {
                        p,
                        us: histogram.value_at_quantile(p / 100.0) as f64,
                    })
                    .collect();
            }
        }
        Ok(())
    }

    /// True when `--slo` was given and a gate failed.
    pub fn failed_a_gate(&self) -> bool {
        self.slo.iter().flatten().any(|verdict| !verdict.pass)
    }
}

/// The answer and how it was found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MaxRate {
    /// The highest rate that passed; `null` when none did.
    pub low: Option<f64>,
    /// The lowest rate that failed; `null` when every probe passed up to
    /// the highest rate bench can drive.
    pub high: Option<f64>,
    pub probes: Vec<RateProbe>,
    /// A signal cut the search short: `low` and `high` are what the probes
    /// before it found, no bracket was made up.
    #[serde(default)]
    pub interrupted: bool,
}

/// What became of the window's datagrams.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UdpFigures {
    /// Datagrams due in the window (and sent).
    pub sent: u64,
    pub received: u64,
    /// No reply by the end of the drain.
    pub lost: u64,
    /// A later datagram of the same source was answered first.
    pub out_of_order: u64,
    /// Replies to a datagram already answered.
    pub duplicated: u64,
    /// Replies that are not exactly what was sent.
    pub corrupted: u64,
    /// Sends the socket refused (its buffer full, or an ICMP error).
    pub send_errors: u64,
    /// `lost / sent`.
    pub loss: f64,
}

/// A gate with what the run measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub gate: String,
    /// The measured value, in the gate's unit (latency in microseconds,
    /// error share as a percentage); `null` when the run measured none.
    pub value: Option<f64>,
    pub pass: bool,
    /// The measured value as the gate wrote its own (`0.873 ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
}

/// One probe of the search.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RateProbe {
    pub rate: f64,
    pub achieved: f64,
    pub p99_us: Option<f64>,
    pub pass: bool,
    /// A signal ended this probe: neither a pass nor a fail.
    #[serde(default)]
    pub interrupted: bool,
}
