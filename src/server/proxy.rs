//! `serve --proxy-protocol`: the PROXY header (HAProxy's proxy-protocol.txt,
//! v1 text and v2 binary) that a load balancer sends before the client's
//! bytes, so the server knows the real client.
//!
//! Per the spec there is no guessing: every connection must start with a
//! header, and only trusted peers (`--proxy-trust`) may send one. A
//! connection waits here, outside the echo slab, until its whole header has
//! arrived, however it is split across reads (a classic bug: servers that
//! parse the first read only). Only the header's own bytes are ever taken
//! from the socket, so whatever the client sent after it stays there for
//! the echo: a v1 line (at most 107 bytes) is peeked until its CRLF is
//! there, a v2 header is *read* into the connection's own buffer, its
//! 16-byte prefix first (which gives the length), then exactly the rest.
//! So one readable event costs at most one 107-byte peek or the bytes that
//! are new, whatever the peer trickles: an earlier version re-peeked the
//! whole unread header on every event, and 20 peers sending a 64 KiB header
//! a byte per segment froze every other client for seconds. A v2 header
//! may be at most [`MAX_V2_HEADER`] bytes (real balancers send a few hundred
//! at most). LOCAL headers (a balancer's health
//! checks) keep the real endpoints; TLVs are skipped by their length. A
//! header that is invalid, or not complete within `--proxy-timeout`, closes
//! that connection only, with a debug line and a count.

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use proxy_header::{ParseConfig, ProxyHeader};
use slab::Slab;

use super::deadlines::Deadlines;
use super::tokens::PROXY_FIRST as FIRST_TOKEN;

/// The longest v2 header served, TLVs included. The format allows 16 +
/// 65,535 bytes, but HAProxy, AWS's and Google's balancers, nginx and Envoy
/// send addresses and a few TLVs (authority, unique ID, TLS details, a VPC
/// endpoint): hundreds of bytes. Documented in docs/load-balancers.md.
pub const MAX_V2_HEADER: usize = 4096;

/// A v1 line is at most 107 bytes, CRLF included (the spec's bound).
const MAX_V1_HEADER: usize = 107;

/// Every v2 header starts with these 12 bytes.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// A v2 header's fixed part: the signature, version and command, family,
/// and the 16-bit length of what follows.
const V2_PREFIX: usize = 16;

/// `--proxy-trust` when not given: the loopback ranges.
pub fn loopback_ranges() -> Vec<IpNet> {
    vec![
        "127.0.0.0/8".parse().expect("valid"),
        "::1/128".parse().expect("valid"),
    ]
}

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub timeout: Duration,
    /// Peers allowed to send a header; a connection from anyone else is
    /// closed at once.
    pub trusted: Vec<IpNet>,
}

/// What the bytes at the start of a connection say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// Not all of the header has arrived yet.
    Incomplete,
    /// A complete header of `len` bytes; `client` is `None` for LOCAL (and
    /// v1 `UNKNOWN`): the connection's own endpoints apply.
    Complete { len: usize, client: Option<SocketAddr> },
    /// Not a PROXY header, or a malformed one.
    Invalid(String),
}

/// Parses what has arrived so far; pure, so every split can be tested.
pub fn parse(buf: &[u8]) -> Header {
    let config = ParseConfig {
        include_tlvs: false,
        ..ParseConfig::default()
    };
    match ProxyHeader::parse(buf, config) {
        Ok((header, len)) => Header::Complete {
            len,
            client: header.proxied_address().map(|address| address.source),
        },
        Err(proxy_header::Error::BufferTooShort) => Header::Incomplete,
        Err(proxy_header::Error::Invalid) => Header::Invalid("not a PROXY v1 or v2 header".into()),
        Err(err) => Header::Invalid(format!("bad PROXY header: {err}")),
    }
}

/// What became of a waiting connection.
pub enum Outcome {
    Waiting,
    /// Its header is read: serve it as coming from `client`.
    Ready {
        stream: TcpStream,
        client: SocketAddr,
        peer: SocketAddr,
    },
    /// Closed: the peer, and why.
    Rejected(SocketAddr, String),
}

struct Waiting {
    stream: TcpStream,
    peer: SocketAddr,
    /// Told apart from a later connection under the same key.
    serial: u64,
    /// A v2 header's length once its prefix is seen (0 until then, and for
    /// v1, which is peeked).
    v2_len: usize,
    /// The v2 header's bytes read so far: each event reads only what is new.
    header: Vec<u8>,
}

/// The connections waiting for their header.
pub struct ProxyGate {
    config: ProxyConfig,
    waiting: Slab<Waiting>,
    /// Every connection waits the same `--proxy-timeout`.
    deadlines: Deadlines,
}

