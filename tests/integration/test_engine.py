#!/usr/bin/env python3
"""The engine: a dead endpoint in one group never delays another, and hundreds of groups
run in one process, each on its own interval.

    python3 tests/integration/test_engine.py --bin build/autoscaler
"""

import datetime
import os
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import free_port, main, test, wait_for, write_config  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402


def group(app, interval, timeout, max_replicas=10):
    return {"interval": interval, "max": max_replicas,
            "metrics": [{"name": "cpu", "type": "http_json", "url": app.url("/app/status"),
                         "pointer": "/cpu/highPriority", "timeout": timeout, "target": 0.8}],
            "scaler": {"type": "http", "url": app.url("/app/replicas"),
                       "get_url": app.url("/app/replicas"), "timeout": timeout}}


def ts(line):
    return datetime.datetime.strptime(line.ts, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


@test
def test_dead_endpoint_does_not_delay_others(ctx):
    healthy = ScaleitApp(load=1.6, replicas=2).start()
    dead = ScaleitApp(load=1.6, replicas=2, hang_s=5.0).start()
    ctx.defer(healthy.stop)
    ctx.defer(dead.stop)
    dead.inject("status", "hang")               # every status request hangs 5 s
    dead.inject("get", "hang")
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"),
           "log_level": "debug",  # a line for every decision, to time the rounds by
           "groups": {"slow": group(dead, "1s", "900ms"), "fast": group(healthy, "200ms", "150ms")}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    d.wait_until(lambda: len(d.decisions(group="fast")) >= 25, 20, "25 rounds of the fast group")
    fast = [ts(x.line) for x in d.decisions(group="fast")]
    gaps = [b - a for a, b in zip(fast, fast[1:])]
    print(f"fast group: {len(fast)} decisions, largest gap {max(gaps) * 1000:.0f} ms "
          f"while the slow group timed out {len(d.grep('timeout after'))} times")
    assert max(gaps) < 0.45, f"the fast group waited: gaps {gaps}"
    assert d.grep(r"source/http_json\[slow/cpu\]: .*timeout after"), d.tail()
    d.stop(signal.SIGTERM)
    d.assert_no_sanitizer_report()


@test
def test_many_groups(ctx):
    # The target is the demo app (C, libmicrohttpd): a Python server would be the bottleneck.
    port = free_port()
    app = subprocess.Popen([ctx.bin, "demo-app", "--port", str(port)], stderr=subprocess.DEVNULL,
                           start_new_session=True)
    ctx.defer(lambda: (app.terminate(), app.wait(5)))
    wait_for(lambda: tcp_open(port), 10, "the demo app")
    n = 500
    url = f"http://127.0.0.1:{port}"
    groups = {f"g{i}": {"interval": "1s", "max": 10,
                        "metrics": [{"name": "cpu", "type": "http_json", "url": url + "/app/status",
                                     "pointer": "/cpu/highPriority",
                                     "replicas_pointer": "/replicas", "target": 0.8}],
                        "scaler": {"type": "http", "url": url + "/x"}} for i in range(n)}
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"),
           "log_level": "debug",  # a line for every decision, to count the rounds by
           "groups": groups}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--dry-run"], log_file=cfg["log_file"])
    d.wait_until(lambda: len({x.group for x in d.decisions()}) == n, 30,
                 f"a decision from each of the {n} groups")
    mark = d.mark()
    d.wait_until(lambda: len(d.decisions(since=mark)) >= 3 * n, 30, "three more rounds each")
    errors = [ln for ln in d.lines() if ln.level == "ERROR"]
    assert not errors, errors[:5]
    d.stop(signal.SIGTERM, timeout=10)


def tcp_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
