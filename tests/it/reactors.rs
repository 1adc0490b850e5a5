//! `serve --threads N` (reactors on one address through SO_REUSEPORT) and
//! `serve --busy-poll`.

use crate::util;

use std::time::Duration;

use crate::util::{ServerProcess, TIMEOUT, connect, echo, pattern};

#[test]
fn connections_spread_over_reactors_and_all_echo() {
    let mut server = ServerProcess::start_with(&["--threads", "2"], &[("RUST_LOG", "debug")]);
    let log = server.wait_for_log("on 2 reactors");
    assert!(log.contains("on 2 reactors"), "{log}");
    std::thread::scope(|scope| {
        for i in 0..64 {
            let addr = server.addr;
            scope.spawn(move || {
                let message = pattern(i, 10_000 + i as usize);
                assert_eq!(echo(addr, &message), message, "connection {i}");
            });
        }
    });
    let log = server.wait_for_log_count("closed: finished", 64);
    let per_reactor = |id: usize| log.matches(&format!("reactor {id}: connection")).count() / 2;
    assert_eq!(per_reactor(0) + per_reactor(1), 64, "{log}");
    assert!(
        per_reactor(0) > 0 && per_reactor(1) > 0,
        "all on one reactor: {log}"
    );
    eprintln!("64 connections spread {}/{}", per_reactor(0), per_reactor(1));

    let _idle = connect(server.addr);
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(TIMEOUT).expect("all reactors stop");
    assert!(status.success());
    let log = server.stderr_at_exit();
    assert!(
        log.contains("all reactors stopped: served 65 connections"),
        "{log}"
    );
}

#[test]
fn busy_poll_echoes_and_gives_its_core_back_when_idle() {
    let mut server = ServerProcess::start(&["--busy-poll"]);
    let data = pattern(3, 1 << 20);
    assert_eq!(echo(server.addr, &data), data);
    // Idle now: after its 50 ms spin the reactor sleeps in poll again, so the
    // window below holds at most that spin.
    let before = server.cpu_seconds();
    // A measurement window, not a wait for an event.
    std::thread::sleep(Duration::from_secs(1));
    let used = server.cpu_seconds() - before;
    assert!(used < 0.2, "an idle busy-poll server used {used} s of CPU in 1 s");
    server.signal(libc::SIGTERM);
    assert!(server.wait_exit(TIMEOUT).expect("server exits").success());
}

/// Regression guard: SO_REUSEPORT lets any process of the same user join a
/// port whose sockets all set it, so a second `serve --threads 2` started
/// silently and took half the clients.
#[test]
fn a_second_server_on_a_port_in_use_fails_whatever_its_threads() {
    for first_threads in ["1", "2"] {
        let server = ServerProcess::start(&["--threads", first_threads]);
        let addr = server.addr.to_string();
        for threads in ["1", "2", "4"] {
            let output = util::run_bin(&["serve", "--addr", &addr, "--threads", threads], b"");
            assert_eq!(output.status.code(), Some(1), "{first_threads} then {threads}");
            assert_eq!(
                String::from_utf8_lossy(&output.stderr),
                format!("error: cannot listen on {addr}: address already in use\n"),
                "{first_threads} then {threads}"
            );
        }
        let message = pattern(5, 1000);
        assert_eq!(echo(server.addr, &message), message);
    }
}

/// With several reactors, the stats line is one line for all of them (not
/// one untagged line per reactor), and its figures are the sums.
#[test]
fn stats_with_threads_is_one_total_line_per_interval() {
    let started = std::time::Instant::now();
    let server = ServerProcess::start(&["--threads", "2", "--stats-interval", "0.2"]);
    for i in 0..8 {
        let message = pattern(i, 1000);
        assert_eq!(echo(server.addr, &message), message);
    }
    let log = server.wait_for_log("0 active, 8 accepted");
    let stats: Vec<&str> = log.lines().filter(|line| line.contains("stats")).collect();
    assert!(!stats.is_empty(), "{log}");
    for line in &stats {
        assert!(line.contains("stats (all 2 reactors): "), "{line}");
    }
    let total = stats
        .iter()
        .find(|line| line.contains("0 active, 8 accepted"))
        .unwrap();
    assert!(
        total.contains("8000 bytes in") && total.contains("8000 bytes out"),
        "{total}"
    );
    // One line per interval, not one per reactor: the fifth line cannot
    // come before four whole intervals have passed since the start.
    let log = server.wait_for_log_count("stats (all 2 reactors)", 5);
    let elapsed = started.elapsed();
    assert!(log.matches("stats").count() >= 5, "{log}");
    assert!(
        elapsed >= std::time::Duration::from_millis(800),
        "5 stats lines within {elapsed:?} at a 0.2 s interval"
    );
}

/// Which of `clients` have an echoed byte waiting, read.
fn answered(clients: &mut [std::net::TcpStream]) -> Vec<usize> {
    use std::io::Read;
    let mut got = [0; 1];
    (0..clients.len())
        .filter(|&i| {
            clients[i].set_nonblocking(true).unwrap();
            let read = clients[i].read(&mut got);
            clients[i].set_nonblocking(false).unwrap();
            matches!(read, Ok(1))
        })
        .collect()
}

/// Issue 19, item 5: `--max-connections` holds for the server, not per
/// reactor (before, `--threads 4 --max-connections 1` served 4 at once).
/// A place freed on one reactor lets in a client waiting on another.
#[test]
fn max_connections_holds_across_reactors() {
    use std::io::Write;
    let server = ServerProcess::start(&["--threads", "4", "--max-connections", "1"]);
    let mut clients: Vec<_> = (0..6).map(|_| connect(server.addr)).collect();
    for client in &mut clients {
        client.write_all(b"?").unwrap();
    }
    for round in 0..6 {
        let started = std::time::Instant::now();
        let mut first = answered(&mut clients);
        while first.is_empty() && started.elapsed() < TIMEOUT {
            std::thread::sleep(Duration::from_millis(5));
            first = answered(&mut clients);
        }
        assert_eq!(first.len(), 1, "round {round}: answered {first:?}");
        // A window in which no one else may be served while it is open.
        std::thread::sleep(Duration::from_millis(300));
        let others = answered(&mut clients);
        assert!(
            others.is_empty(),
            "round {round}: {others:?} served beside {first:?}"
        );
        drop(clients.remove(first[0]));
    }
}

/// Issue 19, item 5: 10 clients under a cap of 10 on 4 reactors are all
/// served at once (before, 7 to 9 were: the cap was split per reactor).
#[test]
fn a_cap_of_ten_serves_ten_at_once_on_four_reactors() {
    use std::io::{Read, Write};
    let server = ServerProcess::start(&["--threads", "4", "--max-connections", "10"]);
    let mut clients: Vec<_> = (0..10).map(|_| connect(server.addr)).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.write_all(&[i as u8]).unwrap();
        let mut got = [0; 1];
        client
            .read_exact(&mut got)
            .unwrap_or_else(|err| panic!("client {i}: {err}"));
        assert_eq!(got[0], i as u8);
    }
}
