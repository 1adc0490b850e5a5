//! On a real path: hosts in network namespaces of the test's own, joined by
//! veth pairs, with loss (nft), a vanished peer, and HAProxy in front of
//! PROXY-protocol backends. Needs root; skips elsewhere with the reason,
//! and must run on CI (`.ci/run` installs iproute2, nftables, ethtool and
//! haproxy). Traffic stays inside the namespaces each test makes.

mod util;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::netns::{Net, run};
use util::{BIN, ServerProcess, number, pattern, run_command};

fn serve_in(net: &Net, ns: &str, ip: Ipv4Addr, args: &[&str]) -> ServerProcess {
    let mut command = net.exec(ns, BIN);
    command
        .args(["serve", "--addr", &format!("{ip}:0")])
        .args(args)
        .env("RUST_LOG", "debug");
    ServerProcess::spawn(command)
}

/// `mio-echo ARGS` inside `ns`, to completion.
fn mio_echo_in(net: &Net, ns: &str, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut command = net.exec(ns, BIN);
    command.args(args);
    run_command(command, stdin)
}

fn bench_in(net: &Net, ns: &str, addr: SocketAddr, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["bench", "--json"];
    let addr = addr.to_string();
    all.extend(["--addr", &addr]);
    all.extend_from_slice(args);
    let output = mio_echo_in(net, ns, &all, b"");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "{err}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), report)
}

fn errors(report: &Value) -> f64 {
    [
        "mismatches",
        "early_eofs",
        "resets",
        "connect_failures",
        "timeouts",
    ]
    .iter()
    .map(|e| number(report, &format!("errors.{e}")))
    .sum()
}

/// GRO off on both ends, so that nft sees (and drops) single segments.
fn gro_off(net: &Net, ns: &str, device: &str) {
    run(net.exec(ns, "ethtool").args(["-K", device, "gro", "off"]));
}

