#!/usr/bin/env python3
"""Faults: no orphaned children (scenario 5 of tests/faults/README.md).

tests/integration/test_orphans.py covers a steady process pool killed with SIGKILL; this file
covers what it does not:
  - an `exec` scaler command that hangs when the daemon is killed -9: it dies too (the
    command itself, and what it started in its process group);
  - kill -9 during a pool resize (a scale-down whose stopping workers ignore SIGTERM and have
    grandchildren, and a scale-up just done): within grace + 2 s nothing of the old pool is
    left, without a restart, and the restart runs exactly one pool.

    python3 tests/faults/test_children.py --bin build/autoscaler [-k NAME]
"""

import os
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faultlib import (app_of, finish, kill9, kill_marked, live_processes, main, procs,  # noqa: E402
                      start, test, wait_for, write_config)

GRACE = 1.0
STARTUP = 2.0   # the restarted daemon (ASan) starting and opening its pid file

PLAIN = """#!/bin/sh
trap 'exit 0' TERM
while :; do sleep 0.05; done
"""

# Ignores SIGTERM, and so does its grandchild (an ignored signal stays ignored across fork and
# exec): the death signal does nothing to either.
STUBBORN = """#!/bin/sh
if [ "$1" = grandchild ]; then
    while :; do sleep 0.1; done
fi
trap '' TERM
"$0" grandchild &
while :; do sleep 0.1; done
"""


def script(ctx, name, body):
    path = os.path.join(ctx.tmp, name)
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    ctx.defer(lambda: kill_marked(path))
    return path


def own(path):
    """pid -> argv of the script's processes, leaving out a shell's fork that has not exec'd
    yet (`sleep` in a loop): it carries its parent's command line for a moment."""
    live = live_processes(path)
    return {p: argv for p, (argv, ppid, _) in live.items()
            if not (ppid in live and live[ppid][0] == argv)}


def workers(path):
    return {p for p, argv in own(path).items() if "grandchild" not in argv}


def grandchildren(path):
    return {p for p, argv in own(path).items() if "grandchild" in argv}


# ---- exec --------------------------------------------------------------------------------------

HANG_DIRECT = """#!/bin/sh
exec sleep {secs}
"""

HANG_CHILD = """#!/bin/sh
# A wrapper (as around kubectl): the hanging program is its child, in its process group.
sleep {secs}
echo done
"""


def exec_config(ctx, app, command):
    return {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
            "groups": {"web": {
                "interval": "1s", "min": 1, "max": 10, "behavior": "off",
                "metrics": [{"name": "cpu", "type": "http_json", "url": app.url("/app/status"),
                             "pointer": "/cpu/highPriority", "replicas_pointer": "/replicas",
                             "timeout": "300ms", "target": 0.8}],
                "scaler": {"type": "exec", "command": command, "timeout": "900ms",
                           "grace": f"{GRACE:g}s", "retries": 0}}}}


def exec_hang_killed(ctx, body, secs):
    app = app_of(ctx, load=4.8, replicas=6)
    marker = f"{secs}"  # sleep's argument: unique to this test
    path = script(ctx, "set.sh", body.format(secs=secs))
    ctx.defer(lambda: kill_marked(marker))
    d = start(ctx, exec_config(ctx, app, [path, "{{replicas}}"]))
    app.set_load(6.4)                                       # wants 8: the command runs
    wait_for(lambda: procs(marker), 10, "the hanging command")
    time.sleep(0.1)
    left0 = procs(marker)
    kill9(d)
    t0 = time.monotonic()
    try:
        wait_for(lambda: not procs(marker), GRACE + 2, "the command gone")
    except AssertionError:
        raise AssertionError(f"{GRACE + 2:g}s after kill -9 the exec command is still there: "
                             f"{procs(marker)} (running at the kill: {left0})")
    print(f"exec command gone {time.monotonic() - t0:.2f}s after kill -9", flush=True)


@test
def test_exec_hanging_command_dies_with_the_daemon(ctx):
    exec_hang_killed(ctx, HANG_DIRECT, "61.125")


@test
def test_exec_hanging_wrapper_child_dies_with_the_daemon(ctx):
    exec_hang_killed(ctx, HANG_CHILD, "62.125")


# ---- the process pool --------------------------------------------------------------------------

def pool_config(ctx, app, path):
    return {"log_file": os.path.join(ctx.tmp, "autoscaler.log"),
            "state_dir": os.path.join(ctx.tmp, "state"),
            "groups": {"workers": {
                "interval": "300ms", "min": 1, "max": 8, "behavior": "off",
                "metrics": [{"name": "queue", "type": "http_json", "url": app.url("/app/status"),
                             "pointer": "/cpu/highPriority", "timeout": "200ms",
                             "average_value": 10}],
                "scaler": {"type": "process", "command": [path], "working_dir": ctx.tmp,
                           "grace": f"{GRACE:g}s", "restart_backoff": "100ms",
                           "restart_backoff_max": "1s", "output": "null"}}}}


