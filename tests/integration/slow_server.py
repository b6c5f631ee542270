"""A JSON endpoint on 127.0.0.1 for the tests of bounds on calls in flight: every GET answers
{"cpu": 0.5, "replicas": 2} after `delay` seconds, and the server counts the requests it holds
at once (`now`, `peak`) and those it served. Stopped by the test's context."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = json.dumps({"cpu": 0.5, "replicas": 2}).encode()


class SlowServer:
    def __init__(self, delay: float):
        self.delay = delay  # may be changed while it runs
        self.lock = threading.Lock()
        self.now = self.peak = self.served = 0
        self.url = None

    def reset_peak(self):
        """From now on, peak counts from the requests held now."""
        with self.lock:
            self.peak = self.now

    def start(self, ctx) -> str:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with outer.lock:
                    outer.now += 1
                    outer.peak = max(outer.peak, outer.now)
                time.sleep(outer.delay)
                with outer.lock:  # before the answer: the client may send its next one at once
                    outer.now -= 1
                    outer.served += 1
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(BODY)))
                    self.end_headers()
                    self.wfile.write(BODY)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # every group's round may start within the same 50 ms
            daemon_threads = True

        srv = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()

        def shutdown():
            srv.shutdown()
            srv.server_close()
        ctx.defer(shutdown)
        self.url = f"http://127.0.0.1:{srv.server_address[1]}"
        return self.url
