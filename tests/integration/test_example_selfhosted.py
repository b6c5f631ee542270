#!/usr/bin/env python3
"""examples/selfhosted.yaml works as written: the master runs the file with only its port, the
scaler script's path and the intervals changed for a test; three real `autoscaler agent`
processes report to it with the example's key; their hosts reach the decision as per-replica
values; an agent that stops becomes a missing host and the fleet does not shrink on it.

    python3 tests/integration/test_example_selfhosted.py --bin build/autoscaler
"""

import os
import shutil
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, main, test, wait_for  # noqa: E402

FLEET = """#!/bin/sh
# Stands in for the user's fleet-scale: keeps the fleet size in a file.
f="$(dirname "$0")/fleet.count"
[ -f "$f" ] || echo 3 > "$f"
if [ "$1" = --count ]; then cat "$f"; else echo "$1" > "$f"; fi
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@test
def test_master_and_three_agents(ctx):
    port = free_port()
    fleet = os.path.join(ctx.tmp, "fleet-scale")
    with open(fleet, "w") as f:
        f.write(FLEET)
    os.chmod(fleet, 0o755)
    with open(os.path.join(REPO, "examples", "selfhosted.yaml")) as f:
        text = f.read()
    for a, b in (("127.0.0.1:7070", f"127.0.0.1:{port}"),
                 ("/usr/local/bin/fleet-scale", fleet),
                 ("interval: 15s", "interval: 1s"), ("missing_after: 20s", "missing_after: 3s"),
                 ("timeout: 10s", "timeout: 800ms"),
                 ("log_level: info", "log_level: debug")):  # decisions with whole reasons
        assert a in text, a
        text = text.replace(a, b)
    shutil.copy(os.path.join(REPO, "examples", "agent.key"), os.path.join(ctx.tmp, "agent.key"))
    os.chmod(os.path.join(ctx.tmp, "agent.key"), 0o600)
    path = os.path.join(ctx.tmp, "selfhosted.yaml")
    with open(path, "w") as f:
        f.write(text)
    d = ctx.daemon(path, log_file=os.path.join(ctx.tmp, "autoscaler.log"))
    agents = []
    for i in range(3):
        log = open(os.path.join(ctx.tmp, f"agent{i}.log"), "wb")
        agents.append(subprocess.Popen(
            [ctx.bin, "agent", "--master", f"127.0.0.1:{port}", "--secret-file",
             os.path.join(ctx.tmp, "agent.key"), "--name", f"app{i}", "--interval", "1s"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL))
        log.close()
        ctx.defer(lambda p=agents[-1]: (p.poll() is None and p.kill(), p.wait(10)))
    # Every host reaches the decision (the HPA's per-pod form of the target policy).
    d.wait_log(r"engine\[web\]: decision current=3 .*over 3 ready", 20)
    agents[0].send_signal(signal.SIGTERM)
    assert agents[0].wait(10) == 0
    mark = d.mark()
    line = d.wait_log(r"engine\[web\]: decision current=(\d+) desired=(\d+) .*1 missing", 15,
                      since=mark)
    assert int(line.group(2)) >= int(line.group(1)) or int(line.group(1)) > 12, line.string
    with open(os.path.join(ctx.tmp, "fleet.count")) as f:
        assert int(f.read()) >= 2
    d.stop(signal.SIGTERM)
    d.assert_no_sanitizer_report()


if __name__ == "__main__":
    sys.exit(main())
