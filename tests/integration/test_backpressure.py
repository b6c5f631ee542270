#!/usr/bin/env python3
"""Backpressure (issue 11, item 2): when the groups ask for more rounds than the daemon can
measure at once, at most `rounds_in_flight` rounds measure at once, the others wait
their turn in order (their deadlines not running), late ticks coalesce, every group's interval
stretches alike, the overload is said once (a WARN with the achieved rate, and /metrics), and
it ends by itself when the endpoint is fast again.

The endpoint is Python's ThreadingHTTPServer on 127.0.0.1: /slow answers after DELAY seconds
(0.25 s, then 0) and the server records how many requests it holds at once. 40 groups every
500 ms with 4 rounds in flight: 80 rounds a second are asked for, 16 a second fit.
Before the fix all 40 requests were in flight at once, and nothing said so.

    python3 tests/integration/test_backpressure.py --bin build/autoscaler
"""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import free_port, main, test, wait_for, write_config  # noqa: E402
from slow_server import SlowServer  # noqa: E402
from api_helpers import Api  # noqa: E402

GROUPS = 40
IN_FLIGHT = 4


def metrics(port):
    return Api(f"http://127.0.0.1:{port}").samples()


def decided(port):
    """Decisions made so far per group (/metrics: logged or not, docs/logging.md)."""
    n = {f"g{i}": 0 for i in range(GROUPS)}
    for key, value in metrics(port).items():
        m = re.match(r'^autoscaler_decisions_total\{group="([^"]+)",', key)
        if m:
            n[m.group(1)] += int(value)
    return n


def since(before, after):
    return {g: after[g] - before[g] for g in after}


@test
def test_overload_bounded_fair_said_once_and_recovers(ctx):
    srv = SlowServer(0.25)
    url = srv.start(ctx)
    api = free_port()
    groups = {f"g{i}": {"interval": "500ms", "max": 10,
                        "metrics": [{"name": "cpu", "type": "http_json", "url": url + "/slow",
                                     "pointer": "/cpu", "replicas_pointer": "/replicas",
                                     "timeout": "450ms", "target": 0.8}],
                        "scaler": {"type": "http", "url": url + "/scale"}}
              for i in range(GROUPS)}
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "rounds_in_flight": IN_FLIGHT, "http": {"listen": f"127.0.0.1:{api}"},
           "groups": groups}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--dry-run"], log_file=cfg["log_file"])
    warn = d.wait_log(r"WARN  engine: overloaded: rounds start at ([\d.]+)/s of the "
                      r"([\d.]+)/s configured", 15)
    m = metrics(api)
    mark, before = d.mark(), decided(api)
    time.sleep(6)
    n = since(before, decided(api))
    print(f"overloaded: {warn.group(0)}; server peak {srv.peak} requests at once; "
          f"decisions per group in 6 s: {sorted(n.values())}")
    assert srv.peak <= IN_FLIGHT, f"{srv.peak} requests at once, bound {IN_FLIGHT}"
    rate, configured = (float(x) for x in re.search(r"at ([\d.]+)/s of the ([\d.]+)/s",
                                                    warn.group(0)).groups())
    assert configured == 80.0 and 5 <= rate <= 20, warn.group(0)
    assert m["autoscaler_overloaded"] == 1 and m["autoscaler_rounds_measuring_max"] == IN_FLIGHT
    assert m["autoscaler_rounds_measuring"] <= IN_FLIGHT, m
    assert min(n.values()) >= 1 and max(n.values()) - min(n.values()) <= 2, n  # fair
    assert not d.grep(r" ERROR "), d.grep(r" ERROR ")[:5]  # nothing timed out waiting
    assert len(d.grep(r"WARN  engine: overloaded")) == 1
    assert not d.grep(r"round skipped"), "a per-group WARN for every coalesced tick"
    srv.delay = 0  # the endpoint is fast again
    over = d.wait_log(r"INFO  engine: overload over: rounds start at.*", 15, since=mark)
    print(over.group(0))
    m = metrics(api)
    assert m["autoscaler_overloaded"] == 0 and m["autoscaler_rounds_delayed_total"] > 0, m
    assert m["autoscaler_ticks_coalesced_total"] > 0, m
    assert m["autoscaler_tick_lateness_seconds_count"] > 0, m  # every tick is measured
    before = decided(api)
    time.sleep(2.1)
    n = since(before, decided(api))
    assert min(n.values()) >= 3, f"after recovery, decisions per group in 2.1 s: {n}"
    # A reload applies a new bound.
    cfg["rounds_in_flight"] = 64
    write_config(ctx.tmp, cfg)
    d.send_signal(signal.SIGHUP)
    wait_for(lambda: metrics(api)["autoscaler_rounds_measuring_max"] == 64, 10,
             "the reloaded rounds_in_flight in /metrics")
    d.stop(signal.SIGTERM, timeout=10)
    d.assert_no_sanitizer_report()


if __name__ == "__main__":
    sys.exit(main())
