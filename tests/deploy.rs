//! Running under systemd: a socket handed over by socket activation
//! (`systemd-socket-activate`, from Debian's systemd package, stands in for
//! systemd), and the clear error for an unusable one.

mod util;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use util::{BIN, TIMEOUT, run_bin, run_command};

/// `systemd-socket-activate`, or why this test cannot run here.
fn activator() -> Option<&'static str> {
    let found = Command::new("systemd-socket-activate")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        eprintln!(
            "skipped: systemd-socket-activate is not installed (Debian's systemd package; .ci/run installs it)"
        );
    }
    found.then_some("systemd-socket-activate")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_socket_activated_server_echoes_and_drains_on_sigterm() {
    let Some(activate) = activator() else { return };
    let port = free_port();
    let mut child = Command::new(activate)
        .args(["-l", &format!("127.0.0.1:{port}"), BIN, "serve", "--threads", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its "Listening on" line says the socket is open: connections queue
    // in it until the server, started by the first one, accepts them.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Listening on") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the activator exited");
    }
    let output = run_bin(&["send", "--port", &port.to_string(), "activated"], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"activated");
    // The activator execs the server: the child's PID is the server's.
    // SAFETY: kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = wait_timeout::ChildExt::wait_timeout(&mut child, TIMEOUT)
        .unwrap()
        .expect("stopped");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
    assert!(status.success(), "{status}: {log}");
    assert!(
        log.contains("serving the socket systemd passed (fd 3, 127.0.0.1:"),
        "{log}"
    );
}

#[test]
fn an_inherited_fd_that_is_no_tcp_listener_is_a_clear_error() {
    // fd 3 is /dev/null: LISTEN_PID is the shell's PID, which exec gives the server.
    let mut shell = Command::new("sh");
    shell.args([
        "-c",
        &format!("LISTEN_PID=$$ LISTEN_FDS=1 exec {BIN} serve 3</dev/null"),
    ]);
    let output = run_command(shell, b"");
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("cannot serve the socket systemd passed (fd 3): fd 3 is not a socket"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // A datagram socket where a stream one belongs.
    let Some(activate) = activator() else { return };
    let port = free_port();
    let mut child = Command::new(activate)
        .args(["--datagram", "-l", &format!("127.0.0.1:{port}"), BIN, "serve"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Listening on") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the activator exited");
    }
    // A datagram starts the server, which refuses the socket.
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"x", ("127.0.0.1", port))
        .unwrap();
    let status = wait_timeout::ChildExt::wait_timeout(&mut child, TIMEOUT)
        .unwrap()
        .expect("exited");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("is not a valid tcp socket"), "{log}");
}

/// The units under deploy/systemd: systemd-analyze finds nothing to say,
/// and the service's ExecStart is a command line this binary accepts.
#[test]
fn the_systemd_units_verify_and_their_command_line_parses() {
    let root = env!("CARGO_MANIFEST_DIR");
    let service = std::fs::read_to_string(format!("{root}/deploy/systemd/mio-echo.service")).unwrap();
    let exec = service
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/mio-echo"));
    let mut args: Vec<&str> = words.collect();
    args.push("--check");
    let output = run_bin(&args, b"");
    assert!(
        output.status.success(),
        "{exec}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("skipped systemd-analyze verify: not installed");
        return;
    }
    // Verified with ExecStart pointing at this build (verify wants the binary to exist).
    let dir = util::tls::Scratch::new("units");
    std::fs::write(
        dir.path("mio-echo.service"),
        service.replace("/usr/local/bin/mio-echo", BIN),
    )
    .unwrap();
    std::fs::copy(
        format!("{root}/deploy/systemd/mio-echo.socket"),
        dir.path("mio-echo.socket"),
    )
    .unwrap();
    let mut verify = Command::new("systemd-analyze");
    verify
        .current_dir(&dir.0)
        .args(["verify", "--man=no", "./mio-echo.socket", "./mio-echo.service"]);
    let output = run_command(verify, b"");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && said.trim().is_empty(), "{said}");
}
