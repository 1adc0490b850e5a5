//! When `mio-echo bench` has nothing left to measure, or is told to stop:
//! it says so at once, stops early, takes its rates over the time traffic
//! really ran, and on Ctrl-C still prints what it measured. Also what its
//! summary shows per mode, and the warnings it owes the user.

use crate::util;

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{BIN, ServerProcess, bench_json, number, run_bin, wait_child};

fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

fn spawn_bench(args: &[&str]) -> Child {
    Command::new(BIN)
        .arg("bench")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(mut child: Child) -> (Option<i32>, String, String) {
    let status = wait_child(&mut child);
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status.code(), stdout, stderr)
}

#[test]
fn against_a_closed_port_every_mode_stops_at_once_and_says_why() {
    let addr = closed_port();
    for mode in ["pingpong", "stream", "churn", "hold"] {
        let started = Instant::now();
        let (code, report, stderr) = bench_json(&addr, &["--mode", mode, "-c", "8", "-d", "30"]);
        let took = started.elapsed();
        assert_eq!(code, Some(1), "{mode}: {stderr}");
        assert!(took < Duration::from_secs(5), "{mode}: ran {took:?} of its 30 s");
        assert_eq!(
            report["stopped_early"], "no connection could be made",
            "{mode}: {report}"
        );
        assert!(
            number(&report, "errors.connect_failures") >= 8.0,
            "{mode}: {report}"
        );
        let warning = format!("connecting to {addr} failed: connection refused");
        assert!(
            stderr.contains(&format!("warning: {warning}")),
            "{mode}: {stderr}"
        );
        assert!(
            report["warnings"][0].as_str().unwrap().starts_with(&warning),
            "{report}"
        );
        assert_eq!(
            stderr.matches("warning:").count(),
            1,
            "one warning, not one per failure: {stderr}"
        );
    }
}

#[test]
fn a_server_that_dies_mid_run_ends_the_run_with_rates_over_the_time_it_lived() {
    let server = ServerProcess::start(&["--stats-interval", "0.1"]);
    let addr = server.addr.to_string();
    let bench = spawn_bench(&["--addr", &addr, "--json", "-c", "10", "-d", "30"]);
    // Two stats lines with all ten open: traffic has flowed for a while.
    server.wait_for_log_count("stats: 10 active", 2);
    let started = Instant::now();
    drop(server); // killed
    let (code, stdout, stderr) = finish(bench);
    let took = started.elapsed();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        took < Duration::from_secs(5),
        "ran on for {took:?} with no server"
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["stopped_early"], "every connection was lost", "{report}");
    let measured = number(&report, "measured_s");
    assert!(measured > 0.0 && measured < 10.0, "{report}");
    assert_eq!(number(&report, "duration_s"), 30.0);
    let lost = number(&report, "errors.resets") + number(&report, "errors.early_eofs");
    assert_eq!(lost, 10.0, "{report}");
    let rate = number(&report, "messages") / measured;
    assert!(
        (number(&report, "messages_per_s") - rate).abs() <= rate * 1e-9 + 1e-9,
        "the rate is over the measured time: {report}"
    );
}

#[test]
fn ctrl_c_prints_the_summary_so_far_and_exits_130() {
    let server = ServerProcess::start(&["--stats-interval", "0.1"]);
    let addr = server.addr.to_string();
    let bench = spawn_bench(&["--addr", &addr, "-c", "4", "-d", "30"]);
    // Two stats lines with all four open: traffic has flowed for a while.
    server.wait_for_log_count("stats: 4 active", 2);
    // SAFETY: kill(2) on the PID of a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(bench.id() as libc::pid_t, libc::SIGINT) }, 0);
    let started = Instant::now();
    let (code, stdout, stderr) = finish(bench);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(code, Some(130), "{stdout} {stderr}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    for word in ["throughput", "msg/s", "latency", "errors      0"] {
        assert!(stdout.contains(word), "{word} missing: {stdout}");
    }
}

