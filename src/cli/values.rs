//! Parsing flag values: counts, sizes, rates and durations with their
//! ranges and units, and what a failure means for the exit status.
//!
//! Units as wrk, vegeta, k6 and iperf3 take them: durations `250ms`, `30s`,
//! `1m`, `1h` (humantime's grammar, so `1h30m` too); sizes `1k` (1000),
//! `64KiB` (65,536), `1M`, `1MiB` (bytesize's); rates `10k`, `2.5M` per
//! second. A plain number keeps its old meaning: seconds (milliseconds for
//! a flag named in them), bytes, per second.

use std::time::Duration;

/// Exit status of a usage error, as clap's own.
pub const USAGE: u8 = 2;

/// What went wrong, and so the exit status: 2 for a usage error, 1 otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Usage(String),
    Runtime(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Runtime(message)
    }
}

/// The longest duration any flag takes: a year is past any timeout or
/// run worth asking for, and far from where `Instant` arithmetic overflows
/// (1e19 s once passed the parser and panicked at start).
pub const MAX_SECONDS: u64 = 365 * 24 * 3600;

/// A whole number from 1 to `MAX`.
pub(super) fn parse_count<const MAX: usize>(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX).contains(&n) => Ok(n),
        Ok(_) => Err(format!("'{text}' is out of range: from 1 to {MAX}")),
        Err(_) => Err(format!("'{text}' is not a whole number from 1 to {MAX}")),
    }
}

/// Reactors or load threads: far more than cores is only overhead.
pub(super) const MAX_THREADS: usize = 1024;
/// Connections, sources and messages in flight.
pub(super) const MAX_COUNT: usize = 10_000_000;
/// Byte sizes: a message, a window, a queue.
pub(super) const MAX_BYTES: usize = 1 << 30;

/// Rates (per second) up to a billion.
pub(super) const MAX_PER_SECOND: f64 = 1e9;

/// A number with an SI multiplier (`10k`, `2.5M`, `1G`), or a plain one.
pub(super) fn si_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, factor) = match text.char_indices().last()? {
        (at, 'k' | 'K') => (&text[..at], 1e3),
        (at, 'M') => (&text[..at], 1e6),
        (at, 'G') => (&text[..at], 1e9),
        _ => (text, 1.0),
    };
    number
        .parse::<f64>()
        .ok()
        .map(|n| n * factor)
        .filter(|n| n.is_finite())
}

pub(super) fn parse_rate(text: &str) -> Result<f64, String> {
    si_number(text)
        .filter(|rate| *rate > 0.0 && *rate <= MAX_PER_SECOND)
        .ok_or_else(|| {
            format!(
                "'{text}' is not a rate from more than 0 to 1G per second (a number, or with k, M or G: 10k)"
            )
        })
}

/// Bytes: a whole number, or with a unit (`1k`, `64KiB`, `1M`, `1MiB`),
/// from 1 to `MAX`.
pub(super) fn parse_size<const MAX: usize>(text: &str) -> Result<usize, String> {
    let bytes = match text.trim().parse::<u64>() {
        Ok(bytes) => bytes,
        Err(_) if text.trim().starts_with(|c: char| c.is_ascii_digit() || c == '.') => text
            .trim()
            .parse::<bytesize::ByteSize>()
            .map_err(|_| format!("'{text}' is not a size: bytes, or with k, KiB, M, MiB or G, GiB (64KiB)"))?
            .as_u64(),
        Err(_) => {
            return Err(format!(
                "'{text}' is not a size: bytes, or with k, KiB, M, MiB or G, GiB (64KiB)"
            ));
        }
    };
    match usize::try_from(bytes) {
        Ok(n) if (1..=MAX).contains(&n) => Ok(n),
        _ => Err(format!("'{text}' is out of range: from 1 byte to {MAX} bytes")),
    }
}

