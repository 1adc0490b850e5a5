//! Parsing bench's own flag values: rates and ramps, the pacing grid, the
//! start time, payloads with escapes, percentiles and shares.

use std::time::Duration;

use super::values::{MAX_BYTES, parse_timeout, si_number};

/// `--rate`: one rate, or a ramp from one to another.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateSpec {
    Constant(f64),
    Ramp(f64, f64),
}

/// More than this many messages per second is beyond any one load generator.
pub const MAX_RATE: f64 = 1e8;

/// A Unix time at most a day ahead (further is a typo: milliseconds, say);
/// one in the past starts at once.
pub(super) fn parse_start_at(text: &str) -> Result<std::time::SystemTime, String> {
    use std::time::{SystemTime, UNIX_EPOCH};
    let secs: f64 = text
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| format!("'{text}' is not a Unix time in seconds (date +%s)"))?;
    let at = UNIX_EPOCH + Duration::from_secs_f64(secs);
    if at
        .duration_since(SystemTime::now())
        .is_ok_and(|ahead| ahead > Duration::from_secs(86_400))
    {
        return Err(format!(
            "'{text}' is more than a day ahead; give seconds since 1970 (date +%s)"
        ));
    }
    Ok(at)
}

/// The pacing grid: from 10 us (a wake-up per step costs more below) to 1 s.
pub(super) fn parse_grid(text: &str) -> Result<Duration, String> {
    let step = parse_timeout(text)?;
    if !(Duration::from_micros(10)..=Duration::from_secs(1)).contains(&step) {
        return Err(format!(
            "'{text}' is out of range: a grid step from 0.00001 to 1 second"
        ));
    }
    Ok(step)
}

/// A rate of the open loop: positive, finite, at most [`MAX_RATE`].
pub(super) fn parse_open_rate(text: &str) -> Result<f64, String> {
    let rate = si_number(text)
        .ok_or_else(|| format!("'{text}' is not a rate: messages per second, or with k or M (20k)"))?;
    if !rate.is_finite() || rate < 1.0 {
        // Below one a second, the summary's whole-number rates would read 0.
        return Err(format!("'{text}': a rate must be at least 1 message per second"));
    }
    if rate > MAX_RATE {
        return Err(format!(
            "'{text}': more than {MAX_RATE:e} messages per second is beyond any one load generator; \
             spread the load over hosts (see `mio-echo bench merge`)"
        ));
    }
    Ok(rate)
}

/// `R` or `A:B` (a ramp; A may be 0, B must be above 0).
pub(super) fn parse_rate_spec(text: &str) -> Result<RateSpec, String> {
    match text.split_once(':') {
        None => parse_open_rate(text).map(RateSpec::Constant),
        Some((from, to)) => {
            let to = parse_open_rate(to)?;
            let from = match si_number(from) {
                Some(0.0) => 0.0,
                _ => parse_open_rate(from)?,
            };
            Ok(RateSpec::Ramp(from, to))
        }
    }
}

/// `--payload`'s bytes (a type of its own: clap takes a `Vec` for a list).
#[derive(Debug, Clone)]
pub struct Payload(pub Vec<u8>);

/// `--payload`: the text's bytes, with `\n`, `\r`, `\t`, `\0`, `\\` and
/// `\xNN` escapes.
pub(super) fn parse_payload(text: &str) -> Result<Payload, String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        if byte != b'\\' {
            bytes.push(byte);
            continue;
        }
        let (&kind, tail) = rest
            .split_first()
            .ok_or_else(|| format!("'{text}' ends in a lone backslash (write \\\\ for one)"))?;
        rest = tail;
        bytes.push(match kind {
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'0' => 0,
            b'\\' => b'\\',
            b'x' => {
                let hex = rest
                    .get(..2)
                    .filter(|digits| digits.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|digits| std::str::from_utf8(digits).ok())
                    .and_then(|digits| u8::from_str_radix(digits, 16).ok())
                    .ok_or_else(|| format!("'{text}': \\x takes two hex digits (\\x0a)"))?;
                rest = &rest[2..];
                hex
            }
            other => {
                return Err(format!(
                    "'{text}': \\{} is not an escape; use \\n, \\r, \\t, \\0, \\\\ or \\xNN",
                    other as char
                ));
            }
        });
    }
    if bytes.is_empty() || bytes.len() > MAX_BYTES {
        return Err(format!("'{text}': a payload is 1 to {MAX_BYTES} bytes"));
    }
    Ok(Payload(bytes))
}

/// A percentile: more than 0, at most 100 (`99.99`; `p99.99` too).
pub(super) fn parse_percentile(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    trimmed
        .strip_prefix('p')
        .unwrap_or(trimmed)
        .parse::<f64>()
        .ok()
        .filter(|p| *p > 0.0 && *p <= 100.0)
        .ok_or_else(|| format!("'{text}' is not a percentile: more than 0, at most 100 (99.9)"))
}

/// A share: `0.01` or `1%`, from 0 to 1.
pub(super) fn parse_share(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    let share = match trimmed.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => trimmed.parse::<f64>(),
    };
    share
        .ok()
        .filter(|share| (0.0..=1.0).contains(share))
        .ok_or_else(|| format!("'{text}' is not a share from 0 to 1 (or 0% to 100%)"))
}