#[test]
fn an_unreadable_server_pid_and_an_unusable_source_address_are_warned_about() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    // Above the kernel's PID limit (2^22), so no such process.
    let (code, report, stderr) = bench_json(&addr, &["-c", "2", "-d", "0.2", "--server-pid", "99999999"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: no process 99999999 can be read here"),
        "{stderr}"
    );
    assert!(report["cpu"]["server_seconds"].is_null());
    assert_eq!(report["warnings"].as_array().unwrap().len(), 1, "{report}");
    // A documentation address (RFC 5737) no interface here has; traffic
    // still goes only to the loopback server, and fails at bind.
    let (code, report, stderr) = bench_json(&addr, &["-c", "2", "-d", "0.2", "--source-ips", "192.0.2.1"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "warning: source address 192.0.2.1 cannot be used here: cannot assign requested address"
        ),
        "{stderr}"
    );
    assert_eq!(number(&report, "errors.connect_failures"), 2.0);
}

#[test]
fn the_summary_shows_what_each_mode_measures() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let pid = server.pid().to_string();
    let human = |mode: &str| {
        let output = run_bin(
            &[
                "bench",
                "--addr",
                &addr,
                "--mode",
                mode,
                "-c",
                "4",
                "-d",
                "0.3",
                "--server-pid",
                &pid,
            ],
            b"",
        );
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{mode}: {text}");
        text
    };
    let stream = human("stream");
    assert!(
        stream.starts_with(&format!("stream against {addr}: 4 connections, ")),
        "{stream}"
    );
    assert!(
        !stream.contains("x 512 B") && !stream.contains("msg/s") && !stream.contains("messages"),
        "{stream}"
    );
    assert!(stream.contains("MB/s echoed"), "{stream}");
    let churn = human("churn");
    assert!(!churn.contains("messages") && !churn.contains("msg/s"), "{churn}");
    assert!(
        churn.contains("connections/s") && churn.contains("cycles") && churn.contains("us/cycle"),
        "{churn}"
    );
    let pingpong = human("pingpong");
    assert!(
        pingpong.contains("msg/s") && pingpong.contains("us/msg") && !pingpong.contains("cycles"),
        "{pingpong}"
    );
    // In JSON, churn's CPU is per cycle, and nothing is called per message.
    let (_, report, _) = bench_json(
        &addr,
        &["--mode", "churn", "-c", "4", "-d", "0.3", "--server-pid", &pid],
    );
    let cpu = &report["cpu"];
    assert!(
        cpu["client_us_per_message"].is_null() && cpu["server_us_per_message"].is_null(),
        "{cpu}"
    );
    assert!(cpu["client_us_per_cycle"].as_f64().unwrap() > 0.0, "{cpu}");
    assert!(cpu["server_us_per_cycle"].as_f64().is_some(), "{cpu}");
}

#[test]
fn drain_timeout_bounds_the_wait_for_a_server_that_never_echoes() {
    // Never accepts: the kernel completes the connects into the backlog and
    // takes the bytes, but nothing ever comes back.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let (code, report, _) = bench_json(&addr, &["-c", "3", "-d", "0.2", "--drain-timeout", "0.5"]);
    let took = started.elapsed();
    assert_eq!(code, Some(1));
    assert_eq!(number(&report, "errors.timeouts"), 3.0, "{report}");
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} with --drain-timeout 0.5"
    );
    drop(listener);
}

/// A server that accepts and reads but never answers; each accepted
/// connection's EOF (bench half-closing it in its drain) is reported on
/// the channel.
fn never_echoes() -> (String, std::sync::mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (eof, told) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let eof = eof.clone();
            std::thread::spawn(move || {
                let mut sink = [0; 4096];
                while let Ok(1..) = stream.read(&mut sink) {}
                let _ = eof.send(());
                // Held open: the bench's drain waits on it.
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    (addr, told)
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: kill only sends a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, signal) };
}

