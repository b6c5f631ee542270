#!/usr/bin/env python3
"""End to end: the http_json source + the http scaler + the target (HPA) policy against the
scaleit app (scaleit_app.py), with the real daemon.

    python3 tests/integration/test_scaleit.py --bin build/autoscaler [-k NAME] [--keep]

The app reports cpu = min(1.0, load / replicas); the daemon reads it at /cpu/highPriority with
target 0.8 and tolerance 0.1, reads the count with GET /app/replicas and sets it with
PUT /app/replicas. Each test starts its own app (ephemeral port on 127.0.0.1) and daemon.
"""

import math
import os
import re
import secrets
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (decisions_of, find_key, log_lines, main,  # noqa: E402
                     run_cli, test, write_config, yaml_dump)
from scaleit_app import ScaleitApp  # noqa: E402

INTERVAL = 0.5          # seconds; the groups' `interval`
TARGET = 0.8
TOLERANCE = 0.1
MIN, MAX = 1, 20
BAND = 0.08             # "settled" means cpu within TARGET +- BAND where the load allows it


# ---- the policy, as a model to predict the daemon ----------------------------------------------

def hpa_desired(current: int, value: float, target: float = TARGET, tol: float = TOLERANCE,
                lo: int = MIN, hi: int = MAX) -> int:
    """The HPA replica calculator (utilisation form), clamped to [lo, hi]. Same arithmetic
    as the daemon's, so the same doubles give the same answer."""
    ratio = value / target
    if current == 0:
        want = math.ceil(ratio)
    elif abs(1.0 - ratio) <= tol:
        want = current
    else:
        want = math.ceil(ratio * current)
    return min(max(want, lo), hi)


def app_cpu(load: float, replicas: int, cap=1.0) -> float:
    x = load / replicas
    return x if cap is None else min(cap, x)


def trajectory(load: float, start: int, cap=1.0) -> list:
    """Replica counts the daemon should go through after a load step, start first, until the
    policy holds (a fixed point)."""
    path = [start]
    for _ in range(100):
        n = hpa_desired(path[-1], app_cpu(load, path[-1], cap))
        if n == path[-1]:
            return path
        path.append(n)
    raise AssertionError(f"the model does not converge for load {load} from {start}: {path}")


# ---- config and start-up -----------------------------------------------------------------------

def scaleit_config(tmp: str, app: ScaleitApp, metric_extra=None, scaler_extra=None,
                   log_level: str = "info") -> dict:
    """The standard config: one group `web` watching the app."""
    metric = {
        "name": "cpu",
        "type": "http_json",
        "url": app.url("/app/status"),
        "pointer": "/cpu/highPriority",
        "replicas_pointer": "/replicas",
        "timeout": "300ms",
        "target": TARGET,
    }
    metric.update(metric_extra or {})
    scaler = {
        "type": "http",
        "url": app.url("/app/replicas"),
        "method": "PUT",
        "body": '{"replicas":{{replicas}}}',
        # A separate endpoint from the metric's, so faults on /app/status leave the count
        # readable: the test then shows that a known count plus a failed metric holds.
        "get_url": app.url("/app/replicas"),
        "get_pointer": "/replicas",
        "timeout": "300ms",
        "retries": 3,
        "backoff": "50ms",
        "backoff_max": "200ms",
    }
    scaler.update(scaler_extra or {})
    return {
        "log_file": os.path.join(tmp, "autoscaler.log"),
        "log_level": log_level,
        "groups": {
            "web": {
                "interval": f"{int(INTERVAL * 1000)}ms",
                "min": MIN,
                "max": MAX,
                "tolerance": TOLERANCE,
                # The target policy alone, as this test's model computes it: no HPA
                # stabilization window or rate limit (those have their own tests).
                "behavior": "off",
                "metrics": [metric],
                "scaler": scaler,
            }
        },
    }


def start_app(ctx, load: float, replicas: int, **kw) -> ScaleitApp:
    app = ScaleitApp(load=load, replicas=replicas, **kw).start()
    ctx.defer(app.stop)
    return app


def start_daemon(ctx, cfg: dict, extra=(), env=None):
    path = write_config(ctx.tmp, cfg)
    d = ctx.daemon(path, extra=extra, log_file=cfg["log_file"], env=env)
    # Ready = the first decision is logged (generous: ASan builds start slowly).
    d.wait_decisions(1, timeout=15)
    return d


