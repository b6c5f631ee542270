#!/usr/bin/env python3
"""The prometheus source against a real Prometheus (2.42 here) on 127.0.0.1, started once for
this file with a temporary TSDB and scraping a small exporter of this test every second: the
exporter serves `worker_load{worker="N"}` gauges that the tests change.

  - --dry-run: a scalar, one series, a vector of three (per-replica values), an empty result
    (failed, or empty_as), a syntax error (Prometheus's status "error"), a matrix and a string
    result (wrong type), each with the reason in the log;
  - a real run with process pools: one series vanishing from the exporter is a missing
    replica and the group does not scale down on it, while a group with forget_after: 0 does;
  - a real run with the http scaler and the scaleit app: Prometheus down, a server that hangs
    past the timeout, a garbage answer and wrong result types are failed measurements, logged
    and counted, and never a scale-down.

    python3 tests/integration/test_source_prometheus.py --bin build/autoscaler
"""

import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import free_port, main, test, write_config  # noqa: E402
from prometheus_server import PROMETHEUS, Prometheus  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402



class Exporter:
    """/metrics in the text exposition format: one gauge per entry of `series`."""

    def __init__(self, series):
        self.lock = threading.Lock()
        self.series = dict(series)
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with exporter.lock:
                    lines = [f"{k} {v}" for k, v in exporter.series.items()]
                body = ("# TYPE worker_load gauge\n" + "\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.port = self.srv.server_address[1]

    def set(self, name, value=None):
        with self.lock:
            if value is None:
                self.series.pop(name, None)
            else:
                self.series[name] = value

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class FakeServer:
    """A server that answers every request with `body` after `delay` seconds."""

    def __init__(self, body=b"", delay=0.0):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(delay)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


EXPORTER = None
PROM = None


def load(worker):
    return f'worker_load{{worker="{worker}"}}'


def servers():
    """The exporter and Prometheus, started by the first test that needs them."""
    global EXPORTER, PROM
    if PROM is None:
        EXPORTER = Exporter({load(0): 0.4, load(1): 0.4, load(2): 0.4})
        PROM = Prometheus("  - job_name: workers\n"
                          f"    static_configs: [{{targets: ['127.0.0.1:{EXPORTER.port}']}}]\n")
        PROM.wait_series("worker_load", 3)
    return EXPORTER, PROM


def metric(url, query, timeout="800ms", **extra):
    return dict({"name": "q", "type": "prometheus", "url": url, "query": query,
                 "timeout": timeout}, **extra)


def http_group(app, m, interval="1s", timeout="800ms"):
    # Timeouts generous enough for a python app and Prometheus on 2 busy cores under ASan.
    return {"interval": interval, "min": 1, "max": 10, "behavior": "off", "metrics": [m],
            "scaler": {"type": "http", "url": app.url("/app/replicas"),
                       "get_url": app.url("/app/replicas"), "timeout": timeout}}


def decision(d, group):
    ds = d.decisions(group=group)
    assert ds, f"no decision for {group};\n{d.tail()}"
    return ds[-1]


@test
def test_dry_run_result_types(ctx):
    exporter, prom = servers()
    app = ScaleitApp(load=1.0, replicas=3).start()
    ctx.defer(app.stop)
    u = prom.url
    groups = {
        "scalar": metric(u, "scalar(sum(worker_load))", average_value=1),
        "single": metric(u, 'worker_load{worker="0"}', target=0.4),
        "vector": metric(u, "worker_load", target=0.5),
        "empty": metric(u, 'worker_load{worker="nope"}', target=1),
        "emptyas": metric(u, 'worker_load{worker="nope"}', target=1, empty_as=0),
        "syntax": metric(u, "sum(worker_load", target=1),
        "matrix": metric(u, "worker_load[1m]", target=1),
        "string": metric(u, '"hello"', target=1),
        "post": metric(u, 'sum by (job) (worker_load{worker=~"0|1"}) + 0.5', target=1,
                       method="POST"),
    }
    for m in groups.values():
        m["timeout"] = "3s"
    cfg = {"log_file": "", "state_dir": "",
           "groups": {g: http_group(app, m, "5s", "3s") for g, m in groups.items()}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--once", "--dry-run"])
    assert d.wait_exit(30) == 0, d.tail()
    d.assert_no_sanitizer_report()

    def value(g):
        return decision(d, g).values["q"]

    assert abs(value("scalar") - 1.2) < 1e-9, d.tail()
    assert decision(d, "scalar").desired == 2, d.tail()          # ceil(1.2 / 1)
    assert abs(value("single") - 0.4) < 1e-9
    assert abs(value("post") - 1.3) < 1e-9, d.tail()             # 0.8 + 0.5
    # Three series: three per-replica values, the HPA's per-pod rule (mean 0.4, target 0.5).
    v = decision(d, "vector")
    assert abs(v.values["q"] - 0.4) < 1e-9 and v.desired == 3, d.tail()
    assert "avg=0.4 over 3 ready" in v.line.text, v.line.text
    assert value("empty") is None and decision(d, "empty").desired == 3
    assert value("emptyas") == 0 and decision(d, "emptyas").desired == 1
    for g in ("syntax", "matrix", "string"):
        assert value(g) is None and decision(d, g).desired == 3, d.tail()
    pre = r"ERROR source/prometheus\[%s/q\]: http://127\.0\.0\.1:\d+/api/v1/query: "
    assert d.grep(pre % "empty" + "empty result: no series matched the query"), d.tail()
    assert d.grep(pre % "syntax" + r"HTTP 400: Prometheus error bad_data: .*parse error"), \
        d.tail()
    assert d.grep(pre % "matrix" + r"the query returned a range vector \(matrix\)"), d.tail()
    assert d.grep(pre % "string" + "the query returned a string, not a number"), d.tail()
    assert app.put_requests == 0, "a dry run scaled"


def pool_group(prom, worker, **extra):
    return {"interval": "1s", "min": 1, "max": 6, "behavior": "off",
            "metrics": [metric(prom.url, "worker_load", target=0.5, **extra)],
            "scaler": {"type": "process", "command": [worker], "grace": "1s"}}


@test
def test_vanished_series_is_a_missing_replica(ctx):
    exporter, prom = servers()
    worker = os.path.join(ctx.tmp, "worker.sh")
    with open(worker, "w") as f:
        f.write("#!/bin/sh\nexec sleep 600\n")
    os.chmod(worker, 0o755)
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "log_level": "debug",  # decision lines with their whole reasons ("1 missing")
           "groups": {"remember": pool_group(prom, worker),
                      "forget": pool_group(prom, worker, forget_after=0)}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    # Three series at 0.4 (target 0.5): ceil(0.8 * 3) = 3 workers each.
    for g in ("remember", "forget"):
        d.wait_decisions(1, 15, where=lambda x, g=g: x.group == g and x.current == 3)
    mark = d.mark()
    exporter.set(load(2))          # worker 2's series vanishes from the exporter
    try:
        # Without the memory the two series left say ceil(0.8 * 2) = 2: that group scales down.
        d.wait_log(r"engine\[forget\]: scaled 3->2", 15, since=mark)
        d.wait_log(r"WARN  source/prometheus\[remember/q\]: 1 series vanished "
                   r"\(first \{.*\"worker\":\"2\"\}\)", 5, since=mark)
        n = len(d.decisions(since=mark, group="remember"))
        d.wait_decisions(n + 3, 10, since=mark, where=lambda x: x.group == "remember")
        # The group that remembers holds: the missing replica counts as the target.
        after = [x for x in d.decisions(since=mark, group="remember")
                 if "1 missing" in x.line.text]
        assert len(after) >= 2, d.tail()
        assert all(x.current == 3 and x.desired == 3 for x in after), d.tail()
        assert not d.grep(r"engine\[remember\]: scaled", since=mark), d.tail()
    finally:
        exporter.set(load(2), 0.4)
    d.wait_log(r"INFO  source/prometheus\[remember/q\]: 1 series back", 10, since=mark)
    d.stop(signal.SIGTERM, timeout=10)


def counters(d, group):
    mark = d.mark()
    d.send_signal(signal.SIGUSR1)
    line = d.wait_log(rf"engine\[{group}\]: metric q counters (.*)$", 5, since=mark)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line.group(1))}


