#!/usr/bin/env python3
"""The exec scaler with real scripts, driven by the daemon: the script sets the scaleit app's
count with curl (the way users wire kubectl or a cloud CLI), a second script reads it back.
A failing script is retried with its stderr logged; a hanging one is killed at the timeout;
a missing program is a permanent error.

    python3 tests/integration/test_exec.py --bin build/autoscaler
"""

import os
import re
import signal
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, test, write_config  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402

SET = """#!/bin/sh
# Called as: set.sh REPLICAS GROUP; records every call, fails or hangs on demand.
echo "argv=$1 group=$2 env_replicas=$AUTOSCALER_REPLICAS env_group=$AUTOSCALER_GROUP" >> calls.log
if [ -f fail-next ]; then rm -f fail-next; echo "error: quota exceeded for $2" >&2; exit 3; fi
if [ -f hang-next ]; then rm -f hang-next; sleep 31; fi
exec curl -fsS -X PUT -H 'Content-Type: application/json' -d "{\\"replicas\\":$1}" "$APP/app/replicas"
"""

GET = """#!/bin/sh
curl -fsS "$APP/app/replicas" | sed -e 's/.*"replicas": *\\([0-9]*\\).*/\\1/'
"""


def script(dirname, name, text):
    path = os.path.join(dirname, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def setup(ctx, command=None):
    app = ScaleitApp(load=1.6, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    cfg = {
        "log_file": os.path.join(ctx.tmp, "autoscaler.log"),
        "groups": {"web": {
            "interval": "1s", "min": 1, "max": 10,
            "metrics": [{"name": "cpu", "type": "http_json", "url": app.url("/app/status"),
                         "pointer": "/cpu/highPriority", "timeout": "300ms", "target": 0.8}],
            "scaler": {"type": "exec",
                       "command": command or [script(ctx.tmp, "set.sh", SET), "{{replicas}}",
                                             "{{group}}"],
                       "get": [script(ctx.tmp, "get.sh", GET)],
                       "env": {"APP": app.url("")},
                       "working_dir": ctx.tmp,
                       "timeout": "800ms", "grace": "100ms", "retries": 2,
                       "backoff": "50ms", "backoff_max": "100ms"},
        }},
    }
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    d.wait_decisions(1, timeout=15)
    return app, d


def calls(ctx):
    path = os.path.join(ctx.tmp, "calls.log")
    return open(path).read().splitlines() if os.path.exists(path) else []


@test
def test_exec_scales_with_a_script(ctx):
    app, d = setup(ctx)
    app.set_load(4.0)                                   # 4.0 / 0.8 = 5 replicas
    d.wait_until(lambda: app.replicas == 5, 10, "5 replicas set by the script")
    assert "argv=5 group=web env_replicas=5 env_group=web" in calls(ctx), calls(ctx)
    # The scale is logged once `get` has read the new count back.
    assert d.wait_log(r"engine\[web\]: scaled 2->5 via exec .*\(read back\)", 5)
    # The count is read back by `get` every round: an outside change is seen and acted on.
    app.set_replicas(10)
    d.wait_until(lambda: app.replicas == 5, 10, "back to 5 from an outside change to 10")
    d.stop(signal.SIGTERM)
    d.assert_no_sanitizer_report()


@test
def test_exec_failure_retried_with_stderr(ctx):
    app, d = setup(ctx)
    open(os.path.join(ctx.tmp, "fail-next"), "w").close()
    app.set_load(4.0)
    d.wait_until(lambda: app.replicas == 5, 10, "5 replicas after one failed attempt")
    line = d.wait_log(r"scale 2->5 via exec failed \(attempt 1/3\): exit 3: "
                      r"error: quota exceeded for web", 5)
    assert line
    d.stop(signal.SIGTERM)


@test
def test_exec_hang_killed_at_timeout(ctx):
    app, d = setup(ctx)
    open(os.path.join(ctx.tmp, "hang-next"), "w").close()
    app.set_load(4.0)
    d.wait_until(lambda: app.replicas == 5, 10, "5 replicas after a hung attempt")
    assert d.grep(r"scale 2->5 via exec failed \(attempt 1/3\): timeout after 800 ms")
    # The hung script (and its `sleep 31`, a grandchild) was killed: nothing of it is left.
    out = os.popen("pgrep -x -f 'sleep 31'").read()
    assert not out.strip(), out
    d.stop(signal.SIGTERM)


@test
def test_exec_missing_program_is_permanent(ctx):
    app, d = setup(ctx, command=[os.path.join(ctx.tmp, "no-such-program"), "{{replicas}}"])
    app.set_load(4.0)
    line = d.wait_log(r"scale 2->5 via exec failed \(attempt 1/3, permanent\)", 10)
    assert line
    mark = d.mark()
    d.wait_decisions(3, timeout=10, since=mark)
    # Permanent: no retries inside a round, only one attempt per round.
    assert not d.grep(r"attempt 2/3", 0), d.tail()
    assert app.replicas == 2
    d.stop(signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
