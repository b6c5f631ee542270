#!/usr/bin/env python3
"""Keep-alive connections are reused however many groups poll a host (issue 11): 300 groups
every second on one endpoint, a few requests in flight at any time. curl keeps by default 4
idle connections per transfer in flight, so its cache overflowed and closed connections that
the next fetches then opened again: before the fix, about one fetch in five connected anew
(bench/scale.py at 3,000 groups: 3,148 "cache is full" closes in 17,688 requests).

The endpoint is Python's ThreadingHTTPServer speaking HTTP/1.1 with keep-alive on 127.0.0.1;
it counts connections and requests, and the requests libcurl sent (they ask for an
Accept-Encoding; the daemon's own connections, `plain_http`, do not). After a warm-up, the
test counts them for 4 s: with the plain client (the default) and with libcurl alone.

    python3 tests/integration/test_http_reuse.py --bin build/autoscaler
"""

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, test, write_config  # noqa: E402

GROUPS = 300


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    lock = threading.Lock()
    connections = requests = by_curl = 0

    def handle(self):  # once per connection
        with Handler.lock:
            Handler.connections += 1
        super().handle()

    def do_GET(self):
        with Handler.lock:
            Handler.requests += 1
            Handler.by_curl += "Accept-Encoding" in self.headers
        body = json.dumps({"cpu": 0.5, "replicas": 2}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 512
    daemon_threads = True


def counts():
    with Handler.lock:
        return Handler.connections, Handler.requests, Handler.by_curl


def reused(ctx, plain):
    with Handler.lock:
        Handler.connections = Handler.requests = Handler.by_curl = 0
    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ctx.defer(srv.server_close)
    ctx.defer(srv.shutdown)
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    groups = {f"g{i}": {"interval": "1s", "max": 10,
                        "metrics": [{"name": "cpu", "type": "http_json", "url": url + "/s",
                                     "pointer": "/cpu", "replicas_pointer": "/replicas",
                                     "timeout": "800ms", "target": 0.8}],
                        "scaler": {"type": "http", "url": url + "/scale"}}
              for i in range(GROUPS)}
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "plain_http": plain, "http": {"listen": ""}, "groups": groups}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--dry-run"], log_file=cfg["log_file"])
    d.wait_until(lambda: counts()[1] >= 2 * GROUPS, 20, "two rounds of every group")
    c0, r0, k0 = counts()
    time.sleep(4)
    c1, r1, k1 = counts()
    d.stop(signal.SIGTERM, timeout=10)
    d.assert_no_sanitizer_report()
    new, reqs, curl = c1 - c0, r1 - r0, k1 - k0
    print(f"plain_http {plain}: {reqs} requests in 4 s over {new} new connections ({c1} in "
          f"all), {curl} by libcurl")
    assert reqs >= 2 * GROUPS, f"only {reqs} requests in 4 s"
    assert new <= reqs // 50, f"{new} new connections for {reqs} requests: not reused"
    assert curl == (0 if plain else reqs), f"{curl} of {reqs} requests by libcurl"


@test
def test_connections_reused_across_groups(ctx):
    reused(ctx, True)


@test
def test_connections_reused_by_libcurl(ctx):
    reused(ctx, False)


if __name__ == "__main__":
    sys.exit(main())
