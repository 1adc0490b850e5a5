//! The errors and help a user meets, and `mio-echo send` end to end.

use crate::util;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use crate::util::{ServerProcess, pattern, run_bin};

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn serve_on_an_address_in_use_says_so_in_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = run_bin(&["serve", "--addr", &addr], b"");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr_of(&output),
        format!("error: cannot listen on {addr}: address already in use\n")
    );
}

#[test]
fn send_with_nothing_listening_says_connection_refused() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let output = run_bin(&["send", "--addr", &addr, "hello"], b"");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr_of(&output),
        format!("error: cannot connect to {addr}: connection refused\n")
    );
}

#[test]
fn usage_errors_exit_two_without_a_panic() {
    for args in [
        &["serve", "--addr", "nonsense"][..],
        &["send", "--addr", "127.0.0.1:notaport", "x"],
        &["serve", "--bogus"],
        &["serve", "--max-pending", "0"],
        &["send", "--timeout", "-1", "x"],
        &["frobnicate"],
        &[],
    ] {
        let output = run_bin(args, b"");
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn help_explains_each_command_with_an_example() {
    for args in [&["--help"][..], &["serve", "--help"], &["send", "--help"]] {
        let output = run_bin(args, b"");
        assert!(output.status.success());
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Example"), "{args:?}: {text}");
    }
}

#[test]
fn send_prints_the_echo_of_its_message_and_exits_zero() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let output = run_bin(&["send", "--addr", &addr, "long message"], b"");
    assert!(output.status.success(), "{}", stderr_of(&output));
    // Not a terminal: the raw reply, no newline added.
    assert_eq!(output.stdout, b"long message");
}

#[test]
fn send_round_trips_standard_input_byte_for_byte() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let data = pattern(9, 8 << 20);
    let output = run_bin(&["send", "--addr", &addr], &data);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        output.stdout == data,
        "reply of {} bytes differs",
        output.stdout.len()
    );
}

/// Seed 002's server: reads a 16-byte message, answers something else, closes.
#[test]
fn send_to_a_server_that_is_not_an_echo_prints_its_reply_and_exits_one() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut message = [0; 16];
        conn.read_exact(&mut message).unwrap();
        conn.write_all(b"Farewell, client").unwrap();
    });
    let output = run_bin(&["send", "--addr", &addr, "Hi there, server"], b"");
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(output.stdout, b"Farewell, client");
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("not an echo server") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn send_to_a_silent_server_gives_up_after_its_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let output = run_bin(&["send", "--addr", &addr, "--timeout", "0.5", "anyone?"], b"");
    drop(listener);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr_of(&output),
        format!("error: no reply from {addr} for 0.5 s (--timeout)\n")
    );
}

