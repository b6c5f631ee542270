#!/usr/bin/env python3
"""The documentation matches the binary: every registered source, scaler, policy and notifier
has its page (and every page its registered type), each page names every key of its type, the index
pages list them all; every command's --help is docs/cli.md's, word for word, and its synopsis;
the demo's flags and timing in the docs are the binary's; every relative link in docs/ and
README.md leads to a file (and a heading) that exists.

    python3 tests/integration/test_docs.py --bin build/autoscaler
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, main, run_cli, test  # noqa: E402

DOCS = os.path.join(REPO, "docs")
KINDS = {"Source": "sources", "Scaler": "scalers", "Policy": "policies", "Notifier": "notifiers"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def registry(binary):
    """{("sources", name): [keys]} from `autoscaler options`, the binary's option tables."""
    r = run_cli(binary, ["options"])
    assert r.returncode == 0, r
    types, current = {}, None
    for line in r.stdout.splitlines():
        m = re.match(r"^### (Source|Scaler|Policy|Notifier) `([a-z0-9_]+)`$", line)
        if m:
            current = (KINDS[m.group(1)], m.group(2))
            types[current] = []
        elif line.startswith("### "):
            current = None
        elif current:
            k = re.match(r"^\| `([a-z0-9_]+)` \|", line)
            if k:
                types[current].append(k.group(1))
    assert types, "no backend in `autoscaler options`"
    return types


def page_of(kind, name):
    """The doc page of a type: docs/KIND/NAME.md, or a `## \\`NAME\\`` section of docs/KIND.md
    (the default policy, target, lives in policies.md)."""
    path = os.path.join(DOCS, kind, f"{name}.md")
    if os.path.exists(path):
        return path, read(path)
    overview = os.path.join(DOCS, f"{kind}.md")
    if os.path.exists(overview):
        text = read(overview)
        m = re.search(rf"^## `{name}`.*?(?=^## |\Z)", text, re.M | re.S)
        if m:
            return overview, m.group(0)
    return None, None


@test
def test_every_type_has_a_page_naming_its_keys(ctx):
    missing, unnamed = [], []
    for (kind, name), keys in sorted(registry(ctx.bin).items()):
        path, text = page_of(kind, name)
        if path is None:
            missing.append(f"docs/{kind}/{name}.md")
            continue
        for key in keys:
            if not re.search(rf"`{key}`|\b{key}:", text):
                unnamed.append(f"{os.path.relpath(path, REPO)}: `{key}` ({kind[:-1]} {name})")
    assert not missing, f"registered types without a page: {missing}"
    assert not unnamed, "keys the binary has and the page does not name:\n  " + \
        "\n  ".join(unnamed)


@test
def test_every_page_is_a_registered_type(ctx):
    types = registry(ctx.bin)
    stray = []
    for kind in KINDS.values():
        for f in sorted(os.listdir(os.path.join(DOCS, kind))):
            if f.endswith(".md") and (kind, f[:-3]) not in types:
                stray.append(f"docs/{kind}/{f}")
    assert not stray, f"pages of types the binary does not have: {stray}"


@test
def test_indexes_list_every_type(ctx):
    """docs/README.md and README.md link every page; policies.md's table names every policy."""
    types = registry(ctx.bin)
    for index, prefix in ((os.path.join(DOCS, "README.md"), ""), (os.path.join(REPO, "README.md"),
                                                                   "docs/")):
        text = read(index)
        for kind, name in types:
            if (kind, name) == ("policies", "target"):
                continue  # documented in policies.md, which both indexes link
            link = f"({prefix}{kind}/{name}.md)"
            assert link in text, f"{os.path.relpath(index, REPO)} does not link {link}"
    table = read(os.path.join(DOCS, "policies.md"))
    for kind, name in types:
        if kind == "policies":
            assert re.search(rf"^\| `{name}`", table, re.M), f"policies.md's table lacks {name}"


def commands(binary):
    """The commands `autoscaler --help` lists, in order."""
    r = run_cli(binary, ["--help"])
    assert r.returncode == 0, r
    block = r.stdout.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    names = [m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]*)\b", block, re.M)]
    return list(dict.fromkeys(names))  # a command with two forms is listed twice


def help_of(binary, cmd):
    r = run_cli(binary, [cmd, "--help"])
    assert r.returncode == 0 and r.stdout.startswith(f"usage: autoscaler {cmd}"), (cmd, r)
    return r.stdout


def usage_lines(help_text):
    """The usage forms of a --help text, each on one line (continuation lines joined)."""
    forms = []
    for line in help_text.split("\n\n", 1)[0].splitlines():
        x = line.strip()
        if x.startswith("usage: "):
            x = x[len("usage: "):]
        if x.startswith("autoscaler ") or not forms:
            forms.append(x)
        else:
            forms[-1] += " " + x
    return forms


@test
def test_cli_md_is_every_help(ctx):
    """Each command's --help is in docs/cli.md as is (scripts/gen-cli-doc.sh writes it)."""
    doc = read(os.path.join(DOCS, "cli.md"))
    m = re.search(r"<!-- BEGIN GENERATED: autoscaler help -->\n(.*)<!-- END GENERATED -->",
                  doc, re.S)
    assert m, "docs/cli.md lost its generated section"
    want = "".join(f"### `autoscaler {c}`\n\n```text\n{help_of(ctx.bin, c)}```\n\n"
                   for c in commands(ctx.bin))
    assert m.group(1) == want, "docs/cli.md is out of date: run scripts/gen-cli-doc.sh"


