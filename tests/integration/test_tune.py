#!/usr/bin/env python3
"""`autoscaler tune` (docs/tune.md) on a short real trace: the group it prints is accepted by
`check` and, pasted into the configuration, `simulate` on the held-out part gives exactly the
figures tune reported; the same seed gives the same result; a group that cannot meet the SLO
is reported as such; errors at file:line:column with exit code 2.

    python3 tests/integration/test_tune.py --bin build/autoscaler
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, main, run_cli, test  # noqa: E402

TRACE = os.path.join(REPO, "traces", "azure_functions_2019_500fn_aggregate_1min.csv")

# The scaler's command is a reference: the printed group must keep it as written.
CONFIG = """\
groups:
  web:
    max: {max}
    interval: 15s
    metrics:
      - name: cpu
        type: cpu
        target: 0.7
    scaler:
      type: exec
      command: ["${{env:TUNE_TEST_CMD}}"]
    model:
      capacity: 50
      startup: 30s
      concurrency: 4
      slo_latency: 250ms
"""
ENV = {"TUNE_TEST_CMD": "true"}
FIGURES = ["cost_replica_seconds", "violating_seconds", "scale_events", "slo_latency_mean_ms",
           "slo_latency_max_ms", "max_replicas"]


def write(ctx, name, text):
    path = os.path.join(ctx.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def tune(ctx, config, *extra, timeout=60):
    return run_cli(ctx.bin, ["tune", "-c", config, "--trace", TRACE, *extra], timeout=timeout,
                   env=ENV)


def simulate_held_out(ctx, config, report):
    r = run_cli(ctx.bin, ["simulate", "-c", config, "--trace", TRACE, "--json", "--from",
                          repr(report["held_out"]["from_s"]), "--scale",
                          repr(report["load_scale"])], env=ENV)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["policies"][0]


@test
def test_pasted_group_reproduces_held_out(ctx):
    config = write(ctx, "web.yaml", CONFIG.format(max=40))
    r = tune(ctx, config, "--json", "--budget", "60", "--seed", "3")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["simulations"] <= 60
    assert rep["held_out"]["from_s"] == 20160  # 70 % of 8 h, on a row of the trace
    keys = [p["key"] for p in rep["parameters"]]
    assert keys == ["metrics.cpu.target", "behavior.scale_down.stabilization",
                    "behavior.scale_up.stabilization", "interval"], keys
    yaml = rep["yaml"]
    assert yaml.startswith("web:\n") and '"${env:TUNE_TEST_CMD}"' in yaml, yaml
    best = {p["key"]: p["best"] for p in rep["parameters"]}
    assert f"  interval: {best['interval']}\n" in yaml, yaml
    assert f"      stabilization: {best['behavior.scale_down.stabilization']}\n" in yaml, yaml
    pasted = write(ctx, "tuned.yaml",
                   "groups:\n" + "".join("  " + line + "\n" for line in yaml.splitlines()))
    c = run_cli(ctx.bin, ["check", "-c", pasted], env=ENV)
    assert c.returncode == 0, c.stdout + c.stderr
    got = simulate_held_out(ctx, pasted, rep)
    want = rep["held_out_results"]["best"]
    for k in FIGURES:
        assert got[k] == want[k], (k, got[k], want[k])
    # the current settings, untouched, held out the same way
    got = simulate_held_out(ctx, config, rep)
    for k in FIGURES:
        assert got[k] == rep["held_out_results"]["current"][k], k
    # the search never does worse than the current settings on the part tuned on
    t = rep["tuned_on_results"]
    cur_ok = t["current"]["violating_percent"] <= 1
    assert rep["feasible"] or not cur_ok
    if cur_ok:
        assert t["best"]["cost_replica_seconds"] <= t["current"]["cost_replica_seconds"]


@test
def test_same_seed_same_table(ctx):
    config = write(ctx, "web.yaml", CONFIG.format(max=40))
    args = ["--budget", "25", "--seed", "9", "--param", "metrics.cpu.target=0.4:0.95:0.05",
            "--param", "interval=5s:30s:5s", "--train", "60%", "--max-violation", "2%"]
    a, b = tune(ctx, config, *args), tune(ctx, config, *args, "--threads", "1")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr

    def strip(out):  # the elapsed time differs
        return [line for line in out.splitlines() if "simulations in" not in line]
    assert strip(a.stdout) == strip(b.stdout), a.stdout + "\n---\n" + b.stdout
    assert "at most 2% of the time violating" in a.stdout, a.stdout
    assert "held out 17280 s to 28800 s" in a.stdout, a.stdout
    assert "autoscaler simulate -c" in a.stdout and "--from 17280" in a.stdout, a.stdout
    assert "25 simulations" in a.stdout or "(converged)" in a.stdout, a.stdout


@test
def test_infeasible_is_said(ctx):
    config = write(ctx, "small.yaml", CONFIG.format(max=1))  # the peak needs 3
    r = tune(ctx, config, "--budget", "15")
    assert r.returncode == 0, r.stderr
    assert "no setting tried meets the SLO on the part tuned on" in r.stdout, r.stdout
    assert "the best settings miss the SLO on the held-out part" in r.stdout, r.stdout
    j = tune(ctx, config, "--budget", "15", "--json")
    rep = json.loads(j.stdout)
    assert rep["feasible"] is False and rep["held_out_meets_slo"] is False


@test
def test_errors(ctx):
    good = write(ctx, "web.yaml", CONFIG.format(max=40))
    bad = write(ctx, "bad.yaml", CONFIG.format(max=40).replace("interval: 15s", "interval: 1ms"))
    r = tune(ctx, bad)
    assert r.returncode == 2 and f"{bad}:4:15:" in r.stderr, r.stderr
    trace = write(ctx, "t.csv", "t_seconds,requests_per_second\n0,1\n60,x\n")
    r = run_cli(ctx.bin, ["tune", "-c", good, "--trace", trace], env=ENV)
    assert r.returncode == 2 and f"{trace}:3:" in r.stderr, r.stderr
    cases = [
        (["--param", "metrics.nope.target=0.1:0.9"], "no metric 'nope'"),
        (["--param", "interval=1m:5s"], "LO <= HI"),
        (["--param", "policy.stable_window=6s:1m"], "policy target has no key"),
        (["--train", "100%"], "--train '100%'"),
        (["--max-violation", "x"], "--max-violation 'x'"),
        (["--budget", "0"], "--budget '0'"),
        (["--slo", "p95"], "--slo 'p95'"),
        (["--frobnicate"], "unknown argument"),
    ]
    for extra, msg in cases:
        r = tune(ctx, good, *extra)
        assert r.returncode == 2 and msg in r.stderr, (extra, r.returncode, r.stderr)
    # a candidate the loader refuses is counted and named by its values, not by a position
    kpa = write(ctx, "kpa.yaml", CONFIG.format(max=40).replace(
        "    scaler:", "    policy: {type: panic, target: 3}\n    scaler:"))
    r = tune(ctx, kpa, "--param", "policy.stable_window=6s:1m:1s", "--budget", "30")
    assert r.returncode == 0, r.stderr
    assert "refused by the configuration loader, the first (policy.stable_window " in r.stdout, \
        r.stdout
    assert "panic window must be at least 1s" in r.stdout and "kpa.yaml:" not in r.stdout, r.stdout
    r = run_cli(ctx.bin, ["tune", "-c", good])
    assert r.returncode == 2 and "--trace" in r.stderr, r.stderr
    r = run_cli(ctx.bin, ["tune", "--help"])
    assert r.returncode == 0 and "--max-violation" in r.stdout, r.stdout


if __name__ == "__main__":
    sys.exit(main())
