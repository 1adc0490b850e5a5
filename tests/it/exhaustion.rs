//! Running out of file descriptors, and the connection cap that normally
//! keeps the server from getting there: the server must neither spin nor
//! stop accepting for good, and clients beyond the cap wait, not fail.

use crate::util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use crate::util::{ServerProcess, connect, pattern};

#[test]
fn out_of_descriptors_backs_off_then_serves_the_backlog() {
    // 24 descriptors: a handful for the server itself, the rest for clients,
    // so 40 clients leave a score of them waiting in the backlog.
    // A connection cap above what the descriptors allow, so accept really fails.
    let server = ServerProcess::start_with_fd_limit(24, &["--max-connections", "1000"]);
    let mut clients: Vec<_> = (0..40).map(|_| connect(server.addr)).collect();
    // Every client exchanges a first byte only once accepted; the first ones
    // prove the server got as far as running out.
    clients[0].write_all(b"?").unwrap();
    let mut first = [0; 1];
    clients[0].read_exact(&mut first).unwrap();

    let cpu_before = server.cpu_seconds();
    // A measurement window, not a wait for readiness: while exhausted the
    // server must stay nearly idle instead of retrying accept in a loop.
    thread::sleep(Duration::from_secs(1));
    let cpu_used = server.cpu_seconds() - cpu_before;
    assert!(
        cpu_used < 0.3,
        "server used {cpu_used} s of CPU in 1 s while out of descriptors"
    );
    let log = server.stderr();
    assert_eq!(
        log.matches("cannot accept").count(),
        1,
        "one warning per episode: {log}"
    );
    assert!(log.contains("too many open files"), "{log}");

    // As accepted clients finish, their descriptors free up and the clients
    // in the backlog are accepted and served: all 40 get their echo.
    serve_all(&mut clients);
    eprintln!("fd exhaustion: server CPU {cpu_used:.3} s over a 1 s window while out of descriptors");
}

/// Echoes `message` on every client, in order, each half-closing.
fn serve_all(clients: &mut [TcpStream]) {
    for (i, client) in clients.iter_mut().enumerate() {
        let message = pattern(i as u64, 1000);
        client.write_all(&message).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, message, "client {i}");
    }
}

#[test]
fn default_cap_follows_the_fd_limit_so_accept_never_fails() {
    let server = ServerProcess::start_with_fd_limit(24, &[]);
    let log = server.wait_for_log("accepting up to");
    assert!(
        log.contains("accepting up to 8 connections at once on 1 reactor (open-file limit 24)"),
        "{log}"
    );
    let mut clients: Vec<_> = (0..30).map(|_| connect(server.addr)).collect();
    serve_all(&mut clients);
    let log = server.stderr();
    assert!(
        !log.contains("cannot accept"),
        "the cap should keep accept from failing: {log}"
    );
}

#[test]
fn beyond_max_connections_clients_wait_in_the_backlog_then_get_served() {
    let server = ServerProcess::start_with(&["--max-connections", "2"], &[("RUST_LOG", "debug")]);
    let mut first = connect(server.addr);
    let mut second = connect(server.addr);
    let mut third = connect(server.addr);
    for client in [&mut first, &mut second] {
        client.write_all(b"x").unwrap();
        let mut got = [0; 1];
        client.read_exact(&mut got).unwrap();
    }
    // The third is connected (the kernel completed the handshake) but not
    // accepted: its bytes wait unanswered, nothing is refused or reset.
    third.write_all(b"waiting").unwrap();
    server.wait_for_log("new clients wait in the backlog");
    third.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut got = [0; 7];
    let early = third.read(&mut got);
    assert!(
        matches!(&early, Err(err) if err.kind() == std::io::ErrorKind::WouldBlock),
        "{early:?}"
    );
    // One closes: the third is accepted and served.
    drop(first);
    third.set_read_timeout(Some(util::TIMEOUT)).unwrap();
    third.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"waiting");
}
