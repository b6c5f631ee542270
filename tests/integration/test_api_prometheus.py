#!/usr/bin/env python3
"""/metrics as a real Prometheus (Debian's 2.42) scrapes it: `promtool check metrics` finds
nothing to say about the exposition, and PromQL over Prometheus' HTTP API returns the group's
replica count, before and after the group scales. The daemon runs with `auth: all`, so the
scrape carries the token the way docs/api.md tells operators to configure it.

    python3 tests/integration/test_api_prometheus.py --bin build/autoscaler
"""

import os
import shutil
import subprocess
import sys

from api_helpers import Api, api_config, pool_group, write_backlog
from harness import free_port, main, test, wait_for, write_config
from prometheus_server import PROMETHEUS, Prometheus

PROMTOOL = shutil.which("promtool")
TOKEN = "prom-scrape-token-0123456789"


@test
def test_promtool_check_metrics(ctx):
    if PROMTOOL is None:
        print("SKIP: promtool is not installed", flush=True)
        return
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 5)
    port = free_port()
    cfg = api_config(ctx.tmp, port, {"jobs": pool_group(backlog),
                                     "idle": pool_group(backlog, paused=True)})
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    api = Api(f"http://127.0.0.1:{port}")
    api.wait_up()
    api.wait_group("jobs", lambda g: g["replicas"] == 3, 10, "3 replicas")
    status, headers, body = api.get("/metrics")
    assert status == 200 and headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                       timeout=30)
    assert r.returncode == 0 and r.stdout == b"" and r.stderr == b"", (r, body.decode())
    text = body.decode()
    for line in ['autoscaler_group_replicas{group="jobs"} 3',
                 'autoscaler_group_desired_replicas{group="jobs"} 3',
                 'autoscaler_group_min_replicas{group="jobs"} 1',
                 'autoscaler_group_max_replicas{group="jobs"} 6',
                 'autoscaler_group_paused{group="idle"} 1',
                 'autoscaler_metric_value{group="jobs",metric="backlog"} 5',
                 'autoscaler_metric_target{group="jobs",metric="backlog"} 2',
                 'autoscaler_metric_up{group="jobs",metric="backlog"} 1',
                 'autoscaler_scale_events_total{group="jobs",direction="up"} 2',
                 'autoscaler_scale_events_total{group="jobs",direction="down"} 0',
                 'autoscaler_ready 1', 'autoscaler_groups 2',
                 '# TYPE autoscaler_round_duration_seconds histogram',
                 '# TYPE process_cpu_seconds_total counter']:
        assert line + "\n" in text, f"{line!r} not in:\n{text}"
    for prefix in ['autoscaler_decisions_total{group="jobs",outcome="up",reason="bounds"} ',
                   'autoscaler_decisions_total{group="jobs",outcome="up",reason="policy"} ',
                   'autoscaler_last_successful_measurement_timestamp_seconds{group="jobs",'
                   'metric="backlog"} ',
                   'process_resident_memory_bytes ', 'process_open_fds ',
                   'process_start_time_seconds ', 'autoscaler_round_duration_seconds_count ']:
        assert "\n" + prefix in text, f"{prefix!r} not in:\n{text}"
    d.stop()


@test
def test_prometheus_scrapes_and_graphs_the_replicas(ctx):
    if PROMETHEUS is None:
        print("SKIP: prometheus is not installed", flush=True)
        return
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    token_file = os.path.join(ctx.tmp, "token")
    with open(token_file, "w") as f:
        f.write(TOKEN + "\n")
    port = free_port()
    cfg = api_config(ctx.tmp, port, {"jobs": pool_group(backlog)},
                     http={"token": "${file:token}", "auth": "all"})
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    api = Api(f"http://127.0.0.1:{port}", token=TOKEN)
    api.wait_up()
    assert api.get("/metrics", token="")[0] == 401
    prom = Prometheus("  - job_name: autoscaler\n"
                      f"    authorization: {{credentials_file: {token_file}}}\n"
                      f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
    ctx.defer(prom.stop)
    q = 'autoscaler_group_replicas{group="jobs",job="autoscaler"}'
    wait_for(lambda: prom.value(q) == 1.0, 30, "1 replica in Prometheus", interval=0.2)
    assert prom.value('up{job="autoscaler"}') == 1.0
    write_backlog(backlog, 9)  # ceil(9/2) = 5
    wait_for(lambda: prom.value(q) == 5.0, 20, "5 replicas in Prometheus", interval=0.2)
    assert prom.value('autoscaler_group_desired_replicas{group="jobs"}') == 5.0
    assert prom.value('autoscaler_metric_value{group="jobs",metric="backlog"}') == 9.0
    assert prom.value('sum(autoscaler_scale_events_total{group="jobs",direction="up"})') >= 2
    assert prom.value('autoscaler_round_duration_seconds_count') > 0
    d.stop()


if __name__ == "__main__":
    sys.exit(main())
