//! Who a UDP echo answers. An echo that answers anyone is a reflector: a
//! spoofed source makes it send to a victim (CERT CA-1996-01, the
//! echo/chargen packet storm; Fraggle). So, on by default:
//!
//! - no answer to source ports below 1024 (xinetd's rule): the well-known
//!   services' ports, which also ends echo-to-echo and echo-to-chargen loops;
//! - no answer to broadcast or multicast sources;
//! - each source address gets at most `rate` answers per second (a token
//!   bucket holding up to one second's worth), in a table of at most
//!   `max_sources` addresses. When it is full, the oldest entry goes if its
//!   bucket has refilled (forgetting it then loses nothing), or else the
//!   next oldest, the busy one going to the back; otherwise the newcomer is
//!   refused, counted as rate-limited: evicting a source still
//!   over its rate would hand it a fresh bucket when it came back (cycling
//!   101 sources through a table of 100 once got every datagram answered).
//!
//! Replies are never larger than requests, so there is no amplification to
//! guard against. Refusals are counted by reason. The log says the first
//! refusal after a quiet spell at once, and the rest in one summary line
//! per [`LOG_EVERY`] (how many, from how many sources, the busiest ones):
//! forged sources cost no more log than one.

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
    /// A new source while the table is full of sources not yet refilled.
    TableFull,
}

impl Verdict {
    pub fn reason(self) -> &'static str {
        match self {
            Verdict::Answer => "answered",
            Verdict::LowPort => "its source port is below 1024",
            Verdict::Broadcast => "its source is a broadcast or multicast address",
            Verdict::RateLimited => "its source is over --udp-rate",
            Verdict::TableFull => {
                "the table of sources (--udp-max-sources) is full of sources still over their rate"
            }
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
}

impl Bucket {
    /// Tops the bucket up for the time since it was last.
    fn refill(&mut self, now: Instant, rate: f64) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(capacity(rate));
        self.refilled = now;
    }
}

/// A bucket holds one second's worth (at least one answer).
fn capacity(rate: f64) -> f64 {
    rate.max(1.0)
}

/// Sources the refusal summary tells apart in one interval; the rest are
/// counted, not named.
const SUMMARY_SOURCES: usize = 1024;

/// Refusals since the last line about them.
#[derive(Default)]
struct RefusalLog {
    /// When the interval began (its first refusal, logged on its own).
    since: Option<Instant>,
    /// Refused after that first one.
    datagrams: u64,
    /// Per source (up to [`SUMMARY_SOURCES`]): how many, and the last reason.
    sources: HashMap<IpAddr, (u64, Verdict)>,
    /// Refused from sources past that bound.
    unnamed: u64,
}

impl RefusalLog {
    fn refused(&mut self, source: SocketAddr, verdict: Verdict, now: Instant) {
        if self.since.is_none() {
            self.since = Some(now);
            log::info!(
                "not answering UDP from {source}: {} (further refusals are summed up every {} s)",
                verdict.reason(),
                LOG_EVERY.as_secs()
            );
            return;
        }
        self.datagrams += 1;
        let known = self.sources.len();
        match self.sources.get_mut(&source.ip()) {
            Some(entry) => *entry = (entry.0 + 1, verdict),
            None if known < SUMMARY_SOURCES => {
                self.sources.insert(source.ip(), (1, verdict));
            }
            None => self.unnamed += 1,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.since.map(|since| since + LOG_EVERY)
    }

    /// Says what was refused in an interval that has ended (any interval
    /// with `now` unset: the server is stopping).
    fn flush(&mut self, now: Option<Instant>) {
        if self.since.is_none() || now.zip(self.next_deadline()).is_some_and(|(now, due)| now < due) {
            return;
        }
        if self.datagrams > 0 {
            log::info!("{}", self.summary());
        }
        *self = RefusalLog::default();
    }

    fn summary(&self) -> String {
        let mut busiest: Vec<_> = self.sources.iter().collect();
        busiest.sort_unstable_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
        let top: Vec<String> = busiest
            .iter()
            .take(3)
            .map(|(ip, (count, verdict))| format!("{ip} ({count}, {})", verdict.reason()))
            .collect();
        let sources = if self.unnamed > 0 {
            format!("more than {SUMMARY_SOURCES} sources")
        } else if self.sources.len() == 1 {
            "1 source".to_string()
        } else {
            format!("{} sources", self.sources.len())
        };
        format!(
            "refused {} more UDP datagram{} from {sources} in the last {} s; most: {}",
            self.datagrams,
            if self.datagrams == 1 { "" } else { "s" },
            LOG_EVERY.as_secs(),
            top.join(", ")
        )
    }
}

pub struct Guard {
    /// Answers per second per source address.
    rate: f64,
    max_sources: usize,
    /// Keyed by addresses a peer chooses (and can forge): hashed with a
    /// per-process random key, as std's SipHash is, by aHash, which costs
    /// a third as much per datagram (callgrind: SipHash was half of the
    /// echo's user-space instructions).
    buckets: HashMap<IpAddr, Bucket, ahash::RandomState>,
    /// Addresses in the order they entered the table, for eviction.
    arrivals: VecDeque<IpAddr>,
    pub refusals: Refusals,
    /// Entries dropped because the table was full.
    pub evictions: u64,
    log: RefusalLog,
    /// This host's directed broadcast addresses ([`local_broadcasts`]).
    broadcasts: Vec<Ipv4Addr>,
}

impl Guard {
    pub fn new(rate: f64, max_sources: usize, broadcasts: Vec<Ipv4Addr>) -> Guard {
        Guard {
            broadcasts,
            rate,
            max_sources: max_sources.max(1),
            buckets: HashMap::default(),
            arrivals: VecDeque::new(),
            refusals: Refusals::default(),
            evictions: 0,
            log: RefusalLog::default(),
        }
    }

