//! UDP echo (RFC 862): each datagram back to its source, unchanged, in
//! batches (`recvmmsg`/`sendmmsg`: [`echo`]), behind the abuse guards of
//! [`guard`]. Each reactor has its own socket on the address (shared
//! through `SO_REUSEPORT` with `--threads`), in its own `mio::Poll`.

use std::io;
use std::net::SocketAddr;

use mio::net::UdpSocket;
use socket2::{Domain, Protocol, Socket, Type};

pub mod echo;
pub mod guard;

/// What the UDP echo did, for the summary, the stats line and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UdpCounts {
    pub received: u64,
    pub echoed: u64,
    /// Payload bytes echoed.
    pub bytes: u64,
    /// Replies the socket would not take at once (never waited for).
    pub dropped: u64,
    /// Errors reported on the socket (ICMP unreachable for earlier replies).
    pub errors: u64,
    /// Refused: source port below 1024.
    pub low_port: u64,
    /// Refused: broadcast or multicast source.
    pub broadcast: u64,
    /// Refused: source over `--udp-rate`.
    pub rate_limited: u64,
    /// Sources dropped from the full rate table (`--udp-max-sources`).
    pub evicted: u64,
}

impl UdpCounts {
    pub fn refused(&self) -> u64 {
        self.low_port + self.broadcast + self.rate_limited
    }
}

/// The UDP counts as Prometheus metrics: datagrams by what became of
/// them, bytes echoed, socket errors and evicted sources.
pub fn register_metrics(metrics: &mut prometheus_client::registry::Registry, counts: &UdpCounts) {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    let datagrams: Family<Vec<(String, String)>, Counter> = Family::default();
    for (result, value) in [
        ("received", counts.received),
        ("echoed", counts.echoed),
        ("dropped", counts.dropped),
        ("refused_low_port", counts.low_port),
        ("refused_broadcast", counts.broadcast),
        ("refused_rate", counts.rate_limited),
    ] {
        datagrams
            .get_or_create(&vec![("result".to_string(), result.to_string())])
            .inc_by(value);
    }
    metrics.register(
        "udp_datagrams",
        "UDP datagrams: received, echoed, dropped (socket full), refused by guard",
        datagrams,
    );
    for (name, help, value) in [
        ("udp_bytes_echoed", "UDP payload bytes echoed", counts.bytes),
        (
            "udp_socket_errors",
            "Errors reported on the UDP socket (ICMP unreachable)",
            counts.errors,
        ),
        (
            "udp_sources_evicted",
            "Sources dropped from the full --udp-rate table",
            counts.evicted,
        ),
    ] {
        let counter: Counter = Counter::default();
        counter.inc_by(value);
        metrics.register(name, help, counter);
    }
}

/// `--udp`'s guards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UdpConfig {
    /// Answers per second per source address.
    pub rate: f64,
    /// Source addresses the rate table holds at most.
    pub max_sources: usize,
}

/// Opens `count` non-blocking UDP sockets on `addr`. With `count > 1` they
/// share it through `SO_REUSEPORT` (the kernel spreads datagrams by source
/// over them), but only after an exclusive bind proved the port free: as
/// with TCP (`server::listener`), a group must never join another
/// process's sockets.
pub fn bind_group(addr: SocketAddr, count: usize) -> io::Result<Vec<UdpSocket>> {
    let first = new_socket(addr)?;
    first.bind(&addr.into())?;
    let addr = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("UDP socket has no IP address"))?;
    if count == 1 {
        return Ok(vec![UdpSocket::from_std(first.into())]);
    }
    // UDP forms a reuseport group at bind: the exclusive socket gives way
    // to the group, now that the port is known to be ours.
    drop(first);
    (0..count)
        .map(|_| {
            let socket = new_socket(addr)?;
            socket.set_reuse_port(true)?;
            socket.bind(&addr.into())?;
            Ok(UdpSocket::from_std(socket.into()))
        })
        .collect()
}

fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_takes_a_free_port_and_refuses_a_busy_one() {
        let ours = bind_group("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        let addr = ours[0].local_addr().unwrap();
        assert_eq!(ours[1].local_addr().unwrap(), addr);
        for count in [1, 2] {
            let err = bind_group(addr, count).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{count} sockets");
        }
    }
}
