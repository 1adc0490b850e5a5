//! The files a run writes for other tools: `--hgrm` and `--hdr-log`.
//!
//! Each is opened (created, truncated) before the first connection, so a
//! path that cannot be written fails the run before it starts, not after
//! it; one that still fails at the end is said in the report
//! (`file_errors`, exit status 1) and never costs the summary or the JSON.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::bench::config::Config;
use crate::bench::report::Report;
use crate::bench::report::histograms::decode;
use crate::bench::report::histograms::percentile_distribution;
use crate::bench::report::intervals::Board;
use crate::error::cannot_write;

/// The output files, open and waiting for the run's figures.
pub struct Files {
    hgrm: Option<(PathBuf, File)>,
    hdr_log: Option<(PathBuf, File)>,
}

impl Files {
    pub fn open(config: &Config) -> Result<Files, String> {
        let open = |path: &Option<PathBuf>| -> Result<Option<(PathBuf, File)>, String> {
            path.as_ref()
                .map(|path| {
                    File::create(path)
                        .map(|file| (path.clone(), file))
                        .map_err(|err| cannot_write(path, &err))
                })
                .transpose()
        };
        Ok(Files {
            hgrm: open(&config.hgrm)?,
            hdr_log: open(&config.hdr_log)?,
        })
    }

    /// Writes the figures; returns what could not be written.
    pub fn write(self, report: &Report, intervals: Option<&Board>) -> Vec<String> {
        let mut failed = Vec::new();
        if let Some((path, file)) = self.hgrm {
            let written = decode(&report.histograms.latency).and_then(|histogram| {
                write(&path, file, |out| {
                    out.write_all(percentile_distribution(&histogram).as_bytes())
                })
            });
            failed.extend(written.err());
        }
        if let (Some((path, file)), Some(board)) = (self.hdr_log, intervals) {
            let start = report.window.map_or(0.0, |w| w.start_unix_s);
            failed.extend(write(&path, file, |out| write_interval_log(out, board, start)).err());
        }
        failed
    }
}

/// Whether each output file could be written, changing nothing: an
/// existing file is opened without truncating it, a new one removed again
/// (`bench --check`).
pub fn check(config: &Config) -> Result<(), String> {
    for path in [&config.hgrm, &config.hdr_log].into_iter().flatten() {
        let existed = path.exists();
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|err| cannot_write(path, &err))?;
        if !existed {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}

fn write(
    path: &Path,
    file: File,
    body: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), String> {
    let fail = |err: std::io::Error| cannot_write(path, &err);
    let mut out = BufWriter::new(file);
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
