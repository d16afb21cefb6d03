#!/usr/bin/env bash
# The 40 x 60 MB held-upload run against servers built from an older commit, driven by this
# checkout's harness. Usage: before.sh OLD_RELEASE_DIR OUT_DIR
#   git worktree add /tmp/before 5b6d5ff^ && (cd /tmp/before && CARGO_TARGET_DIR=/tmp/before-target cargo build --release -p app_threading -p app_multiprocessing)
#   docs/runs/2026-12-03-uploads/before.sh /tmp/before-target/release /tmp/before-runs
set -euo pipefail
old=$1 out=$2 port=${PORT:-18101}
run() { # server name, then its command
  local name=$1; shift
  "$@" --port "$port" >"$out/$name-server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  target/release/loadtest uploads --url "http://127.0.0.1:$port" --pid "$pid" --servers "$name" \
    --clients 40 --out "$out/before-40-$name" | tail -3
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
mkdir -p "$out"
run threading "$old/app_threading"
run multiprocessing "$old/app_multiprocessing"
run prefork "$old/app_multiprocessing" --strategy prefork
