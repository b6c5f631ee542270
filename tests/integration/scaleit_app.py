#!/usr/bin/env python3
"""scaleit: a tiny scalable "application" for the autoscaler's integration tests.

Standard library only. Binds to 127.0.0.1 and nothing else.

The app models a service whose CPU utilisation is load / replicas:

    GET  /app/status    -> 200 {"cpu":{"highPriority":X},"replicas":R}
                           X = load / replicas, capped at `cap` (default 1.0, like real CPU;
                           cap=None reports the uncapped value, e.g. 3.0 for 3x overload)
    GET  /app/replicas  -> 200 {"replicas":R}
    PUT  /app/replicas  -> body {"replicas":N}, Content-Type application/json
                           204 on success; 400 for a bad count (missing, not an integer,
                           < 1 or > max_replicas) or bad JSON; 415 for another content type

Test control, either as Python methods (import ScaleitApp and start it in a thread) or over
HTTP for standalone use (curl):

    GET  /control/state                     counters, faults, recent history (JSON)
    POST /control/load      {"load": 6.0}
    POST /control/replicas  {"replicas": 4}   an "external" change (not a PUT; recorded as such)
    POST /control/cap       {"cap": 1.0}      or {"cap": null} for no cap
    POST /control/fault     {"target": "status", "mode": "500", "count": 3}
                            count omitted or null: the fault stays until cleared ("always")
    POST /control/clear     {"target": "status"}  or {} to clear every fault

Fault modes (see FAULT_MODES):
    status : 500, 404, badjson, empty, nonnumeric, missing, negative, hang,
             garbage, nan, infinity, huge, hexstr, hex, numstr, big
    get    : 500, badjson, hang, absurd, zero, jump, slow (GET /app/replicas)
    put    : 503, 500, 429, 400, 404, hang, landed503, 409, noop, slow (PUT /app/replicas)
`hang` sleeps `hang_s` seconds (default 2.0, longer than any timeout the tests configure)
before answering; a hung PUT is NOT applied. `landed503` applies the change and then answers
503 (the "earlier attempt landed" case). A PUT that gets any other fault is not applied.
Added for tests/faults (bodies of a 200 answer unless said otherwise):
    status garbage  bytes that are not JSON        status nan/infinity  the bare NaN / Infinity
    status huge     1e308 (a valid, absurd number) status hexstr  the string "0x10"
    status hex      the bare token 0x10 (invalid)  status numstr  the string "3"
    status big      a valid document padded to 5 MB
    get absurd      1000000000                     get zero  0
    get jump        R+1 and R+2 in turn (never R)  get slow  the count, after `slow_s` seconds
    put 409         a conflict (permanent)         put noop  204 and nothing changes
    put slow        applied at once, answered 204 after `slow_s` seconds (default 3.0)

Run standalone:  python3 scaleit_app.py --port 18200 --load 1.6 --replicas 2
"""

import argparse
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

HOST = "127.0.0.1"

FAULT_MODES = {
    "status": ("500", "404", "badjson", "empty", "nonnumeric", "missing", "negative", "hang",
               "garbage", "nan", "infinity", "huge", "hexstr", "hex", "numstr", "big"),
    "get": ("500", "badjson", "hang", "absurd", "zero", "jump", "slow"),
    "put": ("503", "500", "429", "400", "404", "hang", "landed503", "409", "noop", "slow"),
}

BIG_BODY = 5 * 1024 * 1024  # the `big` status fault's size

# Bodies of the status faults that answer 200 with a fixed document.
_STATUS_BODIES = {
    "garbage": b"\x00\xff<html>not json at all</html>\x7f",
    "nan": b'{"cpu":{"highPriority":NaN},"replicas":1}',
    "infinity": b'{"cpu":{"highPriority":Infinity},"replicas":1}',
    "huge": b'{"cpu":{"highPriority":1e308},"replicas":1}',
    "hexstr": b'{"cpu":{"highPriority":"0x10"},"replicas":1}',
    "hex": b'{"cpu":{"highPriority":0x10},"replicas":1}',
    "numstr": b'{"cpu":{"highPriority":"3"},"replicas":1}',
}

MAX_BODY = 64 * 1024  # requests larger than this are refused (413)


@dataclass
class Change:
    """One change of the replica count, as the app saw it."""
    t: float          # time.monotonic() when it was applied
    old: int
    new: int
    source: str       # "put" (from the autoscaler) or "external" (set by the test)


