#!/usr/bin/env bash
# ApacheBench against both lab servers: the seed lab's step 8, made real.
#
# Builds the release servers (a no-op when current), starts both on free loopback ports, waits for
# GET /healthz, runs `ab -l -n 100 -c 10` and `ab -l -n 200 -c 20` against /threading and
# /multiprocessing, saves ab's output to results/ab/{threading,multiprocessing}_ab.txt, prints a
# summary table, and stops exactly the servers it started. Exits non-zero if any run had failed
# requests or non-2xx answers.
#
# Why `-l`: the JSON answers differ in length from one request to the next, and plain ab counts
# every answer whose length differs from the first one as a "Failed request (Length)".
# `-n 200` is a smoke test, not a measurement: use `loadtest` for numbers with their spread.

set -euo pipefail

readonly LOADS=("-n 100 -c 10" "-n 200 -c 20")
readonly START_TIMEOUT_SECS=30 # for the `listening on` line (a first start may be slow)
readonly HEALTH_TIMEOUT_SECS=30
readonly STOP_GRACE_SECS=5

usage() {
  cat <<'EOF'
Usage: scripts/run_ab.sh [--out DIR]

Runs ApacheBench (`ab -l -n 100 -c 10` and `ab -l -n 200 -c 20`) against app_threading's
/threading and app_multiprocessing's /multiprocessing, both started here on free loopback ports
(release builds, rebuilt first if the source changed), and stops them afterwards.

Options:
  --out DIR   where threading_ab.txt and multiprocessing_ab.txt go (default: results/ab under
              the repository root; a relative DIR is taken from the current directory)
  -h, --help  this help

Exits 0 only if every run completed with 0 failed requests and 0 non-2xx answers.
Needs ab (apt-get install apache2-utils, or brew install httpd) and curl.
EOF
}

die() {
  echo "run_ab.sh: $*" >&2
  exit 1
}

# --- options -------------------------------------------------------------------------------------

