"""Side-by-side UDP benchmark of `mio-echo serve --udp-only` (recvmmsg and
sendmmsg, 32 datagrams a call) against a tokio `UdpSocket` echo server
(benches/tokio-echo/src/bin/tokio-udp-echo.rs: one datagram a call). Run
through scripts/bench-udp.sh.

The load is `mio-echo bench --mode udp`: 64 sources on loopback, each with
one datagram in flight, every reply checked. Servers are pinned to CPU 0
and the load to CPU 1, interleaved, a fresh server per run; figures are
medians. The load generator is the slower side on two cores, so the
comparison is the server's CPU per datagram: datagrams per second one fully
busy server core would echo. mio-echo's per-source guard is lifted
(`--udp-rate`): all 64 sources share 127.0.0.1. Writes the UDP section of
docs/benchmarks.md (between the `<!-- udp -->` markers).
"""

import argparse
import datetime
import os
import sys

import bench_compare as common
from bench_compare import ROOT, MIO, fmt, median

TOKIO_UDP = os.path.join(ROOT, "target", "bench-peers", "release", "tokio-udp-echo")
# benches/c-udp-echo, built by bench-udp.sh: the limit, what is left when
# the echo itself costs nothing.
C_UDP = os.path.join(ROOT, "target", "bench-peers", "c-udp-echo")
SERVERS = {
    "mio-echo": ([MIO, "serve", "--addr", "127.0.0.1:0", "--udp-only", "--udp-rate", "1e9"], "prints", True),
    "tokio": ([TOKIO_UDP, "127.0.0.1:0"], "prints", True),
    "C limit": ([C_UDP, "127.0.0.1:0"], "prints", True),
    # The same C loop asleep in epoll_wait instead of in recvmmsg, as any
    # readiness-based server sleeps: what that model itself costs.
    "C epoll": ([C_UDP, "127.0.0.1:0", "epoll"], "prints", True),
}
PEERS = ["mio-echo", "C limit", "C epoll", "tokio"]
SCENARIOS = [
    ("udp 64 B", ["--mode", "udp", "-c", "64", "-s", "64"], PEERS, "msg"),
    ("udp 1400 B", ["--mode", "udp", "-c", "64", "-s", "1400"], PEERS, "msg"),
]
# Datagrams per server CPU-second against the C limit (issue 21).
TARGETS = {"udp 64 B": 0.97, "udp 1400 B": 0.97}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/")
    opts = parser.parse_args()
    common.SERVERS.update(SERVERS)
    missing = [name for name in PEERS if not os.path.exists(SERVERS[name][0][0])]
    for name in missing:
        print(f"note: {name} skipped: {SERVERS[name][0][0]} not built", file=sys.stderr)
    results = {}
    for scenario in SCENARIOS:
        label, _, names, _ = scenario
        names = [name for name in names if name not in missing]

        def run_one(name, scenario=scenario):
            server = common.Server(name)
            try:
                report = common.run_bench(server, scenario[1], opts.duration, server.pinned)
            finally:
                server.stop()
            figures = common.extract(report, "msg")
            udp = report.get("udp") or {}
            figures["loss"] = udp.get("loss")
            figures["per_core"] = 1e6 / figures["cpu"] if figures.get("cpu") else None
            return figures

        common.interleave(label, names, opts.reps, run_one, results)

    lines = [
        "| scenario | server | datagrams/s | p50 us | p99 us | server CPU us/datagram | datagrams/s per server core "
        "| vs C limit | vs tokio | loss | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    checks = []
    for label, _, names, _ in SCENARIOS:
        names = [name for name in names if name not in missing]
        keys = ("rate", "p50", "p99", "cpu", "per_core", "loss")
        rows = {n: {k: median([r.get(k) for r in results[(label, n)]]) for k in keys} for n in names}
        limit_rate = rows.get("C limit", {}).get("per_core")
        tokio_rate = rows.get("tokio", {}).get("per_core")
        for name in names:
            row = rows[name]
            ratio = row["per_core"] / limit_rate if row["per_core"] and limit_rate else None
            vs_tokio = row["per_core"] / tokio_rate if row["per_core"] and tokio_rate else None
            errors = sum(r["errors"] for r in results[(label, name)])
            loss = f"{row['loss'] * 100:.3f}%" if row["loss"] is not None else "-"
            lines.append(
                f"| {label} | {name} | {fmt(row['rate'], 0)} | {fmt(row['p50'])} | {fmt(row['p99'])} | "
                f"{fmt(row['cpu'], 2)} | {fmt(row['per_core'], 0)} | {fmt(ratio, 2)}x | {fmt(vs_tokio, 2)}x | {loss} | {errors} |"
            )
            if name in ("mio-echo", "C epoll"):
                limit = TARGETS[label]
                pair, spread = paired_ratio(results, label, name, "C limit")
                verdict = "-" if pair is None else ("met" if pair >= limit else f"missed by {1 - pair / limit:.0%}")
                versus_epoll = "-"
                if name == "mio-echo" and (label, "C epoll") in results:
                    against_epoll, epoll_spread = paired_ratio(results, label, name, "C epoll")
                    versus_epoll = f"{fmt(against_epoll, 2)}x{epoll_spread}"
                if name != "mio-echo":
                    verdict = "(reference)"
                checks.append(
                    f"| {name}: datagrams/s per server core vs the C limit, {label} | {fmt(ratio, 2)}x | {fmt(pair, 2)}x"
                    f"{spread} | {versus_epoll} | >= {limit}x | {verdict} |"
                )
    table = "\n".join(lines)
    targets = (
        "| target | ratio of medians | median of paired ratios (range) | mio-echo vs C epoll, paired | target "
        "| verdict (paired) |\n| --- | --- | --- | --- | --- | --- |\n" + "\n".join(checks)
    )
    print(table)
    print(targets)
    if not opts.no_write:
        write_docs(table, targets, opts)


def paired_ratio(results, label, name, against):
    """The median over repetitions of `name`'s datagrams per server core over
    `against`'s in the same repetition, and their range. The two runs of a
    repetition were next to each other in time, so this sees less of the
    machine's drift than the ratio of the medians."""
    ratios = sorted(
        mine["per_core"] / other["per_core"]
        for mine, other in zip(results[(label, name)], results.get((label, against), []))
        if mine.get("per_core") and other.get("per_core")
    )
    spread = f" ({ratios[0]:.2f}-{ratios[-1]:.2f})" if ratios else ""
    return median(ratios), spread


def write_docs(table, targets, opts):
    command = "scripts/bench-udp.sh" + (f" --reps {opts.reps}" if opts.reps != 3 else "")
    command += f" --duration {opts.duration:g}" if opts.duration != 3.0 else ""
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        "<!-- udp -->\n## UDP\n\n"
        f"Generated by `{command}` on {generated}. Machine: {common.machine()}. "
        "`mio-echo serve --udp-only` (recvmmsg/sendmmsg, 32 datagrams a call, behind its guards) against the C "
        "limit (`benches/c-udp-echo`: one blocking socket, `recvmmsg` then `sendmmsg`, 32 a call, nothing else), "
        "the same C loop asleep in `epoll_wait` on a non-blocking socket instead (`C epoll`: how any "
        "readiness-based server sleeps, mio-echo's loop without its guards) "
        "and a tokio `UdpSocket` echo server (`benches/tokio-echo`, `tokio-udp-echo`: `recv_from` then `send_to`, "
        "`current_thread`). "
        "Load: `mio-echo bench --mode udp -c 64` (64 sources on 127.0.0.1, one datagram in flight each, every "
        "reply checked). Server pinned to CPU " + common.SERVER_CPU + ", bench to CPU " + common.BENCH_CPU
        + f"; medians of {opts.reps} interleaved runs of {opts.duration:g} s after 1 s warm-up. Datagrams per "
        "second per server core: 1 / server CPU per datagram (the load generator, not the server, is the "
        "limit on two cores). mio-echo runs with `--udp-rate 1e9`: its per-source guard would otherwise "
        "hold the 64 sources, all on one address, to 1,000 answers a second. The paired ratio is the median over "
        "repetitions of the ratio of two runs next to each other in time.\n\n"
        "### Results\n\n" + table + "\n\n### Targets\n\n" + targets + "\n<!-- /udp -->\n"
    )
    common.write_section("udp", section)


if __name__ == "__main__":
    main()
