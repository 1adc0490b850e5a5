#!/usr/bin/env bash
# Is the open loop accurate and cheap, and does churn measure the server?
#
# Issue 11's targets, each measured side by side with a fresh server per run
# (server and bench pinned one core each where there are two, cores swapped
# every round), and printed as a table of medians and ratios:
#   pacing:  `--rate R` at 20,000 and 100,000 msg/s against `mio-echo serve`:
#            achieved / target, send-lag p99, and the client's CPU per message
#            against closed-loop pingpong's at about the same rate (the
#            connection count whose closed-loop rate is nearest R, found by a
#            calibration pass and shown);
#   churn:   the client's CPU per cycle against the server's, at 1 and at
#            THREADS bench threads and server reactors (default 2 here; 8 on
#            a machine with 16 cores).
#
# usage: scripts/bench-open-loop.sh [ROUNDS] [SECONDS] [THREADS]
set -euo pipefail

rounds=${1:-5}
seconds=${2:-3}
threads=${3:-2}

. "$(dirname "$0")/bench-common.sh"

# bench CPU LABEL [BENCH FLAGS...]: one run against a fresh server, one line in runs.txt.
bench() {
    local cpu=$1 label=$2 server_cpu=any
    [ "$cpu" = 0 ] && server_cpu=1
    [ "$cpu" = 1 ] && server_cpu=0
    start_server "$server_cpu" "${serve_flags[@]}"
    (pinned "$cpu" "$bin" bench --addr "$addr" --warmup 1 --duration "$seconds" \
        --server-pid "$server_pid" --json "${@:3}") >"$work/report.json"
    stop_server
    python3 - "$label" "$work/report.json" >>"$work/runs.txt" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
c, rate, lag = r["cpu"], r.get("rate") or {}, r.get("send_lag") or {}
errors = sum(r["errors"].values())
per = c["client_us_per_cycle"] if r["mode"] == "churn" else c["client_us_per_message"]
server = c["server_us_per_cycle"] if r["mode"] == "churn" else c["server_us_per_message"]
done = r["connections_per_s"] if r["mode"] == "churn" else r["messages_per_s"]
print(sys.argv[1], per, server, done, rate.get("target", 0), rate.get("achieved", 0), lag.get("p99_us", 0), errors)
PY
    tail -1 "$work/runs.txt"
}

serve_flags=()
echo "calibration: closed-loop pingpong rate per connection count (1 s each, pinned as the runs are)"
declare -A closed_for
for target in 20000 100000; do
    best=1; best_gap=
    for c in 1 2 3 4 5 6 7 8 10 12; do
        start_server 0
        rate=$(pinned 1 "$bin" bench --addr "$addr" --connections "$c" --duration 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages_per_s"])')
        stop_server
        gap=$(python3 -c "print(abs($rate - $target))")
        if [ -z "$best_gap" ] || python3 -c "import sys; sys.exit(0 if $gap < $best_gap else 1)"; then best=$c; best_gap=$gap; fi
    done
    closed_for[$target]=$best
    echo "  $target msg/s: closed loop with $best connections"
done

for round in $(seq 0 $((rounds - 1))); do
    cpu=$(( round % 2 ))
    serve_flags=()
    for target in 20000 100000; do
        bench "$cpu" "open-$target" --rate "$target"
        bench "$cpu" "closed-$target" --connections "${closed_for[$target]}"
    done
    bench "$cpu" "churn-1" --mode churn
    serve_flags=(--threads "$threads")
    bench any "churn-$threads" --mode churn --threads "$threads"
done

python3 - "$work/runs.txt" "$threads" <<'PY'
import statistics as st, sys
rows = [line.split() for line in open(sys.argv[1])]
def col(label, i):
    return [float(r[i]) for r in rows if r[0] == label]
med = lambda label, i: st.median(col(label, i))
print()
print("| pacing target | achieved / target | send-lag p99 | client us/msg open | closed (its rate) | open / closed |")
print("| --- | --- | --- | --- | --- | --- |")
for target in ("20000", "100000"):
    o, c = f"open-{target}", f"closed-{target}"
    achieved = [a / t for a, t in zip(col(o, 5), col(o, 4))]
    print(f"| {int(target):,} msg/s | {st.median(achieved):.4f} | {med(o, 6):.0f} us | {med(o, 1):.2f} | "
          f"{med(c, 1):.2f} ({med(c, 3):,.0f} msg/s) | {med(o, 1) / med(c, 1):.2f} |")
print()
print("| churn | cycles/s | client us/cycle | server us/cycle | client / server |")
print("| --- | --- | --- | --- | --- |")
for label, name in (("churn-1", "1 thread"), (f"churn-{sys.argv[2]}", f"{sys.argv[2]} threads")):
    ratios = [a / b for a, b in zip(col(label, 1), col(label, 2))]
    print(f"| {name} | {med(label, 3):,.0f} | {med(label, 1):.1f} | {med(label, 2):.1f} | {st.median(ratios):.2f} |")
errors = sum(int(r[7]) for r in rows)
print(f"\n{len(rows)} runs, {errors} errors")
PY
