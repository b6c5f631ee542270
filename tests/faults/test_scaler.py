#!/usr/bin/env python3
"""Faults: the scale call (scenario 3 of tests/faults/README.md).

The http scaler's PUT answers 409 (permanent), 503 or 429 (transient), hangs past the
timeout, answers 204 without changing anything, or is slow (within the timeout, or past it
while the change does land). A transient failure is retried with backoff after re-reading
the count; a permanent one is not retried; an ineffective set is a warning (once) and a
counter, never a `scaled` line; a round never overlaps the next (rounds_skipped instead); the
count never goes below what the decisions asked for.

    python3 tests/faults/test_scaler.py --bin build/autoscaler [-k NAME]
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faultlib import (app_of, config, counters, finish, main, no_scale_down,  # noqa: E402
                      scaled_lines, start, test)

INTERVAL = 0.4


def setup(ctx, scaler=None, interval="400ms", **app_kw):
    app = app_of(ctx, load=4.8, replicas=6, **app_kw)      # cpu 0.8: on target
    d = start(ctx, config(ctx.tmp, app, interval=interval, scaler=scaler))
    d.wait_decisions(2, 10)
    return app, d


def put_times(app, since):
    return [r.t for r in app.requests("PUT", "/app/replicas", since=since)]


@test
def test_409_is_permanent_not_retried(ctx):
    app, d = setup(ctx)
    c0 = counters(d)["web"]
    mark, t0 = d.mark(), time.monotonic()
    app.inject("put", "409")
    app.set_load(6.4)                                       # wants 8 (and holds there)
    d.wait_until(lambda: app.faults_served("put", "409") >= 3, 8, "three 409s")
    rounds = len(d.grep(r"engine\[web\]: giving up on 6->8 until the next round$", mark))
    attempts = d.grep(r"engine\[web\]: scale 6->8 via http failed \(attempt (\d)/3, permanent\)",
                      mark)
    assert attempts and all(m.group(1) == "1" for m in attempts), [m.string for m in attempts]
    assert app.put_requests <= rounds + 1, f"{app.put_requests} PUTs for {rounds} rounds"
    assert not scaled_lines(d, mark) and app.replicas == 6
    app.clear("put")
    d.wait_log(r"engine\[web\]: scaled 6->8 via http", 8, since=mark)
    c1 = counters(d)["web"]
    assert c1["scale_failures"] - c0["scale_failures"] >= 3, (c0, c1)
    assert c1["scales"] - c0["scales"] == 1, (c0, c1)
    finish(d)


def check_backoff(app, d, t0, base_ms, cap_ms, n):
    """The first n PUT attempts of one scale: each retry after a re-read (GET) and at least
    the lower bound of its jittered delay (equal jitter: [d/2, d], d = min(cap, base*2^k))."""
    puts = put_times(app, t0)[:n]
    gets = [r.t for r in app.requests("GET", "/app/replicas", since=t0)]
    gaps = []
    for k in range(1, len(puts)):
        gap_ms = (puts[k] - puts[k - 1]) * 1000
        low = min(cap_ms, base_ms * 2 ** (k - 1)) / 2
        gaps.append(round(gap_ms))
        assert gap_ms >= low - 5, f"retry {k} after {gap_ms:.0f}ms, below its backoff {low}ms"
        assert any(puts[k - 1] < g < puts[k] for g in gets), f"retry {k} without a re-read"
    return gaps


@test
def test_5xx_and_429_retried_with_backoff(ctx):
    app, d = setup(ctx, scaler={"retries": 3, "backoff": "100ms", "backoff_max": "400ms"})
    c0 = counters(d)["web"]
    for mode in ("503", "429"):
        mark, t0 = d.mark(), time.monotonic()
        want = app.replicas + 2
        app.inject("put", mode, 2)                          # two failures, then it works
        app.set_load(want * 0.8)                             # cpu 1 (capped) wants more
        d.wait_log(r"engine\[web\]: scaled \d+->\d+ via http", 10, since=mark)
        gaps = check_backoff(app, d, t0, 100, 400, 3)
        tries = [m.group(4) for m in d.grep(r"engine\[web\]: scale (\d+)->(\d+) via http failed "
                                            r"\(attempt (\d)/4\): (.*)$", mark)]
        assert len(tries) == 2 and all(mode in t for t in tries), tries
        print(f"{mode}: 2 failures, retried after {gaps} ms, then scaled", flush=True)
        d.wait_decisions(2, 5, since=d.mark())
    c1 = counters(d)["web"]
    assert c1["scale_failures"] - c0["scale_failures"] == 4, (c0, c1)
    no_scale_down(app)
    finish(d)


@test
def test_persistent_503_gives_up_and_settles(ctx):
    app, d = setup(ctx, scaler={"retries": 1, "backoff": "50ms", "backoff_max": "50ms"})
    mark = d.mark()
    app.inject("put", "503")
    app.set_load(9.6)
    d.wait_log(r"engine\[web\]: giving up on 6->8 until the next round \(it counts as a scale "
               r"until the count is read\)", 8, since=mark)
    # The next trusted read settles it: it did not land, and the group tries again.
    d.wait_log(r"engine\[web\]: the scale 6->8 whose outcome was unknown did not land", 5,
               since=mark)
    d.wait_until(lambda: app.faults_served("put", "503") >= 4, 8, "a second round of tries")
    assert app.replicas == 6 and not scaled_lines(d, mark)
    app.clear("put")
    d.wait_until(lambda: app.replicas == 8, 8, "scaled once the PUT works")
    finish(d)


@test
def test_hung_put_times_out_and_is_retried(ctx):
    app, d = setup(ctx, scaler={"timeout": "300ms", "retries": 2, "backoff": "50ms"},
                   hang_s=3.0)
    c0 = counters(d)["web"]
    mark, t0 = d.mark(), time.monotonic()
    app.inject("put", "hang", 1)                            # not applied; answers after 3 s
    app.set_load(9.6)
    d.wait_until(lambda: app.replicas == 8, 8, "scaled by the retry")
    puts = put_times(app, t0)
    assert len(puts) == 2, puts
    took = (puts[1] - puts[0]) * 1000
    # Given up at the timeout (+ the engine's slack), then backoff, re-read, retry: not 3 s.
    assert took < 300 + 100 + 100 + 600, f"the retry came {took:.0f}ms after the hung PUT"
    m = d.wait_log(r"engine\[web\]: scale 6->8 via http failed \(attempt 1/3\): (.*)$", 2,
                   since=mark)
    print(f"hung PUT: '{m.group(1)}'; retried {took:.0f}ms after it", flush=True)
    c1 = counters(d)["web"]
    assert c1["scale_failures"] - c0["scale_failures"] == 1, (c0, c1)
    d.wait_log(r"engine\[web\]: scaled 6->8 via http", 5, since=mark)  # after the read back
    assert scaled_lines(d, mark) == [(6, 8)], scaled_lines(d, mark)
    finish(d)


@test
def test_ineffective_set_warned_once_never_scaled(ctx):
    app, d = setup(ctx)
    c0 = counters(d)["web"]
    mark = d.mark()
    app.inject("put", "noop")
    app.set_load(9.6)
    d.wait_until(lambda: app.faults_served("put", "noop") >= 4, 8, "four ineffective sets")
    d.wait_decisions(1, 3, since=d.mark())
    c1 = counters(d)["web"]
    warns = d.grep(r"WARN  engine\[web\]: set 6->8 via http answered OK but the count is still "
                   r"6: an ineffective scale", mark)
    assert len(warns) == 1, f"warned {len(warns)} times for 4 ineffective sets:\n{d.tail()}"
    assert not scaled_lines(d, mark), "an ineffective set was logged as scaled"
    assert c1["scale_ineffective"] - c0["scale_ineffective"] >= 4, (c0, c1)
    assert c1["scales"] == c0["scales"], (c0, c1)
    app.clear("put")
    d.wait_until(lambda: app.replicas == 8, 8, "scaled once the set works")
    # The scale is logged once the count has been read back, a moment after the PUT.
    d.wait_log(r"engine\[web\]: scaled 6->8 via http", 5, since=mark)
    assert scaled_lines(d, mark) == [(6, 8)]
    finish(d)


@test
def test_slow_scaler_rounds_never_overlap(ctx):
    """Every call takes 250 ms (within the 350 ms timeout): a round with a scale takes three
    calls, longer than the 400 ms interval. The ticks that find it busy are skipped and
    counted; no round's requests arrive while a PUT is being answered."""
    app, d = setup(ctx, scaler={"timeout": "350ms"}, slow_s=0.25)
    c0 = counters(d)["web"]
    mark, t0 = d.mark(), time.monotonic()
    app.inject("get", "slow")
    app.inject("put", "slow")
    app.set_load(12.8)                                      # 6 -> 8 -> 10 -> 13 -> 16
    d.wait_until(lambda: app.replicas == 16, 25, "16 replicas through slow calls")
    d.wait_log(r"engine\[web\]: scaled 13->16 via http", 5, since=mark)
    app.clear()
    c1 = counters(d)["web"]
    skipped = c1["rounds_skipped"] - c0["rounds_skipped"]
    assert skipped >= 1, "no round skipped although rounds took longer than the interval"
    assert d.grep(r"engine\[web\]: round skipped: the previous one is still \w+", mark)
    puts = app.requests("PUT", since=t0)
    others = [r for r in app.requests(since=t0) if r.method == "GET"]
    overlap = [(p.t, r.path, r.t) for p in puts for r in others if p.t < r.t < p.t + 0.24]
    assert not overlap, f"requests while a PUT was in flight: {overlap}"
    assert [c.new for c in app.history("put")] == [8, 10, 13, 16], app.history()
    print(f"slow calls: {len(puts)} scales, {skipped} ticks skipped", flush=True)
    finish(d)


