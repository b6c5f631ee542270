#!/usr/bin/env python3
"""What a new user meets first: `check` (and `run`) on a bad file report every error in file
order as FILE:LINE:COLUMN: message with the nearest valid name, at most 50 and then a count; a
path that is not a readable YAML file says why as FILE: message; a relative log_file and
state_dir are taken from the configuration file's directory, across a reload too.

    python3 tests/integration/test_check.py --bin build/autoscaler
"""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import find_key, main, run_cli, test, wait_for, write_config  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402

GROUP = """\
  {name}:
    max: 4
    metrics:
      - type: http_json
        url: http://127.0.0.1:9/app/status
        pointer: /cpu
        target: 0.8
    scaler:
      type: http
      url: http://127.0.0.1:9/app/replicas
"""


def position(text, needle, nth=1):
    """line:column (1-based) of the nth occurrence of needle in text."""
    at = -1
    for _ in range(nth):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    return f"{line}:{at - (text.rfind(chr(10), 0, at) + 1) + 1}"


@test
def test_every_error_in_file_order(ctx):
    text = ("log_levl: info\ngroups:\n" + GROUP.format(name="web")
            .replace("    max: 4\n", "    intervall: 5s\n    max: 4\n")
            .replace("type: http_json", "type: http_jsn")
            + GROUP.format(name="api").replace("target: 0.8", "targte: 0.8"))
    path = write_config(ctx.tmp, text, "bad.yaml")
    want = [
        f"{path}:{position(text, 'log_levl')}: unknown key 'log_levl' in the configuration "
        "(did you mean 'log_level'?)",
        f"{path}:{position(text, 'intervall')}: unknown key 'intervall' in group 'web' "
        "(did you mean 'interval'?)",
        f"{path}:{position(text, 'http_jsn')}: group 'web' metric: unknown source type "
        "'http_jsn' (did you mean 'http_json'?); one of: http_json,",
        f"{path}:{position(text, 'targte')}: unknown key 'targte' in group 'api' metric "
        "'http_json' (did you mean 'target'?)",
    ]
    for cmd in (["check", "-c", path], ["run", "-c", path, "--once"]):
        r = run_cli(ctx.bin, cmd, cwd=ctx.tmp)
        assert r.returncode == 2, (cmd, r)
        lines = r.stderr.splitlines()
        assert len(lines) == len(want), (cmd, r.stderr)
        for got, w in zip(lines, want):
            assert got.startswith(w), (cmd, got, w)
        # the unknown type's own keys (url, pointer) are not reported: they are unknowable
        assert "'pointer'" not in r.stderr, r.stderr


@test
def test_at_most_fifty(ctx):
    text = "groups:\n" + "".join(
        GROUP.format(name=f"g{i}").replace("    max: 4\n", "    max: 4\n    mxa: 4\n")
        for i in range(60))
    path = write_config(ctx.tmp, text, "many.yaml")
    r = run_cli(ctx.bin, ["check", "-c", path])
    assert r.returncode == 2, r
    lines = r.stderr.splitlines()
    assert len(lines) == 51, r.stderr[-500:]
    assert lines[0].startswith(f"{path}:{position(text, 'mxa')}: unknown key 'mxa' in group 'g0'")
    assert lines[49].startswith(f"{path}:{position(text, 'mxa', 50)}: unknown key 'mxa' in "
                                "group 'g49'"), lines[49]
    assert lines[50] == "... and 10 more errors", lines[50]


