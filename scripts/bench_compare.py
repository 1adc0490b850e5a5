"""Side-by-side benchmark of mio-echo against the servers users would pick
instead. Run through scripts/bench-compare.sh, which builds everything first.

Each scenario runs every server in turn, interleaved (A B C A B C ...), with
a fresh server process per run, the server pinned to CPU 0 and
`mio-echo bench` to CPU 1. Figures are medians over the repetitions; ratios
are against the tokio current_thread server. Writes docs/benchmarks.md and
docs/benchmarks.svg.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIO = os.path.join(ROOT, "target", "release", "mio-echo")
TOKIO = os.path.join(ROOT, "target", "bench-peers", "release", "tokio-echo")
ASYNCIO = os.path.join(ROOT, "scripts", "peers", "asyncio_echo.py")
SERVER_CPU, BENCH_CPU = "0", "1"

# name -> (command, how it learns its port, pinned)
SERVERS = {
    "mio-echo": ([MIO, "serve", "--addr", "127.0.0.1:0"], "prints", True),
    "tokio": ([TOKIO, "127.0.0.1:0"], "prints", True),
    "socat": (["socat", "TCP-LISTEN:{port},fork,reuseaddr,backlog=1024", "PIPE"], "given", True),
    "asyncio": ([sys.executable, ASYNCIO], "prints", True),
    "mio-echo --busy-poll": ([MIO, "serve", "--addr", "127.0.0.1:0", "--busy-poll"], "prints", True),
    # Two reactors need two cores: not pinned, sharing them with the load generator.
    "mio-echo --threads 2": ([MIO, "serve", "--addr", "127.0.0.1:0", "--threads", "2"], "prints", False),
    "mio-echo --threads 1": ([MIO, "serve", "--addr", "127.0.0.1:0"], "prints", False),
}
BASE = ["mio-echo", "tokio", "socat", "asyncio"]

# name, bench arguments, servers, kind
SCENARIOS = [
    ("pingpong 1x64", ["--mode", "pingpong", "-c", "1", "-s", "64"], BASE + ["mio-echo --busy-poll"], "msg"),
    ("pingpong 50x512", ["--mode", "pingpong", "-c", "50", "-s", "512"], BASE, "msg"),
    (
        "pingpong 1000x512",
        ["--mode", "pingpong", "-c", "1000", "-s", "512"],
        BASE + ["mio-echo --threads 1", "mio-echo --threads 2"],
        "msg",
    ),
    # socat forks a process per connection: 10,000 of them is not a fair fight.
    ("pingpong 10000x64", ["--mode", "pingpong", "-c", "10000", "-s", "64"], ["mio-echo", "tokio", "asyncio"], "msg"),
    ("stream 1", ["--mode", "stream", "-c", "1"], BASE, "byte"),
    ("stream 16", ["--mode", "stream", "-c", "16"], BASE, "byte"),
    ("churn 50", ["--mode", "churn", "-c", "50", "-s", "64"], BASE, "conn"),
    ("hold 10000", ["--mode", "hold", "-c", "10000", "-s", "64"], ["mio-echo", "tokio", "asyncio"], "hold"),
]

SYSCALL_SCENARIOS = {"pingpong 1x64", "pingpong 1000x512", "pingpong 10000x64", "pingpong 50x512"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def taskset(cpu, command, pinned):
    if pinned and shutil.which("taskset"):
        return ["taskset", "-c", cpu] + command
    return command


class Server:
    def __init__(self, name):
        command, port_mode, pinned = SERVERS[name]
        self.pinned = pinned
        if port_mode == "given":
            port = free_port()
            command = [part.format(port=port) for part in command]
        self.proc = subprocess.Popen(
            taskset(SERVER_CPU, command, pinned),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        if port_mode == "prints":
            line = self.proc.stdout.readline()
            if not line.startswith("listening on "):
                raise RuntimeError(f"{name} did not start: {line!r}")
            self.addr = line.split()[-1]
        else:
            self.addr = f"127.0.0.1:{port}"
            wait_listening(port)
        # taskset execs the server: the PID is the server's.
        self.pid = self.proc.pid

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # socat's forked children and a stuck server: end its whole session.
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait()
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_listening(port, limit=10.0):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on port {port}")


def run_bench(server, args, duration, pinned, warmup=1.0):
    command = [MIO, "bench", "--addr", server.addr, "--json", "--warmup", f"{warmup:.2f}", "--duration", str(duration)]
    command += ["--server-pid", str(server.pid)] + args
    out = subprocess.run(taskset(BENCH_CPU, command, pinned), capture_output=True, text=True, timeout=300)
    if not out.stdout.strip():
        raise RuntimeError(f"bench failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def count_syscalls(pid, start_after, seconds, result):
    """Counts the server's syscalls over a window inside the bench's steady phase."""
    time.sleep(start_after)
    out = subprocess.run(
        ["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p", str(pid), "--", "sleep", str(seconds)],
        capture_output=True,
        text=True,
    )
    for line in out.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and "raw_syscalls:sys_enter" in line and fields[0].isdigit():
            result["rate"] = int(fields[0]) / seconds


def one_run(name, scenario, duration, with_syscalls):
    label, args, _, kind = scenario
    server = Server(name)
    try:
        rss_before = server.rss_kib()
        sample = {}
        sampler = None
        if kind == "hold":
            # Sample the server's memory while all connections are held idle.
            def sample_rss():
                time.sleep(1.0 + duration / 2)
                sample["rss"] = server.rss_kib()

            sampler = threading.Thread(target=sample_rss)
            sampler.start()
        report = run_bench(server, args, duration, server.pinned)
        if sampler:
            sampler.join()
        figures = extract(report, kind)
        if kind == "hold":
            figures["rss_per_conn"] = (sample.get("rss", 0) - rss_before) * 1024 / report["connections"]
        if with_syscalls and shutil.which("perf"):
            # The perf window must fall after the connect phase (2 s and more
            # for 10,000 connections to a slow server) and inside the window.
            connect = report["connect_time_s"]
            result = {}
            counter = threading.Thread(target=count_syscalls, args=(server.pid, connect + 1.5, 1.5, result))
            counter.start()
            report2 = run_bench(server, args, 2.5, server.pinned, warmup=connect + 1.0)
            counter.join()
            if "rate" in result and report2["messages_per_s"] > 0:
                figures["syscalls"] = result["rate"] / report2["messages_per_s"]
        return figures
    finally:
        server.stop()


def extract(report, kind):
    errors = sum(report["errors"].values())
    latency = report.get("latency") or {}
    server_s = report["cpu"].get("server_seconds")
    figures = {"errors": errors, "p50": latency.get("p50_us"), "p99": latency.get("p99_us")}
    if kind == "msg":
        figures["rate"] = report["messages_per_s"]
        figures["cpu"] = report["cpu"].get("server_us_per_message")
    elif kind == "byte":
        figures["rate"] = report["bytes_per_s"] / 1e9
        gigabytes = report["bytes"] / 1e9
        figures["cpu"] = server_s / gigabytes if server_s is not None and gigabytes > 0 else None
    elif kind == "conn":
        figures["rate"] = report["connections_per_s"]
        figures["cpu"] = report["cpu"].get("server_us_per_cycle")
    else:
        figures["rate"] = report["connect_time_s"]
    return figures


def interleave(label, names, reps, run_one, results):
    """Runs `run_one(name)` for every name, `reps` times, interleaved, the
    order alternating per repetition so that no one always meets a warmer
    machine; appends each run's figures to `results[(label, name)]` and
    says them on stderr."""
    for rep in range(reps):
        order = list(names) if rep % 2 == 0 else list(reversed(names))
        for name in order:
            figures = run_one(name)
            results.setdefault((label, name), []).append(figures)
            print(f"{label:20} {name:16} rep {rep + 1}: " + ", ".join(f"{k} {fmt(v, 3)}" for k, v in figures.items()),
                  file=sys.stderr, flush=True)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=1):
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


UNITS = {
    "msg": ("msg/s", "server CPU us/msg"),
    "byte": ("GB/s", "server CPU s/GB"),
    "conn": ("conn/s", "server CPU us/conn"),
    "hold": ("connect s", "-"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--only", help="run only scenarios whose name contains this")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/")
    parser.add_argument(
        "--baseline",
        metavar="BIN",
        help="compare this build with another mio-echo binary (say, one built from the commit "
        "before a change to the hot path): only the two run, interleaved, and a before/after "
        "table is printed instead of docs/ being written",
    )
    opts = parser.parse_args()
    if opts.baseline:
        return before_after(opts)

    available = {name for name in SERVERS if os.path.exists(SERVERS[name][0][0]) or shutil.which(SERVERS[name][0][0])}
    skipped = sorted(set(SERVERS) - available)
    for name in skipped:
        print(f"note: {name} skipped: {SERVERS[name][0][0]} not installed", file=sys.stderr)
    scenarios = [s for s in SCENARIOS if not opts.only or opts.only in s[0]]

    results = {}
    for scenario in scenarios:
        label, _, servers, _ = scenario
        servers = [s for s in servers if s in available]
        for rep in range(opts.reps):
            for name in servers:
                with_syscalls = label in SYSCALL_SCENARIOS and name != "socat"
                figures = one_run(name, scenario, opts.duration, with_syscalls)
                results.setdefault((label, name), []).append(figures)
                print(f"{label:20} {name:22} rep {rep + 1}: " + ", ".join(f"{k} {fmt(v, 2)}" for k, v in figures.items()),
                      file=sys.stderr, flush=True)

    rows = []
    for scenario in scenarios:
        label, _, servers, kind = scenario
        base = results.get((label, "tokio"))
        base_cpu = median([r.get("cpu") for r in base]) if base else None
        base_rss = median([r.get("rss_per_conn") for r in base]) if base else None
        base_p50 = median([r.get("p50") for r in base]) if base else None
        for name in servers:
            runs = results.get((label, name))
            if not runs:
                continue
            row = {key: median([r.get(key) for r in runs]) for key in ("rate", "p50", "p99", "cpu", "syscalls", "rss_per_conn")}
            row["errors"] = sum(r["errors"] for r in runs)
            row["cpu_ratio"] = row["cpu"] / base_cpu if row["cpu"] is not None and base_cpu else None
            row["rss_ratio"] = row["rss_per_conn"] / base_rss if row["rss_per_conn"] is not None and base_rss else None
            row["p50_ratio"] = row["p50"] / base_p50 if row["p50"] is not None and base_p50 else None
            rows.append((label, name, kind, row))

    table = render_table(rows)
    targets = render_targets(rows)
    print(table)
    print(targets)
    if not opts.no_write:
        write_docs(table, targets, rows, opts, skipped)


BEFORE = "mio-echo before"


def before_after(opts):
    """Runs this build against `--baseline`, interleaved, on every scenario
    mio-echo takes part in; prints the medians and the after/before ratios
    with the hot path's rule: server CPU within 3%, syscalls per message equal."""
    SERVERS[BEFORE] = ([os.path.abspath(opts.baseline), "serve", "--addr", "127.0.0.1:0"], "prints", True)
    scenarios = [s for s in SCENARIOS if "mio-echo" in s[2] and (not opts.only or opts.only in s[0])]
    results = {}
    for scenario in scenarios:
        label = scenario[0]
        interleave(label, [BEFORE, "mio-echo"], opts.reps,
                   lambda name: one_run(name, scenario, opts.duration, label in SYSCALL_SCENARIOS), results)
    lines = [
        "| scenario | rate before | rate after | server CPU (hold: RSS) before | after | after/before "
        "| syscalls/msg before | after | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, _, _, kind in scenarios:
        before = {k: median([r.get(k) for r in results[(label, BEFORE)]]) for k in ("rate", "cpu", "syscalls", "rss_per_conn")}
        after = {k: median([r.get(k) for r in results[(label, "mio-echo")]]) for k in ("rate", "cpu", "syscalls", "rss_per_conn")}
        rate_unit, cpu_unit = UNITS[kind]
        if kind == "hold":
            before["cpu"], after["cpu"], cpu_unit = before["rss_per_conn"], after["rss_per_conn"], "B RSS/conn"
        ratio = after["cpu"] / before["cpu"] if after["cpu"] and before["cpu"] else None
        verdict = []
        if ratio is not None:
            what = "RSS" if kind == "hold" else "CPU"
            verdict.append(f"{what} within 3%" if ratio <= 1.03 else f"{what} {ratio - 1:+.1%}")
        if before["syscalls"] is not None and after["syscalls"] is not None:
            # Counted over 1.5 s of a noisy machine: equal to 1%.
            same = abs(after["syscalls"] - before["syscalls"]) <= 0.01 * before["syscalls"]
            verdict.append("syscalls equal" if same else f"syscalls {after['syscalls'] / before['syscalls'] - 1:+.1%}")
        lines.append(
            f"| {label} | {fmt(before['rate'], 2)} {rate_unit} | {fmt(after['rate'], 2)} {rate_unit} | "
            f"{fmt(before['cpu'], 2)} {cpu_unit} | {fmt(after['cpu'], 2)} {cpu_unit} | {fmt(ratio, 3)}x | "
            f"{fmt(before['syscalls'], 3)} | {fmt(after['syscalls'], 3)} | {', '.join(verdict) or '-'} |"
        )
    print(f"before: {opts.baseline}; after: {MIO}; medians of {opts.reps} interleaved runs of {opts.duration:g} s, "
          f"server on CPU {SERVER_CPU}, bench on CPU {BENCH_CPU}")
    print("\n".join(lines))
    exact_syscalls()
    exact_instructions()


def exact_syscalls(messages=5000):
    """Syscalls per echo counted exactly, without the noise of a rate: one
    client makes `messages` round trips of 64 bytes, then one of 1 MiB
    (partial writes), while `strace -c` counts the server's calls by name."""
    if not shutil.which("strace"):
        print("note: strace not installed: no exact syscall count", file=sys.stderr)
        return
    counts = {}
    for name in (BEFORE, "mio-echo"):
        server = Server(name)
        try:
            host, port = server.addr.rsplit(":", 1)
            with socket.create_connection((host, int(port))) as warm:
                warm.sendall(b"x")
                warm.recv(1)
            out_path = f"/tmp/strace-{os.getpid()}-{len(counts)}.txt"
            tracer = subprocess.Popen(["strace", "-c", "-f", "-o", out_path, "-p", str(server.pid)],
                                      stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # strace attaches to every thread before the first message
            with echo_client(host, port) as client:
                round_trips([client], messages)
                big = bytes(1 << 20)
                sender = threading.Thread(target=client.sendall, args=(big,))
                sender.start()
                got = 0
                while got < len(big):
                    got += len(client.recv(1 << 16))
                sender.join()
            time.sleep(0.3)
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=10)
            table = {}
            for line in open(out_path):
                fields = line.split()
                if len(fields) >= 5 and fields[-1].isidentifier() and fields[-1] != "total" and fields[3].isdigit():
                    table[fields[-1]] = int(fields[3])
            os.unlink(out_path)
            counts[name] = table
        finally:
            server.stop()
    names = sorted(set(counts[BEFORE]) | set(counts["mio-echo"]))
    print(f"\nsyscalls of the server for 1 connect, {messages} echoes of 64 B and one of 1 MiB (strace -c; "
          "the 1 MiB echo splits into as many reads and writes as the timing makes):")
    print("| syscall | before | after |\n| --- | --- | --- |")
    for call in names:
        print(f"| {call} | {counts[BEFORE].get(call, 0)} | {counts['mio-echo'].get(call, 0)} |")
    total = [sum(counts[n].values()) for n in (BEFORE, "mio-echo")]
    print(f"| total | {total[0]} | {total[1]} |")


def render_table(rows):
    lines = [
        "| scenario | server | rate | p50 us | p99 us | server CPU | CPU vs tokio | syscalls/msg | RSS/idle conn (B) | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, name, kind, row in rows:
        rate_unit, cpu_unit = UNITS[kind]
        rss = fmt(row["rss_per_conn"], 0) if row["rss_per_conn"] is not None else "-"
        lines.append(
            f"| {label} | {name} | {fmt(row['rate'], 2)} {rate_unit} | {fmt(row['p50'])} | {fmt(row['p99'])} | "
            f"{fmt(row['cpu'], 2)} {cpu_unit if row['cpu'] is not None else ''} | "
            f"{fmt(row['cpu_ratio'], 2)}x | {fmt(row['syscalls'], 2)} | {rss} | {row['errors']} |"
        )
    return "\n".join(lines)


def find(rows, label, name):
    for row_label, row_name, _, row in rows:
        if row_label == label and row_name == name:
            return row
    return None


def render_targets(rows):
    checks = []

    def check(what, value, limit, unit=""):
        if value is None:
            checks.append(f"| {what} | - | {limit}{unit} | not measured |")
            return
        verdict = "met" if value <= limit else f"missed by {value / limit - 1:.0%}"
        checks.append(f"| {what} | {value:.2f}{unit} | <= {limit}{unit} | {verdict} |")

    for label, limit in (("pingpong 1000x512", 2.2), ("pingpong 10000x64", 2.2), ("pingpong 1x64", 3.0)):
        row = find(rows, label, "mio-echo")
        check(f"syscalls per message, {label}", row and row["syscalls"], limit)
    for label in ("pingpong 50x512", "pingpong 1000x512", "pingpong 10000x64"):
        row = find(rows, label, "mio-echo")
        check(f"server CPU per message vs tokio, {label}", row and row["cpu_ratio"], 1.0, "x")
    for label in ("stream 1", "stream 16"):
        row = find(rows, label, "mio-echo")
        check(f"server CPU per GB vs tokio, {label}", row and row["cpu_ratio"], 0.35, "x")
    row = find(rows, "hold 10000", "mio-echo")
    check("RSS per idle connection, 10,000 held", row and row["rss_per_conn"], 48, " B")
    row = find(rows, "churn 50", "mio-echo")
    check("server CPU per connection vs tokio, churn 50", row and row["cpu_ratio"], 1.0, "x")
    row = find(rows, "pingpong 1x64", "mio-echo --busy-poll")
    check("pingpong 1x64 p50 with --busy-poll vs tokio", row and row["p50_ratio"], 0.7, "x")
    header = "| target | measured (median) | target | verdict |\n| --- | --- | --- | --- |"
    return header + "\n" + "\n".join(checks)


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}"


def write_docs(table, targets, rows, opts, skipped):
    command = "scripts/bench-compare.sh" + (f" --reps {opts.reps}" if opts.reps != 3 else "")
    command += f" --duration {opts.duration:g}" if opts.duration != 3.0 else ""
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    notes = "".join(f"- {name} was skipped: not installed.\n" for name in skipped)
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    existing = open(path).read() if os.path.exists(path) else ""
    analysis = existing.split("<!-- analysis -->", 1)[1] if "<!-- analysis -->" in existing else "\n"
    # The TLS and UDP sections are scripts/bench-tls.sh's and bench-udp.sh's: kept as they are.
    tls = ""
    for name in ("tls", "udp"):
        start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
        if start in existing and end in existing:
            tls += start + existing.split(start, 1)[1].split(end, 1)[0] + end + "\n\n"
    with open(path, "w") as f:
        f.write(
            "# Benchmarks\n\n"
            "Generated by `" + command + "` on " + generated + ".\n\n"
            "Machine: " + machine() + ". Server pinned to CPU " + SERVER_CPU + ", `mio-echo bench` to CPU "
            + BENCH_CPU + " (`taskset`), except the `--threads` rows, which share both cores with the load "
            "generator. Each figure is the median of " + str(opts.reps) + " runs of " + f"{opts.duration:g}"
            + " s (after 1 s warm-up), servers interleaved, a fresh server process per run. Ratios are "
            "against the tokio `current_thread` server (`benches/tokio-echo`, 4 KiB buffer). Server CPU is "
            "user + system time from /proc over the measured window (socat: with its forked children). "
            "Syscalls per message: `perf stat -e raw_syscalls:sys_enter` on the server for 1.5 s inside a "
            "second run after each measured one, divided by that run's message rate (median of the reps). RSS per idle connection: VmRSS while 10,000 "
            "connections are held, minus VmRSS before, over 10,000.\n\n"
            + notes + "\n## Results\n\n" + table + "\n\n## Targets\n\n" + targets + "\n\n"
            "![server CPU per message and RSS per connection](benchmarks.svg)\n\n"
            + tls + "<!-- analysis -->" + analysis
        )
    svg_chart(rows, os.path.join(ROOT, "docs", "benchmarks.svg"))
    print(f"wrote {path} and docs/benchmarks.svg", file=sys.stderr)


def write_section(name, section):
    """Puts `section` (which starts with `<!-- name -->` and ends with
    `<!-- /name -->`) into docs/benchmarks.md, in place of the old one or
    before the analysis: how bench-tls.sh and bench-udp.sh publish."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->\n"
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    text = open(path).read()
    if start in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    elif "<!-- analysis -->" in text:
        before, rest = text.split("<!-- analysis -->", 1)
        text = before + section + "\n<!-- analysis -->" + rest
    else:
        text += "\n" + section
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote the {name} section of {path}", file=sys.stderr)


def svg_chart(rows, path):
    """Server CPU per message (pingpong) and RSS per idle connection, by
    server, drawn by gnuplot (installed by bench-compare.sh)."""
    if not shutil.which("gnuplot"):
        print("note: gnuplot not installed: no chart", file=sys.stderr)
        return False
    cpu = [(f"{label} {name}", row["cpu"]) for label, name, kind, row in rows if kind == "msg" and row["cpu"]]
    rss = [(name, row["rss_per_conn"]) for label, name, kind, row in rows if kind == "hold" and row["rss_per_conn"]]
    data = path + ".dat"
    with open(data, "w") as f:
        for block in (cpu, rss):
            for name, value in block:
                f.write(f'"{name}" {value}\n')
            f.write("\n\n")
    script = f"""
set terminal svg size 900,{200 + 22 * (len(cpu) + len(rss))} dynamic font "sans,11" background "white"
set output "{path}"
set multiplot layout 2,1
set style fill solid 0.8
set yrange [*:*] reverse
set grid x
unset key
set title "server CPU per message (us), lower is better"
plot "{data}" index 0 using 2:0:(0):2:($0-0.4):($0+0.4):ytic(1) with boxxyerror lc rgb "#2a9d8f"
set title "RSS per idle connection (bytes), 10,000 connections held"
plot "{data}" index 1 using 2:0:(0):2:($0-0.4):($0+0.4):ytic(1) with boxxyerror lc rgb "#e76f51"
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.remove(data)
    return True



def echo_client(host, port):
    """A connection to the echo server under test, without Nagle's delay."""
    client = socket.create_connection((host, int(port)))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def round_trips(clients, rounds, size=64):
    """`rounds` messages of `size` bytes on every client in lockstep: all
    sent, then every echo read whole, before the next round."""
    message = b"m" * size
    for _ in range(rounds):
        for client in clients:
            client.sendall(message)
        for client in clients:
            got = 0
            while got < size:
                got += len(client.recv(size - got))


def callgrind_echoes(binary, connections, rounds, size=64):
    """User-space instructions the server runs (valgrind's callgrind,
    deterministic where CPU time on a shared machine is not) while
    `connections` clients each make `rounds` round trips in lockstep."""
    out = f"/tmp/callgrind-{os.getpid()}.out"
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "serve", "--addr", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    host, port = proc.stdout.readline().split()[-1].rsplit(":", 1)
    clients = [echo_client(host, port) for _ in range(connections)]
    round_trips(clients, rounds, size)
    for client in clients:
        client.close()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    stderr = proc.communicate(timeout=120)[1]
    if os.path.exists(out):
        os.unlink(out)
    for line in stderr.splitlines():
        if "Collected :" in line:
            return int(line.split()[-1])
    raise RuntimeError(f"no instruction count from callgrind: {stderr[-300:]}")


def exact_instructions(echoes=2000):
    """Instructions per echo, before and after: the server's user-space
    share of the work, counted exactly (the kernel's share is the
    syscalls, counted above)."""
    if not shutil.which("valgrind"):
        print("note: valgrind not installed: no instruction count", file=sys.stderr)
        return
    print(f"\nuser-space instructions of the server per echo of 64 B (valgrind --tool=callgrind, "
          f"{echoes} echoes less a run with none):")
    print("| clients | before | after | after/before |\n| --- | --- | --- | --- |")
    for connections in (1, 50):
        per_echo = []
        for binary in (SERVERS[BEFORE][0][0], MIO):
            idle = callgrind_echoes(binary, connections, 0)
            busy = callgrind_echoes(binary, connections, echoes // connections)
            per_echo.append((busy - idle) / echoes)
        print(f"| {connections} | {per_echo[0]:.0f} | {per_echo[1]:.0f} | {per_echo[1] / per_echo[0]:.3f}x |")


if __name__ == "__main__":
    main()