def settle(app: ScaleitApp, daemon, expected_path: list, t_step: float, timeout: float,
           hold_rounds: int = 3):
    """Waits until the app runs at expected_path[-1] replicas and the daemon holds it for
    hold_rounds more rounds; checks the path taken. Returns (seconds, rounds) from t_step to
    the last change."""
    want = expected_path[-1]
    daemon.wait_until(lambda: app.replicas == want, timeout,
                      f"replicas == {want} (path {expected_path})")
    changes = [c for c in app.history("put") if c.t >= t_step]
    t_settle = changes[-1].t if changes else t_step
    # Hold: hold_rounds further measurements without a PUT. Rounds are sequential (a round's
    # PUT completes before the next round measures), so any change they caused has landed.
    n0 = app.status_requests
    daemon.wait_until(lambda: app.status_requests >= n0 + hold_rounds + 1,
                      hold_rounds * INTERVAL * 3 + 5, f"{hold_rounds} more rounds")
    late = [c for c in app.history("put") if c.t > t_settle]
    assert not late, f"the count moved again after settling at {want}: {late}"
    got_path = [expected_path[0]] + [c.new for c in changes]
    assert got_path == expected_path, f"path {got_path}, the model predicts {expected_path}"
    rounds = len([r for r in app.requests("GET", "/app/status", since=t_step) if r.t <= t_settle])
    return t_settle - t_step, rounds


def arrow(path: list) -> str:
    return "->".join(str(n) for n in path)


# ---- a. load steps -----------------------------------------------------------------------------

@test
def test_load_steps(ctx):
    app = start_app(ctx, load=1.6, replicas=2)            # cpu 0.8: exactly on target
    d = start_daemon(ctx, scaleit_config(ctx.tmp, app))

    # Hold: on target, nothing to do (at info a decision that changes the count has a line).
    d.wait_decided(3, 10)
    assert all(x.current == x.desired == 2 for x in d.decisions()), d.tail()
    assert app.put_requests == 0, "scaled although cpu was on target"

    # Step up: 1.6 -> 6.0. cpu is capped at 1.0, so each round grows by at most 1.25x.
    path = trajectory(6.0, 2)
    t_step = time.monotonic()
    app.set_load(6.0)
    secs, rounds = settle(app, d, path, t_step, timeout=20)
    cpu = app.cpu()
    print(f"step up 1.6->6.0: {arrow(path)}, settled in {secs:.2f}s / {rounds} rounds, "
          f"cpu {cpu:.3f}")
    assert abs(cpu - TARGET) <= BAND, f"settled at cpu {cpu:.3f}, outside {TARGET}+-{BAND}"
    # The step needs len(path)-1 scaling rounds; allow a couple of rounds of slack.
    assert rounds <= len(path) + 2, f"took {rounds} rounds for {len(path) - 1} steps"

    # Step down: 6.0 -> 2.0. No stabilization window in this version: immediate scale-down.
    path = trajectory(2.0, app.replicas)
    t_step = time.monotonic()
    app.set_load(2.0)
    secs, rounds = settle(app, d, path, t_step, timeout=20)
    cpu = app.cpu()
    print(f"step down 6.0->2.0: {arrow(path)}, settled in {secs:.2f}s / {rounds} rounds, "
          f"cpu {cpu:.3f} (policy fixed point; {TARGET}+-{BAND} is not reachable at this load)")
    assert rounds <= len(path) + 1, f"scale-down took {rounds} rounds: a window or a delay?"

    # Every successful scale was logged.
    logged = d.scaled()
    puts = [(c.old, c.new) for c in app.history("put")]
    assert logged == puts, f"log says scaled {logged}, the app saw {puts}"
    d.stop(signal.SIGINT)


# ---- b. faults on the status endpoint ----------------------------------------------------------