impl ProxyGate {
    pub fn new(config: ProxyConfig) -> ProxyGate {
        ProxyGate {
            deadlines: Deadlines::new(config.timeout),
            config,
            waiting: Slab::new(),
        }
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.config.trusted.iter().any(|net| net.contains(&ip))
    }

    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Takes a trusted peer's connection until its header is read.
    pub fn admit(
        &mut self,
        registry: &Registry,
        mut stream: TcpStream,
        peer: SocketAddr,
        now: Instant,
    ) -> io::Result<()> {
        let entry = self.waiting.vacant_entry();
        let key = entry.key();
        registry.register(&mut stream, Token(FIRST_TOKEN + key), Interest::READABLE)?;
        entry.insert(Waiting {
            stream,
            peer,
            serial: self.deadlines.start(key, now),
            v2_len: 0,
            header: Vec::new(),
        });
        Ok(())
    }

    /// Looks at what connection `token` has sent so far.
    pub fn on_readable(&mut self, registry: &Registry, token: Token) -> Outcome {
        let key = token.0 - FIRST_TOKEN;
        let Some(waiting) = self.waiting.get_mut(key) else {
            return Outcome::Waiting;
        };
        let header = match read_header(waiting) {
            Ok(header) => header,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Outcome::Waiting,
            Err(err) => Header::Invalid(crate::error::describe(&err)),
        };
        match header {
            Header::Incomplete => Outcome::Waiting,
            Header::Invalid(why) => Outcome::Rejected(self.remove(registry, key).peer, why),
            Header::Complete { len, client } => {
                let mut waiting = self.remove(registry, key);
                // A v1 line was only peeked: take its bytes, and no more.
                if waiting.v2_len == 0
                    && let Err(err) = consume(&mut waiting.stream, len)
                {
                    return Outcome::Rejected(waiting.peer, crate::error::describe(&err));
                }
                Outcome::Ready {
                    client: client.unwrap_or(waiting.peer),
                    peer: waiting.peer,
                    stream: waiting.stream,
                }
            }
        }
    }

    fn remove(&mut self, registry: &Registry, key: usize) -> Waiting {
        let mut waiting = self.waiting.remove(key);
        let _ = registry.deregister(&mut waiting.stream);
        let gate = &self.waiting;
        self.deadlines
            .sweep(gate.len(), |key, serial| is_live(gate, key, serial));
        waiting
    }

    /// When the earliest wait ends.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// Closes the connections whose header did not come in time; returns
    /// their peers.
    pub fn expire(&mut self, registry: &Registry, now: Instant, expired: &mut Vec<SocketAddr>) {
        loop {
            let gate = &self.waiting;
            let Some(key) = self
                .deadlines
                .pop_due(now, |key, serial| is_live(gate, key, serial))
            else {
                break;
            };
            expired.push(self.remove(registry, key).peer);
        }
    }

    /// Stopping: the waiting connections have sent no data; close them.
    pub fn close_all(&mut self, registry: &Registry) -> usize {
        let keys: Vec<usize> = self.waiting.iter().map(|(key, _)| key).collect();
        for &key in &keys {
            self.remove(registry, key);
        }
        self.deadlines.clear();
        keys.len()
    }
}

/// Whether `key` still holds the connection whose wait has `serial`.
fn is_live(waiting: &Slab<Waiting>, key: usize, serial: u64) -> bool {
    waiting.get(key).is_some_and(|w| w.serial == serial)
}

