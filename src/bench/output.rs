//! The files a run writes for other tools: `--hgrm` and `--hdr-log`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::histograms::{decode, percentile_distribution};
use super::intervals::Board;
use super::{Config, Report};

pub fn write_files(config: &Config, report: &Report, intervals: Option<&Board>) -> Result<(), String> {
    if let Some(path) = &config.hgrm {
        let histogram = decode(&report.histograms.latency)?;
        write(path, |out| {
            out.write_all(percentile_distribution(&histogram).as_bytes())
        })?;
    }
    if let (Some(path), Some(board)) = (&config.hdr_log, intervals) {
        let start = report.window.map_or(0.0, |w| w.start_unix_s);
        write(path, |out| write_interval_log(out, board, start))?;
    }
    Ok(())
}

fn write(path: &Path, body: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>) -> Result<(), String> {
    let fail = |err: std::io::Error| {
        format!(
            "cannot write {}: {}",
            path.display(),
            crate::error::describe(&err)
        )
    };
    let mut out = BufWriter::new(File::create(path).map_err(fail)?);
    body(&mut out).map_err(fail)?;
    out.flush().map_err(fail)
}

/// The HdrHistogram interval log: `#[StartTime..]` and `#[BaseTime..]` at the
/// window's start, then per stretch the corrected latency (untagged, what
/// the tools show by default) and, in an open loop, the uncorrected one
/// tagged `uncorrected`. Values are in microseconds.
fn write_interval_log(out: &mut impl Write, board: &Board, start_unix_s: f64) -> std::io::Result<()> {
    let base = UNIX_EPOCH + Duration::from_secs_f64(start_unix_s.max(0.0));
    let mut serializer = V2DeflateSerializer::new();
    let mut builder = IntervalLogWriterBuilder::new();
    builder
        .add_comment("mio-echo bench: round-trip latency in microseconds")
        .with_start_time(base)
        .with_base_time(base)
        .with_max_value_divisor(1.0);
    let mut log = builder.begin_log_with(out, &mut serializer)?;
    let uncorrected = Tag::new("uncorrected").expect("a valid tag");
    for (index, stretch) in board.all().iter().enumerate() {
        let from = board.length * index as u32;
        log.write_histogram(&stretch.latency, from, board.length, None)
            .map_err(|err| std::io::Error::other(format!("{err:?}")))?;
        if let Some(histogram) = &stretch.uncorrected {
            log.write_histogram(histogram, from, board.length, Some(uncorrected))
                .map_err(|err| std::io::Error::other(format!("{err:?}")))?;
        }
    }
    Ok(())
}
