"""A stand-in for the Heroku Platform API's formation endpoints, on 127.0.0.1, standard library
only, for the tests of the `heroku` scaler.

It follows the Heroku Platform API Reference
(https://devcenter.heroku.com/articles/platform-api-reference) as published:
  - Formation Info    GET   /apps/{app_id_or_name}/formation/{formation_id_or_type}   200
    Formation Update  PATCH /apps/{app_id_or_name}/formation/{formation_id_or_type}   200
    with the optional parameters `quantity` (integer) and `size` (string); the answer is the
    formation object (app {id, name}, command, created_at, dyno_size {id, name}, id,
    quantity, size, type, updated_at).
  - Clients: `Accept: application/vnd.heroku+json; version=3` is required (else 406
    not_acceptable); authentication by `Authorization: Bearer TOKEN` (else 401
    unauthorized); parameters are a JSON body (`Content-Type: application/json`).
  - Errors: a JSON object {"id": ..., "message": ..., "url": ...} with the status of the
    reference's table: 400 bad_request, 401 unauthorized, 403 forbidden, 404 not_found,
    406 not_acceptable, 422 invalid_params, 429 rate_limit, 503 service_unavailable.
  - Rate limits: each account has a pool of request tokens (at most 4500, refilled at about
    75 a minute); each call takes one; every answer carries `RateLimit-Remaining`; with no
    token left a call is answered 429 rate_limit until tokens come back. The pool's size and
    refill rate are settable so that a test can run it dry in seconds.
  - Dyno limits (Heroku's dyno types): eco and basic dynos scale to at most 1 per process
    type, the others to at most 100 by default; beyond it Formation Update answers 422
    invalid_params. (The wording of that message here is ours.)

Faults a test can inject, one answer each, in order: `fail(status, body=None, method=None)`
(an error object or any text), `hang(seconds, method=None)` (answer after a delay),
`answer(body, method=None)` (a 200 with this body: garbage, wrong types).

    api = HerokuAPI(token="t0k", apps={"myapp": {"web": 2}}).start()
    api.url        # http://127.0.0.1:PORT, the scaler's api_url
    api.quantity("myapp", "web"); api.requests  # what was asked, in order
"""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACCEPT = "application/vnd.heroku+json; version=3"
REF = "https://devcenter.heroku.com/articles/platform-api-reference"
LIMITS = {"eco": 1, "basic": 1, "free": 1, "hobby": 1}


def error(status, ident, message):
    return status, {"id": ident, "message": message, "url": REF}


