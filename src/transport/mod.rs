//! The stream sockets the server serves, TCP or Unix domain (`serve
//! --unix PATH`), behind one type each for connections ([`Stream`]) and
//! listeners ([`Listener`]): the services read, write and shut down a
//! `Stream` without knowing which, so the echo logic exists once. UDP
//! has its own place (`crate::udp`): it has no connections.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

use std::os::fd::{AsRawFd, OwnedFd};

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

pub mod knobs;
pub mod readiness;
pub mod unix;

/// A connected stream socket, TCP or Unix domain. One type for both:
/// reading, writing, shutting down and polling a stream socket are the same
/// system calls whatever its family, and an idle connection stays the size
/// of its descriptor (an enum of the two would add a tag to every
/// connection the server holds). What only TCP has (Nagle, keepalive) is
/// set through [`Stream::socket`] by whoever knows the family.
#[derive(Debug)]
pub struct Stream(socket2::Socket);

impl Stream {
    pub fn from_tcp(stream: TcpStream) -> Stream {
        Stream(socket2::Socket::from(OwnedFd::from(stream)))
    }

    pub fn from_unix(stream: UnixStream) -> Stream {
        Stream(socket2::Socket::from(OwnedFd::from(stream)))
    }

    /// The socket, for its options and addresses.
    pub fn socket(&self) -> &socket2::Socket {
        &self.0
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.shutdown(how)
    }

    /// The error a non-blocking connect ended with, if it failed.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.take_error()
    }

    /// Ok once a non-blocking connect has completed (`NotConnected` while
    /// it goes on).
    pub fn connected(&self) -> io::Result<()> {
        self.0.peer_addr().map(drop)
    }

    /// Connects without blocking to a Unix socket path, or `@NAME` in the
    /// abstract namespace.
    pub fn connect_unix(name: &str) -> io::Result<Stream> {
        let stream = match unix::abstract_address(name) {
            Some(addr) => UnixStream::connect_addr(&addr?)?,
            None => UnixStream::connect(name)?,
        };
        Ok(Stream::from_unix(stream))
    }

    /// This end's address, for logs.
    pub fn local_name(&self) -> String {
        let Ok(addr) = self.0.local_addr() else {
            return "?".into();
        };
        if let Some(ip) = addr.as_socket() {
            return ip.to_string();
        }
        match (addr.as_pathname(), addr.as_abstract_namespace()) {
            (Some(path), _) => path.display().to_string(),
            (None, Some(name)) => format!("@{}", String::from_utf8_lossy(name)),
            (None, None) => "(unnamed)".into(),
        }
    }
}

impl std::os::fd::AsRawFd for Stream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.0).read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A peer gone away is an EPIPE error, never a signal.
        self.0.send_with_flags(buf, libc::MSG_NOSIGNAL)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).deregister(registry)
    }
}

/// Who connected: an IP endpoint, or a local process on a Unix socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Ip(SocketAddr),
    Local,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Ip(addr) => addr.fmt(f),
            Peer::Local => f.write_str("a local process"),
        }
    }
}

/// A listening stream socket.
pub enum Listener {
    Tcp(TcpListener),
    /// With the socket file to remove when the server stops (held for its
    /// `Drop`, never read).
    Unix(UnixListener, #[allow(dead_code)] unix::SocketFile),
}

/// A client just accepted, still its own kind: a TCP one may first have to
/// pass the PROXY gate, and gets TCP's options.
pub enum Accepted {
    Tcp(TcpStream, SocketAddr),
    Unix(UnixStream),
}

impl Listener {
    pub fn accept(&self) -> io::Result<Accepted> {
        match self {
            Listener::Tcp(listener) => listener
                .accept()
                .map(|(stream, peer)| Accepted::Tcp(stream, peer)),
            Listener::Unix(listener, _) => listener.accept().map(|(stream, _)| Accepted::Unix(stream)),
        }
    }

    pub fn tcp_addr(&self) -> Option<io::Result<SocketAddr>> {
        match self {
            Listener::Tcp(listener) => Some(listener.local_addr()),
            Listener::Unix(..) => None,
        }
    }
}

impl Source for Listener {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(listener) => listener.register(registry, token, interests),
            Listener::Unix(listener, _) => listener.register(registry, token, interests),
        }
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(listener) => listener.reregister(registry, token, interests),
            Listener::Unix(listener, _) => listener.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Listener::Tcp(listener) => listener.deregister(registry),
            Listener::Unix(listener, _) => listener.deregister(registry),
        }
    }
}
