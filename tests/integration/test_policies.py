#!/usr/bin/env python3
"""Policies and the behavior stage in `run`, against real processes, as `replay` proves them
on recorded inputs: the queue policy with a real process pool whose idle workers (no CPU used)
are released, threshold_consecutive against the scaleit app, and the HPA's default
stabilization window holding a scale-down.

    python3 tests/integration/test_policies.py --bin build/autoscaler
"""

import os
import signal
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, test, write_config  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402

# A worker that is busy (burns CPU) while the file `busy` exists, and sleeps otherwise.
WORKER = """#!/bin/sh
while :; do
    if [ -f busy ]; then i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done; else sleep 0.1; fi
done
"""


def metric(app, name="m", **extra):
    return dict({"name": name, "type": "http_json", "url": app.url("/app/status"),
                 "pointer": "/cpu/highPriority", "timeout": "150ms"}, **extra)


def live_children(pid):
    """The daemon's workers: its children, but not its child guard (as-guard)."""
    out = os.popen(f"pgrep -P {pid}").read().split()
    workers = []
    for p in out:
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() == "as-guard":
                    continue
        except OSError:
            continue  # gone
        workers.append(int(p))
    return workers


@test
def test_queue_with_a_process_pool(ctx):
    # replicas fixed at 1, no cap: the app's value is its load, used as the queue length.
    app = ScaleitApp(load=40, replicas=1, cap=None).start()
    ctx.defer(app.stop)
    worker = os.path.join(ctx.tmp, "worker.sh")
    with open(worker, "w") as f:
        f.write(WORKER)
    os.chmod(worker, os.stat(worker).st_mode | stat.S_IXUSR)
    open(os.path.join(ctx.tmp, "busy"), "w").close()
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "groups": {"workers": {
               "interval": "300ms", "min": 0, "max": 8, "behavior": "off",
               "metrics": [metric(app, "queue")],
               "policy": {"type": "queue", "min_workers": 1, "max_workers": 6,
                          "max_queue_size": 10, "scale_up_step": 2, "max_idle_time": "1s"},
               "scaler": {"type": "process", "command": [worker], "working_dir": ctx.tmp,
                          "grace": "500ms"}}}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    d.wait_until(lambda: len(live_children(d.pid)) == 6, 15, "grown by steps of 2 to 6")
    assert d.grep(r"decision current=1 desired=3 .*> max_queue_size 10: 1\+2=3"), d.tail()
    # The queue drains; the workers are still busy: nobody is released.
    app.set_load(0)
    d.wait_decided(6, 10, "workers", after=d.decided("workers"))
    assert len(live_children(d.pid)) == 6, "released busy workers"
    # The work ends: the workers sleep, use no CPU, and after 1 s idle are released to 1.
    os.unlink(os.path.join(ctx.tmp, "busy"))
    d.wait_until(lambda: len(live_children(d.pid)) == 1, 15, "idle workers released to 1")
    d.stop(signal.SIGTERM)
    d.assert_no_sanitizer_report()


@test
def test_threshold_consecutive_in_run(ctx):
    app = ScaleitApp(load=2.0, replicas=2, cap=None).start()   # 1.0 per replica: above 0.8
    ctx.defer(app.stop)
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "log_level": "debug",  # a line for every decision: the rounds before the scale
           "groups": {"web": {
               "interval": "200ms", "min": 1, "max": 10, "behavior": "off",
               "metrics": [metric(app, "cpu")],
               "policy": {"type": "threshold_consecutive", "min": 0.3, "max": 0.8,
                          "up_after": 3, "down_after": 5},
               "scaler": {"type": "http", "url": app.url("/app/replicas"),
                          "get_url": app.url("/app/replicas"), "timeout": "150ms"}}}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    d.wait_until(lambda: app.replicas == 3, 10, "one step up after 3 rounds above 0.8")
    ds = d.decisions()
    first_up = next(i for i, x in enumerate(ds) if x.desired > x.current)
    assert first_up >= 2, f"scaled up before 3 consecutive rounds: {[x.desired for x in ds]}"
    d.stop(signal.SIGTERM)


@test
def test_default_behavior_holds_a_scale_down(ctx):
    app = ScaleitApp(load=4.0, replicas=5, cap=None).start()
    ctx.defer(app.stop)
    # debug: held by the window is the same outcome and class as on target, no line at info
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "log_level": "debug",
           "groups": {"web": {
               "interval": "200ms", "min": 1, "max": 10,
               "metrics": [metric(app, "cpu", target=0.8)],
               "scaler": {"type": "http", "url": app.url("/app/replicas"),
                          "get_url": app.url("/app/replicas"), "timeout": "150ms"}}}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    d.wait_decisions(2, timeout=10)
    app.set_load(0.8)       # wants 1 replica; the 5-minute window remembers 5
    mark = d.mark()
    d.wait_decisions(8, timeout=10, since=mark)
    assert app.replicas == 5, "scaled down inside the HPA's stabilization window"
    assert any("held at 5 by the 5 min scale-down window (wanted 1)" in x.line.text
               for x in d.decisions(since=mark)), d.tail()
    d.stop(signal.SIGTERM)


