#!/usr/bin/env python3
"""examples/autoscalebot.yaml works as written: the web group measures a real app's response
time and the celery group a real Redis `celery` list, with the example's stand-in workers.

First the file exactly as shipped (`run --once --dry-run`: both groups measure and decide),
then the same file with only the intervals, thresholds' run lengths and the scale-down window
shortened, for real: a slow web app gains a replica, 30 tasks grow the worker pool and the
workers drain the queue.

    python3 tests/integration/test_example_autoscalebot.py --bin build/autoscaler
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, main, test, wait_for  # noqa: E402

REDIS = shutil.which("redis-server")
CLI = shutil.which("redis-cli")
EXAMPLE = os.path.join(REPO, "examples", "autoscalebot.yaml")


class App(ThreadingHTTPServer):
    """The web app: /heartbeat answers after 300 ms per unit of load per replica;
    /app/replicas reads and sets the count."""
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, load):
        super().__init__(("127.0.0.1", 0), Handler)
        self.load, self.replicas, self.lock = load, 2, threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, obj=None):
        body = json.dumps(obj).encode() if obj is not None else b""
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to tell it

    def do_GET(self):
        if self.path == "/heartbeat":
            with self.server.lock:
                delay = 0.3 * self.server.load / max(1, self.server.replicas)
            time.sleep(delay)
            return self._send(200, {"ok": True})
        if self.path == "/app/replicas":
            with self.server.lock:
                return self._send(200, {"replicas": self.server.replicas})
        self._send(404)

    def do_PUT(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        with self.server.lock:
            self.server.replicas = int(body["replicas"])
        self._send(204)

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server(ctx):
    port = free_port()
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", ctx.tmp],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    ctx.defer(lambda: (proc.terminate(), proc.wait(10)))
    url = f"redis://127.0.0.1:{port}/0"
    wait_for(lambda: subprocess.run([CLI, "-u", url, "PING"], capture_output=True,
                                    text=True).stdout.strip() == "PONG", 10, "redis-server")
    return url


def llen(url):
    out = subprocess.run([CLI, "-u", url, "LLEN", "celery"], capture_output=True, text=True)
    return int(out.stdout.strip() or -1)


def workdir(ctx, text):
    """A working directory holding the config and the example workers (their relative path)."""
    os.makedirs(os.path.join(ctx.tmp, "examples"), exist_ok=True)
    shutil.copy(os.path.join(REPO, "examples", "celery-worker.sh"),
                os.path.join(ctx.tmp, "examples", "celery-worker.sh"))
    path = os.path.join(ctx.tmp, "autoscalebot.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


@test
def test_as_shipped_once(ctx):
    if not (REDIS and CLI):
        print("SKIP: redis-server or redis-cli missing (scripts/bootstrap.sh --test)")
        return
    app, broker = App(load=1.0), redis_server(ctx)
    ctx.defer(app.shutdown)
    subprocess.run([CLI, "-u", broker, "RPUSH", "celery", *map(str, range(25))], check=True,
                   capture_output=True)
    with open(EXAMPLE) as f:
        path = workdir(ctx, f.read())
    env = {"APP_URL": app.url, "CELERY_BROKER_URL": broker}
    d = ctx.daemon(path, extra=["--once", "--dry-run"], env=env,
                   log_file=os.path.join(ctx.tmp, "autoscaler.log"))
    assert d.wait_exit(60) == 0, d.tail()
    web = d.grep(r"engine\[web\]: decision current=2 desired=\d+ response_ms=([\d.]+) ")
    assert web, d.tail()
    ms = float(web[-1].group(1))
    assert 120 <= ms <= 600, f"median response {ms} ms for 300 ms * 1.0 / 2 replicas"
    cel = d.grep(r"engine\[celery\]: decision current=0 desired=\d+ queue=25 ")
    assert cel, d.tail()
    assert llen(broker) == 25, "a dry run started workers"


@test
def test_scales_both_groups(ctx):
    if not (REDIS and CLI):
        print("SKIP: redis-server or redis-cli missing (scripts/bootstrap.sh --test)")
        return
    app, broker = App(load=8.0), redis_server(ctx)   # 300 ms * 8 / 2 = 1.2 s: above max
    ctx.defer(app.shutdown)
    with open(EXAMPLE) as f:
        text = f.read()
    # The same file, faster: intervals, the thresholds' run lengths, the scale-down window.
    for a, b in (("interval: 30s", "interval: 5s"), ("interval: 10s", "interval: 1s"),
                 ("up_after: 3", "up_after: 1"), ("stabilization: 1m", "stabilization: 2s"),
                 ("period: 30s", "period: 1s"), ("grace: 30s", "grace: 3s"),
                 ("timeout: 20s", "timeout: 4500ms"), ("timeout: 10s", "timeout: 1s"),
                 ("timeout: 5s", "timeout: 800ms")):
        assert a in text, a
        text = text.replace(a, b)
    path = workdir(ctx, text)
    env = {"APP_URL": app.url, "CELERY_BROKER_URL": broker, "TASK_SECONDS": "0.2"}
    d = ctx.daemon(path, env=env, log_file=os.path.join(ctx.tmp, "autoscaler.log"))
    d.wait_log(r"engine\[web\]: scaled 2->3 via http", 20)
    assert app.replicas >= 3
    subprocess.run([CLI, "-u", broker, "RPUSH", "celery", *map(str, range(30))], check=True,
                   capture_output=True)
    line = d.wait_log(r"engine\[celery\]: scaled \d+->([3-9]|10) via process", 15)
    assert line, d.tail()
    wait_for(lambda: llen(broker) == 0, 30, "the workers drained the queue")
    d.stop(signal.SIGTERM)
    d.assert_no_sanitizer_report()


if __name__ == "__main__":
    sys.exit(main())
