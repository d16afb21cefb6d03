"""py-processes: the lab's API with a multiprocessing pool of worker processes started once,
under `gunicorn -w 1 py_processes:app`. A request's bands go to the pool as tasks; each task
carries its rows of A (and B, whole for matmul) pickled through the pool's pipe, and its rows
of the result come back the same way.

The pool is made in the gunicorn worker at its first request, never in the master, and with the
`forkserver` start method: its processes are forked from a one-threaded server that has only
imported numpy and this lab, not from the worker, whose threads (the pool's own handlers,
gunicorn's) could hold a lock at the fork. numpy runs one BLAS thread (lab_api sets it), so no
BLAS thread pool is forked either. `PY_LAB_POOL_PROCESSES` sets its size; by default the larger
of 4 (the lab's workers) and the machine's CPUs, as the Rust pre-forked pool."""

import atexit
import multiprocessing
import os
import threading
import time

from flask import Flask, jsonify, request

import lab_api

app = Flask(__name__)
PATH = "/multiprocessing"
POOL_PROCESSES = int(os.environ.get("PY_LAB_POOL_PROCESSES", max(lab_api.DEFAULT_WORKERS, os.cpu_count() or 1)))

_pool = None
_pool_lock = threading.Lock()


def pool():
    """The worker's pool, made once."""
    global _pool
    with _pool_lock:
        if _pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["lab_api"])
            _pool = context.Pool(POOL_PROCESSES)
            # Before multiprocessing's own exit handler: atexit runs the last registered first.
            atexit.register(_close_pool)
        return _pool


def _close_pool():
    """Ends the pool as the worker exits. A SIGTERM to the whole process group (how the harness
    stops an app) has already ended the pool's processes, maybe one while it held the pool's
    queue lock: `terminate` would wait on that lock for ever, so the worker leaves at once.
    Otherwise (gunicorn alone told to stop) the pool is ended in order."""
    # The group's signal reaches every process at once: give the pool's a moment to end.
    for _ in range(10):
        if any(process.exitcode is not None for process in _pool._pool):
            os._exit(0)
        time.sleep(0.05)
    _pool.terminate()


def pool_band(work, impl, wait_s, a_rows, b):
    """A band in a pool process: its wait, then its rows."""
    if wait_s:
        time.sleep(wait_s)
    return lab_api.band(work, impl, a_rows, b)


def run_bands(params, a, b):
    """Every band a task on the pool; the parent gathers their rows."""
    wait_s = params.band_wait_s()
    bands = params.bands()
    tasks = [(params.work, params.impl, wait_s, *lab_api.band_inputs(params, a, b, start, end)) for start, end in bands]
    parts = pool().starmap(pool_band, tasks)
    result = lab_api.np.empty((params.n, params.n), dtype=lab_api.np.int64)
    for (start, end), part in zip(bands, parts):
        result[start:end] = part
    return result


@app.route(PATH)
def compute():
    body, status = lab_api.serve(request.args.to_dict(), "Multiprocessing", run_bands)
    return jsonify(body), status


@app.route("/")
def index():
    return lab_api.index("py-processes", PATH, f"a pool of {POOL_PROCESSES} worker processes started once")
