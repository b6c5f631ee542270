#!/usr/bin/env python3
"""The exec notifier with real commands, driven by the daemon: each argument rendered from the
event, the event in AUTOSCALER_EVENT_* variables and as one line of JSON on stdin, extra `env`;
a command that hangs is killed with its whole process group at the timeout while the group
keeps scaling on time; a program that cannot run is a permanent failure.

    python3 tests/integration/test_notify_exec.py --bin build/autoscaler
"""

import datetime
import json
import os
import signal
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import live_processes, main, test, write_config  # noqa: E402
from notify_helpers import group  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402

RECORD = """#!/bin/sh
# Called as: record.sh NAME: keeps the environment and stdin of each call.
env | grep '^AUTOSCALER_EVENT_\\|^EXTRA=' | sort > "$1.env"
cat > "$1.json"
"""

HANG = """#!/bin/sh
# A command that never ends, with a grandchild: both must go at the timeout.
sleep 3599.5 &
echo started >> hang.calls
sleep 3599.5
"""


def script(ctx, name, text):
    path = os.path.join(ctx.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def start(ctx, app, notifiers, **keys):
    log = os.path.join(ctx.tmp, "autoscaler.log")
    cfg = {"log_file": log, "state_dir": "", "groups": {"web": group(app, **keys)},
           "notifiers": notifiers}
    return ctx.daemon(write_config(ctx.tmp, cfg), log_file=log)


def read_env(path):
    with open(path) as f:
        return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)


@test
def test_environment_stdin_and_arguments(ctx):
    app = ScaleitApp(load=8.0, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    rec = script(ctx, "record.sh", RECORD)
    d = start(ctx, app, {"run": {
        "type": "exec", "on": ["scale", "above_max"], "command": [rec, "{{group}}-{{kind}}"],
        "env": {"EXTRA": "yes"}, "working_dir": ctx.tmp,
        "template": "{{group}}: {{from}} -> {{to}} ({{kind}})"}})
    path = os.path.join(ctx.tmp, "web-scale.json")
    d.wait_until(lambda: os.path.exists(path) and os.path.getsize(path) > 0, 10, "the scale call")
    with open(path) as f:
        doc = json.loads(f.readline())
    assert doc["kind"] == "scale" and (doc["from"], doc["to"]) == (2, 4), doc
    assert doc["text"] == "web: 2 -> 4 (scale)" and doc["notifier"] == "run", doc
    d.wait_until(lambda: os.path.exists(os.path.join(ctx.tmp, "web-scale.env")), 5, "its env")
    env = read_env(os.path.join(ctx.tmp, "web-scale.env"))
    assert env["AUTOSCALER_EVENT_KIND"] == "scale" and env["AUTOSCALER_EVENT_GROUP"] == "web"
    assert (env["AUTOSCALER_EVENT_FROM"], env["AUTOSCALER_EVENT_TO"]) == ("2", "4"), env
    assert env["AUTOSCALER_EVENT_TEXT"] == "web: 2 -> 4 (scale)", env
    assert env["AUTOSCALER_EVENT_VALUES"] == "cpu=4 (target 0.8)", env
    assert env["AUTOSCALER_EVENT_MAX"] == "4" and env["AUTOSCALER_EVENT_METRIC"] == "", env
    stamp = datetime.datetime.strptime(env["AUTOSCALER_EVENT_TIME"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs(stamp.replace(tzinfo=datetime.timezone.utc).timestamp() - time.time()) < 60
    assert env["EXTRA"] == "yes"
    above = os.path.join(ctx.tmp, "web-above_max.env")
    d.wait_until(lambda: os.path.exists(above), 5, "the above_max call")
    assert read_env(above)["AUTOSCALER_EVENT_WANTED"] == "10"
    d.stop(signal.SIGTERM)


@test
def test_hanging_command_is_killed_with_its_group(ctx):
    app = ScaleitApp(load=1.6, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    hang = script(ctx, "hang.sh", HANG)
    d = start(ctx, app, {"slow": {"type": "exec", "on": ["measurement"], "command": [hang],
                                  "working_dir": ctx.tmp, "timeout": "400ms", "retries": 0,
                                  "repeat_interval": "0s", "queue": 2}})
    d.wait_log(r"notify\[slow\]: delivering the measurement event of web failed "
               r"\(attempt 1/1\): timeout after 400 ms", 10)
    app.set_load(3.2)  # wants 4
    d.wait_until(lambda: app.replicas == 4, 3, "the scale, on time")
    time.sleep(1.0)
    left = live_processes("3599.5")
    assert len(left) <= 2, left  # at most the call in flight and its grandchild
    d.stop(signal.SIGTERM)
    time.sleep(0.3)
    assert live_processes("3599.5") == {}
    with open(os.path.join(ctx.tmp, "hang.calls")) as f:
        calls = len(f.readlines())
    assert calls >= 3, calls


@test
def test_missing_program_is_permanent(ctx):
    app = ScaleitApp(load=4.0, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    d = start(ctx, app, {"gone": {"type": "exec", "on": ["scale"], "retries": 3,
                                  "command": [os.path.join(ctx.tmp, "no-such-program")]}})
    d.wait_log(r"notify\[gone\]: delivering the scale event of web failed \(attempt 1/4, "
               r"permanent\): cannot run .*no-such-program", 10)
    d.wait_log(r"gave up on the scale event of web after 1 attempt\(s\)", 5)
    d.stop(signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
