//! `mio-echo serve` driven as a real process over loopback.

use std::hash::{DefaultHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use crate::util::{ServerProcess, connect, echo, pattern};

fn hash(bytes: &[u8]) -> (usize, u64) {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    (bytes.len(), hasher.finish())
}

#[test]
fn short_message_comes_back() {
    let server = ServerProcess::start(&[]);
    let message =
        b"This is our message. It is very long but will only be transmitted in chunks of 16 at a time";
    assert_eq!(echo(server.addr, message), message);
}

#[test]
fn one_byte_comes_back() {
    let server = ServerProcess::start(&[]);
    assert_eq!(echo(server.addr, b"x"), b"x");
}

#[test]
fn every_byte_value_comes_back() {
    let server = ServerProcess::start(&[]);
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(echo(server.addr, &all), all);
}

#[test]
fn empty_exchange_ends_with_eof() {
    let server = ServerProcess::start(&[]);
    assert_eq!(echo(server.addr, b""), b"");
}

#[test]
fn sixteen_mib_read_concurrently_matches_by_hash() {
    let server = ServerProcess::start(&[]);
    let data = pattern(16, 16 << 20);
    assert_eq!(hash(&echo(server.addr, &data)), hash(&data));
}

#[test]
fn half_closed_client_gets_every_byte_then_eof() {
    let server = ServerProcess::start(&[]);
    let mut stream = connect(server.addr);
    let data = pattern(3, 100_000);
    stream.write_all(&data).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    assert_eq!(hash(&reply), hash(&data));
}

#[test]
fn thousand_concurrent_connections_each_get_their_own_message() {
    mio_echo::raise_fd_limit().unwrap();
    let server = ServerProcess::start(&[]);
    let mut streams: Vec<_> = (0..1000).map(|_| connect(server.addr)).collect();
    let messages: Vec<Vec<u8>> = (0..1000).map(|i| pattern(i as u64, 100 + i % 400)).collect();
    for (stream, message) in streams.iter_mut().zip(&messages) {
        stream.write_all(message).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
    }
    for (i, (stream, message)) in streams.iter_mut().zip(&messages).enumerate() {
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        assert_eq!(&reply, message, "connection {i}");
    }
}

/// Regression guard for backpressure: a client that writes and never reads
/// must not make the server buffer its data, nor hold others back.
#[test]
fn client_that_never_reads_leaves_rss_flat_and_others_served() {
    let server = ServerProcess::start(&[]);
    // Warm the shared read buffer and the allocator before the baseline.
    let warm = pattern(1, 1 << 20);
    assert_eq!(hash(&echo(server.addr, &warm)), hash(&warm));
    let rss_before = server.rss_bytes();

    let data = pattern(64, 64 << 20);
    let mut hog = connect(server.addr);
    // One second without progress means the server stopped reading from us.
    hog.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut written = 0;
    while written < data.len() {
        match hog.write(&data[written..(written + (1 << 16)).min(data.len())]) {
            Ok(n) => written += n,
            Err(err) if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                break;
            }
            Err(err) => panic!("hog write failed: {err}"),
        }
    }
    assert!(
        written < data.len(),
        "the server kept reading all 64 MiB from a client that never reads"
    );

    let started = Instant::now();
    let other = pattern(2, 1 << 20);
    assert_eq!(hash(&echo(server.addr, &other)), hash(&other));
    let other_took = started.elapsed();
    let rss_after = server.rss_bytes();
    let grown = rss_after.saturating_sub(rss_before);
    eprintln!(
        "slow reader: wrote {} MiB before the server stopped reading; server RSS {} KiB -> {} KiB (+{} KiB); \
         another 1 MiB client served in {:?}",
        written >> 20,
        rss_before >> 10,
        rss_after >> 10,
        grown >> 10,
        other_took
    );
    assert!(grown < 4 << 20, "server RSS grew by {grown} bytes");
    assert!(
        other_took < Duration::from_secs(10),
        "other client took {other_took:?}"
    );

    // Nothing was lost: everything the hog wrote comes back once it reads.
    hog.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    hog.read_to_end(&mut reply).unwrap();
    assert_eq!(hash(&reply), hash(&data[..written]));
}

#[test]
fn reset_mid_stream_leaves_the_server_serving() {
    let server = ServerProcess::start(&[]);
    let stream = connect(server.addr);
    stream.set_nonblocking(true).unwrap();
    let data = pattern(5, 4 << 20);
    let mut sent = 0;
    while sent < data.len() {
        match (&stream).write(&data[sent..]) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    // Linger 0 turns close into a reset while echo bytes are in flight.
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
    assert_eq!(echo(server.addr, b"still there?"), b"still there?");
    let log = server.stderr();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn sigterm_closes_connections_and_exits_zero() {
    let mut server = ServerProcess::start(&[]);
    assert_eq!(echo(server.addr, b"before"), b"before");
    let mut idle = connect(server.addr);
    idle.write_all(b"ping").unwrap();
    let mut pong = [0; 4];
    idle.read_exact(&mut pong).unwrap();
    server.signal(libc::SIGTERM);
    let status = server
        .wait_exit(Duration::from_secs(5))
        .expect("server still running 5 s after SIGTERM");
    assert!(status.success(), "{status}");
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest);
    assert!(rest.is_empty());
    let log = server.stderr_at_exit();
    assert!(log.contains("served 2 connections"), "{log}");
}

#[test]
fn sigint_exits_zero_too() {
    let mut server = ServerProcess::start(&[]);
    server.signal(libc::SIGINT);
    let status = server
        .wait_exit(Duration::from_secs(5))
        .expect("server still running after SIGINT");
    assert!(status.success(), "{status}");
}

/// Issue 23: `serve --sndbuf/--rcvbuf/--congestion/--tos` reach every
/// accepted connection (set on the listeners, which pass them on), as
/// `ss -tnim --tos` shows the server's socket; an algorithm the kernel
/// lacks fails the start with the ones it has.
#[test]
fn accepted_connections_carry_the_servers_socket_options() {
    let server = ServerProcess::start(&[
        "--sndbuf",
        "64KiB",
        "--rcvbuf",
        "96KiB",
        "--congestion",
        "reno",
        "--tos",
        "0x10",
    ]);
    let mut client = std::net::TcpStream::connect(server.addr).unwrap();
    client.write_all(b"ping").unwrap();
    let mut echo = [0; 4];
    client.read_exact(&mut echo).unwrap();
    let port = server.addr.port();
    let ss = std::process::Command::new("ss")
        .args(["-tnim", "--tos", &format!("sport = :{port}")])
        .output();
    let Ok(ss) = ss else {
        eprintln!("skipped the ss check: no ss here");
        return;
    };
    let text = String::from_utf8_lossy(&ss.stdout);
    for part in ["tos:0x10", "tb131072", "rb196608", " reno "] {
        assert!(text.contains(part), "{part} not in: {text}");
    }

    let output = crate::util::run_bin(
        &["serve", "--addr", "127.0.0.1:0", "--congestion", "no-such-cc"],
        b"",
    );
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--congestion no-such-cc") && err.contains("this kernel has: "),
        "{err}"
    );
}
