"""py-threads: the lab's API with a threading.Thread per band, as the handout's threads app
starts them, under `gunicorn -w 1 --threads 4 py_threads:app` (one process, four request
threads). numpy's kernels release the GIL, so its bands may run side by side; `impl=python`
bands hold it, and take turns."""

import threading
import time

from flask import Flask, jsonify, request

import lab_api

app = Flask(__name__)
PATH = "/threading"


def run_bands(params, a, b):
    """Every band on a thread of its own, started per request and joined."""
    result = lab_api.np.zeros((params.n, params.n), dtype=lab_api.np.int64)
    wait_s = params.band_wait_s()

    def worker(start, end):
        if wait_s:
            time.sleep(wait_s)
        result[start:end] = lab_api.band(params.work, params.impl, *lab_api.band_inputs(params, a, b, start, end))

    threads = [threading.Thread(target=worker, args=band) for band in params.bands()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


@app.route(PATH)
def compute():
    body, status = lab_api.serve(request.args.to_dict(), "Multithreading", run_bands)
    return jsonify(body), status


@app.route("/")
def index():
    return lab_api.index("py-threads", PATH, "a threading.Thread per band")
