#!/usr/bin/env python3
"""The haproxy scaler against the real HAProxy (Debian's 2.6, master-worker mode) on 127.0.0.1,
with real backends that answer their own name (named_backend.py) and a provisioning command
that starts them (fleet.py):

- the Runtime API path: a scale-up provisions servers and traffic reaches them, a scale-down
  drains them and traffic stops reaching them, all without a reload; the deprovision command
  stops them; a reload that forgets the runtime-added servers is repaired;
- a drain never cuts an active session before drain_timeout, and cuts it at drain_timeout;
- provisioning that fails or prints garbage adds nothing, one past provision_timeout is
  stopped (its process group); HAProxy gone or answering garbage is a failed count read: the
  group holds;
- --dry-run logs the exact commands and changes nothing.

    python3 tests/integration/test_scaler_haproxy.py --bin build/autoscaler
"""

import os
import re
import sys
import threading
import time
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import haproxy_world as hw  # noqa: E402
from harness import free_port, live_processes, main, run_cli, test, wait_for  # noqa: E402


def world(ctx, manual=1, **kw):
    """hosts.d with `manual` add-host'ed backends, generate, HAProxy, the daemon's config."""
    w = hw.new_world(ctx)
    path = hw.scaler_config(ctx, w, **kw)
    names = []
    for i in range(manual):
        b = hw.start_backend(ctx, free_port(), f"web{i + 1}")
        r = run_cli(ctx.bin, ["add-host", "127.0.0.1", str(b.port), "-c", path])
        assert r.returncode == 0, r.stderr
        names.append(b.name)
    r = run_cli(ctx.bin, ["generate", "-c", path, "--no-reload"])
    assert r.returncode == 0, r.stdout + r.stderr
    h = hw.start_haproxy(ctx, w)
    return w, path, h, names


def provisioned(w):
    return {k: v for k, v in hw.entries(w)[0].items() if v.get("origin") == "provisioned"}


@test
def test_runtime_api_scale_up_and_down_without_reload(ctx):
    w, path, h, names = world(ctx)
    hw.wait_seen(w["port"], names)
    workers = h.workers()
    d = ctx.daemon(path, log_file=os.path.join(ctx.tmp, "autoscaler.log"))
    d.wait_log(r"engine\[web\]: decision current=1 desired=1", 10)
    hw.set_want(ctx, 3)
    d.wait_log(r"engine\[web\]: scaled 1->3 via haproxy", 10)
    wait_for(lambda: len(provisioned(w)) == 2, 15, "two provisioned entries")
    new = {f"app-{e['port']}" for e in provisioned(w).values()}
    hw.wait_seen(w["port"], set(names) | new, 15)
    assert h.workers() == workers, "HAProxy was reloaded"
    assert set(h.servers()) == {f"127.0.0.1_{e['port']}" for e in hw.entries(w)[0].values()}
    # each provision ran once: a finished one whose server waits to be added is not resumed
    starts = [ln for ln in hw.lines_of(os.path.join(ctx.tmp, "provision.log")) if " start " in ln]
    assert len(starts) == 2, starts
    d.wait_log(r"add server app/127\.0\.0\.1_\d+ 127\.0\.0\.1:\d+ weight 1 check inter 500ms", 5)
    # down: the two provisioned ones drain (idle, so they go at once) and are deprovisioned
    hw.set_want(ctx, 1)
    d.wait_log(r"engine\[web\]: scaled 3->1 via haproxy", 10)
    hw.wait_seen(w["port"], names, 15)
    wait_for(lambda: not provisioned(w) and len(h.servers()) == 1, 15, "the drained servers gone")
    wait_for(lambda: hw.fleet_backends(ctx.tmp) == [], 10, "the fleet deprovisioned")
    deprov = [ln for ln in hw.lines_of(os.path.join(ctx.tmp, "deprovision.log")) if " done " in ln]
    assert len(deprov) == 2, deprov
    assert h.workers() == workers, "HAProxy was reloaded"
    bad = d.grep(r"ERROR|WARN  scaler")
    assert not bad, bad[0].string
    d.stop()


