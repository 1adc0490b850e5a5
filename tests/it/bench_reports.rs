//! What `mio-echo bench` hands to people and other tools: pass/fail gates,
//! time series, HdrHistogram files, and reports merged across hosts.

use crate::util::tls::Scratch;
use crate::util::{ServerProcess, bench_json, number, run_bin};
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde_json::Value;

fn decode(text: &str) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).unwrap();
    Deserializer::new().deserialize(&mut bytes.as_slice()).unwrap()
}

fn encode(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn gates_pass_fail_and_refuse_bad_grammar() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let run = &["-c", "5", "--rate", "2000", "-d", "0.5"];
    let with = |slo: &str| {
        let mut args = run.to_vec();
        args.extend(["--slo", slo]);
        bench_json(&addr, &args)
    };
    let (code, report, stderr) = with("p99<10s,errors=0,rate>=0.5");
    assert_eq!(code, Some(0), "{stderr}");
    let verdicts = report["slo"].as_array().unwrap();
    assert_eq!(verdicts.len(), 3);
    assert!(verdicts.iter().all(|v| v["pass"] == true), "{report}");
    assert_eq!(verdicts[0]["gate"], "p99<10s");
    assert_eq!(verdicts[0]["value"], report["latency"]["p99_us"]);

    let (code, report, _) = with("p50<1us,errors=0");
    assert_eq!(code, Some(3), "an impossible gate fails the run: {report}");
    assert_eq!(report["slo"][0]["pass"], false);
    assert_eq!(report["slo"][1]["pass"], true);

    for bad in ["p99<2", "p142<1ms", "errors", "speed>1"] {
        let output = run_bin(&["bench", "--addr", &addr, "--slo", bad], b"");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{bad}: {stderr}");
        assert!(
            stderr.contains("METRIC OP VALUE") && stderr.lines().count() == 1,
            "{bad}: {stderr}"
        );
    }
    let output = run_bin(&["bench", "--addr", &addr, "--slo", "rate>=0.9"], b"");
    assert_eq!(output.status.code(), Some(2), "a rate gate needs --rate");
    // The human summary names each gate with its verdict.
    let output = run_bin(
        &[
            "bench", "--addr", &addr, "-c", "2", "-d", "0.3", "--slo", "p99<1us",
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stdout).contains("FAIL  p99<1us (measured"));
}

