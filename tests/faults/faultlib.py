"""Helpers for the fault-injection suite (tests/faults). Standard library only.

Builds on tests/integration/harness.py (the daemon, its log, the runner) and scaleit_app.py
(the app with its fault injector); adds what the fault scenarios share:

  config(...)              a one-group config against a ScaleitApp (http_json + http scaler)
  start(ctx, cfg, ...)     writes the config, starts the daemon, waits for its first decision
  counters(d)              the per-group fault counters (SIGUSR1), as {group: {name: int}},
                           and the engine's (state writes) under ENGINE
  wait_counter(d, g, name, n)   polls the counters until one reaches n
  finish(d)                SIGTERM: exit 0 and no sanitizer report (every scenario ends so)
  no_scale_down(app, t0)   asserts the app saw no PUT lowering its count since t0
  scaled_lines(d, ...)     (from, to) of every `scaled A->B` line
  assert_decides_on_cadence(d, group, interval)   rounds keep their interval
  PathServer               an HTTP server on 127.0.0.1 whose paths answer, hang or go away
  procs(marker)            live processes whose command line holds marker
  log_time(raw)            a log line's timestamp in seconds (UTC)

Every wait is bounded; everything talks to 127.0.0.1 only.
"""

import calendar
import contextlib
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from harness import live_processes, main, test, wait_for, write_config  # noqa: E402,F401
from scaleit_app import ScaleitApp  # noqa: E402,F401

HOST = "127.0.0.1"

# The scenarios check every decision's line (its count, its values, its cadence): at info a
# decision has one only when it says something new (docs/logging.md), at debug every round.
DECISIONS = "debug"

COUNTER_RE = re.compile(r"engine(?:\[([\w.-]+)\])?: counters (.*)$")
ENGINE = "(engine)"  # the key of the engine-wide counters (state writes) in counters()
SCALED_RE = re.compile(r"engine\[([\w.-]+)\]: scaled (\d+)->(\d+) via (\w+) in (\d+)ms")


# ---- configuration -----------------------------------------------------------------------------

def config(tmp, app, group="web", interval="400ms", lo=1, hi=20, metric=None, scaler=None,
           extra=None, state=False, top=None):
    """One group watching a ScaleitApp: cpu at /cpu/highPriority with target 0.8, the count read
    with GET /app/replicas and set with PUT. metric/scaler/extra update the metric, the scaler
    and the group; state=True keeps a state_dir in tmp/state; top updates the top level."""
    m = {"name": "cpu", "type": "http_json", "url": app.url("/app/status"),
         "pointer": "/cpu/highPriority", "timeout": "250ms", "target": 0.8}
    m.update(metric or {})
    s = {"type": "http", "url": app.url("/app/replicas"), "get_url": app.url("/app/replicas"),
         "timeout": "250ms", "retries": 2, "backoff": "50ms", "backoff_max": "100ms"}
    s.update(scaler or {})
    g = {"interval": interval, "min": lo, "max": hi, "behavior": "off", "metrics": [m],
         "scaler": s}
    g.update(extra or {})
    cfg = {"log_file": os.path.join(tmp, "autoscaler.log"), "log_level": DECISIONS,
           "state_dir": os.path.join(tmp, "state") if state else "",
           "groups": {group: g}}
    cfg.update(top or {})
    return cfg


def start(ctx, cfg, env=None, wait=True, name="config.yaml"):
    """The daemon on cfg (dict or YAML text), ready when its first decision is logged."""
    path = write_config(ctx.tmp, cfg, name)
    log = cfg["log_file"] if isinstance(cfg, dict) else os.path.join(ctx.tmp, "autoscaler.log")
    d = ctx.daemon(path, log_file=log, env=env)
    if wait:
        d.wait_decisions(1, timeout=15)
    return d


def app_of(ctx, **kw):
    app = ScaleitApp(**kw).start()
    ctx.defer(app.stop)
    return app


# ---- observing ---------------------------------------------------------------------------------

