#!/usr/bin/env python3
"""The `agents` source and `autoscaler agent`: three real agents report to the daemon over
TCP on 127.0.0.1 (docs/protocol.md); their per-host values reach the decision; an agent that
stops becomes a missing replica (the group does not scale down on it) and is forgotten after
forget_after (then it does); tampered, replayed, stale, oversized and flooding input from a
hostile client is rejected, counted and logged while the real agents keep reporting on time;
an agent survives its master being down. One agent goes through a recording TCP forwarder on
127.0.0.1, as it would through `ssh -R`, so the test can replay and tamper with its lines.

    python3 tests/integration/test_source_agents.py --bin build/autoscaler
"""

import hashlib
import hmac
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (REPO, Daemon, free_port, main, run_cli, test, wait_for,  # noqa: E402
                     write_config)
from scaleit_app import ScaleitApp  # noqa: E402

KEY = b"test-key-0123456789abcdef"  # docs/protocol.md's test key


def key_file(ctx, key=KEY, name="agent.key"):
    """Writes the key atomically: an agent started earlier may be reading the file (each
    start_agent writes it again; a truncated file read there was an empty key)."""
    path = os.path.join(ctx.tmp, name)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(key + b"\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def sign(text: str, key: bytes = KEY) -> bytes:
    mac = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    return f"{text} mac={mac}\n".encode()


def message(host, seq, boot="00000000000000aa", ts=None, values="cpu=0.5", interval=1000):
    ts = int(time.time() * 1000) if ts is None else ts
    return sign(f"AS1 host={host} boot={boot} seq={seq} ts={ts} interval={interval} {values}")


def start_agent(ctx, port, name, interval="1s", extra=()):
    """`autoscaler agent` as a Daemon (logs, clean stop, sanitizer check)."""
    d = Daemon(ctx.bin, "-", ctx.tmp, name=f"agent-{name}")
    d.argv = [ctx.bin, "agent", "--master", f"127.0.0.1:{port}", "--secret-file",
              key_file(ctx), "--name", name, "--interval", interval] + list(extra)
    ctx.daemons.append(d)
    ctx.defer(d.kill)
    return d.start()


def agents_metric(port, key, **kw):
    m = {"name": "cpu", "type": "agents", "listen": f"127.0.0.1:{port}",
         "secret": "${file:" + key + "}", "warmup": "1500ms", "target": 0.5}
    m.update(kw)
    return m


def config(ctx, metric, app, interval="1s", log_level="info"):
    return {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
            "log_level": log_level,
            "groups": {"web": {
                "interval": interval, "min": 1, "max": 6, "tolerance": 0.1, "behavior": "off",
                "metrics": [metric],
                "scaler": {"type": "http", "url": app.url("/app/replicas"), "method": "PUT",
                           "body": '{"replicas":{{replicas}}}',
                           "get_url": app.url("/app/replicas"), "get_pointer": "/replicas",
                           "timeout": "500ms"}}}}


def start_app(ctx, replicas=3):
    app = ScaleitApp(load=1.0, replicas=replicas).start()
    ctx.defer(app.stop)
    return app


def start_master(ctx, metric, app, extra=(), log_level="info"):
    cfg = config(ctx, metric, app, log_level=log_level)
    return ctx.daemon(write_config(ctx.tmp, cfg), extra=extra, log_file=cfg["log_file"])


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def send(port, data: bytes, wait_close: float = 3.0) -> bool:
    """Sends data on a new connection; True when the master closes it within wait_close s."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_close) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return True
        try:
            while s.recv(4096):
                pass
            return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


class Forwarder:
    """A TCP forwarder on 127.0.0.1 (what `ssh -R` gives an agent) that keeps every line the
    agent sends."""

    def __init__(self, upstream: int):
        self.upstream = upstream
        self.lines = []
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream), timeout=2)
            except OSError:
                c.close()
                continue
            threading.Thread(target=self._pump, args=(c, up), daemon=True).start()

    def _pump(self, c, up):
        buf = b""
        with c, up:
            while True:
                try:
                    data = c.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self.lines.append(line + b"\n")
                try:
                    up.sendall(data)
                except OSError:
                    return

    def stop(self):
        self.stopped = True
        self.srv.close()


def decisions_with(d, pattern, since=0):
    return [x for x in d.decisions(since) if re.search(pattern, x.line.text)]


@test
def test_three_agents_missing_then_forgotten(ctx):
    """Per-host values reach the decision; a stopped agent is a missing replica (no scale
    down), then forgotten (the group scales down with the real http scaler)."""
    port, app = free_port(), start_app(ctx, replicas=3)
    metric = agents_metric(port, key_file(ctx), name="load", field="load",
                           missing_after="2500ms", forget_after="7s")
    d = start_master(ctx, metric, app, log_level="debug")  # whole reasons
    d.wait_log(r"listening on 127\.0\.0\.1:\d+", 15)
    files, agents = [], []
    for i in (1, 2, 3):
        f = os.path.join(ctx.tmp, f"load{i}")
        write(f, "0.5\n")
        files.append(f)
        agents.append(start_agent(ctx, port, f"h{i}", extra=["--command", f"load=cat {f}"]))
    # All three at 0.5 = the target: hold at 3.
    d.wait_until(lambda: decisions_with(d, r"load avg=0\.5 over 3 ready target=0\.5 "
                                           r"ratio=1\.000 within tolerance"), 20,
                 "a decision over 3 hosts' values")
    assert d.grep(r"host h1 reporting from 127\.0\.0\.1:\d+ every 1000ms"), d.tail()
    # h3 stops; the others drop to 0.4 (alone they would ask for ceil(0.8*2) = 2 replicas).
    write(files[0], "0.4\n")
    write(files[1], "0.4\n")
    took = agents[2].stop(signal.SIGTERM)
    assert took < 3, f"the agent took {took:.1f}s to stop on SIGTERM"
    assert re.search(r"agent: Terminated: stopping \(\d+ reports sent, 0 dropped\)",
                     agents[2].stderr()), agents[2].stderr()
    mark = d.mark()
    d.wait_log(r"WARN  source/agents\[web/load\]: host h3 silent for [\d.]+s: missing", 10,
               since=mark)
    mark = d.mark()
    missing = d.wait_decisions(3, 10, since=mark, where=lambda x: "with 1 missing" in x.line.text)
    for x in missing:
        assert x.desired == 3 and x.current == 3, x.line.raw
    assert "ratio=0.800 (0.867 with 1 missing, 0 not ready)" in \
        missing[-1].line.text, \
        missing[-1].line.raw
    assert d.scaled() == [] and app.replicas == 3, d.tail()
    # After forget_after h3 is gone from the set: 2 hosts at 0.4, scale 3 -> 2.
    d.wait_log(r"host h3 silent for [\d.]+s: forgotten", 10, since=mark)
    d.wait_log(r"engine\[web\]: scaled 3->2", 10, since=mark)  # logged after the read back
    assert d.scaled() == [(3, 2)] and app.replicas == 2, d.tail()
    assert decisions_with(d, r"load avg=0\.4 over 2 ready"), d.tail()
    for a in agents[:2]:
        a.stop()
    d.stop()


@test
def test_react_starts_the_round(ctx):
    """`react: true`: a report that changes the value starts the group's round at once, so a
    group polling every 30 s scales within a second of the agent's report."""
    port, app = free_port(), start_app(ctx, replicas=2)
    metric = agents_metric(port, key_file(ctx), name="load", field="load", hosts=["h1"],
                           react=True)
    cfg = config(ctx, metric, app, interval="30s")
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    d.wait_log(r"listening on 127\.0\.0\.1:\d+", 15)
    f = os.path.join(ctx.tmp, "load1")
    write(f, "0.5\n")
    agent = start_agent(ctx, port, "h1", interval="300ms", extra=["--command", f"load=cat {f}"])
    d.wait_until(lambda: decisions_with(d, r"load avg=0\.5 over 1 ready"), 10,
                 "a decision on the first report")
    mark = d.mark()
    t0 = time.monotonic()
    write(f, "2.0\n")                                 # one host: ceil(2.0 / 0.5 * 1) = 4
    d.wait_log(r"engine\[web\]: scaled 2->4", 5, since=mark)
    took = time.monotonic() - t0
    assert took < 2.0 and app.replicas == 4, f"scaled after {took:.2f}s (the tick is 30 s)"
    # An unchanged value wakes nothing: the reports go on, the rounds do not.
    made = d.decided()
    time.sleep(1.5)                                    # 5 reports of the same value
    assert d.decided() - made <= 1, (made, d.decided())
    agent.stop()
    d.stop()


@test
def test_react_storm_is_bounded(ctx):
    """A flood of changing reports (eight hosts, each at its line rate, every value new) wakes
    the group at most once per 250 ms: about 4 rounds a second, not one a report."""
    port, app = free_port(), start_app(ctx, replicas=2)
    hosts = [f"s{i}" for i in range(8)]
    metric = agents_metric(port, key_file(ctx), hosts=hosts, react=True, max_line_rate=10)
    cfg = config(ctx, metric, app, interval="30s")
    cfg["groups"]["web"]["max"] = 2  # whatever the values ask, no scale: rounds only
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    d.wait_log(r"listening on 127\.0\.0\.1:\d+", 15)
    conns = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in hosts]
    try:
        made = d.decided()
        t0, seq, sent = time.monotonic(), 0, 0
        while time.monotonic() - t0 < 3.0:
            seq += 1
            for h, c in zip(hosts, conns):
                c.sendall(message(h, seq, values=f"cpu={0.3 + (seq % 5) / 10:.1f}", interval=100))
                sent += 1
            time.sleep(0.11)  # under max_line_rate: every report is accepted
        took = time.monotonic() - t0
        rounds = d.decided() - made
    finally:
        for c in conns:
            c.close()
    print(f"{sent} changing reports in {took:.1f}s: {rounds} rounds")
    assert sent >= 150, sent
    assert 3 <= rounds <= 4 * took + 3, f"{rounds} rounds for {sent} reports in {took:.1f}s"
    assert not d.grep(r"rejected|flood"), d.tail()
    d.stop()