#[test]
fn intervals_steps_and_histogram_files_add_up_to_the_run() {
    let server = ServerProcess::start(&[]);
    let scratch = Scratch::new("reports");
    let (log, hgrm) = (scratch.file("run.hlog"), scratch.file("run.hgrm"));
    let args = [
        "-c",
        "10",
        "--rate-steps",
        "1000,3000",
        "--step-duration",
        "1",
        "--interval",
        "0.5",
        "--hdr-log",
        &log,
        "--hgrm",
        &hgrm,
    ];
    let (code, report, stderr) = bench_json(&server.addr.to_string(), &args);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(number(&report, "duration_s"), 2.0, "the steps set the window");

    let intervals = report["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 4, "{report}");
    let messages: f64 = intervals
        .iter()
        .map(|i| i["messages_per_s"].as_f64().unwrap() * 0.5)
        .sum();
    assert_eq!(messages, number(&report, "messages"));
    assert_eq!(intervals[1]["t_s"], 0.5);

    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    for (step, target) in steps.iter().zip([1000.0, 3000.0]) {
        assert_eq!(step["target_per_s"].as_f64(), Some(target));
        let achieved = step["messages_per_s"].as_f64().unwrap();
        assert!((achieved / target - 1.0).abs() < 0.05, "{step}");
    }

    // The interval log: untagged corrected histograms, one per interval,
    // summing to the run's; tagged uncorrected ones beside them.
    let text = std::fs::read(&log).unwrap();
    let mut corrected = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    let (mut untagged, mut tagged) = (0, 0);
    for entry in IntervalLogIterator::new(&text) {
        match entry.unwrap() {
            LogEntry::Interval(interval) => {
                let histogram: Histogram<u64> = Deserializer::new()
                    .deserialize(
                        &mut base64::engine::general_purpose::STANDARD
                            .decode(interval.encoded_histogram())
                            .unwrap()
                            .as_slice(),
                    )
                    .unwrap();
                match interval.tag().map(|t| t.as_str()) {
                    None => {
                        untagged += 1;
                        corrected.add(&histogram).unwrap();
                    }
                    Some("uncorrected") => tagged += 1,
                    Some(other) => panic!("unexpected tag {other}"),
                }
            }
            LogEntry::StartTime(_) | LogEntry::BaseTime(_) => {}
        }
    }
    assert_eq!((untagged, tagged), (4, 4));
    assert_eq!(
        corrected,
        decode(report["histograms"]["latency"].as_str().unwrap())
    );
    let hgrm = std::fs::read_to_string(&hgrm).unwrap();
    assert!(
        hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"),
        "{hgrm}"
    );
    assert!(
        hgrm.contains(&format!("Total count    = {:>12}]", corrected.len())),
        "{hgrm}"
    );
}

/// A report with its latency histogram replaced by `histogram`.
fn report_with(template: &Value, histogram: &Histogram<u64>) -> Value {
    let mut report = template.clone();
    report["histograms"]["latency"] = Value::String(encode(histogram));
    report["messages"] = histogram.len().into();
    report
}

#[test]
fn merged_percentiles_come_from_merged_histograms_never_from_averages() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let scratch = Scratch::new("merge");
    let (a, b) = (scratch.file("a.json"), scratch.file("b.json"));
    // Two hosts at the same time: here two runs side by side.
    let run = |path: String| {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let (code, report, stderr) = bench_json(&addr, &["-c", "5", "--rate", "2000", "-d", "1"]);
            assert_eq!(code, Some(0), "{stderr}");
            std::fs::write(&path, report.to_string()).unwrap();
            report
        })
    };
    let (first, second) = (run(a.clone()), run(b.clone()));
    let (first, second) = (first.join().unwrap(), second.join().unwrap());
    let output = run_bin(&["bench", "merge", &a, &b, "--json"], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let merged: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut both = decode(first["histograms"]["latency"].as_str().unwrap());
    both.add(decode(second["histograms"]["latency"].as_str().unwrap()))
        .unwrap();
    assert_eq!(
        decode(merged["histograms"]["latency"].as_str().unwrap()),
        both,
        "counts exactly"
    );
    assert_eq!(
        number(&merged, "latency.p99_us"),
        both.value_at_quantile(0.99) as f64
    );
    assert_eq!(
        number(&merged, "messages"),
        number(&first, "messages") + number(&second, "messages")
    );
    assert_eq!(number(&merged, "rate.target"), 4000.0);
    assert_eq!(merged["merged_from"], serde_json::json!([a, b]));
    // A report fetched with `kubectl logs` has the run's stderr around it.
    let logs = scratch.file("pod-0.log");
    std::fs::write(
        &logs,
        format!("warning: a busy pod\n{first}\nerror: a late line\n"),
    )
    .unwrap();
    let output = run_bin(&["bench", "merge", &logs, &b, "--json"], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Each input's own warnings (a busy test machine may have some) come
    // along, named by their file.
    for warning in merged["warnings"].as_array().unwrap() {
        let warning = warning.as_str().unwrap();
        assert!(warning.starts_with(&a) || warning.starts_with(&b), "{warning}");
    }

    // One fast host and one with a slow tail of 1.5% of its messages: its
    // p99 is in the tail, but over all messages the tail is 0.75%, so the
    // true p99 is fast, and the mean of the two p99s is wrong by 250x.
    let mut fast = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    fast.record_n(100, 10_000).unwrap();
    let mut slow = fast.clone();
    slow.record_n(50_000, 150).unwrap();
    let (fast_path, slow_path) = (scratch.file("fast.json"), scratch.file("slow.json"));
    std::fs::write(&fast_path, report_with(&first, &fast).to_string()).unwrap();
    std::fs::write(&slow_path, report_with(&second, &slow).to_string()).unwrap();
    let output = run_bin(&["bench", "merge", &fast_path, &slow_path, "--json"], b"");
    let merged: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut all = fast.clone();
    all.add(&slow).unwrap();
    let true_p99 = all.value_at_quantile(0.99) as f64;
    let averaged = (fast.value_at_quantile(0.99) + slow.value_at_quantile(0.99)) as f64 / 2.0;
    assert_eq!(number(&merged, "latency.p99_us"), true_p99);
    assert_eq!(
        slow.value_at_quantile(0.99),
        50_015,
        "the slow host's own p99 is in its tail"
    );
    assert!(
        true_p99 < averaged / 100.0,
        "p99 {true_p99} us, the average of p99s {averaged} us"
    );
}

#[test]
fn inputs_that_do_not_fit_are_refused_with_the_file_named() {
    let server = ServerProcess::start(&[]);
    let scratch = Scratch::new("refuse");
    let (code, pingpong, _) = bench_json(&server.addr.to_string(), &["-c", "2", "-d", "0.2"]);
    assert_eq!(code, Some(0));
    let good = scratch.file("good.json");
    std::fs::write(&good, pingpong.to_string()).unwrap();
    let write = |name: &str, report: &Value| {
        let path = scratch.file(name);
        std::fs::write(&path, report.to_string()).unwrap();
        path
    };
    let mut stream = pingpong.clone();
    stream["mode"] = "stream".into();
    let mut bigger = pingpong.clone();
    bigger["size"] = 1024.into();
    let mut coarse = pingpong.clone();
    let histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 2).unwrap();
    coarse["histograms"]["latency"] = encode(&histogram).into();
    let mut later = pingpong.clone();
    later["window"]["start_unix_s"] = (number(&pingpong, "window.start_unix_s") + 3600.0).into();
    later["window"]["end_unix_s"] = (number(&pingpong, "window.end_unix_s") + 3600.0).into();
    let not_json = scratch.file("notes.txt");
    std::fs::write(&not_json, "hello").unwrap();
    for (path, words) in [
        (write("stream.json", &stream), "a stream run cannot merge"),
        (write("bigger.json", &bigger), "messages of 1024 B cannot merge"),
        (
            write("coarse.json", &coarse),
            "histograms of 2 significant digits",
        ),
        (not_json.clone(), "not a mio-echo bench --json report"),
        (scratch.file("missing.json"), "cannot read it"),
    ] {
        let output = run_bin(&["bench", "merge", &good, &path], b"");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{path}: {stderr}");
        assert!(stderr.starts_with(&format!("error: {path}: ")), "{stderr}");
        assert!(stderr.contains(words) && stderr.lines().count() == 1, "{stderr}");
    }
    // Windows that do not overlap still merge, with a warning.
    let later = write("later.json", &later);
    let output = run_bin(&["bench", "merge", &good, &later, "--json"], b"");
    assert!(output.status.success());
    let merged: Value = serde_json::from_slice(&output.stdout).unwrap();
    let warning = merged["warnings"][0].as_str().unwrap();
    assert!(warning.contains("did not run at the same time"), "{warning}");
}

