#!/usr/bin/env python3
"""User-space instructions per fetch, counted by callgrind: a figure the noise of a shared
machine does not move, for comparing two builds side by side (issue 11).

    python3 bench/fetch_instructions.py [--bin build/autoscaler] [--base OTHER_BINARY]
                                        [--groups 200] [--seconds 20]

Starts nginx-light as bench/scale.py does (one worker, 127.0.0.1, a free port) and, for each
binary, the daemon under `valgrind --tool=callgrind` with N groups polling its 56-byte JSON
every second (`run --dry-run`, the groups of bench/scale.py). After a warm-up, callgrind's
counters are zeroed (`callgrind_control --zero`) and dumped --seconds later; the instructions
between the two, over the requests nginx served the daemon meanwhile, are the daemon's
user-space instructions per fetch: the poll, the JSON, the decision and the event loop,
without the kernel's part (the system calls cost what they cost; bench/scale.py measures
that). Prints each binary's figure and, with --base, the ratio.
Everything on 127.0.0.1; every process it starts is stopped.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import config, free_port, served, start_nginx, stop  # noqa: E402


def measure(binary, n, seconds, url, tmp, tag):
    log = os.path.join(tmp, f"{tag}.log")
    path = os.path.join(tmp, f"{tag}.yaml")
    with open(path, "w") as f:
        f.write(config(n, url, log, free_port(), "info"))
    out = os.path.join(tmp, f"{tag}.callgrind")
    d = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                          binary, "run", "-c", path, "--dry-run"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(8)  # valgrind's start, the configuration, the connections, first rounds
        subprocess.run(["callgrind_control", "--zero", str(d.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        s0 = served(url)
        time.sleep(seconds)
        s1 = served(url)
        subprocess.run(["callgrind_control", "--dump", str(d.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        stop(d)
    dumps = sorted(glob.glob(out + ".*"), key=os.path.getmtime)
    if not dumps:
        raise SystemExit(f"callgrind wrote no dump for {binary}")
    with open(dumps[0]) as f:
        total = next(int(m.group(1)) for line in f
                     if (m := re.match(r"(?:summary|totals): (\d+)", line)))
    fetches = max(1, s1 - s0 - 2)  # the two stub_status reads
    return total / fetches, fetches, dumps[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default="build/autoscaler")
    p.add_argument("--base", help="a second binary (an earlier build), measured in the same run")
    p.add_argument("--groups", type=int, default=200)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--keep", action="store_true",
                   help="keep the callgrind dumps (for callgrind_annotate) and print their paths")
    a = p.parse_args()
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install -y valgrind")
    tmp = tempfile.mkdtemp(prefix="as-fetchins-")
    nginx, url, _ = start_nginx(tmp)
    try:
        rows = []
        for tag, binary in (("base", a.base), ("bin", a.bin)):
            if binary:
                rows.append((tag, binary) + measure(binary, a.groups, a.seconds, url, tmp, tag))
    finally:
        stop(nginx)
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'':5} {'instructions/fetch':>18} {'fetches':>8}  binary")
    for tag, binary, ins, fetches, dump in rows:
        print(f"{tag:5} {ins:18,.0f} {fetches:8d}  {binary}" + (f"  ({dump})" if a.keep else ""))
    if len(rows) == 2:
        print(f"bin/base: {rows[1][2] / rows[0][2]:.2f}x")


if __name__ == "__main__":
    main()
