#!/usr/bin/env bash
# Is `mio-echo bench` cheaper per message than the server it drives?
#
# Issue 3's target: at 1,000 connections x 512 B, on one thread, the load
# generator's CPU time per message is no more than the server's. Each run
# starts a fresh `mio-echo serve` and runs `mio-echo bench --server-pid`,
# which reads both CPU times over the same window. Server and bench are pinned
# one core each, and the cores swap every round so that neither side keeps the
# quieter one; the variants (batched sends, one send(2) each) are interleaved
# in a rotating order. Prints every run, then medians per variant.
#
# usage: scripts/bench-efficiency.sh [ROUNDS] [CONNECTIONS] [SIZE] [SECONDS]
set -euo pipefail

rounds=${1:-8}
connections=${2:-1000}
size=${3:-512}
seconds=${4:-3}

. "$(dirname "$0")/bench-common.sh"

variants=("batched" "one-send-each")
flags_batched=()
flags_one_send_each=(--no-io-uring)

run_once() { # variant server_cpu bench_cpu
    local variant=$1
    start_server "$2"
    local -n flags="flags_${variant//-/_}"
    (pinned "$3" "$bin" bench --addr "$addr" --connections "$connections" --size "$size" \
        --warmup 1 --duration "$seconds" --server-pid "$server_pid" --json "${flags[@]}") \
        >"$work/report.json"
    stop_server
    python3 - "$variant" "$work/report.json" >>"$work/runs.txt" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
c = r["cpu"]
errors = sum(r["errors"].values())
print(sys.argv[1], c["client_us_per_message"], c["server_us_per_message"], r["messages_per_s"], errors, r["io_uring_sends"])
PY
}

echo "pingpong ${connections} x ${size} B, ${seconds} s after 1 s warm-up, ${rounds} rounds; cores swap every round"
for round in $(seq 0 $((rounds - 1))); do
    if [ $((round % 2)) = 0 ]; then cores=(0 1); else cores=(1 0); fi
    for k in "${!variants[@]}"; do
        variant=${variants[$(((k + round) % ${#variants[@]}))]}
        run_once "$variant" "${cores[0]}" "${cores[1]}"
        tail -1 "$work/runs.txt" | awk -v s="${cores[0]}" '{printf "  %-14s server on cpu %s: client %.2f us/msg, server %.2f us/msg, ratio %.3f, %.0f msg/s, errors %d\n", $1, s, $2, $3, $2/$3, $4, $5}'
    done
done

python3 - "$work/runs.txt" <<'PY'
import statistics as st, sys
runs = {}
for line in open(sys.argv[1]):
    v, client, server, rate, errors, batched = line.split()
    runs.setdefault(v, []).append((float(client), float(server), float(rate), int(errors), batched))
print()
print(f"{'variant':14} {'runs':>4} {'client us/msg':>13} {'server us/msg':>13} {'ratio median':>12} {'ratio range':>13} {'runs <= 1':>9} {'msg/s':>8} {'errors':>6}")
for v, rows in runs.items():
    ratios = [c / s for c, s, *_ in rows]
    print(f"{v:14} {len(rows):>4} {st.median(r[0] for r in rows):>13.2f} {st.median(r[1] for r in rows):>13.2f} "
          f"{st.median(ratios):>12.3f} {min(ratios):>6.3f}-{max(ratios):<6.3f} {sum(r <= 1 for r in ratios):>5}/{len(rows):<3} "
          f"{st.median(r[2] for r in rows):>8.0f} {sum(r[3] for r in rows):>6}")
if "batched" in runs and any(r[4] != "True" for r in runs["batched"]):
    print("note: io_uring was refused here, so 'batched' ran with one send(2) per message")
print("ratio = the load generator's CPU per message / the server's (issue 3 target: <= 1.0)")
PY
