//! `serve --metrics-addr HOST:PORT`: Prometheus metrics on `GET /metrics`
//! and a health check on `GET /healthz`, served from the first reactor's
//! own poll (a listener with its own token; no extra thread, no HTTP crate).
//!
//! The metrics port faces the same network as the echo port, so it is
//! hostile input too: a request is read up to [`MAX_REQUEST`] bytes within
//! [`REQUEST_TIMEOUT`], at most [`MAX_CLIENTS`] scrapers are held at once,
//! and every answer closes its connection. A new scraper is always served:
//! when all the places are taken, the oldest connection is closed for it
//! (idle connections must not take `/healthz` away from a balancer, which
//! would then drop a healthy server). After the process runs out of
//! descriptors, accepting is tried again every [`ACCEPT_RETRY`], so a probe
//! that came meanwhile is answered as soon as a descriptor frees up.
//! None of it can hold up echo traffic: each step is a non-blocking read or
//! write of a few kilobytes in the reactor's loop.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry as Metrics;
use slab::Slab;

use super::stats::{Closed, StatsBoard};

use super::deadlines::Deadlines;
use super::tokens::{METRICS_LISTENER as LISTENER, SCRAPERS_FIRST as FIRST_TOKEN};

/// A request longer than this is refused (431) and closed.
pub const MAX_REQUEST: usize = 8 * 1024;
/// A request not complete by then is closed (a slowloris on the metrics port).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapers held at once; a new one takes the oldest one's place.
pub const MAX_CLIENTS: usize = 64;
/// How soon accepting is tried again after it failed for want of
/// descriptors or memory.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The text exposition of every reactor's figures.
pub fn render(board: &StatsBoard) -> String {
    let (levels, total) = board.total();
    let mut metrics = Metrics::with_prefix("mio_echo");
    let counter = |metrics: &mut Metrics, name: &str, help: &str, value: u64| {
        let counter: Counter = Counter::default();
        counter.inc_by(value);
        metrics.register(name, help, counter);
    };
    let gauge = |metrics: &mut Metrics, name: &str, help: &str, value: u64| {
        let gauge: Gauge = Gauge::default();
        gauge.set(value as i64);
        metrics.register(name, help, gauge);
    };
    counter(
        &mut metrics,
        "connections_accepted",
        "Connections accepted and served",
        total.connections,
    );
    let active: Family<Vec<(String, String)>, Gauge> = Family::default();
    for reactor in 0..board.reactors() {
        let (levels, _) = board.reactor(reactor);
        active
            .get_or_create(&vec![("reactor".to_string(), reactor.to_string())])
            .set(levels.active as i64);
    }
    metrics.register(
        "connections_active",
        "Connections being served, per reactor",
        active,
    );
    let closed: Family<Vec<(String, String)>, Counter> = Family::default();
    let reason = |name: &str, value: u64| {
        closed
            .get_or_create(&vec![("reason".to_string(), name.to_string())])
            .inc_by(value);
    };
    for why in Closed::ALL {
        reason(why.name(), total.closed[why as usize]);
    }
    reason("proxy_rejected", total.proxy_rejected);
    reason("per_ip_limit", total.per_ip_rejected);
    metrics.register(
        "connections_closed",
        "Connections closed, by reason (proxy_rejected and per_ip_limit: closed before being served)",
        closed,
    );
    counter(
        &mut metrics,
        "bytes_read",
        "Bytes read from clients",
        total.bytes_read,
    );
    counter(
        &mut metrics,
        "bytes_written",
        "Bytes written back to clients",
        total.bytes_written,
    );
    counter(
        &mut metrics,
        "tcp_retransmitted_segments",
        "Segments retransmitted by the kernel on TCP connections closed so far (TCP_INFO at close)",
        total.tcp_retransmits,
    );
    counter(
        &mut metrics,
        "accept_errors",
        "Failed accepts",
        total.accept_errors,
    );
    counter(
        &mut metrics,
        "accept_backoffs",
        "Times accepting paused for lack of file descriptors or memory",
        total.accept_backoffs,
    );
    counter(
        &mut metrics,
        "read_pauses",
        "Times a connection stopped reading under backpressure (--max-pending)",
        total.read_pauses,
    );
    gauge(
        &mut metrics,
        "pending_output_bytes",
        "Echo bytes held for clients slow to read",
        levels.pending_bytes,
    );
    let proxy: Family<Vec<(String, String)>, Counter> = Family::default();
    for (result, value) in [
        ("accepted", total.proxy_accepted),
        ("rejected", total.proxy_rejected),
    ] {
        proxy
            .get_or_create(&vec![("result".to_string(), result.to_string())])
            .inc_by(value);
    }
    metrics.register("proxy_headers", "PROXY protocol headers, by result", proxy);
    gauge(
        &mut metrics,
        "proxy_waiting",
        "Connections waiting for their PROXY header",
        levels.proxy_waiting,
    );
    crate::udp::register_metrics(&mut metrics, &total.udp);
    let mut text = String::new();
    encode(&mut text, &metrics).expect("writing to a String cannot fail");
    text
}

