//! `--out ndjson=FILE` and `--out csv=FILE`: one line per `--interval` as
//! it completes, flushed at once, so `tail -f`, a pipe into another tool
//! or a run that dies keeps every interval up to its last.
//!
//! The columns, in this order (the CSV's header; the NDJSON's keys; an
//! empty cell or `null` where a figure does not apply):
//!
//! | column | meaning |
//! | --- | --- |
//! | `time_unix_s` | wall-clock time of the interval's end |
//! | `t_s` | the interval's start, seconds into the measured window |
//! | `length_s` | the interval's length (`--interval`) |
//! | `messages` | messages completed (churn: connect cycles) |
//! | `messages_per_s` | the same per second: the achieved rate |
//! | `target_per_s` | open loop: the target rate at the interval's middle |
//! | `bytes`, `bytes_per_s` | bytes echoed back |
//! | `errors` | all errors, then by kind: `mismatches`, `early_eofs`, `resets`, `connect_failures`, `timeouts` |
//! | `p50_us`, `p90_us`, `p99_us`, `max_us` | latency (open loop: corrected, from the intended send) |
//! | `send_lag_p50_us`, `send_lag_p99_us` | open loop: actual minus intended send |
//! | `connections` | connections open at the interval's end |
//! | `tcp_retransmits`, `tcp_rtt_us` | TCP: segments retransmitted so far on the connections open at the interval's end, and their mean smoothed RTT (`TCP_INFO`) |

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::bench::report::intervals::Summary;
use crate::error::cannot_write;

/// How a live output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

/// One `--out FORMAT=PATH`; no path: standard output (`-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub format: Format,
    pub path: Option<PathBuf>,
}

impl Spec {
    pub fn parse(text: &str) -> Result<Spec, String> {
        let (format, path) = text.split_once('=').ok_or_else(|| {
            format!("'{text}' is not FORMAT=FILE (ndjson=FILE or csv=FILE; '-' for stdout)")
        })?;
        let format = match format {
            "ndjson" => Format::Ndjson,
            "csv" => Format::Csv,
            other => return Err(format!("'{other}' is not an output format: use ndjson or csv")),
        };
        let path = match path {
            "" => return Err(format!("'{text}': no file given (use '-' for stdout)")),
            "-" => None,
            path => Some(PathBuf::from(path)),
        };
        Ok(Spec { format, path })
    }
}

const COLUMNS: [&str; 23] = [
    "time_unix_s",
    "t_s",
    "length_s",
    "messages",
    "messages_per_s",
    "target_per_s",
    "bytes",
    "bytes_per_s",
    "errors",
    "mismatches",
    "early_eofs",
    "resets",
    "connect_failures",
    "timeouts",
    "p50_us",
    "p90_us",
    "p99_us",
    "max_us",
    "send_lag_p50_us",
    "send_lag_p99_us",
    "connections",
    "tcp_retransmits",
    "tcp_rtt_us",
];

struct Output {
    format: Format,
    name: PathBuf,
    writer: Box<dyn Write + Send>,
    /// The first write error; nothing more is written there.
    failed: Option<String>,
}

/// The open live outputs of a run.
pub struct LiveOut {
    outputs: Vec<Output>,
}

impl LiveOut {
    /// Opens (creates, truncates) every output before the run, and writes
    /// the CSV headers.
    pub fn open(specs: &[Spec]) -> Result<LiveOut, String> {
        let mut outputs = Vec::new();
        for spec in specs {
            let (name, writer): (PathBuf, Box<dyn Write + Send>) = match &spec.path {
                None => ("standard output".into(), Box::new(io::stdout())),
                Some(path) => {
                    let file = File::create(path).map_err(|err| cannot_write(path, &err))?;
                    (path.clone(), Box::new(BufWriter::new(file)))
                }
            };
            let mut output = Output {
                format: spec.format,
                name,
                writer,
                failed: None,
            };
            if spec.format == Format::Csv {
                output.line(&COLUMNS.join(","));
            }
            outputs.push(output);
        }
        Ok(LiveOut { outputs })
    }

    /// Writes one completed interval to every output, and flushes it.
    pub fn write(&mut self, summary: &Summary, length: Duration, end: SystemTime) {
        let values = self.values(summary, length, end);
        for output in &mut self.outputs {
            let line = match output.format {
                Format::Csv => values
                    .iter()
                    .map(|value| value.map_or(String::new(), number))
                    .collect::<Vec<_>>()
                    .join(","),
                Format::Ndjson => {
                    let fields: serde_json::Map<String, serde_json::Value> = COLUMNS
                        .iter()
                        .zip(&values)
                        .map(|(name, value)| {
                            (
                                name.to_string(),
                                value.map_or(serde_json::Value::Null, json_number),
                            )
                        })
                        .collect();
                    serde_json::Value::Object(fields).to_string()
                }
            };
            output.line(&line);
        }
    }