@test
def test_unreadable_paths(ctx):
    cases = [(ctx.tmp, "is a directory, not a configuration file"),
             (os.path.join(ctx.tmp, "missing.yaml"), "no such file")]
    bad8 = os.path.join(ctx.tmp, "latin1.yaml")
    with open(bad8, "wb") as f:
        f.write(b"groups:\n  web:\n    max: 3 # caf\xe9\n")
    cases.append((bad8, "3:17: not UTF-8 text: byte 0xE9"))
    binary = os.path.join(ctx.tmp, "binary.yaml")
    with open(binary, "wb") as f:
        f.write(b"\x7fELF\x02\x01\x01\x00")
    cases.append((binary, "1:1: not a text file: control character 0x7F"))
    if os.geteuid() != 0:  # root reads anything
        locked = write_config(ctx.tmp, "groups: {}\n", "locked.yaml")
        os.chmod(locked, 0)
        cases.append((locked, "cannot open it: Permission denied"))
    for path, why in cases:
        for cmd in ("check", "run"):
            r = run_cli(ctx.bin, [cmd, "-c", path], cwd=ctx.tmp)
            assert r.returncode == 2, (cmd, path, r)
            sep = ":" if why[0].isdigit() else ": "
            assert r.stderr == f"{path}{sep}{why}" + r.stderr[len(path) + len(sep + why):], \
                (cmd, path, r.stderr)
            assert len(r.stderr.splitlines()) == 1, r.stderr


def relative_config(app, log_file):
    return (f"log_file: {log_file}\n"
            "state_dir: state\n"
            "groups:\n"
            "  web:\n"
            "    interval: 300ms\n"
            "    max: 3\n"
            "    behavior: off\n"
            "    metrics:\n"
            f"      - {{type: http_json, url: '{app.url('/app/status')}', "
            "pointer: /cpu/highPriority, timeout: 200ms, target: 0.8}\n"
            f"    scaler: {{type: http, url: '{app.url('/app/replicas')}', "
            f"get_url: '{app.url('/app/replicas')}', timeout: 200ms}}\n")


@test
def test_relative_paths_from_the_config_dir(ctx):
    """The daemon runs in ctx.tmp; the file is in ctx.tmp/conf: its relative log_file and
    state_dir land in conf/, also after a reload that changes the log file."""
    app = ScaleitApp(load=1.0, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    conf = os.path.join(ctx.tmp, "conf")
    os.mkdir(conf)
    path = write_config(conf, relative_config(app, "as.log"))
    r = run_cli(ctx.bin, ["check", "-c", path], cwd=ctx.tmp)
    assert r.returncode == 0, r
    assert not os.path.exists(os.path.join(conf, "state")), "check created state_dir"
    d = ctx.daemon(path, log_file=os.path.join(conf, "as.log"))
    d.wait_decided(2, 15)
    wait_for(lambda: os.path.exists(os.path.join(conf, "state", "web.json")), 10,
             "the group's state in conf/state")
    assert not os.path.exists(os.path.join(ctx.tmp, "as.log"))
    assert not os.path.exists(os.path.join(ctx.tmp, "state"))
    write_config(conf, relative_config(app, "logs/as2.log"))
    os.mkdir(os.path.join(conf, "logs"))
    d.send_signal(signal.SIGHUP)
    wait_for(lambda: "main: reloaded" in d.stderr(), 10, "the reload (on stderr: the log moved)")
    second = os.path.join(conf, "logs", "as2.log")
    wait_for(lambda: os.path.exists(second) and "engine: reload:" in open(second).read(), 10,
             "the reload's line in the reloaded, relative log file")
    d.stop()
    assert not os.path.exists(os.path.join(ctx.tmp, "logs"))
    # a state_dir that cannot be made is reported at its key, relative to the file too
    with open(os.path.join(conf, "state2"), "w"):
        pass
    text = relative_config(app, "as.log").replace("state_dir: state", "state_dir: state2/x")
    path = write_config(conf, text, "sd.yaml")
    r = run_cli(ctx.bin, ["check", "-c", path], cwd=ctx.tmp)
    assert r.returncode == 2, r
    line, col = find_key(text, "state_dir")
    assert r.stderr.startswith(f"{path}:{line}:{col + len('state_dir: ')}: state_dir "), r.stderr
    assert os.path.join(conf, "state2", "x") in r.stderr, r.stderr


if __name__ == "__main__":
    sys.exit(main())
