#!/usr/bin/env bash
# The load generator against tcpkali at the same open-loop work: CPU and
# voluntary context switches per message, bench's send lag and pacing, and
# the floor under any sleeping pacer (benches/c-timer-floor).
# Finds tcpkali on PATH, in $TCPKALI or at ../shared/tools/tcpkali; says so
# and skips when there is none.
#   scripts/bench-loadgen.sh [--reps N] [--duration SECS] [--rates 5000,20000,50000] [--grids 0.001,0.002]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v taskset >/dev/null || (apt-get install -y -qq util-linux >/dev/null 2>&1 || true)
cargo build --release --quiet
mkdir -p target/bench-peers
if command -v cc >/dev/null; then
    cc -O2 -Wall -o target/bench-peers/timer-floor benches/c-timer-floor/timer_floor.c
else
    echo "note: no C compiler: the timer floor column stays empty" >&2
fi
ulimit -n "$(ulimit -Hn)"
exec python3 scripts/bench_loadgen.py "$@"
