//! On a real path: hosts in network namespaces of the test's own, joined by
//! veth pairs, with loss (nft), a vanished peer, and HAProxy in front of
//! PROXY-protocol backends. Needs root; skips elsewhere with the reason,
//! and must run on CI (`.ci/run` installs iproute2, nftables, ethtool and
//! haproxy). Traffic stays inside the namespaces each test makes.

use crate::util;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::netns::{Net, run};
use crate::util::{BIN, ServerProcess, number, pattern, run_command};
use serde_json::Value;

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

/// `mio-echo send` of `data` from `ns`: it must all come back, exactly.
fn send_verified(net: &Net, ns: &str, addr: SocketAddr, data: &[u8]) {
    let output = mio_echo_in(net, ns, &["send", "--addr", &addr.to_string()], data);
    assert!(
        output.status.success(),
        "{addr}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stdout == data,
        "{addr}: {} of {} bytes back",
        output.stdout.len(),
        data.len()
    );
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
    send_verified(&net, &client, server.addr, &data);
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
        if mode != "churn" {
            assert_eq!(number(&report, "tcp.connections"), 20.0, "{mode}: {report}");
            assert!(number(&report, "tcp.rtt_mean_us") > 0.0, "{mode}: {report}");
        }
        if mode == "pingpong" {
            // A clean path under a load it carries: TCP_INFO says nothing
            // was retransmitted. (Stream mode fills the veth queue at
            // GB/s and does see a few, which is the path telling the truth.)
            assert_eq!(number(&report, "tcp.retransmits"), 0.0, "{mode}: {report}");
        }
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
    // (Benches below get a long drain: a segment lost several times in a
    // row waits out doubling retransmission timeouts, seconds in all.)
    nft(
        &net,
        &server_ns,
        "table inet loss {\n chain input {\n type filter hook input priority 0;\n counter\n \
         numgen random mod 100 < 5 counter drop\n }\n}\n",
    );
    let metrics = format!("{server_ip}:9103");
    let server = serve_in(&net, &server_ns, server_ip, &["--metrics-addr", &metrics]);
    let data = pattern(52, 10 << 20);
    send_verified(&net, &client, server.addr, &data);
    let (code, stream) = bench_in(
        &net,
        &client,
        server.addr,
        &["--mode", "stream", "-c", "4", "-d", "2", "--drain-timeout", "30"],
    );
    assert_eq!(code, Some(0), "{stream}");
    assert!(number(&stream, "bytes") > 0.0);
    let (code, pingpong) = bench_in(
        &net,
        &client,
        server.addr,
        &["-c", "10", "-d", "3", "--drain-timeout", "30"],
    );
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
    // And the path's own figures say so (TCP_INFO, as iperf3's Retr).
    for report in [&stream, &pingpong] {
        assert!(number(report, "tcp.retransmits") > 0.0, "{report}");
    }
    // The server's side too: its sockets' retransmissions, read as each
    // closed (the benches' connections are all closed by now; the count
    // reaches the metrics within the reactor's next publish).
    let name = "mio_echo_tcp_retransmitted_segments_total";
    let deadline = std::time::Instant::now() + crate::util::TIMEOUT;
    let server_retransmits = loop {
        let text = scrape_in(&net, &server_ns, &metrics);
        match sample(&text, name) {
            Some(count) if count > 0.0 => break count,
            _ if std::time::Instant::now() > deadline => panic!("{name} stayed 0 or absent:\n{text}"),
            _ => {}
        }
    };
    eprintln!(
        "5% loss: {dropped} of {seen} packets dropped ({:.1}%); 10 MB send verified; stream {:.1} MB/s; \
         pingpong {:.0} msg/s, p50 {p50} us, p99 {p99} us, max {max} us; retransmits: stream {}, pingpong {}, \
         server {server_retransmits}",
        100.0 * rate,
        number(&stream, "bytes_per_s") / 1e6,
        number(&pingpong, "messages_per_s"),
        number(&stream, "tcp.retransmits"),
        number(&pingpong, "tcp.retransmits")
    );
}

