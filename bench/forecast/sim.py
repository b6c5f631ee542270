#!/usr/bin/env python3
"""Candidate configurations against fixed baselines in `autoscaler simulate`, with bench/quality's
model (its MODEL list, imported): each candidate's cost ratio to the oracle and SLO-violating
time on every trace, and the issue's goal — cost <= the KPA's and violating <= the HPA's — on
how many traces, and the moonshot (geometric-mean cost <= 1.15 x the oracle's with <= 1 %
violating time on every trace).

    python3 bench/forecast/sim.py [--bin build/autoscaler] [--reference bench/quality.yaml]
                                  CONFIG.yaml ...

The HPA and KPA baselines are taken from the reference configuration's run, once: simulate's
HPA baseline tracks the group's own utilization target, so a candidate with another target
would otherwise move the bar it is measured against.
"""

import argparse
import glob
import importlib.machinery
import importlib.util
import json
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def quality_module():
    path = os.path.join(REPO, "bench", "quality")
    loader = importlib.machinery.SourceFileLoader("quality", path)
    spec = importlib.util.spec_from_loader("quality", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def simulate(binary, config, trace, model, compare):
    argv = [binary, "simulate", "-c", config, "--trace", trace, "--json"] + model
    if compare:
        argv += ["--compare", compare]
    r = subprocess.run(argv, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        sys.exit(f"{config} on {trace}: exit {r.returncode}: {r.stderr}")
    return json.loads(r.stdout)["policies"]


def geomean(values):
    values = [max(v, 1e-9) for v in values]
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "autoscaler"))
    ap.add_argument("--reference", default=os.path.join(REPO, "bench", "quality.yaml"))
    ap.add_argument("--traces", default=os.path.join(REPO, "traces"))
    ap.add_argument("configs", nargs="+")
    a = ap.parse_args()
    model = quality_module().MODEL
    traces = sorted(glob.glob(os.path.join(a.traces, "*.csv")))
    base = {}
    for t in traces:
        ps = simulate(a.bin, a.reference, t, model, "oracle,hpa,kpa")
        base[t] = {"ref": ps[0], "hpa": ps[2], "kpa": ps[3]}
    names = ["reference"] + [os.path.basename(c) for c in a.configs]
    print(f"{'trace':<28}" + "".join(f"{n[:22]:>24}" for n in names) + f"{'hpa':>16}{'kpa':>16}")
    rows = {n: [] for n in names}
    for t in traces:
        cells = [base[t]["ref"]] + [simulate(a.bin, c, t, model, "oracle")[0] for c in a.configs]
        line = f"{os.path.basename(t)[:28]:<28}"
        for n, p in zip(names, cells):
            ok = (p["cost_ratio_to_oracle"] <= base[t]["kpa"]["cost_ratio_to_oracle"] and
                  p["violating_percent"] <= base[t]["hpa"]["violating_percent"])
            rows[n].append((p["cost_ratio_to_oracle"], p["violating_percent"], ok))
            line += f"{p['cost_ratio_to_oracle']:>11.3f} {p['violating_percent']:>6.2f}% {'ok' if ok else 'no':>4}"
        for b in ("hpa", "kpa"):
            p = base[t][b]
            line += f"{p['cost_ratio_to_oracle']:>8.3f} {p['violating_percent']:>6.2f}%"
        print(line, flush=True)
    print("cost: replica-seconds / the oracle's; then % of time violating the SLO; ok: cost <= "
          "kpa and violating <= hpa")
    for n in names:
        r = rows[n]
        g = geomean([c for c, _, _ in r])
        moon = g <= 1.15 and all(v <= 1.0 for _, v, _ in r)
        print(f"{n:<28} goal on {sum(ok for _, _, ok in r)} of {len(r)}; geometric-mean cost "
              f"{g:.3f}; worst violating {max(v for _, v, _ in r):.2f}%; moonshot "
              f"{'met' if moon else 'not met'}")


if __name__ == "__main__":
    main()