@test
def test_cli_md_synopsis(ctx):
    """The synopsis at the top of cli.md is each command's usage line, in --help's order, and
    the one-line summaries of `autoscaler --help` use only flags the command has."""
    doc = read(os.path.join(DOCS, "cli.md"))
    synopsis = re.search(r"^```\n(autoscaler .*?)```", doc, re.M | re.S).group(1).splitlines()
    cmds = commands(ctx.bin)
    want = [f for c in cmds for f in usage_lines(help_of(ctx.bin, c))]
    assert synopsis[:-1] == want, ("synopsis", synopsis, want)
    assert synopsis[-1] == "autoscaler --version | --help | COMMAND --help", synopsis[-1]
    main_help = run_cli(ctx.bin, ["--help"]).stdout
    for c in cmds:
        for line in re.findall(rf"^  {c}\b(.*)$", main_help, re.M):
            for flag in re.findall(r"--[a-z-]+", line):
                assert flag in help_of(ctx.bin, c), (c, flag)
        row = re.search(rf"^\| [^|\n]*`{c}\b", doc, re.M)
        assert row, f"cli.md's table has no row for {c}"


@test
def test_demo_docs_match_the_demo(ctx):
    """The demo's load profile (the app's own answers) is what --help, cli.md and README say."""
    demo_help = help_of(ctx.bin, "demo")
    said = re.search(r"load is (\S+), steps to (\S+) at (\d+) s and down to (\S+) at (\d+) s, "
                     r"and starts over at (\d+) s", " ".join(demo_help.split()))
    assert said, demo_help
    low, high, t_up, mid, t_down, period = said.groups()
    readme = read(os.path.join(REPO, "README.md"))
    flat = " ".join(readme.split())
    assert f"{low} → {high} → {mid} (at {t_up} s and {t_down} s, and starts over at {period} s)" \
        in flat, "README.md's demo paragraph does not say the demo's steps"
    for flag in re.findall(r"--[a-z-]+", " ".join(usage_lines(demo_help))):
        assert flag in read(os.path.join(DOCS, "cli.md")).split("## Signals")[0], flag
    # The app itself, at --speed 10.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # A copy of the binary: test_demo, maybe running beside this test, looks for processes
    # of its binary named "autoscaler demo-app" left behind.
    copy = os.path.join(ctx.tmp, "as-demo-copy")
    shutil.copy(ctx.bin, copy)
    app = subprocess.Popen([copy, "demo-app", "--port", str(port), "--speed", "10"],
                           stderr=subprocess.DEVNULL)
    ctx.defer(lambda: (app.kill(), app.wait()))
    deadline = time.monotonic() + 10
    while True:  # until the app answers
        try:
            load_at(port)
            break
        except OSError:
            assert time.monotonic() < deadline, "demo-app did not start"
            time.sleep(0.05)
    # Sample the load every 0.1 s over one period and find when it changes: the steps' spacing
    # must be the documented one (the app's clock started a little before the first answer).
    speed, start, samples = 10.0, time.monotonic(), []
    while time.monotonic() - start < float(period) / speed + 1.0:
        samples.append((time.monotonic() - start, load_at(port)))
        time.sleep(0.1)
    steps = [(t, v) for (t, v), (_, prev) in zip(samples[1:], samples) if v != prev]
    want = [(float(t_up), float(high)), (float(t_down), float(mid)), (float(period), float(low))]
    assert [v for _, v in steps] == [v for _, v in want], (steps, samples[0])
    assert float(t_up) / speed - 2.0 < steps[0][0] <= float(t_up) / speed + 0.3, steps
    for (t, _), (w, _) in zip(steps[1:], want[1:]):
        assert abs((t - steps[0][0]) - (w - float(t_up)) / speed) < 0.4, (steps, want)


def load_at(port):
    import json
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/app/status", timeout=2) as r:
        return json.loads(r.read())["load"]


HEADING = re.compile(r"^#{1,6} +(.*?) *#*$", re.M)


def anchors(text):
    """GitHub's anchors of a Markdown text's headings."""
    seen, out = {}, set()
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    for m in HEADING.finditer(text):
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@test
def test_links_resolve(ctx):
    pages = [os.path.join(REPO, "README.md")]
    for root, _, files in os.walk(DOCS):
        pages += [os.path.join(root, f) for f in files if f.endswith(".md")]
    broken = []
    for page in sorted(pages):
        text = read(page)
        body = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
        body = re.sub(r"`[^`\n]*`", "", body)
        for target in LINK.findall(body):
            if re.match(r"^[a-z]+:", target):
                continue  # http:, https:, mailto:
            path, _, frag = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            where = f"{os.path.relpath(page, REPO)}: ({target})"
            if not os.path.exists(dest):
                broken.append(f"{where}: no {os.path.relpath(dest, REPO)}")
            elif frag and dest.endswith(".md") and frag not in anchors(read(dest)):
                broken.append(f"{where}: no heading #{frag}")
    assert not broken, "broken links:\n  " + "\n  ".join(broken)


if __name__ == "__main__":
    sys.exit(main())
