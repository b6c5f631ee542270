#!/usr/bin/env python3
"""Faults: the wall clock steps back and forward (scenario 8 of tests/faults/README.md).

libfaketime (Debian package libfaketime) moves only the daemon's wall clock: LD_PRELOAD with
FAKETIME_DONT_FAKE_MONOTONIC=1, and FAKETIME_TIMESTAMP_FILE rewritten by the test ("+0",
"+3600", "-3600": an offset from the real time) with FAKETIME_NO_CACHE=1 so that each read
of the clock sees the step at once, as a real step would be seen. The sanitizer runtime must
come first in LD_PRELOAD, so it is put there when the binary links it dynamically.

Invariants: a step forward cuts no cooldown short (no second scale within the cooldown, in
real time, of the first); a step back freezes nothing (the group scales up when the cooldown
has passed in real time, not an hour later); a restart after the clock stepped back between
two runs clamps the state's stamps (logged) and the cooldown still holds.

    python3 tests/faults/test_clock.py --bin build/autoscaler [-k NAME]
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faultlib import (app_of, config, finish, log_time, main, start, test,  # noqa: E402
                      write_config)

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
COOLDOWN = 6.0
INTERVAL = 0.5


def faketime_env(ctx):
    """The daemon's environment for a steppable wall clock, and the file that steps it."""
    assert os.path.exists(FAKETIME), (f"{FAKETIME} is missing: install the Debian package "
                                      f"libfaketime (scripts/bootstrap.sh --test does)")
    ldd = subprocess.run(["ldd", ctx.bin], capture_output=True, text=True, timeout=10).stdout
    asan = re.search(r"(/\S*libasan\.so[.\d]*)", ldd)
    stamp = os.path.join(ctx.tmp, "faketime")
    step(stamp, 0)
    preload = ([asan.group(1)] if asan else []) + [FAKETIME]
    return stamp, {"LD_PRELOAD": " ".join(preload), "FAKETIME_NO_CACHE": "1",
                   "FAKETIME_TIMESTAMP_FILE": stamp, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def step(stamp, offset_s):
    """Sets the daemon's wall clock to the real time + offset_s (atomically)."""
    with open(stamp + ".new", "w") as f:
        f.write(f"{offset_s:+d}\n")
    os.replace(stamp + ".new", stamp)


def wall_offset(d, since):
    """How far the daemon's wall clock (its log stamps) is from ours, from a line since."""
    lines = d.lines(since)
    assert lines, "no log line to read the daemon's clock from"
    ln = lines[-1]
    return log_time(ln.raw) - time.time()


def wait_stepped(d, offset_s):
    """Waits until the daemon's log shows the wall clock at about real + offset_s."""
    def seen():
        mark = max(0, d.mark() - 1)
        return abs(wall_offset(d, mark) - offset_s) < 5 if d.lines(mark) else False
    d.wait_until(seen, 5, f"the daemon's wall clock at {offset_s:+d}s")


def no_put_until(app, d, since, until):
    while time.monotonic() < until:
        d.check_alive()
        early = [r for r in app.requests("PUT") if since < r.t < until]
        assert not early, (f"scaled {early[0].t - since:.1f}s after the last scale, inside "
                           f"the {COOLDOWN:g}s cooldown\n{d.tail()}")
        time.sleep(0.05)


def next_put(app, d, after, within, what):
    d.wait_until(lambda: [r for r in app.requests("PUT") if r.t > after], within, what)
    return min(r.t for r in app.requests("PUT") if r.t > after)


def setup(ctx):
    app = app_of(ctx, load=4.8, replicas=6, cap=None)       # cpu 0.8: on target
    cfg = config(ctx.tmp, app, interval=f"{int(INTERVAL * 1000)}ms", hi=60, state=True,
                 extra={"cooldown": f"{COOLDOWN:g}s"})
    return app, cfg


@test
def test_asan_and_libfaketime_coexist(ctx):
    stamp, env = faketime_env(ctx)
    app, cfg = setup(ctx)
    step(stamp, -86400)
    d = start(ctx, cfg, env=env)
    off = wall_offset(d, 0)
    assert abs(off + 86400) < 60, f"the daemon's clock is {off:+.0f}s from ours, not -86400"
    print(f"LD_PRELOAD={env['LD_PRELOAD']}: the daemon runs a day behind", flush=True)
    finish(d)


@test
def test_steps_neither_rush_nor_freeze_the_cooldown(ctx):
    stamp, env = faketime_env(ctx)
    app, cfg = setup(ctx)
    d = start(ctx, cfg, env=env)
    app.set_load(8.0)                                       # 6 -> 10
    d.wait_until(lambda: app.replicas == 10, 10, "the first scale")
    t1 = app.history("put")[-1].t

    # Forward one hour: a cooldown on the wall clock would be over at once.
    step(stamp, 3600)
    wait_stepped(d, 3600)
    app.set_load(16.0)                                      # wants 20
    no_put_until(app, d, t1, t1 + COOLDOWN - 0.3)
    t2 = next_put(app, d, t1, COOLDOWN + 3, "the scale after the cooldown")
    print(f"clock +1h: next scale {t2 - t1:.1f}s after the first (cooldown {COOLDOWN:g}s)",
          flush=True)

    # Back two hours (one before the real time) while the load doubles: a cooldown on the
    # wall clock would last another hour.
    time.sleep(1.0)
    step(stamp, -3600)
    wait_stepped(d, -3600)
    app.set_load(32.0)                                      # wants 40
    no_put_until(app, d, t2, t2 + COOLDOWN - 0.3)
    t3 = next_put(app, d, t2, COOLDOWN + 2 * INTERVAL + 2, "the scale-up after the step back")
    print(f"clock -1h: scaled up {t3 - t2:.1f}s after the previous scale (cooldown "
          f"{COOLDOWN:g}s, interval {INTERVAL:g}s)", flush=True)
    assert t3 - t2 <= COOLDOWN + 2 * INTERVAL + 1.5, f"reacted {t3 - t2:.1f}s after"
    finish(d)


@test
def test_restart_after_the_clock_stepped_back(ctx):
    stamp, env = faketime_env(ctx)
    app, cfg = setup(ctx)
    d = start(ctx, cfg, env=env)
    app.set_load(8.0)
    d.wait_until(lambda: app.replicas == 10, 10, "the first scale")
    d.wait_log(r"engine\[web\]: scaled 6->10", 5)
    t1 = app.history("put")[-1].t
    finish(d)

    step(stamp, -3600)                                      # between the runs
    app.set_load(16.0)                                      # wants 20
    mark = d.mark()
    d2 = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"], env=env)
    t_restart = time.monotonic()
    m = d2.wait_log(r"WARN  engine\[web\]: the state was saved (\d+)s after now \(the wall clock "
                    r"stepped back\?\): (\d+) stamp\(s\) set to now", 10, since=mark)
    assert 3500 <= int(m.group(1)) <= 3700, m.string
    no_put_until(app, d2, t1, max(t1 + COOLDOWN, t_restart) - 0.3)
    t2 = next_put(app, d2, t1, COOLDOWN + 4, "the scale once the cooldown has passed")
    print(f"restart 1h back: {m.group(2)} stamp(s) clamped; next scale {t2 - t1:.1f}s after "
          f"the first, {t2 - t_restart:.1f}s after the restart", flush=True)
    finish(d2)


if __name__ == "__main__":
    sys.exit(main())
