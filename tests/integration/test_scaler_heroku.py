#!/usr/bin/env python3
"""The `heroku` scaler, driven by the daemon, against heroku_api.HerokuAPI: a local server that
follows the Heroku Platform API Reference (https://devcenter.heroku.com/articles/
platform-api-reference: Formation Info and Update, Clients, Errors, Rate Limits) as published.

A queue metric (average_value 10) asks for 4 dynos where the formation has 2: `run` sets them
with the headers and body the reference asks for, `--dry-run` logs the exact call and sends
none; a 503 is retried, a 422 (an eco dyno's limit) and a 401 are permanent with Heroku's own
message, RateLimit-Remaining below the reserve and a 429 hold calls off until the pool has
refilled, a hung call times out, and garbage or a quantity of the wrong type is a failed read
that never scales. The API key never reaches the log.

    python3 tests/integration/test_scaler_heroku.py --bin build/autoscaler
"""

import json
import os
import re
import secrets
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, run_cli, test, wait_for, write_config  # noqa: E402
from heroku_api import ACCEPT, HerokuAPI  # noqa: E402

TOKEN = "HRKU-" + secrets.token_hex(16)


class Metric(ThreadingHTTPServer):
    """GET / answers {"queue": N}."""
    daemon_threads = True

    def __init__(self, queue):
        super().__init__(("127.0.0.1", 0), MetricHandler)
        self.queue = queue
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/"


class MetricHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"queue": self.server.queue}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def setup(ctx, queue=40, token=TOKEN, start=True, api_kw=None, **scaler):
    """The fixture (formation myapp/web at 2), the metric, and the config in a directory of its
    own; the daemon started unless start is False (then its config path is returned in its
    place: start it with daemon())."""
    api = HerokuAPI(token=token, apps={"myapp": {"web": 2, "worker": 1}}, **(api_kw or {}))
    api.start()
    ctx.defer(api.stop)
    metric = Metric(queue)
    ctx.defer(metric.shutdown)
    here = tempfile.mkdtemp(dir=ctx.tmp)
    log = os.path.join(here, "autoscaler.log")
    sc = {"type": "heroku", "app": "myapp", "token": "${env:HEROKU_API_KEY}",
          "api_url": api.url, "timeout": "400ms", "retries": 2, "backoff": "50ms",
          "backoff_max": "100ms"}
    sc.update(scaler)
    cfg = {"log_file": log, "state_dir": os.path.join(here, "state"),
           "groups": {"web": {
               "interval": "500ms", "min": 1, "max": 10,
               "metrics": [{"name": "queue", "type": "http_json", "url": metric.url,
                            "pointer": "/queue", "timeout": "300ms", "average_value": 10}],
               "scaler": sc}}}
    path = write_config(here, cfg)
    if not start:
        return api, metric, path
    return api, metric, daemon(ctx, path)


def daemon(ctx, path):
    log = os.path.join(os.path.dirname(path), "autoscaler.log")
    return ctx.daemon(path, log_file=log, env={"HEROKU_API_KEY": TOKEN})


def assert_token_hidden(d):
    for text in (d.log_text(), d.stderr(), d.stdout()):
        assert TOKEN not in text and TOKEN[5:] not in text, "the API key reached the log"


@test
def test_run_sets_the_formation(ctx):
    api, _, d = setup(ctx)
    d.wait_log(r"engine\[web\]: scaled 2->4 via heroku in \d+ms \(read back\)", 15)
    assert api.quantity("myapp") == 4 and api.quantity("myapp", "worker") == 1
    patches = api.calls("PATCH")
    assert len(patches) == 1, patches
    method, path, headers, body = patches[0]
    assert path == "/apps/myapp/formation/web", path
    assert json.loads(body) == {"quantity": 4}, body
    assert headers["Accept"] == ACCEPT, headers
    assert headers["Authorization"] == f"Bearer {TOKEN}", "bearer token"
    assert headers["Content-Type"] == "application/json", headers
    for _, path, headers, _ in api.calls("GET"):
        assert path == "/apps/myapp/formation/web" and headers["Accept"] == ACCEPT, path
        assert headers["Authorization"] == f"Bearer {TOKEN}"
    # The count is read every round: a change made elsewhere is seen (and, being a scale-up
    # by someone else, held until it is confirmed, then trusted).
    api.set_quantity("myapp", "web", 6)
    d.wait_log(r"engine\[web\]: decision current=6 ", 10)
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