#[test]
fn usage_errors_are_one_line_that_points_to_the_help() {
    for args in [
        &["serve", "--addr", "nonsense"][..],
        &["serve", "--bogus"],
        &["send", "--timeout", "-1", "x"],
        &["bench", "--size", "0"],
        &["frobnicate"],
    ] {
        let output = run_bin(args, b"");
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.trim_end().ends_with("(see --help)"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_host_that_does_not_resolve_exits_one_and_says_so() {
    let output = run_bin(&["send", "--addr", "nosuchhost.invalid:10000", "x"], b"");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: cannot resolve host 'nosuchhost.invalid': ")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn a_port_out_of_range_is_named_as_such() {
    let output = run_bin(&["send", "--addr", "127.0.0.1:99999", "x"], b"");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("port 99999 is out of range (0 to 65535)"),
        "{stderr}"
    );
}

#[test]
fn port_zero_is_a_usage_error_for_clients() {
    for command in ["send", "bench", "chat"] {
        for args in [&[command, "--port", "0"][..], &[command, "--addr", "127.0.0.1:0"]] {
            let output = run_bin(args, b"x");
            let stderr = stderr_of(&output);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        }
    }
}

#[test]
fn each_subcommand_words_its_own_address_help() {
    // Help is wrapped to the width of the terminal (or 100 columns): the
    // words are looked for with the line breaks folded.
    let help = |command: &str| {
        let text = String::from_utf8_lossy(&run_bin(&[command, "--help"], b"").stdout).into_owned();
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    assert!(help("serve").contains("port 0 lets the system pick a free one"));
    for (command, words) in [
        ("send", "Echo server to send to"),
        ("bench", "Echo server to load"),
        ("chat", "Server to chat with"),
    ] {
        let text = help(command);
        assert!(text.contains(words), "{command}: {text}");
        assert!(!text.contains("port 0"), "{command}: {text}");
    }
    assert!(help("bench").contains("--drain-timeout"));
    assert!(help("serve").contains("--drain-quiet"));
}

#[test]
fn send_accepts_any_bytes_as_its_message() {
    use std::os::unix::ffi::OsStrExt;
    let server = ServerProcess::start(&[]);
    let message = std::ffi::OsStr::from_bytes(b"\xff\xfe not UTF-8 \x80");
    let output = std::process::Command::new(util::BIN)
        .args(["send", "--addr", &server.addr.to_string()])
        .arg(message)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(output.stdout, message.as_bytes());
}

/// A broadcast server keeps a half-closed client open, so no EOF comes:
/// send used to wait its whole --timeout and then report "no reply".
#[test]
fn send_to_a_broadcast_server_gets_its_echo_and_a_true_note() {
    let server = ServerProcess::start(&["--broadcast"]);
    let addr = server.addr.to_string();
    let started = std::time::Instant::now();
    let output = run_bin(&["send", "--addr", &addr, "--timeout", "10", "hi"], b"");
    let took = started.elapsed();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(output.stdout, b"hi");
    assert!(
        stderr.contains("the whole echo came back") && stderr.contains("kept the connection open"),
        "{stderr}"
    );
    assert!(!stderr.contains("no reply"), "{stderr}");
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
}

/// Opens a pseudo-terminal: (the side a program reads as its terminal, the
/// side the test types into).
fn pseudo_terminal() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut controller, mut terminal) = (0, 0);
    // SAFETY: openpty writes two new descriptors into the given integers;
    // the null pointers ask for no name, settings or window size.
    let rc = unsafe {
        libc::openpty(
            &mut controller,
            &mut terminal,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are fresh and owned by nothing else.
    unsafe {
        (
            std::fs::File::from_raw_fd(terminal),
            std::fs::File::from_raw_fd(controller),
        )
    }
}

#[test]
fn send_says_it_reads_standard_input_when_that_is_a_terminal() {
    let server = ServerProcess::start(&[]);
    let (terminal, mut keyboard) = pseudo_terminal();
    let mut child = std::process::Command::new(util::BIN)
        .args(["send", "--addr", &server.addr.to_string()])
        .stdin(terminal)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A line, then Ctrl-D at the start of a line: EOF in canonical mode.
    keyboard.write_all(b"typed\n\x04").unwrap();
    let status = util::wait_child(&mut child);
    let mut stdout = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert_eq!(stdout, b"typed\n");
    assert!(
        stderr.contains("reading the message from standard input until EOF (Ctrl-D)"),
        "{stderr}"
    );
    // Piped input gets no hint: it is not waiting for a person.
    let output = run_bin(&["send", "--addr", &server.addr.to_string()], b"piped");
    assert_eq!(stderr_of(&output), "");
}

#[test]
fn chat_says_when_it_connects_and_fails_when_the_server_drops_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut child = std::process::Command::new(util::BIN)
        .args(["chat", "--addr", &addr])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The server accepts and hangs up while the user could still type.
    let (conn, _) = listener.accept().unwrap();
    drop(conn);
    let _still_typing = child.stdin.take();
    let status = util::wait_child(&mut child);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with(&format!("connected to {addr}")), "{stderr}");
    assert_eq!(
        lines[1],
        format!("error: {addr} closed the connection before the input ended")
    );
}

#[test]
fn serve_says_where_it_listens_once_and_counts_in_words() {
    let mut server = ServerProcess::start(&[]);
    let message = pattern(2, 100);
    assert_eq!(util::echo(server.addr, &message), message);
    server.signal(libc::SIGTERM);
    assert!(server.wait_exit(util::TIMEOUT).expect("server exits").success());
    let log = server.stderr_at_exit();
    assert!(
        !log.contains("serving on"),
        "the address is said once, on stdout: {log}"
    );
    assert_eq!(
        log.lines().filter(|l| l.contains("accepting up to")).count(),
        1,
        "{log}"
    );
    assert!(
        log.contains("stopped: served 1 connection, echoed 100 bytes"),
        "{log}"
    );
}

/// Issue 19, item 7: durations and counts out of their documented range
/// are one-line usage errors at parse time (before, 1e19 s passed
/// `--check` and panicked at start, at the first connection or at SIGTERM,
/// and `--idle-timeout 18446744073709552` closed connections after 0.38 s).
#[test]
fn out_of_range_values_are_usage_errors_not_panics() {
    for args in [
        &["serve", "--check", "--stats-interval", "1e19"][..],
        &["serve", "--check", "--proxy-protocol", "--proxy-timeout", "1e19"],
        &["serve", "--check", "--shutdown-timeout", "1e19"],
        &["serve", "--check", "--drain-quiet", "1e19"],
        &["serve", "--check", "--idle-timeout", "18446744073709552"],
        &["serve", "--check", "--threads", "100000"],
        &["bench", "--check", "--duration", "1e19"],
        &["bench", "--check", "--connections", "0"],
        &["send", "--timeout", "1e300", "x"],
    ] {
        let output = run_bin(args, b"");
        let err = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("out of range") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

/// The longest durations allowed start, serve and stop without a panic.
#[test]
fn the_longest_durations_allowed_work() {
    let mut server = ServerProcess::start(&[
        "--stats-interval",
        "31536000",
        "--idle-timeout",
        "31536000",
        "--shutdown-timeout",
        "31536000",
        "--drain-quiet",
        "31536000",
        "--proxy-protocol",
        "--proxy-timeout",
        "31536000",
    ]);
    let mut client = util::connect(server.addr);
    client
        .write_all(b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 2000\r\nhi")
        .unwrap();
    let mut back = [0; 2];
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"hi");
    server.signal(libc::SIGTERM);
    server.wait_for_log("stopping");
    // Busy until its quiet time (a year) passes: a second signal stops now.
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(util::TIMEOUT).expect("stops");
    let log = server.stderr_at_exit();
    assert!(status.success() && !log.contains("panicked"), "{status:?}: {log}");
}

/// A server that echoes what it reads after `delay`, then closes.
fn slow_echo_server(delay: std::time::Duration) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut message = Vec::new();
        conn.read_to_end(&mut message).unwrap();
        thread::sleep(delay);
        let _ = conn.write_all(&message);
    });
    (addr, server)
}

