//! What a bench run measured: the human summary and the `--json` object.
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
pub mod warnings;

use std::fmt::Write as _;

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

    /// The text summary's list: `--percentiles` when given, else p50, p90,
    /// p99 and p99.9; then the max and the mean.
    fn describe(&self) -> String {
        let defaults = [
            (50.0, self.p50_us),
            (90.0, self.p90_us),
            (99.0, self.p99_us),
            (99.9, self.p999_us),
        ];
        let chosen: Vec<(f64, f64)> = if self.percentiles.is_empty() {
            defaults.to_vec()
        } else {
            self.percentiles.iter().map(|p| (p.p, p.us)).collect()
        };
        let mut out: Vec<String> = chosen.iter().map(|(p, us)| format!("p{p} {us:.0} us")).collect();
        out.push(format!("max {:.0} us", self.max_us));
        out.push(format!("mean {:.0} us", self.mean_us));
        out.join(", ")
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

    /// The summary printed when `--json` is absent: per mode, only the
    /// figures that mean something in it.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let shape = match self.mode.as_str() {
            "stream" => format!("{} connections", self.connections),
            _ => format!("{} connections x {} B", self.connections, self.size),
        };
        let warmup = match self.warmup_ran_s {
            Some(ran) => format!("{ran:.1} s of a {:.1} s warm-up (cut short)", self.warmup_s),
            None => format!("{:.1} s warm-up", self.warmup_s),
        };
        let _ = writeln!(
            out,
            "{} against {}: {shape}, {} thread(s), {:.1} s measured after {warmup}",
            self.mode, self.addr, self.threads, self.measured_s
        );
        if let Some(files) = &self.merged_from {
            let _ = writeln!(out, "merged      {} reports: {}", files.len(), files.join(", "));
            // A run says its warnings on stderr as they happen; a merge has
            // only this summary to say them in.
            for warning in &self.warnings {
                let _ = writeln!(out, "warning     {warning}");
            }
        }
        if let Some(why) = &self.stopped_early {
            let _ = writeln!(
                out,
                "stopped     after {:.1} s of {:.1} s: {why}; rates are over the {:.1} s measured",
                self.measured_s, self.duration_s, self.measured_s
            );
        }
        if self.mode != "churn" && self.mode != "udp" {
            let _ = writeln!(
                out,
                "connected   {} in {:.3} s",
                self.connected, self.connect_time_s
            );
        }
        let mb = self.bytes_per_s / 1e6;
        let (throughput, totals) = match self.mode.as_str() {
            "stream" => (format!("{mb:.2} MB/s echoed"), format!("{} bytes", self.bytes)),
            "churn" => (
                format!("{:.0} connections/s, {mb:.2} MB/s echoed", self.connections_per_s),
                format!("{} cycles, {} bytes", self.cycles, self.bytes),
            ),
            _ => (
                format!("{:.0} msg/s, {mb:.2} MB/s echoed", self.messages_per_s),
                format!("{} messages, {} bytes", self.messages, self.bytes),
            ),
        };
        if self.mode == "hold" {
            // Held idle: a throughput would only count the one exchange each.
            let _ = writeln!(
                out,
                "held        {} connections idle for {:.1} s ({} exchanges, one each to open it)",
                self.connected, self.measured_s, self.messages
            );
            if let Some(memory) = &self.server_memory {
                let _ = writeln!(
                    out,
                    "server rss  {:.1} MiB holding them ({:.1} MiB before): {:.0} bytes per connection",
                    memory.rss_held_bytes as f64 / (1 << 20) as f64,
                    memory.rss_before_bytes as f64 / (1 << 20) as f64,
                    memory.bytes_per_connection
                );
            }
        } else {
            let _ = writeln!(out, "throughput  {throughput}");
            let _ = writeln!(out, "totals      {totals}");
        }
        let target_and_achieved = |label: &str, rate: &Rate, unit: &str| {
            format!(
                "{label:<11} target {:.0}{unit}, achieved {:.0}{unit} ({:.1}%)\n",
                rate.target,
                rate.achieved,
                100.0 * rate.achieved / rate.target.max(f64::MIN_POSITIVE)
            )
        };
        if let Some(rate) = &self.connect_rate {
            out.push_str(&target_and_achieved("connects", rate, "/s"));
        }
        if let Some(rate) = &self.rate {
            out.push_str(&target_and_achieved("rate", rate, " msg/s"));
        }
        let open_loop = self.rate.is_some();
        let percentiles = |label: &str, l: &Latency, note: &str| {
            format!("{label:<11} {} ({} samples{note})\n", l.describe(), l.samples)
        };
        if let Some(l) = &self.latency {
            let note = if open_loop {
                ", from each message's intended send"
            } else {
                ""
            };
            out.push_str(&percentiles("latency", l, note));
        }
        if let Some(l) = &self.latency_uncorrected {
            out.push_str(&percentiles("uncorrected", l, ", from the actual send"));
        }
        if let Some(l) = &self.send_lag {
            out.push_str(&percentiles("send lag", l, ", actual minus intended send"));
        }
        if let Some(udp) = &self.udp {
            let _ = writeln!(
                out,
                "datagrams   {} sent, {} received, {} lost ({:.3}%), {} out of order, {} duplicated, {} corrupted, {} send errors",
                udp.sent,
                udp.received,
                udp.lost,
                udp.loss * 100.0,
                udp.out_of_order,
                udp.duplicated,
                udp.corrupted,
                udp.send_errors
            );
        }
        if let Some(tls) = &self.tls {
            let _ = writeln!(
                out,
                "tls         {}; {} handshakes ({} resumed)",
                tls.negotiated.describe().trim_start_matches("TLS: "),
                tls.handshakes,
                tls.resumed
            );
            if let Some(l) = &tls.handshake_latency {
                out.push_str(&percentiles("handshake", l, ", TCP connect to handshake done"));
            }
        }
        if let Some(late) = self.late_sends {
            let _ = writeln!(
                out,
                "late sends  {late} (written more than 1 ms after their time, or never)"
            );
        }
        let e = &self.errors;
        let _ = writeln!(
            out,
            "errors      {} (mismatches {}, early EOFs {}, resets {}, connect failures {}, timeouts {})",
            e.total(),
            e.mismatches,
            e.early_eofs,
            e.resets,
            e.connect_failures,
            e.timeouts
        );
        if let Some(tcp) = self.tcp.filter(|tcp| tcp.connections > 0) {
            let _ = writeln!(
                out,
                "tcp         {} (TCP_INFO as the window ended)",
                tcp.describe()
            );
        }
        if self.stalled_connections > 0 {
            let _ = writeln!(
                out,
                "stalled     {} connections completed no exchange in the window (counted as timeouts)",
                self.stalled_connections
            );
        }
        for error in &self.file_errors {
            let _ = writeln!(out, "file error  {error}");
        }
        let (client, server, unit) = if self.mode == "churn" {
            (
                self.cpu.client_us_per_cycle,
                self.cpu.server_us_per_cycle,
                "cycle",
            )
        } else {
            (
                self.cpu.client_us_per_message,
                self.cpu.server_us_per_message,
                "msg",
            )
        };
        let each = |v: Option<f64>| v.map(|us| format!(" ({us:.2} us/{unit})")).unwrap_or_default();
        let _ = write!(
            out,
            "cpu         client {:.2} s{}",
            self.cpu.client_seconds,
            each(client)
        );
        if let Some(seconds) = self.cpu.server_seconds {
            let _ = write!(out, ", server {seconds:.2} s{}", each(server));
        }
        if self.io_uring_sends {
            out.push_str("; sends batched through io_uring");
        }
        out.push('\n');
        for (i, step) in self.steps.iter().flatten().enumerate() {
            let f = &step.figures;
            let us = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0} us"));
            let _ = writeln!(
                out,
                "step {:<6} target {:.0} msg/s: achieved {:.0} msg/s, p50 {}, p99 {}, max {}, {} errors",
                i + 1,
                step.target_per_s,
                f.messages_per_s,
                us(f.p50_us),
                us(f.p99_us),
                us(f.max_us),
                f.errors
            );
        }
        if let Some(search) = &self.max_rate {
            let _ = writeln!(
                out,
                "max rate    {:>12} {:>12} {:>10}  gates",
                "probe msg/s", "achieved", "p99 us"
            );
            for probe in &search.probes {
                let p99 = probe.p99_us.map_or("-".to_string(), |v| format!("{v:.0}"));
                let verdict = match (probe.interrupted, probe.pass) {
                    (true, _) => "interrupted",
                    (false, true) => "PASS",
                    (false, false) => "FAIL",
                };
                let _ = writeln!(
                    out,
                    "            {:>12.0} {:>12.0} {p99:>10}  {verdict}",
                    probe.rate, probe.achieved
                );
            }
            let so_far = if search.interrupted {
                " (search interrupted)"
            } else {
                ""
            };
            let _ = match (search.low, search.high) {
                (Some(low), Some(high)) => writeln!(
                    out,
                    "max rate    between {low:.0} (passed) and {high:.0} msg/s (failed){so_far}"
                ),
                (Some(low), None) if search.interrupted => {
                    writeln!(out, "max rate    at least {low:.0} msg/s{so_far}")
                }
                (Some(low), None) => {
                    writeln!(out, "max rate    at least {low:.0} msg/s (every probe passed)")
                }
                (None, Some(high)) => writeln!(
                    out,
                    "max rate    none: every probe failed its gates, below {high:.0} msg/s{so_far}"
                ),
                (None, None) => writeln!(out, "max rate    unknown: interrupted before any probe finished"),
            };
            out.push_str("(the figures above are the highest passing probe's)\n");
        }
        for verdict in self.slo.iter().flatten() {
            let value = match (&verdict.measured, verdict.value) {
                (Some(measured), _) => format!("measured {measured}"),
                (None, Some(v)) => format!("measured {v:.3}"),
                (None, None) => "nothing measured".to_string(),
            };
            let verdict_word = if verdict.pass { "PASS" } else { "FAIL" };
            let _ = writeln!(out, "slo         {verdict_word}  {} ({value})", verdict.gate);
        }
        out
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
