//! `bench --report FILE.html` and `bench report FILE.json...`: the HTML
//! page of one run, or of several side by side with their ratios.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::bench_args::ReportArgs;
use super::values::Failure;
use crate::bench;
use crate::bench::Report;
use crate::error::cannot_write;

/// `--report`'s file, created before the run and written after it.
pub struct Page {
    path: PathBuf,
    file: File,
}

impl Page {
    pub fn create(path: &Path) -> Result<Page, Failure> {
        let file = File::create(path).map_err(|err| Failure::Runtime(cannot_write(path, &err)))?;
        Ok(Page {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes the page of one run, named after the file.
    pub fn write(self, report: &Report) -> Result<(), String> {
        let label = label_of(&self.path);
        self.write_all(&[(label, report)])
    }

    /// Writes the page of `reports`; the error says which file.
    fn write_all(mut self, reports: &[(String, &Report)]) -> Result<(), String> {
        let html = bench::report::html::render(reports)?;
        self.file
            .write_all(html.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|err| cannot_write(&self.path, &err))
    }
}

/// `bench report`: the page of several saved reports and a text table of
/// their headline figures, each with its ratio to the first.
pub fn run_report(args: &ReportArgs) -> Result<ExitCode, Failure> {
    if !args.label.is_empty() && args.label.len() != args.files.len() {
        return Err(Failure::Usage(format!(
            "{} labels for {} reports: give one --label per report, or none",
            args.label.len(),
            args.files.len()
        )));
    }
    let mut reports = Vec::with_capacity(args.files.len());
    for (i, path) in args.files.iter().enumerate() {
        let report = bench::report::merge::read_report(path).map_err(Failure::Runtime)?;
        let label = args.label.get(i).cloned().unwrap_or_else(|| label_of(path));
        reports.push((label, report));
    }
    print!("{}", comparison(&reports));
    if let Some(out) = &args.html {
        let borrowed: Vec<(String, &Report)> = reports.iter().map(|(label, r)| (label.clone(), r)).collect();
        Page::create(out)?
            .write_all(&borrowed)
            .map_err(Failure::Runtime)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The headline figures, one column per report, ratios to the first.
fn comparison(reports: &[(String, Report)]) -> String {
    type Figure = fn(&Report) -> Option<f64>;
    let rows: [(&str, Figure); 9] = [
        ("msg/s", |r| Some(r.messages_per_s)),
        ("MB/s", |r| Some(r.bytes_per_s / 1e6)),
        ("errors", |r| Some(r.errors.total() as f64)),
        ("p50 us", |r| r.latency.as_ref().map(|l| l.p50_us)),
        ("p90 us", |r| r.latency.as_ref().map(|l| l.p90_us)),
        ("p99 us", |r| r.latency.as_ref().map(|l| l.p99_us)),
        ("p99.9 us", |r| r.latency.as_ref().map(|l| l.p999_us)),
        ("max us", |r| r.latency.as_ref().map(|l| l.max_us)),
        ("send lag p50 us", |r| r.send_lag.as_ref().map(|l| l.p50_us)),
    ];
    let mut out = format!("{:<16}", "");
    for (label, _) in reports {
        out += &format!(" {label:>22}");
    }
    out.push('\n');
    for (name, value) in rows {
        if reports.iter().all(|(_, r)| value(r).is_none()) {
            continue;
        }
        let base = value(&reports[0].1);
        out += &format!("{name:<16}");
        for (i, (_, report)) in reports.iter().enumerate() {
            let cell = match (value(report), base) {
                (None, _) => "-".to_string(),
                (Some(v), Some(b)) if i > 0 && b > 0.0 => format!("{v:.1} ({:.2}x)", v / b),
                (Some(v), _) => format!("{v:.1}"),
            };
            out += &format!(" {cell:>22}");
        }
        out.push('\n');
    }
    out
}

fn label_of(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |stem| stem.to_string_lossy().into_owned(),
    )
}
