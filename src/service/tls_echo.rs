//! The echo service over TLS: every plaintext byte back in order, through
//! rustls's unbuffered API (`UnbufferedServerConnection`), so that the
//! server owns the buffers and, like the plain echo, shares them.
//!
//! Records are read into one buffer per reactor and decrypted in place;
//! the plaintext is encrypted into another shared buffer and written
//! straight back. A connection keeps bytes of its own only while it must:
//! the tail of a record that has not fully arrived, and encrypted output
//! its socket did not take. An idle connection owns no buffer at all
//! (rustls's buffered `ServerConnection` keeps a 4 KiB receive buffer per
//! connection: docs/benchmarks.md has the measurements behind the choice).
//!
//! The same guarantees as plain TCP: a client that sends `close_notify`
//! (TLS's half-close) gets all of its echo, then the server's
//! `close_notify`, then FIN; a TCP EOF without `close_notify` (truncation)
//! is logged at debug, the echo owed so far is flushed, and the connection
//! closed; an alert or a failed handshake closes that connection only
//! (with rustls's alert, if the socket takes it). Backpressure: no record
//! is read while more than `--max-pending` encrypted bytes wait for the
//! client, so a client that never reads cannot make the server grow.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use crate::transport::Stream;
use rustls::ServerConfig;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::ConnectionState;
use slab::Slab;

mod wire;

use crate::service::pending::PendingOutput;
use crate::service::{Progress, Refusal, Service, Transferred};
use crate::transport::readiness::{Hints, Readiness, Received};
use wire::{encode_too_small, encrypt_too_small, fill_growing, send};

/// The most a connection may hold of records not yet complete: a
/// handshake message may span records up to rustls's 64 KiB limit, and a
/// record is at most 16 KiB and some.
const MAX_PARTIAL: usize = 64 * 1024 + 18 * 1024;

pub struct TlsEchoService {
    config: Arc<ServerConfig>,
    /// Shared buffers: records in, plaintext, records out.
    buffers: Buffers,
    /// Bytes read per socket read.
    read_size: usize,
    /// Plaintext bytes per drive before the connection yields.
    budget: usize,
    /// Stop reading from a client while this many encrypted bytes wait for it.
    max_pending: usize,
}

struct Buffers {
    /// A connection's incomplete records, then what one read added.
    incoming: Box<[u8]>,
    /// Plaintext decrypted from `incoming`, on its way back.
    plaintext: Vec<u8>,
    /// Records encrypted for one write.
    outgoing: Vec<u8>,
}

impl TlsEchoService {
    pub fn new(config: Arc<ServerConfig>, read_buffer: usize, max_pending: usize) -> TlsEchoService {
        // Whole records at a time: one read of less than a record's size
        // would only leave a tail to carry.
        let read_size = read_buffer.clamp(17 * 1024, 64 * 1024);
        TlsEchoService {
            config,
            buffers: Buffers {
                incoming: vec![0; MAX_PARTIAL + read_size].into_boxed_slice(),
                plaintext: Vec::with_capacity(read_size),
                outgoing: vec![0; read_size + 4096],
            },
            read_size,
            budget: 4 * read_size,
            max_pending,
        }
    }
}

pub struct TlsConnection {
    stream: Stream,
    tls: UnbufferedServerConnection,
    /// Who, for the log, should its certificate be refused.
    client: Option<IpAddr>,
    /// The start of a record (or of a handshake message) whose rest has
    /// not arrived; empty, and unallocated, almost always.
    partial: Vec<u8>,
    /// Encrypted bytes the socket has not taken yet.
    pending: PendingOutput,
    hints: Hints,
    /// The client sent `close_notify`: the echo, then ours, then we finish.
    peer_closed: bool,
    /// Our `close_notify` is queued: nothing more will be written.
    close_sent: bool,
    /// The socket said EOF (without `close_notify`: a truncation).
    eof: bool,
    /// The handshake's outcome has been logged (once, at its end).
    announced: bool,
}

impl TlsConnection {
    /// Queues our close_notify behind everything owed, if the session is
    /// up and ours is not queued yet, and writes what the socket takes now.
    /// (RFC 8446 6.1: each side sends close_notify before closing its write
    /// side, whether or not the other did.)
    fn say_close_notify(&mut self) {
        if self.close_sent || self.tls.is_handshaking() {
            return;
        }
        let mut record = Vec::new();
        let TlsConnection {
            tls,
            stream,
            pending,
            hints,
            partial,
            ..
        } = self;
        // rustls may hold spans of the incomplete tail: it gets it back.
        let status = tls.process_tls_records(partial);
        let discard = status.discard;
        let queued = match status.state {
            Ok(ConnectionState::WriteTraffic(mut traffic)) => fill_growing(
                &mut record,
                0,
                |out| traffic.queue_close_notify(out),
                encrypt_too_small,
            )
            .ok(),
            _ => None,
        };
        partial.drain(..discard);
        if let Some(n) = queued {
            let _ = send(stream, pending, hints, &record[..n]);
            let _ = self.flush();
            self.close_sent = true;
        }
    }

