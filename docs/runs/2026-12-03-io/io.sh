#!/usr/bin/env bash
# io at n=100, wait_ms=100, workers=4, 64 connections, each lab server; and the pools at 16.
# Usage: docs/runs/2026-12-03-io/io.sh [OUT] from the repository's root, after
# cargo build --release --workspace --locked; oha on PATH. Writes OUT/io-NAME.json (default /tmp/io-run).
set -u
out=${1:-/tmp/io-run}
mkdir -p "$out"
bin=target/release
run() { # name binary path args...
  local name=$1 binary=$2 path=$3; shift 3
  RUST_LOG=warn $bin/$binary --port 0 "$@" > $out/io-$name.out 2>$out/io-$name.log &
  local pid=$!
  for _ in $(seq 50); do grep -q "listening on" $out/io-$name.out && break; sleep 0.1; done
  local url; url=$(sed -n 's/^listening on //p' $out/io-$name.out)
  oha -z 10s -c 64 --no-tui --output-format json "$url$path?n=100&workers=4&work=io&wait_ms=100" > $out/io-$name.json
  python3 - "$name" $out/io-$name.json <<'PY'
import json,sys
r=json.load(open(sys.argv[2]))
s=r["summary"]; codes=r.get("statusCodeDistribution",{})
print(f"{sys.argv[1]:28s} req/s {s['requestsPerSec']:8.1f}  p50 {r['latencyPercentiles']['p50']*1000:7.1f} ms  p99 {r['latencyPercentiles']['p99']*1000:7.1f} ms  codes {codes}")
PY
  kill -TERM $pid; wait $pid 2>/dev/null
}
run threading app_threading /threading
run thread-pool app_threading /threading --strategy pool
run thread-pool-16 app_threading /threading --strategy pool --pool-threads 16
run multiprocessing app_multiprocessing /multiprocessing
run multiprocessing-server app_multiprocessing /multiprocessing --fork-from server
run prefork app_multiprocessing /multiprocessing --strategy prefork
run prefork-16 app_multiprocessing /multiprocessing --strategy prefork --pool-workers 16
