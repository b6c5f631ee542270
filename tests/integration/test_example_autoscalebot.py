#!/usr/bin/env python3
"""examples/autoscalebot.yaml works as written: the web group measures a real app's response
time and the celery group a real Redis `celery` list, and both scale Heroku formations through
the `heroku` scaler, here against heroku_api.HerokuAPI (a local server that follows the Heroku
Platform API Reference, https://devcenter.heroku.com/articles/platform-api-reference: Formation
Info and Update, Clients, Errors, Rate Limits) in place of https://api.heroku.com.

The app's response time follows the web formation's quantity (the router spreads the load over
the dynos) and the tasks leave the queue at the worker formation's pace (one task a second per
dyno), so the decisions act on what they measure.

First the file exactly as shipped but for `api_url` (`run --once --dry-run`: both groups read
their formation, measure and decide; the worker formation's PATCH is described, none is sent),
then the same file with only the intervals, the thresholds' run lengths, the scale-down window
and the timeouts shortened, for real: a slow app gains a web dyno, 30 tasks grow the worker
formation, the queue drains and the formation shrinks again. The assertions are on what the
fixture received: paths, headers and {"quantity": N} bodies.

    python3 tests/integration/test_example_autoscalebot.py --bin build/autoscaler
"""

import json
import os
import secrets
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
from heroku_api import ACCEPT, HerokuAPI  # noqa: E402

REDIS = shutil.which("redis-server")
CLI = shutil.which("redis-cli")
EXAMPLE = os.path.join(REPO, "examples", "autoscalebot.yaml")
APP = "dancing-forest-1234"          # the example's app
HEROKU = "api_url: https://api.heroku.com"
TOKEN = "HRKU-" + secrets.token_hex(16)


class App(ThreadingHTTPServer):
    """The web app on Heroku: /heartbeat answers after 300 ms per unit of load, shared by the
    web formation's dynos."""
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, load, api):
        super().__init__(("127.0.0.1", 0), Handler)
        self.load, self.api = load, api
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/heartbeat":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        time.sleep(0.3 * self.server.load / max(1, self.server.api.quantity(APP, "web")))
        body = b'{"ok": true}'
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to tell it

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


def redis(url, *args):
    return subprocess.run([CLI, "-u", url, *map(str, args)], capture_output=True, text=True,
                          check=True).stdout.strip()


def llen(url):
    return int(redis(url, "LLEN", "celery") or -1)


def workers(ctx, api, url):
    """The worker dynos: each takes one task off the queue a second, as many as the worker
    formation's quantity says."""
    stop = threading.Event()

    def run():
        while not stop.wait(1.0):
            n = api.quantity(APP, "worker")
            if n > 0:
                redis(url, "LPOP", "celery", n)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    ctx.defer(lambda: (stop.set(), t.join(5)))


def fixture(ctx, web, worker):
    api = HerokuAPI(token=TOKEN, apps={APP: {"web": web, "worker": worker}}).start()
    ctx.defer(api.stop)
    return api


def workdir(ctx, text, api):
    """The config, pointed at the fixture, with its API key file beside it."""
    assert text.count(HEROKU) == 2, "both scalers name the Platform API"
    path = os.path.join(ctx.tmp, "autoscalebot.yaml")
    with open(path, "w") as f:
        f.write(text.replace(HEROKU, f"api_url: {api.url}"))
    with open(os.path.join(ctx.tmp, "heroku-api-key"), "w") as f:
        f.write(TOKEN + "\n")
    return path


def assert_calls_follow_the_reference(api):
    for method, path, headers, body in api.requests:
        assert method in ("GET", "PATCH"), method
        assert path in (f"/apps/{APP}/formation/web", f"/apps/{APP}/formation/worker"), path
        assert headers["Accept"] == ACCEPT, headers
        assert headers["Authorization"] == f"Bearer {TOKEN}", "bearer token"
        if method == "PATCH":
            assert headers["Content-Type"] == "application/json", headers
            assert set(json.loads(body)) == {"quantity"}, body


def patches(api, ptype):
    return [json.loads(r[3])["quantity"] for r in api.calls("PATCH")
            if r[1] == f"/apps/{APP}/formation/{ptype}"]


