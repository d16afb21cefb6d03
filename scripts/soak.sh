#!/usr/bin/env bash
# Soak test: many requests at high concurrency against each lab server, then checks that nothing
# was lost or leaked. For each lab server (the harness lists them: `loadtest servers`):
#   - warm up, let the server settle, and read its baseline from /proc: open descriptors, live
#     children, zombies, and PSS summed over its process tree;
#   - run `oha -n REQUESTS -c CONCURRENCY` at n=N (default 20,000 requests, 64 connections, n=100);
#   - check every answer was 2xx, then that once settled there is no zombie, no extra child, the
#     descriptors are back to the baseline and PSS is back near it (within 25% or 8 MiB);
#   - stop the server with SIGTERM and check it exits 0 and leaves no child.
# Prints one line of figures per server and exits non-zero if any check failed.
#
# Environment: REQUESTS, CONCURRENCY, N, SERVERS (default: every lab server, space-separated),
# OHA (the oha binary; default: oha on PATH, else target/tools/bin/oha). Loopback only.
set -euo pipefail

REQUESTS=${REQUESTS:-20000}
CONCURRENCY=${CONCURRENCY:-64}
N=${N:-100}

cd "$(dirname "$0")/.."
root=$(pwd)

oha=${OHA:-}
if [[ -z "$oha" ]]; then
    if command -v oha >/dev/null; then
        oha=$(command -v oha)
    elif [[ -x "$root/target/tools/bin/oha" ]]; then
        oha="$root/target/tools/bin/oha"
    else
        echo "soak.sh: oha is missing; install it with: cargo install oha --locked --version 1.16.0" >&2
        echo "(or run the load-test harness once: it installs oha into target/tools)" >&2
        exit 1
    fi
fi
if ! command -v python3 >/dev/null; then
    echo "soak.sh: python3 is needed to read oha's JSON; install it with: apt-get install python3" >&2
    exit 1
fi

# The lab servers, one a line: name, command, path, description (tab-separated), from the
# harness's debug build (the tests' build made it; built here if not).
if [[ ! -x "$root/target/debug/loadtest" ]]; then
    echo "building the harness (cargo build -p loadtest) to list the lab servers ..." >&2
    cargo build --quiet --locked -p loadtest >&2
fi
catalogue=$("$root/target/debug/loadtest" servers)
SERVERS=${SERVERS:-$(cut -f1 <<<"$catalogue" | tr '\n' ' ')}

echo "building the servers (cargo build --release) ..." >&2
# shellcheck disable=SC2046 # one -p per binary, split on purpose
cargo build --release --locked $(cut -f2 <<<"$catalogue" | cut -d' ' -f1 | sort -u | sed 's/^/-p /') >&2
bin="$root/target/release"

workdir=$(mktemp -d)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT

# The pids of a process's children (every thread's children file).
children_of() {
    cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' || true
}

# "live zombies" counts of a process's children.
child_states() {
    local live=0 zombies=0 pid state
    for pid in $(children_of "$1"); do
        state=$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null || true)
        case "$state" in
            Z) zombies=$((zombies + 1)) ;;
            "") ;;
            *) live=$((live + 1)) ;;
        esac
    done
    echo "$live $zombies"
}