@test
def test_fallback_pause_override_in_run(ctx):
    app = ScaleitApp(load=1.6, replicas=2, cap=None).start()
    ctx.defer(app.stop)

    def cfg(**extra):
        group = {"interval": "200ms", "min": 1, "max": 10, "behavior": "off",
                 "metrics": [metric(app, "cpu", target=0.8)],
                 "scaler": {"type": "http", "url": app.url("/app/replicas"),
                            "get_url": app.url("/app/replicas"), "timeout": "150ms"}}
        group.update(extra)
        return {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
                "groups": {"web": group}}
    path = write_config(ctx.tmp, cfg(fallback={"after": 3, "replicas": 6}))
    d = ctx.daemon(path, log_file=cfg()["log_file"])
    d.wait_decisions(1, timeout=10)
    app.inject("status", "500")                          # every measurement fails
    d.wait_until(lambda: app.replicas == 6, 10, "the fallback count after 3 failed rounds")
    assert d.grep(r"no valid metric for 3 rounds \(failed: cpu\): fallback to 6"), d.tail()
    app.clear()

    # paused: decisions are logged, the count holds.
    app.set_load(8.0)                                    # wants 10
    write_config(ctx.tmp, cfg(paused=True))
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_until(lambda: any("paused: held at 6 (wanted 10)" in x.line.text
                             for x in d.decisions(since=mark)), 10, "a paused decision")
    assert app.replicas == 6

    # override: a manual count wins over every decision.
    write_config(ctx.tmp, cfg(override=3))
    d.send_signal(signal.SIGHUP)
    d.wait_until(lambda: app.replicas == 3, 10, "the manual override")
    assert d.grep(r"reason=\"manual override: 3\""), d.tail()
    d.stop(signal.SIGTERM)


@test
def test_too_rapid_is_reported(ctx):
    app = ScaleitApp(load=0.8, replicas=1, cap=None).start()
    ctx.defer(app.stop)
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "groups": {"web": {
               "interval": "200ms", "min": 1, "max": 20, "behavior": "off",
               "too_rapid": {"scales": 2, "within": "1m"},
               "metrics": [metric(app, "cpu", target=0.8)],
               "scaler": {"type": "http", "url": app.url("/app/replicas"),
                          "get_url": app.url("/app/replicas"), "timeout": "150ms"}}}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    for load, want in ((2.4, 3), (4.8, 6)):
        app.set_load(load)
        d.wait_until(lambda: app.replicas == want, 10, f"{want} replicas")
    assert not d.grep(r"too rapid"), "reported before the limit"
    app.set_load(9.6)                                    # the third scale within a minute
    d.wait_until(lambda: app.replicas == 12, 10, "12 replicas")
    line = d.wait_log(r"WARN  engine\[web\]: too rapid scaling: 6->12 would exceed 2 scale "
                      r"events in 60s", 5)
    assert line
    d.stop(signal.SIGTERM)


POLICIES = {
    "target": None,
    "threshold_consecutive": {"min": 0.3, "max": 0.8},
    "threshold_average": {"min": 0.3, "max": 0.8},
    "decay": {"targets": {"cpu": 0.9}},
    "queue": {"max_queue_size": 10},
    "step": {"threshold": 0.8, "steps": [{"lower": 0, "adjustment": 1}]},
    "panic": {"target": 0.5},
    "passthrough": {},
    "formula": {"formula": "cpu * 2", "target": 1},
}


@test
def test_every_policy_decides_in_run(ctx):
    app = ScaleitApp(load=2.0, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    for name, policy in POLICIES.items():
        group = {"interval": "500ms", "min": 1, "max": 10,
                 "metrics": [metric(app, "cpu", **({"target": 0.8} if policy is None else {}))],
                 "scaler": {"type": "http", "url": app.url("/app/replicas"),
                            "get_url": app.url("/app/replicas"), "timeout": "150ms"}}
        if policy is not None:
            group["policy"] = dict({"type": name}, **policy)
        cfg = {"log_file": "", "state_dir": "", "groups": {"web": group}}
        d = ctx.daemon(write_config(ctx.tmp, cfg, f"{name}.yaml"), extra=["--once", "--dry-run"])
        assert d.wait_exit(15) == 0, (name, d.tail())
        ds = d.decisions()
        assert len(ds) == 1 and ds[0].current == 2, (name, d.tail())
        assert 'reason="' in ds[0].line.text, (name, ds[0].line.text)
        print(f"{name}: {ds[0].line.text.split('reason=', 1)[1]}")


if __name__ == "__main__":
    sys.exit(main())
