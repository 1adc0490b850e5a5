//! `serve --metrics-addr`: what a scrape says after a known workload, and a
//! metrics port that is attacked without the echo port noticing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::util::metrics::{get, metrics_address, scrape, scrape_until, value};
use crate::util::{ServerProcess, TIMEOUT, connect, echo, pattern};

/// Starts a server with metrics on a free port; returns it and that port.
fn with_metrics(args: &[&str]) -> (ServerProcess, SocketAddr) {
    let mut all = vec!["serve", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let server = ServerProcess::start_with_command(&all);
    let metrics = metrics_address(&server);
    (server, metrics)
}

#[test]
fn a_scrape_counts_what_the_clients_did() {
    let (server, metrics) = with_metrics(&["--idle-timeout", "0.3", "--threads", "2"]);
    for i in 0..3 {
        let message = pattern(i, 10_000);
        assert_eq!(echo(server.addr, &message), message);
    }
    let mut idle = connect(server.addr);
    idle.write_all(b"x").unwrap();
    let mut byte = [0];
    idle.read_exact(&mut byte).unwrap();
    let _open = connect(server.addr);
    let finished = "mio_echo_connections_closed_total{reason=\"finished\"}";
    let idled = "mio_echo_connections_closed_total{reason=\"idle_timeout\"}";
    let text = scrape_until(metrics, |t| {
        value(t, finished) == Some(3.0) && value(t, idled) >= Some(1.0)
    });
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.contains("Content-Type: application/openmetrics-text"),
        "{text}"
    );
    assert_eq!(
        value(&text, "mio_echo_connections_accepted_total"),
        Some(5.0),
        "{text}"
    );
    assert_eq!(value(&text, finished), Some(3.0), "{text}");
    assert!(value(&text, idled) >= Some(1.0), "{text}");
    assert_eq!(
        value(&text, "mio_echo_bytes_read_total"),
        Some(30_001.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "mio_echo_bytes_written_total"),
        Some(30_001.0),
        "{text}"
    );
    let active: f64 = ["0", "1"]
        .iter()
        .filter_map(|r| value(&text, &format!("mio_echo_connections_active{{reactor=\"{r}\"}}")))
        .sum();
    assert!(active <= 1.0, "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    let health = get(metrics, "GET /healthz HTTP/1.1\r\n\r\n");
    assert!(
        health.starts_with("HTTP/1.1 200 OK") && health.ends_with("ok\n"),
        "{health}"
    );
}

#[test]
fn a_hostile_metrics_port_does_not_touch_the_echo() {
    let (server, metrics) = with_metrics(&[]);
    let rss_before = server.rss_bytes();
    // Not HTTP, and too long: answered and closed.
    assert!(get(metrics, "\x16\x03\x01 not http\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(get(metrics, &"A".repeat(20_000)).starts_with("HTTP/1.1 431"));
    assert!(get(metrics, "DELETE /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    // A swarm of ten thousand connections that never finish a request.
    mio_echo::raise_fd_limit().unwrap();
    let swarm: Vec<TcpStream> = (0..10_000)
        .map(|_| {
            let mut s = TcpStream::connect_timeout(&metrics, TIMEOUT).unwrap();
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            let _ = s.write_all(b"GET /metr");
            s
        })
        .collect();
    let started = Instant::now();
    let message = pattern(9, 1 << 20);
    assert_eq!(echo(server.addr, &message), message, "echo served meanwhile");
    let echo_took = started.elapsed();
    assert!(
        echo_took < Duration::from_secs(2),
        "echo took {echo_took:?} beside the swarm"
    );
    // Each of the swarm is closed: at once past 64, after the request
    // timeout otherwise (a reset for the ones whose request was unread).
    for mut stream in swarm {
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        assert!(rest.is_empty());
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let grew = server.rss_bytes().saturating_sub(rss_before);
    assert!(grew < 8 << 20, "RSS grew {grew} bytes");
    assert!(
        scrape(metrics).starts_with("HTTP/1.1 200 OK"),
        "scrapes work again"
    );
}

fn healthz_answered(metrics: SocketAddr) -> bool {
    get(metrics, "GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n").starts_with("HTTP/1.1 200")
}

/// Issue 19, item 4: 64 idle connections used to fill every scraper place,
/// and `/healthz` then answered 2 of 237 probes. A new scraper takes the
/// oldest one's place.
#[test]
fn idle_connections_cannot_take_healthz_away() {
    let (_server, metrics) = with_metrics(&[]);
    let idle: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect_timeout(&metrics, TIMEOUT).unwrap())
        .collect();
    let answered = (0..20).filter(|_| healthz_answered(metrics)).count();
    assert_eq!(answered, 20, "of 20 probes beside 64 idle connections");
    drop(idle);
}

/// Issue 19, item 4: a probe that arrives while the process has no
/// descriptor left is answered once one frees up, with no other scraper
/// needed to wake the listener (before, it was never answered).
#[test]
fn a_probe_waiting_out_descriptor_exhaustion_is_answered() {
    let server = ServerProcess::start_with_fd_limit(
        32,
        &["--max-connections", "1000", "--metrics-addr", "127.0.0.1:0"],
    );
    let metrics: SocketAddr = server
        .second_line()
        .strip_prefix("metrics on ")
        .unwrap()
        .parse()
        .unwrap();
    let mut clients: Vec<TcpStream> = (0..40).map(|_| connect(server.addr)).collect();
    clients[0].write_all(b"?").unwrap();
    let mut first = [0; 1];
    clients[0].read_exact(&mut first).unwrap();
    server.wait_for_log("cannot accept");
    // The probe waits in the metrics listener's backlog, unaccepted.
    let mut probe = TcpStream::connect_timeout(&metrics, TIMEOUT).unwrap();
    probe.set_read_timeout(Some(TIMEOUT)).unwrap();
    probe
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n")
        .unwrap();
    // Every echo client goes, freeing descriptors (those in the echo
    // backlog are closed before they are accepted).
    drop(clients);
    let mut answer = String::new();
    let _ = probe.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "the probe got {answer:?}");
}

/// deploy/grafana/mio-echo.json imports as it is (the fields Grafana's
/// import reads, the datasource a variable), and every metric it queries,
/// with every label it groups by, is in a live server's scrape.
#[test]
fn the_grafana_dashboard_queries_only_what_the_server_exports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/mio-echo.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for field in ["title", "uid", "schemaVersion", "panels", "templating"] {
        assert!(!dashboard[field].is_null(), "no {field}");
    }
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables
            .iter()
            .any(|v| v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus"),
        "the datasource is not a variable: {variables:?}"
    );
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 8, "{} panels", panels.len());
    let mut ids = std::collections::HashSet::new();
    let mut queries = Vec::new();
    for panel in panels {
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "duplicate id: {panel}");
        for field in ["type", "title", "gridPos", "targets", "datasource"] {
            assert!(!panel[field].is_null(), "panel without {field}: {panel}");
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{panel}");
        let grid = &panel["gridPos"];
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{panel}"
        );
        for target in panel["targets"].as_array().unwrap() {
            queries.push(target["expr"].as_str().unwrap().to_string());
        }
    }

    let (server, metrics) = with_metrics(&["--udp"]);
    let _ = &server;
    let text = scrape(metrics);
    let samples: Vec<&str> = text.lines().filter(|line| !line.starts_with('#')).collect();
    let mut checked = 0;
    for query in &queries {
        // The metric, and the label of a `by (...)` grouping if there is one.
        let name: String = query[query
            .find("mio_echo_")
            .unwrap_or_else(|| panic!("no metric: {query}"))..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let with_name: Vec<&&str> = samples
            .iter()
            .filter(|line| line.starts_with(&name) && line[name.len()..].starts_with(['{', ' ']))
            .collect();
        assert!(
            !with_name.is_empty(),
            "{name} (in '{query}') is not exported:\n{text}"
        );
        if let Some(by) = query.split("by (").nth(1) {
            let label = by.split(')').next().unwrap();
            assert!(
                with_name.iter().all(|line| line.contains(&format!("{label}=\""))),
                "{name} has no label {label}: {with_name:?}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, queries.len());
}
