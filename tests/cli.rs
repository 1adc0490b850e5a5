//! The errors and help a user meets, and `mio-echo send` end to end.

mod util;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use util::{ServerProcess, pattern, run_bin};

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
        format!("error: no reply from {addr} for 0.5 s\n")
    );
}
