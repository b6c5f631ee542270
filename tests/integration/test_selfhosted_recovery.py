#!/usr/bin/env python3
"""kill -9 of the master while the haproxy scaler provisions or drains, then a restart, with the
real HAProxy on 127.0.0.1 (docs/scalers/haproxy.md, "Crash safety"):

- mid-provision: the provision record in hosts.d survives; the restarted daemon runs the
  command again with the same id (fleet.py is idempotent per id, as the docs ask), adds its
  server, and no server is orphaned or made twice; the killed command is gone;
- mid-drain: the draining entry survives; the restarted daemon keeps the server drained, lets
  its session finish (drain_timeout not reached), then removes and deprovisions it once.

    python3 tests/integration/test_selfhosted_recovery.py --bin build/autoscaler
"""

import os
import re
import signal
import sys
import threading
import time
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import haproxy_world as hw  # noqa: E402
from harness import free_port, live_processes, main, run_cli, test, wait_for  # noqa: E402


def world(ctx, **kw):
    w = hw.new_world(ctx)
    path = hw.scaler_config(ctx, w, **kw)
    b = hw.start_backend(ctx, free_port(), "web1")
    assert run_cli(ctx.bin, ["add-host", "127.0.0.1", str(b.port), "-c", path]).returncode == 0
    assert run_cli(ctx.bin, ["generate", "-c", path, "--no-reload"]).returncode == 0
    return w, path, hw.start_haproxy(ctx, w)


def kill9(d):
    os.kill(d.pid, signal.SIGKILL)
    assert d.wait_exit(5) == -signal.SIGKILL


def provisioned(w):
    return {k: v for k, v in hw.entries(w)[0].items() if v.get("origin") == "provisioned"}


@test
def test_kill9_mid_provision_resumes_with_the_same_id(ctx):
    w, path, h = world(ctx)
    with open(os.path.join(ctx.tmp, "provision.sleep"), "w") as f:
        f.write("3")
    log = os.path.join(ctx.tmp, "autoscaler.log")
    d = ctx.daemon(path, log_file=log)
    hw.set_want(ctx, 2)
    wait_for(lambda: hw.entries(w)[1], 10, "a provision record")
    pid = hw.entries(w)[1][0]
    wait_for(lambda: any(f" start {pid} " in ln + " " for ln in
                         hw.lines_of(os.path.join(ctx.tmp, "provision.log"))), 5, "the command")
    kill9(d)
    # the guard stops the command the dead daemon left (SIGTERM, SIGKILL after grace)
    wait_for(lambda: not [a for a, _, _ in live_processes(ctx.tmp).values() if "provision" in a],
             10, "the provision command gone")
    assert hw.entries(w)[1] == [pid], hw.entries(w)
    assert hw.fleet_backends(ctx.tmp) == []
    os.unlink(os.path.join(ctx.tmp, "provision.sleep"))
    d2 = ctx.daemon(path, log_file=log)
    d2.wait_log(r"resuming the provision left by an earlier run: " + re.escape(pid), 10)
    d2.wait_log(r"provision " + re.escape(pid) + r" made 127\.0\.0\.1:\d+", 10)
    wait_for(lambda: len(provisioned(w)) == 1 and not hw.entries(w)[1], 10, "the entry written")
    (name, e), = provisioned(w).items()
    assert e["id"] == pid, e
    wait_for(lambda: h.servers().get(name, {}).get("admin") == 0, 10, "the server serving")
    hw.wait_seen(w["port"], {"web1", f"app-{e['port']}"}, 10)
    starts = [ln for ln in hw.lines_of(os.path.join(ctx.tmp, "provision.log")) if " start " in ln]
    assert len(starts) == 2 and all(pid in ln for ln in starts), starts  # once more, same id
    assert hw.fleet_backends(ctx.tmp) == [int(e["port"])]  # one machine, no orphan
    d2.wait_log(r"decision current=2 desired=2", 10)
    d2.stop()


def slow(port, ms, out, key):
    try:
        out[key] = ("ok", hw.http_get(port, f"/slow?ms={ms}", timeout=30), time.monotonic())
    except (urllib.error.URLError, OSError) as e:
        out[key] = ("cut", str(e), time.monotonic())


@test
def test_kill9_mid_drain_finishes_the_drain(ctx):
    w, path, h = world(ctx, drain_timeout="30s")
    log = os.path.join(ctx.tmp, "autoscaler.log")
    d = ctx.daemon(path, log_file=log)
    hw.set_want(ctx, 2)
    wait_for(lambda: len(provisioned(w)) == 1 and len(h.servers()) == 2 and
             all(s["admin"] == 0 for s in h.servers().values()), 15, "two servers")
    (name, e), = provisioned(w).items()
    out = {}
    threads = [threading.Thread(target=slow, args=(w["port"], 5000, out, k)) for k in "ab"]
    for t in threads:
        t.start()
    wait_for(lambda: h.stat()[name]["scur"] == 1, 5, "a session on the provisioned server")
    hw.set_want(ctx, 1)
    wait_for(lambda: provisioned(w)[name].get("state") == "draining" and
             h.servers()[name]["admin"] & 8, 10, "the drain")
    kill9(d)
    assert provisioned(w)[name]["state"] == "draining"
    d2 = ctx.daemon(path, log_file=log)
    d2.wait_log(r"engine\[web\]: decision current=1 desired=1", 10)
    assert name in h.servers() and h.servers()[name]["admin"] & 8  # still drained, not cut
    for t in threads:
        t.join(15)
    assert all(v[0] == "ok" for v in out.values()), out
    assert sorted(v[1] for v in out.values()) == sorted(["web1", f"app-{e['port']}"]), out
    wait_for(lambda: name not in h.servers() and not provisioned(w), 10, "removed")
    wait_for(lambda: hw.fleet_backends(ctx.tmp) == [], 10, "deprovisioned")
    done = [ln for ln in hw.lines_of(os.path.join(ctx.tmp, "deprovision.log")) if " done " in ln]
    assert len(done) == 1 and e["port"] in done[0] and e["id"] in done[0], done
    assert not d2.grep(r"shutdown sessions")
    hw.wait_seen(w["port"], {"web1"})
    d2.stop()


if __name__ == "__main__":
    if hw.HAPROXY is None:
        print("haproxy is not installed (scripts/bootstrap.sh --test installs it)")
        print("0 passed, 1 failed")
        sys.exit(1)
    sys.exit(main())
