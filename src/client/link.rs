//! One blocking connection to a server, plain TCP or TLS, split in two
//! halves for two threads: `send` and `chat` write on one and read on the
//! other, so a reply larger than the socket buffers cannot deadlock them.
//!
//! Over TLS both halves share one rustls session behind a mutex, but no
//! thread ever blocks on the socket while holding it: the writer encrypts
//! under the lock and writes the records after releasing it; the reader
//! reads raw bytes without it and takes it only to decrypt. (A writer that
//! held the lock through a blocking write could wait forever for a server
//! that waits for us to read its echo.) The handshake is finished before
//! the split, so its failures are reported as such.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustls::ClientConnection;

use super::socket::{Socket, Target};
use crate::error::describe;
use crate::tls::client::ClientTls;
use crate::tls::session::Negotiated;

/// Connects to `addr` within `timeout` (which also bounds every later
/// silence), sends `preamble` raw (a PROXY header goes before TLS, as a
/// balancer sends it), and with `tls` completes the handshake.
pub fn open(
    addr: &Target,
    timeout: Duration,
    preamble: impl FnOnce(&Socket) -> Option<Vec<u8>>,
    tls: Option<&ClientTls>,
    knobs: &crate::transport::knobs::Knobs,
) -> Result<(ReadHalf, WriteHalf, Option<Negotiated>), String> {
    let mut socket = Socket::connect(addr, timeout, knobs)?;
    let setup_failed = |err: io::Error| format!("cannot set up the connection to {addr}: {}", describe(&err));
    socket.set_read_timeout(Some(timeout)).map_err(setup_failed)?;
    socket.set_write_timeout(Some(timeout)).map_err(setup_failed)?;
    if let Some(header) = preamble(&socket) {
        socket
            .write_all(&header)
            .map_err(|err| format!("cannot send the PROXY header to {addr}: {}", describe(&err)))?;
    }
    let (session, negotiated) = match tls {
        None => (None, None),
        Some(tls) => {
            let mut session = tls
                .connection()
                .map_err(|err| format!("TLS set-up failed: {err}"))?;
            handshake(&mut session, &mut socket, addr, tls, timeout)?;
            let negotiated = Negotiated::of(&session);
            (Some(Arc::new(Mutex::new(session))), Some(negotiated))
        }
    };
    let writer_socket = socket.try_clone().map_err(setup_failed)?;
    let reader = ReadHalf {
        socket,
        tls: session.clone(),
        raw: vec![0; 16 * 1024].into_boxed_slice(),
        raw_start: 0,
        raw_end: 0,
    };
    let writer = WriteHalf {
        socket: writer_socket,
        tls: session,
        records: Vec::new(),
    };
    Ok((reader, writer, negotiated))
}

fn handshake(
    session: &mut ClientConnection,
    socket: &mut Socket,
    addr: &Target,
    tls: &ClientTls,
    timeout: Duration,
) -> Result<(), String> {
    while session.is_handshaking() {
        if let Err(err) = session.complete_io(socket) {
            return Err(
                if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
                    format!(
                        "no TLS handshake from {addr} within {} s (is it a TLS server? leave out --tls for a plain one)",
                        timeout.as_secs_f64()
                    )
                } else {
                    tls.describe_failure(&err, addr)
                },
            );
        }
    }
    Ok(())
}

fn lock(session: &Mutex<ClientConnection>) -> MutexGuard<'_, ClientConnection> {
    // A thread that panicked while holding it left nothing half-done that
    // matters more than reporting the error it will cause.
    session.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The receiving half: plaintext in, 0 at the server's end (its
/// `close_notify` over TLS; a TCP EOF without one is an `UnexpectedEof`).
pub struct ReadHalf {
    socket: Socket,
    tls: Option<Arc<Mutex<ClientConnection>>>,
    /// Raw bytes read from the socket and not yet taken by rustls.
    raw: Box<[u8]>,
    raw_start: usize,
    raw_end: usize,
}

impl ReadHalf {
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.socket.set_read_timeout(Some(timeout))
    }

    /// No limit on any silence, reading or writing (both halves share the
    /// socket's options).
    pub fn clear_timeouts(&self) -> io::Result<()> {
        self.socket.set_read_timeout(None)?;
        self.socket.set_write_timeout(None)
    }

    /// Ends the connection both ways: wakes a writer blocked on a socket
    /// that nobody will read any more.
    pub fn abort(&self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

impl Read for ReadHalf {
    fn read(&mut self, plaintext: &mut [u8]) -> io::Result<usize> {
        let Some(session) = &self.tls else {
            return self.socket.read(plaintext);
        };
        loop {
            {
                let mut tls = lock(session);
                match tls.reader().read(plaintext) {
                    Ok(n) => return Ok(n),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    Err(err) => return Err(err),
                }
                if self.raw_start < self.raw_end {
                    // rustls takes what fits its buffers; the rest waits here.
                    let mut pending = &self.raw[self.raw_start..self.raw_end];
                    let taken = tls.read_tls(&mut pending)?;
                    self.raw_start += taken;
                    tls.process_new_packets()
                        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
                    continue;
                }
            }
            // Blocking, outside the lock: the writer goes on meanwhile.
            let n = self.socket.read(&mut self.raw)?;
            if n == 0 {
                let mut tls = lock(session);
                tls.read_tls(&mut io::empty())?;
                tls.process_new_packets()
                    .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
                continue;
            }
            (self.raw_start, self.raw_end) = (0, n);
        }
    }
}

/// The sending half.
pub struct WriteHalf {
    socket: Socket,
    tls: Option<Arc<Mutex<ClientConnection>>>,
    /// Records taken from rustls under the lock, written after it.
    records: Vec<u8>,
}

impl WriteHalf {
    /// Sends all of `plaintext`.
    pub fn send(&mut self, mut plaintext: &[u8]) -> io::Result<()> {
        let Some(session) = &self.tls else {
            return self.socket.write_all(plaintext);
        };
        while !plaintext.is_empty() {
            let taken = {
                let mut tls = lock(session);
                let taken = tls.writer().write(plaintext)?;
                take_records(&mut tls, &mut self.records)?;
                taken
            };
            self.socket.write_all(&self.records)?;
            plaintext = &plaintext[taken..];
        }
        Ok(())
    }

    /// Half-closes: `close_notify` over TLS, then the TCP FIN either way;
    /// the server finishes its echo and closes its side.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(session) = &self.tls {
            {
                let mut tls = lock(session);
                tls.send_close_notify();
                take_records(&mut tls, &mut self.records)?;
            }
            self.socket.write_all(&self.records)?;
        }
        self.socket.shutdown(Shutdown::Write)
    }
}

fn take_records(tls: &mut ClientConnection, records: &mut Vec<u8>) -> io::Result<()> {
    records.clear();
    while tls.wants_write() {
        tls.write_tls(records)?;
    }
    Ok(())
}
