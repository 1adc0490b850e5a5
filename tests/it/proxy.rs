//! `serve --proxy-protocol` on loopback, and the PROXY headers that `send`
//! and `bench` send: every way a header can arrive, and every way it can be
//! wrong.

use crate::util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::util::{ServerProcess, TIMEOUT, bench_json, connect, number, pattern, run_bin};

const V1: &[u8] = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 10000\r\n";

/// A v2 header from [2001:db8::7]:40000 with an authority TLV and padding.
fn v2() -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.extend_from_slice(&[0x21, 0x21]); // v2 PROXY, TCP over IPv6
    let mut body = Vec::new();
    body.extend_from_slice(&"2001:db8::7".parse::<std::net::Ipv6Addr>().unwrap().octets());
    body.extend_from_slice(&"2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    body.extend_from_slice(&40000u16.to_be_bytes());
    body.extend_from_slice(&10000u16.to_be_bytes());
    body.extend_from_slice(&[0x02, 0, 12]); // PP2_TYPE_AUTHORITY
    body.extend_from_slice(b"echo.example");
    body.extend_from_slice(&[0x04, 0, 200]); // PP2_TYPE_NOOP
    body.extend_from_slice(&[0; 200]);
    header.extend_from_slice(&(body.len() as u16).to_be_bytes());
    header.extend_from_slice(&body);
    header
}

const LOCAL_V2: &[u8] = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";

fn proxied_server() -> ServerProcess {
    ServerProcess::start_with(&["--proxy-protocol"], &[("RUST_LOG", "debug")])
}

/// Writes `header` one byte per write, with a pause the server must wait
/// through, then echoes `payload` after it.
fn echo_after_header(server: &ServerProcess, header: &[u8], payload: &[u8], byte_by_byte: bool) -> Vec<u8> {
    let mut client = connect(server.addr);
    client.set_nodelay(true).unwrap();
    if byte_by_byte {
        for byte in header {
            client.write_all(&[*byte]).unwrap();
            // Each byte its own segment and its own read on the server.
            std::thread::sleep(Duration::from_millis(2));
        }
    } else {
        client.write_all(header).unwrap();
    }
    util::echo_on(&mut client, payload)
}

#[test]
fn headers_split_anywhere_are_never_echoed() {
    let server = proxied_server();
    let payload = pattern(31, 100_000);
    for (name, header) in [("v1", V1.to_vec()), ("v2", v2()), ("local", LOCAL_V2.to_vec())] {
        for byte_by_byte in [false, true] {
            let echoed = echo_after_header(&server, &header, &payload, byte_by_byte);
            assert!(
                echoed == payload,
                "{name}, byte by byte {byte_by_byte}: {} bytes back",
                echoed.len()
            );
        }
    }
    // Header and payload in one write: the payload behind the header stays
    // in the socket for the echo.
    let mut together = V1.to_vec();
    together.extend_from_slice(b"same segment");
    let mut client = connect(server.addr);
    assert_eq!(util::echo_on(&mut client, &together), b"same segment");
    let log = server.wait_for_log("from 192.0.2.7:40000 via 127.0.0.1:");
    assert!(
        log.contains("from 192.0.2.7:40000 via 127.0.0.1:"),
        "the header's client is logged: {log}"
    );
    assert!(log.contains("from [2001:db8::7]:40000 via 127.0.0.1:"), "{log}");
}

#[test]
fn bad_headers_close_that_connection_only() {
    let server = ServerProcess::start_with(
        &["--proxy-protocol", "--proxy-timeout", "0.5"],
        &[("RUST_LOG", "debug")],
    );
    // Garbage, and a plain client that does not know about PROXY.
    for garbage in [&b"GET / HTTP/1.1\r\n\r\n"[..], b"hello, echo, no header at all"] {
        let mut client = connect(server.addr);
        client.write_all(garbage).unwrap();
        let mut rest = Vec::new();
        // Closed without an echo: EOF, or a reset for the unread bytes.
        let _ = client.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{garbage:?} was echoed");
    }
    // A header that never completes is closed after --proxy-timeout, while
    // others are served meanwhile.
    let mut stuck = connect(server.addr);
    stuck.write_all(&V1[..10]).unwrap();
    let started = Instant::now();
    let payload = pattern(32, 1000);
    assert_eq!(
        echo_after_header(&server, V1, &payload, false),
        payload,
        "served while another waits"
    );
    let mut rest = Vec::new();
    let _ = stuck.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(rest.is_empty());
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    let log = server.wait_for_log("no complete PROXY header within");
    assert!(log.contains("no complete PROXY header within 500ms"), "{log}");
    assert_eq!(
        log.matches("closed: not a PROXY v1 or v2 header").count(),
        2,
        "{log}"
    );
}

#[test]
fn an_untrusted_peer_is_closed_at_once() {
    let server = ServerProcess::start_with(
        &["--proxy-protocol", "--proxy-trust", "10.0.0.0/8"],
        &[("RUST_LOG", "debug")],
    );
    let mut client = connect(server.addr);
    // The server may have closed already, so the writes may fail: fine.
    let _ = client.write_all(V1);
    let _ = client.write_all(b"let me in");
    let mut rest = Vec::new();
    let _ = client.read_to_end(&mut rest);
    assert!(rest.is_empty());
    let log = server.wait_for_log("not a trusted proxy");
    assert!(log.contains("not a trusted proxy (--proxy-trust)"), "{log}");
    assert!(log.contains("trusted proxies: 10.0.0.0/8"), "{log}");
}

