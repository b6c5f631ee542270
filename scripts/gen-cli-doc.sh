#!/usr/bin/env bash
# Regenerates docs/cli.md's synopsis (each command's usage line) and its section of every
# command's --help from the binary. tests/integration/test_docs.py fails when they differ.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/autoscaler}
python3 - "$bin" docs/cli.md <<'PY'
import re, subprocess, sys
binary, doc = sys.argv[1], sys.argv[2]
def out(*args):
    return subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout
block = out("--help").split("commands:\n", 1)[1].split("\n\n", 1)[0]
cmds = list(dict.fromkeys(re.findall(r"^  ([a-z][a-z-]*)\b", block, re.M)))
helps = {c: out(c, "--help") for c in cmds}
def usages(h):
    """The usage forms of a --help text, each on one line (continuation lines joined)."""
    forms = []
    for line in h.split("\n\n", 1)[0].splitlines():
        x = line.strip()
        if x.startswith("usage: "):
            x = x[len("usage: "):]
        if x.startswith("autoscaler ") or not forms:
            forms.append(x)
        else:
            forms[-1] += " " + x
    return forms
synopsis = "".join(f + "\n" for c in cmds for f in usages(helps[c])) + \
    "autoscaler --version | --help | COMMAND --help\n"
text = open(doc, encoding="utf-8").read()
text = re.sub(r"^```\nautoscaler .*?```", lambda m: "```\n" + synopsis + "```", text, count=1,
              flags=re.M | re.S)
gen = "".join(f"### `autoscaler {c}`\n\n```text\n{helps[c]}```\n\n" for c in cmds)
begin, end = "<!-- BEGIN GENERATED: autoscaler help -->\n", "<!-- END GENERATED -->"
text = text.split(begin)[0] + begin + gen + end + text.split(end, 1)[1]
open(doc, "w", encoding="utf-8").write(text)
PY
