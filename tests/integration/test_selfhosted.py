#!/usr/bin/env python3
"""The self-hosted mode as its users know it, with the real HAProxy (master-worker) on 127.0.0.1:

- `init --selfhosted DIR` writes the starter files (agent.key 0600, scripts 0755, hosts.d/),
  refuses to overwrite without --force, and `check` accepts the configuration as written;
- `add-host` / `remove-host` and hostile hosts and ports (newlines, spaces, '#', quotes,
  options, ports out of range): rejected, nothing written; a hand-edited entry that would
  inject configuration stops `generate`;
- `generate` runs `haproxy -c` on the rendered file before it replaces the live one: a failed
  check leaves the live file as it was and prints HAProxy's message; a good one replaces it and
  reloads HAProxy (SIGUSR2 to the master), and traffic follows the pool;
- the whole world: init -> add-host -> generate -> HAProxy -> the master (`run`) -> two real
  `autoscaler agent`s reporting this host's CPU; a CPU load makes the master provision servers
  through the starter's provision.sh, and traffic reaches them.

    python3 tests/integration/test_selfhosted.py --bin build/autoscaler
"""

import os
import re
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import haproxy_world as hw  # noqa: E402
from harness import free_port, main, run_cli, test, wait_for  # noqa: E402

STARTER = ["autoscaler.yaml", "haproxy.cfg.tmpl", "provision.sh", "deprovision.sh", "agent.key"]


def init(ctx, name="sh"):
    d = os.path.join(ctx.tmp, name)
    r = run_cli(ctx.bin, ["init", "--selfhosted", d])
    assert r.returncode == 0, r.stderr
    return d


def edit(path, *pairs):
    with open(path) as f:
        text = f.read()
    for a, b in pairs:
        assert a in text, (path, a)
        text = text.replace(a, b)
    with open(path, "w") as f:
        f.write(text)


def snapshot(d):
    out = {}
    for name in STARTER:
        with open(os.path.join(d, name), "rb") as f:
            out[name] = f.read()
    return out


@test
def test_init_writes_starter_files_that_check_accepts(ctx):
    d = init(ctx)
    modes = {n: stat.S_IMODE(os.stat(os.path.join(d, n)).st_mode) for n in STARTER}
    assert modes["agent.key"] == 0o600, modes
    assert modes["provision.sh"] == 0o755 and modes["deprovision.sh"] == 0o755, modes
    assert os.path.isdir(os.path.join(d, "hosts.d"))
    with open(os.path.join(d, "agent.key")) as f:
        key = f.read().strip()
    assert len(key) == 44, key  # 32 random bytes, base64
    r = run_cli(ctx.bin, ["check", "-c", os.path.join(d, "autoscaler.yaml")])
    assert r.returncode == 0 and "ok (1 group)" in r.stdout, r.stdout + r.stderr
    # no overwrite without --force; with it, a new key, still 0600
    before = snapshot(d)
    r = run_cli(ctx.bin, ["init", "--selfhosted", d])
    assert r.returncode == 2 and "exists" in r.stderr, r.stderr
    assert snapshot(d) == before
    os.chmod(os.path.join(d, "agent.key"), 0o644)
    r = run_cli(ctx.bin, ["init", "--selfhosted", d, "--force"])
    assert r.returncode == 0, r.stderr
    assert snapshot(d)["agent.key"] != before["agent.key"]
    assert stat.S_IMODE(os.stat(os.path.join(d, "agent.key")).st_mode) == 0o600
    # the starter template renders and passes HAProxy's own check as written
    r = run_cli(ctx.bin, ["add-host", "10.0.0.11", "8080", "-c", os.path.join(d, "autoscaler.yaml")])
    assert r.returncode == 0, r.stderr
    edit(os.path.join(d, "autoscaler.yaml"),
         ("config: /etc/haproxy/haproxy.cfg", f"config: {d}/haproxy.cfg"))
    r = run_cli(ctx.bin, ["generate", "-c", os.path.join(d, "autoscaler.yaml"), "--no-reload"])
    assert r.returncode == 0, r.stdout + r.stderr
    with open(os.path.join(d, "haproxy.cfg")) as f:
        assert "    server 10.0.0.11_8080 10.0.0.11:8080 weight 1 check\n" in f.read()
    r = run_cli(ctx.bin, ["init", "--selfhosted"])
    assert r.returncode == 2
    r = run_cli(ctx.bin, ["init", "--selfhosted", "--help"])
    assert r.returncode == 0 and r.stdout.startswith("usage: autoscaler init --selfhosted DIR")


HOSTILE_HOSTS = ["app1\nserver evil 6.6.6.6:80", "app1 backup", "app1#", "app1\"", "'app1'",
                 "app1;show info", "--weight", "-c", "app1\r", "", "app_1", "[::1", "10.0.0.1/8",
                 "fe80::1%eth0", "app1\t"]
HOSTILE_PORTS = ["0", "65536", "80 check", "80\n", "-80", "+80", "0x50", "080", "", "8o"]


