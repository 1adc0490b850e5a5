//! Latency histograms, and the formats other tools read them in.
//!
//! Every histogram counts microseconds, from 1 us to an hour, at 3
//! significant digits: the same shape everywhere, so histograms from
//! several threads, runs or hosts add up exactly. They leave the process in
//! HdrHistogram's own encodings, so HdrHistogram's tools read them:
//! the V2 deflate-compressed encoding in base64 (in the JSON report and in
//! `--hdr-log` interval logs), and the classic percentile distribution
//! text (`--hgrm`) that plotters read.

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// The largest value recorded: an hour, in microseconds.
pub const HIGHEST_US: u64 = 3_600_000_000;
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// An empty histogram of the one shape all of bench uses.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, SIGNIFICANT_DIGITS).expect("valid histogram bounds")
}

/// A duration in whole microseconds, rounded up, at least 1.
pub fn micros(duration: Duration) -> u64 {
    duration
        .as_nanos()
        .div_ceil(1000)
        .clamp(1, u128::from(HIGHEST_US)) as u64
}

/// Records `duration`; values past the top are recorded as the top.
pub fn record(histogram: &mut Histogram<u64>, duration: Duration) {
    histogram.saturating_record(micros(duration));
}

/// The V2 deflate-compressed encoding, in base64 (what
/// `HistogramLogProcessor` and every HdrHistogram port decode).
pub fn encode(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .expect("encoding into memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The inverse of [`encode`]; an error in words for a bad string.
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|err| format!("not base64: {err}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|err| format!("not an HdrHistogram encoding: {err:?}"))
}

/// The percentile distribution as Java's `outputPercentileDistribution`
/// prints it (5 ticks per half distance), values in milliseconds.
pub fn percentile_distribution(histogram: &Histogram<u64>) -> String {
    const SCALE: f64 = 1000.0; // microseconds to milliseconds
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    let mut total = 0u64;
    for step in histogram.iter_quantiles(5) {
        total += step.count_since_last_iteration();
        let value = step.value_iterated_to() as f64 / SCALE;
        let quantile = step.quantile_iterated_to();
        if quantile < 1.0 {
            let _ = writeln!(
                out,
                "{value:12.3} {quantile:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - quantile)
            );
        } else {
            let _ = writeln!(out, "{value:12.3} {quantile:2.12} {total:10}");
        }
    }
    let sub_buckets = (2.0 * 10f64.powi(i32::from(histogram.sigfig())))
        .log2()
        .ceil()
        .exp2() as u64;
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        histogram.mean() / SCALE,
        histogram.stdev() / SCALE
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        histogram.max() as f64 / SCALE,
        histogram.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        histogram.buckets(),
        sub_buckets
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Histogram<u64> {
        let mut histogram = new_histogram();
        for value in 1..=10_000u64 {
            histogram.record(value * 7 % 5_000 + 1).unwrap();
        }
        histogram.record(250_000).unwrap();
        histogram
    }

    #[test]
    fn the_encoding_decodes_to_the_same_counts() {
        let histogram = sample();
        let decoded = decode(&encode(&histogram)).unwrap();
        assert_eq!(decoded, histogram);
        assert_eq!(decoded.len(), 10_001);
        assert!(decode("not base64!").unwrap_err().contains("base64"));
        assert!(decode("aGVsbG8=").unwrap_err().contains("HdrHistogram"));
    }

    #[test]
    fn the_distribution_text_has_the_reference_layout() {
        let text = percentile_distribution(&sample());
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("       Value     Percentile TotalCount 1/(1-Percentile)")
        );
        assert_eq!(lines.next(), Some(""));
        let first = lines.next().unwrap();
        let fields: Vec<&str> = first.split_whitespace().collect();
        assert_eq!(fields.len(), 4, "{first}");
        assert_eq!(fields[1], "0.000000000000");
        assert_eq!(fields[3], "1.00");
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .skip(1)
            .collect();
        let last = rows.last().unwrap();
        let fields: Vec<&str> = last.split_whitespace().collect();
        assert_eq!(fields, ["250.111", "1.000000000000", "10001"], "{last}");
        assert!(text.contains("#[Mean    = "), "{text}");
        assert!(
            text.contains("#[Max     =      250.111, Total count    =        10001]"),
            "{text}"
        );
        assert!(text.contains("#[Buckets = "), "{text}");
        assert!(text.ends_with("SubBuckets     =         2048]\n"), "{text}");
    }

    #[test]
    fn durations_round_up_to_whole_microseconds() {
        assert_eq!(micros(Duration::from_nanos(1)), 1);
        assert_eq!(micros(Duration::from_nanos(1500)), 2);
        assert_eq!(micros(Duration::from_secs(7200)), HIGHEST_US);
    }
}