/// The RTT bench and send report (TCP_INFO) is the path's: through a
/// delay line of 20 ms each way, about 40 ms, as bench's own latency says.
#[test]
fn the_rtt_reported_matches_a_delay_added_to_the_path() {
    let Some(mut net) = Net::new("the_rtt_reported_matches_a_delay_added_to_the_path") else {
        return;
    };
    let (client, server_ns) = (net.host("client"), net.host("server"));
    let (_, server_ip, _line) = net.delay_line(&client, &server_ns, Duration::from_millis(20));
    let server = serve_in(&net, &server_ns, server_ip, &[]);
    let (code, report) = bench_in(&net, &client, server.addr, &["-c", "4", "-d", "2"]);
    assert_eq!(code, Some(0), "{report}");
    let (rtt, p50) = (
        number(&report, "tcp.rtt_mean_us"),
        number(&report, "latency.p50_us"),
    );
    // The line hands packets on a little late (a Python loop), never early.
    assert!((40_000.0..50_000.0).contains(&rtt), "rtt {rtt} us: {report}");
    assert!((40_000.0..50_000.0).contains(&p50), "p50 {p50} us: {report}");
    assert_eq!(number(&report, "tcp.retransmits"), 0.0, "{report}");
    let sent = mio_echo_in(
        &net,
        &client,
        &["send", "--verbose", "--addr", &server.addr.to_string(), "hi"],
        b"",
    );
    let stderr = String::from_utf8_lossy(&sent.stderr);
    let rtt: f64 = stderr
        .split("rtt ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no rtt in: {stderr}"));
    assert!(
        (40_000.0..50_000.0).contains(&rtt),
        "send's rtt {rtt} us: {stderr}"
    );
    eprintln!(
        "20 ms each way: bench rtt {:.0} us, p50 {p50} us; send rtt {rtt} us",
        number(&report, "tcp.rtt_mean_us")
    );
}

/// `mio-echo send` of an HTTP request: the metrics answer comes back as
/// the "reply" (and send says it is not an echo, which is true).
/// An HTTP GET of /metrics from inside `ns`, read to the server's close
/// (`send` is an echo client: it stops once more comes back than it sent).
fn scrape_in(net: &Net, ns: &str, metrics: &str) -> String {
    let script = "import socket, sys\nhost, port = sys.argv[1].rsplit(':', 1)\n\
                  s = socket.create_connection((host, int(port)), timeout=10)\n\
                  s.sendall(b'GET /metrics HTTP/1.0\\r\\n\\r\\n')\nout = b''\n\
                  while True:\n    data = s.recv(65536)\n    if not data: break\n    out += data\n\
                  sys.stdout.write(out.decode())";
    let mut command = net.exec(ns, "python3");
    command.args(["-c", script, metrics]);
    let output = run_command(command, b"");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Child processes killed (by PID) when dropped, even if the test fails.
struct Killed(Vec<Child>);

impl Killed {
    fn kill_all(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.kill_all();
    }
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
    let mut chats = Killed(vec![
        chat_in(&net, &client, guarded.addr),
        chat_in(&net, &client, unguarded.addr),
    ]);
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
    chats.kill_all();
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

/// HAProxy's `show stat`, through its stats socket: (backend, server) -> status.
fn haproxy_status(socket: &std::path::Path) -> Vec<(String, String, String)> {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(socket) else {
        return Vec::new();
    };
    let _ = stream.write_all(b"show stat\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            Some((
                fields.first()?.to_string(),
                fields.get(1)?.to_string(),
                fields.get(17)?.to_string(),
            ))
        })
        .collect()
}

