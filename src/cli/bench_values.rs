//! Parsing bench's own flag values: rates and ramps, the pacing grid, the
//! start time, payloads with escapes, percentiles and shares.

use std::time::Duration;

use super::values::{MAX_BYTES, parse_timeout, si_number};

/// `--rate`: one rate, or a ramp from one to another.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateSpec {
    Constant(Rate),
    Ramp(Rate, Rate),
}

/// One rate as typed: messages per second (`20k`), or bits per second
/// (`100Mbit`, as iperf3's `-b`), which become messages once the message
/// size is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    Messages(f64),
    Bits(f64),
}

impl Rate {
    /// Messages per second at `size` bytes a message (the payload's bytes:
    /// what a bit rate counts, as iperf3 does, not the headers).
    pub fn per_second(self, size: usize) -> f64 {
        match self {
            Rate::Messages(rate) => rate,
            Rate::Bits(bits) => bits / (8.0 * size as f64),
        }
    }
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

/// A rate of the open loop as typed: messages per second (a number, or
/// with k or M), or bits per second (`100Mbit`, `1Gbit`, `500kbit`, with or
/// without `/s`). Bounds are checked once it is messages ([`check_rate`]).
pub(super) fn parse_open_rate(text: &str) -> Result<Rate, String> {
    let trimmed = text.trim();
    let without_per_second = trimmed.strip_suffix("/s").unwrap_or(trimmed);
    if let Some(number) = without_per_second.strip_suffix("bit") {
        let bits = si_number(number).filter(|bits| *bits > 0.0).ok_or_else(|| {
            format!("'{text}' is not a bit rate: a number with bit, kbit, Mbit or Gbit (100Mbit)")
        })?;
        return Ok(Rate::Bits(bits));
    }
    let rate = si_number(trimmed).ok_or_else(|| {
        format!("'{text}' is not a rate: messages per second, or with k or M (20k), or bits with Mbit or Gbit (100Mbit)")
    })?;
    check_rate(rate, &format!("'{text}'")).map(Rate::Messages)
}

/// A rate in messages per second, at least 1 and at most [`MAX_RATE`];
/// `what` names it in the error (what the user typed, quoted).
pub(super) fn check_rate(rate: f64, what: &str) -> Result<f64, String> {
    if !rate.is_finite() || rate < 1.0 {
        // Below one a second, the summary's whole-number rates would read 0.
        return Err(format!(
            "{what}: a rate must be at least 1 message per second{}",
            if rate.is_finite() && rate > 0.0 && rate < 1.0 {
                format!(" (this is {rate:.3})")
            } else {
                String::new()
            }
        ));
    }
    if rate > MAX_RATE {
        return Err(format!(
            "{what}: more than {MAX_RATE:e} messages per second is beyond any one load generator; \
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
                Some(0.0) => Rate::Messages(0.0),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_messages_or_bits_of_payload() {
        assert_eq!(parse_open_rate("20k"), Ok(Rate::Messages(20_000.0)));
        assert_eq!(parse_open_rate("100Mbit"), Ok(Rate::Bits(1e8)));
        assert_eq!(parse_open_rate("1Gbit/s"), Ok(Rate::Bits(1e9)));
        assert_eq!(parse_open_rate("500kbit"), Ok(Rate::Bits(5e5)));
        assert_eq!(Rate::Bits(40e6).per_second(500), 10_000.0);
        assert_eq!(Rate::Messages(7.0).per_second(500), 7.0);
        assert_eq!(
            parse_rate_spec("0:1Gbit"),
            Ok(RateSpec::Ramp(Rate::Messages(0.0), Rate::Bits(1e9)))
        );
        for bad in ["100Mbitz", "0bit", "-1Mbit", "Mbit", "0.5"] {
            assert!(parse_open_rate(bad).is_err(), "{bad}");
        }
    }
}
