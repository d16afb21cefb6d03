"""The lab's API in Python, shared by py-threads, py-processes and py-async.

The three apps answer what the Rust servers answer: `GET <path>?n=&workers=&work=&wait_ms=&seed=`
with the same limits, the same JSON keys and the same checksum for a seed, so the harness loads,
checks and compares them like any lab server. Each app differs only in how it runs a request's
bands: threads, a pool of processes, or coroutines on an event loop.

One parameter is theirs alone: `impl=python` computes each band with Python loops instead of
numpy. numpy's kernels release the GIL, so threads can run them side by side; a Python loop
holds it. The pure-Python control is where the GIL's effect lives.
"""

import os

# One BLAS thread: the models' own workers are the only parallelism measured, and a pool's
# processes never inherit a BLAS thread pool. Set before numpy is imported anywhere.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

import lab_matrices  # noqa: E402

DEFAULT_N = 500
MAX_N = 2000
# A Python loop is about a hundred times slower than numpy: its matrices stay small.
MAX_N_PYTHON = 256
DEFAULT_WORKERS = 4
MAX_WORKERS = 64
DEFAULT_WAIT_MS = 100
MAX_WAIT_MS = 10_000
MAX_SEED = (1 << 64) - 1
WORKS = ("add", "matmul", "io")
IMPLS = ("numpy", "python")
QUERY_KEYS = ("n", "workers", "seed", "work", "wait_ms", "impl")
SAMPLE_LEN = 10


class BadRequest(Exception):
    """A parameter the request got wrong: the message says which, and what is allowed."""


def _whole(name, raw, low, high):
    """`raw` as a whole number in low..=high, or BadRequest in the Rust servers' words."""
    if raw.strip() != raw or raw == "":
        problem = "empty" if raw == "" else "not a whole number"
    elif not raw.lstrip("-").isdigit() or raw.startswith("+"):
        problem = "not a whole number"
    else:
        value = int(raw)
        if low <= value <= high:
            return value
        problem = "zero" if value == 0 else ("negative" if value < 0 else "too large")
    raise BadRequest(f"{name} must be a whole number from {low} to {high}; got \"{raw}\" ({problem})")


class Params:
    """A parsed and validated query."""

    def __init__(self, query):
        unknown = [key for key in query if key not in QUERY_KEYS]
        if unknown:
            raise BadRequest(f"unknown query parameter \"{unknown[0]}\"; allowed: {', '.join(QUERY_KEYS)}")
        self.work = query.get("work", "add")
        if self.work not in WORKS:
            raise BadRequest(f"work must be one of {', '.join(WORKS)}; got \"{self.work}\"")
        self.impl = query.get("impl", "numpy")
        if self.impl not in IMPLS:
            raise BadRequest(f"impl must be one of {', '.join(IMPLS)}; got \"{self.impl}\"")
        max_n = MAX_N_PYTHON if self.impl == "python" else MAX_N
        self.n = _whole("n", query["n"], 1, max_n) if "n" in query else min(DEFAULT_N, max_n)
        self.workers = _whole("workers", query["workers"], 1, MAX_WORKERS) if "workers" in query else DEFAULT_WORKERS
        self.seed = _whole("seed", query["seed"], 0, MAX_SEED) if "seed" in query else None
        # Checked whatever the kind, so a typo is caught before it matters; used by io alone.
        self.wait_ms = _whole("wait_ms", query["wait_ms"], 0, MAX_WAIT_MS) if "wait_ms" in query else DEFAULT_WAIT_MS

    def bands(self):
        """The row ranges, one per worker: balanced, never empty (as `matrix_service::bands`)."""
        count = max(1, min(self.workers, self.n))
        base, extra = divmod(self.n, count)
        out, start = [], 0
        for i in range(count):
            end = start + base + (1 if i < extra else 0)
            out.append((start, end))
            start = end
        return out

    def band_wait_s(self):
        """Each band's share of the request's waiting, in seconds (io only)."""
        return self.wait_ms / 1000.0 / len(self.bands()) if self.work == "io" else 0.0


def generate(params):
    """The request's two matrices (`seed` gives the Rust servers' own)."""
    return lab_matrices.generate_pair(params.n, params.seed)


def band(work, impl, a_rows, b):
    """One band's rows of the result: `a_rows` are the band's rows of A; `b` is B whole for
    matmul and the band's rows of B otherwise. Waiting, for io, is the caller's: a thread
    sleeps, a coroutine awaits."""
    if impl == "python":
        return np.array(_python_band(work, a_rows.tolist(), b.tolist()), dtype=np.int64).reshape(a_rows.shape[0], -1)
    if work == "matmul":
        # Exact through float64 (BLAS) while every sum stays below 2**53, as the Rust kernel:
        # at most n * 99 * 99, far below it for n <= 2000.
        return (a_rows.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a_rows + b


def _python_band(work, a_rows, b):
    """The band with Python loops: every element an interpreted addition or dot product."""
    if work == "matmul":
        columns = list(zip(*b))
        return [[sum(x * y for x, y in zip(row, column)) for column in columns] for row in a_rows]
    return [[x + y for x, y in zip(row_a, row_b)] for row_a, row_b in zip(a_rows, b)]


def band_inputs(params, a, b, start, end):
    """What a band needs of A and B."""
    return a[start:end], (b if params.work == "matmul" else b[start:end])


def answer(params, method, result, generation_s, execution_s, started):
    """The JSON answer, with the Rust servers' keys (and `impl`)."""
    out = {
        "status": "ok",
        "method": method,
        "n": params.n,
        "workers": params.workers,
        "work": params.work,
    }
    if params.work == "io":
        out["wait_ms"] = params.wait_ms
    out.update({
        "seed": params.seed,
        "impl": params.impl,
        "execution_time_sec": execution_s,
        "generation_time_sec": generation_s,
        "total_time_sec": time.perf_counter() - started,
        "sample": result[0, :SAMPLE_LEN].tolist(),
        # numpy's int64 sum wraps on overflow, as the Rust checksum does.
        "checksum": int(result.sum(dtype=np.int64)),
    })
    return out


def serve(query, method, run_bands):
    """A request's answer and its status, its bands run by `run_bands(params, a, b)`."""
    started = time.perf_counter()
    try:
        params = Params(query)
    except BadRequest as bad:
        return error(str(bad)), 400
    a, b = generate(params)
    generated = time.perf_counter()
    result = run_bands(params, a, b)
    done = time.perf_counter()
    return answer(params, method, result, generated - started, done - generated, started), 200


def error(message):
    """An error answer's body, as the Rust servers write it."""
    return {"status": "error", "error": message}


def index(name, path, model):
    """What `GET /` says."""
    return (f"{name}: the matrix lab's API in Python, {model}. GET {path}?n=500&workers=4&work=add|matmul|io"
            f"&wait_ms=100&seed=1&impl=numpy|python")
