#!/usr/bin/env python3
"""The exec source with real commands, driven by the daemon:

  - --dry-run, one group per case in one daemon: a script printing a number (with the
    group and metric in its environment and arguments), JSON read at a pointer, a shell
    pipeline, garbage, exit 3 with a message on stderr, a script that hangs with a grandchild
    (both killed at the timeout), and 3 MB of output (bounded): each failure with its reason in
    the log, counted, and the group holding;
  - a real run with a process pool: the number a script prints grows the pool and shrinks it,
    and a script that starts failing holds it.

    python3 tests/integration/test_source_exec.py --bin build/autoscaler
"""

import os
import re
import signal
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import live_processes, main, run_cli, test, wait_for, write_config  # noqa: E402


def script(ctx, name, body):
    path = os.path.join(ctx.tmp, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def counters(d, group, metric="q"):
    mark = d.mark()
    d.send_signal(signal.SIGUSR1)
    line = d.wait_log(rf"engine\[{group}\]: metric {metric} counters (.*)$", 5, since=mark)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line.group(1))}


def group(**source):
    return {"interval": "500ms", "max": 10,
            "metrics": [dict({"name": "q", "type": "exec", "timeout": "300ms",
                              "average_value": 2}, **source)],
            "scaler": {"type": "exec", "command": ["true"], "get": ["echo", "3"]}}


@test
def test_dry_run_values_and_failures(ctx):
    number = script(ctx, "number.sh",
                    'echo "$AUTOSCALER_GROUP $AUTOSCALER_METRIC $1 $EXTRA" > env.txt\necho 9\n')
    # a grandchild that keeps the script's name (a loop of short sleeps), and the child
    hang = script(ctx, "hang.sh", 'if [ "$1" = child ]; then while :; do sleep 0.1; done; fi\n'
                                  '"$0" child &\nsleep 30\n')
    groups = {
        "number": group(command=[number, "{{group}}.{{metric}}"], env={"EXTRA": "x-{{group}}"},
                        working_dir=ctx.tmp),
        "json": group(command=["printf", '{"queue": {"depth": 5}}'], pointer="/queue/depth"),
        "pipe": group(command=["printf 'a\\nb\\nc\\n' | wc -l"], shell=True),
        "garbage": group(command=["echo", "five"]),
        "exit3": group(command=["sh", "-c", "echo 4; echo 'queue jobs: not found' >&2; exit 3"]),
        "hang": group(command=[hang], working_dir=ctx.tmp),
        "huge": group(command=["sh", "-c", "head -c 3000000 /dev/zero | tr '\\000' 7"]),
        "negative": group(command=["echo", "-2"]),
        "missing": group(command=[os.path.join(ctx.tmp, "no-such-program")]),
    }
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "groups": groups}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--dry-run"], log_file=cfg["log_file"])
    # 9 / 2 per replica: 5; 5 / 2: 3 (keep); 3 lines / 2: 2
    d.wait_decisions(1, 10, where=lambda x: x.group == "number" and x.values["q"] == 9)
    assert d.grep(r"engine\[number\]: dry-run: would scale 3->5"), d.tail()
    with open(os.path.join(ctx.tmp, "env.txt")) as f:
        assert f.read() == "number q number.q x-number\n"
    d.wait_decisions(1, 10, where=lambda x: x.group == "json" and x.values["q"] == 5)
    d.wait_decisions(1, 10, where=lambda x: x.group == "pipe" and x.values["q"] == 3)
    failing = {
        "garbage": r'printed "five", not a number',
        "exit3": r"exit 3 \(stderr: queue jobs: not found\)",
        "hang": r"timeout after 300 ms",
        "huge": r"printed more than 65536 bytes",
        "negative": r"printed a negative number \(-2\)",
        "missing": r"cannot run .*no-such-program: No such file or directory",
    }
    for name, why in failing.items():
        d.wait_log(rf"ERROR source/exec\[{name}/q\]: {why}", 10)
        d.wait_decided(2, 10, name)
    for name in failing:
        # at info, any decision with a q or a count of its own would have its line
        ds = d.decisions(group=name)
        assert ds and all(x.values["q"] is None and x.desired == 3 for x in ds), (name, d.tail())
        c = counters(d, name)
        # every attempt failed (measurements counts attempts, skipped the rounds the source sat
        # out backing off), but for one that may still be in flight when the counters are read
        assert c["failures"] >= 1 and 0 <= c["measurements"] - c["failures"] <= 1, (name, c)
    assert len(d.grep(r"ERROR source/exec\[garbage/q\]")) == 1, d.tail()
    # The hanging script and its grandchild die at each timeout: after three attempts, at most
    # the pair of the attempt in flight is alive.
    d.wait_until(lambda: counters(d, "hang")["measurements"] >= 3, 15, "three attempts")
    assert len(live_processes(hang)) <= 2, live_processes(hang)
    d.stop(signal.SIGTERM, timeout=10)
    wait_for(lambda: not live_processes(hang), 5, "no hang.sh left")


@test
def test_check_rejects(ctx):
    for source, why in [({"command": ["echo 1", "x"], "shell": True}, "one string"),
                        ({"command": ["echo"], "pointer": "queue"}, "pointer"),
                        ({"command": ["echo"], "env": {"AUTOSCALER_X": "1"}}, "'env' names")]:
        cfg = {"log_file": "", "groups": {"g": group(**source)}}
        r = run_cli(ctx.bin, ["check", "-c", write_config(ctx.tmp, cfg)])
        assert r.returncode == 2 and why in r.stderr, (source, r.stderr)
        assert re.search(r"config\.yaml:\d+:\d+", r.stderr), r.stderr


WORKER = """#!/bin/sh
trap 'exit 0' TERM
while :; do sleep 0.05; done
"""


@test
def test_run_follows_the_number(ctx):
    depth = os.path.join(ctx.tmp, "depth")
    with open(depth, "w") as f:
        f.write("0\n")
    worker = script(ctx, "exec-worker.sh", WORKER.split("\n", 1)[1])
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "groups": {"workers": {
               "interval": "300ms", "min": 1, "max": 6, "behavior": "off",
               "metrics": [{"name": "depth", "type": "exec", "command": ["cat", depth],
                            "timeout": "250ms", "average_value": 2}],
               "scaler": {"type": "process", "command": [worker], "working_dir": ctx.tmp,
                          "grace": "1s"}}}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])

    def workers():
        return len(live_processes(worker))

    d.wait_until(lambda: workers() == 1, 10, "one worker (min)")
    with open(depth, "w") as f:
        f.write("8\n")
    d.wait_until(lambda: workers() == 4, 10, "four workers for a depth of 8")
    mark = d.mark()
    with open(depth, "w") as f:
        f.write("eight\n")
    d.wait_log(r'ERROR source/exec\[workers/depth\]: printed "eight", not a number', 5,
               since=mark)
    d.wait_decisions(1, 10, since=mark, where=lambda x: x.values["depth"] is None)
    d.wait_decided(2, 10, "workers", after=d.decided("workers"))
    # at info, any decision with another count would have its line
    assert all(x.desired == 4 for x in d.decisions(since=mark)), d.tail()
    assert workers() == 4
    with open(depth, "w") as f:
        f.write("0\n")
    d.wait_log(r"INFO  source/exec\[workers/depth\]: measuring again", 10, since=mark)
    d.wait_until(lambda: workers() == 1, 10, "back to one worker")
    d.stop(signal.SIGTERM, timeout=10)
    wait_for(lambda: workers() == 0, 5, "no worker left")


if __name__ == "__main__":
    sys.exit(main())
