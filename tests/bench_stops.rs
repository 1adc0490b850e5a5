//! When `mio-echo bench` has nothing left to measure, or is told to stop:
//! it says so at once, stops early, takes its rates over the time traffic
//! really ran, and on Ctrl-C still prints what it measured. Also what its
//! summary shows per mode, and the warnings it owes the user.

mod util;

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::{BIN, ServerProcess, bench_json, number, run_bin, wait_child};

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
