#!/usr/bin/env python3
"""What the HTTP server costs the daemon's loop as groups grow (docs/api.md, design.md): the
time to answer GET /metrics and GET /api/v1/groups (built on the loop), their size, and the
memory the engine keeps for the API (the rings of rounds and decisions), side by side with the
same daemon without a server (`http.listen: ""`) in one run.

Starts `autoscaler demo-app` on 127.0.0.1 as the endpoint, then the daemon with N groups (1 s
interval, one http_json metric each, --dry-run), waits for every group's first decision and
for the rings to fill (--seconds), then times --requests sequential GETs of each answer.

    python3 bench/api_scrape.py [--bin build/autoscaler] [--sizes 10,100,1000] [--seconds 8]

Use a release build (`make`), not the ASan one. Bounded: every run stops after its window.
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE // 1024


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def config(n, app, api_port, off):
    lines = [f"log_file: ''", "log_level: warn", "state_dir: ''",
             f"http: {{listen: '{'' if off else f'127.0.0.1:{api_port}'}'}}", "groups:"]
    for i in range(n):
        lines += [f"  g{i}:", "    interval: 1s", "    max: 10", "    metrics:",
                  f"      - {{name: cpu, type: http_json, url: 'http://127.0.0.1:{app}/app/status',"
                  " pointer: /cpu/highPriority, replicas_pointer: /replicas, target: 0.8}",
                  f"    scaler: {{type: http, url: 'http://127.0.0.1:{app}/x'}}"]
    return "\n".join(lines) + "\n"


def timed_get(url, n):
    times, size = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as r:
            size = len(r.read())
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times), size


def run(binary, n, seconds, requests, app_port, off):
    api_port = free_port()
    with tempfile.TemporaryDirectory(prefix="as-bench-api-") as tmp:
        path = os.path.join(tmp, "c.yaml")
        with open(path, "w") as f:
            f.write(config(n, app_port, api_port, off))
        d = subprocess.Popen([binary, "run", "-c", path, "--dry-run"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            time.sleep(seconds)
            rss = rss_kib(d.pid)
            if off:
                return rss, None
            base = f"http://127.0.0.1:{api_port}"
            m = timed_get(base + "/metrics", requests)
            g = timed_get(base + "/api/v1/groups", requests)
            return rss, (m, g)
        finally:
            d.send_signal(signal.SIGTERM)
            d.wait(timeout=30)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default="build/autoscaler")
    p.add_argument("--sizes", default="10,100,1000")
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--requests", type=int, default=20)
    a = p.parse_args()
    app_port = free_port()
    app = subprocess.Popen([a.bin, "demo-app", "--port", str(app_port)],
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(app_port)
        print(f"{'groups':>7} {'/metrics p50':>13} {'max':>8} {'bytes':>9} "
              f"{'/groups p50':>12} {'max':>8} {'bytes':>9} {'RSS on':>10} {'RSS off':>10} "
              f"{'per group':>10}")
        for n in [int(x) for x in a.sizes.split(",")]:
            rss_on, ((m50, mmax, mb), (g50, gmax, gb)) = run(a.bin, n, a.seconds, a.requests,
                                                              app_port, False)
            rss_off, _ = run(a.bin, n, a.seconds, a.requests, app_port, True)
            print(f"{n:>7} {m50:>11.2f}ms {mmax:>6.1f}ms {mb:>9} {g50:>10.2f}ms {gmax:>6.1f}ms "
                  f"{gb:>9} {rss_on:>8}KiB {rss_off:>8}KiB {(rss_on - rss_off) / n:>7.1f}KiB",
                  flush=True)
    finally:
        app.terminate()
        app.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
