#!/usr/bin/env bash
# Side-by-side TLS benchmark: mio-echo serve --tls-cert against a tokio +
# tokio-rustls echo server and socat's OpenSSL echo server, one certificate
# for all. Prints a table of medians and ratios and writes the TLS section
# of docs/benchmarks.md.
#   scripts/bench-tls.sh [--reps N] [--duration SECS] [--only SCENARIO] [--no-write]
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v socat >/dev/null || missing+=(socat)
command -v openssl >/dev/null || missing+=(openssl)
command -v taskset >/dev/null || missing+=(util-linux)
if ((${#missing[@]})) && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1 \
        || echo "note: could not install ${missing[*]}; those parts are skipped" >&2
fi

cargo build --release --quiet
(cd benches/tokio-echo && CARGO_TARGET_DIR=../../target/bench-peers cargo build --release --quiet)

ulimit -n "$(ulimit -Hn)"
exec python3 scripts/bench_tls.py "$@"