def attack(port, fwd, d):
    """Every hostile input; returns what each should be counted as."""
    got = {}
    # Not the newest line: the master surely has the one before (a second older).
    real = wait_for(lambda: fwd.lines[-2] if len(fwd.lines) >= 2 else None, 10,
                    "two lines from h3")
    # First a churn of 300 short connections with junk: it must not keep what follows, in the
    # same second, out of the log.
    for _ in range(300):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"junk\n")
    got["replayed"] = send(port, real)                                   # verbatim again
    tampered = re.sub(rb"cpu=[0-9.]+", b"cpu=0.999", real)
    assert tampered != real
    got["bad_mac"] = send(port, tampered)                                # old MAC
    got["wrong_key"] = send(port, sign(message("h9", 1).decode().split(" mac=")[0],
                                       b"another-key-0123456789"))
    got["stale"] = send(port, message("h9", 1, ts=int(time.time() * 1000) - 120000))
    got["too_long"] = send(port, b"AS1 host=" + b"x" * 5000)             # no newline
    got["malformed"] = send(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    got["version"] = send(port, b"AS2 host=h1 hello\n")
    got["bad_value"] = send(port, message("h9", 1, values="cpu=1.5"))
    boot = secrets.token_hex(8)
    got["flood"] = send(port, b"".join(message("flood-1", i, boot=boot) for i in range(1, 201)))
    # Slow loris: more idle connections than max_connections (12, 3 of them the agents'):
    # the oldest idle ones are evicted for newer ones, the rest time out; the agents stay.
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(15)]
    for s in idle:
        s.sendall(b"AS1 ")
    time.sleep(3)  # idle_timeout 2s
    closed = 0
    for s in idle:
        s.settimeout(0.5)
        try:
            closed += s.recv(10) == b""
        except (ConnectionResetError, socket.timeout):
            closed += 1
        s.close()
    got["idle"] = closed == len(idle)
    return got