/// Waits (bounded) until `server` of backend `backend` has `status`.
fn wait_status(socket: &std::path::Path, backend: &str, server: &str, status: &str) {
    let started = Instant::now();
    while started.elapsed() < util::TIMEOUT {
        let table = haproxy_status(socket);
        if table
            .iter()
            .any(|(b, s, st)| b == backend && s == server && st.starts_with(status))
        {
            return;
        }
        // Polling HAProxy's own view: its health checks run every 200 ms.
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{backend}/{server} never {status}: {:?}", haproxy_status(socket));
}

/// Connections a backend serves now for clients behind the balancer, from
/// its debug log (health checks come without `via`).
fn proxied_open(log: &str) -> usize {
    let mut open = std::collections::HashMap::new();
    for line in log.lines() {
        let Some(rest) = line.split("connection ").nth(1) else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let Some(key) = words.next() else { continue };
        match words.next() {
            Some("from") => {
                open.insert(key.to_string(), line.contains(" via "));
            }
            Some("closed:") => {
                open.remove(key);
            }
            _ => {}
        }
    }
    open.values().filter(|via| **via).count()
}

#[test]
fn haproxy_in_front_with_proxy_protocol_and_a_backend_killed_mid_run() {
    let Some(mut net) = Net::new("haproxy_in_front") else {
        return;
    };
    if std::process::Command::new("haproxy").arg("-v").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "haproxy is missing on CI");
        eprintln!("haproxy_in_front: skipped: haproxy is not installed");
        return;
    }
    let (client, lb) = (net.host("client"), net.host("lb"));
    let (client_ip, lb_front) = net.link(&client, &lb);
    let mut backends = Vec::new();
    for name in ["b1", "b2", "b3"] {
        let ns = net.host(name);
        let (lb_side, ip) = net.link(&lb, &ns);
        let trust = format!("{lb_side}/32");
        let server = serve_in(&net, &ns, ip, &["--proxy-protocol", "--proxy-trust", &trust]);
        backends.push((name, server, lb_side));
    }
    let dir = std::env::temp_dir().join(format!("mio-echo-haproxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("stats.sock");
    let servers = |proxy: &str| {
        backends
            .iter()
            .map(|(name, server, _)| {
                format!(
                    "    server {name} {} {proxy} check check-send-proxy inter 200 fall 2 rise 2\n",
                    server.addr
                )
            })
            .collect::<String>()
    };
    let config = format!(
        "global\n    stats socket {} mode 600 level admin\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\
         frontend v2\n    bind {lb_front}:10000\n    default_backend echoes\n\
         backend echoes\n    balance roundrobin\n{}\
         frontend v1\n    bind {lb_front}:10001\n    default_backend echoes_v1\n\
         backend echoes_v1\n    balance roundrobin\n{}",
        socket.display(),
        servers("send-proxy-v2"),
        servers("send-proxy")
    );
    let config_path = dir.join("haproxy.cfg");
    std::fs::write(&config_path, config).unwrap();
    let mut haproxy = net
        .exec(&lb, "haproxy")
        .args(["-db", "-f"])
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    struct Stop<'a>(&'a mut Child, std::path::PathBuf);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let _haproxy = Stop(&mut haproxy, dir.clone());
    for (name, _, _) in &backends {
        wait_status(&socket, "echoes", name, "UP");
    }
    let front: SocketAddr = format!("{lb_front}:10000").parse().unwrap();
    let front_v1: SocketAddr = format!("{lb_front}:10001").parse().unwrap();

    // Exactly the bytes back, through v2 and v1, and every backend names
    // the real client.
    let data = pattern(53, 1 << 20);
    for addr in [front, front, front, front_v1, front_v1, front_v1] {
        send_verified(&net, &client, addr, &data);
    }
    for (name, server, lb_side) in &backends {
        let log = server.wait_for_log_count(&format!("from {client_ip}:"), 2);
        assert!(
            log.matches(&format!("from {client_ip}:")).count() >= 2,
            "{name}: {log}"
        );
        assert!(log.contains(&format!("via {lb_side}:")), "{name}: {log}");
    }
    for addr in [front, front_v1] {
        let (code, report) = bench_in(&net, &client, addr, &["-c", "30", "-d", "1"]);
        assert_eq!(code, Some(0), "{addr}: {report}");
        assert_eq!(errors(&report), 0.0, "{addr}: {report}");
    }

    // A backend killed mid-run: exactly the connections it held end early,
    // the rest carry on, and new connections avoid it.
    let mut bench = net.exec(&client, BIN);
    bench
        .args([
            "bench",
            "--json",
            "--addr",
            &front.to_string(),
            "-c",
            "30",
            "-d",
            "4",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let bench = bench.spawn().unwrap();
    // Once all 30 are connected (spread by roundrobin; a health check
    // slow under load can skew it), see what the victim holds.
    let started = Instant::now();
    let open = |backends: &[(&str, ServerProcess, Ipv4Addr)]| {
        backends
            .iter()
            .map(|(_, server, _)| proxied_open(&server.stderr()))
            .sum::<usize>()
    };
    while open(&backends) < 30 && started.elapsed() < util::TIMEOUT {
        // Each backend logs every connection it is given.
        for (_, server, _) in &backends {
            server.wait_for_more_log(Duration::from_millis(20));
        }
    }
    assert_eq!(open(&backends), 30, "all bench connections through the balancer");
    let held = proxied_open(&backends[1].1.stderr());
    assert!(held > 0, "roundrobin gave the second backend none of 30");
    let mut backends = backends;
    let (_, mut victim, _) = backends.remove(1);
    let _ = victim_kill(&mut victim);
    wait_status(&socket, "echoes", "b2", "DOWN");
    let output = bench.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let lost = number(&report, "errors.early_eofs");
    assert_eq!(
        lost, held as f64,
        "the victim's connections end in early EOFs: {report}"
    );
    assert_eq!(
        errors(&report),
        lost,
        "only the victim's connections failed: {report}"
    );
    assert!(number(&report, "messages") > 0.0);
    for _ in 0..6 {
        let output = mio_echo_in(
            &net,
            &client,
            &["send", "--addr", &front.to_string(), "after"],
            b"",
        );
        assert_eq!(
            output.stdout,
            b"after",
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stats = haproxy_status(&socket);
    eprintln!(
        "haproxy: b2 killed holding {held} of 30 bench connections: {lost} ended early, {:.0} messages in all; \
         status after: {:?}",
        number(&report, "messages"),
        stats.iter().filter(|(b, _, _)| b == "echoes").collect::<Vec<_>>()
    );
}

/// Kills a backend the way a crash would (SIGKILL), by its PID.
fn victim_kill(server: &mut ServerProcess) -> Option<std::process::ExitStatus> {
    server.signal(libc::SIGKILL);
    server.wait_exit(util::TIMEOUT)
}

#[test]
fn a_shaped_path_echoes_exactly_and_backpressure_keeps_memory_flat() {
    let Some(mut net) = Net::new("a_shaped_path") else {
        return;
    };
    let (client, server_ns) = (net.host("client"), net.host("server"));
    let (_, server_ip) = net.link(&client, &server_ns);
    // The server's side of the path drains at 1 Mbit/s (125 kB/s).
    run(net.exec(&server_ns, "tc").args([
        "qdisc",
        "add",
        "dev",
        &Net::device(1, 'b'),
        "root",
        "tbf",
        "rate",
        "1mbit",
        "burst",
        "32kbit",
        "latency",
        "400ms",
    ]));
    let server = serve_in(&net, &server_ns, server_ip, &[]);
    let data = pattern(54, 100_000);
    let started = Instant::now();
    send_verified(&net, &client, server.addr, &data);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(600),
        "100 kB at 1 Mbit/s took only {took:?}"
    );
    // A client that writes far faster than the path drains: the server
    // stops reading at --max-pending instead of growing.
    let rss_before = server.rss_bytes();
    let mut send = net.exec(&client, BIN);
    send.args(["send", "--addr", &server.addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut send = Killed(vec![send.spawn().unwrap()]);
    let mut input = send.0[0].stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let block = vec![7u8; 1 << 20];
        // Blocks once the path and the buffers are full; ends when send is killed.
        for _ in 0..64 {
            if input.write_all(&block).is_err() {
                return;
            }
        }
    });
    let mut peak = 0;
    for _ in 0..4 {
        // A measurement window: the client keeps pushing meanwhile.
        std::thread::sleep(Duration::from_millis(500));
        peak = peak.max(server.rss_bytes());
    }
    send.kill_all();
    writer.join().unwrap();
    let grew = peak.saturating_sub(rss_before);
    assert!(
        grew < 2 << 20,
        "server RSS grew {grew} bytes behind a 1 Mbit/s path"
    );
    eprintln!(
        "shaped 1 Mbit/s: 100 kB echoed exactly in {took:?}; server RSS +{} kB while a client pushed for 2 s",
        grew / 1024
    );
}
