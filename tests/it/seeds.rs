//! What the five seed tutorials (../shared/seeds/) do, done by mio-echo:
//! broadcast, the interactive client, chunked receive, socket names,
//! `--port`, and interop both ways with the seeds' own Python programs
//! (ported to Python 3).

use crate::util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;

use crate::util::{BIN, ServerProcess, TIMEOUT, connect, pattern, run_bin};

const SEED_001_MESSAGE: &str =
    "This is our message. It is very long but will only be transmitted in chunks of 16 at a time";

/// Connects `count` clients to a broadcast server and returns them once the
/// server has accepted every one: each sends a probe byte and every client
/// connected so far reads it back (a client only gets a broadcast once accepted).
fn broadcast_clients(server: &ServerProcess, count: usize) -> Vec<TcpStream> {
    let mut clients: Vec<TcpStream> = Vec::new();
    for i in 0..count {
        clients.push(connect(server.addr));
        let probe = [b'0' + i as u8];
        clients[i].write_all(&probe).unwrap();
        for client in &mut clients {
            let mut got = [0; 1];
            client.read_exact(&mut got).unwrap();
            assert_eq!(got, probe);
        }
    }
    clients
}

#[test]
fn broadcast_reaches_every_client_in_one_order_the_sender_too() {
    let server = ServerProcess::start(&["--broadcast"]);
    let mut clients = broadcast_clients(&server, 3);
    // Each sender uses its own range of byte values, so its bytes can be
    // picked out of the shared stream to check they arrived whole and in order.
    let messages: Vec<Vec<u8>> = (0..3u8)
        .map(|i| (0..30_000).map(|k| i * 80 + (k % 80) as u8).collect())
        .collect();
    let total: usize = messages.iter().map(Vec::len).sum();
    let received: Vec<Vec<u8>> = thread::scope(|scope| {
        let readers: Vec<_> = clients
            .iter()
            .map(|client| {
                let mut reader = client.try_clone().unwrap();
                scope.spawn(move || util::read_exact_vec(&mut reader, total).unwrap())
            })
            .collect();
        // All three send at once, in pieces, so their chunks interleave.
        for (client, message) in clients.iter_mut().zip(&messages) {
            let mut writer = client.try_clone().unwrap();
            scope.spawn(move || {
                for piece in message.chunks(1000) {
                    writer.write_all(piece).unwrap();
                }
            });
        }
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(
        received[0] == received[1] && received[1] == received[2],
        "clients saw different orders"
    );
    for (i, message) in messages.iter().enumerate() {
        let range = (i as u8 * 80)..(i as u8 * 80 + 80);
        let theirs: Vec<u8> = received[0]
            .iter()
            .copied()
            .filter(|b| range.contains(b))
            .collect();
        assert!(
            &theirs == message,
            "client {i}'s bytes lost, doubled or reordered"
        );
    }
}

#[test]
fn broadcast_disconnects_a_slow_consumer_while_the_others_go_on() {
    let server = ServerProcess::start(&["--broadcast", "--max-pending", "1048576"]);
    let mut clients = broadcast_clients(&server, 3);
    let mut slow = clients.pop().unwrap();
    let (mut sender, mut listener) = (clients.remove(0), clients.remove(0));
    let data = pattern(7, 32 << 20);
    // Healthy clients keep up round by round; the slow one never reads, so
    // its queue passes the limit once the kernel buffers in between are full.
    for (round, piece) in data.chunks(256 * 1024).enumerate() {
        sender.write_all(piece).unwrap();
        let own_copy = util::read_exact_vec(&mut sender, piece.len()).unwrap();
        let other_copy = util::read_exact_vec(&mut listener, piece.len()).unwrap();
        assert!(own_copy == piece && other_copy == piece, "round {round} differs");
    }
    let log = server.wait_for_log("slow consumer");
    assert!(
        log.contains("disconnecting connection") && log.contains("slow consumer"),
        "{log}"
    );
    // The slow client finds its connection closed after what was already sent to it.
    let mut rest = Vec::new();
    let outcome = slow.read_to_end(&mut rest);
    assert!(
        outcome.is_err() || rest.len() < data.len(),
        "the slow consumer was not cut off"
    );
}

/// Reads a child's stdout line by line on a thread.
fn line_reader(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

#[test]
fn chat_through_a_pipe_prints_the_echo_and_exits_at_the_servers_eof() {
    let server = ServerProcess::start(&[]);
    let output = run_bin(
        &["chat", "--addr", &server.addr.to_string()],
        b"one\ntwo\nthree\n",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"one\ntwo\nthree\n");
}

#[test]
fn chat_prints_other_clients_broadcasts_as_they_arrive() {
    let mut server = ServerProcess::start(&["--broadcast"]);
    let mut chat = Command::new(BIN)
        .args(["chat", "--addr", &server.addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = line_reader(&mut chat);
    let mut input = chat.stdin.take().unwrap();
    // The chat's own line comes back first: proof it is connected and accepted.
    input.write_all(b"hello from chat\n").unwrap();
    assert_eq!(lines.recv_timeout(TIMEOUT).unwrap(), "hello from chat");
    let mut other = connect(server.addr);
    other.write_all(b"hi from another client\n").unwrap();
    assert_eq!(lines.recv_timeout(TIMEOUT).unwrap(), "hi from another client");
    drop(input);
    // A broadcast server keeps a half-closed client receiving until it stops.
    server.signal(libc::SIGTERM);
    assert!(server.wait_exit(TIMEOUT).expect("server exits").success());
    let status = util::wait_child(&mut chat);
    assert!(status.success(), "{status}");
}

#[test]
fn send_chunk_prints_each_read_with_its_count_like_seed_001() {
    let server = ServerProcess::start(&[]);
    let output = run_bin(
        &[
            "send",
            "--addr",
            &server.addr.to_string(),
            "--chunk",
            "16",
            SEED_001_MESSAGE,
        ],
        b"",
    );
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let mut rebuilt = String::new();
    for line in text.lines() {
        let (count, shown) = line
            .strip_prefix("received ")
            .and_then(|rest| rest.split_once(" bytes: b'"))
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        let shown = shown.strip_suffix('\'').unwrap();
        let count: usize = count.parse().unwrap();
        assert!((1..=16).contains(&count), "{line}");
        assert_eq!(shown.len(), count, "{line}");
        rebuilt.push_str(shown);
    }
    assert_eq!(rebuilt, SEED_001_MESSAGE);
    assert!(text.lines().count() >= SEED_001_MESSAGE.len().div_ceil(16));
}

#[test]
fn send_verbose_prints_both_socket_names_and_serve_logs_them_at_debug() {
    let server = ServerProcess::start_with(&[], &[("RUST_LOG", "debug")]);
    let addr = server.addr.to_string();
    let output = run_bin(&["send", "--addr", &addr, "--verbose", "hi"], b"");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut lines = stderr.lines();
    let (names, path) = (lines.next().unwrap_or_default(), lines.next().unwrap_or_default());
    // Then the path's own figures (TCP_INFO), as iperf3 shows them.
    assert!(
        path.starts_with("tcp: retransmits 0, lost 0,") && path.contains(" us (var "),
        "{stderr}"
    );
    let local = names
        .strip_prefix("connected from ")
        .and_then(|rest| rest.split_once(" to "))
        .map(|(local, peer)| {
            assert_eq!(peer.trim_end(), addr);
            local.to_string()
        })
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(local.starts_with("127.0.0.1:"));
    // The server logs the same pair, from its side.
    let wanted = format!("from {local} to {addr}");
    let log = server.wait_for_log(&wanted);
    assert!(log.contains(&wanted), "{log}");
}

#[test]
fn port_is_a_shorthand_for_loopback_and_conflicts_with_addr() {
    let server = ServerProcess::start_with_command(&["serve", "--port", "0"]);
    assert!(server.addr.ip().is_loopback());
    let port = server.addr.port().to_string();
    let output = run_bin(&["send", "--port", &port, "seed"], b"");
    assert_eq!(output.stdout, b"seed");
    let output = run_bin(&["chat", "--port", &port], b"line\n");
    assert_eq!(output.stdout, b"line\n");
    let output = run_bin(&["bench", "--port", &port, "-c", "2", "-d", "0.2"], b"");
    assert!(output.status.success());
    for command in ["serve", "send", "chat", "bench"] {
        let output = run_bin(&[command, "--port", "1", "--addr", "127.0.0.1:1"], b"");
        assert_eq!(output.status.code(), Some(2), "{command}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("cannot be used with"));
    }
}

// ----- Interop with the seeds' Python programs -----

fn python3() -> Option<&'static str> {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: python3 is not installed");
    }
    found.then_some("python3")
}

/// Runs a Python client against `port` and returns its stdout.
fn run_python_client(python: &str, script: &str, port: u16) -> String {
    let mut child = Command::new(python)
        .args(["-u", "-c", script, &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = util::wait_child(&mut child);
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "python client failed: {err}");
    out
}

/// A Python server that prints its port on its first line; killed on drop.
struct PythonServer {
    child: Child,
    port: String,
}

impl PythonServer {
    fn start(python: &str, script: &str) -> PythonServer {
        let mut child = Command::new(python)
            .args(["-u", "-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = line_reader(&mut child);
        let port = lines
            .recv_timeout(TIMEOUT)
            .expect("python server printed no port");
        PythonServer { child, port }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SEED_000_CLIENT: &str = r#"
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.connect(('127.0.0.1', int(sys.argv[1])))
message = "Test message. This will be echoed"
sock.sendall(message.encode('utf-8'))
amount_received = 0
while amount_received < len(message):
    data = sock.recv(16)
    amount_received += len(data)
    print("Received: %s" % data.decode())
sock.close()
"#;

const SEED_001_CLIENT: &str = r#"
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.connect(('localhost', int(sys.argv[1])))
message = b'This is our message. It is very long but will only be transmitted in chunks of 16 at a time'
sock.sendall(message)
amount_received = 0
while amount_received < len(message):
    data = sock.recv(16)
    amount_received += len(data)
    print(data.decode())
sock.close()
"#;

/// Seed 002's helper, shared by its client and its server.
macro_rules! seed_002_recv_all {
    () => {
        r#"
import socket, sys
def recv_all(sock, length):
    data = b''
    while len(data) < length:
        more = sock.recv(length - len(data))
        if not more:
            raise EOFError('socket closed %d bytes into a %d-byte message' % (len(data), length))
        data += more
    return data
"#
    };
}

const SEED_002_CLIENT: &str = concat!(
    seed_002_recv_all!(),
    r#"s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'Hi there, server')
print('The server said', repr(recv_all(s, 16)))
s.close()
"#
);

const SEED_003_CLIENT: &str = r#"
import socket, sys
client_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client_socket.connect(('127.0.0.1', int(sys.argv[1])))
client_socket.send("Hello server, this is from the client".encode('utf-8'))
print(f"Received from server: {client_socket.recv(1024).decode('utf-8')}")
client_socket.close()
"#;

#[test]
fn seed_python_clients_work_against_mio_echo_serve() {
    let Some(python) = python3() else { return };
    let server = ServerProcess::start(&[]);
    let port = server.addr.port();

    let out = run_python_client(python, SEED_000_CLIENT, port);
    let echoed: String = out
        .lines()
        .map(|l| l.strip_prefix("Received: ").unwrap())
        .collect();
    assert_eq!(echoed, "Test message. This will be echoed");

    let out = run_python_client(python, SEED_001_CLIENT, port);
    assert_eq!(out.lines().collect::<String>(), SEED_001_MESSAGE);

    let out = run_python_client(python, SEED_002_CLIENT, port);
    assert_eq!(out.trim_end(), "The server said b'Hi there, server'");

    let out = run_python_client(python, SEED_003_CLIENT, port);
    assert_eq!(
        out.trim_end(),
        "Received from server: Hello server, this is from the client"
    );
}

/// Seed 000's server: echoes one read of up to 2048 bytes, then closes.
const SEED_000_SERVER: &str = r#"
import socket
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(('127.0.0.1', 0))
sock.listen(5)
print(sock.getsockname()[1])
while True:
    client, address = sock.accept()
    data = client.recv(2048)
    if data:
        client.send(data)
    client.close()
"#;

/// Seed 001's server: 16 bytes at a time, until the client's EOF.
const SEED_001_SERVER: &str = r#"
import socket
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(('127.0.0.1', 0))
sock.listen(1)
print(sock.getsockname()[1])
while True:
    connection, client_address = sock.accept()
    try:
        while True:
            data = connection.recv(16)
            if data:
                connection.sendall(data)
            else:
                break
    finally:
        connection.close()
"#;

/// Seed 002's server: reads a 16-byte message, answers something else.
const SEED_002_SERVER: &str = concat!(
    seed_002_recv_all!(),
    r#"s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 0))
s.listen(1)
print(s.getsockname()[1])
while True:
    sc, sockname = s.accept()
    message = recv_all(sc, 16)
    sc.sendall(b'Farewell, client')
    sc.close()
"#
);

/// Seed 003's server: one client, one read of up to 1024 bytes, echo, close.
const SEED_003_SERVER: &str = r#"
import socket
server_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server_socket.bind(('127.0.0.1', 0))
server_socket.listen(5)
print(server_socket.getsockname()[1])
client_socket, client_address = server_socket.accept()
data = client_socket.recv(1024).decode('utf-8')
client_socket.send(data.encode('utf-8'))
client_socket.close()
server_socket.close()
"#;

#[test]
fn mio_echo_send_works_against_the_seed_python_servers() {
    let Some(python) = python3() else { return };
    for (name, script, message) in [
        ("seed 000", SEED_000_SERVER, "Test message. This will be echoed"),
        ("seed 001", SEED_001_SERVER, SEED_001_MESSAGE),
        (
            "seed 003",
            SEED_003_SERVER,
            "Hello server, this is from the client",
        ),
    ] {
        let server = PythonServer::start(python, script);
        let output = run_bin(&["send", "--addr", &server.addr(), message], b"");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name}: {stderr}");
        assert_eq!(output.stdout, message.as_bytes(), "{name}");
    }
}

#[test]
fn send_against_seed_002s_server_prints_its_answer_and_exits_one_without_hanging() {
    let Some(python) = python3() else { return };
    let server = PythonServer::start(python, SEED_002_SERVER);
    let output = run_bin(
        &[
            "send",
            "--addr",
            &server.addr(),
            "--timeout",
            "5",
            "Hi there, server",
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(output.stdout, b"Farewell, client");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not an echo server"), "{stderr}");
}
