//! A bench connection's byte path, plain or TLS (`--tls`), and its TLS
//! handshake.
//!
//! A TLS connection is `Handshaking` between the TCP connect and the end of
//! its handshake: it still counts as connecting (the connect phase waits for
//! it, and `CONNECT_TIMEOUT` expires it), and its first message starts only
//! once the session is up. The time from the start of the TCP connect to
//! the end of the handshake is the handshake latency in the report.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Instant;

use crate::bench::config::Mode;
use crate::bench::engine::Conn;
use crate::bench::engine::Phase;
use crate::bench::engine::State;
use crate::bench::engine::Worker;
use crate::bench::engine::in_window;
use crate::tls::session::{ClientSession, Negotiated};

impl Conn {
    pub(super) fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match &mut self.tls {
            Some(session) => session.write(&mut self.stream, bytes),
            None => self.stream.write(bytes),
        }
    }

    pub(super) fn read_bytes(&mut self, into: &mut [u8]) -> io::Result<usize> {
        match &mut self.tls {
            Some(session) => session.read(&mut self.stream, into),
            None => self.stream.read(into),
        }
    }

    /// Half-closes: TLS's `close_notify` (the server answers with its own
    /// once the echo is complete), or a TCP FIN.
    pub(super) fn half_close(&mut self) -> io::Result<()> {
        match &mut self.tls {
            Some(session) => session.close(&mut self.stream),
            None => self.stream.shutdown(Shutdown::Write),
        }
    }

    /// Writes TLS records left over by a full socket; false while some
    /// still wait.
    pub(super) fn flush_records(&mut self) -> io::Result<bool> {
        match &mut self.tls {
            Some(session) => session.flush(&mut self.stream),
            None => Ok(true),
        }
    }
}

impl Worker<'_> {
    /// Starts the TLS session of a connection whose TCP connect just
    /// succeeded; false while its handshake goes on (or if it failed).
    pub(super) fn start_tls(&mut self, key: usize) -> bool {
        let Some(tls) = &self.plan.config.tls else {
            return true;
        };
        let started = tls.connection();
        let conn = &mut self.conns[key];
        match started {
            Ok(session) => conn.tls = Some(Box::new(ClientSession::new(session))),
            Err(err) => {
                self.handshake_failed(key, &io::Error::other(err));
                return false;
            }
        }
        // A PROXY header goes before the hello, whole.
        let preamble = std::mem::take(&mut conn.preamble);
        if let Err(err) = conn.stream.write_all(&preamble) {
            self.handshake_failed(key, &err);
            return false;
        }
        conn.state = State::Handshaking;
        self.advance_handshake(key)
    }

    /// Moves a handshake on; true once the connection is open.
    pub(super) fn advance_handshake(&mut self, key: usize) -> bool {
        let conn = &mut self.conns[key];
        let Some(session) = conn.tls.as_mut() else {
            return true;
        };
        match session.handshake(&mut conn.stream) {
            Ok(false) => {
                conn.hints.found_dry();
                false
            }
            Ok(true) => {
                let now = Instant::now();
                let counts = self.phase != Phase::Running
                    || self.plan.config.mode != Mode::Churn
                    || in_window(self.measure_from, self.measure_until, now);
                if counts {
                    let tally = self
                        .tally
                        .tls
                        .get_or_insert(crate::bench::engine::tally::TlsTally {
                            negotiated: None,
                            handshakes: 0,
                            resumed: 0,
                        });
                    let connection = session.connection();
                    tally.negotiated.get_or_insert_with(|| Negotiated::of(connection));
                    tally.handshakes += 1;
                    if connection.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                        tally.resumed += 1;
                    }
                    let micros = (now - conn.started).as_micros().max(1) as u64;
                    self.tally.handshake_latency.saturating_record(micros);
                }
                self.opened(key);
                true
            }
            Err(err) => {
                self.handshake_failed(key, &err);
                false
            }
        }
    }

    /// Counts a failed handshake as a failed connect (the connection never
    /// became usable); the first is explained.
    fn handshake_failed(&mut self, key: usize, err: &io::Error) {
        let why = match &self.plan.config.tls {
            Some(tls) => tls.describe_failure(err, self.plan.config.target()),
            None => crate::error::describe(err),
        };
        log::debug!("connection {} failed its handshake: {why}", self.conns[key].id);
        self.plan.warnings.once(
            "handshake",
            format!("{why} (further failures are counted, not shown)"),
        );
        self.tally.errors.connect_failures += 1;
        self.failed_in_a_row += 1;
        self.connecting -= 1;
        let id = self.conns[key].id;
        self.remove(key);
        self.refill(id);
    }
}
