#!/usr/bin/env python3
"""What saving a group's state costs the loop thread: written on the loop (temporary file,
write, rename, as the engine did) vs handed to the writer thread (src/util/writer.c), side by
side in one run; the writer thread's throughput; and how late 1 s group ticks run when every
tick saves, in both modes.

Compiles bench/writer_bench.c with the writer and the loop at -O2 (no sanitizers) into a
temporary directory, runs it against a fresh directory under --dir (the same disk as the
state directory should be: not a tmpfs), and removes both afterwards.

    python3 bench/writer.py [--dir /var/tmp] [--files 4000] [--size 1024] [--durable 200]
                            [--rounds 3] [--lag-seconds 6] [--no-lag]

Bounded: the cost part writes files x rounds files (durable: durable x rounds), the lag part
runs --lag-seconds per mode.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ["bench/writer_bench.c"] + [
    f"src/util/{m}.c" for m in ("writer", "loop", "util", "log", "err")
]


def build(out):
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-D_DEFAULT_SOURCE",
           "-DAS_VERSION=\"bench\"", "-Wall", "-Wextra", "-Werror", "-Wno-format-truncation",
           "-I", os.path.join(ROOT, "src")]
    cmd += [os.path.join(ROOT, s) for s in SOURCES] + ["-o", out, "-lpthread", "-lm"]
    subprocess.run(cmd, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="/var/tmp", help="parent of the files' directory")
    ap.add_argument("--files", type=int, default=4000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--durable", type=int, default=200, help="files in the durable pass")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lag-seconds", type=int, default=6)
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--no-lag", action="store_true")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="writer-bench-")
    work = tempfile.mkdtemp(prefix="writer-bench-", dir=args.dir)
    try:
        exe = os.path.join(tmp, "writer_bench")
        build(exe)
        subprocess.run([exe, "cost", work, str(args.files), str(args.size), str(args.durable),
                        str(args.rounds)], check=True)
        if args.no_lag:
            return
        print(f"\n{args.files} groups ticking every {args.interval_ms} ms, each tick saves "
              f"({args.lag_seconds} s per mode); lateness of a tick in ms:")
        print(f"{'mode':7} {'groups':>7} {'ticks':>8} {'p50':>9} {'p99':>9} {'max':>9} "
              f"{'groups missed':>14} {'max gap':>10}")
        sys.stdout.flush()
        for mode in ("sync", "writer"):
            subprocess.run([exe, "lag", work, mode, str(args.files), str(args.lag_seconds),
                            str(args.interval_ms), str(args.size)], check=True)
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
