#!/usr/bin/env python3
"""Decision lines an operator can read: at INFO a long reason is shortened so that the line
fits 160 columns, keeping the rule that settled the count ("held at 4 by the 5 min scale-down
window (wanted 2)"); at DEBUG the same line carries the whole reason; `replay` always writes it
whole.

    python3 tests/integration/test_logging.py --bin build/autoscaler
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, run_cli, test, write_config, yaml_dump  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402

HELD = "held at 4 by the 5 min scale-down window (wanted 2)"


def config(tmp, app, level):
    return {
        "log_file": os.path.join(tmp, f"{level}.log"),
        "log_level": level,
        "state_dir": "",
        "groups": {"web": {
            "interval": "300ms",
            "max": 10,
            "metrics": [{"name": "cpu", "type": "http_json",
                         "url": app.url("/app/status"), "pointer": "/cpu/highPriority",
                         "timeout": "200ms", "target": 0.8}],
            "scaler": {"type": "http", "url": app.url("/app/replicas"),
                       "get_url": app.url("/app/replicas"), "timeout": "200ms"},
        }},
    }


def held_lines(ctx, level):
    """Decision lines of a group that wants 2 and is held at 4 by the default window, after
    at least two such decisions (at info only the first has a line: the second says nothing
    new)."""
    app = ScaleitApp(load=1.0, replicas=4, cap=None).start()  # cpu 0.25 of 0.8: wants 2
    ctx.defer(app.stop)
    cfg = config(ctx.tmp, app, level)
    path = write_config(ctx.tmp, yaml_dump(cfg), f"{level}.yaml")
    d = ctx.daemon(path, log_file=cfg["log_file"])
    lines = 1 if level == "info" else 2
    d.wait_until(lambda: len([x for x in d.decisions() if "wanted 2" in x.line.text]) >= lines,
                 15, "decisions held by the window")
    d.wait_decided(1, 15, after=d.decided())  # and one more decision, logged or not
    d.stop()
    assert app.replicas == 4
    return [x for x in d.decisions() if "wanted 2" in x.line.text]


@test
def test_info_lines_fit(ctx):
    lines = held_lines(ctx, "info")
    for x in lines:
        assert len(x.line.raw) <= 160, (len(x.line.raw), x.line.raw)
        assert x.line.text.endswith(f' ... {HELD}"'), x.line.text
        assert 'reason="cpu=0.25 ' in x.line.text, x.line.text


@test
def test_debug_lines_are_whole(ctx):
    lines = held_lines(ctx, "debug")
    whole = ('reason="cpu=0.25 target=0.8 ratio=0.312: ceil(0.312*4)=2; '
             f'{HELD}"')
    for x in lines:
        assert x.line.text.endswith(whole), x.line.text
        assert " ... " not in x.line.text


@test
def test_replay_is_whole(ctx):
    cfg = ("log_file: ''\nstate_dir: ''\ngroups:\n  web:\n    max: 10\n    metrics:\n"
           "      - {name: cpu, type: http_json, url: 'http://127.0.0.1:9/',"
           " pointer: /cpu, target: 0.8}\n"
           "    scaler: {type: http, url: 'http://127.0.0.1:9/'}\n")
    path = write_config(ctx.tmp, cfg, "replay.yaml")
    metrics = os.path.join(ctx.tmp, "in.csv")
    with open(metrics, "w") as f:
        f.write("t,replicas,cpu\n0,4,0.25\n15,4,0.25\n")
    r = run_cli(ctx.bin, ["replay", "-c", path, "--metrics", metrics])
    assert r.returncode == 0, r
    assert r.stdout.splitlines()[2] == (
        '15,4,4,"cpu=0.25 target=0.8 ratio=0.312: ceil(0.312*4)=2; '
        f'{HELD}"'), r.stdout


if __name__ == "__main__":
    sys.exit(main())
