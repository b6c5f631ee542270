#!/usr/bin/env python3
"""Decisions per second of `autoscaler replay` on real traffic traces, side by side in one run:
the target policy alone (`behavior: off`) against the same with the HPA's default behavior
(5-minute scale-down window, rate policies), whose stabilization log grows with the window.

Each trace's requests per second become a total metric with `average_value` = the capacity of
one replica (a peak needs `replicas_at_peak` replicas), so replay answers: how many replicas
would this traffic have needed, decision by decision.

    python3 bench/replay.py [--bin build/autoscaler] [--traces traces] [--repeat 3]

Use a release build (`make`). Prints rows, seconds, decisions/s, the ratio, and the range of
replicas decided.
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

TRACES = ["worldcup98_jun25-27_1s.csv", "azure_llm_inference_conv_2023_1s.csv",
          "nasa_http_jul95_1min.csv", "twitter_stream_aug2021_1min.csv"]


def config(path, capacity, behavior):
    with open(path, "w") as f:
        f.write(f"""log_file: ''
state_dir: ''
groups:
  web:
    interval: 1s
    min: 1
    max: 1000
{behavior}
    metrics:
      - name: rps
        type: http_json
        url: http://127.0.0.1:1/
        pointer: /rps
        average_value: {capacity}
    scaler: {{type: http, url: 'http://127.0.0.1:1/'}}
""")


def best_time(argv, repeat):
    best, out = None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/autoscaler")
    ap.add_argument("--traces", default="traces")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--replicas-at-peak", type=int, default=40)
    a = ap.parse_args()
    print(f"{'trace':<40} {'rows':>7} {'off: dec/s':>11} {'HPA: dec/s':>11} {'HPA/off':>8} "
          f"{'replicas (HPA)':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in TRACES:
            rows = list(csv.reader(open(os.path.join(a.traces, name))))[1:]
            peak = max(float(r[1]) for r in rows)
            capacity = max(peak / a.replicas_at_peak, 1e-6)
            inp = os.path.join(tmp, "in.csv")
            with open(inp, "w") as f:
                f.write("t,rps\n")
                f.writelines(f"{r[0]},{r[1]}\n" for r in rows)
            results = []
            for label, behavior in (("off", "    behavior: off"), ("hpa", "")):
                cfg = os.path.join(tmp, f"{label}.yaml")
                config(cfg, capacity, behavior)
                secs, out = best_time([a.bin, "replay", "-c", cfg, "--metrics", inp], a.repeat)
                desired = [int(line.split(",")[2]) for line in out.splitlines()[1:]]
                results.append((secs, desired))
            (off_s, _), (hpa_s, hpa_d) = results
            n = len(rows)
            print(f"{name:<40} {n:>7} {n / off_s:>11.0f} {n / hpa_s:>11.0f} "
                  f"{hpa_s / off_s:>7.2f}x {min(hpa_d):>6}..{max(hpa_d):<7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