class HerokuAPI(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, token, apps, pool=4500, refill_per_minute=75.0):
        super().__init__(("127.0.0.1", 0), Handler)
        self.token = token
        self.lock = threading.Lock()
        self.formations = {}          # (app, type) -> formation object
        for app, types in apps.items():
            app_id = str(uuid.uuid4())
            for ptype, quantity in types.items():
                self.formations[(app, ptype)] = self._formation(app, app_id, ptype, quantity)
        self.pool_max, self.tokens = pool, float(pool)
        self.refill_per_s = refill_per_minute / 60.0
        self.refilled_at = time.monotonic()
        self.faults = []              # [(method or None, kind, arg)]
        self.requests = []            # [(method, path, headers dict, body bytes)]

    @staticmethod
    def _formation(app, app_id, ptype, quantity):
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {"app": {"id": app_id, "name": app}, "command": "bundle exec puma",
                "created_at": now, "dyno_size": {"id": str(uuid.uuid4()), "name": "standard-1X"},
                "id": str(uuid.uuid4()), "quantity": quantity, "size": "standard-1X",
                "type": ptype, "updated_at": now}

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    # -- what tests look at and set --

    def quantity(self, app, ptype="web"):
        with self.lock:
            return self.formations[(app, ptype)]["quantity"]

    def set_quantity(self, app, ptype, n, size=None):
        with self.lock:
            self.formations[(app, ptype)]["quantity"] = n
            if size:
                self.formations[(app, ptype)]["size"] = size

    def set_pool(self, tokens, refill_per_minute=None):
        with self.lock:
            self.tokens = float(tokens)
            self.pool_max = max(self.pool_max, tokens)
            self.refilled_at = time.monotonic()
            if refill_per_minute is not None:
                self.refill_per_s = refill_per_minute / 60.0

    def fail(self, status, body=None, method=None):
        with self.lock:
            self.faults.append((method, "fail", (status, body)))

    def hang(self, seconds, method=None):
        with self.lock:
            self.faults.append((method, "hang", seconds))

    def answer(self, body, method=None):
        with self.lock:
            self.faults.append((method, "answer", body))

    def calls(self, method=None):
        with self.lock:
            return [r for r in self.requests if method is None or r[0] == method]

    # -- the rate limit --

    def take_token(self):
        """(allowed, remaining): one token from the pool, refilled first."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.pool_max,
                              self.tokens + (now - self.refilled_at) * self.refill_per_s)
            self.refilled_at = now
            if self.tokens < 1:
                return False, 0
            self.tokens -= 1
            return True, int(self.tokens)

    def next_fault(self, method):
        with self.lock:
            for i, (m, kind, arg) in enumerate(self.faults):
                if m is None or m == method:
                    del self.faults[i]
                    return kind, arg
        return None, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HerokuAPI

    def _send(self, status, obj, remaining):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if remaining is not None:
                self.send_header("RateLimit-Remaining", str(remaining))
            self.send_header("Request-Id", str(uuid.uuid4()))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout)

    def _handle(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        srv = self.server
        with srv.lock:
            srv.requests.append((method, self.path, dict(self.headers.items()), body))
        ok, remaining = srv.take_token()
        if not ok:
            return self._send(*error(429, "rate_limit", "Your account reached the API rate "
                                     "limit\nPlease wait a few minutes before making new "
                                     "requests"), 0)
        kind, arg = srv.next_fault(method)
        if kind == "hang":
            time.sleep(arg)
        elif kind == "fail":
            status, text = arg
            obj = text.encode() if isinstance(text, str) else (
                text if text is not None else error(status, "service_unavailable",
                                                    "API is unavailable")[1])
            return self._send(status, obj, remaining)
        elif kind == "answer":
            return self._send(200, arg.encode() if isinstance(arg, str) else arg, remaining)
        status, obj = self._route(method, body)
        self._send(status, obj, remaining)

    def _route(self, method, body):
        srv = self.server
        if self.headers.get("Accept") != ACCEPT:
            return error(406, "not_acceptable", f"Please set Accept: {ACCEPT}.")
        if self.headers.get("Authorization") != f"Bearer {srv.token}":
            return error(401, "unauthorized", "Invalid credentials provided.")
        parts = self.path.split("?")[0].split("/")
        if len(parts) != 5 or parts[0] != "" or parts[1] != "apps" or parts[3] != "formation":
            return error(404, "not_found", "The requested API endpoint was not found.")
        app, ptype = parts[2], parts[4]
        with srv.lock:
            if not any(a == app or f["app"]["id"] == app for (a, _), f in srv.formations.items()):
                return error(404, "not_found", "Couldn't find that app.")
            key = next((k for k, f in srv.formations.items()
                        if (k[0] == app or f["app"]["id"] == app)
                        and (k[1] == ptype or f["id"] == ptype)), None)
            if key is None:
                return error(404, "not_found", "Couldn't find that formation.")
            if method == "GET":
                return 200, dict(srv.formations[key])
            if method != "PATCH":
                return error(404, "not_found", "The requested API endpoint was not found.")
            return self._update(srv.formations[key], body)

    def _update(self, formation, body):
        if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return error(400, "bad_request", "Invalid request: expected a JSON body.")
        try:
            params = json.loads(body)
        except ValueError:
            return error(400, "bad_request", "Invalid JSON.")
        if not isinstance(params, dict) or set(params) - {"quantity", "size", "dyno_size"}:
            return error(422, "invalid_params", "Invalid params.")
        quantity = params.get("quantity", formation["quantity"])
        size = params.get("size", formation["size"])
        if type(quantity) is not int or quantity < 0:
            return error(422, "invalid_params", "Quantity must be a whole number.")
        if not isinstance(size, str):
            return error(422, "invalid_params", "Size must be a string.")
        limit = LIMITS.get(size.lower(), 100)
        if quantity > limit:
            return error(422, "invalid_params", f"Cannot update to more than {limit} {size} "
                         f"size dynos per process type.")
        formation["quantity"], formation["size"] = quantity, size
        formation["dyno_size"]["name"] = size
        formation["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return 200, dict(formation)

    def do_GET(self):
        self._handle("GET")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def log_message(self, *args):
        pass