@test
def test_dry_run_describes_the_call(ctx):
    api, _, path = setup(ctx, start=False, size="standard-2X")
    log = os.path.join(os.path.dirname(path), "autoscaler.log")
    r = run_cli(ctx.bin, ["run", "-c", path, "--once", "--dry-run"],
                env={"HEROKU_API_KEY": TOKEN}, timeout=30)
    assert r.returncode == 0, r.stderr
    text = open(log).read()
    want = (f"engine[web]: dry-run: would scale 2->4 via heroku: PATCH {api.url}/apps/myapp/"
            f'formation/web {{"quantity":4,"size":"standard-2X"}} ({"Accept: " + ACCEPT}, '
            f"Authorization: Bearer ***)")
    assert want in text, text[-3000:]
    assert not api.calls("PATCH") and api.calls("GET"), api.requests
    assert api.quantity("myapp") == 2
    assert TOKEN not in text + r.stderr + r.stdout


@test
def test_503_is_retried(ctx):
    api, _, path = setup(ctx, start=False)
    api.fail(503, method="PATCH")
    d = daemon(ctx, path)
    d.wait_log(r"scale 2->4 via heroku failed \(attempt 1/3\): HTTP 503 service_unavailable: "
               r"API is unavailable", 15)
    d.wait_log(r"engine\[web\]: scaled 2->4 via heroku", 10)
    assert api.quantity("myapp") == 4 and len(api.calls("PATCH")) == 2
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


@test
def test_4xx_is_permanent_with_herokus_message(ctx):
    # Eco dynos scale to one per process type: Formation Update answers 422 invalid_params.
    api, _, d = setup(ctx, size="eco")
    d.wait_log(r"scale 2->4 via heroku failed \(attempt 1/3, permanent\): HTTP 422 "
               r"invalid_params: Cannot update to more than 1 eco size dynos per process type\.",
               15)
    d.wait_log(r"giving up on 2->4 until the next round$", 5)
    mark = d.mark()
    d.wait_decisions(2, 10, since=mark)
    assert not d.grep(r"attempt 2/3"), "a permanent failure was retried"
    assert json.loads(api.calls("PATCH")[0][3]) == {"quantity": 4, "size": "eco"}
    assert api.quantity("myapp") == 2
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


@test
def test_bad_key_and_unknown_app(ctx):
    api, _, d = setup(ctx, token="another-key")
    d.wait_log(r"reading the replica count via heroku failed: HTTP 401 unauthorized: "
               r"Invalid credentials provided\.: no decision, hold", 10)
    assert not api.calls("PATCH")
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)
    # A key written in the file itself (not a reference) is hidden too, even when an error
    # message echoes it.
    api, _, path = setup(ctx, start=False)
    api.fail(401, {"id": "unauthorized", "message": f"Invalid credentials provided: Bearer "
                                                    f"{TOKEN}"}, method="GET")
    with open(path) as f:
        text = f.read().replace("'${env:HEROKU_API_KEY}'", TOKEN)
    with open(path, "w") as f:
        f.write(text)
    d = daemon(ctx, path)
    d.wait_log(r"HTTP 401 unauthorized: Invalid credentials provided: Bearer \*\*\*", 10)
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)
    api, _, d = setup(ctx, app="no-such-app")
    d.wait_log(r"via heroku failed: HTTP 404 not_found: Couldn't find that app\.", 10)
    d.stop(signal.SIGTERM)
    api, _, d = setup(ctx, process_type="clock")
    d.wait_log(r"via heroku failed: HTTP 404 not_found: Couldn't find that formation\.", 10)
    d.stop(signal.SIGTERM)


@test
def test_low_rate_limit_holds_calls(ctx):
    # Three tokens left, none coming back: the first answer says 2 (below the reserve of 5),
    # so calls are held (5 - 2) * 800 ms; no call reaches the API meanwhile.
    api, _, d = setup(ctx, queue=20, rate_limit_reserve=5,
                      api_kw={"pool": 3, "refill_per_minute": 0.0})
    d.wait_log(r"scaler/heroku\[web\]: request tokens running low \(RateLimit-Remaining 2, "
               r"reserve 5\): holding calls for 2400ms", 10)
    n = len(api.requests)
    d.wait_log(r"reading the replica count via heroku failed: rate limit: calls held 2400ms "
               r"for the pool to refill \(RateLimit-Remaining 2, reserve 5\)", 5)
    time.sleep(1.5)
    assert len(api.requests) == n, "a call was made during the hold"
    # After the hold: one more call (1 left: held 3200 ms), then one (0 left, 4000 ms).
    wait_for(lambda: len(api.requests) == n + 1, 3, "the call after the hold")
    d.wait_log(r"RateLimit-Remaining 1, reserve 5\): holding calls for 3200ms", 3)
    stamps = [t for t in (line_time(ln) for ln in d.grep(r"holding calls for"))]
    assert stamps[1] - stamps[0] >= 2.3, stamps
    assert not api.calls("PATCH")
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


