//! `--max-connections-per-ip`: one source cannot take every slot.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use socket2::{Domain, Socket, Type};
use util::{ServerProcess, connect, pattern};

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
    // One closes: its slot is free again, on whichever reactor.
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
