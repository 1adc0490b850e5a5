// The bench report page: everything it shows comes from the reports
// embedded in it (script#reports); nothing is fetched. Charts are uPlot's.
"use strict";
window.addEventListener("error", (event) => {
  document.body.dataset.error = String(event.message || event);
});

const reports = JSON.parse(document.getElementById("reports").textContent);
const COLORS = ["#1f6fd1", "#d1541f", "#2a9d3c", "#8e44ad", "#b8860b", "#16a2b8"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function at(object, path) {
  return path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), object);
}

function us(value) {
  if (value == null) return "-";
  if (value >= 1e6) return (value / 1e6).toFixed(3) + " s";
  if (value >= 1e3) return (value / 1e3).toFixed(3) + " ms";
  return value.toFixed(0) + " us";
}

function count(value, digits) {
  if (value == null) return "-";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits == null ? 0 : digits });
}

// A figure cell: its text for people, its number for tools (data-value).
function figure(report, index, path, format) {
  const value = at(report, path);
  const cell = el("td", { "data-figure": path, "data-report": String(index) }, value == null ? "-" : format(value));
  if (typeof value === "number") cell.setAttribute("data-value", String(value));
  return cell;
}

const first = reports[0].report;
const several = reports.length > 1;
document.title = several ? "mio-echo bench: " + reports.map((r) => r.label).join(" vs ") : "mio-echo bench report";

function header() {
  const r = first;
  const root = document.getElementById("run");
  root.append(el("h1", {}, several ? reports.map((x) => x.label).join(" vs ") : "mio-echo bench: " + r.mode + " against " + r.addr));
  for (const [i, { label, report }] of reports.entries()) {
    const start = report.window ? new Date(report.window.start_unix_s * 1000).toISOString() : "-";
    const line = [
      several ? label + ":" : "",
      report.command ? report.command.join(" ") : "(command line not recorded)",
      "| started " + start,
      report.host ? "| host " + report.host : "",
    ].join(" ");
    root.append(el("p", { class: "sub", "data-run": String(i) }, line));
    const trouble = [];
    if (report.interrupted) trouble.push("interrupted by " + (report.signal || "a signal") + ": the figures cover the window up to then");
    if (report.stopped_early) trouble.push("stopped early: " + report.stopped_early);
    if (report.max_rate && report.max_rate.interrupted) trouble.push("the max-rate search was interrupted");
    for (const text of trouble) root.append(el("div", { class: "banner", "data-banner": "stopped" }, (several ? label + ": " : "") + text));
  }
}

function runTable() {
  const rows = [
    ["mode", "mode", (v) => v],
    ["target", "addr", (v) => v],
    ["connections", "connections", count],
    ["message size", "size", (v) => count(v) + " B"],
    ["threads", "threads", count],
    ["warm-up", "warmup_s", (v) => v + " s"],
    ["window asked", "duration_s", (v) => v + " s"],
    ["window measured", "measured_s", (v) => count(v, 3) + " s"],
    ["target rate", "rate.target", (v) => count(v, 1) + " /s"],
    ["TLS", "tls.version", (v) => v],
    ["PROXY header", "proxy_header", (v) => v],
    ["io_uring sends", "io_uring_sends", (v) => (v ? "yes" : "no")],
  ];
  document.getElementById("setup").append(table(["", ...reports.map((r) => r.label)], rows));
}

function table(heads, rows) {
  const head = el("tr", {}, ...heads.map((h) => el("th", {}, h)));
  const body = rows.map(([name, path, format]) =>
    el("tr", {}, el("td", {}, name), ...reports.map(({ report }, i) => figure(report, i, path, format))));
  return el("div", { class: "scroll" }, el("table", {}, head, ...body));
}

