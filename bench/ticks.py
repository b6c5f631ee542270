#!/usr/bin/env python3
"""Do thousands of groups keep every tick while their state is written? Side by side in one run.

Starts `autoscaler demo-app` on 127.0.0.1 as the endpoint, then the daemon with N groups
(1 s interval, one http_json metric each, --dry-run), once without a state_dir and once with
one (every group's state written at its first round and every 10 s after, through the writer
thread), and reads each group's decision times from the log. A tick is missed when two
decisions of one group are more than 1.5 intervals apart.

    python3 bench/ticks.py [--bin build/autoscaler] [--groups 4000] [--seconds 15]
                           [--interval 1] [--sighup N]

--sighup N sends N SIGHUPs (one every 0.5 s, from the middle of the run) to both daemons: the
file is parsed on a thread and swapped in without stopping a round, so the gaps should not
grow. (The finding this guards: a SIGHUP with 20k groups stalled every group for 4.8 s.)

Use a release build (`make`). Bounded: every run stops after --seconds.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from groups import free_port, wait_port  # noqa: E402

LINE = re.compile(r"^(\S+) INFO  engine\[(g\d+)\]: decision ")


def config(n, port, log, state_dir, interval):
    out = [f"log_file: {log}", "log_level: info", f"state_dir: '{state_dir}'", "groups:"]
    for i in range(n):
        out += [f"  g{i}:", f"    interval: {interval}s", "    max: 10", "    count_confirm: 1",
                "    metrics:", "      - name: cpu", "        type: http_json",
                f"        url: http://127.0.0.1:{port}/app/status",
                "        pointer: /cpu/highPriority", "        replicas_pointer: /replicas",
                "        timeout: 800ms", "        target: 0.8",
                "    scaler:", "      type: http", f"      url: http://127.0.0.1:{port}/x"]
    return "\n".join(out) + "\n"


def stamp(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def run(binary, n, port, seconds, tmp, state_dir, interval, sighups):
    tag = "state" if state_dir else "nostate"
    path = os.path.join(tmp, f"ticks-{tag}.yaml")
    log = os.path.join(tmp, f"ticks-{tag}.log")
    with open(path, "w") as f:
        f.write(config(n, port, log, state_dir, interval))
    d = subprocess.Popen([binary, "run", "-c", path, "--dry-run"], stderr=subprocess.DEVNULL)
    try:
        time.sleep(seconds / 2)
        for _ in range(sighups):
            d.send_signal(signal.SIGHUP)
            time.sleep(0.5)
        time.sleep(max(0.0, seconds / 2 - 0.5 * sighups))
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=30)
    times = {}
    with open(log) as f:
        for line in f:
            m = LINE.match(line)
            if m:
                times.setdefault(m.group(2), []).append(stamp(m.group(1)))
    gaps, missed = [], set()
    for g, ts in times.items():
        ts = ts[1:]  # the first round comes after the start-up stagger
        for a, b in zip(ts, ts[1:]):
            gaps.append(b - a)
            if b - a > 1.5 * interval:
                missed.add(g)
    gaps.sort()
    files = len(os.listdir(state_dir)) if state_dir else 0
    return {"tag": tag, "groups": len(times), "decisions": sum(map(len, times.values())),
            "missed": len(missed), "max_gap": gaps[-1] if gaps else 0,
            "p99_gap": gaps[int(len(gaps) * 0.99)] if gaps else 0, "files": files}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/autoscaler")
    ap.add_argument("--groups", type=int, default=4000)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--sighup", type=int, default=0)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    port = free_port()
    app = subprocess.Popen([binary, "demo-app", "--port", str(port)], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        with tempfile.TemporaryDirectory(dir=os.getcwd()) as tmp:
            rows = [run(binary, a.groups, port, a.seconds, tmp, "", a.interval, a.sighup),
                    run(binary, a.groups, port, a.seconds, tmp, os.path.join(tmp, "state"),
                        a.interval, a.sighup)]
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=10)
    print(f"{'state_dir':>9} {'groups':>7} {'decisions':>9} {'missed a tick':>13} "
          f"{'p99 gap':>8} {'max gap':>8} {'state files':>11}")
    for r in rows:
        print(f"{r['tag']:>9} {r['groups']:>7} {r['decisions']:>9} {r['missed']:>13} "
              f"{r['p99_gap']:>7.2f}s {r['max_gap']:>7.2f}s {r['files']:>11}")
    base, st = rows
    print(f"decisions with state_dir / without: {st['decisions'] / max(1, base['decisions']):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
