//! Reading a server's `--metrics-addr` endpoint, as Prometheus would.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use super::{ServerProcess, TIMEOUT};

/// Where a server started with `--metrics-addr` serves them (its second line).
pub fn metrics_address(server: &ServerProcess) -> SocketAddr {
    server
        .second_line()
        .strip_prefix("metrics on ")
        .and_then(|addr| addr.parse().ok())
        .expect("the metrics address")
}

/// One HTTP request, the whole response back.
pub fn get(metrics: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect_timeout(&metrics, TIMEOUT).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    // Until EOF, or a reset after the answer (for requests the server cut short).
    let mut response = Vec::new();
    let mut chunk = [0; 4096];
    while let Ok(n @ 1..) = stream.read(&mut chunk) {
        response.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&response).into_owned()
}

pub fn scrape(metrics: SocketAddr) -> String {
    get(metrics, "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
}

/// The value of a sample line, e.g. `mio_echo_bytes_read_total`.
pub fn value(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes until `done` holds (the reactors publish every 100 ms), bounded.
pub fn scrape_until(metrics: SocketAddr, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let text = scrape(metrics);
        if done(&text) || started.elapsed() > TIMEOUT {
            return text;
        }
    }
}
