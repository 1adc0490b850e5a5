//! `bench --report FILE.html` and `bench report`: the page opens in a real
//! browser (Debian's headless Chromium) with the network off, draws with no
//! error, and shows the figures of the JSON it came from.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::tls::Scratch;
use crate::util::{self, ServerProcess, run_bin, run_command};

/// The browser, or None where there is none (CI installs it: there its
/// absence fails the test).
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no chromium: .ci/run installs it"
        );
        eprintln!("skipped: no chromium here (apt-get install chromium)");
    }
    found
}

/// Headless Chromium with every name unresolvable (no network), the page
/// loaded from disk: the DOM after its scripts ran, and the browser's log.
fn load(browser: &str, page: &str, extra: &[&str]) -> (String, String) {
    let mut command = Command::new(browser);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
    ]);
    command.args(extra);
    command.arg(format!("file://{page}"));
    let output = run_command(command, b"");
    let (dom, log) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    (dom, log)
}

/// The page drew everything (its script's last step) and nothing threw
/// or was logged to the console.
fn assert_rendered(dom: &str, log: &str, what: &str) {
    assert!(
        dom.contains(r#"data-rendered="yes""#),
        "{what}: the page did not finish drawing: {log}"
    );
    assert!(!dom.contains("data-error="), "{what}: a script error: {dom}");
    let console: Vec<&str> = log.lines().filter(|line| line.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "{what}: console output: {console:?}");
}

/// Every figure cell of report `index`: (JSON path, the number it shows).
fn figures(dom: &str, index: usize) -> Vec<(String, f64)> {
    let mut found = Vec::new();
    let mut rest = dom;
    while let Some(at) = rest.find("data-figure=\"") {
        rest = &rest[at + 13..];
        let tag_end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        let attr = |name: &str| {
            let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
            Some(tag[start..start + tag[start..].find('"')?].to_string())
        };
        let path = tag[..tag.find('"').unwrap()].to_string();
        if attr("data-report").as_deref() == Some(&index.to_string())
            && let Some(value) = attr("data-value")
        {
            found.push((path, value.parse().unwrap()));
        }
    }
    found
}

fn json_at(report: &Value, path: &str) -> Option<f64> {
    if path == "errors.total" {
        return Some(
            report["errors"]
                .as_object()?
                .values()
                .filter_map(Value::as_f64)
                .sum(),
        );
    }
    path.split('.').try_fold(report, |v, key| v.get(key))?.as_f64()
}

fn assert_figures_match(dom: &str, index: usize, report: &Value) {
    let shown = figures(dom, index);
    assert!(shown.len() >= 10, "only {} figures on the page", shown.len());
    for (path, value) in &shown {
        let expected = json_at(report, path).unwrap_or_else(|| panic!("{path} shown but not in the JSON"));
        assert_eq!(*value, expected, "{path}");
    }
    for required in [
        "messages_per_s",
        "latency.p50_us",
        "latency.p99_us",
        "latency.max_us",
        "errors.timeouts",
    ] {
        assert!(
            shown.iter().any(|(path, _)| path == required),
            "{required} not shown"
        );
    }
}

/// An open-loop run with --report: the page renders offline, its figures
/// are the JSON's, and a 1280x800 screenshot is a real picture.
#[test]
fn the_report_page_renders_offline_with_the_runs_figures() {
    let Some(browser) = chromium() else { return };
    let server = ServerProcess::start(&[]);
    let scratch = Scratch::new("open");
    let page = scratch.file("run.html");
    let args = [
        "-c",
        "5",
        "--rate",
        "2000",
        "-d",
        "1",
        "--interval",
        "0.2",
        "--report",
        &page,
    ];
    let (code, report, stderr) = util::bench_json(&server.addr.to_string(), &args);
    assert_eq!(code, Some(0), "{stderr}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.len() < 1 << 20, "{} bytes", html.len());
    for fetch in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(fetch), "the page would fetch: {fetch}");
    }
    let (dom, log) = load(browser, &page, &["--dump-dom"]);
    assert_rendered(&dom, &log, "open loop");
    assert_figures_match(&dom, 0, &report);
    assert!(
        dom.contains("Latency by percentile") && dom.contains("Send lag"),
        "charts missing"
    );
    assert_eq!(
        dom.matches("<canvas").count(),
        5,
        "4 time series and the spectrum"
    );

    let screenshot = scratch.file("report.png");
    let _ = load(
        browser,
        &page,
        &[&format!("--screenshot={screenshot}"), "--window-size=1280,800"],
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

/// Pages of an interrupted run, a merge, a UDP run and a max-rate search
/// each render, with what is particular to them.
#[test]
fn interrupted_merged_udp_and_search_reports_render() {
    let Some(browser) = chromium() else { return };
    let scratch = Scratch::new("kinds");
    let server = ServerProcess::start(&["--udp", "--udp-rate", "100000"]);
    let addr = server.addr.to_string();

    // Interrupted: Ctrl-C once an interval has been written.
    let (interrupted, lines) = (scratch.file("interrupted.html"), scratch.file("lines.ndjson"));
    let (mut bench, _) = util::bench_under_way(&addr, &lines, 2, &["--report", &interrupted]);
    // SAFETY: kill only sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(bench.id() as libc::pid_t, libc::SIGINT) }, 0);
    let status = bench.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let (dom, log) = load(browser, &interrupted, &["--dump-dom"]);
    assert_rendered(&dom, &log, "interrupted");
    assert!(
        dom.contains(r#"data-banner="stopped""#) && dom.contains("interrupted by SIGINT"),
        "no banner"
    );

    // A merge of two runs, rendered by `bench report`.
    let (a, b, merged) = (
        scratch.file("a.json"),
        scratch.file("b.json"),
        scratch.file("merged.json"),
    );
    for file in [&a, &b] {
        let (code, report, stderr) = util::bench_json(&addr, &["-c", "2", "-d", "0.5", "--interval", "0.25"]);
        assert_eq!(code, Some(0), "{stderr}");
        std::fs::write(file, report.to_string()).unwrap();
    }
    let output = run_bin(&["bench", "merge", &a, &b, "--json"], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(&merged, &output.stdout).unwrap();
    let merged_report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let page = scratch.file("merged.html");
    let output = run_bin(&["bench", "report", &merged, "--html", &page], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (dom, log) = load(browser, &page, &["--dump-dom"]);
    assert_rendered(&dom, &log, "merge");
    assert_figures_match(&dom, 0, &merged_report);

    // UDP.
    let (code, udp, stderr) = util::bench_json(&addr, &["--mode", "udp", "-c", "4", "-s", "64", "-d", "0.5"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (udp_json, page) = (scratch.file("udp.json"), scratch.file("udp.html"));
    std::fs::write(&udp_json, udp.to_string()).unwrap();
    assert!(
        run_bin(&["bench", "report", &udp_json, "--html", &page], b"")
            .status
            .success()
    );
    let (dom, log) = load(browser, &page, &["--dump-dom"]);
    assert_rendered(&dom, &log, "udp");
    let shown = figures(&dom, 0);
    for key in ["udp.sent", "udp.received", "udp.lost"] {
        let value = shown.iter().find(|(path, _)| path == key).map(|(_, v)| *v);
        assert_eq!(value, json_at(&udp, key), "{key}");
    }

    // A max-rate search, its page written by --report at the end.
    let page = scratch.file("search.html");
    let args = [
        "-c",
        "2",
        "-d",
        "0.3",
        "--warmup",
        "0",
        "--rate",
        "500",
        "--find-max-rate",
        "--slo",
        "p99<1us",
    ];
    let mut all = vec!["bench", "--addr", &addr, "--json", "--report", &page];
    all.extend_from_slice(&args);
    let output = run_bin(&all, b"");
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (dom, log) = load(browser, &page, &["--dump-dom"]);
    assert_rendered(&dom, &log, "search");
    assert!(
        dom.contains("Max-rate search") && dom.contains("data-probe"),
        "no probes shown"
    );
}

/// `bench report` of two runs: one page overlaying both, and a text table
/// with the second's ratios to the first; labels must match the files.
#[test]
fn two_reports_compare_side_by_side() {
    let Some(browser) = chromium() else { return };
    let server = ServerProcess::start(&[]);
    let scratch = Scratch::new("compare");
    let (before, after) = (scratch.file("before.json"), scratch.file("after.json"));
    let mut reports = Vec::new();
    for (file, rate) in [(&before, "1000"), (&after, "2000")] {
        let (code, report, stderr) = util::bench_json(
            &server.addr.to_string(),
            &["-c", "2", "-d", "0.5", "--rate", rate, "--interval", "0.25"],
        );
        assert_eq!(code, Some(0), "{stderr}");
        std::fs::write(file, report.to_string()).unwrap();
        reports.push(report);
    }
    let page = scratch.file("compare.html");
    let output = run_bin(
        &[
            "bench", "report", &before, &after, "--label", "before", "--label", "after", "--html", &page,
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let throughput = text.lines().find(|line| line.starts_with("msg/s")).unwrap();
    let ratio =
        reports[1]["messages_per_s"].as_f64().unwrap() / reports[0]["messages_per_s"].as_f64().unwrap();
    assert!((1.8..2.2).contains(&ratio), "{ratio}");
    assert!(throughput.ends_with(&format!("({ratio:.2}x)")), "{text}");
    let (dom, log) = load(browser, &page, &["--dump-dom"]);
    assert_rendered(&dom, &log, "compare");
    assert_figures_match(&dom, 0, &reports[0]);
    assert_figures_match(&dom, 1, &reports[1]);
    assert!(dom.contains("before vs after"), "no title");

    let output = run_bin(&["bench", "report", &before, &after, "--label", "only-one"], b"");
    assert_eq!(output.status.code(), Some(2));
    let missing = Path::new(&scratch.0).join("missing.json");
    let output = run_bin(&["bench", "report", missing.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.json"));
}