out_dir=""
while (($# > 0)); do
  case "$1" in
    --out)
      (($# >= 2)) || die "--out needs a directory"
      out_dir=$2
      shift 2
      ;;
    --out=*)
      out_dir=${1#--out=}
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      die "unknown argument: $1"
      ;;
  esac
done
if [[ -n $out_dir && $out_dir != /* ]]; then
  out_dir="$PWD/$out_dir"
fi

# --- tools, before starting anything -------------------------------------------------------------

if ! command -v ab >/dev/null 2>&1; then
  printf '%s\n' "run_ab.sh: ApacheBench (ab) is not installed. It comes with:" \
    "  apt-get install apache2-utils   (Debian, Ubuntu)" \
    "  brew install httpd              (macOS)" >&2
  exit 1
fi
command -v curl >/dev/null 2>&1 || die "curl is not installed (apt-get install curl); it checks /healthz"

cd "$(dirname "$0")/.."
out_dir=${out_dir:-results/ab}
bin_dir="${CARGO_TARGET_DIR:-target}/release"

# Always ask cargo: a no-op when the binaries are current, and never a stale server measured.
if command -v cargo >/dev/null 2>&1; then
  echo "== building the release servers (cargo build --release)"
  cargo build --release --quiet -p app_threading -p app_multiprocessing
elif [[ ! -x $bin_dir/app_threading || ! -x $bin_dir/app_multiprocessing ]]; then
  die "no cargo to build the servers, and no release binaries in $bin_dir"
fi

# --- servers: started here, stopped by PID on any exit ---------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/run_ab.XXXXXX")
started_pids=()

stop_servers() {
  local pid deadline
  for pid in "${started_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  deadline=$((SECONDS + STOP_GRACE_SECS))
  for pid in "${started_pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "run_ab.sh: server $pid still running ${STOP_GRACE_SECS}s after SIGTERM; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  started_pids=()
  rm -rf "$work"
}
trap stop_servers EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_server NAME: starts $bin_dir/NAME on a free loopback port, waits for its `listening on`
# line and /healthz, and sets `address` to its HOST:PORT.
start_server() {
  local name=$1 pid deadline
  RUST_LOG=${RUST_LOG:-warn} "$bin_dir/$name" --host 127.0.0.1 --port 0 \
    >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
  started_pids+=("$pid")

  address=""
  deadline=$((SECONDS + START_TIMEOUT_SECS))
  while [[ -z $address ]]; do
    address=$(sed -n '/^listening on http:\/\//{s|^listening on http://\([^/ ]*\).*|\1|p;q;}' "$work/$name.out")
    [[ -n $address ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$work/$name.err" >&2 || true
      die "$name exited before printing its 'listening on' line (its stderr is above)"
    fi
    ((SECONDS < deadline)) || die "$name printed no 'listening on' line within ${START_TIMEOUT_SECS}s"
    sleep 0.1
  done

  deadline=$((SECONDS + HEALTH_TIMEOUT_SECS))
  until curl -fsS --max-time 2 "http://$address/healthz" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || die "$name (pid $pid) exited before answering /healthz"
    ((SECONDS < deadline)) || die "$name at http://$address did not answer /healthz within ${HEALTH_TIMEOUT_SECS}s"
    sleep 0.2
  done
  echo "== $name: pid $pid, http://$address"
}

# --- ab runs -------------------------------------------------------------------------------------

# ab_field LABEL FILE: the first value after "LABEL:" in ab's output ("" if absent).
ab_field() {
  sed -n "/^$1:/{s/^$1:[[:space:]]*\([^[:space:]]*\).*/\1/p;q;}" "$2"
}

summary_rows=()
problems=()
ab_version=$(ab -V 2>&1 | sed -n 's/.*ApacheBench, Version \([^ ]*\).*/ab \1/p')

# bench ENDPOINT ADDRESS FILE: both loads against http://ADDRESS/ENDPOINT, appended to FILE.
bench() {
  local endpoint=$1 address=$2 file=$3 now load url run status complete rps tpr failed non2xx requested
  url="http://$address/$endpoint"
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  {
    echo "# ApacheBench against /$endpoint, written by scripts/run_ab.sh"
    echo "# $now, server $url, $ab_version"
    echo "# One section per run; each starts with the command that produced it."
  } >"$file"
  for load in "${LOADS[@]}"; do
    run="$work/run.txt"
    local -a args
    read -r -a args <<<"$load"
    echo "== ab -l $load $url"
    status=0
    ab -l "${args[@]}" "$url" >"$run" 2>&1 || status=$?
    {
      echo
      echo "=================================================================================="
      echo "== command: ab -l $load $url"
      echo "== exit status: $status"
      echo "=================================================================================="
      cat "$run"
    } >>"$file"

    requested=${args[1]}
    complete=$(ab_field "Complete requests" "$run")
    rps=$(ab_field "Requests per second" "$run")
    tpr=$(ab_field "Time per request" "$run")
    failed=$(ab_field "Failed requests" "$run")
    non2xx=$(ab_field "Non-2xx responses" "$run")
    non2xx=${non2xx:-0} # ab prints this line only when there were some
    summary_rows+=("/$endpoint|$load|${complete:--}|${rps:--}|${tpr:--}|${failed:--}|$non2xx")

    if ((status != 0)); then
      problems+=("/$endpoint $load: ab exited with status $status (see $file)")
    elif [[ $complete != "$requested" || $failed != 0 || $non2xx != 0 ]]; then
      problems+=("/$endpoint $load: ${complete:-?} of $requested complete, ${failed:-?} failed, $non2xx non-2xx")
    fi
  done
}

start_server app_threading
threading_address=$address
start_server app_multiprocessing
multiprocessing_address=$address

mkdir -p "$out_dir"
bench threading "$threading_address" "$out_dir/threading_ab.txt"
bench multiprocessing "$multiprocessing_address" "$out_dir/multiprocessing_ab.txt"

# --- summary -------------------------------------------------------------------------------------

echo
echo "ApacheBench summary (ab -l; full output in $out_dir/)"
format="%-17s %-13s %9s %10s %15s %7s %8s\n"
# shellcheck disable=SC2059 # the format is ours, fixed above
printf "$format" endpoint load complete "req/s" "ms/req (mean)" failed non-2xx
for row in "${summary_rows[@]}"; do
  IFS='|' read -r endpoint load complete rps tpr failed non2xx <<<"$row"
  # shellcheck disable=SC2059
  printf "$format" "$endpoint" "$load" "$complete" "$rps" "$tpr" "$failed" "$non2xx"
done

if ((${#problems[@]} > 0)); then
  echo
  printf 'run_ab.sh: %s\n' "${problems[@]}" >&2
  exit 1
fi
echo
echo "All ${#summary_rows[@]} runs: every request completed, 0 failed, 0 non-2xx."
