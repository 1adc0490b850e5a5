"""Size and render time of `mio-echo bench` HTML reports (see
scripts/bench-report-size.sh)."""

import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import bench_compare as common
from bench_compare import MIO


def render_seconds(page):
    """Median wall time of three headless loads that finish drawing."""
    times = []
    for _ in range(3):
        started = time.monotonic()
        dom = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND",
             "--dump-dom", f"file://{page}"],
            capture_output=True, text=True, timeout=120).stdout
        times.append(time.monotonic() - started)
        if 'data-rendered="yes"' not in dom or "data-error=" in dom:
            raise RuntimeError(f"{page} did not render")
    return statistics.median(times)


def main():
    work = tempfile.mkdtemp(prefix="report-size-")
    server = common.Server("mio-echo")
    try:
        out = subprocess.run([MIO, "bench", "--addr", server.addr, "--json", "-c", "10", "--rate", "1000",
                              "-d", "60", "--interval", "1"], capture_output=True, text=True, check=True).stdout
    finally:
        server.stop()
    minute = json.loads(out)
    rows = []
    for name, points in [("1-minute run (real)", None), ("10-minute run (600 intervals)", 600),
                         ("10,000 intervals", 10_000)]:
        report = copy.deepcopy(minute)
        if points:
            base = minute["intervals"]
            report["intervals"] = [dict(base[i % len(base)], t_s=float(i)) for i in range(points)]
            report["duration_s"] = report["measured_s"] = float(points)
        source = os.path.join(work, f"{points or 60}.json")
        page = os.path.join(work, f"{points or 60}.html")
        with open(source, "w") as f:
            json.dump(report, f)
        subprocess.run([MIO, "bench", "report", source, "--html", page], check=True, capture_output=True)
        rows.append((name, len(report["intervals"]), os.path.getsize(page), render_seconds(page)))
    print("| report | intervals | HTML bytes | headless Chromium load, median of 3 |")
    print("| --- | --- | --- | --- |")
    for name, intervals, size, seconds in rows:
        print(f"| {name} | {intervals:,} | {size:,} | {seconds:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