@test
def test_reload_that_forgets_servers_is_repaired(ctx):
    w, path, h, names = world(ctx)
    d = ctx.daemon(path, log_file=os.path.join(ctx.tmp, "autoscaler.log"))
    hw.set_want(ctx, 2)
    wait_for(lambda: len(provisioned(w)) == 1 and len(h.servers()) == 2, 15, "a provisioned one")
    name = next(iter(provisioned(w)))
    # HAProxy reloaded with the old file (without the new server): HAProxy forgets it...
    mark = d.mark()
    h.reload()
    assert name not in h.servers() or d.grep(r"add server app/" + re.escape(name), mark)
    # ...and the daemon adds it again, at its next round, without a provision
    d.wait_log(r"add server app/" + re.escape(name), 10, since=mark)
    wait_for(lambda: h.servers().get(name, {}).get("admin") == 0, 10, "the server enabled")
    new = f"app-{provisioned(w)[name]['port']}"
    hw.wait_seen(w["port"], set(names) | {new}, 10)
    starts = [ln for ln in hw.lines_of(os.path.join(ctx.tmp, "provision.log")) if " start " in ln]
    assert len(starts) == 1, starts
    # generate + reload now keeps it in the file: the next reload loses nothing
    r = run_cli(ctx.bin, ["generate", "-c", path])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "reloaded HAProxy" in r.stdout
    with open(w["cfg"]) as f:
        assert f"server {name} 127.0.0.1:" in f.read()
    wait_for(lambda: name in h.servers(), 10, "the server in the new process")
    hw.wait_seen(w["port"], set(names) | {new}, 10)
    d.stop()


def slow(port, ms, out, key):
    """A request that keeps a session open ms milliseconds: ("ok" | "cut", text, end time)."""
    try:
        out[key] = ("ok", hw.http_get(port, f"/slow?ms={ms}", timeout=30), time.monotonic())
    except (urllib.error.URLError, OSError) as e:
        out[key] = ("cut", str(e), time.monotonic())


@test
def test_drain_waits_for_sessions_until_drain_timeout(ctx):
    w, path, h, names = world(ctx, manual=0, drain_timeout="4s")
    hw.set_want(ctx, 2)
    d = ctx.daemon(path, log_file=os.path.join(ctx.tmp, "autoscaler.log"))
    wait_for(lambda: len(provisioned(w)) == 2 and
             all(s["admin"] == 0 for s in h.servers().values()) and len(h.servers()) == 2, 20,
             "two servers")
    # one long session each (round robin); the scale-down drains one of them
    out = {}
    threads = [threading.Thread(target=slow, args=(w["port"], 2500, out, k)) for k in "ab"]
    for t in threads:
        t.start()
    wait_for(lambda: sum(s["scur"] for s in h.stat().values()) == 2, 5, "two sessions")
    hw.set_want(ctx, 1)
    d.wait_log(r"set server app/\S+ state drain", 10)
    drained = [n for n, e in hw.entries(w)[0].items() if e.get("state") == "draining"]
    assert len(drained) == 1, hw.entries(w)
    # while its session lasts, the server stays (drained), though drain_timeout is not over
    assert h.servers()[drained[0]]["admin"] & 8
    for t in threads:
        t.join(10)
    assert out["a"][0] == "ok" and out["b"][0] == "ok", out
    wait_for(lambda: drained[0] not in h.servers(), 10, "the drained server removed")
    assert not d.grep(r"shutdown sessions")
    # a session longer than drain_timeout: cut at drain_timeout, never before
    hw.set_want(ctx, 2)
    wait_for(lambda: len(h.servers()) == 2 and all(s["admin"] == 0 for s in h.servers().values()),
             20, "two servers again")
    out = {}
    threads = [threading.Thread(target=slow, args=(w["port"], 7000, out, k)) for k in "ab"]
    for t in threads:
        t.start()
    wait_for(lambda: sum(s["scur"] for s in h.stat().values()) == 2, 5, "two sessions")
    mark = d.mark()
    t_drain = time.monotonic()
    hw.set_want(ctx, 1)
    d.wait_log(r"set server app/\S+ state drain", 10, since=mark)
    for t in threads:
        t.join(15)
    cut = [v for v in out.values() if v[0] == "cut"]
    ok = [v for v in out.values() if v[0] == "ok"]
    assert len(cut) == 1 and len(ok) == 1, out
    assert cut[0][2] - t_drain >= 3.9, (cut, t_drain)  # drain_timeout after the drain began
    assert d.grep(r"shutdown sessions server app/", mark)
    d.stop()


