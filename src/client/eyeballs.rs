//! Happy eyeballs (RFC 8305): a name with several addresses is reached at
//! whichever answers first, so `--addr localhost:PORT` works whether the
//! server listens on `[::1]` or on `127.0.0.1`.
//!
//! The addresses are tried IPv6 and IPv4 interleaved (the first family the
//! resolver gave leads), a new attempt every [`ATTEMPT_DELAY`] or at once
//! when the one before fails; the first connection made wins and the rest
//! are dropped as they finish.

use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::describe;
use crate::transport::knobs::Knobs;

/// RFC 8305's recommended connection attempt delay.
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The order attempts are made in: the families alternate, each in the
/// resolver's order, starting with the family of its first answer.
pub fn interleave(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return Vec::new();
    };
    let (lead, other): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addrs.iter().partition(|a| a.is_ipv6() == first.is_ipv6());
    let mut ordered = Vec::with_capacity(addrs.len());
    for i in 0..lead.len().max(other.len()) {
        ordered.extend(lead.get(i).copied());
        ordered.extend(other.get(i).copied());
    }
    ordered
}

/// Connects to the first of `addrs` to answer, each attempt bounded by
/// `timeout`; the error names every address tried and why it failed.
pub fn connect_first(
    addrs: &[SocketAddr],
    timeout: Duration,
    knobs: &Knobs,
) -> Result<(TcpStream, SocketAddr), String> {
    let ordered = interleave(addrs);
    let (done, results) = mpsc::channel();
    let mut started = 0;
    let mut failed: Vec<(SocketAddr, String)> = Vec::new();
    let deadline = Instant::now() + timeout + ATTEMPT_DELAY * ordered.len() as u32;
    loop {
        if started < ordered.len() {
            let addr = ordered[started];
            let done = done.clone();
            let knobs = knobs.clone();
            // An attempt that loses the race ends on its own within
            // `timeout`; its connection, if any, is dropped then.
            thread::spawn(move || {
                let attempt = if knobs.is_default() {
                    TcpStream::connect_timeout(&addr, timeout)
                } else {
                    knobs
                        .connect(addr, timeout)
                        .map(|(stream, _)| stream)
                        .map_err(std::io::Error::other)
                };
                let _ = done.send((addr, attempt));
            });
            started += 1;
        }
        let wait = if started < ordered.len() {
            ATTEMPT_DELAY
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        match results.recv_timeout(wait) {
            Ok((addr, Ok(stream))) => return Ok((stream, addr)),
            Ok((addr, Err(err))) => failed.push((addr, describe(&err))),
            Err(mpsc::RecvTimeoutError::Timeout) if started < ordered.len() => continue,
            Err(_) => break,
        }
        if failed.len() == ordered.len() {
            break;
        }
        // A failure starts the next attempt at once (the loop's top).
    }
    let tried: Vec<String> = ordered
        .iter()
        .map(|addr| match failed.iter().find(|(a, _)| a == addr) {
            Some((_, why)) => format!("{addr} ({why})"),
            None => format!("{addr} (no answer)"),
        })
        .collect();
    Err(format!("tried {}", tried.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_alternate_starting_with_the_resolvers_first() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let addrs = [a("[::1]:1"), a("[::2]:1"), a("[::3]:1"), a("10.0.0.1:1")];
        assert_eq!(interleave(&addrs), vec![addrs[0], addrs[3], addrs[1], addrs[2]]);
        let v4_first = [a("10.0.0.1:1"), a("[::1]:1"), a("10.0.0.2:1")];
        assert_eq!(interleave(&v4_first), vec![v4_first[0], v4_first[1], v4_first[2]]);
        assert!(interleave(&[]).is_empty());
    }

    /// A port nothing listens on: refused at once.
    fn refused_addr() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }

    /// A listener whose accept queue is full: the kernel drops further
    /// SYNs, so a connect to it hangs (as an unreachable address would).
    fn silent_addr() -> (socket2::Socket, Vec<TcpStream>, SocketAddr) {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        socket.listen(0).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        let fill: Vec<TcpStream> = (0..2)
            .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
            .collect();
        (socket, fill, addr)
    }

    #[test]
    fn the_first_address_to_answer_wins_and_a_silent_one_costs_one_delay() {
        let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let live_addr = live.local_addr().unwrap();
        let dead = refused_addr();
        let (stream, addr) =
            connect_first(&[dead, live_addr], Duration::from_secs(5), &Knobs::default()).unwrap();
        assert_eq!(addr, live_addr);
        assert_eq!(stream.peer_addr().unwrap(), live_addr);

        let (_silent, _fill, silent) = silent_addr();
        let started = Instant::now();
        let (_, addr) =
            connect_first(&[silent, live_addr], Duration::from_secs(5), &Knobs::default()).unwrap();
        let took = started.elapsed();
        assert_eq!(addr, live_addr, "the silent address held the race");
        assert!(took >= ATTEMPT_DELAY && took < Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn when_none_answers_the_error_names_each_address_and_why() {
        let (a, b) = (refused_addr(), refused_addr());
        let err = connect_first(&[a, b], Duration::from_secs(2), &Knobs::default()).unwrap_err();
        assert!(err.starts_with("tried "), "{err}");
        for addr in [a, b] {
            assert!(err.contains(&format!("{addr} (connection refused")), "{err}");
        }
        let (_silent, _fill, silent) = silent_addr();
        let err = connect_first(&[silent, a], Duration::from_millis(300), &Knobs::default()).unwrap_err();
        assert!(
            err.contains(&format!("{silent} (")) && err.contains(&format!("{a} (connection refused")),
            "{err}"
        );
    }
}
