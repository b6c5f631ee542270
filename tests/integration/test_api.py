#!/usr/bin/env python3
"""The daemon's HTTP server (docs/api.md) against the real daemon on 127.0.0.1: health and
readiness, the token on every change (and on every read with auth: all), pause, resume and a
manual count that reach the decisions and survive a restart, the limits (connections, body,
idle time) and a slow client that never holds up the loop, TLS, the `http:` errors of
`check`, the default address in use, and no planted secret in any answer or log line.

    python3 tests/integration/test_api.py --bin build/autoscaler
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

from api_helpers import Api, api_config, pool_group, queue_group, write_backlog
from harness import free_port, main, run_cli, test, wait_for, write_config

TOKEN = "tok-0123456789abcdef-secret"


def start(ctx, groups, http=None, env=None, **top):
    port = free_port()
    cfg = api_config(ctx.tmp, port, groups, http=http, **top)
    path = write_config(ctx.tmp, cfg)
    d = ctx.daemon(path, log_file=cfg["log_file"], env=env)
    api = Api(f"http://127.0.0.1:{port}")
    api.wait_up()
    return d, api, path


@test
def test_health_and_readiness(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    slow = pool_group(backlog, interval="4s")
    slow["metrics"][0].update({"command": [f"sleep 1.5; cat {backlog}"], "shell": True,
                               "timeout": "3s"})
    d, api, _ = start(ctx, {"slow": slow})
    status, _, body = api.get("/readyz")
    assert status == 503 and body == b"not ready: 1 of 1 group(s) have not finished a round\n", \
        (status, body)
    assert api.get("/healthz")[:3:2] == (200, b"ok\n")
    assert api.json("/api/v1/status")["ready"] is False
    wait_for(lambda: api.get("/readyz")[0] == 200, 10, "ready")
    assert api.get("/readyz")[2] == b"ready\n"
    st = api.json("/api/v1/status")
    assert st["ready"] is True and st["groups"] == 1 and st["pid"] == d.pid, st
    assert st["http"] == {"listen": api.url[7:], "token": False, "auth": "writes"}, st
    assert api.get("/nope")[0] == 404
    status, headers, body = api.request("PUT", "/metrics")
    assert status == 405 and headers["allow"] == "GET, HEAD", (status, headers)
    assert json.loads(body) == {"error": "method PUT not allowed here", "status": 405}
    d.stop()


def mutations():
    return [("POST", "/api/v1/groups/web/pause", None), ("POST", "/api/v1/groups/web/resume", None),
            ("POST", "/api/v1/groups/web/override", {"replicas": 2}),
            ("DELETE", "/api/v1/groups/web/override", None)]


@test
def test_changes_need_the_token(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    d, api, _ = start(ctx, {"web": pool_group(backlog)},
                      http={"token": "${env:AS_API_TOKEN}"}, env={"AS_API_TOKEN": TOKEN})
    api.wait_group("web", lambda g: g["replicas"] == 1, 10, "one replica")
    wrong = [("", "this needs the token: Authorization: Bearer TOKEN"),
             ("nope", "wrong token"), (TOKEN[:-1], "wrong token"), (TOKEN + "x", "wrong token"),
             (TOKEN.upper(), "wrong token")]
    for method, path, body in mutations():
        for tok, msg in wrong:
            status, headers, raw = api.request(method, path, body=body, token=tok)
            assert status == 401, (method, path, tok, status, raw)
            assert headers["www-authenticate"] == 'Bearer realm="autoscaler"', headers
            assert json.loads(raw) == {"error": msg, "status": 401}, raw
        status, _, raw = api.request(method, path, body=body,
                                     headers={"Authorization": f"Basic {TOKEN}"})
        assert status == 401, raw
    g = api.group("web")
    assert not g["paused"] and g["override"] is None, g
    assert not d.grep(r"through the API"), d.tail()
    for method, path, body in mutations():
        status, _, raw = api.request(method, path, body=body, token=TOKEN)
        assert status == 200, (method, path, status, raw)
    # reads are open with auth: writes
    assert api.get("/api/v1/groups", token="")[0] == 200
    d.stop()


@test
def test_read_only_without_a_token_and_auth_all(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    d, api, path = start(ctx, {"web": pool_group(backlog)})
    for method, path_, body in mutations():
        status, _, raw = api.request(method, path_, body=body, token=TOKEN)
        assert status == 403 and b"no http.token: the API is read-only" in raw, (status, raw)
    d.stop()
    d2, api2, _ = start(ctx, {"web": pool_group(backlog)},
                        http={"token": "${env:AS_API_TOKEN}", "auth": "all"},
                        env={"AS_API_TOKEN": TOKEN})
    for p in ["/api/v1/groups", "/metrics", "/api/v1/status", "/api/v1/groups/web/config"]:
        assert api2.get(p, token="")[0] == 401, p
        assert api2.get(p, token=TOKEN)[0] == 200, p
    for p in ["/healthz", "/readyz", "/", "/dashboard.js", "/dashboard.css"]:  # no data in them
        assert api2.get(p, token="")[0] in (200, 503), p
    d2.stop()


def decisions_since(api, name, t):
    return [x for x in api.json(f"/api/v1/groups/{name}/decisions")["decisions"] if x["time"] > t]


@test
def test_pause_resume_override(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    env = {"AS_API_TOKEN": TOKEN}
    d, api, path = start(ctx, {"web": pool_group(backlog)}, http={"token": "${env:AS_API_TOKEN}"},
                         env=env)
    api.token = TOKEN
    api.wait_group("web", lambda g: g["replicas"] == 1, 10, "one replica")
    status, body = api.post("/api/v1/groups/web/pause")
    assert status == 200 and body["paused"] and body["paused_by"] == "api", body
    d.wait_log(r"INFO  engine\[web\]: paused through the API by 127\.0\.0\.1:\d+", 5)
    t = int(time.time() * 1000)
    write_backlog(backlog, 8)  # would be 4 replicas
    ds = wait_for(lambda: [x for x in decisions_since(api, "web", t) if x["class"] == "paused"],
                  10, "a paused decision")
    assert ds[0]["desired"] == 1 and "paused: held at 1 (wanted 4)" in ds[0]["reason"], ds
    assert api.group("web")["replicas"] == 1
    # the pause is state: a restart keeps it
    d.stop()
    d = ctx.daemon(path, log_file=os.path.join(ctx.tmp, "autoscaler.log"), env=env)
    api.wait_up()
    # the new daemon's pool starts empty, and the pause holds it there (as `paused: true` does)
    g = api.wait_group("web", lambda g: g["last_decision"] is not None, 10, "a decision")
    assert g["paused"] and g["paused_by"] == "api" and g["replicas"] == 0, g
    assert g["last_decision"]["class"] == "paused", g
    status, body = api.post("/api/v1/groups/web/resume")
    assert status == 200 and not body["paused"], body
    api.wait_group("web", lambda g: g["replicas"] == 4, 10, "4 replicas after resume")
    # a manual count, then cleared
    status, body = api.post("/api/v1/groups/web/override", {"replicas": 2})
    assert status == 200 and body["override"] == 2 and body["override_by"] == "api", body
    g = api.wait_group("web", lambda g: g["replicas"] == 2, 10, "the manual count")
    assert g["last_decision"]["class"] == "override", g
    assert g["last_decision"]["reason"] == "manual override: 2", g
    for bad, msg in [({"replicas": -1}, "replicas must be a whole number from 0 to 1000000"),
                     ({"replica": 2}, 'the body must be {"replicas": N}'),
                     (b"{", "the body is not JSON")]:
        status, body = api.post("/api/v1/groups/web/override", bad)
        assert status == 400 and body["error"].startswith(msg), (bad, body)
    status, body = api.post("/api/v1/groups/nope/pause")
    assert status == 404 and body == {"error": "no group 'nope'", "status": 404}, body
    status, _, raw = api.request("DELETE", "/api/v1/groups/web/override")
    assert status == 200 and json.loads(raw)["override"] is None, raw
    api.wait_group("web", lambda g: g["replicas"] == 4, 10, "back to the policy's 4")
    d.stop()


@test
def test_resume_of_a_group_the_configuration_pauses(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    d, api, _ = start(ctx, {"web": pool_group(backlog, paused=True)},
                      http={"token": "${env:AS_API_TOKEN}"}, env={"AS_API_TOKEN": TOKEN})
    api.token = TOKEN
    g = api.group("web")
    assert g["paused"] and g["paused_by"] == "configuration", g
    status, body = api.post("/api/v1/groups/web/resume")
    assert status == 409 and body["paused"] and body["paused_by"] == "configuration", body
    assert "the configuration still pauses the group" in body["error"], body
    d.stop()


@test
def test_reload_moves_the_server_and_swaps_the_token(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    env = {"AS_API_TOKEN": TOKEN, "AS_OTHER_TOKEN": TOKEN + "-2"}
    d, api, path = start(ctx, {"web": pool_group(backlog)}, http={"token": "${env:AS_API_TOKEN}"},
                         env=env)
    assert api.post("/api/v1/groups/web/pause", token=TOKEN)[0] == 200
    # the same address, another token: the listener stays, the token changes at once
    port = int(api.url.rsplit(":", 1)[1])
    cfg = api_config(ctx.tmp, port, {"web": pool_group(backlog)},
                     http={"token": "${env:AS_OTHER_TOKEN}"})
    write_config(ctx.tmp, cfg)
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"main: reloaded ", 10, since=mark)
    assert not d.grep(r"http: listening on", mark), d.tail()
    assert api.post("/api/v1/groups/web/resume", token=TOKEN)[0] == 401
    assert api.post("/api/v1/groups/web/resume", token=TOKEN + "-2")[0] == 200
    # another address: the server moves
    port2 = free_port()
    cfg["http"]["listen"] = f"127.0.0.1:{port2}"
    write_config(ctx.tmp, cfg)
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_log(rf"http: listening on http://127\.0\.0\.1:{port2} ", 10, since=mark)
    api2 = Api(f"http://127.0.0.1:{port2}")
    assert api2.json("/api/v1/groups")["groups"][0]["name"] == "web"
    try:
        api.get("/healthz", timeout=1)
        moved = False
    except OSError:
        moved = True
    assert moved, "the old address still answers"
    # off: the daemon goes on scaling without its server
    cfg["http"]["listen"] = ""
    write_config(ctx.tmp, cfg)
    mark, decided = d.mark(), d.decided()
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"http: off \(http\.listen is empty\)", 10, since=mark)
    d.wait_decided(2, 10, after=decided)
    d.stop()


def idle_socket(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


@test
def test_limits_and_slow_clients(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    d, api, _ = start(ctx, {"web": pool_group(backlog)},
                      http={"max_connections": 3, "timeout": "2s", "max_request": 1024,
                            "token": "${env:AS_API_TOKEN}"}, env={"AS_API_TOKEN": TOKEN})
    port = int(api.url.rsplit(":", 1)[1])
    # A body larger than max_request: refused before it is read, and while it is sent.
    status, _, raw = api.request("POST", "/api/v1/groups/web/pause", body=b"x" * 5000, token=TOKEN)
    assert status == 413, (status, raw)
    s = idle_socket(port)
    s.sendall(b"POST /api/v1/groups/web/override HTTP/1.1\r\nHost: x\r\n"
              b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n" + b"400\r\n" + b"y" * 1024 + b"\r\n" +
              b"400\r\n" + b"y" * 1024 + b"\r\n0\r\n\r\n")
    answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    s.close()
    # Headers past the connection's memory: refused, the daemon lives.
    status, _, _ = api.get("/metrics", headers={"X-Big": "z" * 60000})
    assert status in (413, 431), status
    # A slow client (a byte every 0.3 s) and idle ones fill the connections; the loop goes on.
    slow = idle_socket(port)
    idle = [idle_socket(port) for _ in range(2)]
    t0 = time.monotonic()
    decided = d.decided()
    for ch in b"GET /metrics HTTP/1.1\r\n":
        slow.sendall(bytes([ch]))
        time.sleep(0.3)
    # 7 s of a slow client: the group decided about every second all along.
    n = d.decided() - decided
    assert n >= 5, f"{n} decisions in {time.monotonic() - t0:.1f}s;\n{d.tail()}"
    # The idle ones were closed at their timeout, so a new client is served.
    assert api.get("/healthz", timeout=5)[0] == 200
    for s in idle:
        s.settimeout(1)
        assert s.recv(10) == b"", "an idle connection past the timeout is closed"
        s.close()
    slow.close()
    # More connections than the limit: the extra one waits, then is served once others close.
    hold = [idle_socket(port) for _ in range(3)]
    time.sleep(0.2)
    extra = idle_socket(port)
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    extra.settimeout(0.5)
    try:
        early = extra.recv(100)
    except socket.timeout:
        early = None
    assert early is None, f"answered beyond max_connections: {early!r}"
    for s in hold:
        s.close()
    extra.settimeout(5)
    assert extra.recv(100).startswith(b"HTTP/1.1 200"), "the waiting client is served"
    extra.close()
    d.stop()


def exec_groups(names):
    """Groups that measure once and then wait an hour: a /metrics that stays the same."""
    return {n: {"interval": "1h", "max": 5, "count_confirm": 1,
                "metrics": [{"name": "q", "type": "exec", "command": ["echo", "2"], "target": 1,
                             "timeout": "20s"}],
                "scaler": {"type": "exec", "command": ["/bin/true"], "get": ["echo", "1"],
                           "timeout": "20s"}} for n in names}


def slow_get(port, path):
    """An HTTP/1.1 client that reads through a 4 KiB receive buffer (the daemon can send only
    as fast as it reads): the connection's http.client response, not read yet."""
    import http.client
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.sock = s
    c.request("GET", path)
    return c.getresponse()