/// What the server answers to a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Not all of the request line and headers have come yet.
    Incomplete,
    Respond(u16, &'static str, String),
}

/// Reads a request (pure, for tests): only `GET` (or `HEAD`) of
/// `/metrics` and `/healthz` is served.
pub fn answer(request: &[u8], board: &StatsBoard, stopping: bool) -> Answer {
    let Some(end) = find(request, b"\r\n\r\n").or_else(|| find(request, b"\n\n")) else {
        if request.len() >= MAX_REQUEST {
            return Answer::Respond(431, "text/plain", "request too large\n".into());
        }
        return Answer::Incomplete;
    };
    let head = String::from_utf8_lossy(&request[..end]);
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path, version) = (words.next(), words.next(), words.next());
    if !version.is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Answer::Respond(400, "text/plain", "not an HTTP/1 request\n".into());
    }
    if !matches!(method, Some("GET" | "HEAD")) {
        return Answer::Respond(405, "text/plain", "only GET is served\n".into());
    }
    match path.map(|p| p.split('?').next().unwrap_or(p)) {
        Some("/metrics") => Answer::Respond(
            200,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            render(board),
        ),
        // A balancer stops sending new clients to a server that says so.
        Some("/healthz") if stopping => Answer::Respond(503, "text/plain", "stopping\n".into()),
        Some("/healthz") => Answer::Respond(200, "text/plain", "ok\n".into()),
        _ => Answer::Respond(404, "text/plain", "try /metrics or /healthz\n".into()),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

struct Scraper {
    stream: TcpStream,
    request: Vec<u8>,
    /// The answer, and how much of it is written.
    response: Option<(Vec<u8>, usize)>,
    serial: u64,
}

/// The metrics listener and its scrapers.
pub struct MetricsEndpoint {
    listener: TcpListener,
    board: StatsBoard,
    scrapers: Slab<Scraper>,
    /// Each has [`REQUEST_TIMEOUT`]; the front is the oldest.
    deadlines: Deadlines,
    /// Accepting failed for want of resources: try again then.
    retry_accept: Option<Instant>,
}

impl MetricsEndpoint {
    pub fn new(
        mut listener: TcpListener,
        board: StatsBoard,
        registry: &Registry,
    ) -> io::Result<MetricsEndpoint> {
        registry.register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(MetricsEndpoint {
            listener,
            board,
            scrapers: Slab::new(),
            deadlines: Deadlines::new(REQUEST_TIMEOUT),
            retry_accept: None,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn accept_all(&mut self, registry: &Registry, now: Instant) {
        self.retry_accept = None;
        loop {
            match self.listener.accept() {
                Ok((mut stream, peer)) => {
                    if self.scrapers.len() >= MAX_CLIENTS {
                        self.close_oldest(registry);
                        log::debug!(
                            "metrics: {MAX_CLIENTS} scrapers connected: the oldest closed for {peer}"
                        );
                    }
                    let entry = self.scrapers.vacant_entry();
                    let token = Token(FIRST_TOKEN + entry.key());
                    if registry
                        .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                        .is_err()
                    {
                        continue;
                    }
                    let serial = self.deadlines.start(entry.key(), now);
                    entry.insert(Scraper {
                        stream,
                        request: Vec::new(),
                        response: None,
                        serial,
                    });
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    log::debug!("metrics: accept failed: {}", crate::error::describe(&err));
                    // Out of descriptors (or memory): no new edge may come
                    // for a probe already waiting, so try again soon.
                    self.retry_accept = Some(now + ACCEPT_RETRY);
                    return;
                }
            }
        }
    }

    fn close_oldest(&mut self, registry: &Registry) {
        let scrapers = &self.scrapers;
        if let Some(key) = self
            .deadlines
            .pop_oldest(|key, serial| is_live(scrapers, key, serial))
        {
            self.remove(registry, key);
        }
    }

    fn remove(&mut self, registry: &Registry, key: usize) {
        let mut scraper = self.scrapers.remove(key);
        let _ = registry.deregister(&mut scraper.stream);
        let scrapers = &self.scrapers;
        self.deadlines
            .sweep(scrapers.len(), |key, serial| is_live(scrapers, key, serial));
    }

    /// Moves a scraper along: read its request, answer, close.
    pub fn on_event(&mut self, registry: &Registry, token: Token, stopping: bool) {
        let key = token.0 - FIRST_TOKEN;
        let Some(scraper) = self.scrapers.get_mut(key) else {
            return;
        };
        let done = match scraper.step(&self.board, stopping) {
            Ok(done) => done,
            Err(err) => {
                log::debug!("metrics: scraper dropped: {}", crate::error::describe(&err));
                true
            }
        };
        if done {
            self.remove(registry, key);
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.next().into_iter().chain(self.retry_accept).min()
    }

    /// Closes scrapers that did not finish in time, and accepts again if
    /// that is due.
    pub fn expire(&mut self, registry: &Registry, now: Instant) {
        if self.retry_accept.is_some_and(|at| now >= at) {
            self.accept_all(registry, now);
        }
        loop {
            let scrapers = &self.scrapers;
            let Some(key) = self
                .deadlines
                .pop_due(now, |key, serial| is_live(scrapers, key, serial))
            else {
                break;
            };
            self.remove(registry, key);
            log::debug!("metrics: a scraper took longer than {REQUEST_TIMEOUT:?}, closed");
        }
    }
}

/// Whether `key` still holds the scraper whose wait has `serial`.
fn is_live(scrapers: &Slab<Scraper>, key: usize, serial: u64) -> bool {
    scrapers.get(key).is_some_and(|s| s.serial == serial)
}

impl Scraper {
    /// True once the connection is finished with.
    fn step(&mut self, board: &StatsBoard, stopping: bool) -> io::Result<bool> {
        if self.response.is_none() {
            let mut chunk = [0u8; 2048];
            loop {
                match self.stream.read(&mut chunk) {
                    Ok(0) => return Ok(true),
                    Ok(n) => {
                        let room = MAX_REQUEST.saturating_sub(self.request.len());
                        self.request.extend_from_slice(&chunk[..n.min(room)]);
                        if let Answer::Respond(status, kind, body) = answer(&self.request, board, stopping) {
                            self.response = Some((response(status, kind, &body, &self.request), 0));
                            self.discard_rest(&mut chunk);
                            break;
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            }
        }
        let Some((bytes, written)) = &mut self.response else {
            return Ok(false);
        };
        while *written < bytes.len() {
            match self.stream.write(&bytes[*written..]) {
                Ok(n) => *written += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(true)
    }
}

impl Scraper {
    /// Reads and drops what else the client sent (up to 64 KiB), so that
    /// closing after the answer sends a FIN, not a reset that could beat the
    /// answer to the client.
    fn discard_rest(&mut self, chunk: &mut [u8]) {
        let mut dropped = 0;
        while dropped < 64 * 1024 {
            match self.stream.read(chunk) {
                Ok(n) if n > 0 => dropped += n,
                _ => return,
            }
        }
    }
}

fn response(status: u16, kind: &str, body: &str, request: &[u8]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let mut head = String::new();
    let _ = write!(
        head,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut bytes = head.into_bytes();
    if !request.starts_with(b"HEAD ") {
        bytes.extend_from_slice(body.as_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::stats::{Levels, Summary};

    fn board() -> StatsBoard {
        let board = StatsBoard::new(2);
        let mut summary = Summary {
            connections: 7,
            bytes_read: 700,
            bytes_written: 690,
            proxy_accepted: 5,
            proxy_rejected: 2,
            ..Summary::default()
        };
        summary.count_close(Closed::Finished);
        summary.count_close(Closed::IdleTimeout);
        board.publish(
            1,
            Levels {
                active: 3,
                pending_bytes: 10,
                proxy_waiting: 1,
            },
            summary,
        );
        board
    }

    #[test]
    fn the_exposition_names_every_figure() {
        let text = render(&board());
        for line in [
            "mio_echo_connections_accepted_total 7",
            "mio_echo_connections_active{reactor=\"0\"} 0",
            "mio_echo_connections_active{reactor=\"1\"} 3",
            "mio_echo_connections_closed_total{reason=\"finished\"} 1",
            "mio_echo_connections_closed_total{reason=\"idle_timeout\"} 1",
            "mio_echo_connections_closed_total{reason=\"proxy_rejected\"} 2",
            "mio_echo_bytes_read_total 700",
            "mio_echo_bytes_written_total 690",
            "mio_echo_pending_output_bytes 10",
            "mio_echo_proxy_headers_total{result=\"accepted\"} 5",
            "mio_echo_proxy_waiting 1",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn only_get_of_two_paths_is_served() {
        let board = board();
        let status = |request: &[u8], stopping| match answer(request, &board, stopping) {
            Answer::Respond(status, _, _) => status,
            Answer::Incomplete => 0,
        };
        assert_eq!(status(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false), 200);
        assert_eq!(status(b"GET /healthz HTTP/1.0\n\n", false), 200);
        assert_eq!(status(b"GET /healthz HTTP/1.1\r\n\r\n", true), 503);
        assert_eq!(status(b"GET /metrics HTTP/1.1\r\nHost:", false), 0, "incomplete");
        assert_eq!(status(b"POST /metrics HTTP/1.1\r\n\r\n", false), 405);
        assert_eq!(status(b"GET /other HTTP/1.1\r\n\r\n", false), 404);
        assert_eq!(status(b"\x16\x03\x01 hello\r\n\r\n", false), 400);
        assert_eq!(status(&vec![b'a'; MAX_REQUEST], false), 431);
    }
}
