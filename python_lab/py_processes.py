"""py-processes: the lab's API with a multiprocessing pool of worker processes started once,
under `gunicorn -w 1 py_processes:app`. A request's bands go to the pool as tasks; each task
carries its rows of A (and B, whole for matmul) pickled through the pool's pipe, and its rows
of the result come back the same way.

The pool is made in the gunicorn worker at its first request, never in the master, and with the
`spawn` start method: each pool process is a fresh interpreter that imports this app, so nothing
is forked from the worker, whose threads (the pool's own handlers, gunicorn's) could hold a lock
at the moment of a fork. numpy runs one BLAS thread in every process (lab_api sets it).
`PY_LAB_POOL_PROCESSES` sets the pool's size; by default the larger of 4 (the lab's workers) and
the machine's CPUs, as the Rust pre-forked pool."""

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

# How often a pool process checks that the worker that spawned it is still there.
PARENT_CHECK_S = 0.2


def _end_with_the_worker():
    """In each pool process: end when the gunicorn worker that spawned it has ended, however it
    ended (its parent changes: it was adopted), so no pool process outlives the app."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="end-with-the-worker").start()


def pool():
    """The worker's pool, made once."""
    global _pool
    with _pool_lock:
        if _pool is None:
            context = multiprocessing.get_context("spawn")
            _pool = context.Pool(POOL_PROCESSES, initializer=_end_with_the_worker)
            atexit.register(_leave)
        return _pool


def _leave():
    """The worker's last exit handler (atexit runs the last registered first). A SIGTERM to the
    whole process group, how the harness stops an app, may end a pool process while it holds
    the pool's queue lock, and multiprocessing's own exit handler would then wait on that lock
    for ever (the worker hung until SIGKILL in a first version). The worker leaves at once
    instead; its pool processes see it gone and end (`_end_with_the_worker`)."""
    os._exit(0)


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
