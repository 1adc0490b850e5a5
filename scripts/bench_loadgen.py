"""The load generator against tcpkali, the same work side by side: an open
loop of 50 connections sending 512-byte messages at a total rate, into the
same `mio-echo serve` (pinned to CPU 0), the load generator pinned to CPU 1.
Each rate runs bench and tcpkali in turn (interleaved, the order alternating
per repetition); figures are medians. Run through scripts/bench-loadgen.sh.

What a load generator costs is read from the kernel, the same way for both:
`wait4(2)` on the load generator gives its user + system CPU time and its
voluntary context switches over its whole life (warm-up and connects
included, for both). Messages are what each sent: bench's count from its
report (run with no warm-up, so its window is its life), tcpkali's from the
bytes it says it sent, over the message size.

bench's own share of its latency: its report's send lag (actual minus
intended send, the intended send being the grid time it was planned for,
see `--pacing-grid`) and corrected minus uncorrected p50; and its pacing,
the achieved rate over the target. Beside it, the floor under any pacer
that sleeps: benches/c-timer-floor, a bare C loop asleep on a timerfd at
the same grid step, and how late its wake-ups are (p50).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

import bench_compare as common
from bench_compare import MIO, fmt

CONNECTIONS = 50
SIZE = 512


def find_tcpkali():
    for candidate in (os.environ.get("TCPKALI"), shutil.which("tcpkali"),
                      os.path.join(common.ROOT, "..", "shared", "tools", "tcpkali")):
        if candidate and os.path.exists(candidate):
            return os.path.abspath(candidate)
    return None


def run_pinned(command):
    """Runs `command` on the load generator's CPU; returns its stdout, its
    stderr, and (CPU seconds, voluntary context switches) from wait4."""
    proc = subprocess.Popen(common.taskset(common.BENCH_CPU, command, True),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # taskset execs the command: this child is the load generator itself.
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return out, err, usage.ru_utime + usage.ru_stime, usage.ru_nvcsw


TIMER_FLOOR = os.path.join(common.ROOT, "target", "bench-peers", "timer-floor")


def timer_floor(grid):
    """p50 lateness in us of a bare C timerfd loop woken every `grid` seconds
    on the load generator's CPU; None if it was not built."""
    if not os.path.exists(TIMER_FLOOR):
        return None
    count = max(100, int(2.0 / grid))
    out, _, _, _ = run_pinned([TIMER_FLOOR, str(int(grid * 1e9)), str(count)])
    return float(out.split()[0])


def bench_run(server, rate, duration, grid):
    command = [MIO, "bench", "--addr", server.addr, "--json", "--warmup", "0", "--duration", str(duration),
               "-c", str(CONNECTIONS), "-s", str(SIZE), "--rate", str(rate), "--pacing-grid", f"{grid:g}"]
    out, err, cpu, switches = run_pinned(command)
    report = json.loads(out)
    messages = report["messages"]
    latency, uncorrected, lag = (report.get(k) or {} for k in ("latency", "latency_uncorrected", "send_lag"))
    return {
        "cpu_us": cpu * 1e6 / messages,
        "vcsw": switches / messages,
        "lag_p50": lag.get("p50_us"),
        "p50": latency.get("p50_us"),
        "unc_p50": uncorrected.get("p50_us"),
        "accuracy": report["rate"]["achieved"] / report["rate"]["target"] if report.get("rate") else None,
    }


def tcpkali_run(tcpkali, server, rate, duration):
    command = [tcpkali, "-c", str(CONNECTIONS), "-m", "x" * SIZE, "-r", f"{rate / CONNECTIONS:g}",
               "-T", f"{duration:g}s", "--connect-rate", "1000", server.addr]
    out, err, cpu, switches = run_pinned(command)
    # "Total data sent:     13.4 MiB (14025728 bytes)"
    sent = re.search(r"Total data sent:.*\((\d+) bytes\)", out + err)
    if not sent:
        raise RuntimeError(f"tcpkali said no total: {(out + err)[-500:]}")
    messages = int(sent.group(1)) / SIZE
    return {"cpu_us": cpu * 1e6 / messages, "vcsw": switches / messages, "rate": messages / duration}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rates", default="5000,20000,50000")
    parser.add_argument("--grids", default="0.001",
                        help="bench's --pacing-grid values to run, comma-separated (seconds)")
    opts = parser.parse_args()
    grids = [float(g) for g in opts.grids.split(",")]
    tcpkali = find_tcpkali()
    if not tcpkali:
        print("note: tcpkali not found (PATH, $TCPKALI, ../shared/tools/tcpkali): comparison skipped", file=sys.stderr)
        return 0
    rates = [float(r) for r in opts.rates.split(",")]
    rows = []
    names = [f"bench grid {g * 1e3:g} ms" for g in grids] + ["tcpkali"]
    for rate in rates:
        results = {}

        def run_one(name, rate=rate):
            server = common.Server("mio-echo")
            try:
                if name == "tcpkali":
                    return tcpkali_run(tcpkali, server, rate, opts.duration)
                return bench_run(server, rate, opts.duration, grids[names.index(name)])
            finally:
                server.stop()

        label = f"{rate:,.0f}/s"
        common.interleave(label, names, opts.reps, run_one, results)
        med = {}
        for name in names:
            runs = results[(label, name)]
            med[name] = {k: statistics.median([r[k] for r in runs if r.get(k) is not None] or [float("nan")])
                         for k in runs[0]}
        rows.append((rate, med))
    floors = {grid: timer_floor(grid) for grid in grids}
    print(f"bench vs tcpkali ({tcpkali}): {CONNECTIONS} connections, {SIZE} B, open loop, server on CPU "
          f"{common.SERVER_CPU}, load on CPU {common.BENCH_CPU}; medians of {opts.reps} interleaved runs of {opts.duration:g} s")
    print("| rate | grid | burst (msgs) | bench CPU us/msg | tcpkali CPU us/msg | bench / tcpkali | bench vcsw/msg "
          "| tcpkali vcsw/msg | bench send lag p50 us | timer floor p50 us | corrected - uncorrected p50 us "
          "| achieved / target |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for rate, med in rows:
        t = med["tcpkali"]
        for grid, name in zip(grids, names):
            b = med[name]
            gap = b["p50"] - b["unc_p50"] if b.get("p50") is not None and b.get("unc_p50") is not None else None
            print(f"| {rate:,.0f}/s | {grid * 1e3:g} ms | {fmt(rate * grid, 0)} | {fmt(b['cpu_us'], 2)} | "
                  f"{fmt(t['cpu_us'], 2)} | {fmt(b['cpu_us'] / t['cpu_us'], 2)}x | {fmt(b['vcsw'], 3)} | "
                  f"{fmt(t['vcsw'], 3)} | {fmt(b['lag_p50'])} | {fmt(floors[grid])} | {fmt(gap)} | "
                  f"{fmt(b['accuracy'], 4)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