/// A duration: plain seconds (`1.5`), or with a unit (`250ms`, `30s`,
/// `1m`, `1h`); `plain` is what a plain number counts.
fn duration(text: &str, plain: Duration) -> Result<Duration, String> {
    let trimmed = text.trim();
    if let Ok(count) = trimmed.parse::<f64>() {
        if count.is_nan() || count < 0.0 {
            return Err(format!("'{text}' is not a duration of zero or more"));
        }
        // Past what a Duration holds (1e300) is past any range a flag has.
        return Duration::try_from_secs_f64(count * plain.as_secs_f64()).map_err(|_| {
            format!("'{text}' is out of range: from more than 0 to {MAX_SECONDS} seconds (365 days)")
        });
    }
    humantime::parse_duration(trimmed).map_err(|_| {
        let plain = if plain == Duration::from_millis(1) {
            "milliseconds"
        } else {
            "seconds"
        };
        format!(
            "'{text}' is not a duration: use s, ms, m or h (250ms, 30s, 1m), or a plain number of {plain}"
        )
    })
}

pub(super) fn parse_seconds(text: &str) -> Result<Duration, String> {
    if duration(text, Duration::from_secs(1))?.is_zero() {
        return Ok(Duration::ZERO);
    }
    parse_timeout(text)
}

/// Whole seconds, at least 1 (the kernel's keepalive counts in seconds).
pub(super) fn parse_whole_seconds(text: &str) -> Result<Duration, String> {
    match duration(text, Duration::from_secs(1)) {
        Ok(d) if d.subsec_nanos() == 0 && (1..=32_767).contains(&d.as_secs()) => Ok(d),
        Err(err) => Err(err),
        _ => Err(format!(
            "'{text}' is not a whole number of seconds from 1 to 32767"
        )),
    }
}

/// Milliseconds (a plain number counts them), at least 1.
pub(super) fn parse_millis(text: &str) -> Result<Duration, String> {
    match duration(text, Duration::from_millis(1)) {
        Ok(d) if d >= Duration::from_millis(1) && d.as_millis() <= u128::from(u32::MAX) => Ok(d),
        Err(err) => Err(err),
        _ => Err(format!("'{text}' is out of range: from 1 ms to {} ms", u32::MAX)),
    }
}

pub(super) fn parse_timeout(text: &str) -> Result<Duration, String> {
    let value = duration(text, Duration::from_secs(1))?;
    if value.is_zero() {
        return Err(format!("'{text}' is not a positive duration"));
    }
    if value > Duration::from_secs(MAX_SECONDS) {
        return Err(format!(
            "'{text}' is out of range: from more than 0 to {MAX_SECONDS} seconds (365 days)"
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_plain_numbers_stay_seconds() {
        let secs = |s: f64| Duration::from_secs_f64(s);
        for (text, expected) in [
            ("30s", secs(30.0)),
            ("1m", secs(60.0)),
            ("250ms", secs(0.25)),
            ("1h", secs(3600.0)),
            ("1.5", secs(1.5)),
            ("2", secs(2.0)),
            ("1h30m", secs(5400.0)),
        ] {
            assert_eq!(parse_timeout(text), Ok(expected), "{text}");
        }
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        assert_eq!(parse_seconds("0s"), Ok(Duration::ZERO));
        let err = parse_timeout("1h30").unwrap_err();
        assert!(
            err.contains("'1h30' is not a duration: use s, ms, m or h"),
            "{err}"
        );
        for bad in ["0", "-1", "abc", "400d", "inf", "NaN"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_millis("250"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_millis("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_millis("0.5").is_err());
        assert_eq!(parse_whole_seconds("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_whole_seconds("1.5s").unwrap_err().contains("whole number"));
    }

    #[test]
    fn sizes_take_decimal_and_binary_units() {
        for (text, expected) in [
            ("512", 512),
            ("1k", 1000),
            ("1K", 1000),
            ("64KiB", 65_536),
            ("1M", 1_000_000),
            ("1MiB", 1 << 20),
            ("1.5KiB", 1536),
        ] {
            assert_eq!(parse_size::<{ 1 << 30 }>(text), Ok(expected), "{text}");
        }
        assert!(parse_size::<1000>("2k").unwrap_err().contains("out of range"));
        for bad in ["0", "-1", "1 parsec", "k", "1ZB"] {
            let err = parse_size::<{ 1 << 30 }>(bad).unwrap_err();
            assert!(err.contains("KiB") || err.contains("range"), "{bad}: {err}");
        }
    }

    #[test]
    fn rates_take_si_multipliers() {
        assert_eq!(parse_rate("10k"), Ok(10_000.0));
        assert_eq!(parse_rate("2.5M"), Ok(2_500_000.0));
        assert_eq!(parse_rate("1000"), Ok(1000.0));
        for bad in ["0", "2G", "k", "10x", "-1k"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
