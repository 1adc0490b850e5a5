//! Who a UDP echo answers. An echo that answers anyone is a reflector: a
//! spoofed source makes it send to a victim (CERT CA-1996-01, the
//! echo/chargen packet storm; Fraggle). So, on by default:
//!
//! - no answer to source ports below 1024 (xinetd's rule): the well-known
//!   services' ports, which also ends echo-to-echo and echo-to-chargen loops;
//! - no answer to broadcast or multicast sources;
//! - each source address gets at most `rate` answers per second (a token
//!   bucket holding up to one second's worth), in a table of at most
//!   `max_sources` addresses: when it is full, the oldest entry goes.
//!
//! Replies are never larger than requests, so there is no amplification to
//! guard against. Refusals are counted by reason, and logged at most once
//! per source per [`LOG_EVERY`] (never a line per datagram).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// How often one source's refusals may be logged again.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Source ports below this are never answered.
pub const LOWEST_PORT: u16 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Answer,
    /// From a well-known port (below 1024).
    LowPort,
    /// From a broadcast or multicast address.
    Broadcast,
    /// Over its source's rate.
    RateLimited,
}

impl Verdict {
    pub fn reason(self) -> &'static str {
        match self {
            Verdict::Answer => "answered",
            Verdict::LowPort => "its source port is below 1024",
            Verdict::Broadcast => "its source is a broadcast or multicast address",
            Verdict::RateLimited => "its source is over --udp-rate",
        }
    }
}

/// Datagrams refused, by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Refusals {
    pub low_port: u64,
    pub broadcast: u64,
    pub rate_limited: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
    /// When a refusal of this source was last logged.
    logged: Option<Instant>,
}

pub struct Guard {
    /// Answers per second per source address.
    rate: f64,
    max_sources: usize,
    buckets: HashMap<IpAddr, Bucket>,
    /// Addresses in the order they entered the table, for eviction.
    arrivals: VecDeque<IpAddr>,
    pub refusals: Refusals,
    /// Entries dropped because the table was full.
    pub evictions: u64,
    /// Sources not in the table (refused for their port or address) whose
    /// refusal was logged lately; bounded like the table, cleared every
    /// [`LOG_EVERY`].
    logged_unlisted: HashMap<IpAddr, Instant>,
    /// This host's directed broadcast addresses ([`local_broadcasts`]).
    broadcasts: Vec<Ipv4Addr>,
}

impl Guard {
    pub fn new(rate: f64, max_sources: usize, broadcasts: Vec<Ipv4Addr>) -> Guard {
        Guard {
            broadcasts,
            rate,
            max_sources: max_sources.max(1),
            buckets: HashMap::new(),
            arrivals: VecDeque::new(),
            refusals: Refusals::default(),
            evictions: 0,
            logged_unlisted: HashMap::new(),
        }
    }

