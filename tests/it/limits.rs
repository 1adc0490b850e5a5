//! `--max-connections-per-ip`: one source cannot take every slot.

use crate::util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;

use crate::util::{ServerProcess, connect, pattern};
use socket2::{Domain, Socket, Type};

/// A client connected from a loopback address of our choice.
fn connect_from(source: &str, server: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&format!("{source}:0").parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.connect(&server.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(util::TIMEOUT)).unwrap();
    stream
}

fn echoes(stream: &mut TcpStream) -> bool {
    let message = pattern(41, 100);
    if stream.write_all(&message).is_err() {
        return false;
    }
    let mut back = vec![0; message.len()];
    stream.read_exact(&mut back).is_ok() && back == message
}

#[test]
fn one_source_gets_its_share_and_others_are_served() {
    let server = ServerProcess::start(&["--max-connections-per-ip", "2", "--threads", "2"]);
    let mut first = connect(server.addr);
    let mut second = connect(server.addr);
    assert!(echoes(&mut first) && echoes(&mut second));
    let mut third = connect(server.addr);
    assert!(
        !echoes(&mut third),
        "the third from 127.0.0.1 is closed at accept"
    );
    let mut elsewhere = connect_from("127.0.0.2", server.addr);
    assert!(echoes(&mut elsewhere), "another source still gets in");
    let log = server.wait_for_log("over --max-connections-per-ip");
    assert!(
        log.contains("connections from 127.0.0.1 over --max-connections-per-ip"),
        "{log}"
    );
    // One finishes: once its EOF comes back the server has closed it (the
    // slot is given back before the close), so the slot is free again, on
    // whichever reactor. (Dropping it raced the next connects.)
    first.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).unwrap();
    drop(first);
    let mut later = None;
    for _ in 0..50 {
        let mut attempt = connect(server.addr);
        if echoes(&mut attempt) {
            later = Some(attempt);
            break;
        }
    }
    assert!(later.is_some(), "a freed slot is given again");
    // Refusals after the first are counted, not each logged.
    for _ in 0..20 {
        let mut extra = connect(server.addr);
        assert!(!echoes(&mut extra));
    }
    let log = server.stderr();
    assert_eq!(log.matches("over --max-connections-per-ip").count(), 1, "{log}");
}

/// Issue 19, item 6: `--broadcast` with 1-byte chunks and subscribers that
/// never read. Each queued chunk also costs a queue slot and its
/// allocation's counts; before they were counted, 200 such subscribers grew
/// the server by 191 MB under a 64 KiB `--max-pending`. The subscribers
/// here are on a Unix socket, whose kernel buffer holds each write as its
/// own small packet and so fills after a few hundred (TCP coalesces them
/// into its send queue, megabytes of them).
#[test]
fn broadcast_queues_of_tiny_chunks_stay_within_max_pending() {
    let dir = util::tls::Scratch::new("broadcast-memory");
    let path = dir.path("echo.sock");
    let path_arg = path.to_str().unwrap();
    let server = ServerProcess::start(&["--broadcast", "--max-pending", "8192", "--unix", path_arg]);
    let mut subscribers: Vec<UnixStream> = (0..50).map(|_| UnixStream::connect(&path).unwrap()).collect();
    let mut sender = connect(server.addr);
    sender.set_nodelay(true).unwrap();
    // Everyone accepted: each reads the first byte, then never again.
    sender.write_all(b"!").unwrap();
    let mut first = [0; 1];
    for subscriber in &mut subscribers {
        subscriber.set_read_timeout(Some(util::TIMEOUT)).unwrap();
        subscriber.read_exact(&mut first).unwrap();
    }
    sender.read_exact(&mut first).unwrap();
    let peak_before = server.peak_rss_bytes();
    // A byte at a time, each read back before the next: every chunk the
    // server reads is one byte.
    for i in 0..10_000u32 {
        sender.write_all(&[i as u8]).unwrap();
        let mut back = [0; 1];
        sender.read_exact(&mut back).unwrap();
    }
    let grown = server.peak_rss_bytes().saturating_sub(peak_before);
    eprintln!(
        "broadcast of 10,000 1-byte chunks to 50 stalled subscribers: peak RSS grew {} KiB",
        grown >> 10
    );
    assert!(grown < 2 << 20, "server peak RSS grew {} KiB", grown >> 10);
    drop(subscribers);
}