/// Hosts started apart run their windows together with --start-at.
#[test]
fn start_at_lines_up_runs_started_apart() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start = now + 1.5;
    let start_arg = format!("{start:.3}");
    let run = |delay_ms: u64| {
        let (addr, start_arg) = (addr.clone(), start_arg.clone());
        std::thread::spawn(move || {
            // Launched at different moments, as on different hosts.
            std::thread::sleep(std::time::Duration::from_millis(delay_ms));
            let (code, report, stderr) =
                bench_json(&addr, &["-c", "2", "-d", "0.5", "--start-at", &start_arg]);
            assert_eq!(code, Some(0), "{stderr}");
            number(&report, "window.start_unix_s")
        })
    };
    let (first, second) = (run(0), run(700));
    let (first, second) = (first.join().unwrap(), second.join().unwrap());
    for began in [first, second] {
        assert!(
            (began - start).abs() < 0.2,
            "window began at {began:.3}, asked for {start:.3}"
        );
    }
    let output = run_bin(&["bench", "--addr", &addr, "--start-at", "99999999999"], b"");
    assert_eq!(output.status.code(), Some(2), "a time far ahead is a typo");
}

/// Issue 19, item 15: `bench merge` says its warnings in the text output
/// too, refuses the same file twice, warns of different servers and loop
/// kinds, and its window is never longer than the longest run's.
#[test]
fn merge_warns_in_text_refuses_duplicates_and_keeps_the_window_honest() {
    let server = ServerProcess::start(&[]);
    let scratch = Scratch::new("merge-truths");
    let (code, closed, _) = bench_json(&server.addr.to_string(), &["-c", "2", "-d", "0.2"]);
    assert_eq!(code, Some(0));
    let write = |name: &str, report: &Value| {
        let path = scratch.file(name);
        std::fs::write(&path, report.to_string()).unwrap();
        path
    };
    let good = write("good.json", &closed);
    // The same file, by another name too.
    let again = format!(
        "{}/../{}/good.json",
        scratch.0.display(),
        scratch.0.file_name().unwrap().to_str().unwrap()
    );
    for twice in [&good, &again] {
        let output = run_bin(&["bench", "merge", &good, twice], b"");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("the same file as") && stderr.lines().count() == 1,
            "{stderr}"
        );
    }
    // An hour later, another server, an open loop.
    let mut other = closed.clone();
    other["addr"] = "192.0.2.9:10000".into();
    other["rate"] = serde_json::json!({"target": 1000.0, "achieved": 1000.0});
    for end in ["start_unix_s", "end_unix_s"] {
        other["window"][end] = (number(&closed, &format!("window.{end}")) + 3600.0).into();
    }
    let other = write("other.json", &other);
    let output = run_bin(&["bench", "merge", &good, &other], b"");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for said in [
        "did not run at the same time",
        "different servers",
        "a closed loop",
    ] {
        assert!(
            text.lines()
                .any(|line| line.starts_with("warning") && line.contains(said)),
            "{said}: {text}"
        );
    }
    let output = run_bin(&["bench", "merge", &good, &other, "--json"], b"");
    let merged: Value = serde_json::from_slice(&output.stdout).unwrap();
    let window = number(&merged, "window.end_unix_s") - number(&merged, "window.start_unix_s");
    assert!(
        window <= number(&closed, "measured_s") + 1e-6,
        "a {window} s window: {merged}"
    );
}

