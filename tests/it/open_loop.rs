//! `mio-echo bench --rate`: the open loop, measured against servers whose
//! behaviour the test controls.

use crate::util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{ServerProcess, bench_json, number, run_bin};

/// An echo server, a thread per connection, that stops reading for `stall`
/// starting `after` its first connection arrives.
fn stalling_server(after: Duration, stall: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        let mut stall_window = None;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (from, until) = *stall_window.get_or_insert_with(|| {
                let from = Instant::now() + after;
                (from, from + stall)
            });
            thread::spawn(move || echo_with_stall(stream, from, until));
        }
    });
    addr
}

fn echo_with_stall(mut stream: TcpStream, from: Instant, until: Instant) {
    let mut buf = vec![0; 64 * 1024];
    loop {
        let now = Instant::now();
        if now >= from && now < until {
            // The behaviour under test: a server that stops reading.
            thread::sleep(until - now);
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// A server stall of S seconds in a D-second run at a constant rate: the
/// messages due during the stall wait for its end, the one due at its start
/// the whole S, so the fraction of messages slower than L is (S - L) / D and
/// the corrected p99 is S - 0.01 D. A closed loop has one message per
/// connection stuck in the stall, and its p99 stays far below S.
#[test]
fn a_stall_shows_in_full_in_the_open_loop_and_is_omitted_by_the_closed_loop() {
    let (stall, duration) = (1.0, 4.0);
    let expected_p99 = stall - 0.01 * duration;
    let stall_at = Duration::from_millis(1500);
    let stall_for = Duration::from_secs_f64(stall);

    let addr = stalling_server(stall_at, stall_for);
    let (code, open, stderr) = bench_json(&addr, &["-c", "10", "--rate", "2000", "-d", "4"]);
    assert_eq!(code, Some(0), "{stderr}");
    let p99 = number(&open, "latency.p99_us") / 1e6;
    let max = number(&open, "latency.max_us") / 1e6;
    let uncorrected_p99 = number(&open, "latency_uncorrected.p99_us") / 1e6;
    assert!(
        (expected_p99 - 0.1..expected_p99 + 0.15).contains(&p99),
        "corrected p99 {p99:.3} s, expected about {expected_p99:.3} s: {open}"
    );
    assert!(
        max >= 0.95 * stall,
        "corrected max {max:.3} s < the stall: {open}"
    );

    // With one message in flight per connection, the stall holds the rest
    // back unsent: timed from their actual send (uncorrected) they look
    // fast, timed from their intended send they do not.
    let addr = stalling_server(stall_at, stall_for);
    let args = ["-c", "10", "--rate", "2000", "-d", "4", "--max-inflight", "1"];
    let (code, held, stderr) = bench_json(&addr, &args);
    assert_eq!(code, Some(0), "{stderr}");
    let held_p99 = number(&held, "latency.p99_us") / 1e6;
    let held_uncorrected_p99 = number(&held, "latency_uncorrected.p99_us") / 1e6;
    assert!(
        (expected_p99 - 0.1..expected_p99 + 0.15).contains(&held_p99),
        "corrected p99 {held_p99:.3} s with --max-inflight 1: {held}"
    );
    assert!(
        held_uncorrected_p99 < stall / 10.0,
        "uncorrected p99 {held_uncorrected_p99:.3} s: {held}"
    );
    assert!(number(&held, "late_sends") > 0.0, "{held}");

    let addr = stalling_server(stall_at, stall_for);
    let (code, closed, stderr) = bench_json(&addr, &["-c", "10", "-d", "4"]);
    assert_eq!(code, Some(0), "{stderr}");
    let closed_p99 = number(&closed, "latency.p99_us") / 1e6;
    let closed_max = number(&closed, "latency.max_us") / 1e6;
    assert!(
        closed_max >= 0.9 * stall,
        "the closed loop saw the stall too: {closed}"
    );
    assert!(
        closed_p99 < stall / 10.0,
        "closed-loop p99 {closed_p99:.3} s: {closed}"
    );
    eprintln!(
        "stall {stall} s in {duration} s: open-loop p99 {p99:.3} s (uncorrected {uncorrected_p99:.3} s); \
         --max-inflight 1: p99 {held_p99:.3} s (uncorrected {held_uncorrected_p99:.4} s); closed-loop p99 {closed_p99:.4} s"
    );
}

#[test]
fn the_open_loop_holds_its_rate_against_the_server() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    for arrival in ["constant", "poisson"] {
        let (code, report, stderr) = bench_json(
            &addr,
            &["-c", "20", "--rate", "5000", "--arrival", arrival, "-d", "2"],
        );
        assert_eq!(code, Some(0), "{arrival}: {stderr}");
        let (target, achieved) = (number(&report, "rate.target"), number(&report, "rate.achieved"));
        assert_eq!(target, 5000.0);
        // Constant: only the messages in flight at the window's end are
        // missing. Poisson: the count itself varies, by about 1% here.
        let tolerance = if arrival == "constant" { 0.01 } else { 0.04 };
        assert!(
            (achieved / target - 1.0).abs() < tolerance,
            "{arrival}: achieved {achieved} of {target}: {report}"
        );
        assert_eq!(number(&report, "errors.timeouts"), 0.0);
        for field in ["latency", "latency_uncorrected", "send_lag"] {
            assert!(
                number(&report, &format!("{field}.samples")) > 9000.0,
                "{field}: {report}"
            );
        }
        assert!(report["late_sends"].is_u64(), "{report}");
        // The JSON histograms decode to the counts the percentiles came from.
        for (field, samples) in [
            ("latency", "latency.samples"),
            ("latency_uncorrected", "latency_uncorrected.samples"),
        ] {
            let text = report["histograms"][field].as_str().unwrap();
            let histogram = decode(text);
            assert_eq!(histogram.len() as f64, number(&report, samples), "{field}");
            assert_eq!(
                histogram.value_at_quantile(0.99) as f64,
                number(&report, &format!("{field}.p99_us"))
            );
        }
    }
}

fn decode(text: &str) -> hdrhistogram::Histogram<u64> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).unwrap();
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap()
}

