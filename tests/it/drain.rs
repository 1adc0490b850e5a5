//! Stopping gracefully: the rule that decides which connections a stop
//! signal keeps serving (src/server/drain.rs), and the signals that start it.

use crate::util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{ServerProcess, TIMEOUT, connect, pattern};

/// Reads until EOF, checking every byte against `block` repeated, and calls
/// `at_mark` once when `mark` bytes have come back. Returns the byte count.
fn read_repeated_block(
    stream: &mut impl Read,
    block: &[u8],
    mark: usize,
    mut at_mark: impl FnMut(),
) -> usize {
    let mut buf = vec![0; 256 * 1024];
    let mut received = 0;
    let mut marked = false;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return received,
            Ok(n) => n,
            Err(err) => panic!("after {received} bytes back: {err}"),
        };
        let mut checked = 0;
        while checked < n {
            let offset = (received + checked) % block.len();
            let len = (n - checked).min(block.len() - offset);
            assert!(
                buf[checked..checked + len] == block[offset..offset + len],
                "wrong bytes at {}",
                received + checked
            );
            checked += len;
        }
        received += n;
        if !marked && received >= mark {
            marked = true;
            at_mark();
        }
    }
}

/// Regression guard for the drain that judged "quiet" from one instant: a
/// client streaming at full speed is often fully read and fully echoed at
/// an instant, and was cut off with a reset after a few hundred megabytes.
/// As the user who found it: `mio-echo send` fed from a pipe (the pipe hop
/// makes the client a little slower than the server, as with `head -c
/// 2000M /dev/zero | mio-echo send`), the stop signal mid-stream.
#[test]
fn drain_serves_a_client_streaming_at_full_speed_to_its_eof() {
    let mut server = ServerProcess::start(&["--shutdown-timeout", "60"]);
    let mut send = Command::new(util::BIN)
        .args(["send", "--addr", &server.addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = send.stdin.take().unwrap();
    let mut output = send.stdout.take().unwrap();
    let block = pattern(21, 1 << 20);
    let blocks = 300;
    let received = thread::scope(|scope| {
        let block = &block;
        scope.spawn(move || {
            for _ in 0..blocks {
                if input.write_all(block).is_err() {
                    return; // send failed: its status says why
                }
            }
        });
        read_repeated_block(&mut output, block, 20 << 20, || server.signal(libc::SIGTERM))
    });
    let status = util::wait_child(&mut send);
    let mut stderr = String::new();
    send.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "send failed: {stderr}");
    assert_eq!(received, blocks * block.len(), "every byte back: {stderr}");
    let status = server.wait_exit(TIMEOUT).expect("server exits once drained");
    assert!(status.success(), "{status}");
    let log = server.stderr_at_exit();
    assert!(log.contains("stopping: no new connections"), "{log}");
    assert!(
        log.contains(&format!("echoed {} bytes", blocks * block.len())),
        "{log}"
    );
}

/// The same rule, made deterministic: at the signal the connection is
/// fully echoed and its socket read dry (the state the old rule took for
/// "quiet"); the client goes on sending within the quiet period.
#[test]
fn a_client_that_resumes_within_the_quiet_period_is_kept() {
    let mut server = ServerProcess::start(&["--shutdown-timeout", "60", "--drain-quiet", "2"]);
    let mut client = connect(server.addr);
    let first = pattern(22, 1 << 20);
    client.write_all(&first).unwrap();
    assert!(util::read_exact_vec(&mut client, first.len()).unwrap() == first);
    server.signal(libc::SIGTERM);
    server.wait_for_log("stopping: no new connections");
    let rest = pattern(23, 4 << 20);
    assert!(
        util::echo_on(&mut client, &rest) == rest,
        "served after the signal"
    );
    assert!(server.wait_exit(TIMEOUT).expect("server exits").success());
}

#[test]
fn quiet_clients_are_closed_after_the_quiet_period_not_before() {
    let mut server = ServerProcess::start(&["--drain-quiet", "1"]);
    let mut idle = connect(server.addr);
    idle.write_all(b"hi").unwrap();
    assert_eq!(util::read_exact_vec(&mut idle, 2).unwrap(), b"hi");
    let started = Instant::now();
    server.signal(libc::SIGINT);
    let mut rest = Vec::new();
    assert_eq!(idle.read_to_end(&mut rest).unwrap(), 0, "an orderly EOF");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?} with --drain-quiet 1"
    );
    assert!(server.wait_exit(TIMEOUT).expect("server exits").success());
}

/// A closed terminal or ssh session sends SIGHUP: drain and summarize, as
/// for SIGTERM, instead of dying with status 129 mid-echo.
#[test]
fn sighup_drains_like_sigterm() {
    let mut server = ServerProcess::start(&["--shutdown-timeout", "20"]);
    let mut busy = connect(server.addr);
    let data = pattern(24, 4 << 20);
    let written = util::write_without_reading(&mut busy, &data);
    server.signal(libc::SIGHUP);
    server.wait_for_log("stopping: no new connections");
    busy.write_all(&data[written..]).unwrap();
    busy.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    busy.read_to_end(&mut reply).unwrap();
    assert!(reply == data, "got {} of {} bytes back", reply.len(), data.len());
    let status = server.wait_exit(TIMEOUT).expect("server exits");
    assert_eq!(status.code(), Some(0), "{status}");
    let log = server.stderr_at_exit();
    assert!(log.contains("stopped: served 1 connection, echoed"), "{log}");
}

/// In broadcast mode a half-closed client still receives; once it is dead
/// (no reset comes back until something is written to it) it must not hold
/// the stop for the whole shutdown timeout.
#[test]
fn a_dead_half_closed_broadcast_client_does_not_hold_the_drain() {
    let mut server = ServerProcess::start_with(
        &["--broadcast", "--shutdown-timeout", "30"],
        &[("RUST_LOG", "debug")],
    );
    let mut client = connect(server.addr);
    client.write_all(b"bye\n").unwrap();
    assert_eq!(util::read_exact_vec(&mut client, 4).unwrap(), b"bye\n");
    client.shutdown(Shutdown::Write).unwrap();
    server.wait_for_log("finished sending; it still receives");
    drop(client);
    let started = Instant::now();
    server.signal(libc::SIGINT);
    let status = server.wait_exit(TIMEOUT).expect("server exits");
    assert!(status.success());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "held the drain for {took:?}");
}
