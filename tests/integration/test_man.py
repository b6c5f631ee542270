#!/usr/bin/env python3
"""The man pages autoscaler(1) and autoscaler.yaml(5) that the build generates beside the binary
(BUILD/man/man1, BUILD/man/man5, by scripts/gen-man.sh): they are what the script makes of this
binary, every line of every command's --help is in section 1, every key of every table of
`autoscaler options` is in section 5 under its heading, and groff and man render both without
a warning.

    python3 tests/integration/test_man.py --bin build/autoscaler
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, main, run_cli, test  # noqa: E402

PAGES = {"1": os.path.join("man1", "autoscaler.1"), "5": os.path.join("man5", "autoscaler.yaml.5")}
ENV = {"ASAN_OPTIONS": "detect_leaks=0"}


def built(ctx, section):
    path = os.path.join(os.path.dirname(ctx.bin), "man", PAGES[section])
    assert os.path.isfile(path), f"{path} missing: the build's `man` target makes it"
    return path


def render(path):
    """The page as man shows it on an 80-column terminal, as plain text."""
    r = subprocess.run(["groff", "-k", "-man", "-Tutf8", "-rLL=80n", "-P-cbou", path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout


def unroff(s):
    """The text of a line of the generated roff (its few escapes undone)."""
    for esc, ch in (("\\fB", ""), ("\\fR", ""), ("\\-", "-"), ("\\(aq", "'"), ("\\(ga", "`"),
                    ("\\&", ""), ("\\e", "\\")):
        s = s.replace(esc, ch)
    return s


def commands(ctx):
    text = run_cli(ctx.bin, ["--help"]).stdout
    block = text.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return list(dict.fromkeys(re.findall(r"^  ([a-z][a-z-]*)\b", block, re.M)))


def option_tables(ctx):
    """[(heading, key)] of `autoscaler options`, in order."""
    out, heading = [], None
    for line in run_cli(ctx.bin, ["options"], env=ENV).stdout.splitlines():
        if line.startswith("### "):
            heading = line[4:].replace("`", "")
        m = re.match(r"^\| `([^`]+)` \|", line)
        if m:
            out.append((heading, m.group(1)))
    return out


@test
def test_pages_are_the_binarys(ctx):
    # Built after the binary, and what the script makes of it now: no drift.
    for section in PAGES:
        assert os.path.getmtime(built(ctx, section)) >= os.path.getmtime(ctx.bin), section
    out = os.path.join(ctx.tmp, "man")
    r = subprocess.run(["sh", os.path.join(REPO, "scripts", "gen-man.sh"), ctx.bin, out],
                       capture_output=True, text=True, timeout=60, env={**os.environ, **ENV})
    assert r.returncode == 0, r.stderr
    for section, rel in PAGES.items():
        with open(os.path.join(out, rel), "rb") as a, open(built(ctx, section), "rb") as b:
            assert a.read() == b.read(), f"section {section} differs from the script's output"
    # A binary that fails makes no page (and fails the build).
    bad = os.path.join(ctx.tmp, "false-bin")
    with open(bad, "w") as f:
        f.write("#!/bin/sh\nexit 3\n")
    os.chmod(bad, 0o755)
    r = subprocess.run(["sh", os.path.join(REPO, "scripts", "gen-man.sh"), bad, out + "2"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and not os.path.exists(os.path.join(out + "2", PAGES["1"])), r


@test
def test_section1_has_every_command_help(ctx):
    text = render(built(ctx, "1"))
    lines = {ln.strip() for ln in text.splitlines()}
    headings = re.findall(r"^   autoscaler ([a-z-]+)$", text, re.M)
    cmds = commands(ctx)
    assert len(cmds) >= 10 and headings == cmds, (headings, cmds)
    for cmd in cmds:
        h = run_cli(ctx.bin, [cmd, "--help"])
        assert h.returncode == 0, (cmd, h.stderr)
        for ln in h.stdout.splitlines():
            want = ln.replace("`", "").strip()
            assert want == "" or want in lines, f"{cmd} --help: {ln!r} is not in autoscaler(1)"
    for alias in ("master", "daemon"):        # the aliases are named in the page
        assert re.search(rf"\b{alias}\b", text), alias
    synopsis = text.split("\nSYNOPSIS\n", 1)[1].split("\nDESCRIPTION\n", 1)[0]
    for cmd in cmds:
        assert f"autoscaler {cmd}" in synopsis, cmd
    assert "autoscaler.yaml(5)" in text


@test
def test_section5_has_every_key(ctx):
    with open(built(ctx, "5"), encoding="utf-8") as f:
        src = f.read().split("\n.SH KEYS\n", 1)[1].split("\n.SH EXAMPLE\n", 1)[0]
    got, heading, lines = [], None, src.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line == ".SS":
            heading = unroff(lines[i + 1])
        elif line == ".TP":
            m = re.match(r"^(\S+) \((.*)\)$", unroff(lines[i + 1]))
            assert m, lines[i + 1]
            got.append((heading, m.group(1)))
    want = option_tables(ctx)
    assert len(want) > 200, len(want)
    assert got == want, [x for x in want if x not in got][:5] or [x for x in got if x not in want][:5]
    text = render(built(ctx, "5"))
    keys = text.split("\nKEYS\n", 1)[1].split("\nEXAMPLE\n", 1)[0]
    # the defaults, and a required key says so
    assert re.search(r"^       interval \(duration, default 15s\)$", keys, re.M), "interval"
    assert re.search(r"^       max \(integer, required\)$", keys, re.M), "max"
    example = text.split("\nEXAMPLE\n", 1)[1]
    starter = run_cli(ctx.bin, ["init", "-"]).stdout
    for ln in starter.splitlines():
        assert ln.strip() == "" or ln.strip() in example, f"init's {ln!r} not in EXAMPLE"


@test
def test_render_without_warnings(ctx):
    if shutil.which("groff") is None:
        print("SKIP: groff is not installed (Debian: groff-base)", flush=True)
        return
    for section in PAGES:
        page = built(ctx, section)
        r = subprocess.run(["groff", "-k", "-man", "-ww", "-z", page], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0 and r.stderr == "", (section, r.stderr)
        if shutil.which("man") is None:
            print("SKIP (part): man is not installed (Debian: man-db)", flush=True)
            continue
        r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                           timeout=30, env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat",
                                            "PAGER": "cat"})
        assert r.returncode == 0 and r.stderr == "", (section, r.stderr)
        assert f"AUTOSCALER{'.YAML' if section == '5' else ''}({section})" in r.stdout


if __name__ == "__main__":
    sys.exit(main())
