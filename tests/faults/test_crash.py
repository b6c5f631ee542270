#!/usr/bin/env python3
"""Faults: kill -9 before, during and after a scale call, then a restart on the same state_dir
(scenario 4 of tests/faults/README.md).

The group has a cooldown of COOLDOWN seconds and the load stays high across the restart, so a
daemon that forgot the interrupted scale would scale again at once. Invariants: the restarted
daemon knows every scale the app saw (0 lost scale records: its history in the state file, or
an intent it settles), logs the scale that was in flight and settles it against the count it
reads, and does not scale again before the cooldown since that scale has passed.

    python3 tests/faults/test_crash.py --bin build/autoscaler [-k NAME]
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faultlib import (app_of, config, finish, kill9, main, read_state, start,  # noqa: E402
                      state_file, test, wait_for, write_config)

COOLDOWN = 8.0


def setup(ctx, **app_kw):
    app = app_of(ctx, load=4.8, replicas=6, cap=None, **app_kw)   # cpu 0.8: on target
    cfg = config(ctx.tmp, app, interval="500ms", state=True,
                 scaler={"timeout": "400ms", "retries": 0},
                 extra={"cooldown": f"{COOLDOWN:g}s"})
    d = start(ctx, cfg)
    d.wait_decisions(2, 10)
    return app, cfg, d


def restart(ctx, cfg):
    path = write_config(ctx.tmp, cfg)
    return ctx.daemon(path, log_file=cfg["log_file"])


def no_scale_before(app, d, t_scale, what):
    """No PUT until COOLDOWN after t_scale (app clock), then one comes within a few rounds."""
    end = t_scale + COOLDOWN - 0.3
    while time.monotonic() < end:
        d.check_alive()
        early = [r for r in app.requests("PUT") if t_scale < r.t < end]
        assert not early, (f"{what}: scaled again {early[0].t - t_scale:.1f}s after the "
                           f"interrupted scale, inside the {COOLDOWN:g}s cooldown\n{d.tail()}")
        time.sleep(0.05)
    d.wait_until(lambda: [r for r in app.requests("PUT") if r.t >= end], 5,
                 "the scale once the cooldown has passed")
    late = min(r.t for r in app.requests("PUT") if r.t >= end) - t_scale
    print(f"{what}: next scale {late:.1f}s after the interrupted one (cooldown {COOLDOWN:g}s)",
          flush=True)


def all_known(app, cfg, d):
    """0 lost scale records: every change the app saw from a PUT is in the state's history
    (checked after a clean stop, which writes the state)."""
    finish(d)
    st = read_state(state_file(cfg))
    assert st is not None and st.get("pending") is None, st
    known = [(e[1], e[2]) for e in st["history"]]
    seen = [(c.old, c.new) for c in app.history("put")]
    missing = [s for s in seen if s not in known]
    assert not missing, f"scales the app saw and the daemon forgot: {missing}; known {known}"


@test
def test_kill9_during_the_scale_call(ctx):
    app, cfg, d = setup(ctx, slow_s=3.0)
    app.inject("put", "slow", 1)                     # applied at once, answered 3 s later
    app.set_load(8.0)                                # wants 10
    d.wait_until(lambda: app.inflight("put") == 1, 10, "the PUT in flight")
    kill9(d)
    t_scale = app.history("put")[-1].t
    pending = read_state(state_file(cfg))["pending"]
    assert pending is not None and pending[1:] == [6, 10], pending
    app.set_load(16.0)                               # still high: wants 20

    d2 = restart(ctx, cfg)
    d2.wait_log(r"engine\[web\]: a scale 6->10 was in flight \d+s ago when the daemon stopped: "
                r"it counts as a scale until the count is read", 10)
    d2.wait_log(r"engine\[web\]: the scale 6->10 whose outcome was unknown landed "
                r"\(count now 10\)", 5)
    no_scale_before(app, d2, t_scale, "kill -9 during the call")
    all_known(app, cfg, d2)


@test
def test_kill9_before_the_call_lands(ctx):
    """Killed the moment the intent is on disk; the PUT (if it was sent at all) hangs and is
    never applied. The restart settles the intent as not landed and scales once."""
    app, cfg, d = setup(ctx, hang_s=5.0)
    app.inject("put", "hang", 1)
    app.set_load(8.0)
    path = state_file(cfg)
    wait_for(lambda: (read_state(path) or {}).get("pending"), 10, "an intent in the state",
             interval=0.002)
    kill9(d)
    sent = app.put_requests
    assert app.replicas == 6 and not app.history("put")

    d2 = restart(ctx, cfg)
    d2.wait_log(r"engine\[web\]: a scale 6->10 was in flight \d+s ago", 10)
    d2.wait_log(r"engine\[web\]: the scale 6->10 whose outcome was unknown did not land "
                r"\(count still 6\)", 5)
    d2.wait_until(lambda: app.replicas == 10, 5, "the scale, made once after the restart")
    print(f"kill -9 at the intent ({'the PUT had arrived' if sent else 'before the PUT'}): "
          f"restart found it missed and scaled 6->10", flush=True)
    time.sleep(1.5)
    assert [(c.old, c.new) for c in app.history("put")] == [(6, 10)], app.history()
    all_known(app, cfg, d2)


@test
def test_kill9_right_after_scaled(ctx):
    app, cfg, d = setup(ctx)
    app.set_load(8.0)
    d.wait_log(r"engine\[web\]: scaled 6->10 via http", 10)
    kill9(d)
    t_scale = app.history("put")[-1].t
    app.set_load(16.0)

    d2 = restart(ctx, cfg)
    restored = d2.wait_log(r"engine\[web\]: (state restored: .*last scale \d+s ago|the scale "
                           r"6->10 whose outcome was unknown landed)", 10)
    print(f"restart after `scaled`: {restored.group(1)}", flush=True)
    no_scale_before(app, d2, t_scale, "kill -9 after scaled")
    all_known(app, cfg, d2)


if __name__ == "__main__":
    sys.exit(main())
