# The original lab's processes app (LAB 4, "app_multiprocessing.py"), as the lab handout wrote
# it: 4 multiprocessing.Process children each put their band of A + B on one Queue, and the
# parent joins every child *before* reading the queue. A child cannot exit until its queued
# data has been written to the queue's pipe, and the pipe holds 64 KiB while a band of a
# 500x500 int64 sum is 500 KB: the parent waits for children that wait for the parent. Kept as
# written, so `loadtest --python` can show what it does (python-processes-seed);
# app_multiprocessing_fixed.py is the same app with the queue drained before the join.
from flask import Flask, jsonify
import numpy as np
import multiprocessing as mp
import time

app = Flask(__name__)


def worker_process(A, B, start, end, queue):
    part = A[start:end] + B[start:end]
    queue.put((start, part))


def add_matrix_processes(A, B, num_processes=4):
    rows = A.shape[0]
    result = np.zeros_like(A)
    queue = mp.Queue()
    procs = []
    chunk = rows // num_processes
    for i in range(num_processes):
        start = i * chunk
        end = rows if i == num_processes - 1 else (i + 1) * chunk
        p = mp.Process(target=worker_process, args=(A, B, start, end, queue))
        procs.append(p); p.start()
    for p in procs:
        p.join()
    while not queue.empty():
        start, part = queue.get()
        result[start:start+part.shape[0]] = part
    return result


@app.route("/multiprocessing")
def processing_add():
    N = 500
    A = np.random.randint(0, 100, (N, N))
    B = np.random.randint(0, 100, (N, N))
    t0 = time.time()
    result = add_matrix_processes(A, B, num_processes=4)
    t1 = time.time()
    return jsonify({
        "status": "ok",
        "method": "Multiprocessing",
        "execution_time_sec": round(t1 - t0, 4),
        "sample": result[0, :10].tolist()
    })


@app.route("/")
def index():
    return "Matrix Addition (Multiprocessing) API"
