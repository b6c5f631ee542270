#!/usr/bin/env python3
"""Events through a running daemon (docs/events.md): above_max, below_min and too_rapid fire
exactly in the rounds they should and in no other; source_failed and recovered once per
outage, fallback, scale_failed and paused when they happen; a reload replaces a changed
notifier, keeps an unchanged one and retires a removed one; and no value that came from a
reference reaches any notifier, message, log line or error.

    python3 tests/integration/test_notify_events.py --bin build/autoscaler
"""

import json
import os
import secrets
import signal
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, test, write_config  # noqa: E402
from notify_helpers import Receiver, SyslogSocket, group  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402


def config(ctx, app, notifiers, **keys):
    return {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
            "groups": {"web": group(app, **keys)}, "notifiers": notifiers}


def start(ctx, cfg, env=None):
    return ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"], env=env)


def phase(d, hook, app, load, replicas, rounds=4):
    """Sets the load, waits for the count and a few rounds at it; returns the kinds (with
    their counts) that arrived meanwhile."""
    seen = len(hook.bodies())
    app.set_load(load)
    d.wait_until(lambda: app.replicas == replicas, 5, f"{replicas} replicas")
    d.wait_decided(rounds, 5, after=d.decided())
    time.sleep(0.2)  # the last round's events are on their way
    return [(b["kind"], b["from"], b["to"], b["wanted"]) for b in hook.bodies()[seen:]]


@test
def test_bounds_and_too_rapid_fire_exactly_when_they_should(ctx):
    app = ScaleitApp(load=1.6, replicas=2, cap=None).start()  # cpu 0.8: on target
    ctx.defer(app.stop)
    hook = Receiver()
    ctx.defer(hook.stop)
    d = start(ctx, config(ctx, app, {"h": {
        "type": "webhook", "url": hook.url, "repeat_interval": "0s",
        "on": ["above_max", "below_min", "too_rapid", "scale"]}},
        min=2, max=4, too_rapid={"scales": 2, "within": "1m"}))
    d.wait_decided(4, 10)
    assert hook.bodies() == [], hook.bodies()
    # 2 -> 3: within the bounds, the first scale-up.
    assert phase(d, hook, app, 2.4, 3) == [("scale", 2, 3, None)]
    # wants 6: capped at 4 (above_max), then at 4 still wanting 6 (above_max every round);
    # the second scale-up is not too rapid (limit 2).
    got = phase(d, hook, app, 4.8, 4)
    assert got[0] == ("above_max", 3, 4, 6) and ("scale", 3, 4, None) in got, got
    rest = [g for g in got if g[0] != "scale"]
    assert len(rest) >= 4 and set(rest[1:]) == {("above_max", 4, 4, 6)}, got
    # wants 1: raised to min 2 (below_min), then at 2 still wanting 1 (below_min every round).
    got = phase(d, hook, app, 0.8, 2)
    assert got[0] == ("below_min", 4, 2, 1) and ("scale", 4, 2, None) in got, got
    rest = [g for g in got if g[0] != "scale"]
    assert len(rest) >= 4 and set(rest[1:]) == {("below_min", 2, 2, 1)}, got
    # back on target at 2: nothing.
    app.set_load(1.6)
    d.wait_decided(4, 5, after=d.decided())
    time.sleep(0.2)
    seen = len(hook.bodies())
    d.wait_decided(3, 5, after=d.decided())
    assert len(hook.bodies()) == seen, hook.bodies()[seen:]
    # wants 3: the third scale-up within a minute is too rapid (and still happens).
    got = phase(d, hook, app, 2.4, 3)
    assert got == [("too_rapid", 2, 3, 3), ("scale", 2, 3, None)], got
    too = hook.bodies("too_rapid")[0]
    assert too["reason"] == "3 scale-ups within 1 min (more than 2)", too
    d.stop(signal.SIGTERM)