@test
def test_hostile_clients(ctx):
    """Replayed, tampered, stale, oversized, malformed, out-of-range and flooding input and a
    slow loris: each rejected (its connection closed), counted and logged; the real agents
    keep reporting on time; one of them goes through a forwarder, as through ssh -R."""
    port, app = free_port(), start_app(ctx, replicas=3)
    metric = agents_metric(port, key_file(ctx), max_connections=12, idle_timeout="2s",
                           max_line_rate=5)
    # debug: a line for every decision, to see its hosts and time its round
    d = start_master(ctx, metric, app, extra=["--dry-run"], log_level="debug")
    d.wait_log(r"listening on", 15)
    fwd = Forwarder(port)
    ctx.defer(fwd.stop)
    agents = [start_agent(ctx, port, "h1"), start_agent(ctx, port, "h2"),
              start_agent(ctx, fwd.port, "h3")]
    d.wait_until(lambda: decisions_with(d, r"cpu avg=[\d.e-]+ over 3 ready"), 20,
                 "a decision over the 3 agents")
    mark = d.mark()
    t0 = time.monotonic()
    got = attack(port, fwd, d)
    assert all(got.values()), f"connections the master did not close: {got}"
    d.wait_until(lambda: len(d.decisions(mark)) >= 3, 10, "decisions after the attack")
    dt = time.monotonic() - t0
    # Every reason counted; the line comes with the next measurement.
    want = ["replayed", "bad_mac", "stale", "too_long", "malformed", "version", "bad_value",
            "flood", "idle", "evicted"]

    def counted():
        for m in d.grep(r"counters accepted=\d+ .*rejected:(.*)$", mark):
            n = dict(re.findall(r"(\w+)=(\d+)", m.group(1)))
            if all(int(n.get(k, 0)) >= 1 for k in want):
                return n
        return None
    n = d.wait_until(counted, 10, f"a counters line with {want}")
    assert int(n["bad_mac"]) >= 2, n
    for reason in ["replayed", "bad_mac", "stale", "too_long", "malformed", "version",
                   "bad_value", "flood"]:
        assert d.grep(rf"WARN  source/agents\[web/cpu\]: 127\.0\.0\.1:\d+.*: rejected "
                      rf"\({reason}\): ", mark), (reason, d.tail())
    # The real agents were served all along: none went silent, none had to reconnect, and
    # decisions kept their 1 s cadence.
    assert not d.grep(r"host h[123] silent", mark), d.tail()
    for a in agents:
        assert "retrying" not in a.stderr(), a.stderr()
    ts = [datetime.strptime(x.line.ts, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
          for x in d.decisions(mark)]
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    assert ts and max(gaps) < 2.0, (gaps, dt)
    assert app.replicas == 3  # dry run
    for a in agents:
        a.stop()
    d.stop()


@test
def test_reload_keeps_hosts(ctx):
    """A SIGHUP closes the agents' connections (they reconnect) but keeps the host table: no
    warmup, no host missing, and a line sent before the reload is still a replay after it."""
    port, app = free_port(), start_app(ctx, replicas=2)
    key = key_file(ctx)
    # debug: a line for every decision, each one's hosts checked below
    cfg = config(ctx, agents_metric(port, key, warmup="3s"), app, log_level="debug")
    path = write_config(ctx.tmp, cfg)
    d = ctx.daemon(path, extra=["--dry-run"], log_file=cfg["log_file"])
    fwd = Forwarder(port)
    ctx.defer(fwd.stop)
    agents = [start_agent(ctx, port, "h1"), start_agent(ctx, fwd.port, "h2")]
    d.wait_until(lambda: decisions_with(d, r"cpu avg=[\d.e-]+ over 2 ready"), 20,
                 "a decision over the 2 agents")
    old = wait_for(lambda: fwd.lines[-2] if len(fwd.lines) >= 2 else None, 10, "h2's lines")
    cfg["groups"]["web"]["metrics"][0]["missing_after"] = "5s"
    write_config(ctx.tmp, cfg)
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"listening on 127\.0\.0\.1:\d+ \(hosts kept from before the reload\)", 10,
               since=mark)
    for a in agents:
        a.wait_log(r"the master closed the connection( [\d.]+s after a report \(.*\))?; "
                   r"retrying", 10)
        a.wait_log(r"agent: connected to .* \(after \d+ repeat", 10)
    d.wait_decisions(3, 10, since=mark)
    assert send(port, old), "the master kept a connection that replayed a line"
    d.wait_log(r"rejected \(replayed\)", 5, since=mark)
    assert not d.grep(r"warming up|silent|no valid metric", mark), d.tail()
    assert all("over 2 ready" in x.line.text for x in d.decisions(mark)), d.tail()
    for a in agents:
        a.stop()
    d.stop()