/// Issue 19, item 11: `send` waits up to `--timeout` for a reply. Before,
/// a server answering after 1.5 s failed 8 runs of 12 (11 of 12 with
/// standard input): the end-of-reply wait (1 s) began before the sender
/// had recorded anything sent, and the error still claimed 10 s.
#[test]
fn send_waits_its_whole_timeout_for_a_late_reply() {
    let runs: Vec<_> = (0..6)
        .map(|i| {
            thread::spawn(move || {
                let (addr, server) = slow_echo_server(std::time::Duration::from_millis(1500));
                let output = if i % 2 == 0 {
                    run_bin(&["send", "--addr", &addr, "--timeout", "5", "late but here"], b"")
                } else {
                    run_bin(&["send", "--addr", &addr, "--timeout", "5"], b"late but here")
                };
                server.join().unwrap();
                (output.status.code(), stderr_of(&output), output.stdout)
            })
        })
        .collect();
    for run in runs {
        let (code, stderr, stdout) = run.join().unwrap();
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(stdout, b"late but here");
    }
    // And the error says how long it waited.
    let (addr, server) = slow_echo_server(std::time::Duration::from_millis(2500));
    let started = std::time::Instant::now();
    let output = run_bin(&["send", "--addr", &addr, "--timeout", "1.5", "too late"], b"");
    let waited = started.elapsed();
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr_of(&output),
        format!("error: no reply from {addr} for 1.5 s (--timeout)\n")
    );
    assert!(
        waited >= std::time::Duration::from_millis(1500),
        "gave up after {waited:?}"
    );
}