@test
def test_outage_fallback_scale_failure_and_pause(ctx):
    app = ScaleitApp(load=1.6, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    hook = Receiver()
    ctx.defer(hook.stop)
    notifiers = {"h": {"type": "webhook", "url": hook.url, "repeat_interval": "0s",
                       "on": ["source_failed", "recovered", "fallback", "scale_failed",
                              "paused"]}}
    cfg = config(ctx, app, notifiers, fallback={"after": 2, "replicas": 3})
    d = start(ctx, cfg)
    d.wait_decided(2, 10)
    app.inject("status", "500")  # until cleared
    d.wait_until(lambda: app.replicas == 3, 10, "the fallback count")
    d.wait_until(lambda: len(hook.bodies("fallback")) >= 2, 10, "fallback events")
    app.inject("put", "400")  # the scale back down will fail, permanently
    app.clear("status")
    d.wait_until(lambda: hook.bodies("recovered"), 10, "recovered")
    failed, back = hook.bodies("source_failed"), hook.bodies("recovered")
    assert len(failed) == 1 and failed[0]["metric"] == "cpu", failed
    assert "HTTP 500" in failed[0]["reason"], failed
    assert len(back) == 1 and back[0]["reason"].startswith("after "), back
    fb = hook.bodies("fallback")[0]
    assert (fb["from"], fb["to"]) == (2, 3), fb
    d.wait_until(lambda: hook.bodies("scale_failed"), 10, "scale_failed")
    sf = hook.bodies("scale_failed")[0]
    assert (sf["from"], sf["to"]) == (3, 2) and "HTTP 400" in sf["reason"], sf
    app.clear("put")
    d.wait_until(lambda: app.replicas == 2, 10, "2 replicas")
    cfg["groups"]["web"]["paused"] = True  # a reload: the notifier is unchanged and kept
    write_config(ctx.tmp, cfg)
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"main: reloaded", 10, since=mark)
    app.set_load(4.0)  # wants 5, capped at 4: held by paused
    d.wait_until(lambda: hook.bodies("paused"), 10, "paused")
    p = hook.bodies("paused")[0]
    assert (p["from"], p["to"]) == (2, 4) and app.replicas == 2, p
    assert len(d.grep(r"notify\[h\]: started")) == 1
    d.stop(signal.SIGTERM)


@test
def test_reload_replaces_keeps_and_retires(ctx):
    app = ScaleitApp(load=1.6, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    r1, r2, r3 = Receiver(), Receiver(), Receiver()
    for r in (r1, r2, r3):
        ctx.defer(r.stop)
    cfg = config(ctx, app, {"a": {"type": "webhook", "url": r1.url, "on": ["scale"]},
                            "keep": {"type": "webhook", "url": r3.url, "on": ["scale"]}})
    d = start(ctx, cfg)
    app.set_load(2.4)
    d.wait_until(lambda: r1.bodies() and r3.bodies(), 10, "the first scale")
    cfg["notifiers"]["a"]["url"] = r2.url
    write_config(ctx.tmp, cfg)
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"notify\[a\]: changed by the new configuration: retiring", 10, since=mark)
    app.set_load(3.2)
    d.wait_until(lambda: r2.bodies() and len(r3.bodies()) == 2, 10, "the second scale")
    assert len(r1.bodies()) == 1
    assert len(d.grep(r"notify\[keep\]: started")) == 1
    assert len(d.grep(r"notify\[a\]: started")) == 2
    del cfg["notifiers"]
    write_config(ctx.tmp, cfg)
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"notify\[keep\]: removed by the new configuration: retiring", 10, since=mark)
    d.wait_log(r"notify\[keep\]: stopped", 5, since=mark)
    d.stop(signal.SIGTERM)


class EchoPath(BaseHTTPRequestHandler):
    """A 500 whose body echoes the request path, as many error pages do."""

    def do_GET(self):
        body = f"no such service: {self.path}".encode()
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


RECORD = """#!/bin/sh
env > "exec-$AUTOSCALER_EVENT_KIND.env"
cat > "exec-$AUTOSCALER_EVENT_KIND.json"
"""