def groups_part(body):
    """/metrics from the groups' first family to the notifiers' (no time-varying gauge)."""
    text = body.decode()
    return text[text.index("# HELP autoscaler_group_replicas "):
                text.index("# HELP autoscaler_notifier_events_total ")]


@test
def test_metrics_streamed(ctx):
    """/metrics is written as the client reads it (chunked, the same headers otherwise): a slow
    reader gets the fast one's answer; a reload that removes groups in the middle of an answer
    leaves it whole; a client that goes away in the middle frees it (ASan at the stop)."""
    names = [f"g{i:03d}" for i in range(300)]
    d, api, path = start(ctx, exec_groups(names))
    port = int(api.url.rsplit(":", 1)[1])
    wait_for(lambda: api.get("/readyz")[0] == 200, 30, "every group's first round")
    status, headers, fast = api.get("/metrics")
    assert status == 200 and headers.get("transfer-encoding") == "chunked", headers
    assert "content-length" not in headers, headers
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8", headers
    assert headers["cache-control"] == "no-store", headers
    assert headers["x-content-type-options"] == "nosniff", headers
    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert api.request("HEAD", "/metrics")[0] == 200
    assert len(fast) > 300000, len(fast)
    r = slow_get(port, "/metrics")
    slow = b""
    while chunk := r.read(1000):
        slow += chunk
        time.sleep(0.001)
    assert groups_part(slow) == groups_part(fast)
    # a client gone after the first bytes, more than once
    for _ in range(3):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(1000).startswith(b"HTTP/1.1 200")
        s.close()
    # a reload while an answer is being read removes every odd group (the kernel's buffers may
    # hold the rest of the answer already: tests/unit/test_metrics.c frees groups between two
    # pieces for sure)
    r = slow_get(port, "/metrics")
    head = r.read(20000)
    cfg = api_config(ctx.tmp, port, exec_groups(names[::2]))
    write_config(ctx.tmp, cfg)
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"engine\[g001\]: stopped", 10, since=mark)
    text = (head + r.read()).decode()
    assert re.search(r"\nprocess_start_time_seconds [0-9.e+]+\n$", text), text[-300:]
    last = api.get("/metrics")[2].decode()
    last = last[last.index("# HELP autoscaler_measurements_skipped_total"):]
    assert 'group="g002"' in last and 'group="g001"' not in last, last[:2000]
    d.stop()


