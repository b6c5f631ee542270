#!/usr/bin/env python3
"""Faults: bad measurements (scenario 1 of tests/faults/README.md).

The metric is read from a path server that mirrors the scaleit app's /app/status (so the
source can be taken down on its own while the count stays readable), or from the app itself
with a status fault. Before every fault the load is made low, so that any measurement taken
as valid would scale down: none may.

    python3 tests/faults/test_measure.py --bin build/autoscaler [-k NAME]
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faultlib import (PathServer, app_of, assert_decides_on_cadence, config,  # noqa: E402
                      counters, finish, main, no_scale_down, start, test)

INTERVAL = 0.4
# Every status fault that must fail the measurement; `huge` is a valid number (its own test).
FAILING = ("500", "hang", "garbage", "badjson", "nan", "infinity", "hexstr", "hex", "numstr",
           "empty", "big", "negative", "missing")


def failed_rounds(d, since, n, timeout):
    """Waits for n decisions with cpu=failed from `since` on; returns every decision since."""
    d.wait_decisions(n, timeout, since=since, where=lambda x: x.values.get("cpu", 0) is None)
    return d.decisions(since=since)


def assert_held(d, since, until=None):
    bad = [x.line.raw for x in d.decisions(since=since, until=until)
           if x.values.get("cpu", 0) is None and x.desired < x.current]
    assert not bad, "a failed measurement proposed a scale-down:\n" + "\n".join(bad)


@test
def test_source_down_then_back(ctx):
    app = app_of(ctx, load=4.8, replicas=6)                 # cpu 0.8: on target
    mirror = PathServer({"/status": lambda: json.loads(app._status_body())},
                        keepalive=False).up()
    ctx.defer(mirror.stop)
    cfg = config(ctx.tmp, app, metric={"url": mirror.url("/status")})
    d = start(ctx, cfg)
    c0 = counters(d)["web"]

    mirror.down()                                           # connection refused from now on
    app.set_load(1.2)                                       # a valid read would want 2
    t0, mark = time.monotonic(), d.mark()
    failed_rounds(d, mark, 4, 10)
    d.wait_log(r"source/http_json\[web/cpu\]: .*(?i:connect|refused)", 2, since=mark)
    c1 = counters(d)["web"]
    no_scale_down(app, t0)
    assert_held(d, mark)
    assert app.replicas == 6
    assert c1["measure_failures"] - c0["measure_failures"] >= 4, (c0, c1)

    mirror.up()                                             # back: the scale-down happens now
    d.wait_until(lambda: app.replicas == 2, 10, "the scale-down once the source is back")
    assert_decides_on_cadence(d, "web", INTERVAL, seconds=3.0)
    finish(d)


@test
def test_every_bad_body_fails_and_never_scales_down(ctx):
    app = app_of(ctx, load=4.8, replicas=6, hang_s=1.5)
    cfg = config(ctx.tmp, app)
    d = start(ctx, cfg)
    d.wait_decisions(2, 10)
    c0 = counters(d)["web"]
    app.inject("status", "500")
    d.wait_until(lambda: app.faults_served("status") >= 1, 5, "the first fault served")
    app.set_load(1.2)
    t0, mark0 = time.monotonic(), d.mark()
    seen = {}
    for mode in FAILING:
        mark = d.mark()
        app.inject("status", mode)                          # replaces the last one: no gap
        d.wait_until(lambda: app.faults_served("status", mode) >= 2, 12,
                     f"two '{mode}' faults served")
        # Two decisions after the second fault was served: both rounds are decided.
        n0 = len(d.decisions(since=mark))
        d.wait_decisions(n0 + 1, 8, since=mark)
        seen[mode] = [x.values.get("cpu") for x in d.decisions(since=mark)]
        valid = [x.line.raw for x in d.decisions(since=mark)[1:] if x.values.get("cpu") is not None]
        assert not valid, f"'{mode}': a decision on a valid cpu:\n" + "\n".join(valid)
    served = app.faults_served("status")
    c1 = counters(d)["web"]
    app.clear("status")
    t1 = time.monotonic()
    no_scale_down(app, t0, t1)
    assert_held(d, mark0)
    assert app.replicas == 6, app.replicas
    grew = c1["measure_failures"] - c0["measure_failures"]
    assert grew >= served - 1, f"measure_failures grew by {grew} for {served} faults: {c0} {c1}"
    print(f"{len(FAILING)} kinds of bad body, {served} faults served, measure_failures +{grew}, "
          f"deadline_exceeded +{c1['deadline_exceeded'] - c0['deadline_exceeded']}", flush=True)
    # The reasons are logged: a few of them by name.
    for pat in (r"HTTP 500", r"not JSON", r"not finite|not JSON", r"negative",
                r"string|not a number|number", r"timeout|timed out|no answer"):
        d.wait_log(r"(source/http_json\[web/cpu\]|engine\[web\]): .*(?i:" + pat + ")", 2,
                   since=mark0)

    # Recovery: the scale-down the low load asked for all along, and rounds on cadence.
    d.wait_until(lambda: app.replicas == 2, 10, "the scale-down after the faults cleared")
    assert_decides_on_cadence(d, "web", INTERVAL, seconds=3.0)
    finish(d)


@test
def test_numeric_strings_only_when_allowed(ctx):
    """"3" is a failed read by default; with numeric_strings: true it is 3, while "0x10"
    (a hex string strtod would take) still fails."""
    app = app_of(ctx, load=4.8, replicas=6)
    cfg = config(ctx.tmp, app, metric={"numeric_strings": True}, hi=8)
    d = start(ctx, cfg)
    mark = d.mark()
    app.inject("status", "hexstr")
    app.set_load(1.2)
    d.wait_until(lambda: app.faults_served("status", "hexstr") >= 3, 8, "three hexstr faults")
    assert_held(d, mark)
    no_scale_down(app)
    assert app.replicas == 6
    d.wait_log(r"source/http_json\[web/cpu\]: .*not a decimal number", 2, since=mark)
    mark = d.mark()
    app.inject("status", "numstr")                          # "3": now a valid 3.0
    x = d.wait_decisions(1, 8, since=mark, where=lambda x: x.values.get("cpu") == 3.0)
    assert x[0].desired == 8, x[0].line.raw                 # far above target: to max
    d.wait_until(lambda: app.replicas == 8, 8, "scaled to max on \"3\"")
    finish(d)


@test
def test_huge_value_is_clamped_to_max(ctx):
    """1e308 is a finite JSON number: the policy's arithmetic must not overflow (UBSan) and
    the result is at most max; never a scale-down."""
    app = app_of(ctx, load=4.8, replicas=6)
    cfg = config(ctx.tmp, app, hi=9)
    d = start(ctx, cfg)
    mark = d.mark()
    app.inject("status", "huge")
    ds = d.wait_decisions(3, 8, since=mark, where=lambda x: x.values.get("cpu") is not None
                          and x.values["cpu"] > 1e300)
    assert all(x.desired <= 9 for x in ds), [x.line.raw for x in ds]
    d.wait_until(lambda: app.replicas == 9, 8, "scaled to max (9)")
    no_scale_down(app)
    app.clear("status")
    d.assert_no_sanitizer_report()
    finish(d)


if __name__ == "__main__":
    sys.exit(main())