@dataclass
class Request:
    """One request the app answered (control requests are not recorded)."""
    t: float          # time.monotonic() when it arrived
    method: str
    path: str
    status: int       # status code answered (set to 0 if the client had gone away)
    fault: Optional[str] = None   # fault mode served, if any
    headers: dict = field(default_factory=dict)
    body: str = ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Clients (the daemon, curl) drop keep-alive connections when they time out or exit;
        # that is normal here, not worth a traceback. Anything else is still reported.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Fault:
    def __init__(self, mode: str, count: Optional[int]):
        self.mode = mode
        self.remaining = count  # None: always


class ScaleitApp:
    """The app's state plus its HTTP server. Thread-safe; all state is under one lock.

    Use as a context manager or call start()/stop(). port=0 picks a free port.
    """

    def __init__(self, port: int = 0, load: float = 1.0, replicas: int = 1,
                 cap: Optional[float] = 1.0, hang_s: float = 2.0, max_replicas: int = 1000,
                 verbose: bool = False, slow_s: float = 3.0):
        if replicas < 1:
            raise ValueError("replicas must be >= 1")
        self._lock = threading.Lock()
        self._release = threading.Event()  # wakes hung handlers on stop()
        self._load = float(load)
        self._replicas = int(replicas)
        self._cap = cap
        self.hang_s = hang_s
        self.slow_s = slow_s       # the `slow` faults' delay
        self.max_replicas = max_replicas
        self.verbose = verbose
        self._faults = {}          # target -> _Fault
        self._served = {}          # (target, mode) -> count
        self._inflight = {}        # target -> requests currently being answered
        self._peak = 0             # most requests answered at once, every target together
        self._jumps = 0            # `jump` answers served
        self._history = []         # [Change]
        self._requests = []        # [Request]
        self._server = _Server((HOST, port), _make_handler(self))
        self._thread = None

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> "ScaleitApp":
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"scaleit:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving; hung handlers are released at once. Idempotent."""
        self._release.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- model -----------------------------------------------------------------------------

    @property
    def load(self) -> float:
        with self._lock:
            return self._load

    @property
    def replicas(self) -> int:
        with self._lock:
            return self._replicas

    def set_load(self, load: float) -> None:
        with self._lock:
            self._load = float(load)

    def set_cap(self, cap: Optional[float]) -> None:
        with self._lock:
            self._cap = cap

    def set_replicas(self, n: int) -> None:
        """An external change (not from the autoscaler); recorded with source="external"."""
        if n < 1:
            raise ValueError("replicas must be >= 1")
        with self._lock:
            self._apply(n, "external")

    def cpu(self) -> float:
        """The utilisation /app/status reports right now."""
        with self._lock:
            return self._cpu()

    def _cpu(self) -> float:
        x = self._load / self._replicas
        return x if self._cap is None else min(self._cap, x)

    def _apply(self, n: int, source: str) -> None:  # caller holds the lock
        if n != self._replicas:
            self._history.append(Change(time.monotonic(), self._replicas, n, source))
        self._replicas = n

    # ---- faults ----------------------------------------------------------------------------

    def inject(self, target: str, mode: str, count: Optional[int] = None) -> None:
        """The next `count` requests to `target` get fault `mode`; count=None: until cleared.
        Replaces any fault already set on that target (atomically, so no request slips
        through between two faults)."""
        if mode not in FAULT_MODES.get(target, ()):
            raise ValueError(f"unknown fault {target}/{mode}; known: {FAULT_MODES}")
        if count is not None and count < 1:
            raise ValueError("count must be >= 1 or None")
        with self._lock:
            self._faults[target] = _Fault(mode, count)

    def clear(self, target: Optional[str] = None) -> None:
        with self._lock:
            if target is None:
                self._faults.clear()
            else:
                self._faults.pop(target, None)

    def _take_fault(self, target: str) -> Optional[str]:
        with self._lock:
            f = self._faults.get(target)
            if f is None:
                return None
            if f.remaining is not None:
                f.remaining -= 1
                if f.remaining <= 0:
                    del self._faults[target]
            key = (target, f.mode)
            self._served[key] = self._served.get(key, 0) + 1
            return f.mode

    def faults_served(self, target: Optional[str] = None, mode: Optional[str] = None) -> int:
        with self._lock:
            return sum(n for (t, m), n in self._served.items()
                       if (target is None or t == target) and (mode is None or m == mode))

    def hang(self) -> None:
        """Sleeps hang_s seconds, or less if the app is stopped."""
        self._release.wait(self.hang_s)

    # ---- observation -----------------------------------------------------------------------

    def history(self, source: Optional[str] = None) -> list:
        """Copy of the recorded replica changes, oldest first."""
        with self._lock:
            return [c for c in self._history if source is None or c.source == source]

    def requests(self, method: Optional[str] = None, path: Optional[str] = None,
                 since: float = 0.0) -> list:
        """Copy of the recorded requests (method/path filters; since: monotonic time)."""
        with self._lock:
            return [r for r in self._requests
                    if (method is None or r.method == method) and (path is None or r.path == path)
                    and r.t >= since]

    def count(self, method: Optional[str] = None, path: Optional[str] = None,
              since: float = 0.0) -> int:
        return len(self.requests(method, path, since))

    @property
    def status_requests(self) -> int:
        return self.count("GET", "/app/status")

    @property
    def put_requests(self) -> int:
        return self.count("PUT", "/app/replicas")

    def inflight(self, target: str) -> int:
        with self._lock:
            return self._inflight.get(target, 0)

    def peak_inflight(self, reset: bool = False) -> int:
        """The most requests (status, get, put together) answered at the same time since the
        start or the last reset."""
        with self._lock:
            peak = self._peak
            if reset:
                self._peak = sum(self._inflight.values())
            return peak

    def slow(self) -> None:
        """Sleeps slow_s seconds, or less if the app is stopped."""
        self._release.wait(self.slow_s)

    def headers_seen(self, name: str, path: Optional[str] = None) -> list:
        """Every value of header `name` (case-insensitive) received, oldest first."""
        name = name.lower()
        return [r.headers[name] for r in self.requests(path=path) if name in r.headers]

    def state(self) -> dict:
        """A JSON-able snapshot (served at /control/state)."""
        with self._lock:
            return {
                "load": self._load,
                "replicas": self._replicas,
                "cap": self._cap,
                "cpu": self._cpu(),
                "faults": {t: {"mode": f.mode, "remaining": f.remaining}
                           for t, f in self._faults.items()},
                "faults_served": {f"{t}/{m}": n for (t, m), n in self._served.items()},
                "requests": {
                    "status": sum(1 for r in self._requests if r.path == "/app/status"),
                    "get_replicas": sum(1 for r in self._requests
                                        if r.path == "/app/replicas" and r.method == "GET"),
                    "put_replicas": sum(1 for r in self._requests
                                        if r.path == "/app/replicas" and r.method == "PUT"),
                },
                "history": [{"t": round(c.t, 3), "old": c.old, "new": c.new, "source": c.source}
                            for c in self._history[-100:]],
            }

    # ---- request handling (called from handler threads) ------------------------------------

    def _record(self, req: Request) -> None:
        with self._lock:
            self._requests.append(req)

    def _enter(self, target: str) -> None:
        with self._lock:
            self._inflight[target] = self._inflight.get(target, 0) + 1
            self._peak = max(self._peak, sum(self._inflight.values()))

    def _jump(self) -> int:
        with self._lock:
            self._jumps += 1
            return self._replicas + 1 + self._jumps % 2

    def _leave(self, target: str) -> None:
        with self._lock:
            self._inflight[target] -= 1

    def _status_body(self) -> bytes:
        with self._lock:
            doc = {"cpu": {"highPriority": self._cpu()}, "replicas": self._replicas}
        return json.dumps(doc).encode()


