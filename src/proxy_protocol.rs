//! Sending a PROXY protocol header (`send --proxy-header`, `bench
//! --proxy-header`), to test servers and balancers that expect one. The
//! server's side, reading them, is `crate::server::proxy`.

use std::net::SocketAddr;

use proxy_header::{ProxiedAddress, ProxyHeader};

/// Which PROXY protocol version to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Version {
    /// The text header: `PROXY TCP4 src dst sport dport\r\n`
    V1,
    /// The binary header with its 12-byte signature
    V2,
}

/// The header for a connection from `source` to `destination`: the real
/// endpoints, as a proxy would send them.
pub fn encode(version: Version, source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let (source, destination) = same_family(source, destination);
    let header = ProxyHeader::with_address(ProxiedAddress::stream(source, destination));
    let mut bytes = Vec::with_capacity(108);
    let encoded = match version {
        Version::V1 => header.encode_v1(&mut bytes),
        Version::V2 => header.encode_v2(&mut bytes),
    };
    encoded.expect("a TCP header of one address family always encodes");
    bytes
}

/// A header needs both addresses of one family: an IPv4 peer seen through
/// an IPv6 socket is written as IPv4.
fn same_family(source: SocketAddr, destination: SocketAddr) -> (SocketAddr, SocketAddr) {
    let v4 = |addr: SocketAddr| match addr {
        SocketAddr::V6(v6) => v6
            .ip()
            .to_ipv4_mapped()
            .map_or(addr, |ip| SocketAddr::new(ip.into(), v6.port())),
        v4 => v4,
    };
    (v4(source), v4(destination))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::proxy::{Header, parse};

    #[test]
    fn headers_round_trip_through_the_servers_parser() {
        let (source, destination): (SocketAddr, SocketAddr) = (
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:10000".parse().unwrap(),
        );
        let v1 = encode(Version::V1, source, destination);
        assert_eq!(v1, b"PROXY TCP4 127.0.0.1 127.0.0.1 40000 10000\r\n");
        for bytes in [v1, encode(Version::V2, source, destination)] {
            assert_eq!(
                parse(&bytes),
                Header::Complete {
                    len: bytes.len(),
                    client: Some(source)
                }
            );
        }
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:5".parse().unwrap();
        let v1 = encode(Version::V1, mapped, destination);
        assert!(
            v1.starts_with(b"PROXY TCP4 10.0.0.1 "),
            "{}",
            String::from_utf8_lossy(&v1)
        );
    }
}