@test
def test_agent_survives_master_down(ctx):
    """An agent started before its master retries with bounded backoff, keeps no backlog,
    connects when the master comes up and reports at once."""
    port, app = free_port(), start_app(ctx)
    a = start_agent(ctx, port, "early", interval="300ms")
    a.wait_log(r"agent: 127\.0\.0\.1:\d+: Connection refused; retrying in [\d.]+s", 10)
    time.sleep(3)
    assert a.alive()
    d = start_master(ctx, agents_metric(port, key_file(ctx), warmup="0s"), app,
                     extra=["--dry-run"])
    t0 = time.monotonic()
    d.wait_log(r"host early reporting from", 15)
    assert time.monotonic() - t0 < 8, "the agent's retries are more than 5 s apart"
    a.wait_log(r"agent: connected to 127\.0\.0\.1:\d+ \(after \d+ repeats", 5)
    a.stop()
    m = re.search(r"stopping \((\d+) reports sent, (\d+) dropped\)", a.stderr())
    assert m and int(m.group(1)) >= 1 and int(m.group(2)) >= 5, a.stderr()
    # An agent with another key: the master rejects it, the agent says where to look.
    w = start_agent(ctx, port, "wrong", interval="300ms",
                    extra=["--secret-file", key_file(ctx, b"another-key-0123456789", "w.key")])
    d.wait_log(r"host=wrong: rejected \(bad_mac\)", 10)
    w.wait_log(r"the master closed the connection [\d.]+s after a report \(when it keeps "
               r"doing so, it rejects them: its log says why\); retrying", 10)
    time.sleep(2)  # a few more rejected connections: logged once, not once each
    log = w.stderr()
    assert len(re.findall(r"INFO  agent: connected", log)) == 1, log
    assert len(re.findall(r"WARN  agent: .*after a report", log)) == 1, log
    assert len(re.findall(r"host=wrong: rejected \(bad_mac\)", d.log_text())) == 1, d.tail()
    w.stop()
    # The master going away again: the agent notices and retries.
    b = start_agent(ctx, port, "late", interval="300ms")
    d.wait_log(r"host late reporting from", 15)
    d.stop()
    b.wait_log(r"agent: 127\.0\.0\.1:\d+: the master closed the connection", 10)
    b.stop()