    /// What could not be written, once per output.
    pub fn errors(&mut self) -> Vec<String> {
        self.outputs
            .iter_mut()
            .filter_map(|output| output.failed.take())
            .collect()
    }

    fn values(&self, s: &Summary, length: Duration, end: SystemTime) -> [Option<f64>; 23] {
        let secs = length.as_secs_f64();
        let e = &s.errors_by_kind;
        let count = |n: u64| Some(n as f64);
        [
            end.duration_since(UNIX_EPOCH).ok().map(|t| t.as_secs_f64()),
            Some(s.t_s),
            Some(secs),
            count(s.messages),
            Some(s.messages_per_s),
            s.target_per_s,
            count(s.bytes),
            Some(s.bytes as f64 / secs),
            count(s.errors),
            count(e.mismatches),
            count(e.early_eofs),
            count(e.resets),
            count(e.connect_failures),
            count(e.timeouts),
            s.p50_us,
            s.p90_us,
            s.p99_us,
            s.max_us,
            s.send_lag_p50_us,
            s.send_lag_p99_us,
            count(s.connections),
            s.tcp.map(|tcp| tcp.retransmits as f64),
            s.tcp.map(|tcp| tcp.rtt_mean_us),
        ]
    }
}

impl Output {
    fn line(&mut self, line: &str) {
        if self.failed.is_some() {
            return;
        }
        let written = self
            .writer
            .write_all(line.as_bytes())
            .and_then(|()| self.writer.write_all(b"\n"))
            .and_then(|()| self.writer.flush());
        if let Err(err) = written {
            self.failed = Some(cannot_write(&self.name, &err));
        }
    }
}

/// Whole numbers without a fraction, the rest to the microsecond.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.6}")
    }
}

fn json_number(value: f64) -> serde_json::Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        serde_json::Value::from(value as i64)
    } else {
        serde_json::Number::from_f64((value * 1e6).round() / 1e6).map_or(serde_json::Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::errors::Errors;

    #[test]
    fn specs_parse_and_bad_ones_say_what_exists() {
        assert_eq!(
            Spec::parse("csv=-").unwrap(),
            Spec {
                format: Format::Csv,
                path: None
            }
        );
        assert_eq!(
            Spec::parse("ndjson=a=b").unwrap().path,
            Some(PathBuf::from("a=b"))
        );
        for bad in ["csv", "xml=out", "ndjson="] {
            let err = Spec::parse(bad).unwrap_err();
            assert!(err.contains("ndjson") || err.contains("stdout"), "{bad}: {err}");
        }
    }

    /// A writer whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_per_interval_with_every_column_in_both_formats() {
        let (csv, ndjson) = (Shared::default(), Shared::default());
        let output = |format, writer: &Shared| Output {
            format,
            name: "test".into(),
            writer: Box::new(writer.clone()),
            failed: None,
        };
        let mut live = LiveOut {
            outputs: vec![output(Format::Csv, &csv), output(Format::Ndjson, &ndjson)],
        };
        live.outputs[0].line(&COLUMNS.join(","));
        let summary = Summary {
            t_s: 1.0,
            messages_per_s: 998.0,
            p50_us: Some(120.0),
            p90_us: Some(200.0),
            p99_us: Some(450.5),
            max_us: Some(900.0),
            errors: 2,
            messages: 998,
            bytes: 998 * 512,
            errors_by_kind: Errors {
                resets: 1,
                timeouts: 1,
                ..Errors::default()
            },
            send_lag_p50_us: None,
            send_lag_p99_us: None,
            connections: 50,
            target_per_s: Some(1000.0),
            tcp: None,
        };
        live.write(
            &summary,
            Duration::from_secs(1),
            UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        );
        let csv = String::from_utf8(csv.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2, "{csv}");
        assert_eq!(lines[0].split(',').count(), COLUMNS.len());
        assert_eq!(
            lines[1],
            "1800000000,1,1,998,998,1000,510976,510976,2,0,0,1,0,1,120,200,450.500000,900,,,50,,"
        );
        let ndjson = String::from_utf8(ndjson.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(ndjson.trim()).unwrap();
        assert_eq!(line["messages"], 998);
        assert_eq!(line["p99_us"], 450.5);
        assert_eq!(line["send_lag_p50_us"], serde_json::Value::Null);
        assert_eq!(line["target_per_s"], 1000);
        assert_eq!(line.as_object().unwrap().len(), COLUMNS.len());
    }
}