@test
def test_status_faults_never_scale_down(ctx):
    app = start_app(ctx, load=1.6, replicas=2)
    # debug: a line for every decision, each one checked below
    d = start_daemon(ctx, scaleit_config(ctx.tmp, app, log_level="debug"))
    d.wait_decisions(2, timeout=10)

    # Break the metric first, then make the load low: from here on, any valid measurement
    # would propose a scale-down (6 replicas at cpu 0.2 -> 2), and none may arrive.
    app.inject("status", "500")
    d.wait_until(lambda: app.faults_served("status") >= 1, 5, "the first fault served")
    app.set_replicas(6)
    app.set_load(1.2)
    t0, mark0 = time.monotonic(), d.mark()
    per_mode = 2
    for mode in ("500", "badjson", "hang"):
        app.inject("status", mode)            # replaces the previous fault atomically: no gap
        d.wait_until(lambda: app.faults_served("status", mode) >= per_mode,
                     per_mode * (INTERVAL + 0.3) * 3 + 5, f"{per_mode} '{mode}' faults served")
    # Keep the fault on until every faulted round so far has been decided (a hung request is
    # decided only after its timeout), so the window below covers their consequences too.
    served = app.faults_served("status")
    d.wait_decisions(served, timeout=served * INTERVAL * 3 + 5, since=mark0)
    t1, mark1 = time.monotonic(), d.mark()
    app.clear("status")

    downs = [c for c in app.history("put") if t0 <= c.t <= t1 and c.new < c.old]
    assert not downs, f"scaled down while the metric was failing: {downs}"
    assert app.replicas == 6
    window = d.decisions(since=mark0, until=mark1)
    failed = [x for x in window if x.values.get("cpu", 0.0) is None]
    assert len(failed) >= served - 1, \
        f"{len(failed)} decisions with cpu=failed for {served} faults:\n{d.tail()}"
    valid = [x.line.raw for x in window if x not in failed]
    assert not valid, "decisions on a valid cpu while every read failed:\n" + "\n".join(valid)
    bad = [x.line.raw for x in failed if x.desired < x.current]
    assert not bad, "a failed measurement proposed a scale-down:\n" + "\n".join(bad)

    # The causes are logged (level WARN or ERROR; the source names the URL).
    src = r"source/http_json\[web/cpu\]: .*"
    d.wait_log(src + r"HTTP 500", 2, since=mark0)
    d.wait_log(src + r"(?i:not JSON|JSON)", 2, since=mark0)
    d.wait_log(src + r"(?i:timeout|timed out)", 2, since=mark0)
    errs = [ln for ln in d.lines(mark0) if "source/http_json[web/cpu]" in ln.text]
    assert all(ln.level in ("WARN", "ERROR") for ln in errs), [ln.raw for ln in errs]

    # Recovery: valid measurements again, and now the scale-down does happen.
    d.wait_decisions(1, timeout=10, since=mark1,
                     where=lambda x: x.values.get("cpu") is not None)
    path = trajectory(1.2, 6)
    d.wait_until(lambda: app.replicas == path[-1], 10, f"replicas == {path[-1]} after recovery")
    print(f"faults: {len(failed)} failed rounds held at 6; after recovery {arrow(path)}")
    d.check_alive()
    d.stop(signal.SIGINT)


# ---- c. scaler faults --------------------------------------------------------------------------

@test
def test_scaler_faults(ctx):
    app = start_app(ctx, load=1.6, replicas=2)
    d = start_daemon(ctx, scaleit_config(ctx.tmp, app))
    d.wait_decided(2, 10)

    # 503 twice, then success: the change lands through the retries.
    app.inject("put", "503", count=2)
    t0, mark = time.monotonic(), d.mark()
    app.set_load(2.4)                                      # cpu 1.0 at 2 -> 3
    d.wait_until(lambda: app.replicas == 3, 10, "2->3 to land after two 503s")
    puts = app.requests("PUT", "/app/replicas", since=t0)
    assert [p.status for p in puts] == [503, 503, 204], [(p.status, p.fault) for p in puts]
    d.wait_log(r"engine\[web\]: scaled 2->3", 5, since=mark)
    fails = d.grep(r"engine\[web\]: scale 2->3 .*failed.*HTTP 503", since=mark)
    assert len(fails) == 2, f"expected 2 logged failed attempts:\n{d.tail()}"
    assert d.grep(r"attempt 1/4", since=mark) and d.grep(r"attempt 2/4", since=mark), d.tail()
    # Backoff between attempts, and the count re-read (GET get_url) before each retry.
    gets = app.requests("GET", "/app/replicas", since=t0)
    for a, b in zip(puts, puts[1:]):
        gap = b.t - a.t
        assert 0.02 <= gap <= 2.0, f"retry after {gap * 1000:.0f} ms (backoff 50ms..200ms)"
        assert any(a.t < g.t < b.t for g in gets), "no re-read of the count before a retry"
    print("503x2: gaps " + ", ".join(f"{(b.t - a.t) * 1000:.0f}ms"
                                     for a, b in zip(puts, puts[1:])))

    # 400: permanent. Logged with the response body; one attempt per round, no retries.
    app.inject("put", "400")
    t0, mark = time.monotonic(), d.mark()
    app.set_load(3.4)                                      # cpu 1.0 at 3 -> 4
    d.wait_log(r"engine\[web\]: scale 3->4 .*failed.*400.*rejected by quota policy", 5,
               since=mark)
    n0 = app.status_requests
    d.wait_until(lambda: app.status_requests >= n0 + 4, 10, "4 more rounds")
    rounds = app.count("GET", "/app/status", since=t0)
    puts = app.count("PUT", "/app/replicas", since=t0)
    assert 1 <= puts <= rounds + 1, f"{puts} PUTs in {rounds} rounds: a retry storm on 400"
    assert not d.grep(r"scale 3->4 .*attempt [2-9]/", since=mark), \
        f"a 400 was retried within a round:\n{d.tail()}"
    assert app.replicas == 3
    d.check_alive()
    print(f"400: {puts} PUTs in {rounds} rounds")

    # Fault gone: the change goes through on a later round.
    app.clear("put")
    d.wait_until(lambda: app.replicas == trajectory(3.4, 3)[-1], 10, "3->4 after the 400s")
    d.stop(signal.SIGTERM)


