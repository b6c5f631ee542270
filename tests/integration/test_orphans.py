#!/usr/bin/env python3
"""No orphaned worker: a `process` pool whose daemon is killed with SIGKILL leaves nothing
behind, and the restarted daemon runs exactly one pool.

- Workers get SIGTERM from the kernel when the daemon dies (the parent-death signal), so a
  plain worker is gone within a second of the kill, without a restart.
- A worker that ignores SIGTERM, and grandchildren in its process group, outlive the death
  signal; the child guard (a small process the daemon forks once) sees the daemon die and
  stops each worker's process group: SIGTERM, SIGKILL after `grace`. No restart needed.
- If the guard dies with the daemon, the restarted daemon finds what is left through its pid
  file (<state_dir>/<group>.pids), stops it (SIGTERM, SIGKILL after `grace`) before it starts
  anything, and only then runs its own pool.

    python3 tests/integration/test_orphans.py --bin build/autoscaler
"""

import contextlib
import os
import signal
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import live_processes, main, test, wait_for, write_config  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402

GRACE = 1.0  # the pool's `grace`, seconds
STARTUP = 2.0  # allowance for the restarted daemon (under ASan, on a loaded machine) to begin

PLAIN = """#!/bin/sh
# Records its pid by slot, and a SIGTERM.
slot=$AUTOSCALER_WORKER
trap 'echo "term $$" >> "term.$slot"; exit 0' TERM
echo "$$" > "pid.$slot.tmp"; mv "pid.$slot.tmp" "pid.$slot"
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
echo "$$" > "pid.$AUTOSCALER_WORKER.tmp"; mv "pid.$AUTOSCALER_WORKER.tmp" "pid.$AUTOSCALER_WORKER"
while :; do sleep 0.1; done
"""


live = live_processes


# A shell forks before it execs `sleep`: for an instant that copy has the worker's command
# line too. A worker is the leader of its process group; a grandchild's parent is no grandchild.
def workers(script):
    return {p for p, (argv, _, pgid) in live(script).items()
            if "grandchild" not in argv and pgid == p}


def grandchildren(script):
    procs = live(script)
    return {p for p, (argv, ppid, _) in procs.items()
            if "grandchild" in argv and "grandchild" not in procs.get(ppid, ([], 0, 0))[0]}


def setup(ctx, body):
    app = ScaleitApp(load=30, replicas=1, cap=None).start()
    ctx.defer(app.stop)
    script = os.path.join(ctx.tmp, "worker.sh")
    with open(script, "w") as f:
        f.write(body)
    os.chmod(script, os.stat(script).st_mode | stat.S_IXUSR)

    def kill_leftovers():  # whatever a failed test left (each worker is its own group)
        for pid in live(script):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    ctx.defer(kill_leftovers)
    cfg = {
        "log_file": os.path.join(ctx.tmp, "autoscaler.log"),
        "state_dir": os.path.join(ctx.tmp, "state"),
        "groups": {"workers": {
            "interval": "300ms", "min": 1, "max": 6, "behavior": "off",
            "metrics": [{"name": "queue", "type": "http_json", "url": app.url("/app/status"),
                         "pointer": "/cpu/highPriority", "timeout": "200ms",
                         "average_value": 10}],
            "scaler": {"type": "process", "command": [script], "working_dir": ctx.tmp,
                       "grace": f"{GRACE:g}s", "restart_backoff": "100ms",
                       "restart_backoff_max": "1s"},
        }},
    }
    return script, write_config(ctx.tmp, cfg), cfg


def start(ctx, path, cfg, script):
    d = ctx.daemon(path, log_file=cfg["log_file"])
    d.wait_until(lambda: len(workers(script)) == 3, 15, "three workers")
    return d


def guard_of(config_path):
    """The pid of the child guard (named as-guard, adopted by init: it has the daemon's command
    line) of the daemon running config_path, or None."""
    for pid, (argv, _, _) in live(config_path).items():
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "as-guard":
                    return pid
        except OSError:
            continue
    return None


def kill9(d, path, guard_too=False):
    guard = guard_of(path)
    assert guard, "the daemon has no child guard"
    if guard_too:  # both at once, as `pkill -9` or the OOM killer of a cgroup would
        os.kill(guard, signal.SIGKILL)
    os.kill(d.pid, signal.SIGKILL)
    assert d.wait_exit(5) == -signal.SIGKILL


def log_time(line):
    """Seconds of a log line's timestamp (2026-12-01T23:43:15.400Z ...)."""
    return time.mktime(time.strptime(line[:19], "%Y-%m-%dT%H:%M:%S")) + float(line[19:23])


def pid_file(cfg):
    return os.path.join(cfg["state_dir"], "workers.pids")


def one_pool(d, script, old, seconds):
    """Polls for `seconds`: never more than three workers at once; in the end exactly three,
    none of them from `old`. Returns the new workers."""
    most = 0
    end = time.monotonic() + seconds
    while True:
        d.check_alive()
        now = workers(script)
        most = max(most, len(now))
        assert most <= 3, f"two pools side by side: {sorted(now)}, old {sorted(old)}"
        if time.monotonic() >= end and len(now) == 3 and not now & old:
            return now
        assert time.monotonic() < end + 10, f"no single new pool: {sorted(now)}"
        time.sleep(0.02)