#[test]
fn send_and_bench_speak_the_header_to_a_server_that_wants_it() {
    let server = proxied_server();
    let addr = server.addr.to_string();
    for version in ["v1", "v2"] {
        let output = run_bin(
            &[
                "send",
                "--addr",
                &addr,
                "--proxy-header",
                version,
                "through a balancer",
            ],
            b"",
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.stdout, b"through a balancer", "{version}");
    }
    for args in [
        &["--proxy-header", "v1"][..],
        &["--proxy-header", "v2", "--proxy-split"],
        &["--proxy-header", "v2", "--mode", "churn"],
        &["--proxy-header", "v1", "--proxy-split", "--mode", "stream"],
    ] {
        let mut all = vec!["-c", "8", "-d", "0.3"];
        all.extend_from_slice(args);
        let (code, report, stderr) = bench_json(&addr, &all);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert_eq!(
            number(&report, "errors.mismatches"),
            0.0,
            "the header is never echoed"
        );
        // The report says so (the HTML report's run table shows it).
        assert_eq!(report["proxy_header"], args[1], "{report}");
    }
    // Without the header, the same server refuses.
    let output = run_bin(&["send", "--addr", &addr, "no header"], b"");
    assert_eq!(output.status.code(), Some(1));
    let _ = TcpStream::connect_timeout(&server.addr, TIMEOUT).map(|s| s.shutdown(Shutdown::Both));
}

/// A v2 header that announces `body` bytes of addresses and TLVs (from
/// [2001:db8::7]:40000, then NOOP padding), whole.
fn v2_announcing(body: u16) -> Vec<u8> {
    let mut header = v2();
    header.truncate(16 + 36);
    let padding = usize::from(body) - 36 - 3;
    header.extend_from_slice(&[0x04]);
    header.extend_from_slice(&(padding as u16).to_be_bytes());
    header.resize(16 + usize::from(body), 0);
    header[14..16].copy_from_slice(&body.to_be_bytes());
    header
}

/// The worst echo a canary sees in 3 s while 20 trusted peers trickle
/// headers a byte per segment as fast as they can: half announce the
/// format's largest header, half one under the cap, each sent over and over.
fn canary_worst_beside_tricklers(server: &ServerProcess) -> (Duration, usize, usize) {
    let trickle_for = Duration::from_secs(3);
    let mut tricklers = Vec::new();
    for n in 0..20 {
        let addr = server.addr;
        let header = v2_announcing(if n % 2 == 0 { 65_535 } else { 4000 });
        tricklers.push(std::thread::spawn(move || {
            let mut peer = connect(addr);
            peer.set_nodelay(true).unwrap();
            let started = Instant::now();
            let mut sent = 0;
            for byte in header.iter().cycle() {
                if started.elapsed() > trickle_for || peer.write_all(&[*byte]).is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        }));
    }
    let mut canary = connect(server.addr);
    canary.set_nodelay(true).unwrap();
    canary.write_all(V1).unwrap();
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    let mut rounds = 0;
    while started.elapsed() < trickle_for {
        let asked = Instant::now();
        canary.write_all(b"ping").unwrap();
        assert_eq!(util::read_exact_vec(&mut canary, 4).unwrap(), b"ping");
        worst = worst.max(asked.elapsed());
        rounds += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let sent: usize = tricklers.into_iter().map(|t| t.join().unwrap()).sum();
    (worst, rounds, sent)
}

/// Issue 19, item 1: trusted peers that trickle a long header a byte per
/// segment must not stall anyone else. Before the fix the gate re-peeked
/// the whole unread header on every event: the canary waited 246 ms. The
/// best of up to three attempts counts: on a busy machine (CI runs tests
/// side by side on two cores) another test can add a spike to one.
#[test]
fn headers_trickled_a_byte_per_segment_stall_no_one() {
    let server = ServerProcess::start(&["--proxy-protocol", "--proxy-timeout", "30"]);
    let mut attempts = Vec::new();
    for _ in 0..3 {
        let (worst, rounds, sent) = canary_worst_beside_tricklers(&server);
        assert!(sent > 20 * 16, "the tricklers sent {sent} bytes");
        assert!(rounds > 50, "{rounds} canary rounds");
        eprintln!(
            "20 trickling PROXY peers: the canary's worst echo {worst:?} over {rounds} rounds ({sent} bytes trickled)"
        );
        attempts.push(worst);
        if worst < Duration::from_millis(50) {
            return;
        }
    }
    panic!("the canary waited for an echo, at worst, {attempts:?} in three attempts");
}

#[test]
fn a_v2_header_over_the_cap_is_refused() {
    let server = ServerProcess::start_with(&["--proxy-protocol"], &[("RUST_LOG", "debug")]);
    for (body, served) in [(4096 - 16, true), (4096 - 15, false)] {
        let mut header = v2_announcing(body);
        header.extend_from_slice(b"after the header");
        let mut client = connect(server.addr);
        let _ = client.write_all(&header);
        let mut back = vec![0; 16];
        let got = client.read_exact(&mut back).map(|()| back);
        assert_eq!(got.is_ok(), served, "a body of {body} bytes");
    }
    let log = server.wait_for_log("a PROXY v2 header of 4097 bytes");
    assert!(log.contains("(at most 4096 are served)"), "{log}");
}