@test
def test_as_shipped_once(ctx):
    if not (REDIS and CLI):
        print("SKIP: redis-server or redis-cli missing (scripts/bootstrap.sh --test)")
        return
    api, broker = fixture(ctx, web=2, worker=2), redis_server(ctx)
    app = App(load=1.0, api=api)
    ctx.defer(app.shutdown)
    redis(broker, "RPUSH", "celery", *range(25))
    with open(EXAMPLE) as f:
        path = workdir(ctx, f.read(), api)
    env = {"APP_URL": app.url, "CELERY_BROKER_URL": broker}
    d = ctx.daemon(path, extra=["--once", "--dry-run"], env=env,
                   log_file=os.path.join(ctx.tmp, "autoscaler.log"))
    assert d.wait_exit(60) == 0, d.tail()
    web = d.grep(r"engine\[web\]: decision current=2 desired=\d+ response_ms=([\d.]+) ")
    assert web, d.tail()
    ms = float(web[-1].group(1))
    assert 120 <= ms <= 600, f"median response {ms} ms for 300 ms * 1.0 / 2 dynos"
    # 25 tasks, one worker dyno per 10: three, at any time of day (min is 1 or 2).
    assert d.grep(r"engine\[celery\]: decision current=2 desired=3 queue=25 "), d.tail()
    want = (f"engine[celery]: dry-run: would scale 2->3 via heroku: PATCH {api.url}/apps/{APP}/"
            f'formation/worker {{"quantity":3}} (Accept: {ACCEPT}, Authorization: Bearer ***)')
    assert want in d.log_text(), d.tail()
    assert not api.calls("PATCH"), "a dry run scaled a formation"
    gets = {r[1] for r in api.calls("GET")}
    assert gets == {f"/apps/{APP}/formation/web", f"/apps/{APP}/formation/worker"}, gets
    assert_calls_follow_the_reference(api)
    assert llen(broker) == 25
    assert TOKEN not in d.log_text() + d.stderr()


@test
def test_scales_both_groups(ctx):
    if not (REDIS and CLI):
        print("SKIP: redis-server or redis-cli missing (scripts/bootstrap.sh --test)")
        return
    # Three web dynos at any hour's min (1 to 3); 300 ms * 12 / 3 = 1.2 s: above max.
    api, broker = fixture(ctx, web=3, worker=2), redis_server(ctx)
    app = App(load=12.0, api=api)
    ctx.defer(app.shutdown)
    with open(EXAMPLE) as f:
        text = f.read()
    # The same file, faster: intervals, the thresholds' run lengths, the scale-down window,
    # the timeouts (each below its interval).
    for a, b in (("interval: 30s", "interval: 5s"), ("interval: 10s", "interval: 1s"),
                 ("up_after: 3", "up_after: 1"), ("stabilization: 1m", "stabilization: 2s"),
                 ("period: 30s", "period: 1s"), ("timeout: 20s", "timeout: 4500ms"),
                 ("timeout: 10s", "timeout: 1s"), ("timeout: 8s", "timeout: 800ms"),
                 ("timeout: 5s", "timeout: 800ms")):
        assert a in text, a
        text = text.replace(a, b)
    path = workdir(ctx, text, api)
    redis(broker, "RPUSH", "celery", *range(30))
    workers(ctx, api, broker)
    env = {"APP_URL": app.url, "CELERY_BROKER_URL": broker}
    d = ctx.daemon(path, env=env, log_file=os.path.join(ctx.tmp, "autoscaler.log"))
    # The worker formation grows with the queue (30 tasks, 10 per dyno) ...
    line = d.wait_log(r"engine\[celery\]: scaled 2->([3-9]|10) via heroku", 15)
    grown = int(line.group(1))
    assert patches(api, "worker")[0] == grown, api.calls("PATCH")
    # ... the web formation gains a dyno: 1.2 s above 1000 ms once (up_after 1), then
    # 300 ms * 12 / 4 = 0.9 s is within [200, 1000]: no more.
    d.wait_log(r"engine\[web\]: scaled 3->4 via heroku", 25)
    assert api.quantity(APP, "web") == 4
    # ... the queue drains at the formation's pace and the formation shrinks again.
    wait_for(lambda: llen(broker) == 0, 30, "the worker dynos drained the queue")
    d.wait_log(rf"engine\[celery\]: scaled {grown}->{grown - 1} via heroku", 15)
    assert patches(api, "web") == [4], api.calls("PATCH")
    worker = patches(api, "worker")
    assert worker[:2] == [grown, grown - 1], worker
    assert all(1 <= q <= 10 for q in worker), worker
    assert_calls_follow_the_reference(api)
    d.stop(signal.SIGTERM)
    assert TOKEN not in d.log_text() + d.stderr()
    d.assert_no_sanitizer_report()


if __name__ == "__main__":
    sys.exit(main())
