//! Dead peers and greedy sources: TCP keepalive and `TCP_USER_TIMEOUT` on
//! every connection (`--keepalive`, `--user-timeout`), and a cap on the
//! connections one source address may hold (`--max-connections-per-ip`).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::TcpKeepalive;

use super::said::OncePerSource;

/// `--keepalive SECS [--keepalive-interval SECS] [--keepalive-probes N]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Keepalive {
    /// Silence before the first probe.
    pub idle: Duration,
    pub interval: Duration,
    pub probes: u32,
}

impl Keepalive {
    /// How long after its last sign of life a vanished peer is detected.
    pub fn bound(&self) -> Duration {
        self.idle + self.interval * self.probes
    }
}

/// Socket options every accepted connection gets.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DeadPeers {
    pub keepalive: Option<Keepalive>,
    /// `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged (and
    /// keepalive probes unanswered) before the kernel drops the connection.
    pub user_timeout: Option<Duration>,
}

impl DeadPeers {
    pub fn apply(&self, socket: &socket2::Socket) -> io::Result<()> {
        if let Some(k) = self.keepalive {
            let params = TcpKeepalive::new()
                .with_time(k.idle)
                .with_interval(k.interval)
                .with_retries(k.probes);
            socket.set_tcp_keepalive(&params)?;
        }
        if let Some(timeout) = self.user_timeout {
            socket.set_tcp_user_timeout(Some(timeout))?;
        }
        Ok(())
    }

    pub fn any(&self) -> bool {
        self.keepalive.is_some() || self.user_timeout.is_some()
    }
}

/// Connections per source address, and when each refused source was last
/// said in the log; shared by every reactor.
#[derive(Default)]
pub struct SourceTable {
    counts: HashMap<IpAddr, usize>,
    said: OncePerSource,
}

pub type SourceCounts = Arc<Mutex<SourceTable>>;

/// One reactor's view of `--max-connections-per-ip`.
pub struct PerSource {
    limit: usize,
    counts: SourceCounts,
    /// The source of each open connection, by slab key.
    owners: Vec<Option<IpAddr>>,
}

impl PerSource {
    pub fn new(limit: usize, counts: SourceCounts) -> PerSource {
        PerSource {
            limit,
            counts,
            owners: Vec::new(),
        }
    }

    /// Takes a slot for `ip`, or says no; `Err(true)` when the refusal
    /// should be logged (once per source per [`super::said::EVERY`]).
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> Result<(), bool> {
        let mut table = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = table.counts.entry(ip).or_insert(0);
        if *count < self.limit {
            *count += 1;
            return Ok(());
        }
        Err(table.said.due(ip, now))
    }

    /// The admitted connection of `ip` now has slab key `key`.
    pub fn opened(&mut self, key: usize, ip: IpAddr) {
        if self.owners.len() <= key {
            self.owners.resize(key + 1, None);
        }
        self.owners[key] = Some(ip);
    }

    /// Gives back a slot taken by `admit` that never became a connection.
    pub fn release(&mut self, ip: IpAddr) {
        let mut table = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = table.counts.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                table.counts.remove(&ip);
            }
        }
    }

    pub fn closed(&mut self, key: usize) {
        if let Some(ip) = self.owners.get_mut(key).and_then(Option::take) {
            self.release(ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_peer_options_reach_the_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let socket = socket2::Socket::from(accepted);
        let options = DeadPeers {
            keepalive: Some(Keepalive {
                idle: Duration::from_secs(7),
                interval: Duration::from_secs(2),
                probes: 4,
            }),
            user_timeout: Some(Duration::from_millis(1500)),
        };
        options.apply(&socket).unwrap();
        assert!(socket.keepalive().unwrap());
        assert_eq!(socket.tcp_keepalive_time().unwrap(), Duration::from_secs(7));
        assert_eq!(socket.tcp_keepalive_interval().unwrap(), Duration::from_secs(2));
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), 4);
        assert_eq!(
            socket.tcp_user_timeout().unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(options.keepalive.unwrap().bound(), Duration::from_secs(15));
        drop(client);
    }

    #[test]
    fn a_source_gets_its_share_across_reactors_and_is_logged_once_a_while() {
        let counts = SourceCounts::default();
        let mut a = PerSource::new(2, Arc::clone(&counts));
        let mut b = PerSource::new(2, counts);
        let (ip, other): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        assert_eq!(a.admit(ip, t0), Ok(()));
        a.opened(0, ip);
        assert_eq!(b.admit(ip, t0), Ok(()));
        b.opened(5, ip);
        assert_eq!(a.admit(ip, t0), Err(true), "third from the same source, logged");
        assert_eq!(
            a.admit(ip, t0 + Duration::from_secs(1)),
            Err(false),
            "not logged again so soon"
        );
        assert_eq!(
            b.admit(ip, t0 + Duration::from_secs(1)),
            Err(false),
            "nor by another reactor"
        );
        assert_eq!(a.admit(other, t0), Ok(()), "another source is not affected");
        b.closed(5);
        assert_eq!(a.admit(ip, t0), Ok(()), "a slot freed by another reactor");
        assert_eq!(a.admit(ip, t0 + super::super::said::EVERY), Err(true));
    }
}
