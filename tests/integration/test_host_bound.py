#!/usr/bin/env python3
"""A bound on calls in flight to one host, all groups together (issue 11, item 2): with
`calls_per_host: 5`, 50 groups polling one slow endpoint never have more than 5 requests in
it at once, and every group still decides each round (the calls that wait take their turn,
their timeout running, and none runs out); /metrics counts the calls that waited. A reload
to `calls_per_host: 10` lets 10 in at once.

The endpoint is Python's ThreadingHTTPServer on 127.0.0.1: every request answers after
DELAY seconds, and the server records how many it holds at once. 50 requests every 2 s at
5 at a time take 1 s. Before the bound, all 50 requests were in the server at once.

    python3 tests/integration/test_host_bound.py --bin build/autoscaler
"""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import free_port, main, test, write_config  # noqa: E402
from slow_server import SlowServer  # noqa: E402
from api_helpers import Api  # noqa: E402

GROUPS = 50
DELAY = 0.1


def metric(port, name):
    m = Api(f"http://127.0.0.1:{port}").samples()
    assert name in m, f"no {name} in /metrics"
    return m[name]


@test
def test_calls_per_host_bounds_one_host_and_reload_raises_it(ctx):
    srv = SlowServer(DELAY)
    url = srv.start(ctx)
    api = free_port()
    groups = {f"g{i}": {"interval": "2s", "max": 10,
                        "metrics": [{"name": "cpu", "type": "http_json", "url": url + "/status",
                                     "pointer": "/cpu", "replicas_pointer": "/replicas",
                                     "timeout": "1800ms", "target": 0.8}],
                        "scaler": {"type": "http", "url": url + "/scale"}}
              for i in range(GROUPS)}
    # debug: a line for every decision, to see each group decide on a good metric (a steady
    # group has one at info)
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "log_level": "debug",
           "state_dir": "", "calls_per_host": 5, "http": {"listen": f"127.0.0.1:{api}"},
           "groups": groups}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--dry-run"], log_file=cfg["log_file"])
    d.wait_until(lambda: len({x.group for x in d.decisions()}) == GROUPS, 15,
                 "a decision of every group")
    mark = d.mark()
    time.sleep(4.2)  # two more rounds of every group
    decided = {x.group for x in d.decisions(since=mark) if not x.any_failed}
    print(f"calls_per_host 5: server peak {srv.peak} requests at once; "
          f"{len(decided)} of {GROUPS} groups decided on a good metric in 4.2 s")
    assert srv.peak == 5, f"{srv.peak} requests at once, bound 5"
    assert len(decided) == GROUPS, f"groups without a good decision: {set(groups) - decided}"
    assert not d.grep(r" ERROR "), d.grep(r" ERROR ")[:5]  # no call timed out waiting
    assert metric(api, "autoscaler_http_calls_waited_for_host_total") >= GROUPS - 5

    cfg["calls_per_host"] = 10
    write_config(ctx.tmp, cfg)
    mark = d.mark()
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"INFO  main: reloaded ", 10, since=mark)
    srv.reset_peak()
    time.sleep(4.2)
    print(f"calls_per_host 10: server peak {srv.peak} requests at once")
    assert 5 < srv.peak <= 10, f"{srv.peak} requests at once, bound 10"
    d.stop(signal.SIGTERM, timeout=10)
    d.assert_no_sanitizer_report()


if __name__ == "__main__":
    sys.exit(main())
