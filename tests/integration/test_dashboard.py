#!/usr/bin/env python3
"""The dashboard at / in a real browser (Debian's headless Chromium, driven over the DevTools
protocol by tests/integration/cdp.py) against a running daemon whose group scales:

  - the panels show the real current values: each group's replicas, desired count and bounds,
    each metric's value, the latest decision's reason and, for a process pool, its workers BUSY
    or FREE, all equal to what /api/v1 says at that moment, and the charts draw the rounds;
  - a pause, a manual count and a resume made from the page (with the token typed into it)
    reach the daemon: its API and its log say so, and the next decisions follow;
  - the page loads nothing from outside the daemon, breaks no Content-Security-Policy rule and
    throws no error;
  - a screenshot is kept as a test artifact (test-artifacts/dashboard.png beside the binary;
    AS_DASHBOARD_PNG=PATH copies it there too, which is how docs/dashboard.png is made).

    python3 tests/integration/test_dashboard.py --bin build/autoscaler
"""

import json
import os
import shutil
import sys
import time

from api_helpers import Api, api_config, pool_group, queue_group, write_backlog
from cdp import CHROMIUM, Chromium
from harness import free_port, main, test, wait_for, write_config

TOKEN = "dash-token-0123456789abcdef"


def panel_value(b, group, selector):
    return b.evaluate(f"(document.querySelector('#group-{group} {selector}') || {{}}).textContent")


@test
def test_dashboard_shows_a_scaling_group_and_pauses_it(ctx):
    if CHROMIUM is None:
        print("SKIP: chromium is not installed", flush=True)
        return
    backlog = os.path.join(ctx.tmp, "backlog")
    queue = os.path.join(ctx.tmp, "queue")
    write_backlog(backlog, 2)
    write_backlog(queue, 5)
    port = free_port()
    cfg = api_config(ctx.tmp, port, {"web": pool_group(backlog, max_=8),
                                     "jobs": queue_group(queue, max_=3)},
                     http={"token": "${env:AS_DASH_TOKEN}"})
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"],
                   env={"AS_DASH_TOKEN": TOKEN})
    origin = f"http://127.0.0.1:{port}"
    api = Api(origin)
    api.wait_up()
    api.wait_group("web", lambda g: g["replicas"] == 1, 10, "1 replica")

    b = Chromium(ctx.tmp)
    ctx.defer(b.close)
    for domain in ("Network.enable", "Log.enable", "Runtime.enable", "Page.enable"):
        b.call(domain)
    b.open(origin + "/")

    # The group scales: 2 -> 6 -> 10 (3, then 5 replicas); the page follows.
    for n, want in ((6, 3), (10, 5)):
        write_backlog(backlog, n)
        api.wait_group("web", lambda g: g["replicas"] == want, 15, f"{want} replicas")
        b.wait(f"document.querySelector('#group-web .replicas').textContent === '{want}'", 10,
               f"the page shows {want} replicas")
    b.wait("document.querySelectorAll('#group-jobs .workers tbody tr').length === 3", 15,
           "three workers listed")
    time.sleep(2.5)  # one more poll after the daemon settled: page and API agree

    g = api.group("web")
    assert panel_value(b, "web", ".replicas") == str(g["replicas"]) == "5"
    assert panel_value(b, "web", ".desired") == str(g["desired"])
    assert panel_value(b, "web", ".bounds") == f"{g['min']}/{g['max']}" == "1/8"
    assert panel_value(b, "web", "tr[data-metric=backlog] .value") == "10"
    assert panel_value(b, "web", "tr[data-metric=backlog] .target") == "2 per replica"
    reasons = b.evaluate("[...document.querySelectorAll('#group-web .decision .reason')]"
                         ".map(e => e.textContent)")
    assert reasons and reasons[0] == g["last_decision"]["reason"], (reasons, g["last_decision"])
    # the charts: replicas (steps through 1, 3, 5) and the metric against its target
    points = b.evaluate("document.querySelector('#group-web .replicas-chart "
                        "polyline[data-series=replicas]').getAttribute('points').split(' ').length")
    assert points >= 6, points
    series = b.evaluate("[...document.querySelectorAll('#group-web .metric-chart polyline')]"
                        ".map(e => e.dataset.series)")
    assert series == ["target × replicas", "backlog"], series
    # the workers of the queue group: what the API lists
    w = api.json("/api/v1/groups/jobs/workers")["workers"]
    shown = b.evaluate("[...document.querySelectorAll('#group-jobs .workers tbody tr')].map(r => "
                       "[...r.children].slice(0, 3).map(c => c.textContent))")
    assert sorted(shown) == sorted([str(x["id"]), str(x["pid"]), x["status"]] for x in w), \
        (shown, w)
    assert {s[2] for s in shown} == {"BUSY", "FREE"}, shown

    # Pause from the page, as a user would: the token into its field, then the button.
    assert panel_value(b, "web", ".pause") == "Pause"
    b.evaluate(f"document.getElementById('token').value = {json.dumps(TOKEN)};"
               "document.getElementById('token-form').requestSubmit(); true")
    assert b.evaluate("sessionStorage.getItem('autoscaler-token')") == TOKEN
    mark = d.mark()
    b.evaluate("document.querySelector('#group-web .pause').click(); true")
    api.wait_group("web", lambda g: g["paused"] and g["paused_by"] == "api", 10, "paused")
    d.wait_log(r"INFO  engine\[web\]: paused through the API by 127\.0\.0\.1:\d+", 5, since=mark)
    b.wait("document.querySelector('#group-web .badge.paused') !== null", 10, "the PAUSED badge")
    write_backlog(backlog, 2)  # would be 1 replica: the pause holds 5
    d.wait_log(r"engine\[web\]: decision current=5 desired=5 .*paused: held at 5 \(wanted", 10,
               since=mark)
    b.wait("document.querySelector('#group-web .pause').textContent === 'Resume'", 5)
    b.screenshot(os.path.join(ctx.tmp, "paused.png"))

    # A manual count from the page, then cleared, then resumed.
    b.evaluate("document.querySelector('#group-web .count').value = '2';"
               "document.querySelector('#group-web .override').click(); true")
    api.wait_group("web", lambda g: g["override"] == 2 and g["replicas"] == 2, 10, "override 2")
    b.wait("document.querySelector('#group-web .replicas').textContent === '2'", 10)
    artifact = os.path.join(os.path.dirname(ctx.bin), "test-artifacts", "dashboard.png")
    b.screenshot(artifact)
    if os.environ.get("AS_DASHBOARD_PNG"):
        shutil.copy(artifact, os.environ["AS_DASHBOARD_PNG"])
    b.evaluate("document.querySelector('#group-web .clear').click(); true")
    api.wait_group("web", lambda g: g["override"] is None, 10, "override cleared")
    b.wait("document.querySelector('#group-web .pause').textContent === 'Resume'", 5)
    b.evaluate("document.querySelector('#group-web .pause').click(); true")
    api.wait_group("web", lambda g: not g["paused"] and g["replicas"] == 1, 15,
                   "resumed, down to 1")
    assert d.grep(r"engine\[web\]: resumed through the API by 127\.0\.0\.1", mark)

    # Nothing from elsewhere, no CSP violation, no error.
    urls = [p["request"]["url"] for m, p in b.events if m == "Network.requestWillBeSent"]
    assert urls and all(u.startswith(origin + "/") or u.startswith("data:") for u in urls), urls
    assert {u[len(origin):].split("?")[0] for u in urls if u.startswith(origin)} >= \
        {"/", "/dashboard.js", "/dashboard.css", "/api/v1/groups", "/api/v1/status"}
    logs = [p["entry"] for m, p in b.events if m == "Log.entryAdded"]
    bad = [e for e in logs if e.get("level") == "error" or "Content Security Policy" in
           e.get("text", "")]
    assert not bad, bad
    errors = [p for m, p in b.events if m == "Runtime.exceptionThrown" or
              (m == "Runtime.consoleAPICalled" and p.get("type") == "error")]
    assert not errors, errors
    assert os.path.getsize(artifact) > 20000
    d.stop()


