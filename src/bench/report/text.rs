//! The summary printed when `--json` is absent.

use std::fmt::Write as _;

use super::{Latency, Rate, Report};

impl Latency {
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

impl Report {
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
        // Bytes and bits of payload (iperf3 and --rate's bit rates count bits).
        let mb = format!(
            "{:.2} MB/s echoed ({:.2} Mbit/s)",
            self.bytes_per_s / 1e6,
            self.bytes_per_s * 8.0 / 1e6
        );
        let (throughput, totals) = match self.mode.as_str() {
            "stream" => (mb, format!("{} bytes", self.bytes)),
            "churn" => (
                format!("{:.0} connections/s, {mb}", self.connections_per_s),
                format!("{} cycles, {} bytes", self.cycles, self.bytes),
            ),
            _ => (
                format!("{:.0} msg/s, {mb}", self.messages_per_s),
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