function headline() {
  const r = first;
  const rows = [];
  if (r.mode === "stream") rows.push(["throughput", "bytes_per_s", (v) => count(v / 1e6, 2) + " MB/s"]);
  else if (r.mode === "churn") rows.push(["connect cycles", "connections_per_s", (v) => count(v, 0) + " /s"]);
  else rows.push(["throughput", "messages_per_s", (v) => count(v, 0) + " msg/s"]);
  rows.push(["bytes echoed", "bytes_per_s", (v) => count(v / 1e6, 2) + " MB/s"]);
  if (r.rate) rows.push(["achieved rate", "rate.achieved", (v) => count(v, 1) + " /s"]);
  rows.push(["errors", "errors.total", count]);
  for (const kind of ["mismatches", "early_eofs", "resets", "connect_failures", "timeouts"]) {
    rows.push(["  " + kind.replace(/_/g, " "), "errors." + kind, count]);
  }
  for (const [name, key] of [["p50", "p50_us"], ["p90", "p90_us"], ["p99", "p99_us"], ["p99.9", "p999_us"], ["max", "max_us"]]) {
    rows.push(["latency " + name, "latency." + key, us]);
  }
  if (r.send_lag) rows.push(["send lag p50", "send_lag.p50_us", us], ["send lag p99", "send_lag.p99_us", us]);
  if (r.cpu && r.cpu.server_seconds != null) rows.push(["server CPU", "cpu.server_seconds", (v) => count(v, 3) + " s"]);
  if (r.server_memory) rows.push(["server RSS held", "server_memory.rss_held_bytes", (v) => count(v / 1048576, 1) + " MiB"]);
  for (const { report } of reports) {
    const e = report.errors;
    e.total = e.mismatches + e.early_eofs + e.resets + e.connect_failures + e.timeouts;
  }
  const heads = ["", ...reports.map((r) => r.label)];
  const block = table(heads, rows);
  if (several) {
    // Ratios to the first report, beside each figure.
    for (const row of block.querySelectorAll("tr")) {
      const cells = row.querySelectorAll("td[data-value]");
      const base = cells.length ? Number(cells[0].dataset.value) : NaN;
      for (const cell of Array.from(cells).slice(1)) {
        if (base > 0) cell.append(el("span", { class: "note" }, " (" + (Number(cell.dataset.value) / base).toFixed(2) + "x)"));
      }
    }
  }
  document.getElementById("headline").append(block);
  const warnings = reports.flatMap(({ label, report }) => (report.warnings || []).map((w) => (several ? label + ": " : "") + w));
  if (warnings.length) {
    document.getElementById("headline").append(el("h3", {}, "Warnings"), el("ul", { class: "warnings" }, ...warnings.map((w) => el("li", { "data-warning": "" }, w))));
  }
}

function chart(parent, title, note, data, series, options) {
  const box = el("div", { class: "chart", "data-chart": title }, el("h3", {}, title));
  if (note) box.append(el("div", { class: "note" }, note));
  parent.append(box);
  const width = () => Math.max(280, box.clientWidth);
  const plot = new uPlot(Object.assign({ width: width(), height: 260, series: [{}, ...series] }, options), data, box);
  window.addEventListener("resize", () => plot.setSize({ width: width(), height: 260 }));
  return plot;
}

// Time series of several reports share one x axis (seconds into the window).
function joined(perReport) {
  return perReport.length === 1 ? perReport[0] : uPlot.join(perReport);
}

function overTime() {
  const parent = document.getElementById("time");
  const withIntervals = reports.filter(({ report }) => report.intervals && report.intervals.length);
  if (!withIntervals.length) {
    parent.append(el("p", { class: "note" }, "No time series: run with --interval (or --out, or on a terminal)."));
    return;
  }
  const axes = (unit) => ({ axes: [{ label: "seconds into the window" }, { label: unit, size: 70 }], scales: { x: { time: false } } });
  const panel = (title, note, fields, unit) => {
    const tables = [];
    const series = [];
    withIntervals.forEach(({ label, report }, i) => {
      const xs = report.intervals.map((s) => s.t_s);
      const ys = fields.map(([key]) => report.intervals.map((s) => (key === "target_per_s" ? targetAt(report, s) : at(s, key) == null ? null : at(s, key))));
      tables.push([xs, ...ys]);
      fields.forEach(([key, name], k) =>
        series.push({ label: (several ? label + " " : "") + name, stroke: COLORS[(i * fields.length + k) % COLORS.length], width: 1.5, dash: key === "target_per_s" ? [6, 4] : undefined }));
    });
    chart(parent, title, note, joined(tables), series, axes(unit));
  };
  const rate = first.mode === "stream" ? [["bytes_per_s", "bytes/s"]] : [["messages_per_s", "achieved"]];
  if (first.rate) rate.push(["target_per_s", "target"]);
  panel("Throughput", "per interval; a dashed line is the open loop's target", rate, first.mode === "stream" ? "bytes/s" : "msg/s");
  panel("Latency", "per interval (open loop: from the intended send)", [["p50_us", "p50"], ["p99_us", "p99"], ["max_us", "max"]], "us");
  panel("Errors", "per interval: all kinds, and the timeouts among them", [["errors", "errors"], ["errors_by_kind.timeouts", "timeouts"]], "count");
  if (first.send_lag) panel("Send lag", "actual minus intended send, per interval", [["send_lag_p50_us", "p50"], ["send_lag_p99_us", "p99"]], "us");
}

// The target of an interval: its own (a ramp or steps move it), else the run's.
function targetAt(report, stretch) {
  if (!report.rate) return null;
  return stretch.target_per_s != null ? stretch.target_per_s : report.rate.target;
}

