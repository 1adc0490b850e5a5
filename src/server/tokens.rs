//! Every token a reactor's poll hands out, in one table.
//!
//! A connection's token is its slab key, counted up from 0. Above the slab,
//! two ranges of keyed tokens, each a quarter of the space, hold the
//! sockets that are not echo connections yet or at all: connections
//! waiting for their PROXY header, and the metrics endpoint's scrapers
//! (each range's slab key added to its start). The top 16 tokens are single
//! sockets. No slab ever grows into the ranges above it: they start past
//! 2^61 on 64-bit machines.

use mio::Token;

/// SIGINT, SIGTERM and SIGHUP, through signal-hook-mio's pipe.
pub const SIGNALS: Token = Token(usize::MAX);
/// The metrics endpoint's listener (`--metrics-addr`).
pub const METRICS_LISTENER: Token = Token(usize::MAX - 1);
/// The UDP echo socket (`--udp`).
pub const UDP: Token = Token(usize::MAX - 2);
/// Another reactor freed a place under `--max-connections`.
pub const WAKE: Token = Token(usize::MAX - 3);

/// The listeners of echo connections (TCP, Unix), in the reactor's list:
/// the 8 tokens below the other single sockets.
const LISTENERS: usize = 8;
const FIRST_LISTENER: usize = usize::MAX - 8;

/// The token of the listener at `index` in the reactor's list.
pub fn listener(index: usize) -> Token {
    assert!(index < LISTENERS, "at most {LISTENERS} listeners per reactor");
    Token(FIRST_LISTENER - index)
}

/// Whether `token` is one of the listeners'.
pub fn is_listener(token: Token) -> bool {
    (FIRST_LISTENER + 1 - LISTENERS..=FIRST_LISTENER).contains(&token.0)
}

/// Below the single sockets: the top 16 tokens are theirs.
const SINGLES: usize = usize::MAX - 15;

/// Connections waiting for their PROXY header: this, plus the gate's key.
pub const PROXY_FIRST: usize = 1 << (usize::BITS - 2);
/// The metrics endpoint's scrapers: this, plus the endpoint's key.
pub const SCRAPERS_FIRST: usize = 1 << (usize::BITS - 3);

/// Whether `token` is a connection waiting for its PROXY header.
pub fn is_proxy_waiting(token: Token) -> bool {
    (PROXY_FIRST..SINGLES).contains(&token.0)
}

/// Whether `token` is one of the metrics endpoint's scrapers.
pub fn is_scraper(token: Token) -> bool {
    (SCRAPERS_FIRST..PROXY_FIRST).contains(&token.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ranges_and_the_single_tokens_never_meet() {
        let mut singles = vec![SIGNALS, METRICS_LISTENER, UDP, WAKE];
        singles.extend((0..LISTENERS).map(listener));
        assert!(is_listener(listener(0)) && is_listener(listener(LISTENERS - 1)));
        assert!(!is_listener(WAKE) && !is_listener(Token(FIRST_LISTENER - LISTENERS)));
        for (i, a) in singles.iter().enumerate() {
            assert!(a.0 >= SINGLES, "{a:?} is below the single tokens");
            assert!(!is_proxy_waiting(*a) && !is_scraper(*a), "{a:?}");
            assert_eq!(
                is_listener(*a),
                !matches!(*a, SIGNALS | METRICS_LISTENER | UDP | WAKE)
            );
            for b in &singles[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // The slab's keys (from 0) stay below both ranges.
        assert!(!is_scraper(Token(0)) && !is_proxy_waiting(Token(SCRAPERS_FIRST - 1)));
        assert!(is_scraper(Token(SCRAPERS_FIRST)) && !is_proxy_waiting(Token(SCRAPERS_FIRST)));
        assert!(is_proxy_waiting(Token(PROXY_FIRST)) && !is_scraper(Token(PROXY_FIRST)));
        assert!(is_proxy_waiting(Token(SINGLES - 1)));
    }
}
