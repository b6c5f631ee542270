#!/usr/bin/env python3
"""Faults: the state directory (scenario 7 of tests/faults/README.md).

The state_dir becomes unwritable (a regular file where the directory was: root ignores
permissions), fills up (a 64 KiB tmpfs, as root; skipped with a SKIP line where mount is not
allowed), or is moved by a reload. Invariants: the daemon keeps scaling (a scale-up under load
still happens), the write failures are logged and counted (state_write_errors), no *.tmp is
left, and once the directory is usable again the state file is whole and current.

    python3 tests/faults/test_statedir.py --bin build/autoscaler [-k NAME]
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faultlib import (ENGINE, app_of, config, counters, finish, main, read_state,  # noqa: E402
                      start, state_file, test, wait_counter, wait_for, write_config)


def setup(ctx):
    app = app_of(ctx, load=4.8, replicas=6)                 # cpu 0.8: on target
    cfg = config(ctx.tmp, app, state=True, interval="300ms")
    return app, cfg


def scale_to(app, d, load, want, what):
    mark = d.mark()
    app.set_load(load)
    d.wait_until(lambda: app.replicas == want, 10, what)
    d.wait_log(rf"engine\[web\]: scaled \d+->{want} via http", 5, since=mark)


def no_tmp(directory):
    left = [f for f in os.listdir(directory) if ".tmp" in f] if os.path.isdir(directory) else []
    assert not left, f"temporary files left in {directory}: {left}"


def whole_and_current(app, path, timeout=5):
    """The state file parses and holds the app's count, with no intent pending."""
    def ok():
        st = read_state(path)
        return st if st and st.get("count") == app.replicas and st.get("pending") is None \
            else None
    try:
        return wait_for(ok, timeout, f"{path} whole and current")
    except AssertionError:
        raise AssertionError(f"state not whole and current: {read_state(path)}; app count "
                             f"{app.replicas}")


@test
def test_unwritable_state_dir(ctx):
    app, cfg = setup(ctx)
    d = start(ctx, cfg)
    sdir = cfg["state_dir"]
    wait_for(lambda: read_state(state_file(cfg)), 5, "the first state file")
    c0 = counters(d, groups=[ENGINE, "web"])
    shutil.move(sdir, sdir + ".moved")
    with open(sdir, "w") as f:                              # a regular file in its place
        f.write("not a directory\n")
    mark = d.mark()
    scale_to(app, d, 6.4, 8, "a scale-up while the state cannot be written")
    d.wait_log(r"engine: saving state: .*", 5, since=mark)
    d.wait_log(r"engine\[web\]: the intent to scale 6->8 could not be written", 5, since=mark)
    # Two writes failed, both counted by the engine: the intent before the call (also
    # counted on the group) and the scale after it.
    e0 = c0[ENGINE]
    e1 = wait_counter(d, ENGINE, "state_write_errors", e0["state_write_errors"] + 2)
    grew = e1["state_write_errors"] - e0["state_write_errors"]
    c1 = counters(d)["web"]
    assert c1["state_write_errors"] - c0["web"]["state_write_errors"] >= 1, (c0, c1)
    assert c1["scales"] - c0["web"]["scales"] == 1

    os.remove(sdir)                                         # usable again
    scale_to(app, d, 8.0, 10, "the next scale-up, with the directory back")
    whole_and_current(app, state_file(cfg))
    no_tmp(sdir)
    finish(d)
    whole_and_current(app, state_file(cfg))
    print(f"unwritable: state_write_errors +{grew}; scaled 6->8 without a record, state whole "
          f"again after the next scale", flush=True)


def fill(directory):
    """Fills a file system until it has no space left; returns the filler's path."""
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0" * 1024)
    os.close(fd)
    return path


@test
def test_full_state_dir(ctx):
    app, cfg = setup(ctx)
    sdir = cfg["state_dir"]
    os.makedirs(sdir)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", sdir],
                       capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        print(f"SKIP test_full_state_dir: cannot mount a tmpfs: {r.stderr.strip()}", flush=True)
        return
    ctx.defer(lambda: subprocess.run(["umount", "-l", sdir], capture_output=True, timeout=10))
    d = start(ctx, cfg)
    wait_for(lambda: read_state(state_file(cfg)), 5, "the first state file")
    c0 = counters(d, groups=[ENGINE, "web"])
    # Make the state large enough not to fit in the last few bytes a filled tmpfs keeps.
    filler = fill(sdir)
    mark = d.mark()
    scale_to(app, d, 6.4, 8, "a scale-up with the disk full")
    d.wait_log(r"engine: saving state: .*(?i:no space|space)", 5, since=mark)
    e0 = c0[ENGINE]
    e1 = wait_counter(d, ENGINE, "state_write_errors", e0["state_write_errors"] + 2)
    grew = e1["state_write_errors"] - e0["state_write_errors"]
    no_tmp(sdir)
    st = read_state(state_file(cfg))
    assert st is not None, "the old state file was damaged by a failed write"

    os.remove(filler)                                       # space again
    scale_to(app, d, 8.0, 10, "the next scale-up with space back")
    whole_and_current(app, state_file(cfg))
    no_tmp(sdir)
    finish(d)
    whole_and_current(app, state_file(cfg))
    print(f"full: state_write_errors +{grew}; the old file intact, current after space came "
          f"back", flush=True)


@test
def test_reload_moves_the_state_dir(ctx):
    app, cfg = setup(ctx)
    d = start(ctx, cfg)
    wait_for(lambda: read_state(state_file(cfg)), 5, "the first state file")
    new = os.path.join(ctx.tmp, "elsewhere", "deeper", "state")
    cfg2 = dict(cfg, state_dir=new)
    mark = d.mark()
    write_config(ctx.tmp, cfg2)
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"main: reloaded", 5, since=mark)
    assert os.path.isdir(new), "the new state_dir was not created on reload"
    scale_to(app, d, 6.4, 8, "a scale-up after the reload")
    whole_and_current(app, state_file(cfg2))
    no_tmp(new)
    finish(d)
    whole_and_current(app, state_file(cfg2))
    old = read_state(state_file(cfg))
    assert old is None or old.get("count") == 6, old


if __name__ == "__main__":
    sys.exit(main())