@test
def test_third_party_agent_from_the_docs(ctx):
    """docs/protocol.md's minimal Python agent, as printed there, is accepted by the master."""
    with open(os.path.join(REPO, "docs", "protocol.md")) as f:
        doc = f.read()
    code = re.search(r"<!-- example agent -->\n```python\n(.*?)```", doc, re.S).group(1)
    script = os.path.join(ctx.tmp, "agent.py")
    write(script, code)
    port, app = free_port(), start_app(ctx, replicas=1)
    d = start_master(ctx, agents_metric(port, key_file(ctx), warmup="0s"), app,
                     extra=["--dry-run"])
    d.wait_log(r"listening on", 15)
    a = Daemon(ctx.bin, "-", ctx.tmp, name="py-agent",
               env={"MASTER": f"127.0.0.1:{port}", "KEY_FILE": key_file(ctx),
                    "NAME": "py-agent", "INTERVAL": "1"})
    a.argv = [sys.executable, script]
    ctx.daemons.append(a)
    ctx.defer(a.kill)
    a.start()
    d.wait_log(r"host py-agent reporting from 127\.0\.0\.1:\d+ every 1000ms", 10)
    d.wait_until(lambda: decisions_with(d, r"cpu avg=[\d.e-]+ over 1 ready"), 10,
                 "a decision on the Python agent's report")
    assert not d.grep(r"rejected"), d.tail()
    d.stop()


