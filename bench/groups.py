#!/usr/bin/env python3
"""Cost of a round, and of a group, as the number of groups grows: side by side in one run.

Starts `autoscaler demo-app` on 127.0.0.1 as the measured endpoint, then the daemon with
N groups (1 s interval, one http_json metric each, --dry-run) for N in SIZES, and reads the
daemon's CPU time and RSS from /proc. Prints absolute figures and the ratios that matter:
CPU per group-round at N vs the smallest N (1.0 = perfectly linear), and the daemon's CPU per
measurement vs the endpoint's CPU per request it served (how heavy measuring is next to the
cheapest possible server).

    python3 bench/groups.py [--bin build/autoscaler] [--sizes 10,100,1000] [--seconds 10]

Use a release build (`make`), not the ASan one. Bounded: every run stops after --seconds.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid):
    """CPU time of every thread of pid, in seconds, from schedstat (nanoseconds, not ticks)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # a thread that just ended
    return total / 1e9


def rss_kib(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE // 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on 127.0.0.1:{port}")


def config(n, port, log):
    out = [f"log_file: {log}", "log_level: warn", "groups:"]
    for i in range(n):
        out += [f"  g{i}:", "    interval: 1s", "    max: 10", "    metrics:",
                "      - name: cpu", "        type: http_json",
                f"        url: http://127.0.0.1:{port}/app/status",
                "        pointer: /cpu/highPriority", "        replicas_pointer: /replicas",
                "        timeout: 800ms", "        target: 0.8",
                "    scaler:", "      type: http", f"      url: http://127.0.0.1:{port}/x"]
    return "\n".join(out) + "\n"


def run(binary, n, port, app_pid, seconds, tmp):
    path = os.path.join(tmp, f"bench-{n}.yaml")
    log = os.path.join(tmp, f"bench-{n}.log")
    with open(path, "w") as f:
        f.write(config(n, port, log))
    d = subprocess.Popen([binary, "run", "-c", path, "--dry-run"], stderr=subprocess.DEVNULL)
    try:
        time.sleep(2.0)                       # warm-up: connections, first rounds
        c0, a0, t0 = cpu_seconds(d.pid), cpu_seconds(app_pid), time.monotonic()
        time.sleep(seconds)
        c1, a1, t1 = cpu_seconds(d.pid), cpu_seconds(app_pid), time.monotonic()
        rss = rss_kib(d.pid)
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=10)
    with open(log) as f:
        errors = sum(1 for line in f if " ERROR " in line)
    rounds = n * (t1 - t0)                    # one round per group per second
    return {"n": n, "cpu_ms_per_round": (c1 - c0) * 1000 / rounds,
            "app_ms_per_req": (a1 - a0) * 1000 / rounds, "rss_kib": rss,
            "cpu_pct": (c1 - c0) / (t1 - t0) * 100, "errors": errors}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/autoscaler")
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    port = free_port()
    app = subprocess.Popen([binary, "demo-app", "--port", str(port)], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        with tempfile.TemporaryDirectory() as tmp:
            rows = [run(binary, int(n), port, app.pid, a.seconds, tmp)
                    for n in a.sizes.split(",")]
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=10)
    base = rows[0]
    print(f"{'groups':>7} {'CPU/round':>10} {'vs N=' + str(base['n']):>9} {'daemon CPU':>10} "
          f"{'RSS':>9} {'RSS/group':>9} {'vs server/req':>13} {'errors':>6}")
    for r in rows:
        per_group = (r["rss_kib"] - base["rss_kib"]) / max(1, r["n"] - base["n"])
        print(f"{r['n']:>7} {r['cpu_ms_per_round'] * 1000:>8.1f}us "
              f"{r['cpu_ms_per_round'] / base['cpu_ms_per_round']:>8.2f}x "
              f"{r['cpu_pct']:>9.1f}% {r['rss_kib']:>7}KiB "
              f"{per_group if r is not base else 0:>7.1f}KiB "
              f"{r['cpu_ms_per_round'] / max(r['app_ms_per_req'], 1e-9):>12.2f}x {r['errors']:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
