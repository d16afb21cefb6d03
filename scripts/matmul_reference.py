#!/usr/bin/env python3
"""numpy's and OpenBLAS's matrix products on this machine, one thread: the reference for the
lab's matmul kernel (`cargo bench -p matrix_service --bench matmul`).

Install numpy in a virtual environment first (the version measured in docs/results.md):
    python3 -m venv target/numpy-venv && target/numpy-venv/bin/pip install numpy==2.4.6
then run:
    target/numpy-venv/bin/python scripts/matmul_reference.py [N ...]

Prints, per n, the median of repeated products in ms: float64 `A @ B` (OpenBLAS's dgemm) and
int64 `A @ B` (numpy's own loops, which the original Python lab would use), with values drawn
as the lab draws them (0 to 99).
"""
import os
import sys

# One thread, as the lab's single-thread figure: set before numpy loads OpenBLAS.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import time  # noqa: E402

import numpy as np  # noqa: E402


def median_ms(product, budget_s=3.0, at_least=5):
    times = []
    started = time.perf_counter()
    while len(times) < at_least or time.perf_counter() - started < budget_s:
        t = time.perf_counter()
        product()
        times.append((time.perf_counter() - t) * 1000)
        if len(times) >= 200:
            break
    times.sort()
    return times[len(times) // 2], len(times)


def main(sizes):
    rng = np.random.default_rng(4)
    print(f"numpy {np.__version__}; " + ", ".join(
        f"{info['name']} {info['version']}" for info in [np.show_config(mode="dicts")["Build Dependencies"]["blas"]]
    ))
    print(f"{'n':>6} {'float64 A@B ms':>16} {'runs':>5} {'int64 A@B ms':>14} {'runs':>5}")
    for n in sizes:
        a = rng.integers(0, 100, size=(n, n), dtype=np.int64)
        b = rng.integers(0, 100, size=(n, n), dtype=np.int64)
        af, bf = a.astype(np.float64), b.astype(np.float64)
        assert np.array_equal((af @ bf).astype(np.int64), a @ b), "float64 is exact at this size"
        f64, f_runs = median_ms(lambda: af @ bf)
        i64, i_runs = median_ms(lambda: a @ b, budget_s=5.0, at_least=3)
        print(f"{n:>6} {f64:>16.2f} {f_runs:>5} {i64:>14.2f} {i_runs:>5}")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [100, 500, 1000])