@test
def test_dashboard_with_auth_all_asks_for_the_token(ctx):
    """With auth: all the page (which holds no data) still loads, says it needs the token, and
    shows the groups once it is typed in."""
    if CHROMIUM is None:
        print("SKIP: chromium is not installed", flush=True)
        return
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    port = free_port()
    cfg = api_config(ctx.tmp, port, {"web": pool_group(backlog)},
                     http={"token": "${env:AS_DASH_TOKEN}", "auth": "all"})
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"],
                   env={"AS_DASH_TOKEN": TOKEN})
    origin = f"http://127.0.0.1:{port}"
    api = Api(origin, token=TOKEN)
    api.wait_up()
    assert Api(origin).get("/api/v1/groups")[0] == 401
    api.wait_group("web", lambda g: g["replicas"] == 1, 10, "1 replica")
    b = Chromium(ctx.tmp)
    ctx.defer(b.close)
    b.call("Page.enable")
    b.open(origin + "/")
    b.wait("!document.getElementById('error').hidden", 10, "the error line")
    assert b.evaluate("document.getElementById('error').textContent") == \
        "This daemon needs its token for every request: enter it above."
    assert b.evaluate("document.querySelectorAll('.panel').length") == 0
    b.evaluate(f"document.getElementById('token').value = {json.dumps(TOKEN)};"
               "document.getElementById('token-form').requestSubmit(); true")
    # A refresh fills the panels group by group and clears the error line
    # once all of them are drawn: wait for both, not for the first panel.
    b.wait("document.getElementById('error').hidden && "
           "document.querySelector('#group-web .replicas') && "
           "document.querySelector('#group-web .replicas').textContent === '1'", 10,
           "the panel with the token and no error line")
    d.stop()


if __name__ == "__main__":
    sys.exit(main())