def line_time(m):
    ts = re.match(r"^(\S+)Z", m.string).group(1)
    secs = time.mktime(time.strptime(ts.split(".")[0], "%Y-%m-%dT%H:%M:%S"))
    return secs + float("0." + ts.split(".")[1]) if "." in ts else secs


@test
def test_429_backs_off_then_recovers(ctx):
    # An empty pool: 429 rate_limit, logged with Heroku's message; calls held, then the pool
    # refills and the scale happens.
    api, _, d = setup(ctx, rate_limit_reserve=1, api_kw={"pool": 0, "refill_per_minute": 0.0})
    d.wait_log(r"reading the replica count via heroku failed: HTTP 429 rate_limit: Your "
               r"account reached the API rate limit", 10)
    d.wait_log(r"rate limited \(HTTP 429\) \(RateLimit-Remaining 0, reserve 1\): holding "
               r"calls for 800ms", 5)
    api.set_pool(100)
    d.wait_log(r"engine\[web\]: scaled 2->4 via heroku", 10)
    d.stop(signal.SIGTERM)
    # A 429 on the update itself: retried after the hold, never as if permanent.
    api, _, path = setup(ctx, start=False, rate_limit_reserve=1)
    api.fail(429, {"id": "rate_limit", "message": "Your account reached the API rate limit"},
             method="PATCH")
    d = daemon(ctx, path)
    d.wait_log(r"scale 2->4 via heroku failed \(attempt 1/3\): HTTP 429 rate_limit: Your "
               r"account reached the API rate limit", 15)
    d.wait_log(r"engine\[web\]: scaled 2->4 via heroku", 10)
    assert not d.grep(r"failed \(attempt \d/3, permanent\)")
    assert api.quantity("myapp") == 4
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


@test
def test_timeouts(ctx):
    api, _, path = setup(ctx, start=False)
    api.hang(1.0, method="GET")
    d = daemon(ctx, path)
    d.wait_log(r"reading the replica count via heroku failed: timeout after 4\d\d ms", 10)
    # A PATCH that hangs past the timeout (and lands later) is retried.
    api.hang(1.0, method="PATCH")
    d.wait_log(r"scale 2->4 via heroku failed \(attempt 1/3\): timeout after 4\d\d ms", 10)
    d.wait_log(r"engine\[web\]: scaled 2->4 via heroku", 10)
    assert api.quantity("myapp") == 4
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


BAD = [
    ("\x00\xff garbage", r"response is not JSON \(line 1 column 1"),
    ('{"quantity": "4"}', r"value at /quantity is a string, not a number"),
    ('{"quantity": 2.5}', r"replica count 2\.5 is not a whole number"),
    ('{"quantity": -1}', r"replica count -1 is negative"),
    ('{"quantity": null}', r"value at /quantity is null, not a number"),
    ('{"type": "web"}', r"JSON pointer /quantity not found"),
    ('[{"quantity": 2}]', r"not a JSON object"),
    ('{"quantity": 30000000000}', r"replica count 30000000000 is out of range"),
]


@test
def test_garbage_and_wrong_types_never_scale(ctx):
    api, metric, path = setup(ctx, start=False, queue=0)    # the metric asks for 1: down
    for body, _ in BAD:
        api.answer(body, method="GET")
    d = daemon(ctx, path)
    for _, why in BAD:
        d.wait_log(r"reading the replica count via heroku failed: (response is not a "
                   r"formation: )?" + why, 10)
    assert not api.calls("PATCH"), "scaled on a count it could not read"
    metric.queue = 40
    d.wait_log(r"engine\[web\]: scaled 2->4 via heroku", 10)
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


if __name__ == "__main__":
    sys.exit(main())