    /// Sources in the table now.
    #[cfg(test)]
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }

    /// Whether to answer a datagram from `source` at `now`; a refusal is
    /// counted, and goes into the log's summary.
    pub fn check(&mut self, source: SocketAddr, now: Instant) -> Verdict {
        let ip = source.ip();
        let verdict = if is_broadcast_or_multicast(ip, &self.broadcasts) {
            Verdict::Broadcast
        } else if source.port() < LOWEST_PORT {
            Verdict::LowPort
        } else {
            self.take_token(ip, now)
        };
        match verdict {
            Verdict::Answer => return verdict,
            Verdict::Broadcast => self.refusals.broadcast += 1,
            Verdict::LowPort => self.refusals.low_port += 1,
            Verdict::RateLimited | Verdict::TableFull => self.refusals.rate_limited += 1,
        }
        self.log.refused(source, verdict, now);
        verdict
    }

    /// When the refusal summary is due, if anything waits to be said.
    pub fn next_log_deadline(&self) -> Option<Instant> {
        self.log.next_deadline()
    }

    /// Logs the refusal summary if its interval has ended, or at once
    /// with `now` unset.
    pub fn flush_log(&mut self, now: Option<Instant>) {
        self.log.flush(now);
    }

    fn take_token(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        let rate = self.rate;
        // One lookup for a known source; a new one pays a second to insert.
        let bucket = match self.buckets.get_mut(&ip) {
            Some(bucket) => bucket,
            None => {
                if self.buckets.len() >= self.max_sources && !self.evict_oldest(now) {
                    return Verdict::TableFull;
                }
                self.arrivals.push_back(ip);
                self.buckets.entry(ip).or_insert(Bucket {
                    tokens: capacity(rate),
                    refilled: now,
                })
            }
        };
        bucket.refill(now, rate);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Verdict::Answer
        } else {
            Verdict::RateLimited
        }
    }

    /// Forgets the oldest source if that loses nothing (its bucket is full
    /// again, as a new one would be); false if it is still over its rate.
    /// A source still over its rate goes to the back of the line once, and
    /// the next oldest is looked at: a client that sends all along must not
    /// keep the idle ones behind it in the table (and every newcomer out).
    /// Two looks at most, so a datagram's cost stays bounded.
    fn evict_oldest(&mut self, now: Instant) -> bool {
        for _ in 0..2 {
            let Some(oldest) = self.arrivals.pop_front() else {
                return false;
            };
            let Some(bucket) = self.buckets.get_mut(&oldest) else {
                continue;
            };
            bucket.refill(now, self.rate);
            if bucket.tokens >= capacity(self.rate) {
                self.buckets.remove(&oldest);
                self.evictions += 1;
                return true;
            }
            self.arrivals.push_back(oldest);
        }
        false
    }
}

