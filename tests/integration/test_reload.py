#!/usr/bin/env python3
"""SIGHUP reload: a changed file takes effect, references (${file:}, as a Kubernetes ConfigMap
mounted as files) are re-read, a bad file is logged and the running configuration kept, and a
process pool whose scaler options did not change keeps its workers.

    python3 tests/integration/test_reload.py --bin build/autoscaler
"""

import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import find_key, main, test, write_config, yaml_dump  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402


def config(tmp, app, max_replicas, scaler=None, interval="300ms"):
    return {
        "log_file": os.path.join(tmp, "autoscaler.log"),
        "groups": {"web": {
            "interval": interval,
            "min": 1,
            "max": max_replicas,
            "behavior": "off",   # reload is under test, not the rate limits
            "metrics": [{"name": "cpu", "type": "http_json", "url": app.url("/app/status"),
                         "pointer": "/cpu/highPriority", "timeout": "200ms", "target": 0.8}],
            "scaler": scaler or {"type": "http", "url": app.url("/app/replicas"),
                                 "get_url": app.url("/app/replicas"), "timeout": "200ms",
                                 "backoff": "50ms"},
        }},
    }


def start(ctx, load, replicas, cfg_fn):
    app = ScaleitApp(load=load, replicas=replicas, cap=None).start()
    ctx.defer(app.stop)
    cfg = cfg_fn(app)
    path = write_config(ctx.tmp, cfg)
    d = ctx.daemon(path, log_file=cfg["groups"] and os.path.join(ctx.tmp, "autoscaler.log"))
    d.wait_decisions(1, timeout=15)
    return app, path, d


def hup(d, path, text, expect):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)   # atomic, as a config manager would write it
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    return d.wait_log(expect, timeout=10, since=mark)


@test
def test_reload_changes_and_keeps(ctx):
    app, path, d = start(ctx, load=8.0, replicas=1, cfg_fn=lambda a: config(ctx.tmp, a, 3))
    d.wait_until(lambda: app.replicas == 3, 10, "capped at the first max 3")
    hup(d, path, yaml_dump(config(ctx.tmp, app, 12)), r"main: reloaded .*: 1 group")
    d.wait_until(lambda: app.replicas == 10, 10, "the new max lets it reach 8/0.8 = 10")

    # A bad file: logged with its position, the running configuration goes on.
    bad = yaml_dump(config(ctx.tmp, app, 12)).replace("    min: 1\n", "    min: 1\n    mxa: 2\n")
    line = hup(d, path, bad, r"reload failed, keeping the running configuration")
    row, col = find_key(bad, "mxa")
    assert f"{path}:{row}:{col}: unknown key 'mxa'" in line.string, line.string
    mark = d.mark()
    app.set_load(16.0)                      # cpu 1.6: wants 20, the kept max is 12
    d.wait_until(lambda: app.replicas == 12, 10, "still capped by the kept max 12")
    assert d.alive
    d.stop(signal.SIGTERM)
    d.assert_no_sanitizer_report()


@test
def test_reload_rereads_file_references(ctx):
    maxfile = os.path.join(ctx.tmp, "web-max")
    with open(maxfile, "w") as f:
        f.write("2\n")                       # a ConfigMap key mounted as a file

    def cfg(app):
        c = config(ctx.tmp, app, "${file:web-max}")
        return c
    app, path, d = start(ctx, load=8.0, replicas=1, cfg_fn=cfg)
    d.wait_until(lambda: app.replicas == 2, 10, "max 2 from the file")
    with open(maxfile + ".tmp", "w") as f:
        f.write("5\n")
    os.rename(maxfile + ".tmp", maxfile)     # kubelet swaps the file atomically
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"main: reloaded", timeout=10, since=mark)
    d.wait_until(lambda: app.replicas == 5, 10, "max 5 from the changed file")
    d.stop(signal.SIGTERM)


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return {int(l.split()[0]): l.split(None, 1)[1] for l in out.splitlines() if "sleep" in l}


@test
def test_reload_keeps_process_pool(ctx):
    # An explicit timeout: the default (80% of the interval) would change with the interval.
    pool = {"type": "process", "command": ["/bin/sleep", "300"], "grace": "1s", "timeout": "200ms"}

    def cfg(app, interval="300ms", scaler=pool):
        return config(ctx.tmp, app, 4, scaler=scaler, interval=interval)
    # The app's cpu does not depend on the pool, so the pool grows to its max, 4, and stays.
    app, path, d = start(ctx, load=1.6, replicas=1, cfg_fn=cfg)
    d.wait_until(lambda: len(children(d.pid)) == 4, 10, "four workers")
    before = children(d.pid)
    hup(d, path, yaml_dump(cfg(app, interval="400ms")), r"engine\[web\]: configuration applied$")
    d.wait_decided(3, 10, after=d.decided())
    assert children(d.pid) == before, "an unchanged scaler lost its workers on reload"
    changed = dict(pool, grace="2s")
    hup(d, path, yaml_dump(cfg(app, scaler=changed)), r"configuration applied \(new scaler\)")
    d.wait_until(lambda: len(children(d.pid)) == 4 and not set(children(d.pid)) & set(before),
                 15, "the changed scaler's own four workers, the old ones stopped")
    for pid in before:
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split()[2] == "Z", f"worker {pid} still running"
    d.stop(signal.SIGTERM)
    assert not children(d.pid) if d.alive else True


if __name__ == "__main__":
    sys.exit(main())
