"""Execution time of GET matmul at n=500 on 1 and 2 workers, requests interleaved (1, 2, 1, 2, ...)
so that a drift in the machine's speed affects both alike. Usage: probe.py URL REPS > out.json"""
import json
import statistics
import sys
import urllib.request

url, reps = sys.argv[1], int(sys.argv[2])
times = {"1": [], "2": []}
for _ in range(reps):
    for workers in ("1", "2"):
        with urllib.request.urlopen(f"{url}?n=500&work=matmul&workers={workers}&seed=1") as answer:
            times[workers].append(json.loads(answer.read())["execution_time_sec"] * 1000)
medians = {w: statistics.median(t) for w, t in times.items()}
json.dump({"url": url, "execution_ms": times, "median_ms": medians,
           "ratio": medians["2"] / medians["1"]}, sys.stdout)
