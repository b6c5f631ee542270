#!/usr/bin/env python3
"""The redis source against a real redis-server on 127.0.0.1 (a free port, no persistence):
list length, sum of keys, stream lag, any command, password and db, and its failures (wrong
password, wrong type, server down, a port that accepts and never answers, a server that stops
mid-reply or lies, redis killed mid-run): each a failed measurement, logged and counted, never
a scale-down. End to end: 50 tasks pushed to the real `celery` list grow a `process` pool of
examples/celery-worker.sh to 5; the workers drain it and the pool shrinks back.

    python3 tests/integration/test_source_redis.py --bin build/autoscaler
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, live_processes, main, run_cli, test, wait_for, write_config  # noqa: E402

REDIS = shutil.which("redis-server")
WORKER = os.path.join(REPO, "examples", "celery-worker.sh")


# ---- a real redis-server, and a tiny client --------------------------------------------------

def encode(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """One connection to Redis; call(*args) returns the reply (int, bytes, str for a status,
    list, None, or an Exception for an error reply)."""

    def __init__(self, port, password=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        if password:
            assert self.call("AUTH", password) == "OK"

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return Exception(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ValueError(f"bad reply {line!r}")

    def call(self, *args):
        self.sock.sendall(encode(*args))
        return self._reply()

    def close(self):
        self.sock.close()


class RedisServer:
    """redis-server on a free port, bound to 127.0.0.1, no RDB or AOF; stopped at the end."""

    def __init__(self, ctx, password=None, port=None):
        self.ctx, self.password = ctx, password
        self.port = port or free_port_pair()
        self.proc = None
        self.start()
        ctx.defer(self.stop)

    def start(self):
        argv = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--dir", self.ctx.tmp]
        if self.password:
            argv += ["--requirepass", self.password]
        log = open(os.path.join(self.ctx.tmp, f"redis-{self.port}.log"), "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        wait_for(self._ready, 10, f"redis-server on port {self.port}")
        return self

    def _ready(self):
        try:
            c = Conn(self.port, self.password)
        except OSError:
            return False
        try:
            return c.call("PING") == "PONG"
        finally:
            c.close()

    def conn(self) -> Conn:
        return Conn(self.port, self.password)

    def call(self, *args):
        c = self.conn()
        try:
            return c.call(*args)
        finally:
            c.close()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def url(self, db=None, auth=""):
        return f"redis://{auth}127.0.0.1:{self.port}" + (f"/{db}" if db is not None else "")


def free_port_pair() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- servers that are not Redis -----------------------------------------------------------------

class FakeServer:
    """Accepts connections on 127.0.0.1 and treats each as `behavior` says:
    hang      never reads, never answers
    midreply  reads a command, sends half an array, then nothing
    close     reads a command, sends half an array, then closes
    garbage   answers every command with an HTTP response
    twice     answers every command twice (":5" and ":6")
    """

    def __init__(self, ctx, behavior):
        self.behavior = behavior
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.accepts = 0
        self.stopping = False
        threading.Thread(target=self._serve, daemon=True).start()
        ctx.defer(self.stop)

    def _serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepts += 1
            self.conns.append(c)
            threading.Thread(target=self._handle, args=(c,), daemon=True).start()

    def _handle(self, c):
        try:
            if self.behavior == "hang":
                return
            while True:
                data = c.recv(65536)
                if not data:
                    return
                if self.behavior in ("midreply", "close"):
                    c.sendall(b"*2\r\n:1\r\n")
                    if self.behavior == "close":
                        c.close()
                    return
                for _ in range(data.count(b"*")):  # one answer per command (no '*' in args)
                    c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" if self.behavior == "garbage"
                              else b":5\r\n:6\r\n")
        except OSError:
            pass

    def stop(self):
        self.stopping = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


# ---- configs ---------------------------------------------------------------------------------

def metric(name, url, **kw):
    m = {"name": name, "type": "redis", "url": url, "timeout": "400ms", "average_value": 10}
    m.update(kw)
    return m


def once(ctx, metrics, env=None, interval="1s"):
    """Runs one round with --once --dry-run; returns the daemon (exited) and its decision."""
    cfg = {"log_file": "", "state_dir": "", "groups": {"g": {
        "interval": interval, "min": 1, "max": 50, "metrics": metrics,
        "scaler": {"type": "process", "command": ["sleep", "60"]}}}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--once", "--dry-run"], env=env)
    assert d.wait_exit(20) == 0, d.tail()
    d.assert_no_sanitizer_report()
    ds = d.decisions()
    assert len(ds) == 1, d.tail()
    return d, ds[0]


def source_errors(d, metric_name):
    return [m.group(1) for m in d.grep(rf"ERROR source/redis\[g/{metric_name}\]: (.*)$")]


def counters(d, group, metric_name):
    mark = d.mark()
    d.send_signal(signal.SIGUSR1)
    line = d.wait_log(rf"engine\[{group}\]: metric {metric_name} counters (.*)$", 5, since=mark)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line.group(1))}


# ---- tests -----------------------------------------------------------------------------------

@test
def test_measures_lists_keys_streams_commands(ctx):
    r = RedisServer(ctx)
    r.call("LPUSH", "celery", *range(50))
    r.call("ZADD", "z", 1, "a", 2, "b", 3, "c")
    r.call("SADD", "set", "x", "y")
    for i in range(10):
        r.call("XADD", "s", "*", "n", i)
    assert r.call("XGROUP", "CREATE", "s", "g", "0") == "OK"
    r.call("XREADGROUP", "GROUP", "g", "c1", "COUNT", "4", "STREAMS", "s", ">")
    c = r.conn()
    assert c.call("SELECT", 2) == "OK"
    c.call("RPUSH", "jobs", "a", "b")
    c.close()
    d, dec = once(ctx, [
        metric("queue", r.url(), key="celery"),
        metric("by_name", f"redis://localhost:{r.port}", key="celery"),  # resolved on a thread
        metric("lists", r.url(0), keys=["celery", "celery", "missing"]),
        metric("mixed", r.url(), keys=["celery", "z", "set", "s", "missing"], key_type="auto"),
        metric("zset", r.url(), key="z", key_type="zset"),
        metric("backlog", r.url(), stream="s", group="g"),
        metric("lag", r.url(), stream="s", group="g", stream_value="lag"),
        metric("pending", r.url(), stream="s", group="g", stream_value="pending"),
        metric("cmd", r.url(), command=["ZCOUNT", "z", "2", "+inf"]),
        metric("db2", r.url(2), key="jobs"),
    ])
    assert dec.values == {"queue": 50, "by_name": 50, "lists": 100, "mixed": 65, "zset": 3, "backlog": 10,
                          "lag": 6, "pending": 4, "cmd": 2, "db2": 2}, d.tail()


@test
def test_password_db_and_wrong_password(ctx):
    # In the URL by reference: '@', '/' and ':' need no escaping (the host follows the last
    # '@'); a '%' is read as an escape there, while `password:` takes it verbatim.
    pw = "pa55-w0rd@/:x"
    r = RedisServer(ctx, password=pw)
    r.call("RPUSH", "q", 1, 2, 3)
    assert r.call("ACL", "SETUSER", "app", "on", ">app%s3cret", "~*", "+@all") == "OK"
    c = r.conn()
    c.call("SELECT", 5)
    c.call("RPUSH", "q", 1)
    c.close()
    files = {}
    for name, text in (("pw", pw), ("app", "app%s3cret")):
        files[name] = os.path.join(ctx.tmp, name)
        with open(files[name], "w") as f:
            f.write(text + "\n")
    env = {"REDIS_PASSWORD": pw, "APP_PW": "app%25s3cret", "BAD_PW": "not-the-password"}
    d, dec = once(ctx, [
        metric("in_url", r.url(auth=":${env:REDIS_PASSWORD}@"), key="q"),
        metric("by_file", r.url(5), password="${file:" + files["pw"] + "}", key="q"),
        metric("acl_user", r.url(auth="app@"), password="${file:" + files["app"] + "}",
               key="q"),
        metric("acl_in_url", r.url(auth="app:${env:APP_PW}@"), key="q"),
        metric("wrong", r.url(auth=":${env:BAD_PW}@"), key="q"),
        metric("none", r.url(), key="q"),
    ], env=env)
    assert dec.values == {"in_url": 3, "by_file": 1, "acl_user": 3, "acl_in_url": 3,
                          "wrong": None, "none": None}, d.tail()
    assert any("AUTH failed: WRONGPASS" in e for e in source_errors(d, "wrong")), d.tail()
    assert any("LLEN q: NOAUTH Authentication required" in e
               for e in source_errors(d, "none")), d.tail()
    for secret in (pw, "app%s3cret", "not-the-password"):
        assert secret not in d.stderr(), f"{secret} in the log"


@test
def test_wrong_types_are_failed_measurements(ctx):
    r = RedisServer(ctx)
    r.call("SET", "s", "hello")
    r.call("SET", "n", "12")
    r.call("HSET", "h", "f", "1")
    d, dec = once(ctx, [
        metric("list_of_string", r.url(), key="s"),
        metric("auto_string", r.url(), keys=["s"], key_type="auto"),
        metric("get", r.url(), command=["GET", "n"]),
        metric("nil", r.url(), command=["HGET", "h", "nope"]),
        metric("negative", r.url(), command=["TTL", "missing"]),
        metric("error", r.url(), command=["NOSUCHCOMMAND"]),
        metric("no_stream", r.url(), stream="nope", group="g"),
        metric("no_group", r.url(), stream="h", group="g"),
    ])
    assert all(v is None for v in dec.values.values()), d.tail()
    want = {
        "list_of_string": "LLEN s: WRONGTYPE Operation against a key holding the wrong kind",
        "auto_string": "key s holds a string, which has no length",
        "get": "GET: replied a string (\"12\"), not an integer",
        "nil": "HGET: replied nil, not an integer",
        "negative": "TTL: replied -2, a negative count",
        "error": "NOSUCHCOMMAND: ERR unknown command",
        "no_stream": "XINFO GROUPS nope: ERR no such key",
        "no_group": "XINFO GROUPS h: WRONGTYPE",
    }
    for name, text in want.items():
        errs = source_errors(d, name)
        assert any(text in e for e in errs), (name, errs, d.tail())
        assert all(e.startswith(f"127.0.0.1:{r.port}: ") for e in errs), errs


@test
def test_dead_slow_and_lying_servers(ctx):
    r = RedisServer(ctx)
    r.call("RPUSH", "q", *range(30))
    fakes = {b: FakeServer(ctx, b) for b in ("hang", "midreply", "close", "garbage", "twice")}
    down = free_port_pair()
    metrics = [metric("healthy", r.url(), key="q"),
               metric("down", f"redis://127.0.0.1:{down}", key="q")]
    metrics += [metric(b, f"redis://127.0.0.1:{f.port}", key="q") for b, f in fakes.items()]
    # debug: a line for every decision, each one's values checked below
    cfg = {"log_file": "", "log_level": "debug", "state_dir": "", "groups": {
        "g": {"interval": "500ms", "min": 1, "max": 10, "behavior": "off", "metrics": metrics,
              "scaler": {"type": "process", "command": ["sleep", "60"], "grace": "1s"}}}}
    d = ctx.daemon(write_config(ctx.tmp, cfg))
    t0 = time.monotonic()
    ds = d.wait_decisions(6, timeout=15)
    took = time.monotonic() - t0
    # Every round decided on time (a hung server costs its 400 ms timeout, nothing more), on
    # `healthy` alone: 30 tasks, 3 workers; `twice` measures 5 (its second reply is dropped).
    assert took < 6, f"6 rounds took {took:.1f}s"
    for dec in ds[1:]:
        assert dec.values["healthy"] == 30 and dec.values["twice"] == 5, dec
        for b in ("down", "hang", "midreply", "close", "garbage"):
            assert dec.values[b] is None, (b, dec)
    assert ds[-1].current == 3 and ds[-1].desired == 3, d.tail()
    errors = {
        "down": r"cannot connect: Connection refused",
        "hang": r"timeout after (3[89]\d|[4-9]\d\d) ms",
        "midreply": r"timeout after (3[89]\d|[4-9]\d\d) ms",
        "close": r"connection lost: Server closed the connection",
        "garbage": r"Protocol error, got \"H\" as reply type byte",
    }
    for b, pattern in errors.items():
        assert any(re.search(pattern, e) for e in source_errors(d, b)), (b, d.tail())
    # Logged once, counted always.
    assert len(source_errors(d, "down")) == 1, d.tail()
    c = counters(d, "g", "down")
    assert c["failures"] >= 2 and c["failures"] == c["measurements"], c
    assert fakes["twice"].accepts >= 2  # the connection it broke was replaced
    d.stop(signal.SIGTERM)


@test
def test_redis_killed_mid_run_never_scales_down(ctx):
    r = RedisServer(ctx)
    r.call("RPUSH", "celery", *range(30))
    cfg = {"log_file": "", "state_dir": "", "groups": {
        "workers": {"interval": "300ms", "min": 1, "max": 10, "behavior": "off",
                    "metrics": [metric("queue", r.url(0), key="celery", timeout="200ms")],
                    "scaler": {"type": "process", "command": ["sleep", "60"], "grace": "1s"}}}}
    d = ctx.daemon(write_config(ctx.tmp, cfg))
    d.wait_decisions(1, timeout=10, where=lambda x: x.current == 3)
    mark = d.mark()
    r.kill()  # SIGKILL: the kept connection drops, then nothing listens
    d.wait_decisions(1, timeout=15, since=mark, where=lambda x: x.any_failed)
    d.wait_decided(4, 15, "workers", after=d.decided("workers"))
    # at info, a failed decision with another count would have its line
    failed = [x for x in d.decisions(since=mark) if x.any_failed]
    assert all(x.current == 3 and x.desired == 3 for x in failed), d.tail()
    assert not d.scaled(since=mark), d.tail()
    assert d.grep(r"ERROR source/redis\[workers/queue\]: 127\.0\.0\.1:\d+: "
                  r"(connection lost|cannot connect): ", since=mark), d.tail()
    c = counters(d, "workers", "queue")
    assert c["failures"] >= 1 and c["failing"] >= 1, c
    # Back on the same port, with work: measured again, on a new connection.
    r.start()
    r.call("RPUSH", "celery", *range(50))
    d.wait_log(r"INFO  source/redis\[workers/queue\]: measured again", 10, since=mark)
    d.wait_decisions(1, timeout=10, since=mark, where=lambda x: x.values["queue"] == 50)
    d.stop(signal.SIGTERM)


@test
def test_celery_queue_grows_and_shrinks_a_process_pool(ctx):
    if shutil.which("redis-cli") is None:
        print("SKIP test_celery_queue_grows_and_shrinks_a_process_pool: no redis-cli for the "
              "example's worker", flush=True)
        return
    r = RedisServer(ctx)
    url = r.url(0)
    # The example's group, with rounds and windows short enough for a test.
    cfg = {"log_file": "", "state_dir": "", "groups": {"celery": {
        "interval": "300ms", "min": 1, "max": 10, "behavior": "off",
        "metrics": [{"name": "queue", "type": "redis", "url": url, "key": "celery",
                     "timeout": "250ms", "average_value": 10}],
        "scaler": {"type": "process", "command": [WORKER], "output": "log", "grace": "2s"}}}}
    env = {"CELERY_BROKER_URL": url, "TASK_SECONDS": "0.4"}
    d = ctx.daemon(write_config(ctx.tmp, cfg), env=env)
    d.wait_decisions(1, timeout=10, where=lambda x: x.current == 1)
    d.wait_decided(2, 10, "celery")
    mark = d.mark()
    r.call("LPUSH", "celery", *[f"task-{i}" for i in range(50)])
    d.wait_until(lambda: (5 in [b for _, b in d.scaled(since=mark)]), 10, "the pool at 5")
    assert max(b for _, b in d.scaled(since=mark)) == 5, d.scaled(since=mark)
    workers = live_processes(WORKER)
    assert len(workers) >= 5, workers
    # The workers drain the queue; the pool follows it down to min.
    d.wait_until(lambda: r.call("LLEN", "celery") == 0, 20, "the queue drained")
    d.wait_until(lambda: d.scaled(since=mark) and d.scaled(since=mark)[-1][1] == 1, 10,
                 "the pool back at 1")
    # Every task taken exactly once (a stopped worker finishes the task at hand).
    def tasks():
        return [m.group(1) for m in d.grep(r"worker \d+ stdout: worker \d+: task (task-\d+)$",
                                           since=mark)]
    d.wait_until(lambda: len(tasks()) >= 50, 15, "50 tasks done")
    assert sorted(tasks()) == sorted(f"task-{i}" for i in range(50)), tasks()
    d.stop(signal.SIGTERM)
    wait_for(lambda: not live_processes(WORKER), 5, "no worker left")


@test
def test_example_measures_as_written(ctx):
    r = RedisServer(ctx)
    r.call("LPUSH", "celery", *range(23))
    with open(os.path.join(REPO, "examples", "celery.yaml")) as f:
        text = f.read()
    assert "redis://127.0.0.1:6379/0" in text
    path = write_config(ctx.tmp, text.replace("redis://127.0.0.1:6379/0", r.url(0)))
    rc = run_cli(ctx.bin, ["check", "-c", path], cwd=ctx.tmp)
    assert rc.returncode == 0, rc.stderr
    d = ctx.daemon(path, extra=["--once", "--dry-run"])
    assert d.wait_exit(20) == 0, d.tail()
    assert d.decisions()[0].values == {"queue": 23}, d.tail()
    assert os.access(WORKER, os.X_OK)


@test
def test_rediss_is_refused_at_check(ctx):
    cfg = {"groups": {"g": {"interval": "1s", "max": 2, "metrics": [
        metric("q", "rediss://:s3cret@127.0.0.1:6380/0", key="q")],
        "scaler": {"type": "process", "command": ["sleep", "1"]}}}}
    rc = run_cli(ctx.bin, ["check", "-c", write_config(ctx.tmp, cfg)], cwd=ctx.tmp)
    assert rc.returncode != 0
    assert "rediss:// (TLS) is not supported" in rc.stderr, rc.stderr
    assert "s3cret" not in rc.stderr, rc.stderr


if __name__ == "__main__":
    if REDIS is None:
        print("SKIP: redis-server is not installed (scripts/bootstrap.sh --test installs it)",
              flush=True)
        sys.exit(0)
    sys.exit(main())
