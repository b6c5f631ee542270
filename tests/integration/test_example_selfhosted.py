#!/usr/bin/env python3
"""examples/selfhosted.yaml works as written: set up as its comments say (`init --selfhosted`
for the template, the scripts and the key; `add-host` for three app servers; `generate`), with
only the HAProxy paths, the listening port, the reload command and the intervals changed for a
test, in front of the real HAProxy; three real `autoscaler agent` processes report to the
master; their hosts reach the decision as per-replica values; an agent that stops becomes a
missing host and the fleet does not shrink (no server drained).

    python3 tests/integration/test_example_selfhosted.py --bin build/autoscaler
"""

import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import haproxy_world as hw  # noqa: E402
from harness import REPO, free_port, main, run_cli, test  # noqa: E402


def edit(path, *pairs):
    with open(path) as f:
        text = f.read()
    for a, b in pairs:
        assert a in text, (path, a)
        text = text.replace(a, b)
    with open(path, "w") as f:
        f.write(text)


@test
def test_master_three_agents_and_haproxy(ctx):
    d = os.path.join(ctx.tmp, "etc")
    r = run_cli(ctx.bin, ["init", "--selfhosted", d])
    assert r.returncode == 0, r.stderr
    sock, fport, lport = os.path.join(d, "haproxy.sock"), free_port(), free_port()
    edit(os.path.join(d, "haproxy.cfg.tmpl"), ("/run/haproxy/admin.sock", sock),
         ("bind :80", f"bind 127.0.0.1:{fport}"))
    with open(os.path.join(d, "provision.sh"), "w") as f:
        f.write(f"#!/bin/sh\nexec {sys.executable} {hw.FLEET} provision {d}\n")
    ctx.defer(lambda: hw.stop_fleet(d))
    cfg = os.path.join(d, "autoscaler.yaml")
    shutil.copy(os.path.join(REPO, "examples", "selfhosted.yaml"), cfg)
    edit(cfg, ("/run/haproxy/admin.sock", sock), ("127.0.0.1:7070", f"127.0.0.1:{lport}"),
         ("config: /etc/haproxy/haproxy.cfg", f"config: {d}/haproxy.cfg"),
         ("reload: [systemctl, reload, haproxy]",
          f"reload: [sh, -c, 'kill -USR2 \"$(cat {d}/haproxy.pid)\"']"),
         ("interval: 15s", "interval: 1s"), ("missing_after: 20s", "missing_after: 3s"),
         ("timeout: 10s", "timeout: 800ms"),
         ("log_level: info", "log_level: debug"))  # decisions with their whole reasons
    assert run_cli(ctx.bin, ["check", "-c", cfg]).returncode == 0
    backends = [hw.start_backend(ctx, free_port(), f"app{i}") for i in range(3)]
    for b in backends:
        r = run_cli(ctx.bin, ["add-host", "127.0.0.1", str(b.port), "-c", cfg])
        assert r.returncode == 0, r.stderr
    r = run_cli(ctx.bin, ["generate", "-c", cfg, "--no-reload"])
    assert r.returncode == 0, r.stdout + r.stderr
    h = hw.Haproxy(d, os.path.join(d, "haproxy.cfg"), sock, fport)
    ctx.defer(h.stop)
    hw.wait_seen(fport, {"app0", "app1", "app2"})
    # log_file: autoscaler.log, beside the configuration (a relative path is from its directory)
    master = ctx.daemon(cfg, log_file=os.path.join(d, "autoscaler.log"))
    agents = []
    for i in range(3):
        log = open(os.path.join(ctx.tmp, f"agent{i}.log"), "wb")
        agents.append(subprocess.Popen(
            [ctx.bin, "agent", "--master", f"127.0.0.1:{lport}", "--secret-file",
             os.path.join(d, "agent.key"), "--name", f"app{i}", "--interval", "1s"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL))
        log.close()
        ctx.defer(lambda p=agents[-1]: (p.poll() is None and p.kill(), p.wait(10)))
    # Every host reaches the decision (the HPA's per-pod form of the target policy); the count
    # is the three servers of hosts.d serving in the backend.
    master.wait_log(r"engine\[web\]: decision current=3 .*over 3 ready", 25)
    agents[0].send_signal(signal.SIGTERM)
    assert agents[0].wait(10) == 0
    mark = master.mark()
    line = master.wait_log(r"engine\[web\]: decision current=(\d+) desired=(\d+) .*1 missing", 15,
                           since=mark)
    assert int(line.group(2)) >= int(line.group(1)), line.string
    assert not master.grep(r"state drain")
    entries = hw.entries({"hosts": os.path.join(d, "hosts.d")})[0]
    assert len(entries) >= 3 and all("state" not in e for e in entries.values()), entries
    assert len(h.servers()) >= 3
    master.stop(signal.SIGTERM)
    master.assert_no_sanitizer_report()


if __name__ == "__main__":
    if hw.HAPROXY is None:
        print("haproxy is not installed (scripts/bootstrap.sh --test installs it)")
        print("0 passed, 1 failed")
        sys.exit(1)
    sys.exit(main())