@test
def test_usage_and_config_errors(ctx):
    key = key_file(ctx)
    short = key_file(ctx, b"short", "short.key")
    for args, msg in [
        ([], "--master HOST:PORT and --secret-file PATH are required"),
        (["--master", "127.0.0.1"], "--master must be HOST:PORT"),
        (["--master", "127.0.0.1:1", "--secret-file", short], "at least 16 bytes"),
        (["--master", "127.0.0.1:1", "--secret-file", "/nonexistent"], "No such file"),
        (["--master", "127.0.0.1:1", "--secret-file", key, "--interval", "10ms"], "--interval"),
        (["--master", "127.0.0.1:1", "--secret-file", key, "--name", "a b"], "--name"),
        (["--master", "127.0.0.1:1", "--secret-file", key, "--command", "cpu=echo 1"],
         "not a value name"),
        (["--master", "127.0.0.1:1", "--secret-file", key, "--bogus", "1"], "unknown argument"),
        (["--master", "127.0.0.1:1", "--secret-key", "x"], "unknown argument"),
    ]:
        for cmd in ("agent", "daemon"):
            r = run_cli(ctx.bin, [cmd] + args)
            assert r.returncode == 2 and msg in r.stderr, (cmd, args, r.returncode, r.stderr)
    # The master's configuration: every error at its file:line:col.
    port, app = free_port(), start_app(ctx)
    with open(key, "rb") as f:
        inline = f.read().strip().decode()
    for kw, msg in [({"secret": inline}, "'secret' must be a reference"),
                    ({"secret": "${file:" + short + "}"}, "shorter than 16 bytes"),
                    ({"listen": "localhost:7070"}, "is not an IP address"),
                    ({"listen": "127.0.0.1:0"}, "port must be 1..65535"),
                    ({"missing_after": "20s", "forget_after": "10s"}, "'forget_after' must be"),
                    ({"field": "Load"}, "'field' must be"),
                    ({"hosts": ["ok", "not ok"]}, "'not ok' is not a host name"),
                    ({"hosts": ["a", "b", "c"], "max_hosts": 2}, "more than max_hosts")]:
        cfg = config(ctx, agents_metric(port, key, **kw), app)
        r = run_cli(ctx.bin, ["check", "-c", write_config(ctx.tmp, cfg)])
        assert r.returncode == 2 and re.search(r"config\.yaml:\d+:\d+: .*" + re.escape(msg),
                                               r.stderr), (kw, r.stderr)
    # Two groups on one port: `check` refuses it at the second group (and so does `run`).
    cfg = config(ctx, agents_metric(port, key), app)
    cfg["groups"]["api"] = dict(cfg["groups"]["web"])
    path = write_config(ctx.tmp, cfg)
    r = run_cli(ctx.bin, ["check", "-c", path])
    assert r.returncode == 2 and re.search(
        r"config\.yaml:\d+:\d+: group 'api' uses TCP port \d+ \(agents\), as group 'web'",
        r.stderr), r.stderr
    d = ctx.daemon(path, extra=["--dry-run"], log_file=cfg["log_file"])
    assert d.wait_exit(15) == 2, d.tail()


if __name__ == "__main__":
    sys.exit(main())
