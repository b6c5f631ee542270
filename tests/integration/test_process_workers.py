#!/usr/bin/env python3
"""Queue workers that are never stopped while busy (issue 8), end to end with a real
redis-server on 127.0.0.1 and real workers: examples/workers/worker.py takes tasks from the list
with BLPOP and says BUSY / FREE on its status channel; the daemon runs the queue policy on the
list's length and a `process` pool with drain.

Every claim is checked against the workers' own records (each line "PID SLOT EVENT": ready,
start NAME, done NAME, signal 15, in the order they happened), not against the pool's word:
  - with two workers busy on long tasks, the scale-down stops the free ones only, and no worker
    is ever signalled while a task of its own is open;
  - `autoscaler workers` shows the live pool: the same ids and pids, BUSY where a task is open,
    FREE elsewhere; a stale list (the daemon killed with SIGKILL) is reported, not shown;
  - every task pushed is started and done exactly once, none is lost;
  - with drain, a worker busy when the daemon stops finishes its task before it exits (shown as
    STOPPING meanwhile); without drain it is killed after grace;
  - a worker that ignores SIGTERM is killed grace after the signal, and a busy one that ignores
    it drain_grace after.

    python3 tests/integration/test_process_workers.py --bin build/autoscaler
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, main, run_cli, test, wait_for, write_config  # noqa: E402

REDIS = shutil.which("redis-server")
WORKER = os.path.join(REPO, "examples", "workers", "worker.py")

# A worker that ignores SIGTERM (it records the signal, with the time, and carries on): slot 0
# says it is BUSY with a task that never ends, the others say FREE.
STUBBORN = r"""
import os, signal, sys, time
log = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
me = f"{os.getpid()} {os.environ['AUTOSCALER_WORKER']}"
def note(event): os.write(log, f"{me} {event} {time.time():.3f}\n".encode())
signal.signal(signal.SIGTERM, lambda sig, _: note(f"signal {sig}"))
busy = os.environ["AUTOSCALER_WORKER"] == "0"
os.write(3, b"BUSY forever\n" if busy else b"FREE\n")
note("ready")
while True:
    time.sleep(1)
