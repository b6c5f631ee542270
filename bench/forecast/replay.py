#!/usr/bin/env python3
"""The `predictive` policy against target tracking on the real traces, through `autoscaler
replay` (the daemon's own decision code), side by side in one run:

    python3 bench/forecast/replay.py [--bin build/autoscaler] [--policy '{type: predictive}']

Each trace's requests per second become a total metric with `average_value` = one replica's
capacity; the replicas decided at each round are compared with what the demand needs `lead`
(60 s) later, when a replica started now would serve:

  under%    rounds with fewer replicas than the demand `lead` later needs
  replicas  mean replicas decided (the cost)
  eq under% target tracking given the same mean cost (its capacity per replica lowered until
            it spends as much): does the forecast place the extra replicas better than a
            constant headroom would?

Both without the behavior stage (`behavior: off`, the policy's own decisions) and with the
HPA's default behavior (5-minute scale-down window, rate limits).
"""

import argparse
import csv
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TRACES = os.path.join(HERE, "../../traces")
# (file, interval s, replica capacity in req/s, rows averaged into one round)
CASES = [
    ("worldcup98_jun25-27_1s.csv", 5, 80, 5),
    ("nasa_http_jul95_1min.csv", 60, 0.3, 1),
    ("azure_functions_2019_500fn_aggregate_1min.csv", 60, 6, 1),
    ("azure_functions_2019_single_http_fn_1min.csv", 60, 0.2, 1),
    ("azure_llm_inference_conv_2023_1s.csv", 1, 1, 1),
    ("twitter_stream_aug2021_1min.csv", 60, 15, 1),
]
LEAD = 60


def rounds(name, stride):
    with open(os.path.join(TRACES, name)) as f:
        rows = [(float(t), float(v)) for t, v in list(csv.reader(f))[1:]]
    ts = [rows[i][0] for i in range(0, len(rows) - stride + 1, stride)]
    vs = [sum(v for _, v in rows[i:i + stride]) / stride
          for i in range(0, len(rows) - stride + 1, stride)]
    return ts, vs


def replay(binary, tmp, ts, vs, interval, capacity, policy, behavior):
    inp, cfg = os.path.join(tmp, "in.csv"), os.path.join(tmp, "c.yaml")
    with open(inp, "w") as f:
        f.write("t,rps\n" + "".join(f"{t:g},{v:g}\n" for t, v in zip(ts, vs)))
    with open(cfg, "w") as f:
        f.write(f"""log_file: ''
state_dir: ''
groups:
  web:
    interval: {interval}s
    min: 1
    max: 100000
{behavior}
    policy: {policy}
    metrics:
      - {{name: rps, type: http_json, url: 'http://127.0.0.1:1/', pointer: /rps,
          average_value: {capacity!r}}}
    scaler: {{type: http, url: 'http://127.0.0.1:1/'}}
""")
    out = subprocess.run([binary, "replay", "-c", cfg, "--metrics", inp], capture_output=True,
                         text=True, check=True).stdout
    return [int(r[2]) for r in list(csv.reader(out.splitlines()))[1:]]


def score(ts, vs, desired, capacity):
    h = 1 + int(LEAD // (ts[1] - ts[0]))
    n = len(desired) - h
    under = sum(1 for i in range(n) if desired[i] < vs[i + h] / capacity)
    return 100.0 * under / n, sum(desired[:n]) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/autoscaler")
    ap.add_argument("--policy", default="{type: predictive}")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    print(f"policy: {a.policy}; lead {LEAD}s")
    print(f"{'trace':<24} {'behavior':<8} {'target under%':>13} {'replicas':>8} |"
          f" {'pred under%':>11} {'replicas':>8} | {'eq under%':>9} {'replicas':>8}")
    for name, interval, cap, stride in CASES:
        ts, vs = rounds(name, stride)
        for label, beh in (("off", "    behavior: off"), ("hpa", "")):
            u0, c0 = score(ts, vs, replay(a.bin, tmp, ts, vs, interval, cap, "{type: target}",
                                          beh), cap)
            u1, c1 = score(ts, vs, replay(a.bin, tmp, ts, vs, interval, cap, a.policy, beh), cap)
            eq = replay(a.bin, tmp, ts, vs, interval, cap * c0 / c1, "{type: target}", beh)
            u2, c2 = score(ts, vs, eq, cap)
            print(f"{name[:24]:<24} {label:<8} {u0:>13.1f} {c0:>8.2f} | {u1:>11.1f} {c1:>8.2f} |"
                  f" {u2:>9.1f} {c2:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
