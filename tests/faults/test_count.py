#!/usr/bin/env python3
"""Faults: the replica count (scenario 2 of tests/faults/README.md).

The count is read with GET /app/replicas every round. While the read fails, is implausible
(above count_max) or unconfirmed (changed other than by the group's own scale and not yet read
the same count_confirm rounds in a row), the group holds: no decision, no scale, no clamp to
min or max, and the fault is counted. A count lowered by someone else is real: once confirmed
it is used.

    python3 tests/faults/test_count.py --bin build/autoscaler [-k NAME]
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faultlib import (app_of, assert_decides_on_cadence, config, counters, finish,  # noqa: E402
                      main, start, test)

INTERVAL = 0.4


def setup(ctx, **extra):
    app = app_of(ctx, load=4.8, replicas=6)                 # cpu 0.8: on target
    d = start(ctx, config(ctx.tmp, app, extra=extra or None))
    d.wait_decisions(2, 10)
    return app, d


def gets(app, since):
    return app.count("GET", "/app/replicas", since=since)


def held_under(app, d, mode, rounds, counter, pattern, count=None, once=True):
    """Injects get fault `mode` (for `count` requests, or until cleared), makes the load want
    a scale-up, and checks the group holds for `rounds` rounds: no PUT, no decision, the
    counter grows, the WARN is logged (once, with `once`: a warning whose text does not
    change is not repeated at WARN). Returns the log mark from before the fault."""
    c0 = counters(d)["web"]
    mark, t0 = d.mark(), time.monotonic()
    app.inject("get", mode, count)
    app.set_load(9.6)                                      # on 6 replicas: wants 8
    d.wait_until(lambda: app.faults_served("get", mode) >= rounds, rounds * INTERVAL * 3 + 5,
                 f"{rounds} '{mode}' faults served")
    # The round that got the last fault has ended once the next round has begun.
    n = gets(app, t0)
    d.wait_until(lambda: gets(app, t0) > n, INTERVAL * 3 + 3, "one more round")
    c1 = counters(d)["web"]
    if count is None:  # (a fault of `count` rounds: the round after it may scale, rightly)
        puts = app.requests("PUT", since=t0)
        assert not puts, f"'{mode}': scaled on a count that is not trusted: {puts}\n{d.tail()}"
        decided = [x.line.raw for x in d.decisions(since=mark)]
        assert not decided, f"'{mode}': decided while the count was bad:\n" + "\n".join(decided)
    grew = c1[counter] - c0[counter]
    assert grew >= rounds, f"'{mode}': {counter} grew by {grew} in {rounds} rounds: {c0} {c1}"
    warns = [m.string for m in d.grep(r"WARN  engine\[web\]: " + pattern, mark)]
    assert warns, f"'{mode}': no WARN /{pattern}/\n{d.tail()}"
    if once:
        assert len(warns) == 1, f"'{mode}': the same WARN logged {len(warns)} times:\n" + \
            "\n".join(warns)
    print(f"'{mode}': held {rounds} rounds, {counter} +{grew}", flush=True)
    return mark


def resumes(app, d):
    """After the fault: the scale the load asked for happens, and rounds are on cadence."""
    app.clear("get")
    d.wait_until(lambda: app.replicas == 8, 10, "the scale-up to 8 after the fault cleared")
    assert_decides_on_cadence(d, "web", INTERVAL, seconds=2.5)


@test
def test_count_read_failing(ctx):
    app, d = setup(ctx)
    held_under(app, d, "500", 4, "count_failures",
               r"reading the replica count via http failed: .*500.*: no decision, hold")
    resumes(app, d)
    finish(d)


@test
def test_count_absurd(ctx):
    app, d = setup(ctx)
    mark = held_under(app, d, "absurd", 4, "count_implausible",
                      r"replica count 1000000000 is implausible \(above count_max 200\)")
    assert not [x for x in d.decisions(since=mark) if x.current > 20]
    resumes(app, d)
    finish(d)


@test
def test_count_sudden_zero(ctx):
    """Two rounds read 0 (count_confirm 3): held both times, no scale from 0, no clamp to
    min; the real count read next is trusted at once and the scale-up starts from it."""
    app, d = setup(ctx, count_confirm=3)
    mark = held_under(app, d, "zero", 2, "count_unconfirmed",
                      r"replica count 0 differs from the last trusted 6: unconfirmed "
                      r"\(read 1 of 3\)", count=2, once=False)
    d.wait_until(lambda: app.replicas == 8, 10, "the scale-up from the real count")
    zero = [x.line.raw for x in d.decisions(since=mark) if x.current == 0]
    assert not zero, "decided from a count of 0:\n" + "\n".join(zero)
    assert [(c.old, c.new) for c in app.history("put")] == [(6, 8)], app.history()
    finish(d)


@test
def test_count_jumping(ctx):
    app, d = setup(ctx)
    held_under(app, d, "jump", 6, "count_unconfirmed",
               r"replica count \d+ differs from the last trusted 6: unconfirmed", once=False)
    resumes(app, d)
    finish(d)


@test
def test_count_lowered_outside_is_trusted_after_confirm(ctx):
    app, d = setup(ctx)
    c0 = counters(d)["web"]
    mark, t0 = d.mark(), time.monotonic()
    app.set_replicas(3)                                     # someone else scaled it down
    x = d.wait_decisions(1, 10, since=mark, where=lambda x: x.current == 3)[0]
    # Trusted only at its second read (count_confirm 2): one round held first.
    held = d.grep(r"WARN  engine\[web\]: replica count 3 differs from the last trusted 6: "
                  r"unconfirmed \(read 1 of 2\)", mark)
    assert held, d.tail()
    before = [y for y in d.decisions(since=mark) if y.line.raw < x.line.raw]
    assert all(y.current == 6 for y in before), [y.line.raw for y in before]
    c1 = counters(d)["web"]
    assert c1["count_unconfirmed"] - c0["count_unconfirmed"] >= 1, (c0, c1)
    # Used: 3 replicas at load 4.8 is above target, so the group scales back up from 3.
    d.wait_until(lambda: app.replicas == 6, 15, "back at 6 from the trusted 3")
    ups = [(c.old, c.new) for c in app.history("put") if c.t >= t0]
    assert ups and ups[0][0] == 3, ups
    print(f"outside change 6->3 trusted after {app.count('GET', '/app/replicas', since=t0)} "
          f"reads in all; path back {ups}", flush=True)
    finish(d)


if __name__ == "__main__":
    sys.exit(main())
