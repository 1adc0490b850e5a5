//! Abuse, bad peers and stopping: idle timeouts, graceful drain, the stats
//! line, and misbehaving peers that must leak neither a slab entry nor a
//! file descriptor.

use crate::util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{ServerProcess, TIMEOUT, connect, echo, pattern, write_without_reading};

/// Time for one small echo round trip on a fresh connection.
fn fresh_round_trip(server: &ServerProcess) -> Duration {
    let started = Instant::now();
    assert_eq!(echo(server.addr, b"are you there?"), b"are you there?");
    started.elapsed()
}

#[test]
fn idle_timeout_closes_a_slowloris_swarm_without_slowing_a_fresh_client() {
    mio_echo::raise_fd_limit().unwrap();
    let server = ServerProcess::start_with(&["--idle-timeout", "1"], &[("RUST_LOG", "debug")]);
    let baseline_fds = server.open_fds();
    let alone = fresh_round_trip(&server);
    // 2,000 clients that send a byte and then nothing, as slowloris does.
    // Each sends at once: a connect held up by a full backlog (a SYN
    // retried after 1 s) must not let earlier ones idle out before their
    // byte was even sent.
    let mut swarm: Vec<TcpStream> = (0..2000)
        .map(|_| {
            let mut client = connect(server.addr);
            client.write_all(b"G").unwrap();
            client
        })
        .collect();
    let with_swarm = fresh_round_trip(&server);
    eprintln!("fresh client round trip: {alone:?} alone, {with_swarm:?} beside 2,000 idle connections");
    assert!(with_swarm < Duration::from_secs(1), "{with_swarm:?}");
    // Every idle client is closed by the server: it reads its echo, then EOF.
    for client in &mut swarm {
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"G");
    }
    let log = server.wait_for_log_count("closed: idle timeout", 2000);
    assert_eq!(log.matches("closed: idle timeout").count(), 2000);
    assert_eq!(server.open_fds(), baseline_fds, "descriptors leaked");
}

#[test]
fn drain_with_only_quiet_clients_exits_within_a_second() {
    let mut server = ServerProcess::start(&[]);
    let mut quiet: Vec<TcpStream> = (0..50).map(|_| connect(server.addr)).collect();
    for client in &mut quiet {
        client.write_all(b"hi").unwrap();
        let mut got = [0; 2];
        client.read_exact(&mut got).unwrap();
    }
    let started = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(TIMEOUT).expect("server exits");
    let took = started.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    for client in &mut quiet {
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).unwrap(), 0, "an orderly EOF");
    }
}

#[test]
fn drain_keeps_serving_a_busy_client_until_everything_is_echoed() {
    let mut server = ServerProcess::start(&["--shutdown-timeout", "20"]);
    let mut quiet = connect(server.addr);
    let mut busy = connect(server.addr);
    let data = pattern(11, 8 << 20);
    let written = write_without_reading(&mut busy, &data);
    server.signal(libc::SIGTERM);
    // The quiet one is closed at once; the busy one is still served.
    let mut rest = Vec::new();
    assert_eq!(quiet.read_to_end(&mut rest).unwrap(), 0);
    // The server only sees our EOF after everything, and closes after echoing it all.
    busy.write_all(&data[written..])
        .unwrap_or_else(|err| panic!("server stopped reading: {err}"));
    busy.shutdown(Shutdown::Write).unwrap();
    let reader = thread::spawn(move || {
        let mut reply = Vec::new();
        busy.read_to_end(&mut reply).map(|_| reply)
    });
    let reply = reader.join().unwrap().expect("read the echo");
    assert!(reply == data, "got {} of {} bytes back", reply.len(), data.len());
    let status = server.wait_exit(TIMEOUT).expect("server exits once drained");
    assert!(status.success());
    let log = server.stderr_at_exit();
    assert!(log.contains("stopped: served 2 connections"), "{log}");
}

/// Regression guard: a busy client is classified once, at the signal; being
/// momentarily drained later (its echo read back, nothing pending) must not
/// get it closed while it still has more to send.
#[test]
fn drain_serves_a_busy_client_through_quiet_moments() {
    let mut server = ServerProcess::start(&["--shutdown-timeout", "20"]);
    let mut busy = connect(server.addr);
    let data = pattern(14, 8 << 20);
    let written = write_without_reading(&mut busy, &data);
    server.signal(libc::SIGTERM);
    server.wait_for_log("stopping: no new connections");
    // Read everything back: the connection is now quiet on the server's side.
    let echoed = util::read_exact_vec(&mut busy, written).unwrap();
    assert!(echoed == data[..written]);
    // More rounds after the quiet moment are still served.
    for round in 0..5u64 {
        let more = pattern(100 + round, 50_000);
        busy.write_all(&more).unwrap();
        let back =
            util::read_exact_vec(&mut busy, more.len()).unwrap_or_else(|err| panic!("round {round}: {err}"));
        assert!(back == more, "round {round}");
    }
    busy.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    assert_eq!(busy.read_to_end(&mut rest).unwrap(), 0);
    assert!(
        server
            .wait_exit(TIMEOUT)
            .expect("server exits once drained")
            .success()
    );
}