# ---- d. --dry-run ------------------------------------------------------------------------------

@test
def test_dry_run(ctx):
    app = start_app(ctx, load=6.0, replicas=2)            # cpu 1.0: would scale 2->3
    d = start_daemon(ctx, scaleit_config(ctx.tmp, app), extra=["--dry-run"])
    ds = d.wait_decisions(3, timeout=10)
    assert all(x.current == 2 and x.desired == 3 for x in ds), [x.line.raw for x in ds]
    assert d.grep(r"(?i)dry.?run"), f"no dry-run line in the log:\n{d.tail()}"
    assert app.put_requests == 0, f"{app.put_requests} PUTs in dry-run mode"
    assert app.replicas == 2 and not d.scaled()
    d.stop(signal.SIGINT)


# ---- e. --once ---------------------------------------------------------------------------------

@test
def test_once(ctx):
    app = start_app(ctx, load=6.0, replicas=2)
    cfg = scaleit_config(ctx.tmp, app)
    path = write_config(ctx.tmp, cfg)
    t0 = time.monotonic()
    r = run_cli(ctx.bin, ["run", "-c", path, "--once"], timeout=15)
    took = time.monotonic() - t0
    assert r.returncode == 0, f"exit {r.returncode}; stderr:\n{r.stderr[-3000:]}"
    with open(cfg["log_file"], encoding="utf-8") as f:
        text = f.read()
    ds = decisions_of(text)
    assert len(ds) == 1, f"{len(ds)} decisions for one round:\n{text}"
    assert (ds[0].current, ds[0].desired) == (2, 3), ds[0].line.raw
    # One decision = measure, decide, scale. With no state yet, the count is not trusted on
    # its first read (count_confirm: 2): --once reads it again at once, so two measurements.
    assert app.status_requests == 2, f"{app.status_requests} measurements for one decision"
    assert app.replicas == 3 and app.put_requests == 1, app.state()
    print(f"--once: one round in {took:.2f}s")


# ---- f. SIGTERM during operation ---------------------------------------------------------------

@test
def test_sigterm_clean_exit(ctx):
    app = start_app(ctx, load=1.6, replicas=2, hang_s=5.0)
    cfg = scaleit_config(ctx.tmp, app)
    d = start_daemon(ctx, cfg)
    d.wait_decided(2, 10)
    # Stop while a measurement is in flight (the app is hanging on it).
    app.inject("status", "hang")
    d.wait_until(lambda: app.inflight("status") >= 1, 5, "a hanging status request")
    mark = d.mark()
    took = d.stop(signal.SIGTERM, timeout=3)
    text = d.log_text()
    assert text.endswith("\n"), "the log ends with a partial line"
    raw = text.split("\n")[:-1]
    bad = [r for r in raw if not log_lines(r + "\n")]
    assert not bad, "lines that are not log lines:\n" + "\n".join(bad[:10])
    # The hung measurement may time out just before the signal lands: that error is fine.
    errors = [ln.raw for ln in d.lines(mark) if ln.level == "ERROR"
              and not re.search(r"source/http_json\[web/cpu\]: .*(?i:timeout|timed out)", ln.text)]
    assert not errors, "ERROR lines during shutdown:\n" + "\n".join(errors)
    print(f"SIGTERM: exit 0 after {took:.2f}s; last line: {raw[-1] if raw else '(empty log)'}")


# ---- g. check: unknown keys at file:line:col ---------------------------------------------------

