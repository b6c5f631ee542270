#!/usr/bin/env python3
"""A value that came from ${env:} or ${file:} never appears in a log line, on stderr or in
the log file: not in a failed measurement's URL (a token in the path and in a bare query
string, against a server answering 500 that echoes the path in its body, and against a port
that refuses connections), and not in what an exec scaler's failing command prints on stderr
(a --token=... argument echoed verbatim). The lines show "***" where the value was.

    python3 tests/integration/test_secrets.py --bin build/autoscaler
"""

import json
import os
import secrets
import signal
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import free_port, main, test, write_config  # noqa: E402


class Handler(BaseHTTPRequestHandler):
    """/ok answers a high CPU (so the group wants to scale up); anything else is a 500 whose
    body echoes the request path, as many servers' error pages do."""

    def do_GET(self):
        if self.path == "/ok":
            body, code = json.dumps({"cpu": 4.0}).encode(), 200
        else:
            body, code = f"no such service: {self.path}".encode(), 500
        self.send_response(code)
        self.send_header("Content-Type", "application/json" if code == 200 else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def server(ctx):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ctx.defer(srv.shutdown)
    return f"http://127.0.0.1:{srv.server_address[1]}"


def script(ctx, name, text):
    path = os.path.join(ctx.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def assert_never_logged(d, *values):
    """Neither stderr nor the log file holds any of values, nor 16 bytes in a row of one (what
    is left of a value that something cut short); both hold "***"."""
    for where, text in (("stderr", d.stderr()), ("the log file", d.log_text())):
        for v in values:
            for i in range(len(v) - 15):
                assert v[i:i + 16] not in text, f"{v[i:i + 16]!r} of {v!r} appears in {where}:" \
                                                f"\n{text[-3000:]}"
        assert "***" in text, f"no masked value in {where}:\n{text[-3000:]}"


@test
def test_token_in_url_path_and_bare_query(ctx):
    token = "tkn-" + secrets.token_hex(12)
    url = server(ctx)
    refused = f"http://127.0.0.1:{free_port()}"
    log = os.path.join(ctx.tmp, "autoscaler.log")
    cfg = {"log_file": log, "state_dir": "", "groups": {"web": {
        "interval": "300ms", "max": 5,
        "metrics": [
            {"name": "cpu", "type": "http_json", "pointer": "/cpu", "target": 0.8,
             "url": url + "/svc/${env:AS_TEST_TOKEN}/status?${env:AS_TEST_TOKEN}"},
            {"name": "mem", "type": "http_json", "pointer": "/mem", "target": 0.8,
             "url": refused + "/svc/${env:AS_TEST_TOKEN}/status?${env:AS_TEST_TOKEN}"},
        ],
        "scaler": {"type": "http", "url": url + "/replicas/${env:AS_TEST_TOKEN}"},
    }}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=log, env={"AS_TEST_TOKEN": token})
    d.wait_until(lambda: len(d.grep(r"source/http_json\[web/cpu\]")) >= 3
                 and len(d.grep(r"source/http_json\[web/mem\]")) >= 3, 15,
                 "three failed measurements of each metric")
    d.stop(signal.SIGTERM)
    assert_never_logged(d, token)
    line = d.grep(r"source/http_json\[web/cpu\]: .*/svc/\*\*\*/status\?\*\*\*")
    assert line, d.tail()


@test
def test_exec_stderr_echoing_the_token(ctx):
    env_token = "env-" + secrets.token_hex(12)
    file_token = "file-" + secrets.token_hex(12)
    with open(os.path.join(ctx.tmp, "token"), "w") as f:
        f.write(file_token + "\n")
    url = server(ctx)
    log = os.path.join(ctx.tmp, "autoscaler.log")
    setter = script(ctx, "set.sh", '#!/bin/sh\necho "set.sh called with: $*" >&2\nexit 1\n')
    getter = script(ctx, "get.sh", '#!/bin/sh\necho "get.sh called with: $*" >&2\necho 2\n')
    cfg = {"log_file": log, "state_dir": "", "groups": {"web": {
        "interval": "500ms", "max": 10,
        "metrics": [{"name": "cpu", "type": "http_json", "url": url + "/ok",
                     "pointer": "/cpu", "target": 0.8}],
        "scaler": {"type": "exec", "retries": 1, "backoff": "50ms", "timeout": "400ms",
                   "command": [setter, "{{replicas}}", "--token=${env:AS_TEST_TOKEN}",
                               "--key=${file:token}"],
                   "get": [getter, "--token=${env:AS_TEST_TOKEN}"]},
    }}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=log, env={"AS_TEST_TOKEN": env_token})
    d.wait_until(lambda: len(d.grep(r"via exec failed")) >= 3, 15, "three failed scale calls")
    d.stop(signal.SIGTERM)
    assert_never_logged(d, env_token, file_token)
    assert d.grep(r"set\.sh called with: \d+ --token=\*\*\* --key=\*\*\*"), d.tail()


if __name__ == "__main__":
    sys.exit(main())
