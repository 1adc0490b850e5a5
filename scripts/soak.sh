#!/usr/bin/env bash
# Soak: one mio-echo server under mixed, misbehaving load for SECS seconds
# (default 600), every echoed byte checked. Not part of CI.
# Prints one line: bytes echoed, corruptions, crashes, RSS start/peak/end, fds start/end.
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_SECS="${1:-600}" cargo test --release --test it -- --ignored --nocapture soak 2>&1 | grep -E '^soak|test result|panicked'
