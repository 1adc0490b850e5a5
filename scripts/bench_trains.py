"""UDP trains against single datagrams, the same server, in one run:
datagrams per server CPU-second when `mio-echo bench --mode udp` sends
trains of 16 x 1,400 B (`--train 16`: one `UDP_SEGMENT` send a train,
replies taken whole with `UDP_GRO`; the server takes each train whole and
answers it in one send) and when it sends the same datagrams one a send.
Server pinned to CPU 0, bench to CPU 1, interleaved, a fresh server per run,
medians; server CPU is its user + system time over the measured window.

8 sources: 128 datagrams in flight with trains, 179 KB, under the default
socket receive buffer (212,992 bytes); more would be dropped by the kernel
before the server sees them, which bench reports as loss.

    python3 scripts/bench_trains.py [--reps N] [--duration SECS]
"""

import argparse
import statistics
import sys

import bench_compare as common
from bench_compare import fmt

SIZE, TRAIN, SOURCES = 1400, 16, 8


def one_run(train, duration):
    server = common.Server("mio-echo udp")
    try:
        args = ["--mode", "udp", "-c", str(SOURCES), "-s", str(SIZE), "--train", str(train)]
        report = common.run_bench(server, args, duration, True)
    finally:
        server.stop()
    cpu = report["cpu"].get("server_us_per_message")
    return {
        "rate": report["messages_per_s"],
        "server_us": cpu,
        "per_cpu_s": 1e6 / cpu if cpu else None,
        "loss": report["udp"]["loss"],
        "corrupted": report["udp"]["corrupted"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    opts = parser.parse_args()
    common.SERVERS["mio-echo udp"] = (
        [common.MIO, "serve", "--addr", "127.0.0.1:0", "--udp-only", "--udp-rate", "1e9"], "prints", True)
    names = {"single datagrams": 1, f"trains of {TRAIN}": TRAIN}
    results = {}
    common.interleave("udp 1400 B", list(names), opts.reps, lambda name: one_run(names[name], opts.duration), results)
    rows = {name: {k: statistics.median([r[k] for r in runs if r[k] is not None]) for k in runs[0]}
            for (_, name), runs in results.items()}
    single = rows["single datagrams"]["per_cpu_s"]
    print(f"mio-echo serve --udp-only; bench --mode udp -c {SOURCES} -s {SIZE}; medians of {opts.reps} "
          f"interleaved runs of {opts.duration:g} s")
    print("| bench sends | datagrams/s | server CPU us/datagram | datagrams per server CPU-second | vs single | loss |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        print(f"| {name} | {fmt(row['rate'], 0)} | {fmt(row['server_us'], 2)} | {fmt(row['per_cpu_s'], 0)} | "
              f"{row['per_cpu_s'] / single:.2f}x | {row['loss'] * 100:.3f}% |")
    ratio = rows[f"trains of {TRAIN}"]["per_cpu_s"] / single
    print(f"\ntarget: trains at least 3x the datagrams per server CPU-second: {ratio:.2f}x, "
          + ("met" if ratio >= 3 else "not met"))


if __name__ == "__main__":
    sys.exit(main())
