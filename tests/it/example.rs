//! `examples/echo.rs`, the teaching example, holds to what `serve`'s core
//! promises: 16 MiB back byte for byte, the echo finished after a
//! half-close, flat memory beside a client that never reads, and socat as
//! a client.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::util::{ServerProcess, TIMEOUT, connect, echo, pattern, run_command, write_without_reading};

/// The example's binary: `cargo test` builds examples beside the tests,
/// but not when run for this test alone, so it is built here if missing.
fn example_binary() -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let debug = deps.parent().unwrap().parent().unwrap();
    let binary = debug.join("examples").join("echo");
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let built = Command::new(cargo)
            .args(["build", "--example", "echo"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(built.success(), "cargo build --example echo failed");
    }
    binary
}

fn start() -> ServerProcess {
    let mut command = Command::new(example_binary());
    command.arg("127.0.0.1:0");
    ServerProcess::spawn(command)
}

fn digest(bytes: &[u8]) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

#[test]
fn sixteen_mebibytes_come_back_exactly() {
    let server = start();
    let data = pattern(16, 16 << 20);
    let back = echo(server.addr, &data);
    assert_eq!(back.len(), data.len());
    assert_eq!(digest(&back), digest(&data));
}

#[test]
fn after_a_half_close_the_whole_echo_comes_then_eof() {
    let server = start();
    let mut client = connect(server.addr);
    client.write_all(b"first part, ").unwrap();
    client.write_all(b"then the rest").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    client.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"first part, then the rest");
}

#[test]
fn a_client_that_never_reads_cannot_grow_it() {
    let server = start();
    let before = server.rss_bytes();
    let mut greedy = connect(server.addr);
    // Writes until its own send blocks: the example stopped reading it.
    let sent = write_without_reading(&mut greedy, &pattern(7, 64 << 20));
    assert!(sent < 64 << 20, "all {sent} bytes were taken: no backpressure");
    let grew = server.rss_bytes().saturating_sub(before);
    assert!(
        grew < 4 << 20,
        "grew {grew} bytes for a client that never reads ({sent} sent)"
    );
    // Others are served meanwhile.
    assert_eq!(echo(server.addr, b"still serving"), b"still serving");
    drop(greedy);
}

#[test]
fn socat_is_a_client_like_any_other() {
    let server = start();
    let mut socat = Command::new("socat");
    socat.args(["-t", "5", "-", &format!("TCP:{}", server.addr)]);
    let output = run_command(socat, b"hello from socat\n");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"hello from socat\n");
}

#[test]
fn it_says_where_it_listens_and_refuses_a_bad_address() {
    let output = Command::new(example_binary())
        .arg("not-an-address")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("ADDR"));
    // The first line names the port the system picked (start() parsed it).
    let server = start();
    let client = TcpStream::connect_timeout(&server.addr, TIMEOUT);
    assert!(client.is_ok());
}