    /// Sources in the table now.
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }

    /// Whether to answer a datagram from `source` at `now`; a refusal is
    /// counted, and logged if this source's was not lately.
    pub fn check(&mut self, source: SocketAddr, now: Instant) -> Verdict {
        let ip = source.ip();
        let verdict = if is_broadcast_or_multicast(ip, &self.broadcasts) {
            Verdict::Broadcast
        } else if source.port() < LOWEST_PORT {
            Verdict::LowPort
        } else if !self.take_token(ip, now) {
            Verdict::RateLimited
        } else {
            return Verdict::Answer;
        };
        match verdict {
            Verdict::Broadcast => self.refusals.broadcast += 1,
            Verdict::LowPort => self.refusals.low_port += 1,
            _ => self.refusals.rate_limited += 1,
        }
        if self.should_log(ip, verdict, now) {
            log::info!(
                "not answering UDP from {source}: {} (logged once per source per {} s)",
                verdict.reason(),
                LOG_EVERY.as_secs()
            );
        }
        verdict
    }

    fn take_token(&mut self, ip: IpAddr, now: Instant) -> bool {
        let rate = self.rate;
        if !self.buckets.contains_key(&ip) {
            if self.buckets.len() >= self.max_sources {
                self.evict_oldest();
            }
            self.arrivals.push_back(ip);
        }
        let bucket = self.buckets.entry(ip).or_insert(Bucket {
            tokens: rate,
            refilled: now,
            logged: None,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate.max(1.0));
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn evict_oldest(&mut self) {
        while let Some(oldest) = self.arrivals.pop_front() {
            if self.buckets.remove(&oldest).is_some() {
                self.evictions += 1;
                return;
            }
        }
    }

    fn should_log(&mut self, ip: IpAddr, verdict: Verdict, now: Instant) -> bool {
        let due =
            |last: Option<Instant>| last.is_none_or(|at| now.saturating_duration_since(at) >= LOG_EVERY);
        if verdict == Verdict::RateLimited {
            let bucket = self
                .buckets
                .get_mut(&ip)
                .expect("a rate-limited source is in the table");
            let log = due(bucket.logged);
            if log {
                bucket.logged = Some(now);
            }
            return log;
        }
        if self.logged_unlisted.len() >= self.max_sources {
            // Forget who was logged rather than grow: a few lines more.
            self.logged_unlisted
                .retain(|_, at| now.saturating_duration_since(*at) < LOG_EVERY);
            if self.logged_unlisted.len() >= self.max_sources {
                return false;
            }
        }
        let log = due(self.logged_unlisted.get(&ip).copied());
        if log {
            self.logged_unlisted.insert(ip, now);
        }
        log
    }
}

/// The broadcast addresses of this host's IPv4 networks (a directed
/// broadcast such as 192.168.1.255 is a host's address elsewhere: only
/// the interfaces' own netmasks say which are broadcasts here).
pub fn local_broadcasts() -> Vec<Ipv4Addr> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we only read, then
    // free with freeifaddrs; each pointer is checked before use.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut entry = list;
        while !entry.is_null() {
            let ifa = &*entry;
            let broadcast = ifa.ifa_ifu;
            if ifa.ifa_flags & libc::IFF_BROADCAST as u32 != 0
                && !broadcast.is_null()
                && i32::from((*broadcast).sa_family) == libc::AF_INET
            {
                let sin = &*(broadcast as *const libc::sockaddr_in);
                found.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            entry = ifa.ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found
}

fn is_broadcast_or_multicast(ip: IpAddr, local_broadcasts: &[Ipv4Addr]) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_broadcast() || v4.is_multicast() || local_broadcasts.contains(&v4),
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ip: &str, port: u16) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), port)
    }

    #[test]
    fn well_known_ports_and_broadcast_sources_get_nothing() {
        let mut guard = Guard::new(100.0, 10, vec!["192.168.7.255".parse().unwrap()]);
        let now = Instant::now();
        assert_eq!(guard.check(at("127.0.0.1", 7), now), Verdict::LowPort);
        assert_eq!(guard.check(at("127.0.0.1", 1023), now), Verdict::LowPort);
        assert_eq!(guard.check(at("255.255.255.255", 5000), now), Verdict::Broadcast);
        assert_eq!(guard.check(at("224.0.0.1", 5000), now), Verdict::Broadcast);
        assert_eq!(guard.check(at("ff02::1", 5000), now), Verdict::Broadcast);
        assert_eq!(guard.check(at("192.168.7.255", 5000), now), Verdict::Broadcast);
        // Elsewhere, .255 is a host like any other.
        assert_eq!(guard.check(at("10.0.1.255", 5000), now), Verdict::Answer);
        assert_eq!(guard.check(at("127.0.0.1", 1024), now), Verdict::Answer);
        assert_eq!(
            guard.refusals,
            Refusals {
                low_port: 2,
                broadcast: 4,
                rate_limited: 0
            }
        );
        // Refused sources never enter the rate table.
        assert_eq!(guard.sources(), 2);
    }

    #[test]
    fn a_flooding_source_is_cut_to_its_rate_and_another_is_still_answered() {
        let mut guard = Guard::new(10.0, 10, Vec::new());
        let start = Instant::now();
        let answered = (0..1000)
            .filter(|_| guard.check(at("10.0.0.1", 5000), start) == Verdict::Answer)
            .count();
        assert_eq!(answered, 10, "one second's worth at once");
        assert_eq!(guard.check(at("10.0.0.2", 5000), start), Verdict::Answer);
        // Half a second later, half a second's worth more.
        let later = start + Duration::from_millis(500);
        let answered = (0..1000)
            .filter(|_| guard.check(at("10.0.0.1", 5000), later) == Verdict::Answer)
            .count();
        assert_eq!(answered, 5);
        assert_eq!(guard.refusals.rate_limited, 990 + 995);
    }

    #[test]
    fn the_table_of_sources_stays_bounded() {
        let mut guard = Guard::new(10.0, 1000, Vec::new());
        let now = Instant::now();
        for i in 0..100_000u32 {
            let ip = std::net::Ipv4Addr::from(0x0A00_0000 + i);
            assert_eq!(
                guard.check(SocketAddr::new(ip.into(), 40000), now),
                Verdict::Answer
            );
        }
        assert_eq!(guard.sources(), 1000);
        assert_eq!(guard.evictions, 99_000);
        assert!(guard.arrivals.len() <= 1000);
    }

    #[test]
    fn a_source_is_logged_once_per_interval_however_much_it_is_refused() {
        let mut guard = Guard::new(1.0, 10, Vec::new());
        let now = Instant::now();
        let source: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..100 {
            guard.check(SocketAddr::new(source, 5000), now);
        }
        assert_eq!(guard.refusals.rate_limited, 99);
        // Logged at the first refusal: not again within the interval.
        assert!(!guard.should_log(source, Verdict::RateLimited, now + Duration::from_secs(1)));
        assert!(guard.should_log(source, Verdict::RateLimited, now + LOG_EVERY));
        let other: IpAddr = "10.0.0.9".parse().unwrap();
        assert!(guard.should_log(other, Verdict::LowPort, now));
        assert!(!guard.should_log(other, Verdict::LowPort, now));
    }

    #[test]
    fn this_hosts_loopback_is_no_broadcast() {
        assert!(!local_broadcasts().contains(&std::net::Ipv4Addr::LOCALHOST));
    }
}