def _make_handler(app: ScaleitApp):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"   # keep-alive, like a real service; always Content-Length
        server_version = "scaleit/1"
        timeout = 15                     # idle keep-alive connections do not pin threads forever

        def log_message(self, fmt, *args):
            if app.verbose:
                sys.stderr.write("scaleit: " + (fmt % args) + "\n")

        # -- helpers --

        def _read_body(self) -> Optional[bytes]:
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                self._send(413, b"request body too large\n", "text/plain")
                self.close_connection = True
                return None
            return self.rfile.read(n) if n > 0 else b""

        def _send(self, code: int, body: bytes = b"", ctype: str = "application/json") -> int:
            # Record before answering: once the client has its answer, the test may look.
            if self._cur is not None:
                self._cur.status = code
                self._flush()
            try:
                self.send_response(code)
                if code != 204:
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if code != 204 and body:
                    self.wfile.write(body)
                self.wfile.flush()
                return code
            except (BrokenPipeError, ConnectionResetError, OSError):
                self.close_connection = True
                return 0  # the client went away (e.g. it timed out during a hang)

        def _json(self, code: int, doc) -> int:
            return self._send(code, (json.dumps(doc) + "\n").encode())

        def _error(self, code: int, msg: str) -> int:
            return self._json(code, {"error": msg})

        _cur = None  # the app request being answered (control requests are not recorded)

        def _req(self, body: bytes = b"") -> Request:
            self._cur = Request(time.monotonic(), self.command, self.path.split("?")[0], 0,
                                headers={k.lower(): v for k, v in self.headers.items()},
                                body=body.decode("utf-8", "replace")[:1000])
            return self._cur

        def _flush(self) -> None:
            """Records the current app request once (normally from _send)."""
            if self._cur is not None:
                app._record(self._cur)
                self._cur = None

        # -- verbs --

        def do_GET(self):
            path = self.path.split("?")[0]
            if path == "/app/status":
                return self._status()
            if path == "/app/replicas":
                return self._get_replicas()
            if path == "/control/state":
                return self._json(200, app.state())
            return self._error(404, f"no such path: {path}")

        def do_PUT(self):
            path = self.path.split("?")[0]
            if path == "/app/replicas":
                return self._put_replicas()
            body = self._read_body()
            if body is not None:
                self._error(404 if path.startswith("/app/") else 405, f"no PUT on {path}")

        def do_POST(self):
            path = self.path.split("?")[0]
            body = self._read_body()
            if body is None:
                return
            if not path.startswith("/control/"):
                return self._error(405, f"no POST on {path}")
            try:
                doc = json.loads(body or b"{}")
                if not isinstance(doc, dict):
                    raise ValueError("body must be a JSON object")
                self._control(path, doc)
            except (ValueError, KeyError, TypeError) as e:
                self._error(400, str(e))

        # -- app endpoints --

        def _status(self):
            req = self._req()
            accept = self.headers.get("Accept", "*/*")
            if "application/json" not in accept and "*/*" not in accept \
                    and "application/*" not in accept:
                req.status = self._error(406, "only application/json is served")
                return
            req.fault = fault = app._take_fault("status")
            app._enter("status")
            try:
                if fault is None:
                    req.status = self._send(200, app._status_body())
                elif fault == "500":
                    req.status = self._send(500, b"internal error: injected fault\n",
                                            "text/plain")
                elif fault == "404":
                    req.status = self._send(404, b"not found: injected fault\n", "text/plain")
                elif fault == "badjson":
                    req.status = self._send(200, b'{"cpu": {"highPriority": 0.5, "repl')
                elif fault == "empty":
                    req.status = self._send(200, b"")
                elif fault == "nonnumeric":
                    req.status = self._send(200, b'{"cpu":{"highPriority":"high"},"replicas":'
                                            + str(app.replicas).encode() + b"}")
                elif fault == "missing":
                    req.status = self._send(200, b'{"memory":{"used":0.5}}')
                elif fault == "negative":
                    req.status = self._send(200, b'{"cpu":{"highPriority":-0.5},"replicas":'
                                            + str(app.replicas).encode() + b"}")
                elif fault == "hang":
                    self._flush()  # visible to the test while it hangs
                    app.hang()
                    # A valid answer, late: a client that does not enforce its timeout would
                    # take it as a (low-load) measurement, which the tests would catch.
                    req.status = self._send(200, app._status_body())
                elif fault == "big":
                    doc = json.loads(app._status_body())
                    doc["pad"] = ""
                    pad = BIG_BODY - len(json.dumps(doc))
                    doc["pad"] = "x" * max(0, pad)
                    req.status = self._send(200, json.dumps(doc).encode())
                else:
                    req.status = self._send(200, _STATUS_BODIES[fault])
            finally:
                app._leave("status")
                self._flush()

        def _get_replicas(self):
            req = self._req()
            req.fault = fault = app._take_fault("get")
            app._enter("get")
            try:
                if fault is None:
                    req.status = self._json(200, {"replicas": app.replicas})
                elif fault == "500":
                    req.status = self._send(500, b"internal error: injected fault\n",
                                            "text/plain")
                elif fault == "badjson":
                    req.status = self._send(200, b'{"replicas": ')
                elif fault == "hang":
                    self._flush()  # visible to the test while it hangs
                    app.hang()
                    req.status = self._json(200, {"replicas": app.replicas})
                elif fault == "absurd":
                    req.status = self._json(200, {"replicas": 1000000000})
                elif fault == "zero":
                    req.status = self._json(200, {"replicas": 0})
                elif fault == "jump":
                    req.status = self._json(200, {"replicas": app._jump()})
                elif fault == "slow":
                    self._flush()  # visible to the test while it waits
                    app.slow()
                    req.status = self._json(200, {"replicas": app.replicas})
            finally:
                app._leave("get")
                self._flush()

        def _put_replicas(self):
            body = self._read_body()
            if body is None:
                return
            req = self._req(body)
            app._enter("put")
            try:
                req.status = self._put(req, body)
            finally:
                app._leave("put")
                self._flush()

        def _put(self, req: Request, body: bytes) -> int:
            ctype = self.headers.get("Content-Type", "")
            if ctype.split(";")[0].strip().lower() != "application/json":
                return self._error(415, f"Content-Type must be application/json, not '{ctype}'")
            try:
                doc = json.loads(body)
            except ValueError as e:
                return self._error(400, f"body is not JSON: {e}")
            n = doc.get("replicas") if isinstance(doc, dict) else None
            if not isinstance(n, int) or isinstance(n, bool):
                return self._error(400, "'replicas' must be an integer")
            if n < 1 or n > app.max_replicas:
                return self._error(400, f"'replicas' must be between 1 and {app.max_replicas}")
            # Faults apply to well-formed requests only, so a bad request is never masked.
            req.fault = fault = app._take_fault("put")
            if fault in (None, "landed503", "slow"):
                with app._lock:
                    app._apply(n, "put")
            if fault is None or fault == "noop":
                return self._send(204)
            if fault == "slow":
                self._flush()  # visible to the test while it waits
                app.slow()
                return self._send(204)
            if fault == "409":
                return self._error(409, "conflict: another update is in progress (injected)")
            if fault == "hang":
                self._flush()  # visible to the test while it hangs
                app.hang()
                return self._send(504, b"gateway timeout: injected hang\n", "text/plain")
            if fault in ("503", "landed503"):
                return self._send(503, b"service unavailable: injected fault\n", "text/plain")
            if fault == "500":
                return self._send(500, b"internal error: injected fault\n", "text/plain")
            if fault == "429":
                return self._send(429, b"too many requests: injected fault\n", "text/plain")
            if fault == "404":
                return self._error(404, "no such deployment (injected fault)")
            return self._error(400, "replicas rejected by quota policy (injected fault)")

        # -- control --

        def _control(self, path: str, doc: dict) -> None:
            if path == "/control/load":
                app.set_load(float(doc["load"]))
            elif path == "/control/replicas":
                app.set_replicas(int(doc["replicas"]))
            elif path == "/control/cap":
                cap = doc.get("cap")
                app.set_cap(None if cap is None else float(cap))
            elif path == "/control/fault":
                count = doc.get("count")
                app.inject(str(doc["target"]), str(doc["mode"]),
                           None if count is None else int(count))
            elif path == "/control/clear":
                app.clear(doc.get("target"))
            else:
                self._error(404, f"no such control: {path}")
                return
            self._json(200, app.state())

    return Handler


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="scaleit: a scalable test app on 127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0: any)")
    p.add_argument("--load", type=float, default=1.0, help="total load (cpu = load/replicas)")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--cap", type=float, default=1.0, help="cpu cap (default 1.0)")
    p.add_argument("--no-cap", action="store_true", help="report cpu uncapped")
    p.add_argument("--hang", type=float, default=2.0, help="seconds a 'hang' fault sleeps")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    a = p.parse_args(argv)
    app = ScaleitApp(port=a.port, load=a.load, replicas=a.replicas,
                     cap=None if a.no_cap else a.cap, hang_s=a.hang, verbose=a.verbose)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    app.start()
    print(f"scaleit listening on {app.url()}", flush=True)
    while not stop.wait(0.2):
        pass
    app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
