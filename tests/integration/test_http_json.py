#!/usr/bin/env python3
"""The http_json source over TLS: verification is on by default (a self-signed certificate
fails the measurement, and the group holds), `ca_file` trusts a private CA, and
`insecure_skip_verify: true` turns verification off. The server is Python's ssl module on
127.0.0.1 with a certificate made by `openssl` for this test.

    python3 tests/integration/test_http_json.py --bin build/autoscaler
"""

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, test, write_config  # noqa: E402


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"cpu": {"highPriority": 0.8}, "replicas": 2}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def tls_server(ctx):
    cert, key = os.path.join(ctx.tmp, "cert.pem"), os.path.join(ctx.tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ctx.defer(srv.shutdown)
    return f"https://127.0.0.1:{srv.server_address[1]}", cert


def run_once(ctx, url, **tls):
    cfg = {"log_file": "", "groups": {"web": {
        "interval": "1s", "max": 5,
        "metrics": [dict({"name": "cpu", "type": "http_json", "url": url + "/app/status",
                          "pointer": "/cpu/highPriority", "replicas_pointer": "/replicas",
                          "target": 0.8}, **tls)],
        "scaler": {"type": "http", "url": url + "/app/replicas"},
    }}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--once", "--dry-run"])
    assert d.wait_exit(20) == 0, d.tail()
    return d


@test
def test_tls_verified_by_default(ctx):
    url, cert = tls_server(ctx)
    d = run_once(ctx, url)
    assert d.grep(r"ERROR source/http_json\[web/cpu\]: https://127\.0\.0\.1:\d+/app/status: .*"
                  r"(certificate|SSL)"), d.tail()
    # Nothing was measured: no replica count either, so no decision at all.
    assert d.grep(r"current replica count unknown"), d.tail()

    d = run_once(ctx, url, ca_file=cert)
    assert d.grep(r"decision current=2 desired=2 cpu=0\.8 "), d.tail()

    d = run_once(ctx, url, insecure_skip_verify=True)
    assert d.grep(r"decision current=2 desired=2 cpu=0\.8 "), d.tail()


if __name__ == "__main__":
    sys.exit(main())
