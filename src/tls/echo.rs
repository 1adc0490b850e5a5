//! The echo service over TLS: every plaintext byte back in order, through
//! rustls' buffered `ServerConnection`.
//!
//! The same guarantees as plain TCP: a client that sends `close_notify`
//! (TLS's half-close) gets all of its echo, then the server's
//! `close_notify`, then FIN; a TCP EOF without `close_notify` (truncation)
//! is logged at debug and closed; an alert or a failed handshake closes that
//! connection only. Backpressure: no record is read while encrypted output
//! waits for a client whose socket is full, so a client that never reads
//! cannot make the server grow (what is held is the kernel's socket buffer
//! and at most one read's worth of records in rustls).

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::{ServerConfig, ServerConnection};
use slab::Slab;

use crate::service::{Progress, Readiness, Service, Transferred};

pub struct TlsEchoService {
    config: Arc<ServerConfig>,
    /// Plaintext passes through here on its way back.
    scratch: Box<[u8]>,
    /// Plaintext bytes per drive before the connection yields.
    budget: usize,
}

impl TlsEchoService {
    pub fn new(config: Arc<ServerConfig>, read_buffer: usize) -> TlsEchoService {
        TlsEchoService {
            config,
            scratch: vec![0; read_buffer.clamp(1, 64 * 1024)].into_boxed_slice(),
            budget: 4 * read_buffer.max(1),
        }
    }
}

pub struct TlsConnection {
    stream: TcpStream,
    tls: ServerConnection,
    read_ready: bool,
    write_ready: bool,
    /// The client sent `close_notify`: ours is queued, then we finish.
    closing: bool,
    /// The socket said EOF.
    eof: bool,
    /// The handshake's outcome has been logged (once, at its end).
    announced: bool,
}

impl TlsConnection {
    /// Writes queued TLS records until the socket is full or none is left.
    fn flush(&mut self) -> io::Result<()> {
        while self.write_ready && self.tls.wants_write() {
            match self.tls.write_tls(&mut self.stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.write_ready = false,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Records are waiting and the socket takes no more: the client is not
    /// reading (rustls says whether it wants to write, not how much).
    fn backlogged(&self) -> bool {
        self.tls.wants_write() && !self.write_ready
    }
}

impl Service for TlsEchoService {
    type Connection = TlsConnection;

    fn open(&mut self, stream: TcpStream) -> TlsConnection {
        let tls = ServerConnection::new(Arc::clone(&self.config)).expect("a server session always starts");
        TlsConnection {
            stream,
            tls,
            read_ready: true,
            write_ready: true,
            closing: false,
            eof: false,
            announced: false,
        }
    }

    fn stream(connection: &mut TlsConnection) -> &mut TcpStream {
        &mut connection.stream
    }

    fn on_readiness(connection: &mut TlsConnection, readiness: Readiness) {
        connection.read_ready |= readiness.readable || readiness.hang_up;
        connection.write_ready |= readiness.writable || readiness.hang_up;
    }

    fn owed(_connection: &TlsConnection) -> usize {
        // rustls does not say how many bytes it holds (only whether it
        // wants to write), so TLS connections add nothing to the
        // pending-output gauge rather than a made-up figure.
        0
    }

    fn farewell(connection: &mut TlsConnection) {
        // A clean end for the client (not a truncation): close_notify, if
        // the socket takes it now.
        connection.tls.send_close_notify();
        let _ = connection.flush();
    }

    fn is_quiet(connection: &TlsConnection) -> bool {
        !connection.tls.wants_write() && !connection.read_ready
    }

    fn drive(
        &mut self,
        key: usize,
        connections: &mut Slab<TlsConnection>,
        moved: &mut Transferred,
    ) -> Progress {
        let Some(conn) = connections.get_mut(key) else {
            return Progress::Waiting;
        };
        match drive(conn, &mut self.scratch, self.budget, moved) {
            Ok(progress) => progress,
            Err(err) => {
                // Say why to the client if rustls has an alert for it.
                let _ = conn.tls.write_tls(&mut conn.stream);
                Progress::Failed(err)
            }
        }
    }
}

fn drive(
    conn: &mut TlsConnection,
    scratch: &mut [u8],
    budget: usize,
    moved: &mut Transferred,
) -> io::Result<Progress> {
    let mut plaintext_this_call = 0;
    loop {
        conn.flush()?;
        if conn.closing || conn.eof {
            // Finished once our close_notify (or the rest of the echo) is out.
            return Ok(if conn.tls.wants_write() {
                Progress::Waiting
            } else {
                Progress::Finished
            });
        }
        if conn.backlogged() {
            // Backpressure: nothing more is read until the client takes
            // what is waiting; `read_ready` stays set for that moment.
            moved.paused = true;
            return Ok(Progress::Waiting);
        }
        if !conn.read_ready {
            return Ok(Progress::Waiting);
        }
        if plaintext_this_call >= budget {
            return Ok(Progress::Yielded);
        }
        match conn.tls.read_tls(&mut conn.stream) {
            Ok(0) => {
                conn.eof = true;
                if !conn.closing {
                    log::debug!("TLS stream truncated: EOF without close_notify");
                    return Ok(Progress::Finished);
                }
            }
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                conn.read_ready = false;
                continue;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
        let state = conn
            .tls
            .process_new_packets()
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
        if !conn.announced && !conn.tls.is_handshaking() {
            conn.announced = true;
            log_handshake(&conn.tls);
        }
        if state.plaintext_bytes_to_read() > 0 {
            loop {
                match conn.tls.reader().read(scratch) {
                    Ok(0) => break,
                    Ok(n) => {
                        moved.read += n as u64;
                        plaintext_this_call += n;
                        conn.tls.writer().write_all(&scratch[..n])?;
                        moved.written += n as u64;
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) => return Err(err),
                }
            }
        }
        if state.peer_has_closed() && !conn.closing {
            // TLS half-close: the echo so far is queued; ours follows it.
            conn.tls.send_close_notify();
            conn.closing = true;
        }
    }
}

/// The SNI name and ALPN protocol a client asked for, at debug: what a
/// balancer routing by SNI sent through is the first thing to check.
fn log_handshake(tls: &ServerConnection) {
    if !log::log_enabled!(log::Level::Debug) {
        return;
    }
    log::debug!(
        "TLS handshake done: {}, {}, SNI {}, ALPN {}",
        tls.protocol_version().map_or("?".into(), |v| format!("{v:?}")),
        tls.negotiated_cipher_suite()
            .map_or("?".into(), |s| format!("{:?}", s.suite())),
        tls.server_name().unwrap_or("(none)"),
        tls.alpn_protocol()
            .map_or("(none)".into(), |p| String::from_utf8_lossy(p).into_owned()),
    );
}
