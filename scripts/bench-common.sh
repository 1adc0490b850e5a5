# Sourced by the benchmark scripts: builds the release binary, and gives a
# scratch folder, pinning, and a fresh server per run that is always stopped.
#   bin          the release binary
#   work         a scratch folder, removed on exit (with any server still up)
#   pinned CPU COMMAND...   exec COMMAND pinned to CPU where there are two
#                           cores (`any`: not pinned); run it in a subshell
#   start_server CPU [SERVE FLAGS...]   sets $addr and $server_pid
#   stop_server

cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/mio-echo
work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

pinned() {
    if [ "$(nproc)" -ge 2 ] && [ "$1" != any ]; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi
}

start_server() {
    : >"$work/server.err"
    # exec in the subshell: $! is the server itself, not a wrapper.
    (pinned "$1" "$bin" serve --addr 127.0.0.1:0 "${@:2}") &>"$work/server.err" &
    server_pid=$!
    addr=
    for _ in $(seq 100); do
        addr=$(grep -oE '127\.0\.0\.1:[0-9]+' "$work/server.err" | head -1 || true)
        [ -n "$addr" ] && return
        sleep 0.05
    done
    echo "server did not start: $(cat "$work/server.err")" >&2
    exit 1
}

stop_server() {
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}
