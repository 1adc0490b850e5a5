//! Parsing flag values: counts, rates and durations with their ranges, and
//! what a failure means for the exit status.

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

pub(super) fn parse_rate(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|rate| rate.is_finite() && *rate > 0.0 && *rate <= MAX_PER_SECOND)
        .ok_or_else(|| format!("'{text}' is not a rate from more than 0 to {MAX_PER_SECOND} per second"))
}

pub(super) fn parse_seconds(text: &str) -> Result<Duration, String> {
    if text.parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    parse_timeout(text)
}

/// Whole seconds, at least 1 (the kernel's keepalive counts in seconds).
pub(super) fn parse_whole_seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(secs) if (1..=32_767).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "'{text}' is not a whole number of seconds from 1 to 32767"
        )),
    }
}

/// Milliseconds, at least 1.
pub(super) fn parse_millis(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(ms) if ms >= 1 && ms <= u64::from(u32::MAX) => Ok(Duration::from_millis(ms)),
        _ => Err(format!("'{text}' is not a positive number of milliseconds")),
    }
}

pub(super) fn parse_timeout(text: &str) -> Result<Duration, String> {
    let secs = text
        .parse::<f64>()
        .ok()
        .filter(|secs| secs.is_finite() && *secs > 0.0)
        .ok_or_else(|| format!("'{text}' is not a positive number of seconds"))?;
    if secs > MAX_SECONDS as f64 {
        return Err(format!(
            "'{text}' is out of range: seconds from more than 0 to {MAX_SECONDS} (365 days)"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}