/// An IPv4 peer seen through an IPv6 socket (`::ffff:a.b.c.d`) is that
/// IPv4 address, so IPv4 ranges match it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Takes what is new of a waiting connection's header, never a byte past
/// it: `Incomplete` until it is all there (or `WouldBlock` when nothing new
/// has come). The cost is bounded by the header's size, not by how finely
/// the peer splits it.
fn read_header(waiting: &mut Waiting) -> io::Result<Header> {
    if waiting.v2_len == 0 {
        // Enough to tell v1 from v2 and to hold any v1 line.
        let mut start = [0; MAX_V1_HEADER];
        let seen = match peek(&waiting.stream, &mut start)? {
            0 => return Ok(closed_early()),
            n => &start[..n],
        };
        let signature = &V2_SIGNATURE[..seen.len().min(V2_SIGNATURE.len())];
        if !seen.starts_with(signature) {
            return Ok(match parse(seen) {
                Header::Incomplete if seen.len() == MAX_V1_HEADER => {
                    Header::Invalid(format!("a PROXY v1 line longer than {MAX_V1_HEADER} bytes"))
                }
                header => header,
            });
        }
        if seen.len() < V2_PREFIX {
            return Ok(Header::Incomplete);
        }
        let len = V2_PREFIX + usize::from(u16::from_be_bytes([seen[14], seen[15]]));
        if len > MAX_V2_HEADER {
            return Ok(Header::Invalid(format!(
                "a PROXY v2 header of {len} bytes (at most {MAX_V2_HEADER} are served)"
            )));
        }
        waiting.v2_len = len;
        waiting.header.reserve_exact(len);
    }
    // v2: read (not peek) exactly the header's bytes, what is new each event.
    let len = waiting.v2_len;
    loop {
        let have = waiting.header.len();
        if have == len {
            return Ok(parse(&waiting.header));
        }
        let mut piece = [0; 1024];
        let want = (len - have).min(piece.len());
        match waiting.stream.read(&mut piece[..want]) {
            Ok(0) => return Ok(closed_early()),
            Ok(n) => waiting.header.extend_from_slice(&piece[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

fn closed_early() -> Header {
    Header::Invalid("closed before its PROXY header was complete".into())
}

fn peek(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.peek(buf) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// Reads exactly `len` bytes (already in the socket: they were peeked).
fn consume(stream: &mut TcpStream, len: usize) -> io::Result<()> {
    let mut scratch = [0; MAX_V1_HEADER];
    let mut left = len;
    while left > 0 {
        match stream.read(&mut scratch[..left]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => left -= n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxy_header::ProxiedAddress;

    fn v1() -> Vec<u8> {
        b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 10000\r\n".to_vec()
    }

    fn v2(tlvs: bool) -> Vec<u8> {
        let address = ProxiedAddress::stream(
            "[2001:db8::7]:40000".parse().unwrap(),
            "[2001:db8::1]:10000".parse().unwrap(),
        );
        let header = if tlvs {
            ProxyHeader::with_tlvs(
                Some(address),
                [
                    proxy_header::Tlv::Authority("echo.example".into()),
                    proxy_header::Tlv::Noop(300),
                ],
            )
        } else {
            ProxyHeader::with_address(address)
        };
        let mut bytes = Vec::new();
        header.encode_v2(&mut bytes).unwrap();
        bytes
    }

    /// Every prefix of a header followed by payload: incomplete until the
    /// whole header is there, then complete at its exact length.
    fn check_every_split(header: &[u8], client: Option<&str>) {
        let mut stream = header.to_vec();
        stream.extend_from_slice(b"hello, echo");
        for cut in 0..header.len() {
            assert_eq!(parse(&stream[..cut]), Header::Incomplete, "cut at {cut}");
        }
        for cut in header.len()..=stream.len() {
            assert_eq!(
                parse(&stream[..cut]),
                Header::Complete {
                    len: header.len(),
                    client: client.map(|c| c.parse().unwrap())
                },
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn v1_and_v2_headers_split_anywhere_parse_the_same() {
        check_every_split(&v1(), Some("192.0.2.7:40000"));
        check_every_split(&v2(false), Some("[2001:db8::7]:40000"));
        check_every_split(&v2(true), Some("[2001:db8::7]:40000"));
    }

    #[test]
    fn local_and_unknown_keep_the_real_endpoints() {
        let mut local = Vec::new();
        ProxyHeader::with_local().encode_v2(&mut local).unwrap();
        check_every_split(&local, None);
        check_every_split(b"PROXY UNKNOWN\r\n", None);
    }

    #[test]
    fn anything_else_is_invalid_not_a_guess() {
        for garbage in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"hello, echo, no header here",
            b"PROXY TCP4 not-an-ip 198.51.100.1 1 2\r\n",
            b"\r\n\r\n\0\r\nQUIT\n\x99\x11\0\x0c",
        ] {
            assert!(matches!(parse(garbage), Header::Invalid(_)), "{garbage:?}");
        }
        // A v1 line that never ends is cut off at the spec's 107 bytes.
        let endless = [b"PROXY TCP4 ".as_slice(), &[b'1'; 120]].concat();
        assert!(matches!(parse(&endless), Header::Invalid(_)));
    }

    /// Issue 19, item 6: connections that came and went under a long
    /// `--proxy-timeout` leave no deadline each behind until it passes.
    #[test]
    fn connections_gone_leave_no_deadlines_behind() {
        let poll = mio::Poll::new().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut gate = ProxyGate::new(ProxyConfig {
            timeout: Duration::from_secs(3600),
            trusted: loopback_ranges(),
        });
        let now = Instant::now();
        for _ in 0..3000 {
            let client = std::net::TcpStream::connect(addr).unwrap();
            let (accepted, peer) = listener.accept().unwrap();
            accepted.set_nonblocking(true).unwrap();
            gate.admit(poll.registry(), TcpStream::from_std(accepted), peer, now)
                .unwrap();
            drop(client); // EOF before any header: rejected and removed
            let key = gate.waiting.iter().next().map(|(key, _)| key).unwrap();
            let outcome = gate.on_readable(poll.registry(), Token(FIRST_TOKEN + key));
            assert!(matches!(outcome, Outcome::Rejected(..)));
        }
        assert_eq!(gate.len(), 0);
        assert!(
            gate.deadlines.len() <= super::super::deadlines::STALE_MARGIN + 1,
            "{} deadlines kept",
            gate.deadlines.len()
        );
    }

    #[test]
    fn trust_is_by_range_and_sees_through_mapped_addresses() {
        let gate = ProxyGate::new(ProxyConfig {
            timeout: Duration::from_secs(3),
            trusted: vec!["10.1.0.0/16".parse().unwrap(), "::1/128".parse().unwrap()],
        });
        assert!(gate.trusts("10.1.2.3".parse().unwrap()));
        assert!(gate.trusts("::ffff:10.1.2.3".parse().unwrap()));
        assert!(gate.trusts("::1".parse().unwrap()));
        assert!(!gate.trusts("10.2.0.1".parse().unwrap()));
        assert!(!gate.trusts("127.0.0.1".parse().unwrap()));
    }
}
