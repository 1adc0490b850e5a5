//! `mio-echo bench` against the real server and against broken ones.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;

use crate::util::{BIN, ServerProcess, bench_json, number, run_bin};

const DOCUMENTED_FIELDS: &[&str] = &[
    "mode",
    "addr",
    "connections",
    "size",
    "threads",
    "warmup_s",
    "duration_s",
    "measured_s",
    "stopped_early",
    "interrupted",
    "connected",
    "connect_time_s",
    "messages",
    "messages_per_s",
    "bytes",
    "bytes_per_s",
    "cycles",
    "connections_per_s",
    "latency",
    "errors",
    "cpu",
    "io_uring_sends",
    "warnings",
    "histograms",
];

/// Whether this kernel (and sandbox) lets a process create an io_uring.
fn io_uring_allowed() -> bool {
    io_uring::IoUring::new(8).is_ok()
}

#[test]
fn every_mode_against_the_real_server_reports_figures_and_no_errors() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let pid = server.pid().to_string();
    for (mode, figure) in [
        ("pingpong", "messages_per_s"),
        ("stream", "bytes_per_s"),
        ("churn", "connections_per_s"),
        ("hold", "messages"),
    ] {
        let args = [
            "--mode",
            mode,
            "--connections",
            "100",
            "--duration",
            "1",
            "--server-pid",
            &pid,
        ];
        let (code, report, stderr) = bench_json(&addr, &args);
        assert_eq!(code, Some(0), "{mode}: {report} {stderr}");
        for field in DOCUMENTED_FIELDS {
            assert!(
                report.get(field).is_some(),
                "{mode}: field {field} missing in {report}"
            );
        }
        assert_eq!(report["mode"], mode);
        assert!(number(&report, figure) > 0.0, "{mode}: {figure} is 0 in {report}");
        assert_eq!(number(&report, "errors.mismatches"), 0.0);
        assert!(number(&report, "cpu.server_seconds") >= 0.0);
        if mode != "stream" {
            assert!(number(&report, "latency.p50_us") > 0.0, "{mode}: {report}");
            assert!(number(&report, "latency.max_us") >= number(&report, "latency.p99_us"));
        }
        if mode == "hold" {
            assert_eq!(number(&report, "connected"), 100.0);
            assert_eq!(number(&report, "messages"), 100.0);
        }
        let batched = mode == "pingpong" && io_uring_allowed();
        assert_eq!(report["io_uring_sends"], batched, "{mode}: {report}");
    }
}

/// Both ways of sending pingpong messages, and messages longer than one
/// slice of the pattern (written in several sends).
#[test]
fn pingpong_sends_batched_or_one_by_one_and_long_messages_whole() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    for size in ["512", "150000"] {
        for (flags, batched) in [(&[][..], io_uring_allowed()), (&["--no-io-uring"][..], false)] {
            let mut args = vec!["-c", "20", "-d", "0.5", "--size", size];
            args.extend_from_slice(flags);
            let (code, report, stderr) = bench_json(&addr, &args);
            assert_eq!(code, Some(0), "{size} {flags:?}: {report} {stderr}");
            assert_eq!(report["io_uring_sends"], batched, "{report}");
            assert!(number(&report, "messages") > 0.0, "{report}");
            // Bytes count as they arrive, messages when whole: the window's
            // end may cut one message per connection.
            let (size, messages): (f64, f64) = (size.parse().unwrap(), number(&report, "messages"));
            let bytes = number(&report, "bytes");
            assert!(
                bytes >= messages * size && bytes < (messages + 20.0) * size,
                "{report}"
            );
        }
    }
}

#[test]
fn human_summary_names_the_figures() {
    let server = ServerProcess::start(&[]);
    let output = run_bin(
        &[
            "bench",
            "--addr",
            &server.addr.to_string(),
            "-c",
            "10",
            "-d",
            "0.3",
            "--threads",
            "2",
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    for word in ["msg/s", "MB/s", "p50", "p99.9", "errors      0"] {
        assert!(text.contains(word), "{word} missing: {text}");
    }
}

/// Starts a server that serves `connections` clients with `behaviour`.
fn broken_server(connections: usize, behaviour: fn(TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let stream = stream.unwrap();
            thread::spawn(move || behaviour(stream));
        }
    });
    addr
}

