#!/usr/bin/env python3
"""`autoscaler replay` against an awk floor that writes the same CSV, side by side in one run.

The floor is mawk (or awk) computing the same `target` policy with `average_value` and
`behavior: off`, and printing every row's reason with the same printf formats: the cheapest
honest program that produces the daemon's output byte for byte (checked before timing). Runs
alternate, CPU time from getrusage(RUSAGE_CHILDREN); prints each program's CPU per row (best
and median of --repeat) and the ratio ours/awk (goal: <= 1.5). For scale, "copy" is awk
splitting and printing the finished CSV (no decision, no number formatting): the I/O floor.

    python3 bench/replay_floor.py [--bin build/autoscaler] [--trace traces/...] [--repeat 7]
"""

import argparse
import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

AWK = r"""
BEGIN { FS = ","; avg = AVG + 0; prev = 1; tol = 0.1; print "t,current,desired,reason" }
NR == 1 { next }
{
    v = $2 + 0; cur = prev; d = v / avg; c = int(d); if (c < d) c++
    r = v / (avg * cur)
    if (r - 1 <= tol && 1 - r <= tol) {
        printf "%s,%d,%d,\"rps=%g average_value=%g ratio=%.3f within tolerance %g: keep %d\"\n",
            $1, cur, cur, v, avg, r, tol, cur
        prev = cur
    } else {
        if (c < 1) c = 1
        if (c > 1000) c = 1000
        printf "%s,%d,%d,\"rps=%g average_value=%g: ceil(%g/%g)=%d\"\n", $1, cur, c, v, avg, v, avg, c
        prev = c
    }
}
"""

CONFIG = """log_file: ''
state_dir: ''
groups:
  web:
    interval: 1s
    min: 1
    max: 1000
    behavior: off
    metrics:
      - name: rps
        type: http_json
        url: http://127.0.0.1:1/
        pointer: /rps
        average_value: {avg}
    scaler: {{type: http, url: 'http://127.0.0.1:1/'}}
"""


def cpu_of(argv, out_path):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out_path, "wb") as out:
        subprocess.run(argv, stdout=out, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/autoscaler")
    ap.add_argument("--trace", default="traces/worldcup98_jun25-27_1s.csv")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--copies", type=int, default=3, help="the trace repeated, for a longer run")
    a = ap.parse_args()
    awk = shutil.which("mawk") or shutil.which("awk")
    rows = list(csv.reader(open(a.trace)))[1:]
    avg = round(max(float(r[1]) for r in rows) / 40, 2)
    with tempfile.TemporaryDirectory() as tmp:
        inp, cfg, prog = (os.path.join(tmp, n) for n in ("in.csv", "c.yaml", "floor.awk"))
        with open(inp, "w") as f:
            f.write("t,rps\n")
            for k in range(a.copies):
                f.writelines(f"{int(r[0]) + k * len(rows)},{r[1]}\n" for r in rows)
        open(cfg, "w").write(CONFIG.format(avg=avg))
        open(prog, "w").write(AWK)
        ours = [a.bin, "replay", "-c", cfg, "--metrics", inp]
        floor = [awk, "-v", f"AVG={avg}", "-f", prog, inp]
        o1, o2 = os.path.join(tmp, "ours.csv"), os.path.join(tmp, "awk.csv")
        cpu_of(ours, o1), cpu_of(floor, o2)
        if open(o1, "rb").read() != open(o2, "rb").read():
            print("the awk floor's output differs from replay's: not comparable", file=sys.stderr)
            return 1
        n = len(rows) * a.copies
        copy = [awk, "-F,", '{print $1 "," $2 "," $3 "," $4}', o2]
        t_ours, t_awk, t_copy = [], [], []
        for _ in range(a.repeat):
            t_ours.append(cpu_of(ours, o1))
            t_awk.append(cpu_of(floor, o2))
            t_copy.append(cpu_of(copy, os.path.join(tmp, "copy.csv")))
    print(f"{os.path.basename(a.trace)} x{a.copies}: {n} rows, output checked identical, "
          f"{a.repeat} alternating runs, CPU us/row")
    print(f"{'':>8} {'best':>8} {'median':>8}")
    for name, t in (("replay", t_ours), (os.path.basename(awk), t_awk), ("copy", t_copy)):
        print(f"{name:>8} {min(t) / n * 1e6:8.3f} {statistics.median(t) / n * 1e6:8.3f}")
    ratios = sorted(o / w for o, w in zip(t_ours, t_awk))
    print(f"ours/awk: best {min(t_ours) / min(t_awk):.2f}x, median of pairs "
          f"{statistics.median(ratios):.2f}x (goal <= 1.5)")
    print(f"ours/copy (awk only splitting and printing the finished rows, no decision): "
          f"{min(t_ours) / min(t_copy):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