@test
def test_hostile_hosts_and_ports_are_rejected(ctx):
    d = init(ctx)
    cfg = os.path.join(d, "autoscaler.yaml")
    hosts = os.path.join(d, "hosts.d")
    for h in HOSTILE_HOSTS:
        r = run_cli(ctx.bin, ["add-host", h, "8080", "-c", cfg])
        assert r.returncode == 2, (h, r.stdout, r.stderr)
        assert r.stderr.startswith("autoscaler add-host: "), r.stderr
    for p in HOSTILE_PORTS:
        r = run_cli(ctx.bin, ["add-host", "10.0.0.1", p, "-c", cfg])
        assert r.returncode == 2, (p, r.stdout, r.stderr)
    for w in ["-1", "257", "1 check", "1\n", "x"]:
        r = run_cli(ctx.bin, ["add-host", "10.0.0.1", "80", "--weight", w, "-c", cfg])
        assert r.returncode == 2, (w, r.stderr)
    assert os.listdir(hosts) == [], os.listdir(hosts)
    # accepted forms, canonical names
    for args, name in ((["APP1.Example.com", "80"], "app1.example.com_80"),
                       (["[2001:db8::1]", "443"], "2001_db8__1_443"),
                       (["10.0.0.7", "8080", "--weight", "0"], "10.0.0.7_8080")):
        r = run_cli(ctx.bin, ["add-host"] + args + ["-c", cfg])
        assert r.returncode == 0, r.stderr
        assert os.path.exists(os.path.join(hosts, name + ".host")), os.listdir(hosts)
    r = run_cli(ctx.bin, ["remove-host", "app1.example.com", "80", "-c", cfg])
    assert r.returncode == 0, r.stderr
    r = run_cli(ctx.bin, ["remove-host", "app1.example.com", "80", "-c", cfg])
    assert r.returncode == 1 and "is not in" in r.stderr
    # a hand-edited entry that would smuggle a line into HAProxy's file stops generate
    edit(cfg, ("config: /etc/haproxy/haproxy.cfg", f"config: {d}/haproxy.cfg"))
    with open(os.path.join(d, "haproxy.cfg"), "w") as f:
        f.write("# live\n")
    with open(os.path.join(hosts, "evil_80.host"), "w") as f:
        f.write("host=evil\nserver x 6.6.6.6:80\nport=80\n")
    r = run_cli(ctx.bin, ["generate", "-c", cfg])
    assert r.returncode == 2 and "evil_80.host:2:1: expected key=value" in r.stderr, r.stderr
    with open(os.path.join(hosts, "evil_80.host"), "w") as f:
        f.write("host=evil backup\nport=80\n")
    r = run_cli(ctx.bin, ["generate", "-c", cfg])
    assert r.returncode == 2 and "host: not a host name" in r.stderr, r.stderr
    with open(os.path.join(d, "haproxy.cfg")) as f:
        assert f.read() == "# live\n"


@test
def test_generate_checks_before_it_replaces_and_reloads(ctx):
    w = hw.new_world(ctx)
    path = hw.scaler_config(ctx, w)
    b1 = hw.start_backend(ctx, free_port(), "web1")
    b2 = hw.start_backend(ctx, free_port(), "web2")
    assert run_cli(ctx.bin, ["add-host", "127.0.0.1", str(b1.port), "-c", path]).returncode == 0
    r = run_cli(ctx.bin, ["generate", "-c", path, "--no-reload"])
    assert r.returncode == 0, r.stderr
    h = hw.start_haproxy(ctx, w)
    hw.wait_seen(w["port"], {"web1"})
    # a template HAProxy refuses: the live file stays, HAProxy's message is printed, no reload
    with open(w["tmpl"]) as f:
        good = f.read()
    with open(w["tmpl"], "w") as f:
        f.write(good.replace("balance roundrobin", "balance nosuchalgo"))
    with open(w["cfg"], "rb") as f:
        live = f.read()
    assert run_cli(ctx.bin, ["add-host", "127.0.0.1", str(b2.port), "-c", path]).returncode == 0
    workers = h.workers()
    r = run_cli(ctx.bin, ["generate", "-c", path])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "balance only supports" in r.stderr and "[ALERT]" in r.stderr, r.stderr
    assert "the check failed" in r.stderr
    with open(w["cfg"], "rb") as f:
        assert f.read() == live
    assert [n for n in os.listdir(ctx.tmp) if n.startswith(".haproxy.cfg.")] == []
    assert h.workers() == workers
    hw.wait_seen(w["port"], {"web1"})
    # fixed: replaced (keeping the live file's mode), checked, reloaded; traffic reaches both
    with open(w["tmpl"], "w") as f:
        f.write(good)
    os.chmod(w["cfg"], 0o640)
    r = run_cli(ctx.bin, ["generate", "-c", path])
    assert r.returncode == 0 and "reloaded HAProxy" in r.stdout, r.stdout + r.stderr
    assert stat.S_IMODE(os.stat(w["cfg"]).st_mode) == 0o640
    hw.wait_seen(w["port"], {"web1", "web2"})
    # remove-host + generate: traffic stops reaching it
    assert run_cli(ctx.bin, ["remove-host", "127.0.0.1", str(b1.port), "-c", path]).returncode == 0
    r = run_cli(ctx.bin, ["generate", "-c", path])
    assert r.returncode == 0, r.stderr
    hw.wait_seen(w["port"], {"web2"})
    # a failing reload command: the file is replaced, the exit code says the reload failed
    hw.scaler_config(ctx, w)
    edit(path, ('reload: [sh, -c,', 'reload: [sh, -c, "exit 7", x, '))
    r = run_cli(ctx.bin, ["generate", "-c", path])
    assert r.returncode == 1 and "the reload failed" in r.stderr, r.stdout + r.stderr


