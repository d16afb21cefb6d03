#!/usr/bin/env bash
# What tracing costs a request when no trace runs. Benchmarks the threads server's whole request
# path in process (app_threading/benches/request_path.rs) built two ways, and lets criterion
# compare them, in both directions so that drift between the runs shows:
#   1. as shipped: tracing compiled in, no trace running (saved as baseline `compiled-in`);
#   2. with RUSTFLAGS="--cfg lab_trace_off", the recording compiled out: compared with 1;
#   3. compiled out again (saved as baseline `compiled-out`);
#   4. compiled in again: compared with 3.
# A change criterion calls "No change in performance detected" or "within noise threshold" is no
# measurable cost. The compiled-out build goes to target/trace-off (its own first build takes a
# few minutes). With OUT=DIR, criterion's estimates of the runs are copied there.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
# One criterion folder for both builds, so their baselines meet.
export CRITERION_HOME="$root/target/criterion"

bench() {
    cargo bench --locked -p app_threading --bench request_path -- "$@" 2>&1 |
        grep -E '^request_path|time:|change:|Performance|No change|noise threshold'
}

compiled_out() {
    CARGO_TARGET_DIR="$root/target/trace-off" RUSTFLAGS="--cfg lab_trace_off" bench "$@"
}

echo "== 1. tracing compiled in, no trace running"
bench --save-baseline compiled-in
echo "== 2. the recording compiled out, against 1"
compiled_out --baseline compiled-in
echo "== 3. the recording compiled out"
compiled_out --save-baseline compiled-out
echo "== 4. tracing compiled in, against 3"
bench --baseline compiled-out

if [[ -n "${OUT:-}" ]]; then
    mkdir -p "$OUT"
    cp -r "$CRITERION_HOME/request_path" "$OUT/"
    echo "criterion's estimates copied to $OUT/request_path"
fi
