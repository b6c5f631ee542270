#!/usr/bin/env python3
"""Cost of loading a configuration as the number of groups grows: side by side in one run.

Writes realistic configurations of N groups (each with one http_json metric: url, pointer,
target; and an http scaler: url, get_url) for N in SIZES, runs `autoscaler check -c FILE` on
each, and prints wall and CPU seconds, peak RSS (of the child, from getrusage(RUSAGE_CHILDREN) taken
around each run in its own process), and the time and memory per group. The last lines give
the ratio of per-group time (and per-group memory) at the largest N vs the reference N: 1.0
means the loader is linear.

    python3 bench/config_load.py [--bin build/autoscaler] [--sizes 1000,10000,100000]
                                 [--ref 10000] [--repeat 1] [--timeout 600]

Use a release build (`make`), not the ASan one. Bounded: each check is killed after --timeout
seconds. The files go to a temporary directory that is removed afterwards.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

GROUP = """  g{i:06d}:
    interval: 15s
    min: 1
    max: {max}
    metrics:
      - name: cpu
        type: http_json
        url: http://10.{a}.{b}.{c}:8080/svc/g{i:06d}/status
        pointer: /cpu/highPriority
        target: 0.8
    scaler:
      type: http
      url: http://10.{a}.{b}.{c}:8080/svc/g{i:06d}/replicas
      get_url: http://10.{a}.{b}.{c}:8080/svc/g{i:06d}/replicas
"""


def write_config(path, n):
    with open(path, "w") as f:
        f.write("log_file: ''\nstate_dir: ''\ngroups:\n")
        for i in range(n):
            f.write(GROUP.format(i=i, max=2 + i % 40, a=(i >> 16) & 255, b=(i >> 8) & 255,
                                 c=i & 255))


def run_check(binary, path, timeout):
    """(wall seconds, CPU seconds, peak RSS in KiB) of one `check`, measured in a forked child
    so that RUSAGE_CHILDREN holds that run alone."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        t0 = time.monotonic()
        try:
            p = subprocess.run([binary, "check", "-c", path], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = -1
        dt = time.monotonic() - t0
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        os.write(w, f"{rc} {dt} {ru.ru_utime + ru.ru_stime} {ru.ru_maxrss}".encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    rc, dt, cpu, rss = out.split()  # ru_maxrss is in KiB on Linux
    if int(rc) != 0:
        raise SystemExit(f"check failed (code {rc}) on {path}")
    return float(dt), float(cpu), int(rss)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="build/autoscaler")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--ref", type=int, default=10000, help="N the ratios are taken against")
    ap.add_argument("--repeat", type=int, default=1, help="runs per size; the best is kept")
    ap.add_argument("--timeout", type=float, default=600.0)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    rows = {}
    print(f"{'groups':>8} {'file':>9} {'seconds':>9} {'CPU s':>9} {'us/group':>9} "
          f"{'peak RSS':>11} {'KiB/group':>9}")
    with tempfile.TemporaryDirectory(prefix="as-bench-cfg-") as d:
        for n in sizes:
            path = os.path.join(d, f"groups-{n}.yaml")
            write_config(path, n)
            size = os.path.getsize(path)
            best = min(run_check(a.bin, path, a.timeout) for _ in range(a.repeat))
            rows[n] = best
            dt, cpu, rss = best
            print(f"{n:>8} {size / 1e6:>8.1f}M {dt:>9.3f} {cpu:>9.3f} {dt / n * 1e6:>9.1f} "
                  f"{rss:>8d}KiB {rss / n:>9.2f}", flush=True)
            os.unlink(path)
    big = max(sizes)
    if a.ref in rows and big != a.ref:
        (t_ref, c_ref, m_ref), (t_big, c_big, m_big) = rows[a.ref], rows[big]
        print(f"per-group time at {big} vs {a.ref}: {(t_big / big) / (t_ref / a.ref):.2f}x "
              f"wall, {(c_big / big) / (c_ref / a.ref):.2f}x CPU (1.0 = linear)")
        print(f"per-group peak RSS at {big} vs {a.ref}: {(m_big / big) / (m_ref / a.ref):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
