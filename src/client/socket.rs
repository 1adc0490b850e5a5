//! Where a blocking client connects: a TCP address, or a Unix domain
//! socket (`--unix PATH`, or `@NAME` in the abstract namespace).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::error::describe;
use crate::transport::knobs::Knobs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Tcp(SocketAddr),
    /// A name with several addresses: reached at whichever answers first
    /// ([`super::eyeballs`]).
    Name {
        name: String,
        addrs: Vec<SocketAddr>,
    },
    Unix(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(addr) => addr.fmt(f),
            Target::Name { name, .. } | Target::Unix(name) => f.write_str(name),
        }
    }
}

/// A connected blocking stream socket.
#[derive(Debug)]
pub enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    /// Connects within `timeout` (a Unix socket connects at once or not at
    /// all), and tells the user what failed in one line.
    pub fn connect(target: &Target, timeout: Duration, knobs: &Knobs) -> Result<Socket, String> {
        let connected = match target {
            Target::Tcp(addr) if !knobs.is_default() => {
                return knobs
                    .connect(*addr, timeout)
                    .map(|(stream, _)| Socket::Tcp(stream));
            }
            Target::Tcp(addr) => TcpStream::connect_timeout(addr, timeout).map(Socket::Tcp),
            Target::Name { name, addrs } => {
                return super::eyeballs::connect_first(addrs, timeout, knobs)
                    .map(|(stream, _)| Socket::Tcp(stream))
                    .map_err(|tried| format!("cannot connect to {name}: {tried}"));
            }
            Target::Unix(name) => match crate::transport::unix::abstract_address(name) {
                Some(addr) => addr
                    .and_then(|addr| UnixStream::connect_addr(&addr))
                    .map(Socket::Unix),
                None => UnixStream::connect(name).map(Socket::Unix),
            },
        };
        connected.map_err(|err| format!("cannot connect to {target}: {}", describe(&err)))
    }

    pub fn as_tcp(&self) -> Option<&TcpStream> {
        match self {
            Socket::Tcp(stream) => Some(stream),
            Socket::Unix(_) => None,
        }
    }

    pub fn try_clone(&self) -> io::Result<Socket> {
        match self {
            Socket::Tcp(stream) => stream.try_clone().map(Socket::Tcp),
            Socket::Unix(stream) => stream.try_clone().map(Socket::Unix),
        }
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Socket::Tcp(stream) => stream.shutdown(how),
            Socket::Unix(stream) => stream.shutdown(how),
        }
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(stream) => stream.set_read_timeout(timeout),
            Socket::Unix(stream) => stream.set_read_timeout(timeout),
        }
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(stream) => stream.set_write_timeout(timeout),
            Socket::Unix(stream) => stream.set_write_timeout(timeout),
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(stream) => stream.read(buf),
            Socket::Unix(stream) => stream.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(stream) => stream.write(buf),
            Socket::Unix(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
