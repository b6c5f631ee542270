#!/usr/bin/env python3
"""Checks the integration harness and the scaleit app on their own (no autoscaler needed).

    python3 tests/integration/selftest.py

Not named test_*.py on purpose: CTest runs only the tests of the daemon. Run this after
changing harness.py or scaleit_app.py.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (LogLine, WaitTimeout, decisions_of, find_key, free_port,  # noqa: E402
                     main, parse_decision, test, wait_for, write_config, yaml_dump)
from scaleit_app import ScaleitApp  # noqa: E402


def http(method, url, body=None, headers=None, timeout=5.0):
    """(status, body text) of one request; HTTP errors are returned, not raised."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


JSON = {"Content-Type": "application/json"}


@test
def test_yaml_dump_and_find_key(ctx):
    cfg = {"log_file": "/tmp/a b.log", "groups": {"web": {"interval": "500ms", "min": 1,
           "metrics": [{"name": "cpu", "target": 0.8, "headers": {"X": "${env:T}"}}],
           "scaler": {"body": '{"replicas":{{replicas}}}', "flag": True, "n": None}}},
           "words": ["yes", "no", "on", "1.5", "0x1f", "1:30", "", "it's", "a\nb"]}
    text = yaml_dump(cfg)
    assert "interval: 500ms\n" in text and "min: 1\n" in text, text
    assert "'${env:T}'" in text and "'{\"replicas\":{{replicas}}}'" in text, text
    for w in ("'yes'", "'no'", "'on'", "'1.5'", "'0x1f'", "'1:30'", "''", "'it''s'", '"a\\nb"'):
        assert f"- {w}\n" in text, (w, text)
    assert "      - name: cpu\n        target: 0.8\n" in text, text
    line, col = find_key(text, "target")
    assert text.splitlines()[line - 1][col - 1:].startswith("target:"), (line, col)
    line, col = find_key(text, "name")
    assert (line, col) == (text.splitlines().index("      - name: cpu") + 1, 9), (line, col)
    path = write_config(ctx.tmp, cfg)
    with open(path) as f:
        assert f.read() == text


@test
def test_log_parsing(ctx):
    text = ("2026-11-22T23:59:01.123Z INFO  engine[web]: decision current=3 desired=4 cpu=0.91 "
            'reason="cpu=0.91 target=0.8 ratio=1.138: ceil(1.138*3)=4"\n'
            "2026-11-22T23:59:02.123Z INFO  engine[web]: decision current=4 desired=4 cpu=failed "
            'reason="no valid metric (failed: cpu): hold 4"\n'
            "2026-11-22T23:59:02.200Z INFO  engine[web]: scaled 3->4 via http in 12ms\n"
            "garbage line\n"
            "2026-11-22T23:59:03.000Z INFO  engine[web]: decision current=1 desired=2 cpu=")
    ds = decisions_of(text)
    assert len(ds) == 2, ds  # the unterminated last line is not read yet
    assert (ds[0].current, ds[0].desired, ds[0].values) == (3, 4, {"cpu": 0.91}), ds[0]
    assert ds[1].values == {"cpu": None} and ds[1].any_failed
    assert parse_decision(LogLine("t", "INFO", "engine[web]: scaled 3->4", "")) is None


@test
def test_wait_for_is_bounded(ctx):
    t0 = time.monotonic()
    try:
        wait_for(lambda: False, 0.3, "never")
        raise AssertionError("wait_for returned")
    except WaitTimeout:
        pass
    assert 0.25 <= time.monotonic() - t0 < 2.0
    assert wait_for(lambda: 42, 1.0) == 42
    assert 1024 <= free_port() <= 65535


