"""Side-by-side TLS benchmark of `mio-echo serve --tls-cert` against a tokio +
tokio-rustls echo server (benches/tokio-echo/src/bin/tokio-rustls-echo.rs)
and socat's OpenSSL echo server. Run through scripts/bench-tls.sh.

Every server gets the same ECDSA P-256 certificate (made by openssl), and
the two Rust ones the same rustls version and ring provider. Runs are
interleaved, a fresh server per run, the server pinned to CPU 0 and
`mio-echo bench --tls` to CPU 1; figures are medians, ratios against
tokio-rustls. Writes the TLS section of docs/benchmarks.md (between the
`<!-- tls -->` markers, which scripts/bench-compare.sh keeps).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

import bench_compare as common
from bench_compare import ROOT, MIO, fmt, median

TOKIO_RUSTLS = os.path.join(ROOT, "target", "bench-peers", "release", "tokio-rustls-echo")
HOLD = 10_000


def make_certificate(work):
    """One ECDSA P-256 certificate for localhost and 127.0.0.1."""
    cert, key, both = (os.path.join(work, name) for name in ("cert.pem", "key.pem", "both.pem"))
    subprocess.run(
        ["openssl", "req", "-x509", "-nodes", "-days", "2", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    with open(both, "w") as f:
        f.write(open(cert).read() + open(key).read())
    return cert, key, both


def servers(cert, key, both):
    return {
        "mio-echo": ([MIO, "serve", "--addr", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key], "prints", True),
        # 4 KiB reads, as the plain tokio peer: the server a user would write.
        "tokio-rustls": ([TOKIO_RUSTLS, "127.0.0.1:0", cert, key, "4096"], "prints", True),
        "socat": ([
            "socat", f"OPENSSL-LISTEN:{{port}},bind=127.0.0.1,fork,reuseaddr,backlog=1024,verify=0,cert={both}", "PIPE",
        ], "given", True),
    }


SCENARIOS = [
    ("stream 1", ["--mode", "stream", "-c", "1"], ["mio-echo", "tokio-rustls", "socat"], "byte"),
    ("stream 16", ["--mode", "stream", "-c", "16"], ["mio-echo", "tokio-rustls", "socat"], "byte"),
    ("pingpong 1000x512", ["--mode", "pingpong", "-c", "1000", "-s", "512"], ["mio-echo", "tokio-rustls"], "msg"),
    # Full handshakes (no resumption): connect, handshake, 64 B, close.
    ("churn 50", ["--mode", "churn", "-c", "50", "-s", "64"], ["mio-echo", "tokio-rustls"], "conn"),
    (f"hold {HOLD:,}", ["--mode", "hold", "-c", str(HOLD), "-s", "64"], ["mio-echo", "tokio-rustls"], "hold"),
]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def sample_idle_rss(server, want_fds, result, limit=120.0):
    """RSS once `want_fds` connections are open and the server has gone
    idle (no CPU used for 0.5 s: every handshake and the held message done)."""
    deadline = time.time() + limit
    while time.time() < deadline and fd_count(server.pid) < want_fds:
        time.sleep(0.1)
    last = cpu_ticks(server.pid)
    while time.time() < deadline:
        time.sleep(0.5)
        now = cpu_ticks(server.pid)
        if now == last:
            result["rss"] = server.rss_kib()
            return
        last = now


def one_run(name, scenario, duration, tls_args):
    label, args, _, kind = scenario
    server = common.Server(name)
    try:
        rss_before = server.rss_kib()
        sample = {}
        sampler = None
        if kind == "hold":
            sampler = threading.Thread(target=sample_idle_rss, args=(server, HOLD, sample))
            sampler.start()
        report = common.run_bench(server, args + tls_args, duration, server.pinned)
        if sampler:
            sampler.join()
        figures = common.extract(report, kind)
        tls = report.get("tls") or {}
        figures["handshake_p50"] = (tls.get("handshake_latency") or {}).get("p50_us")
        if kind == "conn" and figures.get("cpu"):
            # Handshakes per second of one fully busy server core.
            figures["per_core"] = 1e6 / figures["cpu"]
        if kind == "hold" and "rss" in sample:
            figures["rss_per_conn"] = (sample["rss"] - rss_before) * 1024 / HOLD
        return figures
    finally:
        server.stop()


UNITS = {"msg": ("msg/s", "us/msg"), "byte": ("GB/s", "s/GB"), "conn": ("handshakes/s", "us/handshake"),
         "hold": ("connect s", "")}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--only", help="run only scenarios whose name contains this")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/")
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        cert, key, both = make_certificate(work)
        common.SERVERS.update(servers(cert, key, both))
        tls_args = ["--tls", "--tls-ca", cert]
        available = {n for n, (cmd, _, _) in common.SERVERS.items() if os.path.exists(cmd[0]) or common.shutil.which(cmd[0])}
        scenarios = [s for s in SCENARIOS if not opts.only or opts.only in s[0]]
        results = {}
        for scenario in scenarios:
            label, _, names, _ = scenario
            for rep in range(opts.reps):
                for name in [n for n in names if n in available]:
                    figures = one_run(name, scenario, opts.duration, tls_args)
                    results.setdefault((label, name), []).append(figures)
                    print(f"{label:18} {name:14} rep {rep + 1}: " + ", ".join(f"{k} {fmt(v, 2)}" for k, v in figures.items()),
                          file=sys.stderr, flush=True)

    rows = []
    for label, _, names, kind in scenarios:
        base = results.get((label, "tokio-rustls"))
        keys = ("rate", "p50", "p99", "cpu", "per_core", "rss_per_conn", "handshake_p50")
        base_row = {k: median([r.get(k) for r in base]) for k in keys} if base else {}
        for name in names:
            runs = results.get((label, name))
            if not runs:
                continue
            row = {k: median([r.get(k) for r in runs]) for k in keys}
            row["errors"] = sum(r["errors"] for r in runs)
            ratio = lambda key: row[key] / base_row[key] if row.get(key) is not None and base_row.get(key) else None
            row["cpu_ratio"] = ratio("cpu")
            row["per_core_ratio"] = ratio("per_core")
            row["rss_ratio"] = ratio("rss_per_conn")
            rows.append((label, name, kind, row))

    table = render_table(rows)
    targets = render_targets(rows)
    print(table)
    print(targets)
    if not opts.no_write:
        write_docs(table, targets, opts)


def render_table(rows):
    lines = [
        "| scenario | server | rate | p50 us | p99 us | handshake p50 us | server CPU | CPU vs tokio-rustls | handshakes/s/core | RSS/idle conn (B) | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, name, kind, row in rows:
        rate_unit, cpu_unit = UNITS[kind]
        cpu = f"{fmt(row['cpu'], 2)} {cpu_unit}" if row["cpu"] is not None else "-"
        lines.append(
            f"| {label} | {name} | {fmt(row['rate'], 2)} {rate_unit} | {fmt(row['p50'])} | {fmt(row['p99'])} | "
            f"{fmt(row['handshake_p50'])} | {cpu} | {fmt(row['cpu_ratio'], 2)}x | {fmt(row['per_core'], 0)} | "
            f"{fmt(row['rss_per_conn'], 0)} | {row['errors']} |"
        )
    return "\n".join(lines)


def render_targets(rows):
    checks = []

    def check(what, value, limit, unit="", at_least=False):
        if value is None:
            checks.append(f"| {what} | - | {limit}{unit} | not measured |")
            return
        met = value >= limit if at_least else value <= limit
        verdict = "met" if met else f"missed by {abs(value / limit - 1):.0%}"
        sign = ">=" if at_least else "<="
        checks.append(f"| {what} | {value:.2f}{unit} | {sign} {limit}{unit} | {verdict} |")

    row = lambda label, name="mio-echo": common.find(rows, label, name)
    for label in ("stream 1", "stream 16"):
        r = row(label)
        check(f"server CPU per GB vs tokio-rustls, {label}", r and r["cpu_ratio"], 0.9, "x")
        socat = row(label, "socat")
        if r and socat and r["cpu"] is not None and socat["cpu"]:
            check(f"server CPU per GB vs socat, {label}", r["cpu"] / socat["cpu"], 1.0, "x")
    r = row("pingpong 1000x512")
    check("server CPU per message vs tokio-rustls, pingpong 1000x512", r and r["cpu_ratio"], 1.0, "x")
    r = row("churn 50")
    check("full handshakes per second per server core vs tokio-rustls", r and r["per_core_ratio"], 1.0, "x", at_least=True)
    r = row(f"hold {HOLD:,}")
    check(f"RSS per idle TLS connection, {HOLD:,} held", r and r["rss_per_conn"], 8192, " B")
    check("RSS per idle TLS connection vs tokio-rustls", r and r["rss_ratio"], 0.1, "x")
    return "| target | measured (median) | target | verdict |\n| --- | --- | --- | --- |\n" + "\n".join(checks)


def write_docs(table, targets, opts):
    import datetime
    command = "scripts/bench-tls.sh" + (f" --reps {opts.reps}" if opts.reps != 3 else "")
    command += f" --duration {opts.duration:g}" if opts.duration != 3.0 else ""
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        "<!-- tls -->\n## TLS\n\n"
        f"Generated by `{command}` on {generated}. Machine: {common.machine()}. "
        "`mio-echo serve --tls-cert` against a tokio + tokio-rustls echo server (`benches/tokio-echo`, "
        "`tokio-rustls-echo`: one task per connection, `current_thread`, 4 KiB reads) and socat's "
        "`OPENSSL-LISTEN ... PIPE` (a process per connection). One ECDSA P-256 certificate for all; "
        "rustls 0.23 with ring on both Rust servers; the load is `mio-echo bench --tls` (TLS 1.3, "
        "TLS13_AES_256_GCM_SHA384; churn makes full handshakes, no resumption). Server pinned to CPU "
        f"{common.SERVER_CPU}, bench to CPU {common.BENCH_CPU}; medians of {opts.reps} interleaved runs of "
        f"{opts.duration:g} s after 1 s warm-up. Handshakes per second per core: 1 / server CPU per churn "
        f"cycle. RSS per idle connection: VmRSS once {HOLD:,} connections are open and the server has been "
        "idle for 0.5 s, minus VmRSS before, over the connections.\n\n"
        "### Results\n\n" + table + "\n\n### Targets\n\n" + targets + "\n<!-- /tls -->\n"
    )
    common.write_section("tls", section)


if __name__ == "__main__":
    main()