def burn(ctx, seconds):
    p = subprocess.Popen([sys.executable, "-c",
                          f"import time\nt=time.time()+{seconds}\nwhile time.time()<t: pass"])
    ctx.defer(lambda: (p.poll() is None and p.kill(), p.wait(5)))
    return p


@test
def test_selfhosted_world_end_to_end(ctx):
    d = init(ctx)
    cfg = os.path.join(d, "autoscaler.yaml")
    sock, fport, lport = os.path.join(d, "haproxy.sock"), free_port(), free_port()
    edit(os.path.join(d, "haproxy.cfg.tmpl"), ("/run/haproxy/admin.sock", sock),
         ("bind :80", f"bind 127.0.0.1:{fport}"))
    with open(os.path.join(d, "provision.sh"), "w") as f:
        f.write(f'#!/bin/sh\nexec {sys.executable} {hw.FLEET} provision {d}\n')
    with open(os.path.join(d, "deprovision.sh"), "w") as f:
        f.write(f'#!/bin/sh\nexec {sys.executable} {hw.FLEET} deprovision {d} "$1" "$2" '
                f'"$AUTOSCALER_PROVISION_ID"\n')
    ctx.defer(lambda: hw.stop_fleet(d))
    edit(cfg, ("/run/haproxy/admin.sock", sock), ("127.0.0.1:7070", f"127.0.0.1:{lport}"),
         ("log_level: info", "log_level: debug"),  # decision lines with their whole reasons
         ("interval: 15s", "interval: 1s"), ("target: 0.60", "target: 0.20"),
         ("max: 10", "max: 4"), ("config: /etc/haproxy/haproxy.cfg", f"config: {d}/haproxy.cfg"),
         ("reload: [systemctl, reload, haproxy]",
          f"reload: [sh, -c, 'kill -USR2 \"$(cat {d}/haproxy.pid)\"']"))
    assert run_cli(ctx.bin, ["check", "-c", cfg]).returncode == 0
    backends = [hw.start_backend(ctx, free_port(), f"web{i}") for i in (1, 2)]
    for b in backends:
        r = run_cli(ctx.bin, ["add-host", "127.0.0.1", str(b.port)], cwd=d)  # ./hosts.d
        assert r.returncode == 0, r.stderr
    r = run_cli(ctx.bin, ["generate", "--no-reload"], cwd=d)  # ./autoscaler.yaml
    assert r.returncode == 0, r.stderr
    h = hw.Haproxy(d, os.path.join(d, "haproxy.cfg"), sock, fport)
    ctx.defer(h.stop)
    hw.wait_seen(fport, {"web1", "web2"})
    # log_file: autoscaler.log, beside the configuration (a relative path is from its directory)
    master = ctx.daemon(cfg, log_file=os.path.join(d, "autoscaler.log"))
    for b in backends:
        log = open(os.path.join(ctx.tmp, f"agent-{b.name}.log"), "wb")
        a = subprocess.Popen([ctx.bin, "agent", "--master", f"127.0.0.1:{lport}", "--secret-file",
                              os.path.join(d, "agent.key"), "--name", b.name, "--interval", "1s"],
                             stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        ctx.defer(lambda p=a: (p.poll() is None and p.terminate(), p.wait(10)))
    # one core busy: the hosts' CPU is at least 0.5 of 2 cores, over 0.20: more servers
    burn(ctx, 25)
    master.wait_log(r"engine\[web\]: decision current=2 desired=[34] cpu=[0-9.]+ reason=\"cpu "
                    r"avg=[0-9.]+ over 2 ready target=0\.2", 25)
    master.wait_log(r"engine\[web\]: scaled 2->[34] via haproxy", 10)
    wait_for(lambda: any(e.get("origin") == "provisioned"
                         for e in hw.entries({"hosts": os.path.join(d, "hosts.d")})[0].values()),
             20, "a provisioned server")
    ports = [int(e["port"]) for e in hw.entries({"hosts": os.path.join(d, "hosts.d")})[0].values()
             if e.get("origin") == "provisioned"]
    wait_for(lambda: {f"app-{p}" for p in ports} <= hw.seen(fport, 16), 15,
             "traffic on the provisioned servers")
    assert master.grep(r"provisioning a server: p\d+-[0-9a-f]{8}")
    master.stop()


if __name__ == "__main__":
    if hw.HAPROXY is None:
        print("haproxy is not installed (scripts/bootstrap.sh --test installs it)")
        print("0 passed, 1 failed")
        sys.exit(1)
    sys.exit(main())