@test
def test_no_secret_reaches_any_notifier(ctx):
    s = {k: f"{k}-{secrets.token_hex(12)}" for k in ("url", "hdr", "env", "tpl")}
    env = {"AS_S_URL": s["url"], "AS_S_HDR": s["hdr"], "AS_S_ENV": s["env"],
           "AS_S_TPL": s["tpl"]}
    echo = ThreadingHTTPServer(("127.0.0.1", 0), EchoPath)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    ctx.defer(echo.shutdown)
    app = ScaleitApp(load=8.0, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    hook = Receiver()
    ctx.defer(hook.stop)
    sock = SyslogSocket(ctx.tmp)
    ctx.defer(sock.stop)
    rec = os.path.join(ctx.tmp, "record.sh")
    with open(rec, "w") as f:
        f.write(RECORD)
    os.chmod(rec, os.stat(rec).st_mode | stat.S_IXUSR)
    everything = ["all"]
    g = group(app, on_error="ignore")
    g["metrics"].append({"name": "leaky", "type": "http_json", "pointer": "/x", "target": 1,
                         "url": f"http://127.0.0.1:{echo.server_address[1]}/svc/"
                                "${env:AS_S_URL}/status", "timeout": "200ms"})
    tpl = "{{summary}} [${env:AS_S_TPL}] {{reason}}"
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "groups": {"web": g},
           "notifiers": {
               "hook": {"type": "webhook", "url": hook.url, "on": everything, "template": tpl,
                        "headers": {"X-Token": "${env:AS_S_HDR}"}, "repeat_interval": "0s"},
               "run": {"type": "exec", "on": ["source_failed", "scale"], "command": [rec],
                       "working_dir": ctx.tmp, "env": {"TOKEN": "${env:AS_S_ENV}"},
                       "template": tpl},
               "screen": {"type": "console", "on": everything, "template": tpl},
               "journal": {"type": "log", "on": everything, "template": tpl},
               "sys": {"type": "syslog", "path": sock.path, "on": everything,
                       "template": tpl}}}
    d = start(ctx, cfg, env=env)
    d.wait_until(lambda: hook.bodies("source_failed") and hook.bodies("scale"), 10,
                 "source_failed and scale")
    d.wait_until(lambda: os.path.exists(os.path.join(ctx.tmp, "exec-source_failed.json")), 5,
                 "the exec notifier's source_failed call")
    failed = hook.bodies("source_failed")[0]
    assert failed["metric"] == "leaky" and "/svc/***/status" in failed["reason"], failed
    assert "[***]" in failed["text"], failed
    assert hook.requests[0][3]["X-Token"] == s["hdr"]  # the header itself is sent
    time.sleep(0.5)
    d.stop(signal.SIGTERM)
    texts = {"webhook bodies": json.dumps(hook.bodies()), "stdout": d.stdout(),
             "stderr": d.stderr(), "log": d.log_text(), "syslog": "\n".join(sock.lines())}
    for name in os.listdir(ctx.tmp):
        if name.startswith("exec-") and name.endswith(".json"):
            with open(os.path.join(ctx.tmp, name)) as f:
                texts[name] = f.read()
    with open(os.path.join(ctx.tmp, "exec-scale.env")) as f:
        child_env = f.read()
    assert f"TOKEN={s['env']}" in child_env  # given to the command as asked, nothing more
    texts["exec env"] = "\n".join(x for x in child_env.splitlines()
                                  if x.startswith("AUTOSCALER_EVENT_"))
    for where, text in texts.items():
        assert text, f"nothing in {where}"
        for value in s.values():
            for i in range(len(value) - 15):
                assert value[i:i + 16] not in text, f"{value!r} appears in {where}"
    assert "***" in texts["syslog"] and "***" in texts["stdout"] and "***" in texts["log"]


if __name__ == "__main__":
    sys.exit(main())
