#!/usr/bin/env python3
"""Faults: a slow path sharing a host with a healthy group (scenario 9 of
tests/faults/README.md).

Ten groups read a path that never answers, one group reads another path of the same
host:port; interval 1 s, timeout 800 ms. The healthy group must decide on cadence, and the
hanging groups' measurements must fail at about their timeout, not seconds later.

    python3 tests/faults/test_slowpath.py --bin build/autoscaler
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faultlib import DECISIONS, PathServer, counters, finish, main, start, test  # noqa: E402

HUNG = 10
SECONDS = 10.0
TIMEOUT_MS = 800


def group(url, replicas_pointer="/replicas"):
    return {"interval": "1s", "min": 1, "max": 10, "behavior": "off",
            "metrics": [{"name": "m", "type": "http_json", "url": url, "pointer": "/v",
                         "replicas_pointer": replicas_pointer, "timeout": f"{TIMEOUT_MS}ms",
                         "target": 1.0}],
            "scaler": {"type": "exec", "command": ["/bin/true"], "timeout": "800ms"}}


@test
def test_hanging_paths_do_not_starve_a_healthy_group(ctx):
    srv = PathServer({"/ok": {"v": 1.0, "replicas": 3}, "/hang": "hang"}).up()
    ctx.defer(srv.stop)
    groups = {f"slow{i}": group(srv.url(f"/hang?g={i}")) for i in range(HUNG)}
    groups["healthy"] = group(srv.url("/ok"))
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "log_level": DECISIONS,
           "state_dir": "", "groups": groups}
    d = start(ctx, cfg, wait=False)
    d.wait_log(r"engine\[healthy\]: decision", 15)
    # Let the hanging groups fill whatever they can fill, then measure.
    time.sleep(1.5)
    c0 = counters(d, groups=list(groups))
    mark, t0 = d.mark(), time.monotonic()
    while time.monotonic() - t0 < SECONDS:
        d.check_alive()
        time.sleep(0.1)
    took = time.monotonic() - t0
    c1 = counters(d, groups=list(groups))
    n = len(d.decisions(since=mark, group="healthy"))
    ticks = int(took)
    print(f"healthy group: {n} decisions in {took:.1f}s ({ticks} ticks) beside {HUNG} hanging "
          f"groups; /hang requests {srv.count('/hang')}", flush=True)
    assert n >= 0.9 * ticks, f"the healthy group decided {n} times in {ticks} ticks\n{d.tail()}"

    # Each hanging group's failure is reported at its timeout: the source's own timeout
    # ("timeout after N ms") or the engine's deadline ("no answer within N ms").
    lines = [ln.raw for ln in d.lines(mark) if "slow" in ln.text]
    took_ms = [int(m.group(1)) for m in
               (re.search(r"(?:timeout after|no answer within) (\d+) ?ms", ln) for ln in lines)
               if m]
    assert took_ms, "no timeout reported by the hanging groups\n" + "\n".join(lines[-20:])
    late = [t for t in took_ms if t > TIMEOUT_MS + 250]
    assert not late, f"timeouts reported late (ms): {sorted(late)[-10:]}"
    for g in groups:
        if g == "healthy":
            continue
        grew = c1[g]["measure_failures"] - c0[g]["measure_failures"]
        assert grew >= 0.8 * ticks, f"{g}: {grew} measure failures in {ticks} ticks"
    print(f"hanging groups: {len(took_ms)} timeouts reported, at {min(took_ms)}..{max(took_ms)} "
          f"ms", flush=True)
    finish(d)


if __name__ == "__main__":
    sys.exit(main())