/// Nothing is dropped silently: against a server that never reads, every
/// message due in the window is a timeout (sent into full buffers or never
/// sent at all), with its latency recorded as at least the time it waited,
/// and the run still ends on time.
#[test]
fn a_server_that_never_reads_gets_timeouts_not_silence() {
    // Never accepts: the kernel completes the connects, takes some bytes
    // into its buffers, then nothing more.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let args = [
        "-c",
        "2",
        "--rate",
        "2000",
        "-d",
        "1",
        "--max-inflight",
        "64",
        "--drain-timeout",
        "0.5",
    ];
    let (code, report, stderr) = bench_json(&addr, &args);
    let took = started.elapsed();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(took < Duration::from_secs(5), "ran {took:?}");
    let due = 2000.0;
    let timeouts = number(&report, "errors.timeouts");
    assert!(
        (timeouts - due).abs() <= 2.0,
        "{timeouts} timeouts for {due} messages due: {report}"
    );
    // At most 64 per connection were queued; the rest never went out.
    assert!(number(&report, "late_sends") >= due - 2.0 * 64.0, "{report}");
    assert_eq!(number(&report, "latency.samples"), timeouts, "{report}");
    assert!(
        number(&report, "latency.max_us") >= 1.0e6,
        "the first waited the whole run: {report}"
    );
    assert_eq!(number(&report, "messages"), 0.0);
    drop(listener);
}