"""


# ---- a real redis-server -------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resp(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Redis:
    """redis-server on a free port, no persistence; stopped at the end of the test."""

    def __init__(self, ctx):
        self.port = free_port()
        log = open(os.path.join(ctx.tmp, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", ctx.tmp],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        ctx.defer(self.stop)
        wait_for(self._ready, 10, "redis-server")

    def _ready(self):
        try:
            return self.call("PING") == b"+PONG"
        except OSError:
            return False

    def call(self, *args) -> bytes:
        """The first line of the reply (enough for PING, RPUSH, LLEN, DEL)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(resp(*args))
            buf = b""
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError("closed")
                buf += chunk
            return buf.split(b"\r\n", 1)[0]

    def llen(self, key) -> int:
        return int(self.call("LLEN", key)[1:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# ---- the workers' records ------------------------------------------------------------------

def records(path):
    """[(pid, slot, event, arg)] in the order they were written."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and line.endswith("\n"):
                out.append((int(parts[0]), int(parts[1]), parts[2],
                            parts[3] if len(parts) > 3 else ""))
    return out


def open_tasks(recs):
    """pid -> names of the tasks it started and has not finished."""
    out = {}
    for pid, _, event, arg in recs:
        if event == "start":
            out.setdefault(pid, set()).add(arg)
        elif event == "done":
            out.get(pid, set()).discard(arg)
    return {pid: tasks for pid, tasks in out.items() if tasks}


def signalled_while_busy(recs):
    """(pid, open tasks) for each signal a worker got with a task of its own open."""
    bad, opened = [], {}
    for pid, _, event, arg in recs:
        if event == "start":
            opened.setdefault(pid, set()).add(arg)
        elif event == "done":
            opened.get(pid, set()).discard(arg)
        elif event == "signal" and opened.get(pid):
            bad.append((pid, set(opened[pid])))
    return bad


def alive(pid) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def live_workers(recs):
    """slot -> pid of the workers that said ready and still run."""
    return {slot: pid for pid, slot, event, _ in recs if event == "ready" and alive(pid)}


# ---- the daemon ----------------------------------------------------------------------------

def setup(ctx, redis, command, *, min_workers=1, max_workers=4, step=4, idle="1500ms",
          drain=True, grace="3s", drain_grace="20s"):
    log = os.path.join(ctx.tmp, f"autoscaler{len(ctx.daemons) + 1}.log")
    cfg = {
        "log_file": log,
        "state_dir": os.path.join(ctx.tmp, "state"),
        "groups": {"jobs": {
            "interval": "300ms", "min": 1, "max": 6, "behavior": "off",
            "metrics": [{"name": "backlog", "type": "redis",
                         "url": f"redis://127.0.0.1:{redis.port}/0", "key": "tasks",
                         "timeout": "200ms"}],
            "policy": {"type": "queue", "min_workers": min_workers,
                       "max_workers": max_workers, "max_queue_size": 0, "scale_up_step": step,
                       "max_idle_time": idle},
            "scaler": {"type": "process", "command": command, "working_dir": ctx.tmp,
                       "output": "log", "grace": grace, "drain": drain,
                       "drain_grace": drain_grace},
        }},
    }
    path = write_config(ctx.tmp, cfg)
    env = {"REDIS_URL": f"redis://127.0.0.1:{redis.port}", "QUEUE": "tasks",
           "WORKER_LOG": os.path.join(ctx.tmp, "records")}
    return path, ctx.daemon(path, log_file=log, env=env)


def workers_cmd(ctx, cfg, *extra):
    return run_cli(ctx.bin, ["workers", "-c", cfg] + list(extra), cwd=ctx.tmp)


def listed(ctx, cfg):
    """slot -> (pid, status) as `autoscaler workers --json` lists the pool."""
    r = workers_cmd(ctx, cfg, "--json")
    assert r.returncode == 0, (r.returncode, r.stderr)
    (g,) = json.loads(r.stdout)["groups"]
    assert g["group"] == "jobs" and g["running"] is True, g
    return {w["id"]: (w["pid"], w["status"]) for w in g["workers"]}


def truth(recs):
    """slot -> (pid, BUSY or FREE) from the records: BUSY while a task of its own is open."""
    busy = open_tasks(recs)
    return {slot: (pid, "BUSY" if pid in busy else "FREE")
            for slot, pid in live_workers(recs).items()}


# ---- the tests -----------------------------------------------------------------------------

@test
def test_scale_down_stops_only_free_workers(ctx):
    redis = Redis(ctx)
    rec = os.path.join(ctx.tmp, "records")
    cfg, d = setup(ctx, redis, [sys.executable, WORKER])
    d.wait_until(lambda: len(live_workers(records(rec))) == 1, 10, "the first worker")

    # Two long tasks and six short ones: the pool grows to 4; two workers stay busy for 6 s.
    short = [f"s{i}:0.1" for i in range(6)]
    tasks = ["L1:6", "L2:6"] + short
    redis.call("RPUSH", "tasks", *tasks)
    d.wait_until(lambda: len(live_workers(records(rec))) == 4, 10, "four workers")
    d.wait_until(lambda: sum(1 for *_, e, a in records(rec) if e == "done" and a in short) == 6,
                 10, "the short tasks done")
    long_pids = {p for p, _, e, a in records(rec) if e == "start" and a.startswith("L")}
    assert len(long_pids) == 2, records(rec)

    # `autoscaler workers` shows the live pool: ids, pids, BUSY on the long tasks, FREE else.
    d.wait_until(lambda: listed(ctx, cfg) == truth(records(rec)), 5,
                 "autoscaler workers matching the workers' records")
    text = workers_cmd(ctx, cfg).stdout
    for slot, (pid, status) in truth(records(rec)).items():
        what = r"busy \d+s\s+L[12]:6" if status == "BUSY" else r"idle \d+s\s+-"
        assert re.search(rf"^{slot}\s+{pid}\s+{status}\s+[-\d]+ [:\d]+\s+[-\d]+ [:\d]+\s+{what}$",
                         text, re.M), text

    # The free workers idle past max_idle_time are released; the busy ones are not touched.
    d.wait_until(lambda: sum(1 for *_, e, _a in records(rec) if e == "signal") >= 2, 10,
                 "two workers released")
    recs = records(rec)
    stopped = {p for p, _, e, _a in recs if e == "signal"}
    assert not stopped & long_pids, (stopped, long_pids, recs)
    assert all(alive(p) for p in long_pids)
    d.wait_until(lambda: len(truth(records(rec))) == 2 == len(listed(ctx, cfg)) and
                 listed(ctx, cfg) == truth(records(rec)), 5, "the list after the release")

    # The long tasks end; the pool goes down to min_workers, each worker released once FREE.
    d.wait_until(lambda: len(live_workers(records(rec))) == 1, 15, "one worker left")
    recs = records(rec)
    assert signalled_while_busy(recs) == [], recs
    starts = sorted(a for *_, e, a in recs if e == "start")
    dones = sorted(a for *_, e, a in recs if e == "done")
    assert starts == sorted(tasks) and dones == sorted(tasks), (starts, dones)
    assert redis.llen("tasks") == 0

    # SIGKILL leaves the list behind: reported as stale, not shown.
    os.kill(d.pid, signal.SIGKILL)
    d.wait_exit(5)
    r = workers_cmd(ctx, cfg)
    assert r.returncode == 1 and r.stdout == "", r
    assert re.search(r"group jobs: the daemon that wrote .*jobs\.workers \(pid \d+\) is not "
                     r"running: the list is stale", r.stderr), r.stderr


@test
def test_drain_lets_a_busy_worker_finish(ctx):
    redis = Redis(ctx)
    rec = os.path.join(ctx.tmp, "records")
    cfg, d = setup(ctx, redis, [sys.executable, WORKER], max_workers=1, grace="1s",
                   drain_grace="10s")
    d.wait_until(lambda: len(live_workers(records(rec))) == 1, 10, "the worker")
    redis.call("RPUSH", "tasks", "job:3")
    d.wait_until(lambda: open_tasks(records(rec)), 5, "the task started")
    d.wait_until(lambda: listed(ctx, cfg) == truth(records(rec)), 5, "listed BUSY")
    (pid,) = live_workers(records(rec)).values()

    # The daemon stops: the worker gets SIGTERM and, BUSY, drain_grace to finish (grace is 1 s,
    # the task 3 s); meanwhile the list shows it STOPPING.
    t0 = time.monotonic()
    d.send_signal(signal.SIGTERM)
    wait_for(lambda: any(e == "signal" for *_, e, _a in records(rec)), 5, "the signal")

    def stopping():
        (w,) = json.loads(workers_cmd(ctx, cfg, "--json").stdout)["groups"][0]["workers"]
        return (w["pid"], w["status"], w["reported"], w["task"]) == (pid, "STOPPING", "BUSY",
                                                                     "job:3")
    wait_for(stopping, 2, "the worker listed STOPPING, still BUSY")
    assert d.wait_exit(10) == 0, d.tail()
    took = time.monotonic() - t0
    events = [(e, a) for p, _, e, a in records(rec) if p == pid]
    assert events[-3:] == [("start", "job:3"), ("signal", "15"), ("done", "job:3")], events
    assert 1.2 < took < 6, took
    assert not alive(pid)
    d.assert_no_sanitizer_report()
    r = workers_cmd(ctx, cfg)  # a clean stop removes the list
    assert r.returncode == 1 and "no worker list" in r.stderr, r

    # Without drain, the same worker gets grace (1 s) and is killed with its task unfinished.
    os.unlink(rec)
    cfg, d = setup(ctx, redis, [sys.executable, WORKER], max_workers=1, grace="1s", drain=False)
    d.wait_until(lambda: len(live_workers(records(rec))) == 1, 10, "the worker")
    redis.call("RPUSH", "tasks", "job:3")
    d.wait_until(lambda: open_tasks(records(rec)), 5, "the task started")
    t0 = time.monotonic()
    d.stop(signal.SIGTERM, timeout=5)
    assert 0.8 < time.monotonic() - t0 < 2.5
    assert [e for *_, e, _a in records(rec)][-2:] == ["start", "signal"], records(rec)
    assert re.search(r"still running 1(s|\d{3}ms) after SIGTERM: SIGKILL", d.log_text()), d.tail()


@test
def test_sigterm_ignored_killed_after_grace(ctx):
    redis = Redis(ctx)
    rec = os.path.join(ctx.tmp, "records")
    stubborn = os.path.join(ctx.tmp, "stubborn.py")
    with open(stubborn, "w") as f:
        f.write(STUBBORN)
    cfg, d = setup(ctx, redis, [sys.executable, stubborn, rec], max_workers=2, step=1,
                   idle="1s", grace="1s", drain_grace="2500ms")

    def stamps(event):
        with open(rec) as f:
            return {int(ln.split()[0]): float(ln.split()[-1]) for ln in f
                    if ln.split()[2] == event}

    def gone_at(pid):
        wait_for(lambda: not alive(pid), 10, f"pid {pid} gone", interval=0.01)
        return time.time()

    # Nobody takes the task: the queue stays long, the pool grows to 2 (slot 0 BUSY, 1 FREE).
    d.wait_until(lambda: os.path.exists(rec) and len(stamps("ready")) == 1, 10, "worker 0")
    redis.call("RPUSH", "tasks", "nobody-takes-it")
    d.wait_until(lambda: len(stamps("ready")) == 2, 10, "worker 1")
    slots = {slot: pid for pid, slot, event, _ in records(rec) if event == "ready"}
    busy_pid, free_pid = slots[0], slots[1]
    d.wait_until(lambda: listed(ctx, cfg) == {0: (busy_pid, "BUSY"), 1: (free_pid, "FREE")}, 5,
                 "slot 0 BUSY, slot 1 FREE")

    # The queue empties: the FREE worker is released, ignores SIGTERM, SIGKILL after grace.
    redis.call("DEL", "tasks")
    d.wait_until(lambda: free_pid in stamps("signal"), 10, "the FREE worker signalled")
    took = gone_at(free_pid) - stamps("signal")[free_pid]
    assert 0.9 < took < 2.0, took
    assert busy_pid not in stamps("signal") and alive(busy_pid)

    # The daemon stops: the BUSY one, ignoring SIGTERM too, is killed after drain_grace.
    d.send_signal(signal.SIGTERM)
    wait_for(lambda: busy_pid in stamps("signal"), 5, "the BUSY worker signalled")
    took = gone_at(busy_pid) - stamps("signal")[busy_pid]
    assert 2.3 < took < 3.5, took
    assert d.wait_exit(5) == 0, d.tail()
    d.assert_no_sanitizer_report()


@test
def test_workers_command_errors(ctx):
    cfg = write_config(ctx.tmp, {
        "state_dir": os.path.join(ctx.tmp, "state"),
        "groups": {
            "jobs": {"min": 1, "max": 2, "metrics": [{"name": "q", "type": "redis",
                                  "url": "redis://127.0.0.1:9/0", "key": "q", "average_value": 5}],
                     "scaler": {"type": "process", "command": ["true"]}},
            "web": {"min": 1, "max": 2, "metrics": [{"name": "q", "type": "redis",
                                 "url": "redis://127.0.0.1:9/0", "key": "q", "average_value": 5}],
                    "scaler": {"type": "http", "url": "http://127.0.0.1:9/x"}},
        }})
    r = workers_cmd(ctx, cfg)
    assert r.returncode == 1 and "group jobs: no worker list" in r.stderr, r
    r = workers_cmd(ctx, cfg, "--json")
    g = json.loads(r.stdout)["groups"]
    assert r.returncode == 1 and [x["group"] for x in g] == ["jobs"] and not g[0]["running"]
    r = workers_cmd(ctx, cfg, "--group", "web")
    assert r.returncode == 2 and "scales with `http`, not `process`" in r.stderr, r
    r = workers_cmd(ctx, cfg, "--group", "nope")
    assert r.returncode == 2 and "no group 'nope'" in r.stderr, r
    r = workers_cmd(ctx, cfg, "--bogus")
    assert r.returncode == 2 and "unknown argument '--bogus'" in r.stderr, r
    os.makedirs(os.path.join(ctx.tmp, "state"))
    with open(os.path.join(ctx.tmp, "state", "jobs.workers"), "w") as f:
        f.write("{\"format\": \"something else\"}\n")
    r = workers_cmd(ctx, cfg)
    assert r.returncode == 1 and "cannot read the worker list" in r.stderr, r
    r = run_cli(ctx.bin, ["workers", "--help"])
    assert r.returncode == 0 and "exit codes: 0" in r.stdout and "--json" in r.stdout


if __name__ == "__main__":
    if REDIS is None:
        print("redis-server not found (Debian: redis-server)")
        print("0 passed, 1 failed")
        sys.exit(1)
    sys.exit(main())
