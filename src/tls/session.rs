//! A client's TLS session over a non-blocking socket, read and written
//! the way the socket itself is: `bench --tls` drives it from its mio loop
//! exactly where it would read and write a plain `TcpStream`.
//!
//! - `write` hands plaintext to rustls and pushes records out until the
//!   socket is full; while records still wait, it takes nothing new
//!   (`WouldBlock`), so the session holds at most one write's worth.
//! - `read` returns plaintext, pulling records from the socket as needed;
//!   0 means the server's `close_notify`, and a TCP EOF without one is an
//!   `UnexpectedEof` error (a truncated stream).
//! - Records queued while reading (an alert, an answer to a key update)
//!   and any left over by a full socket go out with `flush`, which the
//!   caller runs whenever the socket is writable.
//!
//! Generic over the socket so that fakes can drive it in tests.

use std::io::{self, Read, Write};

use rustls::ClientConnection;

pub struct ClientSession {
    tls: ClientConnection,
}

impl ClientSession {
    pub fn new(tls: ClientConnection) -> ClientSession {
        ClientSession { tls }
    }

    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    pub fn connection(&self) -> &ClientConnection {
        &self.tls
    }

    /// Writes queued records; true once none is left, false when the
    /// socket filled first.
    pub fn flush(&mut self, socket: &mut impl Write) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(true)
    }

    /// Moves the handshake on as far as the socket allows: true once it is
    /// complete (and our last flight is on its way), false when it waits
    /// for the server.
    pub fn handshake<S: Read + Write>(&mut self, socket: &mut S) -> io::Result<bool> {
        while self.tls.is_handshaking() {
            self.flush(socket)?;
            match self.tls.read_tls(socket) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => self.process(socket)?,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        self.flush(socket)?;
        Ok(true)
    }

    pub fn write(&mut self, socket: &mut impl Write, plaintext: &[u8]) -> io::Result<usize> {
        if !self.flush(socket)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let taken = self.tls.writer().write(plaintext)?;
        if taken == 0 && !plaintext.is_empty() {
            // rustls's own buffer is full (records wait for the handshake).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.flush(socket)?;
        Ok(taken)
    }

    pub fn read<S: Read + Write>(&mut self, socket: &mut S, plaintext: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(plaintext) {
                Ok(n) => return Ok(n),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
            match self.tls.read_tls(socket) {
                Ok(_) => self.process(socket)?,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// TLS's half-close: `close_notify`, sent as soon as the socket takes
    /// it (`flush`). The TCP side stays open: the server answers with its
    /// own `close_notify` once the echo is complete.
    pub fn close(&mut self, socket: &mut impl Write) -> io::Result<()> {
        self.tls.send_close_notify();
        self.flush(socket).map(drop)
    }

    fn process(&mut self, socket: &mut impl Write) -> io::Result<()> {
        if let Err(err) = self.tls.process_new_packets() {
            // Tell the server why, if the socket takes it.
            let _ = self.flush(socket);
            return Err(io::Error::new(io::ErrorKind::InvalidData, err));
        }
        self.flush(socket).map(drop)
    }
}

/// What a handshake settled on, for reports and `--verbose`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Negotiated {
    /// `TLSv1_3` or `TLSv1_2`.
    pub version: String,
    pub cipher_suite: String,
    pub alpn: Option<String>,
}

impl Negotiated {
    pub fn of(tls: &ClientConnection) -> Negotiated {
        Negotiated {
            version: tls
                .protocol_version()
                .map_or_else(|| "?".into(), |v| format!("{v:?}")),
            cipher_suite: tls
                .negotiated_cipher_suite()
                .map_or_else(|| "?".into(), |s| format!("{:?}", s.suite())),
            alpn: tls
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        }
    }

    pub fn describe(&self) -> String {
        let alpn = self
            .alpn
            .as_deref()
            .map_or(String::new(), |p| format!(", ALPN {p}"));
        format!("TLS: {}, {}{alpn}", self.version, self.cipher_suite)
    }
}

/// The rustls error inside an I/O error from a session, if that is what it was.
pub fn tls_error(err: &io::Error) -> Option<&rustls::Error> {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}