/// `--rate 40Mbit` at 500 B is 10,000 messages a second, in UDP as in
/// TCP; the summary says the bits too.
#[test]
fn a_bit_rate_is_messages_at_the_message_size() {
    let server = ServerProcess::start(&["--udp", "--udp-rate", "1M"]);
    let addr = server.addr.to_string();
    for mode in ["pingpong", "udp"] {
        let (code, report, stderr) = bench_json(
            &addr,
            &[
                "-c", "10", "--mode", mode, "--rate", "40Mbit", "--size", "500", "-d", "1",
            ],
        );
        assert_eq!(code, Some(0), "{mode}: {stderr}");
        // Messages due in the window: UDP's schedule may leave one at its edge.
        let target = number(&report, "rate.target");
        assert!(
            (target - 10_000.0).abs() <= 1.0,
            "{mode}: target {target}: {report}"
        );
        // What the rate governs is what went out (a UDP echo on a busy
        // machine may lose some on the way back).
        let sent = match mode {
            "udp" => number(&report, "udp.sent"),
            _ => number(&report, "rate.achieved"),
        };
        assert!(
            (sent / 10_000.0 - 1.0).abs() < 0.02,
            "{mode}: sent {sent}: {report}"
        );
    }
    let output = run_bin(
        &[
            "bench", "--addr", &addr, "-c", "4", "--rate", "8Mbit/s", "--size", "1k", "-d", "0.5",
        ],
        b"",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // 1,000 messages of 1,000 B a second: 1 MB/s, 8 Mbit/s echoed.
    let line = stdout
        .lines()
        .find(|line| line.starts_with("throughput"))
        .unwrap();
    let figure = |unit: &str| -> f64 {
        let before = &line[..line.find(unit).unwrap_or_else(|| panic!("no {unit} in {line}"))];
        before.rsplit([' ', '(']).next().unwrap().parse().unwrap()
    };
    let (megabytes, megabits) = (figure(" MB/s"), figure(" Mbit/s"));
    assert!((megabits - 8.0 * megabytes).abs() < 0.05, "{line}");
    assert!((megabits / 8.0 - 1.0).abs() < 0.05, "{line}");
}

#[test]
fn bad_rates_are_usage_errors() {
    for args in [
        &["--rate", "0"][..],
        &["--rate", "-5"],
        &["--rate", "1e12"],
        &["--rate", "abc"],
        &["--rate", "10:0"],
        &["--rate", "100", "--max-inflight", "0"],
        &["--rate", "100", "--mode", "stream"],
        &["--rate", "100", "--mode", "hold"],
        &["--rate-steps", "100,0"],
        &["--rate", "100", "--rate-steps", "100"],
        &["--rate", "100", "--pacing-grid", "0"],
        &["--rate", "100", "--pacing-grid", "0.000001"],
        &["--rate", "100", "--pacing-grid", "2"],
        &["--rate", "100", "--pacing-grid", "1ms?"],
        // Bit rates: under 1 message a second at the size, or not a unit.
        &["--rate", "1kbit"],
        &["--rate", "100Mbitz"],
        &["--rate", "0bit"],
        &["--rate-steps", "10Mbit,1kbit", "--size", "1k"],
        &["--rate", "2000Gbit", "--size", "1"],
    ] {
        let mut all = vec!["bench", "--port", "9"];
        all.extend_from_slice(args);
        let output = run_bin(&all, b"");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// An echo server, a thread per connection, that notes when each
/// `size`-byte message arrives.
fn timestamping_server(size: usize) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let noted = arrivals.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let noted = noted.clone();
            thread::spawn(move || {
                let mut message = vec![0; size];
                while stream.read_exact(&mut message).is_ok() {
                    noted.lock().unwrap().push(Instant::now());
                    if stream.write_all(&message).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, arrivals)
}

/// On a coarse grid the sends of a step arrive together, a step apart, and
/// each one's lag counts from its grid time: 40 msg/s over 4 connections
/// on a 100 ms grid is a burst of 4 every 100 ms, not one every 25 ms, and
/// the count is still the rate's.
#[test]
fn a_coarse_pacing_grid_sends_in_bursts_due_at_their_grid_time() {
    let (addr, arrivals) = timestamping_server(64);
    let args = [
        "-c",
        "4",
        "-s",
        "64",
        "--rate",
        "40",
        "--pacing-grid",
        "0.1",
        "--warmup",
        "0",
        "-d",
        "2",
    ];
    let (code, report, stderr) = bench_json(&addr, &args);
    assert_eq!(code, Some(0), "{stderr}");
    let times = arrivals.lock().unwrap().clone();
    assert!(times.len() >= 76, "{} arrivals: {report}", times.len());
    util::assert_bursts_a_step_apart(times, 100.0);
    let lag_p50 = number(&report, "send_lag.p50_us");
    assert!(
        lag_p50 < 15_000.0,
        "send lag p50 {lag_p50} us: counted from the exact schedule? {report}"
    );
    let achieved = number(&report, "rate.achieved");
    assert!((achieved / 40.0 - 1.0).abs() < 0.06, "{report}");
}

#[test]
fn a_ramp_reaches_its_average_rate() {
    let server = ServerProcess::start(&[]);
    let (code, report, stderr) = bench_json(
        &server.addr.to_string(),
        &["-c", "10", "--rate", "1000:5000", "-d", "2"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!((number(&report, "rate.target") - 3000.0).abs() < 1.0, "{report}");
    let achieved = number(&report, "rate.achieved");
    assert!((achieved / 3000.0 - 1.0).abs() < 0.02, "{report}");
}

/// An echo server that echoes at most `per_second` messages of `size`
/// bytes per second over all its connections (a token bucket of bytes).
fn throttled_server(per_second: f64, size: usize) -> String {
    use std::sync::{Arc, Mutex};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let bytes_per_second = per_second * size as f64;
    // (tokens, when last refilled); a burst of at most 10 ms of traffic.
    let bucket = Arc::new(Mutex::new((0.0f64, Instant::now())));
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let bucket = Arc::clone(&bucket);
            thread::spawn(move || {
                let mut buf = vec![0; size];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            let wait = {
                                let mut bucket = bucket.lock().unwrap();
                                let now = Instant::now();
                                let refill = (now - bucket.1).as_secs_f64() * bytes_per_second;
                                bucket.0 = (bucket.0 + refill).min(bytes_per_second / 100.0) - n as f64;
                                bucket.1 = now;
                                (bucket.0 < 0.0)
                                    .then(|| Duration::from_secs_f64(-bucket.0 / bytes_per_second))
                            };
                            if let Some(wait) = wait {
                                // The behaviour under test: a server slower than its load.
                                thread::sleep(wait);
                            }
                            if stream.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn max_rate_search_brackets_a_servers_capacity() {
    let capacity = 3000.0;
    let addr = throttled_server(capacity, 64);
    let args = [
        "-c",
        "8",
        "--size",
        "64",
        "-d",
        "1",
        "--warmup",
        "0.3",
        "--find-max-rate",
        "--slo",
        // p90, not p99: below capacity the 99th percentile of a 1 s probe
        // is a few stalls of a 2-core machine running the rest of the suite
        // (a probe at 2,000/s once failed on a 56 ms p99); above it the
        // queue grows and every percentile goes to seconds alike.
        "p90<50ms",
        "--rate",
        "1000",
    ];
    let (code, report, stderr) = bench_json(&addr, &args);
    assert_eq!(code, Some(0), "{stderr}");
    let search = &report["max_rate"];
    let (low, high) = (search["low"].as_f64().unwrap(), search["high"].as_f64().unwrap());
    assert!(low < high && (high - low) / high <= 0.05 + 1e-9, "{search}");
    assert!(
        low <= capacity * 1.1 && high >= capacity * 0.9,
        "[{low}, {high}] does not bracket {capacity} within 10%: {search}"
    );
    let probes = search["probes"].as_array().unwrap();
    assert!(probes.len() >= 4, "{search}");
    assert_eq!(probes[0]["rate"], 1000.0);
    assert_eq!(probes[1]["rate"], 2000.0, "doubling first");
    // The report's own figures are the highest passing probe's.
    assert_eq!(number(&report, "rate.target"), low);
    eprintln!(
        "capacity {capacity}: search answered [{low:.0}, {high:.0}] in {} probes",
        probes.len()
    );
}

/// Runs `mio-echo bench --json ARGS` against `addr` and returns its exit
/// code, report and stderr, and its own peak resident set in bytes: its
/// VmHWM, sampled until it exits. (Its rusage would not do: a child's
/// maximum RSS includes the test process's own at the fork, and the one
/// test process of the whole suite can be large.)
fn bench_json_with_peak_rss(addr: &str, args: &[&str]) -> (Option<i32>, serde_json::Value, String, u64) {
    use std::io::Read;
    let mut child = std::process::Command::new(crate::util::BIN)
        .args(["bench", "--addr", addr, "--json"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        text
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        err.read_to_string(&mut text).unwrap();
        text
    });
    let started = Instant::now();
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < util::TIMEOUT, "bench did not finish");
        // A high-water mark: sampling it misses nothing but the last moments.
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
        let hwm = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|kib| kib.split_whitespace().next()?.parse::<u64>().ok());
        peak = peak.max(hwm.unwrap_or(0) * 1024);
        std::thread::sleep(Duration::from_millis(10));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let report =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|err| panic!("{err}: {stdout} / {stderr}"));
    (status.code(), report, stderr, peak)
}

/// A million messages a second due against a server that never reads:
/// stored one by one they would take well over 100 MB; with at most
/// --max-inflight queued per connection, bench stays small.
#[test]
fn memory_stays_bounded_when_nothing_is_read() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let args = [
        "-c",
        "2",
        "--rate",
        "1000000",
        "-d",
        "2",
        "--drain-timeout",
        "0.2",
    ];
    let (code, report, stderr, rss) = bench_json_with_peak_rss(&addr, &args);
    assert_eq!(code, Some(1), "{stderr}");
    let timeouts = number(&report, "errors.timeouts");
    assert!(
        (timeouts - 2e6).abs() <= 4.0,
        "every due message accounted for: {timeouts}"
    );
    assert!(rss > 0, "bench's memory was never sampled");
    assert!(rss < 100 << 20, "bench grew to {} MiB", rss >> 20);
    drop(listener);
}

/// Ctrl-C in an open loop ends the window there: the messages that would
/// have been due after it are not sent, and are not timeouts.
#[test]
fn ctrl_c_ends_the_open_loop_without_inventing_timeouts() {
    use std::process::{Command, Stdio};
    let server = ServerProcess::start(&["--stats-interval", "0.1"]);
    let child = Command::new(util::BIN)
        .args([
            "bench",
            "--addr",
            &server.addr.to_string(),
            "-c",
            "4",
            "--rate",
            "2000",
            "-d",
            "30",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server.wait_for_log_count("stats: 4 active", 2);
    // SAFETY: kill(2) on the PID of a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drained for {:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(130));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(number(&report, "errors.timeouts"), 0.0, "{report}");
    assert_eq!(report["stopped_early"], "interrupted");
    let measured = number(&report, "measured_s");
    let rate = number(&report, "rate.target");
    assert!((rate - 2000.0).abs() < 1.0, "{report}");
    assert!(
        measured < 10.0 && number(&report, "latency.samples") <= 2000.0 * measured + 4.0,
        "{report}"
    );
}
