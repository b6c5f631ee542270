#!/usr/bin/env python3
"""The decision line at INFO only when the decision says something new for the group (its
first, a change of count, another outcome or class, other metrics failing, a reload that
changed the group); at DEBUG one every round (docs/logging.md).

Decisions are counted by the daemon itself: on SIGUSR1 it writes `engine[G]: counters ...
decisions=N`, from the same thread that writes the decision lines, so every decision counted
there has had its line (or not) written before that one.

    python3 tests/integration/test_decision_log.py --bin build/autoscaler
"""

import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, parse_decision, test, wait_for, write_config  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402

def group(app, other, **extra):
    """cpu from app (and its count), cpu2 from other; both at 0.5 of a target 0.5 hold the
    count, and cpu2 failing alone changes no outcome and no class."""
    def metric(name, src):
        return {"name": name, "type": "http_json", "url": src.url("/app/status"),
                "pointer": "/cpu/highPriority", "target": 0.5, "timeout": "450ms",
                "backoff_max": "400ms"}
    return dict({"interval": "500ms", "max": 10,
                 "metrics": [metric("cpu", app), metric("cpu2", other)],
                 "scaler": {"type": "http", "url": app.url("/app/replicas"),
                            "get_url": app.url("/app/replicas"), "timeout": "450ms"}}, **extra)


def config(ctx, level, groups):
    return {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "log_level": level,
            "state_dir": "", "http": {"listen": ""}, "groups": groups}


def apps(ctx):
    app = ScaleitApp(load=1.0, replicas=2).start()    # cpu 0.5
    other = ScaleitApp(load=1.0, replicas=2).start()  # cpu2 0.5, whatever app's count
    ctx.defer(app.stop)
    ctx.defer(other.stop)
    return app, other


def counted(d, name="web"):
    """(decisions made, their lines) of group name at a SIGUSR1 counters line."""
    d.wait_log(rf"engine\[{name}\]: started", 10)  # SIGUSR1 is handled from then on
    counters = re.compile(rf"engine\[{name}\]: counters .*\bdecisions=(\d+)")
    mark = d.mark()
    d.send_signal(signal.SIGUSR1)
    d.wait_log(counters.pattern, 5, since=mark)
    lines = d.lines()
    at = max(i for i, ln in enumerate(lines) if counters.search(ln.text))
    made = int(counters.search(lines[at].text).group(1))
    return made, [x for x in (parse_decision(ln) for ln in lines[:at]) if x and x.group == name]


def decided(d, n, name="web"):
    """(decisions made, their lines) once group name made at least n decisions."""
    def enough():
        c = counted(d, name)
        return c if c[0] >= n else None
    return wait_for(enough, 15, f"{n} decisions", interval=0.3, check=d.check_alive)


def steady(d, rounds, lines):
    """Waits for `rounds` more decisions of web, checks that the log has `lines` decision lines
    of it in all, and returns them."""
    made, out = decided(d, counted(d)[0] + rounds)
    assert len(out) == lines, (f"{len(out)} decision lines after {made} decisions, expected "
                               f"{lines}:\n" + "\n".join(x.line.raw for x in out))
    return out


def shown(x):
    return (x.current, x.desired, x.values.get("cpu"), x.values.get("cpu2"))


@test
def test_info_writes_what_changed(ctx):
    app, other = apps(ctx)
    cfg = config(ctx, "info", {"web": group(app, other)})
    path = write_config(ctx.tmp, cfg)
    d = ctx.daemon(path, log_file=cfg["log_file"])
    out = steady(d, 8, 1)                             # the first decision, then 8 the same
    assert out[0].line.level == "INFO" and shown(out[0]) == (2, 2, 0.5, 0.5), out[0].line.raw

    other.inject("status", "500")                     # cpu2 fails: the same hold, a new set
    d.wait_decisions(2, 10)
    out = steady(d, 5, 2)
    assert shown(out[1]) == (2, 2, 0.5, None), out[1].line.raw

    other.clear()                                     # cpu2 recovers
    d.wait_decisions(3, 10)
    out = steady(d, 5, 3)
    assert shown(out[2]) == (2, 2, 0.5, 0.5), out[2].line.raw

    app.set_load(2.0)                                 # cpu 1.0: 2 -> 4
    d.wait_log(r"engine\[web\]: scaled 2->4", 10)
    out = steady(d, 5, 5)                             # the scale, and the hold after it
    assert shown(out[3])[:2] == (2, 4), out[3].line.raw
    assert shown(out[4]) == (4, 4, 0.5, 0.5), out[4].line.raw

    write_config(ctx.tmp, config(ctx, "info", {"web": group(app, other, cooldown="1s")}))
    mark = d.mark()
    d.send_signal(signal.SIGHUP)                      # a new configuration: a new first line
    d.wait_log(r"engine\[web\]: configuration applied", 10, since=mark)
    d.wait_decisions(1, 10, since=mark)
    out = steady(d, 5, 6)
    assert shown(out[5]) == (4, 4, 0.5, 0.5), out[5].line.raw
    assert all(x.line.level == "INFO" for x in out), [x.line.raw for x in out]
    d.stop()


