//! Binding the listening socket.
//!
//! Goes through socket2 rather than `mio::net::TcpListener::bind` because mio
//! fixes the backlog at 128, which overflows when thousands of clients
//! connect at once (the kernel then drops SYNs and clients stall for a second).

use std::io;
use std::net::SocketAddr;

use mio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};

/// Opens a non-blocking listener on `addr` with `SO_REUSEADDR` (so a restarted
/// server does not wait out TIME_WAIT) and the given accept backlog; with
/// `reuse_port`, several reactors can listen on one address and the kernel
/// spreads connections over them.
pub fn bind(addr: SocketAddr, backlog: i32, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(TcpListener::from_std(socket.into()))
}
