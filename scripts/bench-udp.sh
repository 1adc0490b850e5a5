#!/usr/bin/env bash
# Side-by-side UDP benchmark: mio-echo serve --udp-only against the C limit
# (benches/c-udp-echo: recvmmsg/sendmmsg and nothing else), the same C loop
# asleep in epoll_wait (c-udp-echo ADDR epoll: what the readiness model costs)
# and a tokio UdpSocket echo server. Prints a table of medians and ratios,
# with paired ratios (each repetition's runs side by side), and writes the
# UDP section of docs/benchmarks.md.
#   scripts/bench-udp.sh [--reps N] [--duration SECS] [--no-write]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v taskset >/dev/null || (apt-get install -y -qq util-linux >/dev/null 2>&1 || true)
cargo build --release --quiet
(cd benches/tokio-echo && CARGO_TARGET_DIR=../../target/bench-peers cargo build --release --quiet)
# The C limit: skipped, with a note, where no C compiler is installed.
if command -v cc >/dev/null; then
    mkdir -p target/bench-peers
    cc -O2 -Wall -o target/bench-peers/c-udp-echo benches/c-udp-echo/udp_echo.c
fi
exec python3 scripts/bench_udp.py "$@"