@test
def test_slow_past_timeout_landed_is_not_repeated(ctx):
    """The PUT applies the change at once and answers after 1 s, past the 300 ms timeout: the
    engine gives up on the call, re-reads before retrying, finds the count it asked for and
    records the scale (once; no second PUT, nothing lowered)."""
    app, d = setup(ctx, scaler={"timeout": "300ms", "retries": 2, "backoff": "50ms"},
                   slow_s=1.0)
    mark, t0 = d.mark(), time.monotonic()
    app.inject("put", "slow", 1)
    app.set_load(6.4)                                       # wants 8 (and holds there)
    d.wait_log(r"engine\[web\]: scaled 6->8 via http in \d+ms \(the earlier attempt landed\)", 8,
               since=mark)
    d.wait_decisions(3, 5, since=d.mark())
    assert len(put_times(app, t0)) == 1, app.requests("PUT", since=t0)
    assert scaled_lines(d, mark) == [(6, 8)]
    no_scale_down(app)
    finish(d)


@test
def test_sigterm_during_a_slow_scale_exits_cleanly(ctx):
    """SIGTERM while a scale call is in flight and the group's next tick falls before the
    call ends: the daemon waits for the call, then exits 0 with no sanitizer report."""
    app, d = setup(ctx, scaler={"timeout": "350ms"}, slow_s=0.3)
    app.inject("get", "slow")
    app.inject("put", "slow")
    app.set_load(6.4)                                       # wants 8
    d.wait_until(lambda: app.inflight("put") == 1, 10, "the PUT in flight")
    t0 = time.monotonic()
    finish(d)
    print(f"stopped {time.monotonic() - t0:.2f}s after SIGTERM", flush=True)
    assert d.grep(r"engine\[web\]: waiting for the scale call 6->8 to finish")


if __name__ == "__main__":
    sys.exit(main())