/// Echoes everything but flips one bit of the 100th byte.
fn flips_a_byte(mut stream: TcpStream) {
    let mut buf = [0; 4096];
    let mut seen = 0;
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        if (seen..seen + n).contains(&100) {
            buf[100 - seen] ^= 1;
        }
        seen += n;
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Echoes everything but the last byte received, which it never sends.
fn drops_the_last_byte(mut stream: TcpStream) {
    let mut buf = [0; 4096];
    let mut held: Option<u8> = None;
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        let mut out: Vec<u8> = held.take().into_iter().collect();
        out.extend_from_slice(&buf[..n - 1]);
        held = Some(buf[n - 1]);
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

/// Echoes the first read, then closes.
fn closes_early(mut stream: TcpStream) {
    let mut buf = [0; 100];
    if let Ok(n @ 1..) = stream.read(&mut buf) {
        let _ = stream.write_all(&buf[..n]);
    }
}

#[test]
fn broken_servers_are_caught_and_exit_one() {
    // Closing with unread bytes makes the kernel send a reset, so an early
    // close shows as an early EOF or as a reset depending on timing.
    for (name, behaviour, counters) in [
        (
            "flips a byte",
            flips_a_byte as fn(TcpStream),
            &["errors.mismatches"][..],
        ),
        ("drops the last byte", drops_the_last_byte, &["errors.early_eofs"]),
        (
            "closes early",
            closes_early,
            &["errors.early_eofs", "errors.resets"],
        ),
    ] {
        for sending in [&[][..], &["--no-io-uring"]] {
            let addr = broken_server(4, behaviour);
            let mut args = vec!["-c", "4", "-d", "0.5", "--size", "512"];
            args.extend_from_slice(sending);
            let (code, report, stderr) = bench_json(&addr, &args);
            assert_eq!(code, Some(1), "{name} {sending:?}: {report} {stderr}");
            let seen: f64 = counters.iter().map(|c| number(&report, c)).sum();
            assert_eq!(
                seen, 4.0,
                "{name} {sending:?}: each of the 4 connections counted under {counters:?}: {report}"
            );
        }
    }
}

#[test]
fn more_connections_than_the_fd_limit_is_a_clear_error() {
    let script = "ulimit -n 64 && exec \"$0\" bench --connections 100 --addr 127.0.0.1:9";
    let output = Command::new("sh").args(["-c", script, BIN]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: cannot open 100 connections: the open-file limit is 64"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn connect_failures_are_counted_not_fatal() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (code, report, _) = bench_json(&addr, &["-c", "5", "-d", "0.2"]);
    assert_eq!(code, Some(1));
    assert_eq!(number(&report, "errors.connect_failures"), 5.0);
}

/// An echo server, a thread per connection, that keeps what it received
/// and, with `corrupt`, changes one byte of every read before echoing it.
fn recording_echo(corrupt: bool) -> (String, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let kept = kept.clone();
            std::thread::spawn(move || {
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    kept.lock().unwrap().extend_from_slice(&buf[..n]);
                    if corrupt {
                        buf[0] ^= 0x20;
                    }
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// Issue 23: `--payload` with escapes and `--payload-file` send exactly
/// those bytes as every message (what a content-inspecting proxy sees),
/// `--size` follows them, and every echo is still checked.
#[test]
fn payloads_are_sent_as_given_and_checked_byte_for_byte() {
    let request = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n\x00\xff";
    let (addr, seen) = recording_echo(false);
    let args = [
        "-c",
        "1",
        "-d",
        "0.3",
        "--payload",
        r"GET / HTTP/1.1\r\nHost: test\r\n\r\n\0\xff",
    ];
    let (code, report, stderr) = bench_json(&addr, &args);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["size"], request.len(), "{report}");
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= request.len() * 10, "{} bytes", seen.len());
    for message in seen.chunks(request.len()) {
        assert_eq!(message, &request[..message.len()], "not the payload");
    }

    let scratch = crate::util::tls::Scratch::new("payload-file");
    let file = scratch.file("message.bin");
    let bytes: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let server = ServerProcess::start(&[]);
    let (code, report, stderr) = bench_json(
        &server.addr.to_string(),
        &["-c", "4", "-d", "0.3", "--payload-file", &file],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["size"], 3000, "{report}");
    assert!(number(&report, "messages") > 10.0, "{report}");
    assert_eq!(number(&report, "errors.mismatches"), 0.0);

    // A server that changes the payload is caught.
    let (addr, _) = recording_echo(true);
    let (code, report, _) = bench_json(&addr, &["-c", "1", "-d", "0.3", "--payload", "hello\\n"]);
    assert_eq!(code, Some(1));
    assert!(number(&report, "errors.mismatches") > 0.0, "{report}");

    let empty = scratch.file("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    for (args, says) in [
        (
            &["--payload", "abc", "--size", "4"][..],
            "disagrees with the payload's 3 bytes",
        ),
        (
            &["--payload", "abc", "--mode", "udp"],
            "do not apply to --mode udp",
        ),
        (&["--payload", r"bad\q"], r"\q is not an escape"),
        (&["--payload", r"\x4"], "two hex digits"),
        (&["--payload-file", &empty], "0 bytes"),
        (
            &["--payload", "a", "--payload-file", &file],
            "cannot be used with",
        ),
    ] {
        let mut all = vec!["bench", "--port", "9"];
        all.extend_from_slice(args);
        let output = run_bin(&all, b"");
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
