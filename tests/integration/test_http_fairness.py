#!/usr/bin/env python3
"""The HTTP client is fair between groups (finding 7 of issue 6): ten groups whose metric
endpoint hangs do not starve a healthy group on another path of the same host:port, and the
hanging groups' requests time out at their own timeout, counted from when they were started.

Before the fix curl's 8-connections-per-host cap was shared by every group: the healthy group
decided 5 times in 15 s instead of 15, and a queued request's 800 ms timeout fired after
about 3 s. The server is Python's ThreadingHTTPServer on 127.0.0.1: /hang sleeps past every
timeout (3 s at most), /ok answers at once.

    python3 tests/integration/test_http_fairness.py --bin build/autoscaler
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

HANGING = 10
TIMEOUT_MS = 800
RUN_S = 10.0


class Handler(BaseHTTPRequestHandler):
    stop = threading.Event()  # set at the end: every /hang answer ends at once
    lock = threading.Lock()
    hangs = 0

    def do_GET(self):
        if self.path.startswith("/hang"):
            with Handler.lock:
                Handler.hangs += 1
            Handler.stop.wait(3.0)
        body = json.dumps({"cpu": 0.5, "replicas": 2}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up on /hang long ago
            pass

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    # Every group's round starts at the same moment: eleven connections at once. The default
    # backlog of 5 would drop some SYNs, retried only after a second.
    request_queue_size = 128
    daemon_threads = True


def server(ctx):
    srv = Server(("127.0.0.1", 0), Handler)
    Handler.stop.clear()
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    def shutdown():
        Handler.stop.set()
        srv.shutdown()
        srv.server_close()
    ctx.defer(shutdown)
    return f"http://127.0.0.1:{srv.server_address[1]}"


def group(url, path):
    return {"interval": "1s", "max": 10,
            "metrics": [{"name": "cpu", "type": "http_json", "url": url + path,
                         "pointer": "/cpu", "replicas_pointer": "/replicas",
                         "timeout": f"{TIMEOUT_MS}ms", "target": 0.8}],
            "scaler": {"type": "http", "url": url + "/scale"}}


@test
def test_hanging_groups_do_not_starve_a_healthy_one(ctx):
    url = server(ctx)
    groups = {f"hang{i}": group(url, "/hang") for i in range(HANGING)}
    groups["healthy"] = group(url, "/ok")
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"),
           "log_level": "debug",  # a line for every decision, with what it measured
           "groups": groups}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--dry-run"], log_file=cfg["log_file"])
    d.wait_until(lambda: d.decisions(group="healthy"), 10, "the healthy group's first decision")
    mark = d.mark()
    time.sleep(RUN_S + 0.5)  # about 10 rounds after the first (11 at most)
    decided = len([x for x in d.decisions(since=mark, group="healthy") if not x.any_failed])
    rx = r"ERROR source/http_json\[(hang\d+)/cpu\]: \S+/hang: timeout after (\d+) ms"
    timeouts = [(m.group(1), int(m.group(2))) for m in d.grep(rx)]
    d.stop(signal.SIGTERM, timeout=10)
    print(f"healthy group: {decided} decisions in {RUN_S + 0.5:g} s; hanging groups: "
          f"{len(timeouts)} timeouts, {min(t for _, t in timeouts)}.."
          f"{max(t for _, t in timeouts)} ms; /hang requests served: {Handler.hangs}")
    assert decided >= RUN_S - 1, f"the healthy group measured and decided only {decided} times"
    assert len({g for g, _ in timeouts}) == HANGING, timeouts
    late = [t for _, t in timeouts if not TIMEOUT_MS <= t <= TIMEOUT_MS + 150]
    assert not late, f"timeouts not at {TIMEOUT_MS} ms: {sorted(late)}"


if __name__ == "__main__":
    sys.exit(main())