function spectrum() {
  const parent = document.getElementById("spectrum");
  const tables = [];
  const series = [];
  reports.forEach(({ label, spectra }, i) => {
    const kinds = [["latency", "corrected", undefined], ["latency_uncorrected", "uncorrected", [6, 4]], ["send_lag", "send lag", [2, 3]]];
    kinds.forEach(([key, name, dash], k) => {
      const points = spectra[key];
      if (!points || !points.length) return;
      tables.push([points.map((p) => p[0]), points.map((p) => Math.max(1, p[1]))]);
      // One report: a colour per kind; several: a colour per report, a dash per kind.
      const color = COLORS[(several ? i : k) % COLORS.length];
      series.push({ label: (several ? label + " " : "") + name, stroke: color, width: 1.5, dash });
    });
  });
  if (!tables.length) {
    parent.append(el("p", { class: "note" }, "No latency was measured."));
    return;
  }
  // HdrHistogram's axis: x = 1/(1-p), ticked at the nines.
  const NINES = [[1, "0%"], [2, "50%"], [10, "90%"], [100, "99%"], [1e3, "99.9%"], [1e4, "99.99%"], [1e5, "99.999%"]];
  chart(parent, "Latency by percentile", "x: percentile on HdrHistogram's axis, 1/(1-p); the gap between corrected and uncorrected is coordinated omission",
    joined(tables), series, {
      scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
      axes: [
        { label: "percentile", splits: (u) => NINES.map(([x]) => x).filter((x) => x <= u.scales.x.max * 1.0001),
          values: (u, ticks) => ticks.map((x) => (NINES.find(([n]) => n === x) || [x, ""])[1]) },
        { label: "us", size: 70 },
      ],
    });
}

function extras() {
  const parent = document.getElementById("extras");
  for (const [i, { label, report }] of reports.entries()) {
    const prefix = several ? label + ": " : "";
    if (report.max_rate) {
      const m = report.max_rate;
      parent.append(el("h3", {}, prefix + "Max-rate search"),
        el("p", { "data-figure": "max_rate.low", "data-report": String(i), "data-value": String(m.low) },
          "highest passing rate " + count(m.low, 1) + " /s; lowest failing " + count(m.high, 1) + " /s"));
      const head = el("tr", {}, ...["rate", "achieved", "p99", "verdict"].map((h) => el("th", {}, h)));
      const rows = m.probes.map((p) => el("tr", { "data-probe": "" }, el("td", {}, count(p.rate, 1)), el("td", {}, count(p.achieved, 1)),
        el("td", {}, us(p.p99_us)), el("td", { class: p.pass ? "pass" : "fail" }, p.interrupted ? "interrupted" : p.pass ? "pass" : "fail")));
      parent.append(el("div", { class: "scroll" }, el("table", {}, head, ...rows)));
    }
    if (report.steps) {
      const head = el("tr", {}, ...["target", "achieved", "p50", "p99", "max", "errors"].map((h) => el("th", {}, h)));
      const rows = report.steps.map((s) => el("tr", { "data-step": "" }, el("td", {}, count(s.target_per_s, 1)), el("td", {}, count(s.messages_per_s, 1)),
        el("td", {}, us(s.p50_us)), el("td", {}, us(s.p99_us)), el("td", {}, us(s.max_us)), el("td", {}, count(s.errors))));
      parent.append(el("h3", {}, prefix + "Rate steps"), el("div", { class: "scroll" }, el("table", {}, head, ...rows)));
    }
    if (report.udp) {
      const u = report.udp;
      const rows = ["sent", "received", "lost", "out_of_order", "duplicated", "corrupted", "send_errors"].map((key) =>
        el("tr", {}, el("td", {}, key.replace(/_/g, " ")), figure(report, i, "udp." + key, count)));
      parent.append(el("h3", {}, prefix + "UDP datagrams"), el("div", { class: "scroll" }, el("table", {}, ...rows)),
        el("p", { class: "note" }, "loss " + (u.sent ? ((100 * u.lost) / u.sent).toFixed(3) : "0") + "%"));
    }
    if (report.mode === "churn") {
      parent.append(el("h3", {}, prefix + "Churn"), el("div", { class: "scroll" }, el("table", {},
        el("tr", {}, el("td", {}, "connect cycles"), figure(report, i, "cycles", count)),
        el("tr", {}, el("td", {}, "per second"), figure(report, i, "connections_per_s", (v) => count(v, 1))),
        el("tr", {}, el("td", {}, "TLS handshake p50"), figure(report, i, "tls.handshake_latency.p50_us", us)))));
    }
    if (report.slo) {
      const rows = report.slo.map((v) => el("tr", {}, el("td", {}, v.gate), el("td", {}, v.measured || String(v.value)), el("td", { class: v.pass ? "pass" : "fail" }, v.pass ? "PASS" : "FAIL")));
      parent.append(el("h3", {}, prefix + "Gates"), el("div", { class: "scroll" }, el("table", {}, ...rows)));
    }
  }
}

header();
runTable();
headline();
overTime();
spectrum();
extras();
document.body.dataset.rendered = "yes";