#[test]
fn a_second_signal_stops_at_once() {
    let mut server = ServerProcess::start(&["--shutdown-timeout", "60"]);
    let mut busy = connect(server.addr);
    write_without_reading(&mut busy, &pattern(12, 8 << 20));
    server.signal(libc::SIGTERM);
    server.wait_for_log("stopping: no new connections");
    let started = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(TIMEOUT).expect("server exits");
    assert!(status.success());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(server.stderr_at_exit().contains("second stop signal"));
}

#[test]
fn shutdown_timeout_cuts_off_a_client_that_never_finishes() {
    let mut server = ServerProcess::start(&["--shutdown-timeout", "1"]);
    let mut busy = connect(server.addr);
    write_without_reading(&mut busy, &pattern(13, 8 << 20));
    let started = Instant::now();
    server.signal(libc::SIGINT);
    let status = server.wait_exit(TIMEOUT).expect("server exits");
    let took = started.elapsed();
    assert!(status.success());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "took {took:?}"
    );
    assert!(
        server
            .stderr_at_exit()
            .contains("shutdown timeout: closing 1 connection still busy")
    );
}

#[test]
fn stats_interval_logs_active_connections_and_rates() {
    let server = ServerProcess::start(&["--stats-interval", "0.2"]);
    let _idle = connect(server.addr);
    assert_eq!(echo(server.addr, &pattern(1, 100_000)).len(), 100_000);
    let log = server.wait_for_log("1 active, 2 accepted");
    let line = log
        .lines()
        .find(|line| line.contains("1 active, 2 accepted"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("100000 bytes in") && line.contains("MB/s"),
        "{line}"
    );
}

/// Regression guard: bad peers must leave no slab entry and no descriptor behind.
#[test]
fn misbehaving_peers_leak_nothing() {
    let server = ServerProcess::start_with(&[], &[("RUST_LOG", "debug")]);
    let baseline_fds = server.open_fds();
    let mut opened = 0;

    // Reset mid-write: unread echo in flight when the peer resets.
    for seed in 0..10 {
        let mut client = connect(server.addr);
        write_without_reading(&mut client, &pattern(seed, 4 << 20));
        socket2::SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        opened += 1;
    }
    // EOF (a read of 0) while output is still pending.
    let mut client = connect(server.addr);
    let data = pattern(20, 4 << 20);
    let written = write_without_reading(&mut client, &data);
    client.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap();
    assert!(reply == data[..written], "echo after EOF with pending output");
    opened += 1;
    // Churn of resets and clean closes at once, so that slab keys freed by a
    // reset are reused within the same batch of events.
    thread::scope(|scope| {
        for t in 0..8 {
            scope.spawn(move || {
                for i in 0..50 {
                    let mut client = connect(server.addr);
                    client.write_all(&pattern(t * 100 + i, 3000)).unwrap();
                    if i % 2 == 0 {
                        socket2::SockRef::from(&client)
                            .set_linger(Some(Duration::ZERO))
                            .unwrap();
                    } else {
                        client.shutdown(Shutdown::Write).unwrap();
                        let mut reply = Vec::new();
                        client.read_to_end(&mut reply).unwrap();
                        assert_eq!(reply, pattern(t * 100 + i, 3000));
                    }
                }
            });
        }
    });
    opened += 400;
    // A peer that keeps sending after the server closed on it.
    let mut late = connect(server.addr);
    late.write_all(b"x").unwrap();
    late.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    late.read_to_end(&mut reply).unwrap();
    let _ = late.write_all(&[0; 100_000]);
    let _ = late.write_all(&[0; 100_000]);
    opened += 1;

    let log = server.wait_for_log_count("closed:", opened);
    assert_eq!(
        log.matches("closed:").count(),
        opened,
        "every connection closed: {log}"
    );
    assert_eq!(server.open_fds(), baseline_fds, "descriptors leaked");
    assert_eq!(echo(server.addr, b"still serving"), b"still serving");
}
