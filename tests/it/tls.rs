//! `serve --tls-*`: TLS echo checked with clients no one here wrote
//! (`openssl s_client`, Python's `ssl`), and the start-up errors.

use crate::util;

use std::io::{Read, Write};
use std::process::Stdio;

use crate::util::tls::{Scratch, python, s_client, s_client_echo, self_signed_server};
use crate::util::{connect, run_bin, wait_child};

#[test]
fn openssl_s_client_gets_its_echo() {
    let dir = Scratch::new("s-client");
    let (server, cert) = self_signed_server(&dir, &[]);
    let (ok, echoed, err) = s_client_echo(&server, &cert, &[], "hello over TLS\n");
    assert!(ok, "{err}");
    assert_eq!(echoed, "hello over TLS\n", "{err}");
}

/// 16 MiB through Python's ssl, compared by hash, then a TLS half-close
/// (`unwrap()`: our close_notify, the server's back).
#[test]
fn python_ssl_gets_16_mib_back_and_a_clean_close() {
    let dir = Scratch::new("python");
    let (server, cert) = self_signed_server(&dir, &[]);
    // One thread, non-blocking: Python's SSL sockets must not be read and
    // written from two threads at once.
    let script = r#"
import hashlib, os, select, socket, ssl, sys
tls = ctx.wrap_socket(socket.create_connection((host, port), timeout=20), server_hostname="localhost")
data = os.urandom(16 << 20)
got = bytearray()
sent = 0
tls.setblocking(False)
while len(got) < len(data):
    readable, writable, _ = select.select([tls], [tls] if sent < len(data) else [], [], 20)
    if not readable and not writable and not tls.pending():
        raise TimeoutError(f"stalled at {sent} sent, {len(got)} back")
    if writable and sent < len(data):
        try:
            sent += tls.send(data[sent:sent + 65536])
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
    try:
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                raise EOFError(f"EOF after {len(got)} bytes")
            got.extend(chunk)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        pass
tls.setblocking(True)
assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), len(got)
version = tls.version()
plain = tls.unwrap()
assert plain.recv(1) == b""
print("ok", version)
"#;
    let output = python(script, &server, &cert).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("ok TLSv1.3"), "{stdout}");
}

#[test]
fn a_plain_client_or_garbage_closes_that_connection_only() {
    let dir = Scratch::new("garbage");
    let (server, cert) = self_signed_server(&dir, &[]);
    for garbage in [&b"hello, plain text"[..], b"\x16\x03\x01\x00\x05junk!"] {
        let mut client = connect(server.addr);
        let _ = client.write_all(garbage);
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest);
        assert!(
            !rest.windows(garbage.len()).any(|w| w == garbage),
            "echoed in the clear"
        );
    }
    // The server still serves TLS clients.
    let output = s_client(&server, &cert).stdin(Stdio::null()).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn start_up_errors_name_the_file_and_the_reason() {
    let dir = std::env::temp_dir().join(format!("mio-echo-tls-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.pem");
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for (cert, key, words) in [
        (&missing, &empty, "cannot use the certificate file"),
        (&empty, &empty, "it holds no certificate"),
        (&garbage, &empty, "malformed PEM"),
    ] {
        let output = run_bin(
            &[
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ],
            b"",
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(words) && stderr.contains(cert.to_str().unwrap()),
            "{stderr}"
        );
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{stderr}"
        );
        assert!(output.stdout.is_empty(), "nothing listened");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TLS client that sends and never reads: the server stops reading it
/// once its output is stuck, instead of growing.
#[test]
fn a_tls_client_that_never_reads_leaves_memory_flat() {
    let dir = Scratch::new("never-reads");
    let (server, cert) = self_signed_server(&dir, &[]);
    let before = server.rss_bytes();
    let script = r#"
import os, socket, ssl, sys, time
tls = ctx.wrap_socket(socket.create_connection((host, port)), server_hostname="localhost")
tls.settimeout(1.0)
block = os.urandom(1 << 16)
sent = 0
try:
    while sent < (64 << 20):
        sent += tls.send(block)
except (socket.timeout, ssl.SSLWantWriteError):
    pass
print(sent, flush=True)
sys.stdin.read()
"#;
    let mut client = python(script, &server, &cert)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The client says how much the server took before it stopped reading.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(client.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let sent: u64 = line.trim().parse().unwrap();
    let grew = server.rss_bytes().saturating_sub(before);
    drop(client.stdin.take());
    let _ = wait_child(&mut client);
    assert!(sent < 64 << 20, "the server read everything: no backpressure");
    assert!(
        grew < 4 << 20,
        "server RSS grew {grew} bytes while {sent} bytes were pushed"
    );
    // Others are still served.
    let output = s_client(&server, &cert).stdin(Stdio::null()).output().unwrap();
    assert!(output.status.success());
}

/// A graceful stop ends a quiet TLS client with close_notify, not a
/// truncated stream (Python is told to report an unclean EOF).
#[test]
fn a_graceful_stop_says_close_notify_to_quiet_tls_clients() {
    let dir = Scratch::new("farewell");
    let (mut server, cert) = self_signed_server(&dir, &[]);
    let script = r#"
tls = ctx.wrap_socket(socket.create_connection((host, port), timeout=20),
                      server_hostname="localhost", suppress_ragged_eofs=False)
tls.sendall(b"hi")
assert tls.recv(2) == b"hi"
print("ready", flush=True)
assert tls.recv(1) == b"", "expected a clean close_notify"
print("clean close")
"#;
    let mut client = python(script, &server, &cert)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(client.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    server.signal(libc::SIGTERM);
    let status = wait_child(&mut client);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let mut err = String::new();
    client.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "{err}");
    assert_eq!(rest, "clean close\n", "{err}");
    assert!(server.wait_exit(util::TIMEOUT).expect("server exits").success());
}