/// `--out`: a CSV with its header and an NDJSON file, a line per interval
/// each, whose counts add up to the run's; `-` is standard output, with the
/// text summary then on standard error.
#[test]
fn live_output_writes_a_line_per_interval_that_adds_up_to_the_run() {
    let server = ServerProcess::start(&[]);
    let scratch = Scratch::new("live-out");
    let (csv, ndjson) = (scratch.file("run.csv"), scratch.file("run.ndjson"));
    let args = [
        "-c",
        "5",
        "--rate",
        "1000",
        "-d",
        "1",
        "--interval",
        "0.25",
        "--out",
        &format!("csv={csv}"),
        "--out",
        &format!("ndjson={ndjson}"),
    ];
    let (code, report, stderr) = bench_json(&server.addr.to_string(), &args);
    assert_eq!(code, Some(0), "{stderr}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(header.len(), 23, "{header:?}");
    let rows: Vec<Vec<&str>> = rows.map(|row| row.split(',').collect()).collect();
    assert_eq!(rows.len(), 4, "{csv}");
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let cell = |row: &Vec<&str>, name: &str| row[column(name)].parse::<f64>().unwrap();
    let messages: f64 = rows.iter().map(|row| cell(row, "messages")).sum();
    assert_eq!(messages, number(&report, "messages"), "{csv}");
    assert!(rows.iter().all(|row| row.len() == header.len()), "{csv}");
    assert!(
        rows.iter().all(|row| cell(row, "target_per_s") == 1000.0),
        "{csv}"
    );
    assert!(rows.iter().all(|row| cell(row, "connections") == 5.0), "{csv}");
    let stamps: Vec<f64> = rows.iter().map(|row| cell(row, "time_unix_s")).collect();
    assert!(
        stamps.windows(2).all(|w| (w[1] - w[0] - 0.25).abs() < 1e-3),
        "{stamps:?}"
    );

    let ndjson = std::fs::read_to_string(&ndjson).unwrap();
    let lines: Vec<Value> = ndjson
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{ndjson}");
    let bytes: f64 = lines.iter().map(|line| line["bytes"].as_f64().unwrap()).sum();
    assert_eq!(bytes, number(&report, "bytes"), "{ndjson}");
    for line in &lines {
        for key in [
            "p50_us",
            "p99_us",
            "send_lag_p50_us",
            "errors",
            "timeouts",
            "messages_per_s",
        ] {
            assert!(line[key].is_number(), "{key}: {line}");
        }
    }

    let output = run_bin(
        &[
            "bench",
            "--addr",
            &server.addr.to_string(),
            "-c",
            "2",
            "-d",
            "0.5",
            "--interval",
            "0.25",
            "--out",
            "csv=-",
        ],
        b"",
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stdout.lines().count(),
        3,
        "header and two intervals only: {stdout}"
    );
    assert!(stdout.starts_with("time_unix_s,"), "{stdout}");
    assert!(stderr.contains("totals"), "the summary went to stderr: {stderr}");
}

/// A run killed outright keeps every interval written so far, each line
/// whole: they are flushed as they complete, not at the end.
#[test]
fn live_output_survives_a_killed_run() {
    let server = ServerProcess::start(&[]);
    let scratch = Scratch::new("live-kill");
    let ndjson = scratch.file("run.ndjson");
    let (mut bench, lines) = crate::util::bench_under_way(&server.addr.to_string(), &ndjson, 3, &[]);
    assert!(
        bench.try_wait().unwrap().is_none(),
        "bench ended before it was killed"
    );
    bench.kill().unwrap();
    bench.wait().unwrap();
    assert!(lines >= 3, "only {lines} lines while running");
    let text = std::fs::read_to_string(&ndjson).unwrap();
    assert!(text.ends_with('\n'), "a line cut short: {text}");
    for line in text.lines() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        assert!(value["messages"].as_u64().unwrap() > 0, "{line}");
    }
}