/// Loads an nft script into `ns`.
fn nft(net: &Net, ns: &str, script: &str) {
    let mut command = net.exec(ns, "nft");
    command.args(["-f", "-"]);
    let output = run_command(command, script.as_bytes());
    assert!(
        output.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn two_hosts_over_veth_verify_every_byte() {
    let Some(mut net) = Net::new("two_hosts_over_veth_verify_every_byte") else {
        return;
    };
    let (client, server_ns) = (net.host("client"), net.host("server"));
    let (_, server_ip) = net.link(&client, &server_ns);
    let server = serve_in(&net, &server_ns, server_ip, &[]);
    let data = pattern(51, 4 << 20);
    let output = mio_echo_in(
        &net,
        &client,
        &["send", "--addr", &server.addr.to_string()],
        &data,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stdout == data,
        "{} of {} bytes back",
        output.stdout.len(),
        data.len()
    );
    let chat = mio_echo_in(
        &net,
        &client,
        &["chat", "--addr", &server.addr.to_string()],
        b"one\ntwo\n",
    );
    assert_eq!(chat.stdout, b"one\ntwo\n");
    for mode in ["pingpong", "stream", "churn"] {
        let (code, report) = bench_in(
            &net,
            &client,
            server.addr,
            &["--mode", mode, "-c", "20", "-d", "1"],
        );
        assert_eq!(code, Some(0), "{mode}: {report}");
        assert_eq!(errors(&report), 0.0, "{mode}: {report}");
        assert!(number(&report, "bytes") > 0.0, "{mode}: {report}");
    }
}

/// Packets seen and dropped by the loss rules, from nft's counters.
fn loss_counters(net: &Net, ns: &str) -> (u64, u64) {
    let listing = run(net.exec(ns, "nft").args(["list", "table", "inet", "loss"]));
    let text = String::from_utf8_lossy(&listing.stdout);
    let packets: Vec<u64> = text
        .split("packets ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    (packets[0], packets[1])
}

#[test]
fn five_percent_loss_still_echoes_every_byte() {
    let Some(mut net) = Net::new("five_percent_loss_still_echoes_every_byte") else {
        return;
    };
    let (client, server_ns) = (net.host("client"), net.host("server"));
    let (_, server_ip) = net.link(&client, &server_ns);
    gro_off(&net, &client, &Net::device(1, 'a'));
    gro_off(&net, &server_ns, &Net::device(1, 'b'));
    // Every packet into the server is counted; 5% of them are dropped.
    nft(
        &net,
        &server_ns,
        "table inet loss {\n chain input {\n type filter hook input priority 0;\n counter\n \
         numgen random mod 100 < 5 counter drop\n }\n}\n",
    );
    let server = serve_in(&net, &server_ns, server_ip, &[]);
    let data = pattern(52, 10 << 20);
    let output = mio_echo_in(
        &net,
        &client,
        &["send", "--addr", &server.addr.to_string()],
        &data,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stdout == data,
        "{} of {} bytes back",
        output.stdout.len(),
        data.len()
    );
    let (code, stream) = bench_in(
        &net,
        &client,
        server.addr,
        &["--mode", "stream", "-c", "4", "-d", "2"],
    );
    assert_eq!(code, Some(0), "{stream}");
    assert!(number(&stream, "bytes") > 0.0);
    let (code, pingpong) = bench_in(&net, &client, server.addr, &["-c", "10", "-d", "3"]);
    assert_eq!(code, Some(0), "{pingpong}");
    let (seen, dropped) = loss_counters(&net, &server_ns);
    let rate = dropped as f64 / seen as f64;
    assert!((0.03..0.07).contains(&rate), "loss {dropped} of {seen}");
    let (p50, p99, max) = (
        number(&pingpong, "latency.p50_us"),
        number(&pingpong, "latency.p99_us"),
        number(&pingpong, "latency.max_us"),
    );
    // A lost segment costs a retransmission timeout (at least 200 ms).
    assert!(max >= 200_000.0, "no retransmission seen: max {max} us");
    eprintln!(
        "5% loss: {dropped} of {seen} packets dropped ({:.1}%); 10 MB send verified; stream {:.1} MB/s; \
         pingpong {:.0} msg/s, p50 {p50} us, p99 {p99} us, max {max} us",
        100.0 * rate,
        number(&stream, "bytes_per_s") / 1e6,
        number(&pingpong, "messages_per_s")
    );
}

/// `mio-echo send` of an HTTP request: the metrics answer comes back as
/// the "reply" (and send says it is not an echo, which is true).
fn scrape_in(net: &Net, ns: &str, metrics: &str) -> String {
    let output = mio_echo_in(
        net,
        ns,
        &["send", "--addr", metrics, "GET /metrics HTTP/1.0\r\n\r\n"],
        b"",
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// A chat client inside `ns`, connected and held open.
fn chat_in(net: &Net, ns: &str, addr: SocketAddr) -> Child {
    let mut command = net.exec(ns, BIN);
    command
        .args(["chat", "--addr", &addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command.spawn().unwrap()
}

#[test]
fn a_vanished_peer_is_found_by_keepalive_and_only_then() {
    let Some(mut net) = Net::new("a_vanished_peer_is_found_by_keepalive_and_only_then") else {
        return;
    };
    let (client, server_ns) = (net.host("client"), net.host("server"));
    let (client_ip, server_ip) = net.link(&client, &server_ns);
    let metrics = |port: u16| format!("{server_ip}:{port}");
    let guarded = serve_in(
        &net,
        &server_ns,
        server_ip,
        &["--keepalive", "1", "--metrics-addr", &metrics(9101)],
    );
    let unguarded = serve_in(&net, &server_ns, server_ip, &["--metrics-addr", &metrics(9102)]);
    let mut chats = vec![
        chat_in(&net, &client, guarded.addr),
        chat_in(&net, &client, unguarded.addr),
    ];
    guarded.wait_for_log(&format!("from {client_ip}:"));
    unguarded.wait_for_log(&format!("from {client_ip}:"));
    // The client's host vanishes: nothing from or to it gets through, and
    // its process dies without a word reaching the server.
    nft(
        &net,
        &server_ns,
        &format!(
            "table inet vanish {{\n chain input {{\n type filter hook input priority 0;\n ip saddr {client_ip} drop\n }}\n \
             chain output {{\n type filter hook output priority 0;\n ip daddr {client_ip} drop\n }}\n}}\n"
        ),
    );
    let vanished = Instant::now();
    for chat in &mut chats {
        let _ = chat.kill();
        let _ = chat.wait();
    }
    let log = guarded.wait_for_log("the peer stopped answering");
    let found_after = vanished.elapsed();
    assert!(log.contains("the peer stopped answering"), "{log}");
    assert!(
        found_after < Duration::from_secs(5),
        "found after {found_after:?}"
    );
    let text = scrape_in(&net, &server_ns, &metrics(9101));
    assert_eq!(
        sample(&text, "mio_echo_connections_closed_total{reason=\"keepalive\"}"),
        Some(1.0),
        "{text}"
    );
    // Without keepalive the kernel never asks: the connection stays.
    let text = scrape_in(&net, &server_ns, &metrics(9102));
    assert_eq!(
        sample(&text, "mio_echo_connections_active{reactor=\"0\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(!unguarded.stderr().contains("closed"), "{}", unguarded.stderr());
    eprintln!("vanished peer: closed by --keepalive 1 after {found_after:?}; without keepalive still open");
}
