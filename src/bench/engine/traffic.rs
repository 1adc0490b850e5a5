//! Moving one connection's bytes: write what is due, read and check the
//! echo, count what completed, and end the connection (drain, EOF, errors).

use std::io::{self, Write};
use std::time::Instant;

use crate::bench::config::Mode;
use crate::bench::engine::Phase;
use crate::bench::engine::State;
use crate::bench::engine::Worker;
use crate::bench::engine::in_window;
use crate::tls::client::looks_like_tls_alert;
use crate::transport::readiness::Received;

impl Worker<'_> {
    /// Starts the next message of a connection (churn: its only one).
    pub(super) fn begin_message(&mut self, key: usize) {
        let size = self.config().size as u64;
        let mode = self.config().mode;
        let conn = &mut self.conns[key];
        match mode {
            Mode::Stream => conn.target = u64::MAX,
            // (UDP never reaches the connection workers: `bench::udp`.)
            Mode::Pingpong | Mode::Hold | Mode::Udp => {
                conn.target = conn.sent + size;
                conn.awaiting = true;
                conn.started = self.now;
            }
            // The cycle's clock started at connect.
            Mode::Churn => {
                conn.target = size;
                conn.awaiting = true;
            }
        }
    }

    /// Writes, reads and checks until the socket has nothing more for now.
    pub(super) fn pump(&mut self, key: usize) {
        loop {
            let mut progressed = match self.write_some(key) {
                Ok(wrote) => wrote,
                Err(err) => return self.fail(key, &err),
            };
            match self.read_some(key) {
                Ok(ReadOutcome::Data) => progressed = true,
                Ok(ReadOutcome::Nothing) => {}
                Ok(ReadOutcome::Eof) => return self.on_eof(key),
                Ok(ReadOutcome::Mismatch) => {
                    self.tally.errors.mismatches += 1;
                    let id = self.conns[key].id;
                    self.remove(key);
                    return self.refill(id);
                }
                Err(err) => return self.fail(key, &err),
            }
            progressed |= self.complete_message(key);
            if !progressed {
                return;
            }
        }
    }

    pub(super) fn write_some(&mut self, key: usize) -> io::Result<bool> {
        let window = self.plan.config.window as u64;
        let mode = self.plan.config.mode;
        let conn = &mut self.conns[key];
        if matches!(conn.state, State::Connecting | State::Handshaking) || !conn.hints.writable() {
            return Ok(false);
        }
        // TLS records left by a full socket (a close_notify among them)
        // go before anything new.
        if !conn.flush_records()? {
            conn.hints.found_full();
            return Ok(false);
        }
        if conn.state != State::Open || conn.send_queued {
            return Ok(false);
        }
        if !conn.preamble.is_empty() {
            // A few dozen bytes on a fresh socket: they go at once.
            conn.stream.write_all(&conn.preamble)?;
            conn.preamble = Vec::new();
        }
        if self.gathering && conn.sent < conn.target {
            conn.send_queued = true;
            self.to_send.push(key);
            return Ok(false);
        }
        let limit = match mode {
            Mode::Stream if self.phase == Phase::Running => conn.verified + window,
            Mode::Stream => conn.sent,
            _ => conn.target,
        };
        let mut wrote = false;
        while conn.sent < limit && conn.hints.writable() {
            let want = (limit - conn.sent).min(usize::MAX as u64) as usize;
            let chunk = self.plan.pattern.slice(conn.id, conn.sent, want);
            let result = conn.write_bytes(chunk);
            match conn.hints.wrote(result, chunk.len())? {
                Some(0) | None => {}
                Some(n) => {
                    conn.sent += n as u64;
                    wrote = true;
                }
            }
        }
        if wrote && conn.open.is_some() {
            self.on_written(key);
            self.half_close_when_written(key)?;
            return Ok(true);
        }
        if mode == Mode::Churn && conn.sent == conn.target {
            // Like `mio-echo send`: half-close, then read the echo to EOF.
            conn.half_close()?;
            conn.state = State::HalfClosed;
        }
        Ok(wrote)
    }

    fn read_some(&mut self, key: usize) -> io::Result<ReadOutcome> {
        let conn = &mut self.conns[key];
        if !conn.hints.readable() || matches!(conn.state, State::Connecting | State::Handshaking) {
            return Ok(ReadOutcome::Nothing);
        }
        let result = conn.read_bytes(&mut self.scratch);
        // Over TLS a short read of plaintext proves nothing of the socket.
        let asked = conn.tls.is_none().then_some(self.scratch.len());
        match conn.hints.got(result, asked)? {
            Received::Eof => Ok(ReadOutcome::Eof),
            Received::Nothing => Ok(ReadOutcome::Nothing),
            Received::Bytes(n) => {
                let received = &self.scratch[..n];
                if conn.verified + n as u64 > conn.sent
                    || !self.plan.pattern.matches(conn.id, conn.verified, received)
                {
                    if conn.verified == 0 && conn.tls.is_none() && looks_like_tls_alert(received) {
                        self.plan.warnings.once(
                            "tls-alert",
                            format!(
                                "{} answered with a TLS alert: it is a TLS server (add --tls)",
                                self.plan.config.target()
                            ),
                        );
                    }
                    return Ok(ReadOutcome::Mismatch);
                }
                conn.verified += n as u64;
                self.unpublished.1 += n as u64;
                if in_window(self.measure_from, self.measure_until, self.now) {
                    self.tally.bytes += n as u64;
                }
                Ok(ReadOutcome::Data)
            }
        }
    }

    /// Counts a finished round trip and starts the next; true if it did.
    pub(super) fn complete_message(&mut self, key: usize) -> bool {
        if self.conns[key].open.is_some() {
            return self.complete_open(key);
        }
        let mode = self.config().mode;
        let conn = &mut self.conns[key];
        if !conn.awaiting || conn.verified != conn.target || mode == Mode::Churn {
            return false;
        }
        conn.awaiting = false;
        let now = Instant::now();
        self.now = now;
        // Hold mode's one exchange happens before the window; count it anyway.
        if mode == Mode::Hold || in_window(self.measure_from, self.measure_until, now) {
            conn.answered_in_window = true;
            self.tally.messages += 1;
            let latency = now - conn.started;
            self.record_latency(latency, None);
        }
        self.unpublished.0 += 1;
        if mode == Mode::Pingpong {
            match self.phase {
                Phase::Running => self.begin_message(key),
                _ => self.stop_sending(key),
            }
        }
        true
    }

    /// Drain: send nothing more, half-close, expect the rest of the echo and EOF.
    pub(super) fn stop_sending(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        match conn.state {
            State::Connecting | State::Handshaking => {
                self.connecting -= 1;
                self.remove(key);
            }
            State::HalfClosed => {}
            State::Open if conn.open.is_some() => self.close_open_loop(key),
            State::Open => {
                // Pingpong: a message still being written is cut where it is;
                // whatever was sent must still come back.
                conn.target = conn.sent;
                if !conn.preamble.is_empty() {
                    // A connection that never got to send still owes its
                    // PROXY header: a balancer always sends one.
                    let preamble = std::mem::take(&mut conn.preamble);
                    if let Err(err) = conn.stream.write_all(&preamble) {
                        return self.fail(key, &err);
                    }
                }
                if let Err(err) = conn.half_close() {
                    return self.fail(key, &err);
                }
                conn.state = State::HalfClosed;
                self.pump(key);
            }
        }
    }

    pub(super) fn on_eof(&mut self, key: usize) {
        let conn = &self.conns[key];
        let complete = conn.state == State::HalfClosed && conn.verified == conn.sent;
        let (id, started) = (conn.id, conn.started);
        self.remove(key);
        if !complete {
            self.tally.errors.early_eofs += 1;
        } else if self.config().mode == Mode::Churn {
            let now = Instant::now();
            self.unpublished.2 += 1;
            if in_window(self.measure_from, self.measure_until, now) {
                self.tally.cycles += 1;
                self.record_latency(now - started, None);
            }
        }
        self.refill(id);
    }

    pub(super) fn fail(&mut self, key: usize, err: &io::Error) {
        log::debug!("connection {} failed: {err}", self.conns[key].id);
        // Under TLS 1.3 a server refuses a client certificate after the
        // client's side of the handshake is done: the alert ends the first
        // read. Said once, like a failed handshake, so that the run says why.
        let refusal = self
            .plan
            .config
            .tls
            .as_ref()
            .and_then(|_| crate::tls::client::describe_alert_in(err, self.plan.config.target()));
        if let Some(why) = refusal {
            self.plan.warnings.once(
                "handshake",
                format!("{why} (further failures are counted as resets, not shown)"),
            );
        }
        self.tally.errors.resets += 1;
        let id = self.conns[key].id;
        self.remove(key);
        self.refill(id);
    }

    /// Churn mode keeps every slot busy while running.
    pub(super) fn refill(&mut self, id: u64) {
        if self.config().mode == Mode::Churn && self.phase == Phase::Running {
            self.queue.push(id);
            self.start_connects();
        }
    }

    pub(super) fn remove(&mut self, key: usize) {
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut conn.stream);
    }
}

enum ReadOutcome {
    Nothing,
    Data,
    Eof,
    Mismatch,
}
