#!/usr/bin/env python3
"""Faults: a SIGHUP storm and broken configuration files (scenario 6 of
tests/faults/README.md).

Three groups run at 300 ms. 200 SIGHUPs in 2 s; then the file is replaced by a broken one, a
half-written one, an empty one, and one whose ${file:} reference is a FIFO (no writer: a
reader that blocks on it would never finish). Invariants: the daemon keeps the running
configuration, every group keeps deciding on cadence, it never crashes and no sanitizer
reports anything; a good file afterwards is applied.

    python3 tests/faults/test_reload.py --bin build/autoscaler [-k NAME]
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faultlib import DECISIONS, PathServer, finish, main, start, test, write_config  # noqa: E402
from harness import yaml_dump  # noqa: E402

INTERVAL = 0.3
GROUPS = ("a", "b", "c")


def cfg_text(ctx, srv, groups=GROUPS, max_ref=None):
    def group(name):
        return {"interval": f"{int(INTERVAL * 1000)}ms", "min": 1,
                "max": max_ref if max_ref else 10, "behavior": "off",
                "metrics": [{"name": "m", "type": "http_json", "url": srv.url(f"/{name}"),
                             "pointer": "/v", "replicas_pointer": "/replicas",
                             "timeout": "200ms", "target": 1.0}],
                "scaler": {"type": "exec", "command": ["/bin/true"], "timeout": "200ms"}}
    return yaml_dump({"log_file": os.path.join(ctx.tmp, "autoscaler.log"),
                      "log_level": DECISIONS, "state_dir": "",
                      "groups": {g: group(g) for g in groups}})


def setup(ctx):
    # Each measurement takes 40 ms, as a real endpoint's might: a storm of reloads every 10 ms
    # finds every group measuring.
    doc = ("delay", 0.04, {"v": 1.0, "replicas": 3})
    srv = PathServer({f"/{g}": doc for g in GROUPS + ("d",)}).up()
    ctx.defer(srv.stop)
    text = cfg_text(ctx, srv)
    d = start(ctx, text, wait=False)
    for g in GROUPS:
        d.wait_log(rf"engine\[{g}\]: decision", 15)
    return srv, text, d


def on_cadence(d, since, seconds, share, what):
    """Every group logged at least share of the decisions `seconds` allow since the mark."""
    want = seconds / INTERVAL
    got = {g: len(d.decisions(since=since, group=g)) for g in GROUPS}
    slow = {g: n for g, n in got.items() if n < share * want - 1}
    assert not slow, (f"{what}: decisions per group {got} in {seconds:.1f}s, the interval "
                      f"allows {want:.0f}\n{d.tail()}")
    return got


@test
def test_sighup_storm_keeps_cadence(ctx):
    srv, text, d = setup(ctx)
    mark, t0 = d.mark(), time.monotonic()
    for i in range(200):                            # 200 SIGHUPs in 2 s
        d.send_signal(signal.SIGHUP)
        time.sleep(max(0.0, t0 + (i + 1) * 0.01 - time.monotonic()))
    time.sleep(0.5)
    took = time.monotonic() - t0
    got = on_cadence(d, mark, took, 0.8, "SIGHUP storm")
    applied = len(d.grep(r"main: reloaded .*: 3 group\(s\)", mark))
    skipped = sum(1 for _ in d.grep(r"round skipped", mark))
    print(f"storm: 200 SIGHUPs in {took:.1f}s: {applied} reloads applied, decisions {got}, "
          f"rounds skipped {skipped}", flush=True)
    assert applied >= 1
    # Afterwards: every group on cadence again.
    mark, t0 = d.mark(), time.monotonic()
    time.sleep(1.5)
    on_cadence(d, mark, time.monotonic() - t0, 0.8, "after the storm")
    finish(d)


BROKEN = "groups:\n  a: {interval: 300ms, max: [1, 2\n  b: ]]]\n"


@test
def test_broken_files_keep_the_running_configuration(ctx):
    srv, text, d = setup(ctx)
    path = os.path.join(ctx.tmp, "config.yaml")
    fifo = os.path.join(ctx.tmp, "max.fifo")
    os.mkfifo(fifo)
    cases = [("broken", BROKEN), ("half-written", text[:len(text) // 2]), ("empty", ""),
             ("FIFO in ${file:}", cfg_text(ctx, srv, max_ref="${file:" + fifo + "}"))]
    for what, body in cases:
        mark, t0 = d.mark(), time.monotonic()
        with open(path, "w") as f:
            f.write(body)
        d.send_signal(signal.SIGHUP)
        m = d.wait_log(r"main: reload failed, keeping the running configuration: (.*)$", 5,
                       since=mark)
        print(f"{what}: {m.group(1)[:150]}", flush=True)
        time.sleep(1.2)
        on_cadence(d, mark, time.monotonic() - t0, 0.8, what)
        assert not d.grep(r"main: reloaded", mark), f"{what}: applied"

    # A good file afterwards (one more group) is applied.
    mark = d.mark()
    write_config(ctx.tmp, cfg_text(ctx, srv, groups=GROUPS + ("d",)))
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"main: reloaded .*: 4 group\(s\)", 5, since=mark)
    d.wait_log(r"engine\[d\]: decision", 5, since=mark)
    finish(d)


if __name__ == "__main__":
    sys.exit(main())
