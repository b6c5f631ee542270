#!/usr/bin/env python3
"""A backend that answers its own name: the app server behind HAProxy in the haproxy tests.

    python3 named_backend.py PORT NAME [--pidfile FILE]

GET /            -> "NAME\\n"
GET /slow?ms=N   -> waits N ms (at most 60 s), then "NAME\\n": an active session HAProxy sees
Listens on 127.0.0.1 only; SIGTERM stops it. Standard library only.
"""

import os
import signal
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    port, name = int(sys.argv[1]), sys.argv[2]
    if "--pidfile" in sys.argv:
        with open(sys.argv[sys.argv.index("--pidfile") + 1], "w") as f:
            f.write(f"{os.getpid()}\n")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/slow":
                ms = int(urllib.parse.parse_qs(url.query).get("ms", ["1000"])[0])
                time.sleep(min(ms, 60000) / 1000.0)
            body = (name + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            pass

    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        srv.serve_forever()
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
