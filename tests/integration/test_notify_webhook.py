#!/usr/bin/env python3
"""The webhook notifier against a local HTTP receiver, driven by the daemon: events arrive as
JSON with a Slack-compatible `text` and a header given by reference (never logged); a 5xx is
retried with backoff and then given up, a 4xx is not retried; a receiver that hangs costs each
delivery its deadline and nothing else: the group keeps deciding every interval, scales on
time, and another notifier keeps delivering at once.

    python3 tests/integration/test_notify_webhook.py --bin build/autoscaler
"""

import datetime
import os
import secrets
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, test, write_config  # noqa: E402
from notify_helpers import Receiver, group  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402


def start(ctx, app, notifiers, env=None, log_level="info", **keys):
    log = os.path.join(ctx.tmp, "autoscaler.log")
    cfg = {"log_file": log, "log_level": log_level, "state_dir": "",
           "groups": {"web": group(app, **keys)}, "notifiers": notifiers}
    return ctx.daemon(write_config(ctx.tmp, cfg), log_file=log, env=env)


def seconds(ts):
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


@test
def test_events_arrive_as_json_with_slack_text(ctx):
    token = "hook-" + secrets.token_hex(10)
    app = ScaleitApp(load=8.0, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    hook = Receiver()
    ctx.defer(hook.stop)
    d = start(ctx, app, {"slack": {
        "type": "webhook", "url": hook.url, "on": ["above_max", "scale"],
        "headers": {"Authorization": "Bearer ${env:AS_HOOK_TOKEN}"},
        "template": "{{group}} {{kind}} {{from}}->{{to}}"}}, env={"AS_HOOK_TOKEN": token})
    d.wait_until(lambda: hook.bodies("scale"), 10, "the scale event")
    d.wait_until(lambda: hook.bodies("above_max"), 10, "the above_max event")
    scale = hook.bodies("scale")[0]
    assert scale["text"] == "web scale 2->4", scale
    assert (scale["group"], scale["from"], scale["to"], scale["max"]) == ("web", 2, 4, 4), scale
    assert scale["notifier"] == "slack" and scale["time"].endswith("Z"), scale
    above = hook.bodies("above_max")[0]
    assert above["wanted"] == 10 and above["to"] == 4, above  # 2 * 4.0 / 0.8 = 10 > max 4
    assert above["metrics"][0]["name"] == "cpu" and above["metrics"][0]["target"] == 0.8, above
    assert "capped at max 4 (wanted 10)" in above["reason"], above
    _, method, path, headers, _ = hook.requests[0]
    assert method == "POST" and path == "/hook", hook.requests[0]
    assert headers["Authorization"] == "Bearer " + token
    assert headers["Content-Type"] == "application/json"
    assert app.replicas == 4
    d.stop(signal.SIGTERM)
    for text in (d.log_text(), d.stderr()):
        assert token not in text


@test
def test_5xx_is_retried_with_backoff_then_given_up(ctx):
    app = ScaleitApp(load=4.0, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    hook = Receiver(mode="500")
    ctx.defer(hook.stop)
    d = start(ctx, app, {"hook": {"type": "webhook", "url": hook.url, "on": ["scale"],
                                  "retries": 2, "backoff": "200ms", "backoff_max": "400ms"}})
    d.wait_log(r"ERROR notify\[hook\]: gave up on the scale event of web after 3 attempt\(s\): "
               r"HTTP 500", 10)
    assert app.replicas == 4  # the scale went ahead without waiting for its notification
    times = hook.times()
    assert len(times) == 3, times
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert 0.1 <= gaps[0] <= 0.35 and 0.2 <= gaps[1] <= 0.55, gaps  # [d/2, d]: 200ms, 400ms
    assert d.grep(r"WARN  notify\[hook\]: delivering the scale event of web failed "
                  r"\(attempt 1/3\): HTTP 500")
    d.stop(signal.SIGTERM)


@test
def test_4xx_is_not_retried(ctx):
    app = ScaleitApp(load=4.0, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    hook = Receiver(mode="400")
    ctx.defer(hook.stop)
    d = start(ctx, app, {"hook": {"type": "webhook", "url": hook.url, "on": ["scale"],
                                  "retries": 3, "backoff": "50ms"}})
    d.wait_log(r"gave up on the scale event of web after 1 attempt\(s\): HTTP 400", 10)
    assert d.grep(r"failed \(attempt 1/4, permanent\): HTTP 400")
    time.sleep(0.5)
    assert hook.count() == 1
    d.stop(signal.SIGTERM)


@test
def test_hanging_receiver_costs_only_its_deadline(ctx):
    app = ScaleitApp(load=1.6, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    hang, ok = Receiver(mode="hang", hang_s=4.0), Receiver()
    ctx.defer(hang.stop)
    ctx.defer(ok.stop)
    d = start(ctx, app, {
        "stuck": {"type": "webhook", "url": hang.url, "on": ["measurement", "scale"],
                  "timeout": "500ms", "retries": 0, "queue": 3, "repeat_interval": "0s"},
        "fine": {"type": "webhook", "url": ok.url, "on": ["scale"]}},
        log_level="debug")  # a line for every decision, to time the rounds by
    d.wait_until(lambda: hang.count() >= 2, 10, "two deliveries to the hanging receiver")
    mark = d.mark()
    app.set_load(4.0)  # wants 5: capped at 4
    d.wait_until(lambda: app.replicas == 4, 3, "the scale, on time")
    d.wait_until(lambda: ok.bodies("scale"), 2, "the other notifier's scale event")
    d.wait_until(lambda: hang.count() >= 6, 10, "more deliveries to the hanging receiver")
    times = hang.times()
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g >= 0.45 for g in gaps), gaps  # one at a time, each cut at its 500 ms
    assert d.grep(r"notify\[stuck\]: delivering the measurement event of web failed "
                  r"\(attempt 1/1\): timeout after 500 ms")
    assert d.grep(r"notify\[stuck\]: dropped the \w+ event of web: the queue is full")
    ds = [seconds(x.line.ts) for x in d.decisions(mark)]
    rounds = [b - a for a, b in zip(ds, ds[1:])]
    assert len(rounds) >= 5 and max(rounds) < 0.45, rounds  # every 300 ms, never held up
    d.stop(signal.SIGTERM)  # the hanging delivery is cut at the flush bound (500 ms)
    assert d.grep(r"notify\[stuck\]: stopped")


if __name__ == "__main__":
    sys.exit(main())