/// Issue 19, item 12: a server that sends more than it was sent (chargen,
/// a wrong port) is no echo: `send` says so at once (before, it never
/// ended).
#[test]
fn send_stops_at_once_when_more_comes_back_than_was_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let line = b"!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n";
        // chargen (RFC 864) until the client goes.
        while conn.write_all(line).is_ok() {}
    });
    let started = std::time::Instant::now();
    let output = run_bin(&["send", "--addr", &addr, "hello"], b"");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("sent back more than it was sent") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

/// Issue 23: durations, sizes and rates take units (`300ms`, `1k`, `64KiB`,
/// `2k`), plain numbers keep their meaning, and a wrong unit says which
/// exist.
#[test]
fn values_take_units_and_plain_numbers_keep_their_meaning() {
    let server = crate::util::ServerProcess::start(&["--idle-timeout", "1m", "--max-pending", "64KiB"]);
    let addr = server.addr.to_string();
    let args = [
        "-c",
        "2",
        "-s",
        "1k",
        "-d",
        "300ms",
        "--warmup",
        "0",
        "--rate",
        "2k",
        "--interval",
        "100ms",
    ];
    let (code, report, stderr) = crate::util::bench_json(&addr, &args);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["size"], 1000, "{report}");
    assert_eq!(report["duration_s"], 0.3, "{report}");
    assert_eq!(report["rate"]["target"], 2000.0, "{report}");
    assert_eq!(report["intervals"].as_array().unwrap().len(), 3, "{report}");
    let (code, plain, stderr) =
        crate::util::bench_json(&addr, &["-c", "2", "-s", "1000", "-d", "0.3", "--warmup", "0"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        (plain["size"].clone(), plain["duration_s"].clone()),
        (report["size"].clone(), report["duration_s"].clone())
    );

    for (args, says) in [
        (
            &["bench", "--port", "9", "-d", "1h30"][..],
            "'1h30' is not a duration: use s, ms, m or h",
        ),
        (
            &["bench", "--port", "9", "-s", "2 parsecs"],
            "with k, KiB, M, MiB",
        ),
        (&["bench", "--port", "9", "--rate", "10x"], "with k or M"),
        (&["serve", "--max-pending", "1 ZB"], "with k, KiB, M, MiB"),
        (&["serve", "--idle-timeout", "soon"], "use s, ms, m or h"),
    ] {
        let output = run_bin(args, b"");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// Issue 23: `send --hex` prints the reply as xxd does (checked against
/// xxd itself where it is installed), and `chat --crlf` sends CRLF line
/// ends as `ncat -C` does.
#[test]
fn send_hex_matches_xxd_and_chat_crlf_sends_crlf() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let message: Vec<u8> = (0u8..=255).chain(b"tail\n".iter().copied()).collect();
    let output = run_bin(&["send", "--addr", &addr, "--hex"], &message);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let dump = String::from_utf8(output.stdout).unwrap();
    assert_eq!(dump.lines().count(), 17, "{dump}");
    assert!(
        dump.starts_with("00000000: 0001 0203 0405 0607 0809 0a0b 0c0d 0e0f  ................\n"),
        "{dump}"
    );
    assert!(
        dump.ends_with("00000100: 7461 696c 0a                             tail.\n"),
        "{dump}"
    );
    let mut xxd = std::process::Command::new("xxd");
    xxd.arg("-");
    if let Ok(mut child) = xxd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        child.stdin.take().unwrap().write_all(&message).unwrap();
        let mut expected = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut expected)
            .unwrap();
        child.wait().unwrap();
        assert_eq!(dump, expected, "xxd says otherwise");
    }

    let output = run_bin(&["chat", "--addr", &addr, "--crlf"], b"one\ntwo\r\nthree");
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        output.stdout, b"one\r\ntwo\r\nthree",
        "the echo of what chat sent"
    );
    let output = run_bin(&["chat", "--addr", &addr], b"one\ntwo\n");
    assert_eq!(output.stdout, b"one\ntwo\n", "without --crlf, lines go as typed");
}