@test
def test_failures_never_scale_down(ctx):
    exporter, prom = servers()
    hang = FakeServer(b"{}", delay=5.0)
    ctx.defer(hang.stop)
    junk = FakeServer(b"\x00\xffnot json at all")
    ctx.defer(junk.stop)
    down = f"http://127.0.0.1:{free_port()}"
    cases = {
        "down": (metric(down, "worker_load", target=0.5),
                 r"Failed to connect|Couldn't connect|Connection refused"),
        "slow": (metric(hang.url, "worker_load", target=0.5), r"timeout after \d+ ms"),
        "garbage": (metric(junk.url, "worker_load", target=0.5), r"response is not JSON"),
        "matrix": (metric(prom.url, "worker_load[5s]", target=0.5), r"range vector"),
        "string": (metric(prom.url, '"x"', target=0.5), r"a string, not a number"),
    }
    apps = {}
    for g in cases:
        apps[g] = ScaleitApp(load=0.1, replicas=3).start()   # 0.1 would mean scale down
        ctx.defer(apps[g].stop)
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "groups": {g: http_group(apps[g], m) for g, (m, _) in cases.items()}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    for g in cases:
        d.wait_decided(3, 15, g)
    for g, (_, why) in cases.items():
        assert d.grep(rf"ERROR source/prometheus\[{g}/q\]: http://127\.0\.0\.1:\d+/api/v1/query:"
                      rf" .*({why})"), (g, d.tail())
        # at info, a decision with a q or a count of its own would have its line
        assert all(x.values["q"] is None and x.desired == 3 for x in d.decisions(group=g)), \
            (g, d.tail())
        c = counters(d, g)
        assert c["measurements"] >= 1 and c["failures"] == c["measurements"], (g, c)
        assert apps[g].replicas == 3 and apps[g].put_requests == 0, g
    # The same fault every round is logged once at ERROR, then at DEBUG.
    assert len(d.grep(r"ERROR source/prometheus\[garbage/q\]")) == 1, d.tail()
    d.stop(signal.SIGTERM, timeout=10)


def run():
    if PROMETHEUS is None:
        print("SKIP: prometheus is not installed (bootstrap --test installs it)", flush=True)
        return 0
    try:
        return main()
    finally:
        if PROM is not None:
            PROM.stop()
        if EXPORTER is not None:
            EXPORTER.stop()


if __name__ == "__main__":
    sys.exit(run())