def make_cert(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


@test
def test_tls(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    cert, key = make_cert(ctx.tmp)
    port = free_port()
    cfg = api_config(ctx.tmp, port, {"web": pool_group(backlog)},
                     http={"tls_cert": "cert.pem", "tls_key": "key.pem"})
    path = write_config(ctx.tmp, cfg)
    d = ctx.daemon(path, log_file=cfg["log_file"])
    api = Api(f"https://127.0.0.1:{port}", cafile=cert)
    api.wait_up()
    assert api.json("/api/v1/groups")["groups"][0]["name"] == "web"
    d.wait_log(rf"INFO  http: listening on https://127\.0\.0\.1:{port} ", 5)
    plain = Api(f"http://127.0.0.1:{port}")
    try:
        status = plain.get("/healthz", timeout=2)[0]
    except OSError:
        status = None
    assert status != 200, "plain HTTP on the TLS port"
    d.stop()
    with open(os.path.join(ctx.tmp, "bad.pem"), "w") as f:
        f.write("not a certificate\n")
    cfg["http"]["tls_cert"] = "bad.pem"
    text = json.dumps(cfg)  # JSON is YAML
    bad = write_config(ctx.tmp, text, "bad.yaml")
    r = run_cli(ctx.bin, ["check", "-c", bad])
    assert r.returncode == 2, r
    assert re.search(r"bad\.yaml:1:\d+: http: 'tls_cert': not a PEM file", r.stderr), r.stderr


@test
def test_check_refuses_an_open_address_without_a_token(ctx):
    text = ("http:\n  listen: 0.0.0.0:9999\ngroups:\n  web:\n    max: 2\n"
            "    metrics: [{type: exec, command: [echo, '1'], target: 1}]\n"
            "    scaler: {type: exec, command: [/bin/true]}\n")
    path = write_config(ctx.tmp, text)
    r = run_cli(ctx.bin, ["check", "-c", path])
    assert r.returncode == 2, r
    assert (f"{path}:2:11: http: 'listen': 0.0.0.0:9999 is not a loopback address, so 'token' "
            "is required") in r.stderr, r.stderr
    path = write_config(ctx.tmp, text.replace("listen: 0.0.0.0:9999", "token: hunter2hunter2hunter2"))
    r = run_cli(ctx.bin, ["check", "-c", path])
    assert r.returncode == 2 and "http: 'token' must be a reference" in r.stderr, r
    assert "hunter2" not in r.stderr, r.stderr


@test
def test_address_in_use(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    # Written in the file: the daemon does not start.
    cfg = api_config(ctx.tmp, port, {"web": pool_group(backlog)})
    path = write_config(ctx.tmp, cfg)
    r = run_cli(ctx.bin, ["run", "-c", path, "--once"])
    assert r.returncode == 1, r
    assert re.search(rf"ERROR main: http: cannot listen on 127\.0\.0\.1:{port}: .*in use", r.stderr), \
        r.stderr
    # The default address (not written): a warning, and the daemon scales all the same. This
    # test holds the default port when it can; when another daemon of the machine holds it, that
    # one may let it go at any moment, so only what holds either way is checked then.
    try:
        default = socket.socket()
        default.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        default.bind(("127.0.0.1", 9711))
        default.listen(1)
    except OSError:
        default = None
    del cfg["http"]
    path = write_config(ctx.tmp, cfg)
    r = run_cli(ctx.bin, ["run", "-c", path, "--once"])
    assert r.returncode == 0 and "decision current=" in r.stderr, r
    warn = (r"WARN  http: cannot listen on 127\.0\.0\.1:9711: .* \(the default address; "
            r"set http\.listen, or \"\" for no server\)")
    if default is not None:
        assert re.search(warn, r.stderr), r.stderr
    # and a reload tries it again, with a warning, never an error
    d = ctx.daemon(path, log_file=cfg["log_file"], start=False)
    before = d.mark()  # the --once run wrote to the same log
    d.start()
    got = d.wait_log(warn + r"|http: listening on http://127\.0\.0\.1:9711 ", 10, since=before)
    if "WARN" in got.group(0):  # (else the other holder let it go: this daemon has it)
        mark = d.mark()
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"main: reloaded ", 10, since=mark)
        d.wait_log(r"WARN  http: cannot listen on 127\.0\.0\.1:9711", 10, since=mark)
        assert not [ln for ln in d.lines(before) if ln.level == "ERROR"], d.tail()
    d.stop()
    busy.close()
    if default is not None:
        default.close()


@test
def test_workers_and_queue(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 5)
    other = os.path.join(ctx.tmp, "other")
    write_backlog(other, 2)
    d, api, _ = start(ctx, {"jobs": queue_group(backlog), "web": pool_group(other)})
    g = api.wait_group("jobs", lambda g: g["replicas"] == 2, 15, "2 workers")
    assert g["workers"] is True and g["queue_metric"] == "backlog", g

    def listed():
        w = api.json("/api/v1/groups/jobs/workers")
        ws = w["workers"]
        return w if len(ws) == 2 and all(x["status"] in ("BUSY", "FREE") for x in ws) else None
    w = wait_for(listed, 10, "two workers that reported")
    assert w["format"] == "autoscaler workers 1" and w["group"] == "jobs", w
    assert w["daemon"]["pid"] == d.pid, w
    by_id = {x["id"]: x for x in w["workers"]}
    assert by_id[0]["status"] == "BUSY" and by_id[0]["task"] == "job-0", by_id
    assert by_id[1]["status"] == "FREE" and by_id[1]["task"] == "", by_id
    assert all(x["pid"] > 0 and not x["stopping"] for x in w["workers"]), w
    # the queue over the last rounds, oldest first
    t = int(time.time() * 1000)
    for n in (7, 3):
        write_backlog(backlog, n)
        wait_for(lambda: any(r["length"] == n and r["time"] > t for r in
                             api.json("/api/v1/groups/jobs/queue")["rounds"]), 10, f"queue {n}")
    q = api.json(f"/api/v1/groups/jobs/queue?since={t}")
    lengths = [r["length"] for r in q["rounds"]]
    assert q["metric"] == "backlog" and q["policy"] == "queue", q
    assert 7 in lengths and lengths.index(7) < len(lengths) - 1 - lengths[::-1].index(3), lengths
    assert set(lengths) <= {5, 7, 3}, lengths
    assert len(api.json("/api/v1/groups/jobs/queue?limit=2")["rounds"]) == 2
    # groups without a pool or a queue say so
    status, _, raw = api.get("/api/v1/groups/web/queue")
    assert status == 404 and json.loads(raw)["error"] == (
        "group 'web' has no queue (its policy is target): name the metric with ?metric=NAME"), raw
    assert api.json("/api/v1/groups/web/queue?metric=backlog")["rounds"][-1]["length"] == 2
    status, _, raw = api.get("/api/v1/groups/web/queue?metric=nope")
    assert status == 404 and json.loads(raw)["error"] == "group 'web' has no metric 'nope'", raw
    status, _, raw = api.get("/api/v1/groups/web/queue?limit=0")
    assert status == 400 and b"limit must be a whole number from 1 to 100000" in raw, raw
    status, _, raw = api.get("/api/v1/groups/web/workers")
    assert status == 200  # web is a process pool too
    d.stop()


@test
def test_decisions_and_rounds(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    d, api, _ = start(ctx, {"web": pool_group(backlog, max_=3)},
                      http={"history_rounds": 5, "history_decisions": 3})
    api.wait_group("web", lambda g: g["rounds"] >= 2, 10, "two rounds")
    write_backlog(backlog, 20)  # ceil(20/2) = 10, above max 3
    g = api.wait_group("web", lambda g: g["replicas"] == 3 and g["rounds"] >= 8 and
                       g["last_decision"]["rounds"] >= 3, 15, "3 replicas, held 3 rounds")
    last = g["last_decision"]
    # the rounds held at max are one decision: its first round, the newest's time
    assert last["first"] < last["time"] and last["outcome"] == "hold", last
    assert last["class"] == "max" and last["wanted"] == 10 and last["desired"] == 3, last
    assert last["reason"].startswith("backlog=20 average_value=2: ceil(20/2)=10"), last
    ds = api.json("/api/v1/groups/web/decisions")["decisions"]
    assert len(ds) == 3, ds  # history_decisions
    assert [x["time"] for x in ds] == sorted(x["time"] for x in ds), ds
    assert ds[-1] == last, (ds, last)
    assert g["decisions"] == ds, g
    assert len(api.json("/api/v1/groups/web/decisions?limit=1")["decisions"]) == 1
    assert api.json(f"/api/v1/groups/web/decisions?since={last['time']}")["decisions"] == []
    r = api.json("/api/v1/groups/web/rounds")
    assert r["metrics"] == ["backlog"] and len(r["rounds"]) == 5, r  # history_rounds
    newest = r["rounds"][-1]
    assert newest["values"] == [20] and newest["current"] == 3 and newest["max"] == 3, newest
    scales = g["scales"]
    assert [(x["from"], x["to"]) for x in scales][-1] == (1, 3), scales
    m = g["metrics"][0]
    assert m["name"] == "backlog" and m["value"] == 20 and m["target"] == 2, m
    assert m["target_kind"] == "average_value" and m["ok"] and m["last_ok"] > 0, m
    assert g["counters"]["scale_ups"] == 2 and g["counters"]["scale_downs"] == 0, g["counters"]
    # a failing metric: value null, failing counted, the round still listed
    os.unlink(backlog)
    g = api.wait_group("web", lambda g: g["metrics"][0]["failing"] >= 1, 10, "a failure")
    assert g["metrics"][0]["ok"] is False and g["metrics"][0]["value"] is None, g
    r = api.json("/api/v1/groups/web/rounds?limit=1")["rounds"]
    assert r[0]["values"] == [None], r
    d.stop()


@test
def test_rounds_total_bounds_every_group(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    groups = {f"g{i}": pool_group(backlog, max_=3) for i in range(3)}
    d, api, _ = start(ctx, groups, http={"history_rounds": 10, "history_rounds_total": 7})
    for name in groups:  # 7 across 3 groups: 2 each, not 10
        api.wait_group(name, lambda g: g["rounds"] >= 4, 15, f"{name}: four rounds")
        r = api.json(f"/api/v1/groups/{name}/rounds")["rounds"]
        assert len(r) == 2, (name, r)
    d.stop()


@test
def test_no_secret_in_any_answer(ctx):
    """Secrets planted by reference (env and file, long and short), in a URL's userinfo, in a
    header, in a secret key: no answer of any endpoint, no log line, holds any of them."""
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    secret_file = os.path.join(ctx.tmp, "pw")
    with open(secret_file, "w") as f:
        f.write("file-secret-7Hq2\n")
    env = {"AS_API_TOKEN": TOKEN, "AS_HDR": "hdr-secret-Zx81", "AS_USERINFO": "user:pw-secret-Qm3",
           "AS_PATH": "path-secret-Lk5", "AS_MAX": "6", "AS_ARG": "arg-secret-Vb0"}
    secrets = [TOKEN, "hdr-secret-Zx81", "pw-secret-Qm3", "path-secret-Lk5", "file-secret-7Hq2",
               "arg-secret-Vb0"]
    web = pool_group(backlog, max_="${env:AS_MAX}")
    web["metrics"][0]["command"] = ["sh", "-c", f"cat {backlog}", "${env:AS_ARG}"]
    web["metrics"].append({"name": "remote", "type": "http_json",
                           "url": "http://${env:AS_USERINFO}@127.0.0.1:1/${env:AS_PATH}?k=v",
                           "pointer": "/x", "target": 1,
                           "headers": {"Authorization": "Bearer ${env:AS_HDR}",
                                       "X-Plain": "plain-value"}})
    other = {"interval": "1s", "max": 3,
             "metrics": [{"name": "pg", "type": "postgresql",
                          "dsn": "postgresql://u:${file:pw}@127.0.0.1:1/db", "query": "select 1",
                          "target": 1}],
             "scaler": {"type": "exec", "command": ["/bin/true"]}}
    d, api, _ = start(ctx, {"web": web, "other": other},
                      http={"token": "${env:AS_API_TOKEN}"}, env=env)
    api.wait_group("web", lambda g: g["last_decision"] is not None, 15, "a decision")
    api.wait_group("other", lambda g: g["rounds"] > 0, 15, "a round")
    answers = {}
    paths = ["/", "/dashboard.js", "/dashboard.css", "/metrics", "/healthz", "/readyz", "/api/v1",
             "/api/v1/status", "/api/v1/groups"]
    for g in ["web", "other"]:
        paths += [f"/api/v1/groups/{g}{s}" for s in
                  ["", "/config", "/decisions", "/rounds", "/workers", "/queue?metric=backlog",
                   "/queue", "/nope"]]
    for p in paths:
        answers[p] = api.get(p)
    for method, p, body in mutations():
        answers[method + p] = api.request(method, p, body=body, token=TOKEN)
    answers["401"] = api.request("POST", "/api/v1/groups/web/pause", token="wrong")
    answers["400"] = api.request("POST", "/api/v1/groups/web/override", body=b"{\"x\": 1}",
                                 token=TOKEN)
    cfg = api.json("/api/v1/groups/web/config")["config"]
    assert cfg["max"] == "<redacted>", cfg
    remote = cfg["metrics"][1]
    assert remote["url"] == "<redacted>", remote
    assert remote["headers"] == {"Authorization": "<redacted>", "X-Plain": "plain-value"}, remote
    assert cfg["metrics"][0]["command"] == ["sh", "-c", f"cat {backlog}", "<redacted>"], cfg
    pg = api.json("/api/v1/groups/other/config")["config"]["metrics"][0]
    assert pg["dsn"] == "<redacted>", pg
    d.stop()
    logs = d.log_text() + d.stderr()
    for name, (status, headers, body) in answers.items():
        text = body.decode(errors="replace") + json.dumps(headers)
        for s in secrets:
            assert s not in text, f"{s} in the answer to {name}: {text[:3000]}"
    for s in secrets:
        assert s not in logs, f"{s} in the log"


if __name__ == "__main__":
    sys.exit(main())