    /// Writes pending records until the socket is full or none is left.
    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let written = self.hints.write(&mut self.stream, self.pending.unsent())?;
            self.pending.consume(written);
        }
        if self.pending.is_empty() {
            // An idle connection owns no buffer.
            self.pending = PendingOutput::default();
        }
        Ok(())
    }
}

/// Why driving a connection stopped: the session failed, the client's
/// certificate was refused, or the socket.
enum Failed {
    Tls(String),
    /// The client's certificate was refused (mutual TLS).
    Certificate(String),
    Io(io::Error),
}

impl From<io::Error> for Failed {
    fn from(err: io::Error) -> Failed {
        Failed::Io(err)
    }
}

impl Service for TlsEchoService {
    type Connection = TlsConnection;

    const HANDSHAKES: bool = true;

    fn handshaking(connection: &TlsConnection) -> bool {
        connection.tls.is_handshaking()
    }

    fn open(&mut self, stream: Stream, client: Option<IpAddr>) -> TlsConnection {
        let tls = UnbufferedServerConnection::new(Arc::clone(&self.config))
            .expect("a server session always starts");
        TlsConnection {
            stream,
            tls,
            client,
            partial: Vec::new(),
            pending: PendingOutput::default(),
            hints: Hints::default(),
            peer_closed: false,
            close_sent: false,
            eof: false,
            announced: false,
        }
    }

    fn stream(connection: &mut TlsConnection) -> &mut Stream {
        &mut connection.stream
    }

    fn on_readiness(connection: &mut TlsConnection, readiness: Readiness) {
        connection.hints.on(readiness);
    }

    fn owed(connection: &TlsConnection) -> usize {
        connection.pending.len()
    }

    fn farewell(connection: &mut TlsConnection) {
        // A clean end for the client (not a truncation).
        connection.say_close_notify();
    }

    fn is_quiet(connection: &TlsConnection) -> bool {
        connection.pending.is_empty() && !connection.hints.readable()
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
        match self.drive_one(conn, moved) {
            Ok(progress) => progress,
            Err(failure) => {
                // An alert queued by `process` goes out if the socket takes it now.
                let _ = conn.flush();
                match failure {
                    Failed::Certificate(why) => Progress::Refused(Refusal {
                        client: conn.client,
                        why,
                    }),
                    Failed::Tls(why) => Progress::Failed(io::Error::new(io::ErrorKind::InvalidData, why)),
                    Failed::Io(err) => Progress::Failed(err),
                }
            }
        }
    }
}

impl TlsEchoService {
    fn drive_one(&mut self, conn: &mut TlsConnection, moved: &mut Transferred) -> Result<Progress, Failed> {
        let mut plaintext_this_call = 0;
        loop {
            conn.flush()?;
            if conn.close_sent || conn.eof {
                // Finished once our close_notify (or the rest of the echo) is out.
                return Ok(if conn.pending.is_empty() {
                    Progress::Finished
                } else {
                    Progress::Waiting
                });
            }
            if conn.pending.len() > self.max_pending {
                // Backpressure: nothing more is read until the client takes
                // what is waiting; the readable hint stays set for that moment.
                moved.paused = true;
                return Ok(Progress::Waiting);
            }
            if !conn.hints.readable() {
                return Ok(Progress::Waiting);
            }
            if plaintext_this_call >= self.budget {
                return Ok(Progress::Yielded);
            }
            let carried = conn.partial.len();
            let incoming = &mut self.buffers.incoming;
            incoming[..carried].copy_from_slice(&conn.partial);
            let into = &mut incoming[carried..carried + self.read_size];
            let read = match conn.hints.read(&mut conn.stream, into)? {
                Received::Eof => {
                    conn.eof = true;
                    if !conn.peer_closed {
                        // Still ours after the echo owed, so that the
                        // client (ncat, which half-closes TCP at its
                        // input's end) sees a clean end, not a truncation.
                        log::debug!("TLS stream truncated: EOF without close_notify");
                        conn.say_close_notify();
                    }
                    continue;
                }
                Received::Bytes(n) => {
                    moved.received = true;
                    n
                }
                Received::Nothing => continue,
            };
            let echoed = self.process(conn, carried + read)?;
            moved.read += echoed as u64;
            moved.written += echoed as u64;
            plaintext_this_call += echoed;
        }
    }

