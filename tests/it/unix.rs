//! `serve --unix PATH`: the echo over a Unix domain stream socket, to
//! clients no one here wrote (socat, ncat) and to `send`/`chat --unix`;
//! the socket file's life (permissions, stale and live files, removal at
//! stop), backpressure and 1,000 clients at once.

use crate::util;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use crate::util::tls::Scratch;
use crate::util::{ServerProcess, pattern, run_bin, run_command};

fn unix_server(dir: &Scratch, extra: &[&str]) -> (ServerProcess, String) {
    let path = dir.path("echo.sock").to_str().unwrap().to_string();
    let mut args = vec!["--unix", path.as_str()];
    args.extend_from_slice(extra);
    (ServerProcess::start(&args), path)
}

fn connect(path: &str) -> UnixStream {
    let stream = UnixStream::connect(path).expect("connect to the Unix socket");
    stream.set_read_timeout(Some(util::TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(util::TIMEOUT)).unwrap();
    stream
}

#[test]
fn socat_ncat_send_and_chat_over_the_unix_socket() {
    let dir = Scratch::new("unix-clients");
    let (_server, path) = unix_server(&dir, &[]);
    let mut socat = Command::new("socat");
    socat.args(["-", &format!("UNIX-CONNECT:{path}")]);
    let output = run_command(socat, b"from socat\n");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "from socat\n");
    let mut ncat = Command::new("ncat");
    ncat.args(["-U", &path]);
    let output = run_command(ncat, b"from ncat\n");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "from ncat\n");
    // 4 MiB through send: half-close, the whole echo, the server's EOF.
    let input = pattern(7, 4 << 20);
    let output = run_bin(&["send", "--unix", &path], &input);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout == input, "{} bytes back", output.stdout.len());
    let output = run_bin(&["chat", "--unix", &path], b"one\ntwo\n");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"one\ntwo\n");
}

#[test]
fn the_socket_file_has_its_mode_and_goes_at_stop() {
    let dir = Scratch::new("unix-file");
    let (mut server, path) = unix_server(&dir, &["--unix-mode", "600"]);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    server.signal(libc::SIGTERM);
    assert!(server.wait_exit(util::TIMEOUT).expect("stops").success());
    assert!(
        !std::path::Path::new(&path).exists(),
        "the socket file outlived the server"
    );
    // The default mode.
    let (_server, path) = unix_server(&dir, &[]);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
}

#[test]
fn a_stale_file_is_replaced_and_a_live_server_is_address_in_use() {
    let dir = Scratch::new("unix-stale");
    let path = dir.path("echo.sock").to_str().unwrap().to_string();
    // What a server killed with SIGKILL leaves: a socket file nobody accepts on.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let server = ServerProcess::start(&["--unix", &path]);
    server.wait_for_log("a socket file left by a server that is gone");
    let mut client = connect(&path);
    client.write_all(b"fresh").unwrap();
    let mut back = [0; 5];
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"fresh");
    // A second server on the same path: one line, exit 1, the first untouched.
    let output = run_bin(&["serve", "--addr", "127.0.0.1:0", "--unix", &path], b"");
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(&format!("cannot listen on {path}: address already in use")),
        "{err}"
    );
    assert!(std::path::Path::new(&path).exists());
    client.write_all(b"still").unwrap();
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"still");
}

/// A client that writes and never reads: the server stops reading from it
/// (backpressure), its memory stays flat, and others are served.
#[test]
fn a_unix_client_that_never_reads_leaves_memory_flat() {
    let dir = Scratch::new("unix-slow");
    let (server, path) = unix_server(&dir, &[]);
    let before = server.rss_bytes();
    let mut greedy = connect(&path);
    greedy
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = vec![0x5a; 64 * 1024];
    let mut pushed = 0usize;
    // Writes until the socket stays full for half a second (the server
    // stopped reading), or 256 MiB.
    while pushed < 256 << 20 {
        match greedy.write(&chunk) {
            Ok(n) => pushed += n,
            Err(_) => break,
        }
    }
    assert!(pushed < 256 << 20, "the server read everything: no backpressure");
    let grown = server.rss_bytes().saturating_sub(before);
    assert!(
        grown < 4 << 20,
        "RSS grew {grown} bytes while {pushed} were pushed"
    );
    let mut other = connect(&path);
    other.write_all(b"served").unwrap();
    let mut back = [0; 6];
    other.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"served");
}

#[test]
fn a_thousand_unix_clients_at_once() {
    let dir = Scratch::new("unix-many");
    let (_server, path) = unix_server(&dir, &[]);
    let mut clients: Vec<UnixStream> = (0..1000).map(|_| connect(&path)).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.write_all(&pattern(i as u64, 100)).unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let mut back = vec![0; 100];
        client.read_exact(&mut back).unwrap();
        assert!(back == pattern(i as u64, 100), "client {i}");
    }
}

#[test]
fn an_abstract_socket_needs_no_file() {
    let name = format!("@mio-echo-test-{}", std::process::id());
    let _server = ServerProcess::start(&["--unix", &name]);
    let output = run_bin(&["send", "--unix", &name, "abstract"], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"abstract");
}

#[test]
fn bench_pingpong_and_stream_over_the_unix_socket() {
    let dir = Scratch::new("unix-bench");
    let (_server, path) = unix_server(&dir, &[]);
    for mode in ["pingpong", "stream", "churn"] {
        let output = run_bin(
            &[
                "bench", "--unix", &path, "-m", mode, "-c", "8", "-d", "0.5", "--json",
            ],
            b"",
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(report["addr"], path.as_str(), "{report}");
        assert!(util::number(&report, "bytes") > 0.0, "{mode}: {report}");
        let errors: f64 = report["errors"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert_eq!(errors, 0.0, "{mode}: {report}");
    }
}
