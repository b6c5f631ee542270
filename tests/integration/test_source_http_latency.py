#!/usr/bin/env python3
"""The http_latency source against real servers on 127.0.0.1: nginx (a static 1 KiB file) and
a small Python server whose answers take a known time, state a time in a header, fail, hang
or are not HTTP at all. Values are plausible against the known delays; a dead, slow or lying
server is a failed measurement, logged and counted, never a scale-down; and in `run` a
latency that grows with load scales a real `process` pool up.

    python3 tests/integration/test_source_http_latency.py --bin build/autoscaler
"""

import os
import shutil
import signal
import socket
import stat
import subprocess
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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    workers = None  # a function giving the pool's size, for /work

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
        p = self.path
        if p.startswith("/sleep/"):
            time.sleep(int(p[7:]) / 1000)
            self.reply(200)
        elif p == "/hdr":
            self.reply(200, [("X-Response-Time", "350ms")])
        elif p == "/heroku":
            self.reply(200, [("X-Router", "at=info method=GET path=\"/\" connect=1ms "
                                          "service=123ms status=200 bytes=2")])
        elif p == "/fail":
            self.reply(503)
        elif p == "/garbage":
            self.wfile.write(b"\x00\xff this is not HTTP\r\n\r\n")
            self.close_connection = True
        elif p == "/work":  # 240 ms shared by the pool's workers
            n = max(1, Handler.workers() if Handler.workers else 1)
            time.sleep(0.24 / n)
            self.reply(200)
        else:
            self.reply(404)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops the SYNs of a burst of users: 1 s stalls

    def handle_error(self, request, client_address):
        pass  # a client that gave up (a timeout, a cancelled call) is expected here


def py_server(ctx):
    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ctx.defer(srv.server_close)
    ctx.defer(srv.shutdown)
    return f"http://127.0.0.1:{srv.server_address[1]}"


def group(metric, interval="1s", current=3):
    """A group holding `current` replicas (exec scaler) on one latency metric, target 100 ms."""
    return {"interval": interval, "min": 1, "max": 10, "behavior": "off",
            "metrics": [dict({"name": "lat", "type": "http_latency", "target": 100}, **metric)],
            "scaler": {"type": "exec", "command": ["/bin/true"],
                       "get": ["/bin/echo", str(current)]}}


def run_groups(ctx, groups, rounds=2, timeout=20, log_level="info"):
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "log_level": log_level,
           "state_dir": "", "groups": groups}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--dry-run"],
                   log_file=cfg["log_file"])
    for g in groups:
        d.wait_decided(rounds, timeout, g)
    return d


def values(d, g):
    return [x.values.get("lat") for x in d.decisions(group=g)]


@test
def test_values_plausible(ctx):
    url = py_server(ctx)
    ng = start_nginx(ctx)
    groups = {
        "slow50": group({"url": url + "/sleep/50", "requests": 4, "stat": "mean"}),
        "conc": group({"url": url + "/sleep/50", "requests": 6, "concurrency": 3,
                       "stat": "max"}),
        "hdr": group({"url": url + "/hdr", "header": "X-Response-Time"}),
        "heroku": group({"url": url + "/heroku", "header": "X-Router",
                         "header_key": "service"}),
    }
    if ng:
        groups["nginx"] = group({"url": ng + "/index.html", "requests": 10, "stat": "p90"})
    else:
        print("SKIP: nginx not installed (bootstrap --test installs nginx-light); the nginx "
              "case is left out", flush=True)
    d = run_groups(ctx, groups, log_level="debug")  # every decision's value, checked below
    for v in values(d, "slow50"):  # a 50 ms sleep: curl's time is at least that
        assert v is not None and 50 <= v <= 150, (v, d.tail())
    for v in values(d, "conc"):
        assert v is not None and 50 <= v <= 200, (v, d.tail())
    assert set(values(d, "hdr")) == {350.0}, d.tail()
    assert set(values(d, "heroku")) == {123.0}, d.tail()
    if ng:
        for v in values(d, "nginx"):
            assert v is not None and 0 < v < 50, (v, d.tail())
    # target 100 ms with 3 replicas: 350 ms asks for ceil(3 * 3.5) = 11, capped at 10
    assert all(x.desired == 10 for x in d.decisions(group="hdr")), d.tail()
    d.stop()


@test
def test_failures_never_scale_down(ctx):
    url = py_server(ctx)
    dead = f"http://127.0.0.1:{free_port()}/"
    groups = {
        "down": group({"url": dead}),
        "slow": group({"url": url + "/sleep/2000", "timeout": "300ms"}),
        "garbage": group({"url": url + "/garbage"}),
        "http503": group({"url": url + "/fail", "requests": 3}),
        "noheader": group({"url": url + "/sleep/1", "header": "X-Response-Time"}),
        "flaky": group({"url": url + "/sleep/1", "header": "X-Response-Time", "requests": 2,
                        "max_failure_ratio": 1}),
    }
    d = run_groups(ctx, groups, rounds=2, timeout=25)
    for g in groups:
        ds = d.decisions(group=g)
        # each value unknown, never 0, and a group at 3 replicas whose latency is unknown holds
        # (at info, a decision with a value or a count of its own would have its line)
        assert ds and all(x.values.get("lat", 0) is None for x in ds), (g, d.tail())
        assert all(x.desired >= x.current for x in ds), (g, d.tail())
        assert d.grep(rf"ERROR source/http_latency\[{g}/lat\]: "), (g, d.tail())
    assert d.grep(r"source/http_latency\[down/lat\]: .*1 of 1 requests failed .*(refused|"
                  r"connect)"), d.tail()
    assert d.grep(r"source/http_latency\[slow/lat\]: .*timeout after"), d.tail()
    assert d.grep(r"source/http_latency\[http503/lat\]: .*3 of 3 requests failed .*HTTP 503")
    assert d.grep(r"source/http_latency\[noheader/lat\]: .*no header X-Response-Time"), d.tail()
    # counted per metric (SIGUSR1)
    mark = d.mark()
    d.send_signal(signal.SIGUSR1)
    for g in groups:
        m = d.wait_log(rf"engine\[{g}\]: metric lat counters measurements=\d+ failures=(\d+)",
                       10, since=mark)
        assert int(m.group(1)) >= 2, (g, d.tail())
    d.stop()


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


@test
def test_run_scales_a_pool(ctx):
    """The latency of /work is 240 ms shared by the pool's workers; with a target of 70 ms the
    daemon grows the pool from 1 until it is under target (4 workers: 60 ms)."""
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
               "metrics": [{"name": "lat", "type": "http_latency", "url": url + "/work",
                            "requests": 3, "stat": "median", "timeout": "900ms",
                            "target": 70}],
               "scaler": {"type": "process", "command": [worker], "working_dir": ctx.tmp,
                          "grace": "1s"}}}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    d.wait_until(lambda: live_workers(ctx.tmp) >= 4, 25, "the pool to grow to 4")
    ups = d.scaled()
    assert ups and all(b > a for a, b in ups), d.tail()  # 0 -> 1 (min) first, then up
    lats = [x.values["lat"] for x in d.decisions() if x.values.get("lat") is not None]
    assert lats[0] > 150, d.tail()  # 240 ms with one worker
    d.stop()
    assert wait_for(lambda: live_workers(ctx.tmp) == 0, 5, "the workers to stop")


if __name__ == "__main__":
    sys.exit(main())
