#!/usr/bin/env python3
"""The command line: every --help, exit codes, check, init, options (kept identical to
docs/configuration.md), replay input errors, and every shipped example validates.

    python3 tests/integration/test_cli.py --bin build/autoscaler
"""

import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, main, run_cli, test, write_config  # noqa: E402

COMMANDS = ["run", "check", "init", "replay", "demo", "options", "agent"]

GOOD = """\
log_file: ''
groups:
  web:
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


@test
def test_help_and_version(ctx):
    r = run_cli(ctx.bin, ["--help"])
    assert r.returncode == 0 and "usage: autoscaler <command>" in r.stdout, r
    for cmd in COMMANDS:
        assert cmd in r.stdout, f"--help does not mention {cmd}"
        h = run_cli(ctx.bin, [cmd, "--help"])
        assert h.returncode == 0, (cmd, h.stderr)
        assert h.stdout.startswith(f"usage: autoscaler {cmd}"), (cmd, h.stdout[:80])
    # the self-hosted mode's name for run, as its users know it
    assert run_cli(ctx.bin, ["master", "--help"]).stdout == run_cli(ctx.bin, ["run", "--help"]).stdout
    assert run_cli(ctx.bin, ["master"]).returncode == 2       # -c is required, as for run
    v = run_cli(ctx.bin, ["--version"])
    assert v.returncode == 0 and re.match(r"^autoscaler \d+\.\d+\.\d+\n$", v.stdout), v.stdout
    assert run_cli(ctx.bin, []).returncode == 2
    r = run_cli(ctx.bin, ["frobnicate"])
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
    r = run_cli(ctx.bin, ["check", "--nope"])
    assert r.returncode == 2 and "unknown argument '--nope'" in r.stderr
    assert run_cli(ctx.bin, ["run"]).returncode == 2          # -c is required
    assert run_cli(ctx.bin, ["check", "-c"]).returncode == 2  # -c needs a value


@test
def test_check(ctx):
    path = write_config(ctx.tmp, GOOD)
    r = run_cli(ctx.bin, ["check", "-c", path])
    assert r.returncode == 0 and "ok (1 group)" in r.stdout, r
    missing = os.path.join(ctx.tmp, "missing.yaml")
    r = run_cli(ctx.bin, ["check", "-c", missing])
    assert r.returncode == 2 and r.stderr == f"{missing}: no such file\n", r
    bad = write_config(ctx.tmp, GOOD.replace("    max: 4\n", "    max: 4\n    mni: 1\n"), "bad.yaml")
    r = run_cli(ctx.bin, ["check", "-c", bad])
    assert r.returncode == 2, r
    assert r.stderr.startswith(f"{bad}:5:5: unknown key 'mni' in group 'web'"), r.stderr


@test
def test_check_state_dir(ctx):
    """check reports a state_dir that cannot be created, and creates nothing itself."""
    plain = os.path.join(ctx.tmp, "plain")
    open(plain, "w").close()
    for state_dir, ok in ((os.path.join(ctx.tmp, "new", "state"), True),
                          (os.path.join(plain, "state"), False), (plain, False)):
        path = write_config(ctx.tmp, f"state_dir: '{state_dir}'\n" + GOOD, "sd.yaml")
        r = run_cli(ctx.bin, ["check", "-c", path])
        if ok:
            assert r.returncode == 0, r
            assert not os.path.exists(os.path.join(ctx.tmp, "new")), "check created state_dir"
        else:
            assert r.returncode == 2, r
            assert r.stderr.startswith(f"{path}:1:12: state_dir "), r.stderr
            assert "not a directory" in r.stderr, r.stderr


@test
def test_init(ctx):
    path = os.path.join(ctx.tmp, "autoscaler.yaml")
    r = run_cli(ctx.bin, ["init", path])
    assert r.returncode == 0 and os.path.exists(path), r
    assert run_cli(ctx.bin, ["init", path]).returncode == 2        # refuses to overwrite
    assert run_cli(ctx.bin, ["init", path, "--force"]).returncode == 0
    r = run_cli(ctx.bin, ["check", "-c", path], env={"APP_URL": "http://127.0.0.1:9"})
    assert r.returncode == 0, r.stderr                            # the starter file is valid
    r = run_cli(ctx.bin, ["init", "-"])
    assert r.returncode == 0 and r.stdout == open(path).read()
    r = run_cli(ctx.bin, ["init"], cwd=ctx.tmp)
    assert r.returncode == 2 and "exists" in r.stderr              # default name, exists


@test
def test_options_match_docs(ctx):
    r = run_cli(ctx.bin, ["options"])
    assert r.returncode == 0
    doc = open(os.path.join(REPO, "docs", "configuration.md"), encoding="utf-8").read()
    m = re.search(r"<!-- BEGIN GENERATED: autoscaler options -->\n(.*)<!-- END GENERATED -->",
                  doc, re.S)
    assert m, "docs/configuration.md lost its generated section"
    assert m.group(1) == r.stdout, \
        "docs/configuration.md is out of date: run scripts/gen-config-doc.sh"
    for section in ("Top level", "Group", "Source `http_json`", "Scaler `http`",
                    "Scaler `exec`", "Scaler `process`"):
        assert f"### {section}" in r.stdout, section


@test
def test_examples_validate(ctx):
    examples = sorted(glob.glob(os.path.join(REPO, "examples", "*.yaml")))
    assert examples, "no examples"
    for path in examples:
        r = run_cli(ctx.bin, ["check", "-c", path],
                    env={"APP_URL": "http://127.0.0.1:9",
                         "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"})
        assert r.returncode == 0, (path, r.stderr)


@test
def test_replay_errors(ctx):
    cfg = write_config(ctx.tmp, GOOD)
    def replay(text, *extra):
        path = os.path.join(ctx.tmp, "in.csv")
        with open(path, "w") as f:
            f.write(text)
        return run_cli(ctx.bin, ["replay", "-c", cfg, "--metrics", path] + list(extra))
    r = replay("t,replicas,http_json\n0,2,0.8\n")
    assert r.returncode == 0 and r.stdout.startswith("t,current,desired,reason\n0,2,2,"), r
    r = replay("t,replicas,cpu\n0,2,0.8\n")
    assert r.returncode == 2 and "no column for metric 'http_json'" in r.stderr, r.stderr
    r = replay("t,replicas,http_json\n0,2,0.8\n30,x,0.8\n")
    assert r.returncode == 2 and re.search(r"in\.csv:3:1: bad row", r.stderr), r.stderr
    r = replay("t,replicas,http_json\n0,2\n")
    assert r.returncode == 2 and "in.csv:2:1" in r.stderr, r.stderr
    r = replay("")
    assert r.returncode == 2 and "empty input" in r.stderr
    r = replay("t,http_json\n0,0.8\n", "--group", "nope")
    assert r.returncode == 2 and "no group 'nope'" in r.stderr
    r = run_cli(ctx.bin, ["replay", "-c", cfg, "--metrics", os.path.join(ctx.tmp, "none.csv")])
    assert r.returncode == 1 and "cannot open" in r.stderr


if __name__ == "__main__":
    sys.exit(main())
