//! Binding the listening sockets, and the pieces a reactor owns.
//!
//! Goes through socket2 rather than `mio::net::TcpListener::bind` because mio
//! fixes the backlog at 128, which overflows when thousands of clients
//! connect at once (the kernel then drops SYNs and clients stall for a second).

use std::io;
use std::net::SocketAddr;

use mio::net::{TcpListener, UdpSocket};
use mio::{Interest, Poll};

use super::shutdown::ShutdownSignals;
use super::tokens::{self, SIGNALS, UDP};
use crate::transport::Listener;
use socket2::{Domain, Protocol, Socket, Type};

/// Opens `count` non-blocking listeners on `addr` with `SO_REUSEADDR` (so a
/// restarted server does not wait out TIME_WAIT) and the given backlog.
/// With `count > 1` they share the address through `SO_REUSEPORT` and the
/// kernel spreads new connections over them.
///
/// The first socket is bound *without* `SO_REUSEPORT` and only then given
/// it, before `listen`: the kernel lets any process of the same user join a
/// port whose sockets all set `SO_REUSEPORT`, so binding the group outright
/// would let a second server quietly take half of this one's clients (or
/// this one join a running server). Bound exclusively first, a port already
/// in use fails with `EADDRINUSE` whatever the number of reactors.
pub fn bind_group(addr: SocketAddr, backlog: i32, count: usize) -> io::Result<Vec<TcpListener>> {
    let first = new_socket(addr)?;
    first.bind(&addr.into())?;
    let shared = count > 1;
    if shared {
        first.set_reuse_port(true)?;
    }
    first.listen(backlog)?;
    // With port 0 the first bind picked the port; the others join it.
    let addr = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("listener has no IP address"))?;
    let mut listeners = vec![TcpListener::from_std(first.into())];
    for _ in 1..count {
        let socket = new_socket(addr)?;
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        socket.listen(backlog)?;
        listeners.push(TcpListener::from_std(socket.into()));
    }
    Ok(listeners)
}

fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// One reactor's own pieces: its poll, its listeners, its signal pipe.
pub struct Bound {
    pub(super) poll: Poll,
    /// Where echo clients connect, each under `tokens::listener(index)`:
    /// TCP (none with `--udp-only`), then with `--unix PATH` a copy of the
    /// one Unix listener (every reactor polls it).
    pub(super) listeners: Vec<Listener>,
    pub(super) udp: Option<UdpSocket>,
    pub(super) signals: ShutdownSignals,
}

impl Bound {
    pub fn new(
        listener: Option<TcpListener>,
        unix: Option<Listener>,
        mut udp: Option<UdpSocket>,
    ) -> io::Result<Bound> {
        let poll = Poll::new()?;
        let mut listeners: Vec<Listener> = listener.map(Listener::Tcp).into_iter().chain(unix).collect();
        for (index, listener) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(listener, tokens::listener(index), Interest::READABLE)?;
        }
        if let Some(udp) = &mut udp {
            poll.registry().register(udp, UDP, Interest::READABLE)?;
        }
        // Each reactor has its own pipe: signal-hook notifies every one.
        let signals = ShutdownSignals::register(poll.registry(), SIGNALS)?;
        Ok(Bound {
            poll,
            listeners,
            udp,
            signals,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let tcp = self.listeners.iter().find_map(Listener::tcp_addr);
        match (tcp, &self.udp) {
            (Some(addr), _) => addr,
            (None, Some(udp)) => udp.local_addr(),
            (None, None) => Err(io::Error::other("nothing bound")),
        }
    }

    pub fn registry(&self) -> &mio::Registry {
        self.poll.registry()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[test]
    fn a_second_group_on_a_port_in_use_is_refused() {
        let ours = bind_group(loopback(), 16, 2).unwrap();
        let addr = ours[0].local_addr().unwrap();
        assert_eq!(ours[1].local_addr().unwrap(), addr);
        for count in [1, 2, 4] {
            let err = bind_group(addr, 16, count).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{count} reactors");
        }
    }

    #[test]
    fn a_group_does_not_join_a_single_listener() {
        let single = bind_group(loopback(), 16, 1).unwrap();
        let addr = single[0].local_addr().unwrap();
        let err = bind_group(addr, 16, 3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
