#!/usr/bin/env python3
"""The cpu source on this host, driven by the daemon (--dry-run):

  - utilization: the first measurement (two samples a short window apart) is a value in 0..1;
    while this test burns one core for a few seconds the value rises by about one core's share,
    and it agrees with what the test reads from /proc/stat over the same time (the machine may
    be busy with other work: the bounds are loose);
  - load1 and per_cpu: the load average as /proc/loadavg says, and divided by the CPUs.

    python3 tests/integration/test_source_cpu.py --bin build/autoscaler
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, run_cli, test, write_config  # noqa: E402

NCPU = os.cpu_count() or 1


def proc_stat():
    """(busy, total) ticks of the aggregate cpu line, as the source counts them."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    total = sum(fields)
    return total - fields[3] - fields[4], total


def cpu_ticks(pid):
    """User and system ticks of one process."""
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def group(**source):
    return {"interval": "500ms", "max": 64,
            "metrics": [dict({"name": "cpu", "type": "cpu", "target": 0.5}, **source)],
            "scaler": {"type": "exec", "command": ["true"], "get": ["echo", "2"]}}


def values(d, since, group_name="host"):
    return [x.values["cpu"] for x in d.decisions(since, group=group_name)]


@test
def test_utilization_rises_with_a_busy_core(ctx):
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "log_level": "debug",  # a line for every decision: its value, compared below
           "groups": {"host": group()}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--dry-run"], log_file=cfg["log_file"])
    d.wait_decisions(1, 10)
    first = values(d, 0)[0]
    assert first is not None and 0 <= first <= 1, d.tail()
    time.sleep(1.2)
    mark = d.mark()
    b0 = proc_stat()
    time.sleep(1.5)
    b1 = proc_stat()
    idle_values = values(d, mark)
    # One core busy for 3 s (a child process, so this test's own interpreter stays free).
    burner = subprocess.Popen([sys.executable, "-c",
                               "import time\nend = time.monotonic() + 3.5\n"
                               "while time.monotonic() < end: pass\n"])
    ctx.defer(burner.kill)
    time.sleep(0.6)  # the first interval of the burn is only partly busy
    mark = d.mark()
    s0, c0 = proc_stat(), cpu_ticks(burner.pid)
    time.sleep(2.5)
    s1, c1 = proc_stat(), cpu_ticks(burner.pid)
    busy_values = values(d, mark)
    burner.wait(timeout=10)
    d.stop(signal.SIGTERM)

    assert idle_values and busy_values and None not in idle_values + busy_values, d.tail()
    assert all(0 <= v <= 1 for v in idle_values + busy_values), (idle_values, busy_values)
    seen_idle = (b1[0] - b0[0]) / max(1, b1[1] - b0[1])
    seen_busy = (s1[0] - s0[0]) / max(1, s1[1] - s0[1])
    burner_share = (c1 - c0) / max(1, s1[1] - s0[1])  # of all cores' ticks
    mean_idle = sum(idle_values) / len(idle_values)
    mean_busy = sum(busy_values) / len(busy_values)
    facts = dict(idle_values=idle_values, busy_values=busy_values, seen_idle=seen_idle,
                 seen_busy=seen_busy, burner_share=burner_share, ncpu=NCPU)
    # What the daemon reports agrees with /proc/stat over (about) the same seconds.
    assert abs(mean_busy - seen_busy) < 0.2, facts
    assert abs(mean_idle - seen_idle) < 0.2, facts
    # The burner ran (on a busy host it gets a share of a core), and the value counts it: the
    # rest of the host's work may have changed meanwhile, so the bound is the burner's own share.
    assert burner_share >= 0.25 / NCPU, facts
    assert mean_busy >= 0.8 * burner_share, facts
    # Rising: on a host with room for the burner, the value rose by a good part of its share.
    if seen_idle + burner_share <= 0.9:
        assert mean_busy >= mean_idle + 0.5 * burner_share - 0.1, facts


@test
def test_load_average(ctx):
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "groups": {"load": group(stat="load15"),
                      "percpu": group(stat="load15", per_cpu=True)}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--once", "--dry-run"],
                   log_file=cfg["log_file"])
    assert d.wait_exit(20) == 0, d.tail()
    with open("/proc/loadavg") as f:
        load15 = float(f.read().split()[2])
    whole = values(d, 0, "load")[0]
    per = values(d, 0, "percpu")[0]
    assert abs(whole - load15) < 0.2, (whole, load15)  # load15 moves slowly
    assert abs(per - whole / NCPU) < 0.2 / NCPU + 0.01, (per, whole, NCPU)


@test
def test_check_rejects_per_cpu_with_utilization(ctx):
    cfg = {"log_file": "", "groups": {"g": group(per_cpu=True)}}
    r = run_cli(ctx.bin, ["check", "-c", write_config(ctx.tmp, cfg)])
    assert r.returncode == 2 and "'per_cpu' applies to stat load1" in r.stderr, r.stderr


if __name__ == "__main__":
    sys.exit(main())