/// The progress line is drawn on standard error whenever that is a
/// terminal, so `bench > result.txt` still shows it (run under script(1),
/// which gives the command a terminal).
#[test]
fn the_progress_line_shows_on_a_terminal_with_stdout_redirected() {
    use std::process::Command;
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no script(1) to give bench a terminal");
        return;
    }
    let server = ServerProcess::start(&[]);
    let scratch = Scratch::new("progress");
    let result = scratch.file("result.txt");
    let inner = format!(
        "{} bench --addr {} -c 2 -d 1.5 > {result}",
        crate::util::BIN,
        server.addr
    );
    let mut command = Command::new("script");
    command.args(["-qec", &inner, "/dev/null"]);
    let output = crate::util::run_command(command, b"");
    let terminal = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{terminal}");
    // The progress line: "12345 msg/s, 6.32 MB/s, 0 errors".
    assert!(
        terminal.contains("MB/s, 0 errors"),
        "no progress line on the terminal: {terminal:?}"
    );
    let summary = std::fs::read_to_string(&result).unwrap();
    assert!(summary.contains("totals"), "{summary}");
    assert!(
        !summary.contains("MB/s, 0 errors"),
        "progress went into the file: {summary}"
    );
}

/// `--out` that cannot work is a usage error before anything runs.
#[test]
fn live_output_refuses_what_cannot_work() {
    for (args, says) in [
        (&["--out", "xml=run.xml"][..], "use ndjson or csv"),
        (&["--out", "csv"], "FORMAT=FILE"),
        (&["--out", "ndjson=-", "--json"], "both write to standard output"),
        (&["--out", "csv=x.csv", "--mode", "udp"], "--mode udp"),
        (
            &["--out", "csv=x.csv", "--find-max-rate", "--slo", "p99<1ms"],
            "--find-max-rate",
        ),
    ] {
        let mut all = vec!["bench", "--port", "9"];
        all.extend_from_slice(args);
        let output = run_bin(&all, b"");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// A ramp shows in the time series: each interval carries the target at
/// its middle, which the HTML report draws against the achieved rate.
#[test]
fn intervals_carry_the_ramps_target() {
    let server = ServerProcess::start(&[]);
    let args = [
        "-c",
        "4",
        "--rate",
        "1000:3000",
        "-d",
        "1",
        "--warmup",
        "0",
        "--interval",
        "0.25",
    ];
    let (code, report, stderr) = bench_json(&server.addr.to_string(), &args);
    assert_eq!(code, Some(0), "{stderr}");
    let targets: Vec<f64> = report["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["target_per_s"].as_f64().unwrap())
        .collect();
    assert_eq!(targets.len(), 4, "{report}");
    for (target, expected) in targets.iter().zip([1250.0, 1750.0, 2250.0, 2750.0]) {
        assert!((target - expected).abs() < 1e-6, "{targets:?}");
    }
}

/// Issue 23: `--percentiles` chooses the summary's and the JSON's
/// percentiles, read from the run's own histogram; the mean is in the text.
#[test]
fn percentiles_of_ones_choosing_come_from_the_runs_histogram() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let args = [
        "-c",
        "2",
        "-d",
        "0.5",
        "--rate",
        "1000",
        "--percentiles",
        "50,99.99,p99.999",
    ];
    let (code, report, stderr) = bench_json(&addr, &args);
    assert_eq!(code, Some(0), "{stderr}");
    let histogram = decode(report["histograms"]["latency"].as_str().unwrap());
    let chosen = report["latency"]["percentiles"].as_array().unwrap();
    assert_eq!(chosen.len(), 3, "{report}");
    for (entry, p) in chosen.iter().zip([50.0, 99.99, 99.999]) {
        assert_eq!(entry["p"], p);
        assert_eq!(
            entry["us"].as_f64().unwrap(),
            histogram.value_at_quantile(p / 100.0) as f64
        );
    }
    assert_eq!(
        report["send_lag"]["percentiles"].as_array().map(Vec::len),
        Some(3),
        "{report}"
    );

    let output = run_bin(
        &[
            "bench",
            "--addr",
            &addr,
            "-c",
            "2",
            "-d",
            "0.3",
            "--percentiles",
            "99.99",
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().find(|l| l.starts_with("latency")).unwrap();
    assert!(
        line.contains("p99.99 ") && line.contains(", mean ") && !line.contains("p50"),
        "{line}"
    );
    for bad in ["0", "101", "abc"] {
        let output = run_bin(&["bench", "--port", "9", "--percentiles", bad], b"");
        assert_eq!(output.status.code(), Some(2), "{bad}");
    }
}
