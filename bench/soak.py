#!/usr/bin/env python3
"""N groups on one local nginx for minutes: the daemon's RSS and CPU over time, with its
/metrics scraped as Prometheus would, so that a growth the short benches cannot see shows.

    python3 bench/soak.py [--bin build/autoscaler] [--groups 10000] [--seconds 300] [--every 30]

The same nginx and configuration as bench/scale.py (`run --dry-run`, one `http_json` metric a
group every second). Every --every seconds: a scrape of /metrics, then the RSS and the CPU
share since the start. At the end, the ERROR lines of the daemon's log. Everything on
127.0.0.1; every process it starts is stopped.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scale  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/autoscaler")
    ap.add_argument("--groups", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--every", type=int, default=30)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="as-soak-")
    nginx, url, _ = scale.start_nginx(tmp)
    api = scale.free_port()
    path, log = os.path.join(tmp, "d.yaml"), os.path.join(tmp, "d.log")
    with open(path, "w") as f:
        f.write(scale.config(a.groups, url, log, api, "info"))
    d = subprocess.Popen([os.path.abspath(a.bin), "run", "-c", path, "--dry-run"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0, c0 = time.monotonic(), scale.cpu_seconds(d.pid)
        print(f"{a.groups} groups every 1s, /metrics scraped every {a.every}s")
        while time.monotonic() - t0 < a.seconds:
            time.sleep(a.every)
            scale.scrape(api)
            t = time.monotonic() - t0
            cpu = (scale.cpu_seconds(d.pid) - c0) / t * 100
            print(f"{t:6.0f}s  RSS {scale.rss_kib(d.pid) / 1024:6.1f} MiB  CPU {cpu:4.0f}%",
                  flush=True)
    finally:
        scale.stop(d)
        scale.stop(nginx, signal.SIGQUIT, 10)
    with open(log) as f:
        print("ERROR lines:", sum(1 for line in f if " ERROR " in line))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
