#!/usr/bin/env python3
"""The loadtest source against real servers on 127.0.0.1: nginx (a static 1 KiB file) under
a few users, and a small Python server for per-request statistics, redirects to another host
(never followed: traffic goes to `host` only), and the dead, hanging, garbage and failing
cases (failed measurements, logged and counted, never a scale-down); and in `run`, a latency
that grows under load scales a real `process` pool up.

    python3 tests/integration/test_source_loadtest.py --bin build/autoscaler
"""

import os
import shutil
import signal
import socket
import subprocess
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import free_port, main, test, wait_for, write_config  # noqa: E402

NGINX_CONF = """worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{ listen 127.0.0.1:{port}; root {d}/www; }}
}}
"""


def start_nginx(ctx):
    """nginx serving a 1 KiB index.html on a free port; its base URL, or None if missing."""
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                    else None)
    if exe is None:
        return None
    d = os.path.join(ctx.tmp, "nginx")
    os.makedirs(os.path.join(d, "www"))
    # nginx's worker runs as nobody when started by root: it must reach the file
    os.chmod(ctx.tmp, 0o711)
    os.chmod(d, 0o755)
    os.chmod(os.path.join(d, "www"), 0o755)
    with open(os.path.join(d, "www", "index.html"), "w") as f:
        f.write("x" * 1024)
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(d=d, port=port))
    p = subprocess.Popen([exe, "-c", conf, "-p", d], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)

    def stop():
        p.send_signal(signal.SIGQUIT)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    ctx.defer(stop)
    url = f"http://127.0.0.1:{port}"
    import urllib.request
    wait_for(lambda: _get_ok(urllib.request, url + "/index.html"), 5, "nginx to answer")
    return url


def _get_ok(urllib_request, url):
    try:
        with urllib_request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


WORKER = """#!/bin/sh
echo "$$" > "pid.$AUTOSCALER_WORKER"
while :; do sleep 0.05; done
"""


def live_workers(tmp):
    n = 0
    for name in os.listdir(tmp):
        if name.startswith("pid."):
            try:
                pid = int(open(os.path.join(tmp, name)).read().strip() or 0)
                if pid and open(f"/proc/{pid}/stat").read().split()[2] != "Z":
                    n += 1
            except (OSError, ValueError):
                pass
    return n


SUMMARY = (r"INFO  source/loadtest\[{g}/lt\]: [\d.]+s, (\d+) users: (\d+) requests, ([\d.]+) rps, "
           r"p50 ([\d.]+) ms, p95 ([\d.]+) ms, p99 ([\d.]+) ms, (\d+) failed")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = {}  # path -> count
    lock = threading.Lock()
    workers = None
    redirect_to = ""

    def setup(self):
        super().setup()
        # no Nagle: headers and body go in two writes, and a delayed ACK would add 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, status, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_GET(self):
        with Handler.lock:
            Handler.seen[self.path] = Handler.seen.get(self.path, 0) + 1
        p = self.path.split("?")[0]
        if p.startswith("/sleep/"):
            time.sleep(int(p[7:]) / 1000)
            self.reply(200)
        elif p == "/ok":
            self.reply(200)
        elif p == "/redirect":
            self.reply(302, [("Location", Handler.redirect_to)])
        elif p == "/fail":
            self.reply(503)
        elif p == "/garbage":
            self.wfile.write(b"\x00\xff this is not HTTP\r\n\r\n")
            self.close_connection = True
        elif p == "/work":  # 240 ms shared by the pool's workers
            time.sleep(0.24 / max(1, Handler.workers() if Handler.workers else 1))
            self.reply(200)
        else:
            self.reply(404)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.do_GET()

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops the SYNs of a burst of users: 1 s stalls

    def handle_error(self, request, client_address):
        pass


def py_server(ctx):
    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ctx.defer(srv.server_close)
    ctx.defer(srv.shutdown)
    return f"http://127.0.0.1:{srv.server_address[1]}"


def group(lt, current=3, target=100):
    m = {"name": "lt", "type": "loadtest", "duration": "600ms", "timeout": "900ms",
         "target": target}
    m.update(lt)
    return {"interval": "1s", "min": 1, "max": 10, "behavior": "off", "metrics": [m],
            "scaler": {"type": "exec", "command": ["/bin/true"],
                       "get": ["/bin/echo", str(current)]}}


def run_groups(ctx, groups, rounds=2, timeout=25, log_level="info"):
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "log_level": log_level,
           "state_dir": "", "groups": groups}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--dry-run"], log_file=cfg["log_file"])
    for g in groups:
        d.wait_decided(rounds, timeout, g)
    return d


@test
def test_nginx(ctx):
    ng = start_nginx(ctx)
    if ng is None:
        print("SKIP: nginx not installed (bootstrap --test installs nginx-light)", flush=True)
        return
    d = run_groups(ctx, {
        "rps": group({"host": ng, "users": 8, "requests": [{"path": "/index.html"}],
                      "report": {"stat": "rps"}}, target=100000),
        "p99": group({"host": ng, "users": 8, "requests": [{"path": "/index.html"}],
                      "report": {"stat": "p99"}}),
    }, log_level="debug")  # every decision's value, checked below
    for m in d.grep(SUMMARY.format(g="rps")):
        users, reqs, rps, p50, p95, p99, failed = m.groups()
        assert users == "8" and int(failed) == 0, d.tail()
        assert float(rps) > 300 and int(reqs) > 180, d.tail()  # even under ASan
        assert 0 < float(p50) <= float(p95) <= float(p99) < 200, d.tail()
    for x in d.decisions(group="rps"):
        assert x.values["lt"] is not None and x.values["lt"] > 300, d.tail()
    for x in d.decisions(group="p99"):
        assert x.values["lt"] is not None and 0 < x.values["lt"] < 200, d.tail()
    d.stop()


