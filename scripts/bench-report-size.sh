#!/usr/bin/env bash
# The HTML report's size and render time: a real 1-minute run with 1 s
# intervals, then the same report with its intervals repeated to a
# 10-minute run (600) and to 10,000 points, each rendered by `bench report`
# and loaded in headless Chromium (median of 3 loads, network off).
#   scripts/bench-report-size.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { echo "note: no chromium (apt-get install chromium): skipped" >&2; exit 0; }
cargo build --release --quiet
exec python3 scripts/bench_report_size.py
