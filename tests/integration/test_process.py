#!/usr/bin/env python3
"""The process scaler with real children, driven by the daemon: the pool follows the metric,
a killed worker is restarted, a scale-down sends SIGTERM (seen by the worker's trap), and a
stop leaves no process behind.

The metric is the scaleit app's value with replicas fixed at 1 and no cap, so it equals the
app's load: with `average_value: 10`, load 30 asks for 3 workers, load 10 for 1.

    python3 tests/integration/test_process.py --bin build/autoscaler
"""

import os
import signal
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, test, wait_for, write_config  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402

WORKER = """#!/bin/sh
# A worker: records its start, and a SIGTERM, by slot.
slot=$AUTOSCALER_WORKER
echo "$$" > "pid.$slot"
trap 'echo "term $$" >> "term.$slot"; exit 0' TERM
while :; do sleep 0.05; done
"""


def pids(ctx):
    """slot -> pid of the live workers (by their pid files and /proc)."""
    out = {}
    for name in os.listdir(ctx.tmp):
        if name.startswith("pid."):
            pid = int(open(os.path.join(ctx.tmp, name)).read().strip() or 0)
            if pid and os.path.exists(f"/proc/{pid}") and \
                    open(f"/proc/{pid}/stat").read().split()[2] != "Z":
                out[int(name[4:])] = pid
    return out


def setup(ctx, load):
    app = ScaleitApp(load=load, replicas=1, cap=None).start()
    ctx.defer(app.stop)
    worker = os.path.join(ctx.tmp, "worker.sh")
    with open(worker, "w") as f:
        f.write(WORKER)
    os.chmod(worker, os.stat(worker).st_mode | stat.S_IXUSR)
    cfg = {
        "log_file": os.path.join(ctx.tmp, "autoscaler.log"),
        "groups": {"workers": {
            "interval": "300ms", "min": 1, "max": 6, "behavior": "off",
            "metrics": [{"name": "queue", "type": "http_json", "url": app.url("/app/status"),
                         "pointer": "/cpu/highPriority", "timeout": "200ms",
                         "average_value": 10}],
            "scaler": {"type": "process", "command": [worker], "working_dir": ctx.tmp,
                       "grace": "1s", "restart_backoff": "100ms",
                       "restart_backoff_max": "1s"},
        }},
    }
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    return app, d


@test
def test_pool_follows_restarts_and_terminates(ctx):
    app, d = setup(ctx, load=30)
    d.wait_until(lambda: sorted(pids(ctx)) == [0, 1, 2], 10, "three workers in slots 0-2")

    # A crash (SIGKILL from outside) is restarted in the same slot.
    victim = pids(ctx)[1]
    os.kill(victim, signal.SIGKILL)
    d.wait_until(lambda: pids(ctx).get(1, victim) != victim, 10, "worker 1 restarted")
    assert d.grep(rf"worker 1 \(pid {victim}\) exited unexpectedly: killed by signal 9"), d.tail()

    # Scale down: two workers get SIGTERM and exit through their trap. These workers never
    # report a status, so the pool picks by CPU idleness (test_process_workers.py has the rest).
    before = pids(ctx)
    app.set_load(10)
    d.wait_until(lambda: len(pids(ctx)) == 1, 10, "one worker left")
    (kept,) = pids(ctx)
    assert pids(ctx)[kept] == before[kept], "the survivor was restarted"
    for slot in set(before) - {kept}:
        term = os.path.join(ctx.tmp, f"term.{slot}")
        assert os.path.exists(term), f"worker {slot} got no SIGTERM"
        assert f"term {before[slot]}" in open(term).read()
    assert not os.path.exists(os.path.join(ctx.tmp, f"term.{kept}"))

    # Stop: the last worker gets SIGTERM too, and nothing is left running.
    last = pids(ctx)[kept]
    d.stop(signal.SIGINT, timeout=5)
    assert not os.path.exists(f"/proc/{last}") or \
        open(f"/proc/{last}/stat").read().split()[2] == "Z"
    assert f"term {last}" in open(os.path.join(ctx.tmp, f"term.{kept}")).read()
    d.assert_no_sanitizer_report()


@test
def test_measurement_failures_keep_the_pool(ctx):
    app, d = setup(ctx, load=30)
    d.wait_until(lambda: len(pids(ctx)) == 3, 10, "three workers")
    app.set_load(0)                       # would scale down to min 1 ...
    app.inject("status", "500")           # ... but every measurement fails
    d.wait_decided(5, 10, "workers", after=d.decided("workers"))
    assert len(pids(ctx)) == 3, "scaled down on failed measurements"
    app.clear()
    d.wait_until(lambda: len(pids(ctx)) == 1, 10, "down to min once measurements are back")
    d.stop(signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