@test
def test_reload_says_only_what_changed(ctx):
    """A reload that changes one group of two: one summary line, the changed group's
    "configuration applied" and a new first decision line; of the other, nothing at INFO."""
    app, other = apps(ctx)
    groups = {"web": group(app, other), "api": group(app, other)}
    cfg = config(ctx, "info", groups)
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    steady(d, 3, 1)
    api_before = len(counted(d, "api")[1])
    assert api_before == 1, api_before
    groups["web"] = group(app, other, cooldown="1s")
    write_config(ctx.tmp, config(ctx, "info", groups))
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"engine: reload: 1 group\(s\) changed, 1 unchanged, 0 added, 0 removed", 10,
               since=mark)
    d.wait_log(r"engine\[web\]: configuration applied$", 10, since=mark)
    steady(d, 4, 2)                                  # web: a new first line, then nothing
    made, api = decided(d, counted(d, "api")[0] + 4, "api")
    assert len(api) == 1, [x.line.raw for x in api]  # api: still its one line from the start
    assert not d.grep(r"engine\[api\]: configuration applied", since=mark)
    d.stop()


@test
def test_info_says_when_a_hold_begins(ctx):
    app, other = apps(ctx)
    window = {"scale_down": {"stabilization": "6s"}}
    cfg = config(ctx, "info", {"web": group(app, other, behavior=window)})
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    steady(d, 4, 1)
    app.set_load(0.5)                                 # cpu and cpu2 0.25: it wants 1 of 2
    other.set_load(0.5)
    d.wait_decisions(2, 10)
    out = steady(d, 6, 2)                             # the window holds: said once
    assert shown(out[1])[:2] == (2, 2) and "window" in out[1].line.text, out[1].line.raw
    d.wait_log(r"engine\[web\]: scaled 2->1", 10)   # the window has passed: the scale
    d.stop()


@test
def test_debug_writes_every_round(ctx):
    app, other = apps(ctx)
    cfg = config(ctx, "debug", {"web": group(app, other)})
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    made, out = decided(d, 8)
    assert len(out) == made, f"{len(out)} decision lines for {made} decisions"
    assert [x.line.level for x in out] == ["INFO"] + ["DEBUG"] * (made - 1), \
        [x.line.raw for x in out]
    assert all(shown(x) == (2, 2, 0.5, 0.5) for x in out), [x.line.raw for x in out]
    d.stop()


@test
def test_info_repeats_a_change_not_made(ctx):
    app, other = apps(ctx)
    app.set_load(2.0)                                 # cpu 1.0: both groups want 4 of 2
    cfg = config(ctx, "info", {"dry": group(app, other),
                               "paused": group(app, other, paused=True)})
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--dry-run"], log_file=cfg["log_file"])
    for name in ("dry", "paused"):
        made, out = decided(d, 5, name)
        assert len(out) == made, (name, made, [x.line.raw for x in out])
        assert all(x.line.level == "INFO" and (x.current, x.desired) ==
                   ((2, 4) if name == "dry" else (2, 2)) for x in out), [x.line.raw for x in out]
    assert all("paused: held at 2 (wanted 4)" in x.line.text for x in out), out[0].line.raw
    assert app.replicas == 2
    d.stop()


if __name__ == "__main__":
    sys.exit(main())
