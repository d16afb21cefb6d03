#!/usr/bin/env bash
# One upload's peak memory: a fresh server's VmHWM before and after one POST of BODY.
# Usage: peak.sh SERVER_BINARY ENDPOINT BODY_FILE   (e.g. target/release/app_threading /threading body.json)
# A 64 MB body of two 2000 x 2000 matrices of seven-digit integers:
#   python3 -c 'import random; r=random.Random(1); m=lambda: "["+",".join("["+",".join(str(r.randrange(1000000,9999999)) for _ in range(2000))+"]" for _ in range(2000))+"]"; print("{\"a\":"+m()+",\"b\":"+m()+"}", end="")' > body.json
set -euo pipefail
bin=$1 endpoint=$2 body=$3 port=${PORT:-18099}
"$bin" --port "$port" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
hwm() { awk '/VmHWM/{print $2}' "/proc/$pid/status"; }
before=$(hwm)
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
  --data-binary "@$body" "http://127.0.0.1:$port$endpoint")
after=$(hwm)
echo "$bin $endpoint: status $code, VmHWM ${before} -> ${after} kB (+$(((after - before) / 1024)) MiB)"
