#!/usr/bin/env python3
"""Which forecaster for the `predictive` policy: every candidate over every trace at several
leads, side by side in one run, standard library only.

    python3 bench/forecast/forecast.py [--traces traces] [--leads 30,60,120] [--only nasa,...]

A forecaster sees the trace one step at a time (what a group's rounds would see) and, at each
step t, forecasts the demand at t + lead. The policy provisions P = max(now, forecast): the
reactive part (the demand now, what the HPA provisions for) is always a floor, so the table
scores P against the demand that actually arrives at t + lead:

  under%   how often P < actual (a replica short when the load arrives)
  short    mean shortfall (actual - P) / actual over those steps, in %
  over     mean extra capacity max(P - actual, 0) / mean(actual), in %
  m95      the margin P needs so that P * (1 + m95) covers 95 % of the steps, in %
  cost95   the extra capacity at that margin, in % of the mean demand: the cost of the same
           risk, the one number to compare methods by (lower is better)

Each trace is scaled so that its peak needs --peak replicas (20): the demand is in replicas,
as the policy's is (its errors are relative above one replica).

Candidates (state sizes as the C policy would keep them):
  reactive  the demand now (what a reactive policy provisions for the lead's delay)
  holt      EWMA level + trend (time constants 2 and 10 min), forecast L + T * lead
  max5m     the largest demand of the last 5 minutes
  snaive    the demand at the same time yesterday (5-minute buckets), scaled by the ratio of
            the recent level to yesterday's level at the same time
  hw        the shipped forecaster (src/policies/forecast.c, built here with fc_driver.c):
            Holt-Winters, multiplicative daily (288 x 5 min) and weekly (168 x 1 h) seasons
            with robust (clipped) updates, over a fast level and slope (2 and 10 min):
            forecast = (fast + slope * lead) * S(t + lead)
  pred      hw as the policy uses it: only after --history, and only while its recent error
            is below --max-error; the reactive value otherwise
"""

import argparse
import math
import os
import subprocess
import sys
import tempfile

TRACES = [
    "worldcup98_jun25-27_1s.csv",
    "nasa_http_jul95_1min.csv",
    "azure_functions_2019_500fn_aggregate_1min.csv",
    "azure_functions_2019_single_http_fn_1min.csv",
    "azure_llm_inference_conv_2023_1s.csv",
    "twitter_stream_aug2021_1min.csv",
]
DAY, WEEK, BUCKET = 86400, 7 * 86400, 300


def load(path):
    ts, vs = [], []
    with open(path) as f:
        next(f)
        for line in f:
            t, v = line.split(",")
            ts.append(float(t))
            vs.append(float(v))
    return ts, vs


def ewma_k(dt, tau):
    return 1.0 - math.exp(-dt / tau)


class Reactive:
    name = "reactive"

    def __init__(self):
        self.v = 0.0

    def update(self, t, dt, v):
        self.v = v

    def forecast(self, t, lead):
        return self.v


class Holt:
    name = "holt"

    def __init__(self, tau_l=120.0, tau_t=600.0):
        self.l, self.tr, self.n, self.tau_l, self.tau_t = None, 0.0, 0, tau_l, tau_t

    def update(self, t, dt, v):
        if self.l is None:
            self.l = v
            return
        prev = self.l
        self.l += ewma_k(dt, self.tau_l) * (v - self.l)
        self.tr += ewma_k(dt, self.tau_t) * ((self.l - prev) / dt - self.tr)

    def forecast(self, t, lead):
        return max(0.0, self.l + self.tr * lead)


class TrailMax:
    name = "max5m"

    def __init__(self, window=300.0):
        self.q, self.w = [], window  # monotone deque of (t, v)

    def update(self, t, dt, v):
        while self.q and self.q[-1][1] <= v:
            self.q.pop()
        self.q.append((t, v))
        while self.q[0][0] <= t - self.w:
            self.q.pop(0)

    def forecast(self, t, lead):
        return self.q[0][1]


