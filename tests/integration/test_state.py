#!/usr/bin/env python3
"""State survives `kill -9`: after a scale, the daemon is killed without warning and started
again; the restored cooldown still holds the count although the load has fallen. A corrupt
state file is reported and ignored, never fatal.

    python3 tests/integration/test_state.py --bin build/autoscaler
"""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, test, write_config  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402


def config(ctx, app):
    return {"log_file": os.path.join(ctx.tmp, "autoscaler.log"),
            "state_dir": os.path.join(ctx.tmp, "state"),
            "groups": {"web": {
                "interval": "300ms", "min": 1, "max": 10, "cooldown": "60s", "behavior": "off",
                "metrics": [{"name": "cpu", "type": "http_json", "url": app.url("/app/status"),
                             "pointer": "/cpu/highPriority", "timeout": "200ms", "target": 0.8}],
                "scaler": {"type": "http", "url": app.url("/app/replicas"),
                           "get_url": app.url("/app/replicas"), "timeout": "200ms"}}}}


@test
def test_cooldown_survives_kill_9(ctx):
    app = ScaleitApp(load=1.6, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    cfg = config(ctx, app)
    path = write_config(ctx.tmp, cfg)
    d = ctx.daemon(path, log_file=cfg["log_file"])
    app.set_load(4.0)
    d.wait_until(lambda: app.replicas == 5, 10, "scaled to 5")
    d.wait_decided(2, 10, after=d.decided())              # now in cooldown
    state = json.load(open(os.path.join(ctx.tmp, "state", "web.json")))
    assert state["last_scale_ms"] > 0 and state["scale_up_events"] == [], state
    os.kill(d.pid, signal.SIGKILL)
    d.wait_exit(5)

    app.set_load(0.8)                                     # would scale 5 -> 1 at once
    d2 = ctx.daemon(path, log_file=cfg["log_file"])
    mark = 0
    d2.wait_log(r"engine\[web\]: state restored: .*last scale \d+s ago", 10)
    d2.wait_until(lambda: any("cooldown" in x.line.text for x in d2.decisions(since=mark)), 10,
                  "a decision held by the restored cooldown")
    assert app.replicas == 5, "scaled down during the cooldown after a restart"
    d2.stop(signal.SIGTERM)


@test
def test_corrupt_state_is_ignored(ctx):
    app = ScaleitApp(load=1.6, replicas=2).start()
    ctx.defer(app.stop)
    cfg = config(ctx, app)
    os.makedirs(os.path.join(ctx.tmp, "state"))
    with open(os.path.join(ctx.tmp, "state", "web.json"), "w") as f:
        f.write('{"version": 1, "group": "web", "recommendations": [[1, ')
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    d.wait_log(r"ERROR engine\[web\]: state file ignored, starting fresh: .*web\.json", 10)
    d.wait_decided(2, 10)
    d.stop(signal.SIGTERM)
    # The clean stop wrote a good state file over the corrupt one.
    assert json.load(open(os.path.join(ctx.tmp, "state", "web.json")))["group"] == "web"


if __name__ == "__main__":
    sys.exit(main())