/// Issue 19, item 13: a signal during the drain marks the run interrupted
/// and counts what is in flight as timeouts (before, against a server that
/// never echoes: 0 errors, `interrupted: false`, exit 0). An open loop, so
/// that the window's messages are in flight in the drain (a closed loop
/// gives up on connections never answered as its window ends).
#[test]
fn a_signal_in_the_drain_is_an_interrupted_run_with_timeouts() {
    let (addr, drained) = never_echoes();
    let bench = spawn_bench(&[
        "--addr",
        &addr,
        "--json",
        "-c",
        "2",
        "-d",
        "0.3",
        "--rate",
        "20",
        "--drain-timeout",
        "60",
    ]);
    // Both connections half-closed: the window is over, the drain waits.
    for _ in 0..2 {
        drained.recv_timeout(util::TIMEOUT).expect("the drain began");
    }
    signal(&bench, libc::SIGINT);
    let (code, stdout, stderr) = finish(bench);
    assert_eq!(code, Some(130), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect(&stderr);
    assert_eq!(report["interrupted"], true, "{report}");
    assert_eq!(report["signal"], "SIGINT", "{report}");
    // Every message due in the window (20/s for 0.3 s) is a timeout.
    let timeouts = number(&report, "errors.timeouts");
    assert!((5.0..=7.0).contains(&timeouts), "{report}");
}

/// Issue 19, item 13: SIGTERM and SIGHUP end a run as Ctrl-C does: the
/// summary, the JSON and the files are still written, exit 128 + signal
/// (before, `timeout 60 mio-echo bench` or a deleted Kubernetes Job left
/// nothing).
#[test]
fn sigterm_and_sighup_end_a_run_with_its_results() {
    let dir = util::tls::Scratch::new("bench-sigterm");
    for (sig, name, code) in [(libc::SIGTERM, "SIGTERM", 143), (libc::SIGHUP, "SIGHUP", 129)] {
        let server = ServerProcess::start(&["--stats-interval", "0.1"]);
        let addr = server.addr.to_string();
        let hgrm = dir.path(&format!("{name}.hgrm"));
        let bench = spawn_bench(&[
            "--addr",
            &addr,
            "--json",
            "-c",
            "4",
            "-d",
            "60",
            "--hgrm",
            hgrm.to_str().unwrap(),
        ]);
        // Two stats lines with all four open: traffic has flowed a while.
        server.wait_for_log_count("stats: 4 active", 2);
        signal(&bench, sig);
        let (exit, stdout, stderr) = finish(bench);
        assert_eq!(exit, Some(code), "{name}: {stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).expect(&stderr);
        assert_eq!(report["interrupted"], true, "{name}: {report}");
        assert_eq!(report["signal"], name, "{report}");
        assert!(number(&report, "messages") > 0.0, "{report}");
        let written = std::fs::read_to_string(&hgrm).unwrap();
        assert!(written.contains("Percentile"), "{name}: {written}");
    }
}

/// Issue 19, item 13: Ctrl-C during `--find-max-rate` is an interrupted
/// probe and an interrupted search, exit 130 (before, the probe was a FAIL,
/// a bracket was made up, and it exited 0).
#[test]
fn ctrl_c_in_a_rate_search_is_an_interrupted_search() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let mut bench = Command::new(BIN)
        .args([
            "bench",
            "--addr",
            &addr,
            "--json",
            "-c",
            "4",
            "-d",
            "0.5",
            "--find-max-rate",
        ])
        .args(["--rate", "500", "--slo", "p99<500ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first probe's verdict on stderr, then Ctrl-C in the second.
    let mut stderr = std::io::BufReader::new(bench.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("probe ") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0,
            "no probe line"
        );
    }
    assert!(line.trim_end().ends_with("PASS"), "{line}");
    // The second probe is starting or running: either way it is the one
    // interrupted (a signal between two probes is kept for the next).
    signal(&bench, libc::SIGINT);
    let status = wait_child(&mut bench);
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let mut stdout = String::new();
    bench.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(
        rest.contains("msg/s: interrupted") || rest.contains(": interrupted"),
        "{rest}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect(&rest);
    let search = &report["max_rate"];
    assert_eq!(search["interrupted"], true, "{report}");
    assert_eq!(search["low"], 500.0, "{report}");
    assert!(search["high"].is_null(), "no bracket made up: {report}");
    let last = search["probes"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["interrupted"], true, "{report}");
    assert_eq!(last["pass"], false);
    assert_eq!(report["interrupted"], true);
}

/// Issue 19, item 13: output files are opened before connecting, and
/// `--check` fails on a path that cannot be written (before: "valid", and
/// the run failed at its end, its summary lost).
#[test]
fn an_unwritable_output_file_fails_before_the_run() {
    let addr = closed_port();
    for flag in ["--hgrm", "--hdr-log"] {
        let check = run_bin(&["bench", "--check", flag, "/nonexistent-dir/out"], b"");
        assert_eq!(check.status.code(), Some(1), "{flag}");
        let said = String::from_utf8_lossy(&check.stderr);
        assert!(said.contains("cannot write /nonexistent-dir/out"), "{said}");
        let started = Instant::now();
        let run = run_bin(
            &["bench", "--addr", &addr, "-d", "30", flag, "/nonexistent-dir/out"],
            b"",
        );
        assert_eq!(run.status.code(), Some(1), "{flag}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(String::from_utf8_lossy(&run.stderr).contains("cannot write /nonexistent-dir/out"));
    }
}

/// Issue 19, item 13: connections the server never served (it is at its
/// connection limit) are counted, warned of, and their messages are
/// timeouts (before: "connected 5, 0 errors").
#[test]
fn a_closed_loop_counts_connections_that_were_never_served() {
    let server = ServerProcess::start(&["--max-connections", "2"]);
    let (code, report, stderr) = bench_json(
        &server.addr.to_string(),
        &["-c", "5", "-d", "0.5", "--drain-timeout", "1"],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(number(&report, "stalled_connections"), 3.0, "{report}");
    assert_eq!(number(&report, "errors.timeouts"), 3.0, "{report}");
    assert!(
        stderr.contains("3 of 5 connections completed no exchange"),
        "{stderr}"
    );
}

/// Issue 19, item 13: `hold --server-pid` reports the server's memory, and
/// its summary shows no throughput.
#[test]
fn hold_reports_the_servers_memory_per_connection() {
    let server = ServerProcess::start(&[]);
    let pid = server.pid().to_string();
    let addr = server.addr.to_string();
    let args = [
        "--mode",
        "hold",
        "-c",
        "500",
        "-d",
        "0.3",
        "--server-pid",
        pid.as_str(),
    ];
    let (code, report, stderr) = bench_json(&addr, &args);
    assert_eq!(code, Some(0), "{stderr}");
    let per_connection = number(&report, "server_memory.bytes_per_connection");
    assert!(per_connection > 0.0 && per_connection < 64.0 * 1024.0, "{report}");
    let mut all = vec!["bench", "--addr", addr.as_str()];
    all.extend_from_slice(&args);
    let text = run_bin(&all, b"");
    let summary = String::from_utf8_lossy(&text.stdout);
    assert!(summary.contains("held        500 connections"), "{summary}");
    assert!(summary.contains("bytes per connection"), "{summary}");
    assert!(!summary.contains("throughput"), "{summary}");
}

/// Issue 19, item 14: `--connect-rate` is a schedule honoured above 1,000
/// a second (before, 2,000 connections at 5,000/s took 1.16 s, ideal 0.40),
/// and an achieved rate under 95% of it is warned of and in the JSON.
#[test]
fn the_connect_rate_is_honoured_above_a_thousand_a_second() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let args = [
        "--mode",
        "hold",
        "-c",
        "2000",
        "--connect-rate",
        "5000",
        "-d",
        "0.1",
    ];
    let (code, report, stderr) = bench_json(&addr, &args);
    assert_eq!(code, Some(0), "{stderr}");
    let took = number(&report, "connect_time_s");
    // 2,000 at 5,000/s: the last one starts at 0.3998 s.
    assert!((0.39..0.48).contains(&took), "connected in {took} s: {report}");
    assert_eq!(number(&report, "connect_rate.target"), 5000.0);
    let achieved = number(&report, "connect_rate.achieved");
    assert!(achieved > 4150.0, "{report}");
    // A rate the load cannot reach is said so.
    let args = [
        "--mode",
        "hold",
        "-c",
        "50",
        "--connect-rate",
        "1000000",
        "-d",
        "0.1",
    ];
    let (_, report, stderr) = bench_json(&addr, &args);
    assert!(
        stderr.contains("under the --connect-rate of 1000000/s"),
        "{stderr}"
    );
    assert!(
        report["warnings"].to_string().contains("--connect-rate"),
        "{report}"
    );
}

/// Issue 19, item 16: the smaller truths. A run stopped in its warm-up
/// says how much of it ran; `--start-at` in the past warns; a rate below
/// one a second is refused; the saturation warning needs a real sample.
#[test]
fn the_summary_tells_small_truths_too() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let bench = spawn_bench(&["--addr", &addr, "-c", "2", "--warmup", "30", "-d", "1"]);
    server.wait_for_log_count("accepting up to", 1);
    // Interrupted while warming up (the window never began).
    std::thread::sleep(Duration::from_millis(500));
    signal(&bench, libc::SIGINT);
    let (code, stdout, stderr) = finish(bench);
    assert_eq!(code, Some(130), "{stderr}");
    let header = stdout.lines().next().unwrap_or_default();
    assert!(header.contains("of a 30.0 s warm-up (cut short)"), "{header}");
    let past = (std::time::SystemTime::now() - Duration::from_secs(30))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let (_, report, stderr) = bench_json(&addr, &["-c", "2", "-d", "0.2", "--start-at", &past]);
    assert!(stderr.contains("--start-at was 3"), "{stderr}");
    assert!(
        report["warnings"].to_string().contains("--start-at was"),
        "{report}"
    );
    let slow = run_bin(&["bench", "--check", "--rate", "0.5"], b"");
    assert_eq!(slow.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&slow.stderr).contains("at least 1 message per second"));
    // Six sends, two of them late, are no sign of a saturated generator.
    let (_, report, stderr) = bench_json(&addr, &["-c", "2", "-d", "0.3", "--rate", "20"]);
    assert!(!stderr.contains("limited by the load generator"), "{stderr}");
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
}

/// Issue 19, item 16: `--slo` takes any percentile, says the measured
/// value in the gate's unit, and refuses nonsense.
#[test]
fn slo_gates_say_their_measured_value_with_its_unit() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let output = run_bin(
        &[
            "bench",
            "--addr",
            &addr,
            "-c",
            "2",
            "-d",
            "0.3",
            "--slo",
            "p99.99<5s,p42<5s,errors<1%",
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    for gate in ["p99.99<5s", "p42<5s"] {
        let line = text.lines().find(|line| line.contains(gate)).unwrap_or_default();
        assert!(
            line.starts_with("slo         PASS") && line.contains("(measured 0.") && line.ends_with(" s)"),
            "{line}"
        );
    }
    assert!(text.contains("errors<1% (measured 0%)"), "{text}");
    for nonsense in ["errors<150%", "p100.5<1ms", "p0<1ms"] {
        let output = run_bin(&["bench", "--check", "--slo", nonsense], b"");
        assert_eq!(output.status.code(), Some(2), "{nonsense}");
    }
}
