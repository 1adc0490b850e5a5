//! `mio-echo send --udp`: one datagram out, one back.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::error::describe;

/// The largest UDP payload over IPv4 (65,535 less the IP and UDP headers).
pub const MAX_DATAGRAM: usize = 65_507;

/// Sends `message` to `addr` as one datagram and returns the reply, or a
/// one-line reason: no reply within `timeout`, or nothing listening there.
pub fn exchange(addr: SocketAddr, message: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let setup = |err: io::Error| format!("cannot set up a UDP socket for {addr}: {}", describe(&err));
    let socket = UdpSocket::bind(local).map_err(setup)?;
    // Connected: replies from anyone else are not ours, and an ICMP
    // unreachable comes back as ECONNREFUSED.
    socket.connect(addr).map_err(setup)?;
    socket.set_read_timeout(Some(timeout)).map_err(setup)?;
    socket
        .send(message)
        .map_err(|err| format!("cannot send to {addr}: {}", describe(&err)))?;
    let mut reply = vec![0; MAX_DATAGRAM + 1];
    match socket.recv(&mut reply) {
        Ok(n) => {
            reply.truncate(n);
            Ok(reply)
        }
        Err(err) if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
            Err(format!(
                "no UDP reply from {addr} within {} s (the datagram or its reply was lost, nothing echoes there, \
             or the server refuses this source)",
                timeout.as_secs_f64()
            ))
        }
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            Err(format!("nothing listens for UDP on {addr} (port unreachable)"))
        }
        Err(err) => Err(format!("receiving from {addr} failed: {}", describe(&err))),
    }
}