@test
def test_app_model_and_validation(ctx):
    with ScaleitApp(load=6.0, replicas=2) as app:
        s, body = http("GET", app.url("/app/status"), headers={"Accept": "application/json"})
        assert s == 200 and json.loads(body) == {"cpu": {"highPriority": 1.0}, "replicas": 2}
        app.set_cap(None)
        assert json.loads(http("GET", app.url("/app/status"))[1])["cpu"]["highPriority"] == 3.0
        s, _ = http("GET", app.url("/app/status"), headers={"Accept": "text/html"})
        assert s == 406, s
        assert http("PUT", app.url("/app/replicas"), {"replicas": 4}, JSON)[0] == 204
        assert app.replicas == 4 and json.loads(http("GET", app.url("/app/replicas"))[1]) == \
            {"replicas": 4}
        for bad in ({"replicas": 0}, {"replicas": "3"}, {"replicas": 2.5}, {"replicas": True}, {}):
            assert http("PUT", app.url("/app/replicas"), bad, JSON)[0] == 400, bad
        assert http("PUT", app.url("/app/replicas"), b"{not json", JSON)[0] == 400
        assert http("PUT", app.url("/app/replicas"), {"replicas": 3},
                    {"Content-Type": "text/plain"})[0] == 415
        app.set_replicas(5)
        h = app.history()
        assert [(c.old, c.new, c.source) for c in h] == [(2, 4, "put"), (4, 5, "external")], h
        assert app.put_requests == 8 and app.status_requests == 3, app.state()


@test
def test_app_faults(ctx):
    with ScaleitApp(load=1.6, replicas=2, hang_s=0.5) as app:
        st = app.url("/app/status")
        app.inject("status", "500", count=2)
        assert [http("GET", st)[0] for _ in range(3)] == [500, 500, 200]
        app.inject("status", "badjson")
        for _ in range(2):
            s, body = http("GET", st)
            assert s == 200
            try:
                json.loads(body)
                raise AssertionError("badjson served valid JSON")
            except ValueError:
                pass
        app.inject("status", "hang")
        t0 = time.monotonic()
        try:
            http("GET", st, timeout=0.2)
            raise AssertionError("the hang did not hang")
        except (TimeoutError, urllib.error.URLError, OSError):
            pass
        assert time.monotonic() - t0 < 0.45
        wait_for(lambda: app.inflight("status") == 0, 2, "the hung handler to finish")
        app.clear("status")
        assert http("GET", st)[0] == 200
        assert app.faults_served("status") == 5
        assert app.faults_served("status", "badjson") == 2

        put = app.url("/app/replicas")
        app.inject("put", "503", count=1)
        assert http("PUT", put, {"replicas": 3}, JSON)[0] == 503 and app.replicas == 2
        assert http("PUT", put, {"replicas": 3}, JSON)[0] == 204 and app.replicas == 3
        app.inject("put", "400")
        s, body = http("PUT", put, {"replicas": 4}, JSON)
        assert s == 400 and "rejected by quota policy" in body and app.replicas == 3
        app.inject("put", "landed503", count=1)
        assert http("PUT", put, {"replicas": 4}, JSON)[0] == 503 and app.replicas == 4
        reqs = app.requests("PUT", "/app/replicas")
        assert [r.fault for r in reqs] == ["503", None, "400", "landed503"], reqs


@test
def test_app_control_endpoints(ctx):
    with ScaleitApp() as app:
        c = app.url("/control/")
        assert http("POST", c + "load", {"load": 2.5})[0] == 200 and app.load == 2.5
        assert http("POST", c + "replicas", {"replicas": 5})[0] == 200 and app.replicas == 5
        assert http("POST", c + "fault", {"target": "put", "mode": "hang", "count": 1})[0] == 200
        assert http("POST", c + "fault", {"target": "put", "mode": "nope"})[0] == 400
        st = json.loads(http("GET", c + "state")[1])
        assert st["faults"] == {"put": {"mode": "hang", "remaining": 1}}, st
        assert http("POST", c + "clear", {})[0] == 200 and app.state()["faults"] == {}
        # Headers are recorded per request (for the secrets test).
        http("GET", app.url("/app/status"), headers={"Authorization": "Bearer x"})
        assert app.headers_seen("Authorization", "/app/status") == ["Bearer x"]


if __name__ == "__main__":
    sys.exit(main(needs_bin=False))
