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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::sync::Arc;

    use rustls::ServerConnection;

    use super::*;
    use crate::tls::client::{ClientTls, ClientTlsSettings};
    use crate::tls::config::{Identity, TlsSettings};

    /// A socket that takes at most `room` bytes until the test makes more
    /// (then `WouldBlock`), and reads what the fake server queued.
    #[derive(Default)]
    struct FakeSocket {
        to_server: Vec<u8>,
        from_server: VecDeque<u8>,
        room: usize,
        eof: bool,
    }

    impl Write for FakeSocket {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = bytes.len().min(self.room);
            self.to_server.extend_from_slice(&bytes[..n]);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Read for FakeSocket {
        fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
            if self.from_server.is_empty() {
                return if self.eof {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            let n = into.len().min(self.from_server.len());
            for (slot, byte) in into.iter_mut().zip(self.from_server.drain(..n)) {
                *slot = byte;
            }
            Ok(n)
        }
    }

    fn pair() -> (ClientSession, ServerConnection) {
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let settings = TlsSettings {
            identity: Identity::SelfSigned { write_cert: None },
            alpn: Vec::new(),
            client_auth: crate::tls::config::ClientAuth::Off,
        };
        let server = crate::tls::config::load(&settings, listen).unwrap();
        let client = ClientTls::new(
            &ClientTlsSettings {
                insecure: true,
                ..ClientTlsSettings::default()
            },
            "localhost",
        )
        .unwrap();
        (
            ClientSession::new(client.connection().unwrap()),
            ServerConnection::new(Arc::clone(&server.config)).unwrap(),
        )
    }

    /// The fake server: takes what the client wrote, echoes its plaintext.
    fn serve(server: &mut ServerConnection, socket: &mut FakeSocket) {
        let mut written = &socket.to_server[..];
        while !written.is_empty() {
            server.read_tls(&mut written).unwrap();
            server.process_new_packets().unwrap();
            let mut plaintext = Vec::new();
            let _ = server.reader().read_to_end(&mut plaintext);
            server.writer().write_all(&plaintext).unwrap();
        }
        socket.to_server.clear();
        let mut out = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut out).unwrap();
        }
        socket.from_server.extend(out);
    }

    #[test]
    fn a_socket_that_takes_a_few_bytes_at_a_time_loses_and_repeats_nothing() {
        let (mut client, mut server) = pair();
        let mut socket = FakeSocket::default();
        let mut turns = 0;
        while !client.handshake(&mut socket).unwrap() {
            socket.room = 7;
            serve(&mut server, &mut socket);
            turns += 1;
            assert!(turns < 10_000, "the handshake never finished");
        }
        let message: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let (mut sent, mut echoed) = (0, Vec::new());
        let mut buf = [0; 1000];
        while echoed.len() < message.len() {
            match client.write(&mut socket, &message[sent..]) {
                Ok(n) => sent += n,
                // Records still wait: nothing new was taken.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => panic!("{err}"),
            }
            socket.room = 1000;
            serve(&mut server, &mut socket);
            loop {
                match client.read(&mut socket, &mut buf) {
                    Ok(0) => panic!("EOF in the middle"),
                    Ok(n) => echoed.extend_from_slice(&buf[..n]),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) => panic!("{err}"),
                }
            }
        }
        assert_eq!(sent, message.len());
        assert!(echoed == message, "the echo differs");
    }

    #[test]
    fn close_notify_reads_as_eof_and_a_bare_tcp_eof_as_truncation() {
        for clean in [true, false] {
            let (mut client, mut server) = pair();
            let mut socket = FakeSocket {
                room: usize::MAX,
                ..FakeSocket::default()
            };
            while !client.handshake(&mut socket).unwrap() {
                serve(&mut server, &mut socket);
            }
            if clean {
                server.send_close_notify();
            }
            serve(&mut server, &mut socket);
            socket.eof = true;
            let mut buf = [0; 100];
            let result = client.read(&mut socket, &mut buf);
            if clean {
                assert_eq!(result.unwrap(), 0);
            } else {
                assert_eq!(result.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
            }
        }
    }
}
