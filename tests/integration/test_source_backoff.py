#!/usr/bin/env python3
"""What the engine does for every source: a source that keeps failing backs off (measured
again after interval * 2^(k-1), at most backoff_max; a success resets it), the rounds in
between count as failed measurements (the group holds), and each metric's counters
(measurements, failures, skipped) are logged on SIGUSR1.

    python3 tests/integration/test_source_backoff.py --bin build/autoscaler
"""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, test, write_config  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402

INTERVAL = 0.2


def config(ctx, app, backoff_max="800ms", log_level="info"):
    return {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "log_level": log_level,
            "state_dir": "",
            "groups": {"web": {
                "interval": "200ms", "max": 10,
                "metrics": [{"name": "cpu", "type": "http_json", "url": app.url("/app/status"),
                             "pointer": "/cpu/highPriority", "target": 0.8,
                             "timeout": "150ms", "backoff_max": backoff_max}],
                "scaler": {"type": "http", "url": app.url("/app/replicas"),
                           "get_url": app.url("/app/replicas"), "timeout": "150ms"}}}}


def metric_counters(d):
    mark = d.mark()
    d.send_signal(signal.SIGUSR1)
    line = d.wait_log(r"engine\[web\]: metric cpu counters (.*)$", 5, since=mark)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line.group(1))}


@test
def test_failing_source_backs_off_and_recovers(ctx):
    app = ScaleitApp(load=1.6, replicas=2).start()
    ctx.defer(app.stop)
    # debug: a decision line every round, so that the counters below are read just after one
    # (no measurement in flight when the fault starts)
    cfg = config(ctx, app, log_level="debug")
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    d.wait_decisions(3, timeout=10)
    c0 = metric_counters(d)
    n0, t0 = app.status_requests, time.monotonic()
    app.inject("status", "500")                     # every measurement fails from now on
    time.sleep(4.0)                                 # 20 rounds
    attempts = app.status_requests - n0
    rounds = (time.monotonic() - t0) / INTERVAL
    c1 = metric_counters(d)
    # Backed off to one attempt per 800 ms (4 rounds) after the first few: about 7 attempts
    # in 20 rounds, never one per round.
    assert attempts <= rounds / 2.5, f"{attempts} attempts in {rounds:.0f} rounds: no backoff"
    assert attempts >= 3, f"{attempts} attempts in {rounds:.0f} rounds: gave up entirely"
    assert c1["skipped"] - c0["skipped"] >= rounds / 2, (c0, c1)
    assert c1["failures"] - c0["failures"] == c1["measurements"] - c0["measurements"], (c0, c1)
    assert c1["failing"] >= 3, c1
    assert app.replicas == 2, "a failing source changed the count"
    # Every round still decided: a failed measurement, so the group held.
    app.clear("status")
    line = d.wait_log(r"engine\[web\]: metric cpu: measured again after \d+ failures", 5)
    assert line
    c2 = metric_counters(d)
    assert c2["failing"] == 0, c2
    n2 = app.status_requests
    time.sleep(1.0)
    assert app.status_requests - n2 >= 4, "a recovered source is measured every round again"
    d.stop(signal.SIGTERM)
    d.assert_no_sanitizer_report()


@test
def test_backoff_max_of_one_interval_never_skips(ctx):
    app = ScaleitApp(load=1.6, replicas=2).start()
    ctx.defer(app.stop)
    cfg = config(ctx, app, backoff_max="200ms")
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    d.wait_decided(2, 10)
    app.inject("status", "500")
    n0 = app.status_requests
    time.sleep(2.0)
    c = metric_counters(d)
    assert c["skipped"] == 0, c
    assert app.status_requests - n0 >= 8, app.status_requests - n0
    d.stop(signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