/// Issue 23: the client socket options take, as read back from the
/// connected socket (`send --verbose` prints what the kernel has, not what
/// was asked): source address, buffers (doubled by the kernel), TOS,
/// congestion control, Nagle; bench takes them too; a wrong one is one
/// clear error.
#[test]
fn client_socket_options_are_set_and_read_back() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let args = [
        "send",
        "--addr",
        &addr,
        "--verbose",
        "--bind",
        "127.0.0.3",
        "--sndbuf",
        "64KiB",
        "--rcvbuf",
        "100k",
        "--tos",
        "0x10",
        "--congestion",
        "reno",
        "--delay",
        "--mss",
        "1200",
        "hi",
    ];
    let output = run_bin(&args, b"");
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.starts_with("connected from 127.0.0.3:"), "{stderr}");
    let socket = stderr
        .lines()
        .find(|l| l.starts_with("socket: "))
        .unwrap_or_else(|| panic!("{stderr}"));
    for part in [
        "sndbuf 131072",
        "rcvbuf 200000",
        "tos 0x10",
        "congestion reno",
        "nodelay false",
    ] {
        assert!(socket.contains(part), "{part} not in {socket}");
    }
    let mss: u32 = socket
        .split("mss ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1100..=1200).contains(&mss), "{socket}");

    let (code, report, stderr) = crate::util::bench_json(
        &addr,
        &[
            "-c",
            "3",
            "-d",
            "0.3",
            "--bind",
            "127.0.0.4",
            "--sndbuf",
            "64k",
            "--tos",
            "0x20",
            "--congestion",
            "cubic",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["errors"]["connect_failures"], 0, "{report}");

    let output = run_bin(
        &["send", "--addr", &addr, "--congestion", "no-such-cc", "hi"],
        b"",
    );
    let err = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--congestion no-such-cc") && err.contains("this kernel has: "),
        "{err}"
    );
    for (args, says) in [
        (
            &["bench", "--port", "9", "--congestion", "no-such-cc"][..],
            "this kernel has: ",
        ),
        (&["bench", "--port", "9", "--bind", "127.0.0.4:99"], "no port"),
        (&["bench", "--port", "9", "--tos", "300"], "not a TOS byte"),
        (
            &["bench", "--port", "9", "--delay", "--no-delay"],
            "cannot be used with",
        ),
        (&["send", "--port", "9", "--mss", "10", "x"], "10"),
    ] {
        let output = run_bin(args, b"");
        let err = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// `send --connect-timeout` bounds the connect alone: a server whose
/// accept queue is full (the kernel drops the SYN) fails it in about that
/// long, though --timeout would wait 30 s.
#[test]
fn connect_timeout_bounds_the_connect_apart_from_the_timeout() {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let _fill: Vec<std::net::TcpStream> = (0..2)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)).ok()
        })
        .collect();
    let started = std::time::Instant::now();
    let args = [
        "send",
        "--addr",
        &addr.to_string(),
        "--timeout",
        "30",
        "--connect-timeout",
        "300ms",
        "hi",
    ];
    let output = run_bin(&args, b"");
    let took = started.elapsed();
    let err = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("timed out"), "{err}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
}
