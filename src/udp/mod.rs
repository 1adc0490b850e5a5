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
    /// Trains received whole (`UDP_GRO`): their datagrams are counted in
    /// `received` one by one.
    pub trains: u64,
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
/// share it through `SO_REUSEPORT`, but only after an exclusive bind proved
/// the port free: as with TCP (`server::listener`), a group must never join
/// another process's sockets. A datagram goes to the socket its source
/// *address* picks ([`steer_by_source_address`]), not its address and port
/// as the kernel would by default: each source's guard then lives in one
/// reactor, so `--udp-rate` holds for the whole server without a lock.
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
    let group: Vec<Socket> = (0..count)
        .map(|_| {
            let socket = new_socket(addr)?;
            socket.set_reuse_port(true)?;
            socket.bind(&addr.into())?;
            Ok(socket)
        })
        .collect::<io::Result<_>>()?;
    steer_by_source_address(&group[0], count)?;
    Ok(group
        .into_iter()
        .map(|socket| UdpSocket::from_std(socket.into()))
        .collect())
}

/// Attaches a classic BPF program to the reuseport group that picks the
/// socket from a hash of the datagram's source IP address (IPv4, or the
/// four words of IPv6 folded), so that every datagram from one address
/// reaches the same reactor whatever its source port.
fn steer_by_source_address(member: &Socket, count: usize) -> io::Result<()> {
    use libc::{
        BPF_A, BPF_ABS, BPF_ALU, BPF_B, BPF_JA, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_MISC, BPF_MOD, BPF_MUL,
        BPF_RET, BPF_RSH, BPF_TAX, BPF_W, BPF_X, BPF_XOR, SKF_NET_OFF,
    };
    let op = |code: u32, k: i32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k: k as u32,
    };
    let network = |offset: i32| SKF_NET_OFF + offset;
    let jump_if = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let program = [
        // The IP version: the high nibble of the network header's first byte.
        op(BPF_LD | BPF_B | BPF_ABS, network(0)),
        op(BPF_ALU | BPF_RSH | BPF_K, 4),
        jump_if(4, 0, 2),
        // IPv4: the source address, then on to the hash.
        op(BPF_LD | BPF_W | BPF_ABS, network(12)),
        op(BPF_JMP | BPF_JA, 10),
        // IPv6: the source address's four words, xor-ed.
        op(BPF_LD | BPF_W | BPF_ABS, network(8)),
        op(BPF_MISC | BPF_TAX, 0),
        op(BPF_LD | BPF_W | BPF_ABS, network(12)),
        op(BPF_ALU | BPF_XOR | BPF_X, 0),
        op(BPF_MISC | BPF_TAX, 0),
        op(BPF_LD | BPF_W | BPF_ABS, network(16)),
        op(BPF_ALU | BPF_XOR | BPF_X, 0),
        op(BPF_MISC | BPF_TAX, 0),
        op(BPF_LD | BPF_W | BPF_ABS, network(20)),
        op(BPF_ALU | BPF_XOR | BPF_X, 0),
        // Fibonacci hashing spreads neighbouring addresses over the group.
        op(BPF_ALU | BPF_MUL | BPF_K, 0x9E37_79B1_u32 as i32),
        op(BPF_ALU | BPF_RSH | BPF_K, 16),
        op(BPF_ALU | BPF_MOD | BPF_K, count as i32),
        op(BPF_RET | BPF_A, 0),
    ];
    crate::sys::attach_reuseport_cbpf(member, &program)
}

fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    // Trains whole, answered with one send each (sys/mmsg.rs); a kernel
    // without UDP_GRO (before 5.0) hands over single datagrams, as before.
    if let Err(err) = crate::sys::mmsg::enable_gro(&socket) {
        log::debug!("UDP_GRO not available ({err}): datagrams are read one by one");
    }
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which sockets of `group` got a datagram, each drained.
    fn receivers(group: &[UdpSocket]) -> Vec<usize> {
        let mut buf = [0; 16];
        (0..group.len())
            .filter(|&i| {
                let mut got = false;
                while group[i].recv_from(&mut buf).is_ok() {
                    got = true;
                }
                got
            })
            .collect()
    }

    /// Issue 19, item 5: a source reaches one reactor whatever its port, so
    /// its rate limit holds for the server; distinct sources still spread.
    #[test]
    fn a_group_steers_by_source_address_not_port() {
        for (server, sources) in [("127.0.0.1:0", "127.0.0"), ("[::1]:0", "")] {
            let group = bind_group(server.parse().unwrap(), 4).unwrap();
            let addr = group[0].local_addr().unwrap();
            let one_address: Vec<std::net::UdpSocket> = (0..40)
                .map(|_| {
                    std::net::UdpSocket::bind(if sources.is_empty() {
                        "[::1]:0"
                    } else {
                        "127.0.0.1:0"
                    })
                    .unwrap()
                })
                .collect();
            // On loopback a datagram is queued at its receiver before
            // send_to returns: nothing to wait for.
            for socket in &one_address {
                socket.send_to(b"x", addr).unwrap();
            }
            assert_eq!(receivers(&group).len(), 1, "{server}: 40 ports of one address");
            if sources.is_empty() {
                continue;
            }
            for i in 1..=40 {
                let socket = std::net::UdpSocket::bind(format!("{sources}.{i}:0")).unwrap();
                socket.send_to(b"y", addr).unwrap();
            }
            assert!(receivers(&group).len() > 1, "40 addresses spread");
        }
    }

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