def one_pool(d, path, old, size, seconds):
    """Within `seconds`: exactly `size` workers, none of them from `old`, none left of the old
    grandchildren; never more than max(size, len(old)) workers at any time."""
    most = 0
    end = time.monotonic() + seconds
    while True:
        d.check_alive()
        now = workers(path)
        most = max(most, len(now))
        assert most <= max(size, len(old)), f"two pools: {sorted(now)}, old {sorted(old)}"
        if len(now) == size and not now & old and not grandchildren(path) - grandchildren_of(d):
            return now
        if time.monotonic() > end:
            raise AssertionError(f"no single pool of {size} within {seconds:g}s: workers "
                                 f"{sorted(now)} (old {sorted(old)}), grandchildren "
                                 f"{sorted(grandchildren(path))}\n{d.tail()}")
        time.sleep(0.02)


def grandchildren_of(d):
    """Grandchildren whose worker belongs to the daemon d (their parent's parent is d)."""
    out = set()
    for pid in procs("grandchild"):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{ppid}/stat") as f:
                gpid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if gpid == d.pid:
            out.add(pid)
    return out


@test
def test_kill9_during_a_scale_down_of_stubborn_workers(ctx):
    """5 workers that ignore SIGTERM (each with a grandchild); the load drops, the pool sends
    SIGTERM to 3 of them and is killed -9 before their grace ends. Within grace + 2 s nothing
    of the pool is left, without a restart; the restart runs exactly 2 workers."""
    app = app_of(ctx, load=50, replicas=1, cap=None)
    path = script(ctx, "stubborn.sh", STUBBORN)
    cfg = pool_config(ctx, app, path)
    d = start(ctx, cfg)
    d.wait_until(lambda: len(workers(path)) == 5 and len(grandchildren(path)) == 5, 15,
                 "5 workers and their grandchildren")
    old = workers(path)
    mark = d.mark()
    app.set_load(20)                                        # wants 2
    d.wait_log(r"engine\[workers\]: scaled 5->2 via process", 5, since=mark)
    time.sleep(GRACE / 3)                                   # in the stopping workers' grace
    kill9(d)
    t0 = time.monotonic()
    try:
        wait_for(lambda: not workers(path) and not grandchildren(path), GRACE + 2,
                 "every worker and grandchild gone")
    except AssertionError:
        raise AssertionError(f"{GRACE + 2:g}s after kill -9: workers {sorted(workers(path))}, "
                             f"grandchildren {sorted(grandchildren(path))} (old pool "
                             f"{sorted(old)})")
    print(f"after kill -9 mid scale-down: 5 stubborn workers and their grandchildren gone in "
          f"{time.monotonic() - t0:.2f}s", flush=True)

    d2 = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    new = one_pool(d2, path, old, 2, STARTUP + 2)
    time.sleep(1.0)
    assert workers(path) == new, f"the pool changed: {workers(path)} vs {new}"
    finish(d2, timeout=GRACE + 8)
    assert not workers(path) and not grandchildren(path)


@test
def test_kill9_right_after_a_scale_up(ctx):
    """Plain workers (they exit on SIGTERM): the pool has just grown 2 -> 6 when the daemon is
    killed -9; every worker is gone within grace + 2 s without any restart, and the restart
    runs exactly one pool of 6."""
    app = app_of(ctx, load=20, replicas=1, cap=None)
    path = script(ctx, "plain.sh", PLAIN)
    cfg = pool_config(ctx, app, path)
    d = start(ctx, cfg)
    d.wait_until(lambda: len(workers(path)) == 2, 15, "2 workers")
    mark = d.mark()
    app.set_load(60)                                        # wants 6
    d.wait_log(r"engine\[workers\]: scaled 2->6 via process", 5, since=mark)
    old = workers(path)
    kill9(d)
    t0 = time.monotonic()
    wait_for(lambda: not workers(path), GRACE + 2, "every worker gone after kill -9")
    print(f"after kill -9 right after a scale-up: {len(old)} workers gone in "
          f"{time.monotonic() - t0:.2f}s", flush=True)
    d2 = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    one_pool(d2, path, old, 6, STARTUP + 2)
    finish(d2, timeout=GRACE + 8)
    assert not workers(path)


if __name__ == "__main__":
    sys.exit(main())
