//! The stream sockets the server serves, TCP or Unix domain (`serve
//! --unix PATH`), behind one type each for connections ([`Stream`]) and
//! listeners ([`Listener`]): the services read, write and shut down a
//! `Stream` without knowing which, so the echo logic exists once. UDP
//! has its own place (`crate::udp`): it has no connections.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

pub mod unix;

/// A connected stream socket.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.shutdown(how),
            Stream::Unix(stream) => stream.shutdown(how),
        }
    }

    /// The TCP socket, for what only TCP has (Nagle, keepalive).
    pub fn as_tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Tcp(stream) => Some(stream),
            Stream::Unix(_) => None,
        }
    }

    /// The error a non-blocking connect ended with, if it failed.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(stream) => stream.take_error(),
            Stream::Unix(stream) => stream.take_error(),
        }
    }

    /// Ok once a non-blocking connect has completed (`NotConnected` while
    /// it goes on).
    pub fn connected(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.peer_addr().map(drop),
            Stream::Unix(stream) => stream.peer_addr().map(drop),
        }
    }

    /// Connects without blocking to a Unix socket path, or `@NAME` in the
    /// abstract namespace.
    pub fn connect_unix(name: &str) -> io::Result<Stream> {
        let stream = match name.strip_prefix('@') {
            Some(abstract_name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())?;
                UnixStream::connect_addr(&addr)?
            }
            None => UnixStream::connect(name)?,
        };
        Ok(Stream::Unix(stream))
    }

    /// This end's address, for logs.
    pub fn local_name(&self) -> String {
        match self {
            Stream::Tcp(stream) => stream
                .local_addr()
                .map_or_else(|_| "?".into(), |addr| addr.to_string()),
            Stream::Unix(stream) => stream
                .local_addr()
                .map_or_else(|_| "?".into(), |addr| unix::describe(&addr)),
        }
    }
}

impl std::os::fd::AsRawFd for Stream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            Stream::Tcp(stream) => stream.as_raw_fd(),
            Stream::Unix(stream) => stream.as_raw_fd(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.read(buf),
            Stream::Unix(stream) => stream.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.write(buf),
            Stream::Unix(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.register(registry, token, interests),
            Stream::Unix(stream) => stream.register(registry, token, interests),
        }
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.reregister(registry, token, interests),
            Stream::Unix(stream) => stream.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.deregister(registry),
            Stream::Unix(stream) => stream.deregister(registry),
        }
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
    /// With the socket file to remove when the server stops.
    Unix(UnixListener, unix::SocketFile),
}

impl Listener {
    pub fn accept(&self) -> io::Result<(Stream, Peer)> {
        match self {
            Listener::Tcp(listener) => listener
                .accept()
                .map(|(stream, peer)| (Stream::Tcp(stream), Peer::Ip(peer))),
            Listener::Unix(listener, _) => listener
                .accept()
                .map(|(stream, _)| (Stream::Unix(stream), Peer::Local)),
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
