#!/usr/bin/env bash
# Side-by-side benchmark: mio-echo serve against a tokio current_thread echo
# server, socat and a Python asyncio server. Builds everything, runs each
# scenario with the servers interleaved (3 repetitions), prints medians with
# ratios, and writes docs/benchmarks.md and docs/benchmarks.svg.
#   scripts/bench-compare.sh [--reps N] [--duration SECS] [--only SCENARIO] [--no-write] [--baseline BIN]
# With --baseline, only this build and BIN run (interleaved): the before/after
# table for a change to the hot path.
set -euo pipefail
cd "$(dirname "$0")/.."

# Peers and tools from Debian's packages when missing (skipped with a note if that fails).
missing=()
command -v socat >/dev/null || missing+=(socat)
command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
command -v taskset >/dev/null || missing+=(util-linux)
command -v perf >/dev/null || missing+=(linux-perf)
if ((${#missing[@]})) && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1 \
        || echo "note: could not install ${missing[*]}; those parts are skipped" >&2
fi

cargo build --release --quiet
# The tokio peer is its own crate so that the main build never compiles tokio.
(cd benches/tokio-echo && CARGO_TARGET_DIR=../../target/bench-peers cargo build --release --quiet)

ulimit -n "$(ulimit -Hn)"
exec python3 scripts/bench_compare.py "$@"
