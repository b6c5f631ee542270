#!/usr/bin/env python3
"""The README's first command: `autoscaler demo` runs a real loop with no outside service.
At --speed 10 the load steps 1.5 -> 6.0 at 4 s and 6.0 -> 2.5 at 9 s (a 3 s scale-down window at that speed); the pool of real
worker processes must follow both steps, and the demo must stop cleanly, leaving no process.

    python3 tests/integration/test_demo.py --bin build/autoscaler
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import decisions_of, main, run_cli, test  # noqa: E402


@test
def test_demo_follows_load_and_stops_cleanly(ctx):
    r = run_cli(ctx.bin, ["demo", "--speed", "10", "--duration", "20"], timeout=40, cwd=ctx.tmp)
    assert r.returncode == 0, r.stderr[-3000:]
    ds = decisions_of(r.stderr)
    assert len(ds) >= 5, r.stderr[-3000:]
    currents = [d.current for d in ds]
    peak = max(currents)
    assert peak >= 7, f"never followed the step to 6.0 (6.0/0.8 = 7.5 workers): {currents}"
    after_peak = currents[currents.index(peak):]
    assert min(after_peak) <= 4, f"never followed the step down to 2.5: {currents}"
    assert re.search(r"load is now 6\.0", r.stderr)
    assert "main: stopped" in r.stderr
    # The log file was written in the working directory, and no worker outlived the demo.
    assert os.path.getsize(os.path.join(ctx.tmp, "autoscaler.log")) > 0
    # Only this binary's demo processes: other builds may run demos on the same machine.
    binary = os.path.realpath(ctx.bin)
    left = [p for p in os.popen("pgrep -f 'autoscaler demo-(worker|app)'").read().split()
            if os.path.realpath(f"/proc/{p}/exe") == binary] if os.path.exists(binary) else []
    assert not left, f"processes left behind: {left}"


if __name__ == "__main__":
    sys.exit(main())