@test
def test_kill9_workers_die_with_the_daemon(ctx):
    script, path, cfg = setup(ctx, PLAIN)
    d = start(ctx, path, cfg, script)
    old = workers(script)

    t0 = time.monotonic()
    kill9(d, path)
    wait_for(lambda: not workers(script), 1.0, "every worker gone within 1 s of the kill")
    print(f"workers gone {time.monotonic() - t0:.2f}s after kill -9", flush=True)
    assert os.path.exists(pid_file(cfg))
    # Each got the death signal as a SIGTERM: its trap ran.
    terms = "".join(open(os.path.join(ctx.tmp, f"term.{s}")).read() for s in range(3))
    assert all(f"term {p}" in terms for p in old), terms

    # The restarted daemon reads the pid file, finds nothing left, and runs one pool.
    d2 = ctx.daemon(path, log_file=cfg["log_file"])
    new = one_pool(d2, script, old, 2.0)
    assert d2.grep(r"none of the 3 worker\(s\) listed in .*workers\.pids is still there")
    d2.stop(signal.SIGTERM, timeout=5)
    assert not workers(script) & new
    assert not os.path.exists(pid_file(cfg)), "a clean stop leaves no pid file"


@test
def test_guard_stops_what_ignored_the_death_signal(ctx):
    script, path, cfg = setup(ctx, STUBBORN)
    d = start(ctx, path, cfg, script)
    wait_for(lambda: len(grandchildren(script)) == 3, 5, "three grandchildren")
    old, old_gc = workers(script), grandchildren(script)

    kill9(d, path)
    t0 = time.monotonic()
    time.sleep(GRACE / 3)
    # SIGTERM (the death signal, and the guard's) is ignored; grandchildren got no death signal.
    assert workers(script) == old and grandchildren(script) == old_gc
    # The guard's SIGKILL after grace, without any restart.
    wait_for(lambda: not (workers(script) | grandchildren(script)), GRACE + 1.0 - GRACE / 3,
             "every worker and grandchild gone within grace + 1 s of the kill")
    print(f"stubborn workers and grandchildren gone {time.monotonic() - t0:.2f}s after kill -9 "
          f"(grace {GRACE:g}s)", flush=True)

    d2 = ctx.daemon(path, log_file=cfg["log_file"])
    new = one_pool(d2, script, old, 1.0)
    assert not new & old_gc
    assert d2.grep(r"none of the 3 worker\(s\) listed in .*workers\.pids is still there")
    d2.stop(signal.SIGTERM, timeout=GRACE + 5)
    assert not workers(script) and not grandchildren(script)


@test
def test_restart_stops_what_the_guard_could_not(ctx):
    script, path, cfg = setup(ctx, STUBBORN)
    d = start(ctx, path, cfg, script)
    wait_for(lambda: len(grandchildren(script)) == 3, 5, "three grandchildren")
    old, old_gc = workers(script), grandchildren(script)

    kill9(d, path, guard_too=True)
    time.sleep(0.3)
    assert workers(script) == old and grandchildren(script) == old_gc

    mark = d.mark()
    d2 = ctx.daemon(path, log_file=cfg["log_file"])
    t0 = time.monotonic()
    # Never two pools: at most three workers at any time, old and new together.
    new = one_pool(d2, script, old, 1.0)
    wait_for(lambda: not (workers(script) & old) and not (grandchildren(script) & old_gc),
             STARTUP + GRACE + 1.0, "old workers and grandchildren gone")
    print(f"old workers and grandchildren gone {time.monotonic() - t0:.2f}s after the restart",
          flush=True)
    assert not new & old_gc
    began = d2.grep(r"3 of 3 worker\(s\) listed in .*workers\.pids by a previous instance "
                    r"still there .*: stopping them before the pool runs", since=mark)
    assert began, d2.tail()
    assert d2.grep(r"process group \d+ still there \d+ ms after SIGTERM: SIGKILL", since=mark)
    assert d2.grep(r"reading the replica count via process failed: stopping 3 workers left by "
                   r"a previous instance", since=mark), d2.tail()
    # Grace + 1 s from the sweep's start to the last old process gone, by the log's clock.
    swept = d2.grep(r"the previous instance's workers are gone", since=mark)
    assert swept, d2.tail()
    took = log_time(swept[0].string) - log_time(began[0].string)
    assert took <= GRACE + 1.0, f"sweep took {took:.3f}s"
    print(f"sweep: {took:.3f}s from its start to the last old process gone", flush=True)
    # A clean stop: SIGKILL after grace takes each group, grandchildren included.
    d2.stop(signal.SIGTERM, timeout=GRACE + 5)
    assert not workers(script) and not grandchildren(script)
    assert not os.path.exists(pid_file(cfg))


if __name__ == "__main__":
    sys.exit(main())