/// The broadcast addresses of this host's IPv4 networks (a directed
/// broadcast such as 192.168.1.255 is a host's address elsewhere: only
/// the interfaces' own netmasks say which are broadcasts here).
pub fn local_broadcasts() -> Vec<Ipv4Addr> {
    crate::sys::ipv4_broadcast_addresses()
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
        let start = Instant::now();
        for i in 0..100_000u32 {
            let ip = std::net::Ipv4Addr::from(0x0A00_0000 + i);
            // A tenth of a second apart per thousand: the oldest has
            // refilled (one token at 10/s) by the time it is evicted.
            let now = start + Duration::from_millis(u64::from(i) / 10);
            assert_eq!(
                guard.check(SocketAddr::new(ip.into(), 40000), now),
                Verdict::Answer,
                "source {i}"
            );
        }
        assert_eq!(guard.sources(), 1000);
        assert_eq!(guard.evictions, 99_000);
        assert!(guard.arrivals.len() <= 1000);
    }

    /// Issue 19, item 5: cycling one more source than the table holds
    /// must not hand each a fresh bucket (before: 600 of 600 answered).
    #[test]
    fn cycling_sources_through_a_full_table_earns_no_fresh_buckets() {
        let mut guard = Guard::new(1.0, 100, Vec::new());
        let start = Instant::now();
        let mut answered = 0;
        for round in 0..6u32 {
            for i in 0..101u32 {
                let ip = std::net::Ipv4Addr::from(0x0A00_0000 + i);
                // Each round within the same second: nobody refills.
                let now = start + Duration::from_millis(u64::from(round) * 100);
                if guard.check(SocketAddr::new(ip.into(), 40000), now) == Verdict::Answer {
                    answered += 1;
                }
            }
        }
        assert_eq!(answered, 100, "one token per source, and the 101st refused");
        assert_eq!(guard.refusals.rate_limited, 606 - 100);
        // Once the oldest has refilled, a newcomer takes its place.
        let later = start + Duration::from_secs(2);
        assert_eq!(guard.check(at("10.0.1.0", 40000), later), Verdict::Answer);
        assert_eq!(guard.evictions, 1);
    }

    /// A source that sends all along, oldest in the table, does not keep an
    /// idle one behind it from being forgotten for a newcomer (before, every
    /// newcomer was refused while the busy one led the table: the 100,000
    /// sources test saw over 5,000 refused on a fast run).
    #[test]
    fn a_busy_oldest_source_does_not_keep_newcomers_out() {
        let mut guard = Guard::new(1.0, 2, Vec::new());
        let start = Instant::now();
        let second = |s: u64| start + Duration::from_millis(s);
        assert_eq!(guard.check(at("10.0.0.1", 40000), second(0)), Verdict::Answer);
        assert_eq!(guard.check(at("10.0.0.2", 40000), second(0)), Verdict::Answer);
        // The oldest keeps sending; the other stays quiet and refills.
        assert_eq!(guard.check(at("10.0.0.1", 40000), second(1500)), Verdict::Answer);
        assert_eq!(guard.check(at("10.0.0.3", 40000), second(1600)), Verdict::Answer);
        assert_eq!(guard.evictions, 1);
        assert_eq!(
            guard.check(at("10.0.0.1", 40000), second(2600)),
            Verdict::Answer,
            "still in the table"
        );
    }

    /// Issue 19, item 3: 20,000 refused sources make two log lines (the
    /// first refusal, then one summary), not one each.
    #[test]
    fn refusals_are_summed_up_not_logged_per_source() {
        let mut guard = Guard::new(1.0, 100_000, Vec::new());
        let now = Instant::now();
        for i in 0..20_000u32 {
            let source = SocketAddr::new(std::net::Ipv4Addr::from(0x0A00_0000 + i).into(), 40000);
            guard.check(source, now);
            guard.check(source, now);
            guard.flush_log(Some(now));
        }
        assert_eq!(guard.refusals.rate_limited, 20_000);
        assert_eq!(guard.log.datagrams, 19_999, "all but the first are waiting");
        assert_eq!(guard.next_log_deadline(), Some(now + LOG_EVERY));
        let summary = guard.log.summary();
        assert!(
            summary.starts_with("refused 19999 more UDP datagrams from more than 1024 sources in the last 10 s; most: 10.0.0.1 (1, its source is over --udp-rate)"),
            "{summary}"
        );
        guard.flush_log(Some(now + LOG_EVERY));
        assert_eq!(guard.next_log_deadline(), None, "said, and a new interval waits");
        assert_eq!(guard.log.sources.len(), 0);
    }

    #[test]
    fn this_hosts_loopback_is_no_broadcast() {
        assert!(!local_broadcasts().contains(&std::net::Ipv4Addr::LOCALHOST));
    }
}
