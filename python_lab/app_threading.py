# The original lab's threads app (LAB 4, "app_threading.py"), as the lab handout wrote it:
# Flask, numpy, two random 500x500 matrices added by 4 threading.Threads, each filling its band
# of rows. Run by gunicorn exactly as the handout says: gunicorn -w 1 --threads 4 app_threading:app.
# `loadtest --python` starts it and measures it beside the Rust servers as python-threads.
from flask import Flask, jsonify
import numpy as np
import threading, time

app = Flask(__name__)


def add_matrix_threads(A, B, num_threads=4):
    rows = A.shape[0]
    result = np.zeros_like(A)
    chunk = rows // num_threads
    threads = []

    def worker(start, end):
        result[start:end] = A[start:end] + B[start:end]

    for i in range(num_threads):
        start = i * chunk
        end = rows if i == num_threads - 1 else (i + 1) * chunk
        t = threading.Thread(target=worker, args=(start, end))
        threads.append(t)
        t.start()
    for t in threads:
        t.join()
    return result


@app.route("/threading")
def threading_add():
    N = 500
    A = np.random.randint(0, 100, (N, N))
    B = np.random.randint(0, 100, (N, N))
    t0 = time.time()
    result = add_matrix_threads(A, B, num_threads=4)
    t1 = time.time()
    return jsonify({
        "status": "ok",
        "method": "Multithreading",
        "execution_time_sec": round(t1 - t0, 4),
        "sample": result[0, :10].tolist()
    })


@app.route("/")
def index():
    return "Matrix Addition (Multithreading) API"
