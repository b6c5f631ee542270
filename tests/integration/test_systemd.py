#!/usr/bin/env python3
"""deploy/systemd/autoscaler.service: its keys (Type=notify, reload by SIGHUP, the hardening,
KillMode=mixed), `systemd-analyze verify` when it is installed, the example configuration
beside it, and the daemon run the way the unit runs it with systemd played by this test: the
ExecStart= command line with $NOTIFY_SOCKET set to a datagram socket of the test (a path, or
an abstract name) gets READY=1 once it has started, ExecReload= reloads it, and SIGTERM to the
main process alone (KillMode=mixed) gets STOPPING=1 and a clean exit, the process pool's
workers stopped, well within TimeoutStopSec=.

    python3 tests/integration/test_systemd.py --bin build/autoscaler
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, live_processes, main, run_cli, test, wait_for, write_config  # noqa: E402

UNIT = os.path.join(REPO, "deploy", "systemd", "autoscaler.service")
EXAMPLE = os.path.join(REPO, "deploy", "systemd", "autoscaler.yaml")


def unit():
    """{section: {key: [values]}} of the unit file (every assignment of a key, in order)."""
    out, section = {}, None
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            m = re.match(r"^\[(\w+)\]$", line)
            if m:
                section = out.setdefault(m.group(1), {})
                continue
            key, eq, value = line.partition("=")
            assert eq and section is not None, line
            section.setdefault(key, []).append(value)
    return out


def one(svc, key):
    assert len(svc.get(key, [])) == 1, (key, svc.get(key))
    return svc[key][0]


def seconds(v):
    m = re.fullmatch(r"(\d+)(s|min)?", v)
    assert m, v
    return int(m.group(1)) * (60 if m.group(2) == "min" else 1)


@test
def test_unit_keys(ctx):
    u = unit()
    svc = u["Service"]
    assert one(svc, "Type") == "notify"
    assert one(svc, "ExecStart") == "/usr/bin/autoscaler run -c /etc/autoscaler/autoscaler.yaml"
    assert one(svc, "ExecReload") == "/bin/kill -HUP $MAINPID"
    for key, value in (("Restart", "on-failure"), ("RestartPreventExitStatus", "2"),
                       ("KillMode", "mixed"), ("DynamicUser", "yes"),
                       ("StateDirectory", "autoscaler"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("NoNewPrivileges", "yes"),
                       ("MemoryDenyWriteExecute", "yes"), ("LockPersonality", "yes"),
                       ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6")):
        assert one(svc, key) == value, (key, svc.get(key))
    assert svc["SystemCallFilter"][0] == "@system-service", svc["SystemCallFilter"]
    # Stopping covers a pool's default grace (5s) and a scale call's default timeout (<= 10s).
    assert seconds(one(svc, "TimeoutStopSec")) >= 30
    assert one(u["Install"], "WantedBy") == "multi-user.target"
    assert "man:autoscaler(1)" in one(u["Unit"], "Documentation")


@test
def test_systemd_analyze_verify(ctx):
    exe = shutil.which("systemd-analyze")
    if exe is None:
        print("SKIP: systemd-analyze is not installed (Debian: systemd); the keys are checked "
              "by test_unit_keys", flush=True)
        return
    # verify wants ExecStart='s binary and the Documentation= man pages: the ones under test.
    d = os.path.join(ctx.tmp, "unit")
    os.mkdir(d)
    with open(UNIT) as f:
        text = f.read().replace("/usr/bin/autoscaler", ctx.bin)
    with open(os.path.join(d, "autoscaler.service"), "w") as f:
        f.write(text)
    env = {**os.environ, "MANPATH": os.path.join(os.path.dirname(ctx.bin), "man")}
    r = subprocess.run([exe, "verify", os.path.join(d, "autoscaler.service")], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr


@test
def test_example_config_checks(ctx):
    with open(EXAMPLE) as f:
        text = f.read()
    assert re.search(r"^state_dir: /var/lib/autoscaler\b", text, re.M), "the StateDirectory"
    assert re.search(r"^log_file: ''", text, re.M), "stderr: the journal"
    path = write_config(ctx.tmp, text.replace("/var/lib/autoscaler", os.path.join(ctx.tmp, "st")))
    r = run_cli(ctx.bin, ["check", "-c", path])
    assert r.returncode == 0, r.stderr


class Notify:
    """systemd's end of $NOTIFY_SOCKET: a datagram socket, at a path or an abstract name."""

    def __init__(self, tmp, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"as-test-notify-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.env = os.path.join(tmp, "notify.sock")
            self.sock.bind(self.env)

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode()

    def close(self):
        self.sock.close()


def pool_config(tmp, marker):
    with open(EXAMPLE) as f:
        top = f.read().split("\ngroups:\n", 1)[0]
    top = top.replace("/var/lib/autoscaler", os.path.join(tmp, "state"))
    return top + f"""
groups:
  jobs:
    interval: 200ms
    min: 2
    max: 2
    metrics:
      - type: exec
        command: [echo, "1"]
        target: 1
    scaler:
      type: process
      command: [sh, -c, "sleep 600; :", {marker}]
      grace: 2s
"""


def exec_start(config_path, binary):
    argv = shlex.split(one(unit()["Service"], "ExecStart"))
    assert argv[0] == "/usr/bin/autoscaler" and argv[-1] == "/etc/autoscaler/autoscaler.yaml"
    return [binary] + argv[1:-1] + [config_path]


def run_as_unit(ctx, notify, marker):
    path = write_config(ctx.tmp, pool_config(ctx.tmp, marker))
    err = open(os.path.join(ctx.tmp, f"stderr-{marker}"), "wb+")
    p = subprocess.Popen(exec_start(path, ctx.bin), stdout=subprocess.DEVNULL, stderr=err,
                         env={**os.environ, "NOTIFY_SOCKET": notify.env}, cwd=ctx.tmp)
    ctx.defer(lambda: (p.poll() is None and p.kill(), p.wait(), err.close()))
    return p, err


def log(err):
    err.seek(0)
    return err.read().decode(errors="replace")


def notify_cycle(ctx, abstract):
    notify = Notify(ctx.tmp, abstract)
    ctx.defer(notify.close)
    marker = f"as-sd-{'abs' if abstract else 'path'}-{os.getpid()}"
    p, err = run_as_unit(ctx, notify, marker)
    msg = notify.recv(15)
    assert msg.split("\n")[0] == "READY=1" and "STATUS=running 1 group(s)" in msg, msg
    assert re.search(r"main: autoscaler \S+ running .*: 1 group", log(err)), log(err)
    wait_for(lambda: len(live_processes(marker)) == 2, 10, "the pool's two workers")

    # ExecReload=, as systemd runs it: the command with $MAINPID.
    reload = shlex.split(one(unit()["Service"], "ExecReload").replace("$MAINPID", str(p.pid)))
    assert subprocess.run(reload, timeout=10).returncode == 0
    wait_for(lambda: re.search(r"main: reloaded .*: 1 group", log(err)), 10, "the reload")

    # KillMode=mixed: SIGTERM to the main process only; it stops its pool itself.
    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGTERM)
    assert notify.recv(10) == "STOPPING=1"
    rc = p.wait(timeout=seconds(one(unit()["Service"], "TimeoutStopSec")))
    took = time.monotonic() - t0
    assert rc == 0, (rc, log(err)[-2000:])
    assert live_processes(marker) == {}, "a worker outlived the daemon"
    assert took < 10, took
    assert "ERROR" not in log(err) and "runtime error" not in log(err), log(err)[-2000:]


@test
def test_notify_path_socket(ctx):
    notify_cycle(ctx, abstract=False)


@test
def test_notify_abstract_socket(ctx):
    notify_cycle(ctx, abstract=True)


@test
def test_notify_socket_unusable(ctx):
    # A NOTIFY_SOCKET that is not a socket name is reported once; the daemon runs on.
    notify = Notify(ctx.tmp)
    ctx.defer(notify.close)
    notify.env = "relative/notify.sock"
    marker = f"as-sd-bad-{os.getpid()}"
    p, err = run_as_unit(ctx, notify, marker)
    wait_for(lambda: "cannot notify systemd ($NOTIFY_SOCKET): Invalid argument" in log(err), 10,
             "the warning")
    wait_for(lambda: len(live_processes(marker)) == 2, 10, "the pool's two workers")
    assert p.poll() is None
    os.kill(p.pid, signal.SIGTERM)
    assert p.wait(timeout=15) == 0
    assert live_processes(marker) == {}


if __name__ == "__main__":
    sys.exit(main())
