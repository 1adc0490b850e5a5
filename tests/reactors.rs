//! `serve --threads N` (reactors on one address through SO_REUSEPORT) and
//! `serve --busy-poll`.

mod util;

use std::time::Duration;

use util::{ServerProcess, TIMEOUT, connect, echo, pattern};

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