fd_count() {
    find /proc/"$1"/fd -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

# PSS in KiB summed over a process and its children.
tree_pss_kib() {
    local total=0 pid kib
    for pid in "$1" $(children_of "$1"); do
        kib=$(awk '/^Pss:/ {print $2}' /proc/"$pid"/smaps_rollup 2>/dev/null || true)
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}

# Waits until the descriptor count and child count stop changing (over 300 ms).
settle() {
    local last="" now
    for _ in $(seq 1 50); do
        now="$(fd_count "$1") $(child_states "$1")"
        [[ "$now" == "$last" ]] && return 0
        last=$now
        sleep 0.3
    done
}

# The catalogue's line for a lab server: name, command, path, description.
entry() {
    awk -F'\t' -v name="$1" '$1 == name' <<<"$catalogue"
}

start_server() { # name -> sets server_pid, server_url and server_path
    local name=$1 line command
    line=$(entry "$name")
    if [[ -z "$line" ]]; then
        echo "soak.sh: unknown server $name (known: $(cut -f1 <<<"$catalogue" | tr '\n' ' '))" >&2
        exit 1
    fi
    command=$(cut -f2 <<<"$line")
    server_path=$(cut -f3 <<<"$line")
    local args
    read -r -a args <<<"$command"
    RUST_LOG=warn "$bin/${args[0]}" --port 0 "${args[@]:1}" >"$workdir/$name.out" 2>"$workdir/$name.log" &
    server_pid=$!
    line=""
    for _ in $(seq 1 100); do
        line=$(grep -m1 '^listening on ' "$workdir/$name.out" 2>/dev/null || true)
        [[ -n "$line" ]] && break
        sleep 0.1
    done
    if [[ -z "$line" ]]; then
        echo "soak.sh: the $name server did not start; its log:" >&2
        cat "$workdir/$name.log" >&2
        exit 1
    fi
    server_url=${line#listening on }
}

failures=0
check() { # description condition...
    local what=$1
    shift
    if ! "$@"; then
        echo "  FAILED: $what" >&2
        failures=$((failures + 1))
    fi
}

printf '%-16s %-14s %8s %9s %8s %15s %21s %s\n' server 2xx req/s zombies children fds "PSS MiB" exit
for name in $SERVERS; do
    start_server "$name"
    url="$server_url$server_path?n=$N"
    "$oha" -n 500 -c "$CONCURRENCY" --no-tui "$url" >/dev/null # warm-up: buffers pooled, workers up
    settle "$server_pid"
    read -r base_live _ < <(child_states "$server_pid")
    base_fds=$(fd_count "$server_pid")
    base_pss=$(tree_pss_kib "$server_pid")

    "$oha" -n "$REQUESTS" -c "$CONCURRENCY" --no-tui --output-format json "$url" >"$workdir/$name.json"
    read -r ok rps < <(python3 - "$workdir/$name.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
codes = report.get("statusCodeDistribution", {})
ok = sum(count for code, count in codes.items() if code.startswith("2"))
print(ok, round(report["summary"]["requestsPerSec"]))
EOF
)
    settle "$server_pid"
    read -r live zombies < <(child_states "$server_pid")
    fds=$(fd_count "$server_pid")
    pss=$(tree_pss_kib "$server_pid")

    # Once the server exits, a leaked child would belong to init: remember who the children were.
    children_before=$(children_of "$server_pid")
    kill -TERM "$server_pid"
    status=0
    wait "$server_pid" || status=$?
    stopped_pid=$server_pid
    server_pid=""
    sleep 0.5
    left=0
    for pid in $children_before; do
        [[ -e /proc/$pid ]] && left=$((left + 1))
    done

    printf '%-16s %-14s %8s %9s %8s %15s %21s %s\n' "$name" "$ok/$REQUESTS" "$rps" "$zombies" \
        "$base_live->$live" "$base_fds->$fds" \
        "$(awk -v b="$base_pss" -v a="$pss" 'BEGIN {printf "%.1f->%.1f", b/1024, a/1024}')" "$status"
    check "$name: every answer 2xx ($ok of $REQUESTS)" test "$ok" -eq "$REQUESTS"
    check "$name: no zombie after the load ($zombies)" test "$zombies" -eq 0
    check "$name: children back to the baseline ($base_live -> $live)" test "$live" -eq "$base_live"
    check "$name: descriptors back to the baseline ($base_fds -> $fds)" test "$fds" -le "$base_fds"
    check "$name: PSS back near the baseline ($base_pss -> $pss KiB)" \
        test "$pss" -le $((base_pss + base_pss / 4 > base_pss + 8192 ? base_pss + base_pss / 4 : base_pss + 8192))
    check "$name: SIGTERM exits 0 (got $status)" test "$status" -eq 0
    check "$name: no child outlives the server (pid $stopped_pid)" test "$left" -eq 0
done

if [[ "$failures" -gt 0 ]]; then
    echo "soak.sh: $failures check(s) failed" >&2
    exit 1
fi
echo "soak.sh: every check passed" >&2