@test
def test_requests_and_host_only(ctx):
    """Per-request statistics; a redirect to another host is an answer, never followed."""
    url = py_server(ctx)
    other = py_server(ctx)  # the same handler: its counts would show a followed redirect
    Handler.redirect_to = other + "/stolen"
    Handler.seen = {}
    lt = {"host": url, "users": 4, "max_failure_ratio": 0.5,
          "requests": [{"name": "home", "path": "/ok", "weight": 3},
                       {"name": "slow", "path": "/sleep/50"},
                       {"name": "redir", "path": "/redirect"},
                       {"name": "post", "method": "POST", "path": "/ok?x=1", "body": "{}",
                        "headers": {"Content-Type": "application/json"}}]}
    d = run_groups(ctx, {
        "slowp50": group(dict(lt, report={"request": "slow", "stat": "median"})),
        "homefail": group(dict(lt, report={"request": "home", "stat": "failure_ratio"})),
        # a host name: through the HTTP client (libcurl) instead of the direct path
        "client": group(dict(lt, host=url.replace("127.0.0.1", "localhost"),
                             report={"request": "slow", "stat": "median"})),
    }, log_level="debug")  # every decision's value, checked below
    for g in ("slowp50", "client"):
        for x in d.decisions(group=g):
            assert 50 <= x.values["lt"] <= 200, (g, d.tail())
    assert {x.values["lt"] for x in d.decisions(group="homefail")} == {0.0}, d.tail()
    for g in ("slowp50", "client"):
        line = d.grep(rf"source/loadtest\[{g}/lt\]: .*; home: (\d+) \(0 failed\), slow: (\d+) "
                      r"\(0 failed\), redir: (\d+) \(0 failed\), post: (\d+) \(0 failed\)")
        assert line, d.tail()
        home, slow, redir, post = (int(v) for v in line[0].groups())
        assert home > 0 and slow > 0 and redir > 0 and post > 0, line[0].group(0)
    with Handler.lock:
        seen = dict(Handler.seen)
    assert "/stolen" not in seen, seen  # nothing ever reached the other host
    assert set(seen) <= {"/ok", "/sleep/50", "/redirect", "/ok?x=1"}, seen
    d.stop()


@test
def test_failures_never_scale_down(ctx):
    url = py_server(ctx)
    groups = {
        "down": group({"host": f"http://127.0.0.1:{free_port()}", "users": 2,
                       "requests": [{"path": "/"}]}),
        "hang": group({"host": url, "users": 2, "requests": [{"path": "/sleep/3000"}]}),
        "garbage": group({"host": url, "users": 2, "requests": [{"path": "/garbage"}]}),
        "http503": group({"host": url, "users": 2, "requests": [{"path": "/fail"}]}),
        "slowreq": group({"host": url, "users": 2, "request_timeout": "100ms",
                          "requests": [{"path": "/sleep/300"}]}),
    }
    d = run_groups(ctx, groups)
    for g in groups:
        # at info, a decision with a value or a count of its own would have its line
        ds = d.decisions(group=g)
        assert ds and all(x.values.get("lt", 0) is None for x in ds), (g, d.tail())
        assert all(x.desired >= x.current for x in ds), (g, d.tail())
        assert d.grep(rf"ERROR source/loadtest\[{g}/lt\]: http://127\.0\.0\.1:\d+: "), d.tail()
    assert d.grep(r"loadtest\[hang/lt\]: .*no request completed in 0\.\ds \(2 in flight\)")
    assert d.grep(r"loadtest\[http503/lt\]: .*requests failed \(more than 0\.1\); "
                  r"first: /fail: HTTP 503"), d.tail()
    assert d.grep(r"loadtest\[slowreq/lt\]: .*first: /sleep/300: timeout after 100 ms")
    mark = d.mark()
    d.send_signal(signal.SIGUSR1)
    for g in groups:
        m = d.wait_log(rf"engine\[{g}\]: metric lt counters measurements=\d+ failures=(\d+)",
                       10, since=mark)
        assert int(m.group(1)) >= 2, (g, d.tail())
    d.stop()


@test
def test_run_scales_a_pool(ctx):
    """/work takes 240 ms shared by the pool's workers; two users measure its median; with a
    target of 70 ms the pool grows from 1 to 4 or more."""
    Handler.workers = lambda: live_workers(ctx.tmp)
    ctx.defer(lambda: setattr(Handler, "workers", None))
    url = py_server(ctx)
    worker = os.path.join(ctx.tmp, "worker.sh")
    with open(worker, "w") as f:
        f.write(WORKER)
    os.chmod(worker, os.stat(worker).st_mode | stat.S_IXUSR)
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "groups": {"web": {
               "interval": "1s", "min": 1, "max": 6, "behavior": "off",
               "metrics": [{"name": "lt", "type": "loadtest", "host": url, "users": 2,
                            "duration": "600ms", "timeout": "900ms",
                            "requests": [{"path": "/work"}],
                            "report": {"stat": "median"}, "target": 70}],
               "scaler": {"type": "process", "command": [worker], "working_dir": ctx.tmp,
                          "grace": "1s"}}}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    d.wait_until(lambda: live_workers(ctx.tmp) >= 4, 25, "the pool to grow to 4")
    ups = d.scaled()
    assert ups and all(b > a for a, b in ups), d.tail()
    d.stop()
    assert wait_for(lambda: live_workers(ctx.tmp) == 0, 5, "the workers to stop")


if __name__ == "__main__":
    sys.exit(main())