def counters(d, groups=None, timeout=5.0):
    """SIGUSR1, then the counters line each group logs: {group: {counter: int}}, with the
    engine-wide line (state writes) under ENGINE. groups: the names to wait for (default:
    whatever answers within the first poll that has the engine's line and a group's: the engine
    logs its own line first, and a poll may come between the two)."""
    mark = d.mark()
    d.send_signal(signal.SIGUSR1)

    def got():
        out = {}
        for m in d.grep(COUNTER_RE.pattern, mark):
            out[m.group(1) or ENGINE] = {k: int(v)
                                         for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
        if ENGINE not in out or len(out) < 2:
            return None
        if groups is not None and not set(groups) <= set(out):
            return None
        return out
    return d.wait_until(got, timeout, "the counters lines (SIGUSR1)")


def wait_counter(d, group, name, at_least, timeout=5.0):
    """Polls the counters (SIGUSR1) until group's counter `name` reaches at_least; returns
    the group's counters. Counts that come from another thread (the state writer's results)
    arrive a moment after the log line that caused them."""
    last = {}

    def reached():
        last.update(counters(d, groups=[group])[group])
        return last if last[name] >= at_least else None
    try:
        return wait_for(reached, timeout, f"{group}'s {name} >= {at_least}", interval=0.2)
    except AssertionError:
        raise AssertionError(f"{group}'s {name} stayed below {at_least}: {last}\n{d.tail()}")


def finish(d, timeout=10.0):
    """The common end of every scenario: SIGTERM, exit 0, no sanitizer report."""
    d.stop(signal.SIGTERM, timeout=timeout)


def no_scale_down(app, since=0.0, until=None):
    """Asserts the app saw no PUT that lowered the count in [since, until]."""
    downs = [c for c in app.history("put")
             if c.t >= since and (until is None or c.t <= until) and c.new < c.old]
    assert not downs, f"the count was lowered by the daemon: {downs}"


def scaled_lines(d, since=0, group=None):
    """(from, to) of every `scaled A->B` line from `since` on."""
    return [(int(m.group(2)), int(m.group(3))) for m in d.grep(SCALED_RE.pattern, since)
            if group is None or m.group(1) == group]


def log_time(raw):
    """A log line's timestamp (2026-12-01T23:43:15.400Z ...) in seconds since the epoch."""
    base = calendar.timegm(time.strptime(raw[:19], "%Y-%m-%dT%H:%M:%S"))
    frac = re.match(r"\.(\d+)", raw[19:])
    return base + (float("0." + frac.group(1)) if frac else 0.0)


def assert_decides_on_cadence(d, group, interval_s, seconds=None, share=0.8, timeout=None):
    """Waits `seconds` (default 6 intervals) and asserts the group logged at least share of
    the decisions its interval allows in that time."""
    seconds = seconds if seconds is not None else 6 * interval_s
    mark = d.mark()
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        d.check_alive()
        time.sleep(0.05)
    n = len(d.decisions(since=mark, group=group))
    want = int(seconds / interval_s)
    assert n >= share * want - 1, (f"group {group}: {n} decisions in {seconds:.1f}s, its "
                                   f"interval allows {want}\n{d.tail()}")
    return n


def state_file(cfg, group="web"):
    return os.path.join(cfg["state_dir"], f"{group}.json")


def read_state(path):
    """The state file's JSON, or None while it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ---- processes ---------------------------------------------------------------------------------

def procs(marker):
    """pid -> argv of every live (not zombie) process with marker in an argument."""
    return {pid: argv for pid, (argv, _, _) in live_processes(marker).items()}


def kill_marked(marker):
    """SIGKILL to every process (and its group) whose command line holds marker (cleanup)."""
    for pid in procs(marker):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def kill9(d):
    os.kill(d.pid, signal.SIGKILL)
    rc = d.wait_exit(5)
    assert rc == -signal.SIGKILL, rc
    d.assert_no_sanitizer_report()


# ---- a server of paths -------------------------------------------------------------------------

def _fixed_port():
    """A free port on 127.0.0.1 below the ephemeral range (ip_local_port_range)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((HOST, port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port below the ephemeral range")


class PathServer:
    """An HTTP/1.1 server on 127.0.0.1 (its own thread per request). Each path answers with a
    fixed JSON document (or a callable's), after a delay, or hangs (until stop()), per
    `routes`: {path: doc | callable | ("delay", seconds, doc) | "hang"}. Requests
    are counted per path. down()/up() close and reopen the listening socket on the same port,
    so the client sees `connection refused` in between (with keepalive=False, so that no
    connection outlives the listener). The port is below the kernel's ephemeral range: one
    in it could be taken meanwhile as the local port of any connection on the machine (of
    another test, running at the same time), and up() would fail with EADDRINUSE."""

    def __init__(self, routes=None, port=0, keepalive=True):
        self.routes = dict(routes or {})
        self.keepalive = keepalive  # False: every answer closes its connection
        self.hits = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.port = port
        self._srv = None
        self._thread = None

    def _handler(self):
        srv = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 15

            def log_message(self, *a):
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                with srv._lock:
                    srv.hits[path] = srv.hits.get(path, 0) + 1
                    doc = srv.routes.get(path)
                if doc == "hang":
                    srv._release.wait(30)
                    doc = {"hung": True}
                if isinstance(doc, tuple):  # ("delay", seconds, doc): a slow answer
                    srv._release.wait(doc[1])
                    doc = doc[2]
                if callable(doc):
                    doc = doc()
                if doc is None:
                    code, body = 404, b'{"error":"no such path"}'
                else:
                    code, body = 200, json.dumps(doc).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    if not srv.keepalive:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    self.close_connection = True
        return H

    def up(self):
        if self.port == 0:
            self.port = _fixed_port()
        class S(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 256  # the default 5 drops SYNs of a burst (1 s retransmit)

            def handle_error(self, request, client_address):
                pass
        self._srv = S((HOST, self.port), self._handler())
        self.port = self._srv.server_address[1]
        self._thread = threading.Thread(target=self._srv.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def down(self):
        if self._srv is not None:
            self._srv.shutdown()
            self._srv.server_close()
            self._thread.join(timeout=5)
            self._srv = None

    def stop(self):
        self._release.set()
        self.down()

    def url(self, path):
        return f"http://{HOST}:{self.port}{path}"

    def count(self, path):
        with self._lock:
            return self.hits.get(path, 0)
