#!/usr/bin/env python3
"""Reaction time: a load step on the measured endpoint -> the scale call leaving the daemon.

    python3 bench/reaction.py [--bin build/autoscaler] [--intervals 1,5] [--steps 8]

A Python HTTP server on 127.0.0.1 serves the metric (JSON: {"rps": R, "replicas": N}) and
receives the http scaler's PUT, whose arrival it timestamps. One group, the given interval,
`behavior: off` (no stabilization window, so every step is acted on), target 100 rps per
replica. Each step sets the load from 100 to 400 rps (or back) at a random moment of the
group's interval and measures the time until the PUT arrives: at most one interval (the next
tick) plus the round's own cost. Prints, per interval, each step's reaction, the p50 and max,
and max / (interval + 100 ms) (the goal: <= 1.0). Use a release build.
"""

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    lock = threading.Lock()
    rps = 100.0
    replicas = 1
    puts = []  # (monotonic time, replicas asked)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with State.lock:
            body = json.dumps({"rps": State.rps, "replicas": State.replicas}).encode()
        self.answer(body)

    def do_PUT(self):
        now = time.monotonic()
        n = int(self.headers.get("Content-Length", "0"))
        want = json.loads(self.rfile.read(n) or b"{}").get("replicas", -1)
        with State.lock:
            State.puts.append((now, want))
            State.replicas = want
        self.answer(b"{}")

    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


CONFIG = """log_file: {log}
state_dir: ''
http: {{listen: ''}}
groups:
  web:
    interval: {interval}ms
    min: 1
    max: 10
    behavior: off
    metrics:
      - name: rps
        type: http_json
        url: {url}/status
        pointer: /rps
        replicas_pointer: /replicas
        average_value: 100
        timeout: {timeout}ms
    scaler: {{type: http, url: '{url}/scale', get_url: '{url}/status', get_pointer: /replicas}}
"""


def wait_put(after, want, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with State.lock:
            for t, w in State.puts:
                if t >= after and w == want:
                    return t
        time.sleep(0.002)
    return None


def run(a, interval_ms, url, tmp):
    log = os.path.join(tmp, f"r{interval_ms}.log")
    path = os.path.join(tmp, f"r{interval_ms}.yaml")
    with open(path, "w") as f:
        f.write(CONFIG.format(log=log, interval=interval_ms, url=url,
                              timeout=min(800, interval_ms - 100)))
    with State.lock:
        State.rps, State.replicas, State.puts = 100.0, 1, []
    d = subprocess.Popen([a.bin, "run", "-c", path], stderr=subprocess.DEVNULL)
    out = []
    try:
        time.sleep(interval_ms / 1000 * 2)  # settled at 1 replica
        for k in range(a.steps):
            time.sleep(random.uniform(0, interval_ms / 1000))
            high = k % 2 == 0
            t0 = time.monotonic()
            with State.lock:
                State.rps = 400.0 if high else 100.0
            t = wait_put(t0, 4 if high else 1, interval_ms / 1000 * 3 + 2)
            out.append(None if t is None else (t - t0) * 1000)
            time.sleep(interval_ms / 1000 * 1.2)  # the count read back, the next step clean
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=10)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/autoscaler")
    ap.add_argument("--intervals", default="1,5", help="seconds, comma-separated")
    ap.add_argument("--steps", type=int, default=8)
    a = ap.parse_args()
    a.bin = os.path.abspath(a.bin)
    random.seed(11)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    print(f"{'interval':>8} {'steps':>5} {'p50 ms':>7} {'max ms':>7} {'max/(interval+100ms)':>20}"
          f"  each step, ms")
    with tempfile.TemporaryDirectory() as tmp:
        for s in a.intervals.split(","):
            ms = int(float(s) * 1000)
            r = run(a, ms, url, tmp)
            ok = [x for x in r if x is not None]
            missed = len(r) - len(ok)
            p50 = statistics.median(ok) if ok else float("nan")
            mx = max(ok) if ok else float("nan")
            print(f"{ms / 1000:>7g}s {len(r):>5} {p50:>7.0f} {mx:>7.0f} {mx / (ms + 100):>19.2f}x"
                  f"  {' '.join('-' if x is None else f'{x:.0f}' for x in r)}"
                  + (f"  ({missed} without a scale call)" if missed else ""), flush=True)
    srv.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
