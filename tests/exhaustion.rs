//! Running out of file descriptors: the server must neither spin nor stop
//! accepting for good.

mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use util::{ServerProcess, connect, pattern};

#[test]
fn out_of_descriptors_backs_off_then_serves_the_backlog() {
    // 24 descriptors: a handful for the server itself, the rest for clients,
    // so 40 clients leave a score of them waiting in the backlog.
    let server = ServerProcess::start_with_fd_limit(24, &[]);
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
    for (i, client) in clients.iter_mut().enumerate() {
        let message = pattern(i as u64, 1000);
        client.write_all(&message).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, message, "client {i}");
    }
    eprintln!("fd exhaustion: server CPU {cpu_used:.3} s over a 1 s window while out of descriptors");
}