class Buckets:
    """Bucket means of the last day, as the seasonal naive forecaster keeps them."""

    def __init__(self):
        self.mean = [None] * (DAY // BUCKET)
        self.cur, self.sum, self.cnt = None, 0.0, 0

    def add(self, t, v):
        b = int(t // BUCKET)
        if self.cur is not None and b != self.cur:
            self.mean[self.cur % len(self.mean)] = self.sum / self.cnt if self.cnt else None
            for k in range(self.cur + 1, min(b, self.cur + len(self.mean))):
                self.mean[k % len(self.mean)] = None  # a gap is unknown, not zero
            self.sum, self.cnt = 0.0, 0
        self.cur = b
        self.sum += v
        self.cnt += 1

    def at(self, t):
        return self.mean[int(t // BUCKET) % len(self.mean)]


class SNaive:
    name = "snaive"

    def __init__(self):
        self.b, self.t0, self.level = Buckets(), None, None

    def update(self, t, dt, v):
        if self.t0 is None:
            self.t0 = t
        self.level = v if self.level is None else self.level + ewma_k(dt, 300.0) * (v - self.level)
        self.b.add(t, v)

    def forecast(self, t, lead):
        if t - self.t0 < DAY:
            return self.level
        then, ahead = self.b.at(t - DAY + BUCKET), self.b.at(t + lead)
        # the bucket of "now" yesterday is the one a day ago (t - DAY) = index of t
        then = self.b.at(t)
        if not then or ahead is None:
            return self.level
        return self.level * ahead / then


def c_forecasts(vs, step, h, opts):
    """The shipped forecaster (fc_driver.c over src/policies/forecast.c): per row, the
    forecast h steps ahead and whether the policy would trust it."""
    argv = [opts.driver, str(step), str(h * step - step), "1", "1", str(opts.history),
            str(opts.max_error)]
    out = subprocess.run(argv, input="\n".join(repr(v) for v in vs), capture_output=True,
                         text=True, check=True).stdout.split()
    return [float(x) for x in out[0::2]], [x == "1" for x in out[1::2]]


def build_driver(out):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
    subprocess.run(["cc", "-O2", "-std=c11", "-I", os.path.join(root, "src"), "-o", out,
                    os.path.join(root, "bench/forecast/fc_driver.c"),
                    os.path.join(root, "src/policies/forecast.c"), "-lm"], check=True)


def score(vs, h, preds):
    """preds[i] = P made after step i was seen; compared with the demand h steps later."""
    pairs = [(preds[i], vs[i + h]) for i in range(len(vs) - h)]
    mean_a = sum(a for _, a in pairs) / max(len(pairs), 1)
    under = short = over = 0.0
    ratios = []
    for p, a in pairs:
        if a > p:
            under += 1
            short += (a - p) / a
        over += max(p - a, 0.0)
        ratios.append(a / p if p > 0 else (1.0 if a == 0 else 10.0))
    ratios.sort()
    n = max(len(pairs), 1)
    m95 = max(0.0, ratios[int(0.95 * (len(ratios) - 1))] - 1.0) if ratios else 0.0
    cost95 = sum(max(p * (1 + m95) - a, 0.0) for p, a in pairs) / n
    return {
        "under": 100.0 * under / n,
        "short": 100.0 * short / max(under, 1),
        "over": 100.0 * over / n / max(mean_a, 1e-12),
        "m95": 100.0 * m95,
        "cost95": 100.0 * cost95 / max(mean_a, 1e-12),
    }


def run(path, leads, opts):
    ts, vs = load(path)
    top = max(vs)
    vs = [v * opts.peak / top for v in vs]  # demand in replicas, as the policy sees it
    step = ts[1] - ts[0]
    # Row i (the mean over [t, t + step)) is known at t + step; a forecast made then for
    # t + step + lead falls in row i + h.
    hs = {lead: 1 + int(lead // step) for lead in leads}
    cands = [Reactive(), Holt(), TrailMax(), SNaive()]
    preds = {c.name: {lead: [] for lead in leads} for c in cands}
    for t, v in zip(ts, vs):
        for c in cands:
            c.update(t, step, v)
            for lead in leads:
                preds[c.name][lead].append(max(v, c.forecast(t, hs[lead] * step)))
    preds["hw"], preds["pred"] = {}, {}
    for lead in leads:
        f, trust = c_forecasts(vs, step, hs[lead], opts)
        preds["hw"][lead] = [max(v, x) for v, x in zip(vs, f)]
        preds["pred"][lead] = [max(v, x) if ok else v for v, x, ok in zip(vs, f, trust)]
    return {(m, lead): score(vs, hs[lead], preds[m][lead]) for m in preds for lead in leads}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", default=os.path.join(os.path.dirname(__file__), "../../traces"))
    ap.add_argument("--leads", default="30,60,120")
    ap.add_argument("--peak", type=float, default=20, help="replicas the trace's peak needs")
    ap.add_argument("--history", type=float, default=3600, help="pred: history needed, s")
    ap.add_argument("--max-error", type=float, default=0.5, help="pred: max_error")
    ap.add_argument("--only", default="", help="comma-separated substrings of trace names")
    a = ap.parse_args()
    leads = [int(x) for x in a.leads.split(",")]
    names = [n for n in TRACES if not a.only or any(s in n for s in a.only.split(","))]
    print(f"{'trace':<22} {'lead':>4} {'method':<9} {'under%':>7} {'short%':>7} {'over%':>7}"
          f" {'m95%':>7} {'cost95%':>8}")
    totals = {}
    tmp = tempfile.mkdtemp()
    a.driver = os.path.join(tmp, "fc_driver")
    build_driver(a.driver)
    for name in names:
        res = run(os.path.join(a.traces, name), leads, a)
        for lead in leads:
            for (meth, ld), r in res.items():
                if ld != lead:
                    continue
                totals.setdefault((meth, lead), []).append(r["cost95"])
                print(f"{name[:22]:<22} {lead:>4} {meth:<9} {r['under']:>7.1f} {r['short']:>7.1f}"
                      f" {r['over']:>7.1f} {r['m95']:>7.1f} {r['cost95']:>8.1f}")
        sys.stdout.flush()
    print("\nmean cost95% over the traces (lower is better):")
    for lead in leads:
        row = "  ".join(f"{m}={sum(v) / len(v):.1f}" for (m, ld), v in totals.items() if ld == lead)
        print(f"  lead {lead:>3}s: {row}")


if __name__ == "__main__":
    main()