@test
def test_provision_failures_add_nothing(ctx):
    w, path, h, names = world(ctx)
    d = ctx.daemon(path, log_file=os.path.join(ctx.tmp, "autoscaler.log"))
    open(os.path.join(ctx.tmp, "provision.fail"), "w").close()
    hw.set_want(ctx, 2)
    d.wait_log(r"provision p\d+-[0-9a-f]+ failed \(exit 3\): fleet: no capacity left", 10)
    os.unlink(os.path.join(ctx.tmp, "provision.fail"))
    open(os.path.join(ctx.tmp, "provision.garbage"), "w").close()
    d.wait_log(r"provision \S+ printed \"127\.0\.0\.1:8080 extra; bind :9999\" as its last line",
               10)
    assert set(h.servers()) == {f"127.0.0.1_{e['port']}" for e in hw.entries(w)[0].values()}
    assert len(hw.entries(w)[0]) == 1 and not hw.entries(w)[1]
    hw.wait_seen(w["port"], names)
    d.stop()


@test
def test_provision_timeout_stops_the_command(ctx):
    w, path, h, names = world(ctx, provision_timeout="1s")
    with open(os.path.join(ctx.tmp, "provision.sleep"), "w") as f:
        f.write("30")
    d = ctx.daemon(path, log_file=os.path.join(ctx.tmp, "autoscaler.log"))
    hw.set_want(ctx, 2)
    line = d.wait_log(r"provision (p\d+-[0-9a-f]+) failed \(timeout after 1000 ms\): no output on "
                      r"stderr; the server it was making, if any, is not in the pool", 10)
    # its process group got SIGTERM (SIGKILL after grace): nothing of it runs; no record left
    wait_for(lambda: not [a for a, _, _ in live_processes(ctx.tmp).values() if "provision" in a],
             5, "the provision command gone")
    assert line.group(1) not in hw.entries(w)[1]
    d.stop()


@test
def test_haproxy_gone_or_garbage_holds(ctx):
    w, path, h, names = world(ctx)
    d = ctx.daemon(path, log_file=os.path.join(ctx.tmp, "autoscaler.log"))
    d.wait_log(r"decision current=1 desired=1", 10)
    h.stop()
    hw.set_want(ctx, 0)
    d.wait_log(r"reading the replica count via haproxy failed: show servers state: connect", 10)
    assert not d.grep(r"scaled 1->0|would scale")
    # a socket that answers garbage: the same
    import socket as so
    if os.path.exists(w["sock"]):
        os.unlink(w["sock"])
    srv = so.socket(so.AF_UNIX, so.SOCK_STREAM)
    srv.bind(w["sock"])
    srv.listen(8)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            c.recv(4096)
            c.sendall(b"1\n# be_id be_name\nlol\n")
            c.close()
    t = threading.Thread(target=serve)
    t.start()
    ctx.defer(lambda: (stop.set(), t.join(5), srv.close()))
    mark = d.mark()
    d.wait_log(r"reading the replica count via haproxy failed: show servers state: ", 10,
               since=mark)
    assert not d.grep(r"scaled 1->0")
    assert len(hw.entries(w)[0]) == 1
    d.stop()


@test
def test_dry_run_describes_and_changes_nothing(ctx):
    w, path, h, names = world(ctx)
    hw.set_want(ctx, 3)
    r = run_cli(ctx.bin, ["run", "-c", path, "--once", "--dry-run"], timeout=20)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(ctx.tmp, "autoscaler.log")) as f:
        log = f.read()
    m = re.search(r"dry-run: would scale 1->3 via haproxy: run \[.*fleet\.py provision .*\] 2 "
                  r"time\(s\), then for each HOST:PORT it prints: add server app/HOST_PORT "
                  r"HOST:PORT weight 1 check inter 500ms; enable server app/HOST_PORT", log)
    assert m, log[-2000:]
    assert not os.path.exists(os.path.join(ctx.tmp, "provision.log"))
    assert len(h.servers()) == 1
    # an entry whose server HAProxy lacks: a run would add it, a dry run only reads
    b = hw.start_backend(ctx, free_port(), "web2")
    r = run_cli(ctx.bin, ["add-host", "127.0.0.1", str(b.port), "-c", path])
    assert r.returncode == 0, r.stderr
    r = run_cli(ctx.bin, ["run", "-c", path, "--once", "--dry-run"], timeout=20)
    assert r.returncode == 0, r.stderr
    assert len(h.servers()) == 1, h.servers()


if __name__ == "__main__":
    if hw.HAPROXY is None:
        print("haproxy is not installed (scripts/bootstrap.sh --test installs it)")
        print("0 passed, 1 failed")
        sys.exit(1)
    sys.exit(main())