def _check_config_text(port: int, log: str, group_extra: str = "", metric_extra: str = "") -> str:
    """Hand-written YAML so that line and column are known; *_extra are inserted lines."""
    return (
        "# scaleit, for `autoscaler check`\n"
        f"log_file: {log}\n"
        "log_level: info\n"
        "groups:\n"
        "  web:\n"
        "    interval: 500ms\n"
        "    min: 1\n"
        "    max: 20\n"
        f"{group_extra}"
        "    tolerance: 0.1\n"
        "    metrics:\n"
        "      - name: cpu\n"
        "        type: http_json\n"
        f"        url: http://127.0.0.1:{port}/app/status\n"
        f"{metric_extra}"
        "        pointer: /cpu/highPriority\n"
        "        target: 0.8\n"
        "    scaler:\n"
        "      type: http\n"
        f"      url: http://127.0.0.1:{port}/app/replicas\n"
        "      body: '{\"replicas\":{{replicas}}}'\n"
    )


@test
def test_check_unknown_key(ctx):
    log = os.path.join(ctx.tmp, "check.log")
    port = 9  # never contacted: `check` does no I/O

    good = write_config(ctx.tmp, _check_config_text(port, log), "good.yaml")
    r = run_cli(ctx.bin, ["check", "-c", good], timeout=10)
    assert r.returncode == 0, f"a valid config failed check: exit {r.returncode}\n{r.stderr}"

    cases = [
        ("group key", "cooldwon", _check_config_text(port, log, group_extra="    cooldwon: 30s\n")),
        ("source key", "pointr", _check_config_text(port, log,
                                                    metric_extra="        pointr: /cpu\n")),
    ]
    for what, key, text in cases:
        path = write_config(ctx.tmp, text, f"bad-{key}.yaml")
        line, col = find_key(text, key)
        r = run_cli(ctx.bin, ["check", "-c", path], timeout=10)
        assert r.returncode == 2, f"{what}: exit {r.returncode}, expected 2\n{r.stderr}"
        prefix = f"{path}:{line}:{col}:"
        hits = [ln for ln in r.stderr.splitlines() if ln.startswith(prefix)]
        assert hits, f"{what}: no stderr line starts with {prefix!r}:\n{r.stderr}"
        assert key in hits[0], f"{what}: the message does not name {key!r}: {hits[0]}"
        print(f"check ({what}): {hits[0]}")


# ---- h. secrets --------------------------------------------------------------------------------

@test
def test_secret_header_never_logged(ctx):
    token = "tok-" + secrets.token_hex(16)
    env = {"APP_TOKEN": token}
    app = start_app(ctx, load=1.6, replicas=2)
    auth = {"Authorization": "Bearer ${env:APP_TOKEN}"}
    cfg = scaleit_config(ctx.tmp, app, metric_extra={"headers": auth},
                         scaler_extra={"headers": auth}, log_level="debug")
    assert "${env:APP_TOKEN}" in yaml_dump(cfg)

    r = run_cli(ctx.bin, ["check", "-c", write_config(ctx.tmp, cfg)], timeout=10, env=env)
    assert r.returncode == 0, f"check failed: {r.stderr}"
    outputs = {"check stdout": r.stdout, "check stderr": r.stderr}

    d = start_daemon(ctx, cfg, env=env)
    d.wait_decisions(2, timeout=10)
    # Walk the paths that log the most: a failed measurement, a scale, a reload.
    app.inject("status", "500", count=1)
    d.wait_until(lambda: app.faults_served("status") >= 1, 5, "the fault served")
    app.set_load(2.4)
    d.wait_until(lambda: app.replicas == 3, 10, "a scale-up")
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_decisions(2, timeout=10, since=mark)
    d.stop(signal.SIGTERM)

    want = f"Bearer {token}"
    assert want in app.headers_seen("Authorization", "/app/status"), \
        f"the source did not send the header: {app.headers_seen('Authorization')}"
    puts = [r.headers.get("authorization") for r in app.requests("PUT", "/app/replicas")]
    assert puts and all(h == want for h in puts), f"the scaler did not send the header: {puts}"

    outputs.update({"log file": d.log_text(), "stderr": d.stderr(), "stdout": d.stdout()})
    for where, text in outputs.items():
        assert token not in text, f"the secret appears in the {where}"
    print(f"secret: sent on {len(app.headers_seen('Authorization'))} requests, "
          f"absent from {len(outputs)} outputs")


if __name__ == "__main__":
    sys.exit(main())
