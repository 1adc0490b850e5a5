"""UDP trains against single datagrams, the same server: datagrams per
server CPU-second when the client sends trains of 16 x 1,400 B with
UDP_SEGMENT (the server takes each whole with UDP_GRO and answers it in one
send) and when it sends the same datagrams one by one. A client sending trains
takes its replies whole too (UDP_GRO), as a load generator would; one that
does not gets them cut into datagrams on delivery, in the server's context
on loopback. Server pinned to CPU
0, this client to CPU 1, interleaved, a fresh server per run, medians.

The client is Python: slower than the server, so the server is never the
bottleneck, and what is compared is the server's own CPU time per datagram
(user + system from /proc), not the rate the client reaches.

    python3 scripts/bench_trains.py [--reps N] [--datagrams N]
"""

import argparse
import os
import socket
import statistics
import struct
import sys

import bench_compare as common

SOL_UDP, UDP_SEGMENT, UDP_GRO = 17, 103, 104
SIZE, TRAIN = 1400, 16


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(trains, datagrams):
    server = common.Server("mio-echo udp")
    try:
        host, port = server.addr.rsplit(":", 1)
        target = (host, int(port))
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        client.settimeout(2)
        if trains:
            # As a load generator sending trains would: replies whole too.
            client.setsockopt(SOL_UDP, UDP_GRO, 1)
        payload = bytes(SIZE * TRAIN)
        before = cpu_seconds(server.pid)
        back = 0
        for _ in range(datagrams // TRAIN):
            if trains:
                client.sendmsg([payload], [(SOL_UDP, UDP_SEGMENT, struct.pack("H", SIZE))], 0, target)
            else:
                for i in range(TRAIN):
                    client.sendto(payload[i * SIZE:(i + 1) * SIZE], target)
            got = 0
            while got < TRAIN:
                length = len(client.recv(65536))
                got += max(1, -(-length // SIZE))
                back += max(1, -(-length // SIZE))
        used = cpu_seconds(server.pid) - before
        return {"echoed": back, "server_cpu_s": used, "per_cpu_s": back / used if used else None}
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--datagrams", type=int, default=200_000)
    opts = parser.parse_args()
    os.sched_setaffinity(0, {int(common.BENCH_CPU)})
    common.SERVERS["mio-echo udp"] = (
        [common.MIO, "serve", "--addr", "127.0.0.1:0", "--udp-only", "--udp-rate", "1e9"], "prints", True)
    results = {}
    common.interleave("udp 1400 B", ["single datagrams", f"trains of {TRAIN}"], opts.reps,
                      lambda name: one_run(name.startswith("trains"), opts.datagrams), results)
    rows = {name: statistics.median([r["per_cpu_s"] for r in runs if r["per_cpu_s"]]) for (_, name), runs in results.items()}
    single, train = rows["single datagrams"], rows[f"trains of {TRAIN}"]
    print(f"mio-echo serve --udp-only, {SIZE} B datagrams, {opts.datagrams} per run, medians of {opts.reps} interleaved runs")
    print("| client sends | datagrams echoed per server CPU-second | vs single |\n| --- | --- | --- |")
    print(f"| single datagrams | {single:,.0f} | 1.00x |")
    print(f"| trains of {TRAIN} (UDP_SEGMENT) | {train:,.0f} | {train / single:.2f}x |")


if __name__ == "__main__":
    sys.exit(main())