    /// Runs the session over the `len` bytes at the start of the shared
    /// incoming buffer: handshake records answered, application data
    /// echoed, a `close_notify` answered by ours once the echo is out.
    /// Keeps an incomplete tail in the connection; returns the plaintext
    /// bytes echoed.
    fn process(&mut self, conn: &mut TlsConnection, len: usize) -> Result<usize, Failed> {
        let Buffers {
            incoming,
            plaintext,
            outgoing,
        } = &mut self.buffers;
        let TlsConnection {
            tls,
            stream,
            pending,
            hints,
            peer_closed,
            close_sent,
            ..
        } = conn;
        // Another connection's plaintext is never left here (an error
        // can end a call between reading records and echoing them).
        plaintext.clear();
        let mut start = 0;
        let mut echoed = 0;
        // Records made since the last write: a handshake flight (or the
        // echo and a close_notify) goes out in one write, not one a record.
        let mut queued = 0;
        loop {
            let status = tls.process_tls_records(&mut incoming[start..len]);
            let discard = status.discard;
            let step: Result<bool, Failed> = match status.state {
                Err(err) if crate::tls::config::refuses_client_certificate(&err) => {
                    Err(Failed::Certificate(err.to_string()))
                }
                Err(err) => Err(Failed::Tls(err.to_string())),
                Ok(ConnectionState::ReadTraffic(mut traffic)) => loop {
                    match traffic.next_record() {
                        None => break Ok(false),
                        Some(Ok(record)) => plaintext.extend_from_slice(record.payload),
                        Some(Err(err)) => break Err(Failed::Tls(err.to_string())),
                    }
                },
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    match fill_growing(outgoing, queued, |out| data.encode(out), encode_too_small) {
                        Ok(n) => {
                            queued += n;
                            Ok(false)
                        }
                        Err(err) => Err(Failed::Tls(format!("{err:?}"))),
                    }
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => {
                    let sent = send(stream, pending, hints, &outgoing[..queued]);
                    queued = 0;
                    // Written, or kept in `pending` to be written in order.
                    transmit.done();
                    sent.map(|()| false).map_err(Failed::Io)
                }
                Ok(ConnectionState::WriteTraffic(mut traffic)) => (|| {
                    if !plaintext.is_empty() {
                        let fill = |out: &mut [u8]| traffic.encrypt(plaintext, out);
                        queued += fill_growing(outgoing, queued, fill, encrypt_too_small)
                            .map_err(|err| Failed::Tls(format!("{err:?}")))?;
                        echoed += plaintext.len();
                        plaintext.clear();
                    }
                    if *peer_closed && !*close_sent {
                        let fill = |out: &mut [u8]| traffic.queue_close_notify(out);
                        queued += fill_growing(outgoing, queued, fill, encrypt_too_small)
                            .map_err(|err| Failed::Tls(format!("{err:?}")))?;
                        *close_sent = true;
                    }
                    let sent = send(stream, pending, hints, &outgoing[..queued]);
                    queued = 0;
                    sent.map_err(Failed::Io)?;
                    Ok(true)
                })(),
                // TLS half-close: the echo so far, then ours (WriteTraffic).
                Ok(ConnectionState::PeerClosed) => {
                    *peer_closed = true;
                    Ok(false)
                }
                Ok(ConnectionState::Closed) => {
                    *peer_closed = true;
                    *close_sent = true;
                    Ok(true)
                }
                // BlockedHandshake: more records needed. Early data is never
                // accepted (max_early_data_size is 0).
                Ok(_) => Ok(true),
            };
            start += discard;
            match step {
                Ok(false) => {}
                Ok(true) => break,
                Err(Failed::Io(err)) => return Err(Failed::Io(err)),
                Err(failure) => {
                    // Say why to the client: rustls queued its alert behind
                    // any records it had made (a ServerHello, say).
                    // (Only while records wait: past them, rustls would
                    // deframe again from a state its error left behind.)
                    while tls.wants_write() {
                        let status = tls.process_tls_records(&mut incoming[start..len]);
                        start += status.discard;
                        let Ok(ConnectionState::EncodeTlsData(mut data)) = status.state else {
                            break;
                        };
                        let Ok(n) = fill_growing(outgoing, queued, |out| data.encode(out), encode_too_small)
                        else {
                            break;
                        };
                        queued += n;
                    }
                    let _ = send(stream, pending, hints, &outgoing[..queued]);
                    return Err(failure);
                }
            }
        }
        if queued > 0 {
            send(stream, pending, hints, &outgoing[..queued])?;
        }
        if !conn.announced && !conn.tls.is_handshaking() {
            conn.announced = true;
            log_handshake(&conn.tls);
        }
        let rest = &self.buffers.incoming[start..len];
        // The incoming buffer holds MAX_PARTIAL carried and a read beside
        // it, so a tail up to MAX_PARTIAL is fine whatever the reads were
        // (a ClientHello over 18 KiB once failed when split across two).
        if rest.len() > MAX_PARTIAL {
            return Err(Failed::Tls("an incomplete TLS message larger than 64 KiB".into()));
        }
        conn.partial = rest.to_vec();
        Ok(echoed)
    }
}

/// What the handshake settled on, at debug (the SNI name is logged from
/// the ClientHello: `config::LogClientHello`).
fn log_handshake(tls: &UnbufferedServerConnection) {
    if !log::log_enabled!(log::Level::Debug) {
        return;
    }
    let client = match tls.peer_certificates().and_then(<[_]>::first) {
        Some(cert) => format!(", client certificate {}", crate::tls::config::subject(cert)),
        None => String::new(),
    };
    log::debug!(
        "TLS handshake done: {}, {}, ALPN {}{client}",
        tls.protocol_version().map_or("?".into(), |v| format!("{v:?}")),
        tls.negotiated_cipher_suite()
            .map_or("?".into(), |s| format!("{:?}", s.suite())),
        tls.alpn_protocol()
            .map_or("(none)".into(), crate::error::escape_peer_bytes),
    );
}
