#!/usr/bin/env python3
"""The `nomad` scaler, driven by the daemon, against nomad_api.NomadAPI: a local server that
follows Nomad's Jobs HTTP API (https://developer.hashicorp.com/nomad/api-docs/jobs: Read Job,
Read Job Scale Status, Scale Task Group; ACL tokens, namespaces and regions as the API
overview describes them) as published.

A queue metric (average_value 10) asks for 4 where the task group `web` of job `api` in
namespace `apps` has 2: `run` scales it with the body and headers the document asks for
(through either read), `--dry-run` logs the exact call and sends none; a 500 and a 429 are
retried, so is the 400 Nomad sends while a deployment is active, other 4xx (a count beyond
the group's scaling block, a bad token, an unknown job or group) are permanent with Nomad's
own text; a hung call times out; garbage, a count of the wrong type or a stopped job is a
failed read that never scales. The ACL token never reaches the log.

    python3 tests/integration/test_scaler_nomad.py --bin build/autoscaler
"""

import json
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, run_cli, test, write_config  # noqa: E402
from nomad_api import NomadAPI  # noqa: E402

TOKEN = secrets.token_hex(4) + "-" + secrets.token_hex(2) + "-" + secrets.token_hex(6)


class Metric(ThreadingHTTPServer):
    """GET / answers {"queue": N}."""
    daemon_threads = True

    def __init__(self, queue):
        super().__init__(("127.0.0.1", 0), MetricHandler)
        self.queue = queue
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/"


class MetricHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"queue": self.server.queue}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def setup(ctx, queue=40, api_token=TOKEN, start=True, scaling=None, api_kw=None, group_kw=None,
          log_level="info", **scaler):
    """The fixture (job api in namespace apps: web at 2, db at 1), the metric and the config in
    a directory of its own; the daemon started unless start is False (then the config's path
    is returned in its place: start it with daemon()). A scaler key given as None is left out;
    api_token is the token the API wants (None: ACLs disabled); group_kw, more group keys."""
    api = NomadAPI(token=api_token, **(api_kw or {})).start()
    ctx.defer(api.stop)
    api.add_job("api", {"web": 2, "db": 1}, namespace="apps", scaling=scaling)
    api.add_job("api", {"web": 5}, namespace="default")
    metric = Metric(queue)
    ctx.defer(metric.shutdown)
    here = tempfile.mkdtemp(dir=ctx.tmp)
    sc = {"type": "nomad", "address": api.url, "job": "api", "group": "web",
          "namespace": "apps", "region": "global", "token": "${env:NOMAD_TOKEN}",
          "timeout": "400ms", "retries": 2, "backoff": "50ms", "backoff_max": "100ms"}
    sc.update(scaler)
    sc = {k: v for k, v in sc.items() if v is not None}
    cfg = {"log_file": os.path.join(here, "autoscaler.log"), "log_level": log_level,
           "state_dir": os.path.join(here, "state"),
           "groups": {"web": {
               "interval": "500ms", "min": 1, "max": 10,
               "metrics": [{"name": "queue", "type": "http_json", "url": metric.url,
                            "pointer": "/queue", "timeout": "300ms", "average_value": 10}],
               "scaler": sc, **(group_kw or {})}}}
    path = write_config(here, cfg)
    if not start:
        return api, metric, path
    return api, metric, daemon(ctx, path)


def daemon(ctx, path):
    log = os.path.join(os.path.dirname(path), "autoscaler.log")
    return ctx.daemon(path, log_file=log, env={"NOMAD_TOKEN": TOKEN})


def assert_token_hidden(d):
    for text in (d.log_text(), d.stderr(), d.stdout()):
        assert TOKEN not in text, "the ACL token reached the log"


@test
def test_run_scales_the_task_group(ctx):
    api, _, d = setup(ctx)
    d.wait_log(r"engine\[web\]: scaled 2->4 via nomad in \d+ms \(read back\)", 15)
    assert api.count("api", "web", "apps") == 4
    assert api.count("api", "db", "apps") == 1 and api.count("api", "web") == 5
    posts = api.calls("POST")
    assert len(posts) == 1, posts
    _, path, query, headers, body = posts[0]
    assert path == "/v1/job/api/scale" and query == {"namespace": "apps", "region": "global"}
    assert json.loads(body) == {"Count": 4, "Target": {"Group": "web"},
                                "Message": "scaled to 4 by autoscaler (group web)"}, body
    assert headers["X-Nomad-Token"] == TOKEN and headers["Content-Type"] == "application/json"
    gets = api.calls("GET")
    assert gets and all(g[1] == "/v1/job/api/scale" and g[2] == query for g in gets), gets
    assert all(g[3]["X-Nomad-Token"] == TOKEN for g in gets)
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


@test
def test_read_job_and_options(ctx):
    # read: job (Read Job's TaskGroups[].Count), the default namespace and region (no query
    # parameters), no token, a message of one's own and PolicyOverride.
    api, _, d = setup(ctx, queue=60, api_token=None, token=None, read="job", namespace=None,
                      region=None,
                      message="{{group}} wants {{replicas}}", policy_override=True)
    d.wait_log(r"engine\[web\]: scaled 5->6 via nomad", 15)
    assert api.count("api", "web") == 6 and api.count("api", "web", "apps") == 2
    _, path, query, headers, body = api.calls("POST")[0]
    assert path == "/v1/job/api/scale" and query == {} and "X-Nomad-Token" not in headers
    assert json.loads(body) == {"Count": 6, "Target": {"Group": "web"},
                                "Message": "web wants 6", "PolicyOverride": True}, body
    assert {g[1] for g in api.calls("GET")} == {"/v1/job/api"}
    d.stop(signal.SIGTERM)


@test
def test_dry_run_describes_the_call(ctx):
    api, _, path = setup(ctx, start=False)
    r = run_cli(ctx.bin, ["run", "-c", path, "--once", "--dry-run"],
                env={"NOMAD_TOKEN": TOKEN}, timeout=30)
    assert r.returncode == 0, r.stderr
    text = open(os.path.join(os.path.dirname(path), "autoscaler.log")).read()
    want = (f"engine[web]: dry-run: would scale 2->4 via nomad: POST {api.url}/v1/job/api/scale"
            f'?namespace=apps&region=global {{"Count":4,"Target":{{"Group":"web"}},"Message":'
            f'"scaled to 4 by autoscaler (group web)"}} (X-Nomad-Token: ***)')
    assert want in text, text[-3000:]
    assert not api.calls("POST") and api.calls("GET")
    assert api.count("api", "web", "apps") == 2
    assert TOKEN not in text + r.stderr + r.stdout


@test
def test_transient_errors_are_retried(ctx):
    api, _, path = setup(ctx, start=False)
    api.fail(500, "rpc error: No cluster leader", method="POST")
    api.fail(429, "rate limit exceeded", method="POST")
    d = daemon(ctx, path)
    d.wait_log(r"scale 2->4 via nomad failed \(attempt 1/3\): HTTP 500: rpc error: No cluster "
               r"leader$", 15)
    d.wait_log(r"scale 2->4 via nomad failed \(attempt 2/3\): HTTP 429: rate limit exceeded$", 5)
    d.wait_log(r"engine\[web\]: scaled 2->4 via nomad", 5)
    assert api.count("api", "web", "apps") == 4 and len(api.calls("POST")) == 3
    d.stop(signal.SIGTERM)
    # While a deployment of the job is active Nomad refuses to scale it with a 400; it ends
    # by itself, so that 400 is retried as a transient failure.
    api, _, path = setup(ctx, start=False)
    api.deployment_active = 2
    d = daemon(ctx, path)
    d.wait_log(r"scale 2->4 via nomad failed \(attempt 1/3\): HTTP 400: job scaling blocked "
               r"due to active deployment$", 15)
    d.wait_log(r"engine\[web\]: scaled 2->4 via nomad", 10)
    assert not d.grep(r"permanent")
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


@test
def test_4xx_is_permanent_with_nomads_text(ctx):
    api, _, d = setup(ctx, scaling={"web": (1, 3)})
    d.wait_log(r"scale 2->4 via nomad failed \(attempt 1/3, permanent\): HTTP 400: group count "
               r"was greater than scaling policy maximum: 4 > 3$", 15)
    d.wait_log(r"giving up on 2->4 until the next round$", 5)
    mark = d.mark()
    d.wait_decisions(2, 10, since=mark)
    assert not d.grep(r"attempt 2/3"), "a permanent failure was retried"
    assert api.count("api", "web", "apps") == 2
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)
    for kw, why in (({"api_token": "not-the-token"}, r"HTTP 403: Permission denied"),
                    ({"token": None}, r"HTTP 403: Permission denied"),
                    ({"job": "nope"}, r"HTTP 404: job not found"),
                    ({"region": "eu"}, r"HTTP 500: No path to region"),
                    ({"group": "cache"}, r"task group 'cache' is not in the job")):
        api, _, path = setup(ctx, start=False, **kw)
        d = daemon(ctx, path)
        d.wait_log(r"reading the replica count via nomad failed: " + why + r": no decision, "
                   r"hold$", 10)
        assert not api.calls("POST")
        d.stop(signal.SIGTERM)
        assert_token_hidden(d)
    # A token written in the file itself (not a reference) is hidden too, even when an error
    # message echoes it.
    api, _, path = setup(ctx, start=False)
    api.fail(403, f"ACL token {TOKEN} lacks the scale-job capability", method="GET")
    with open(path) as f:
        text = f.read().replace("'${env:NOMAD_TOKEN}'", TOKEN)
    with open(path, "w") as f:
        f.write(text)
    d = daemon(ctx, path)
    d.wait_log(r"HTTP 403: ACL token \*\*\* lacks the scale-job capability", 10)
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


@test
def test_system_job_and_a_scale_only_token(ctx):
    # A system job runs one allocation per client: Nomad refuses a count above 1 (permanent).
    api, _, path = setup(ctx, start=False, job="sys", group="agent", namespace=None)
    api.add_job("sys", {"agent": 1}, job_type="system")
    d = daemon(ctx, path)
    d.wait_log(r"scale 1->4 via nomad failed \(attempt 1/3, permanent\): HTTP 400: jobs of type "
               r'"system" can only be scaled to 1 or 0$', 15)
    assert api.count("sys", "agent") == 1
    d.stop(signal.SIGTERM)
    # A token of Nomad's built-in `scale` policy (read-job-scaling, scale-job) is all the
    # default configuration needs; Read Job and the allocations need read-job.
    scale_token = secrets.token_hex(8)
    api, _, path = setup(ctx, start=False, api_token="management-only",
                         api_kw={"scale_token": scale_token})
    d = ctx.daemon(path, log_file=os.path.join(os.path.dirname(path), "autoscaler.log"),
                   env={"NOMAD_TOKEN": scale_token})
    d.wait_log(r"engine\[web\]: scaled 2->4 via nomad", 15)
    d.stop(signal.SIGTERM)
    for kw, why in (({"read": "job"}, r"HTTP 403: Permission denied"),
                    ({"allocations": True}, r"listing allocations: HTTP 403: Permission denied")):
        api, _, path = setup(ctx, start=False, api_token="management-only",
                             api_kw={"scale_token": scale_token}, **kw)
        d = ctx.daemon(path, log_file=os.path.join(os.path.dirname(path), "autoscaler.log"),
                       env={"NOMAD_TOKEN": scale_token})
        d.wait_log(r"reading the replica count via nomad failed: " + why + r": no decision, "
                   r"hold$", 10)
        assert not api.calls("POST")
        d.stop(signal.SIGTERM)


@test
def test_allocations_are_the_workers(ctx):
    # allocations: true: every read also lists the group's allocations; their ages reach the
    # decision. One allocation of web was placed again 2 s ago (Nomad rescheduled it: no scale
    # by us), so with warmup 20s the group holds instead of scaling down; once it is older, the
    # scale-down happens. Without the listing the same job scales down at once.
    for allocations in (True, False):
        # debug: the warmup's hold after the scale-up is the same outcome and class as the
        # hold before it, a line at debug only
        api, metric, path = setup(ctx, start=False, queue=0, allocations=allocations,
                                  group_kw={"warmup": "20s", "behavior": {
                                      "scale_down": {"stabilization": "0s"}}},
                                  log_level="debug")
        web = [a for a in api.allocations("api", "apps") if a["TaskGroup"] == "web"]
        young = web[1]["ID"]
        api.set_alloc(young, CreateTime=int((time.time() - 2) * 1e9))
        d = daemon(ctx, path)
        if not allocations:
            d.wait_log(r"engine\[web\]: scaled 2->1 via nomad", 15)
            assert not api.calls("GET") or all(g[1] == "/v1/job/api/scale"
                                               for g in api.calls("GET"))
            d.stop(signal.SIGTERM)
            continue
        d.wait_log(r"engine\[web\]: decision current=2 desired=2 .*held at 2 by the 20 s warmup: "
                   r"a replica is [\d.]+ m?s old \(wanted 1\)", 15)
        gets = [g for g in api.calls("GET") if g[1] == "/v1/job/api/allocations"]
        assert gets and all(g[2] == {"namespace": "apps", "region": "global"} and
                            g[3]["X-Nomad-Token"] == TOKEN for g in gets), gets
        assert not api.calls("POST")
        api.set_alloc(young, CreateTime=int((time.time() - 3600) * 1e9))
        d.wait_log(r"engine\[web\]: scaled 2->1 via nomad", 10)
        # A scale-up places new allocations: young again, so a drop in the queue right after
        # it is held too.
        metric.queue = 40
        d.wait_log(r"engine\[web\]: scaled 1->4 via nomad", 10)
        live = [a for a in api.allocations("api", "apps")
                if a["TaskGroup"] == "web" and a["DesiredStatus"] == "run"]
        assert len(live) == 4, live
        metric.queue = 0
        d.wait_log(r"engine\[web\]: decision current=4 desired=4 .*warmup: a replica is [\d.]+ "
                   r"m?s old", 10)
        d.stop(signal.SIGTERM)
        assert_token_hidden(d)


@test
def test_timeouts(ctx):
    api, _, path = setup(ctx, start=False)
    api.hang(1.0, method="GET")
    d = daemon(ctx, path)
    d.wait_log(r"reading the replica count via nomad failed: timeout after 4\d\d ms", 10)
    # The scale call hangs past the timeout (and lands later): it is retried.
    api.hang(1.0, method="POST")
    d.wait_log(r"scale 2->4 via nomad failed \(attempt 1/3\): timeout after 4\d\d ms", 10)
    d.wait_log(r"engine\[web\]: scaled 2->4 via nomad", 10)
    assert api.count("api", "web", "apps") == 4
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


def status(web):
    return json.dumps({"JobID": "api", "Namespace": "apps", "JobStopped": False,
                       "TaskGroups": {"web": web, "db": {"Desired": 1}}})


BAD = [
    ("\x00\xff garbage", r"response is not JSON \(line 1 column 1"),
    (status({"Desired": "4"}), r"value at /TaskGroups/web/Desired is a string, not a number"),
    (status({"Desired": 2.5}), r"replica count 2\.5 is not a whole number"),
    (status({"Desired": -1}), r"replica count -1 is negative"),
    (status({"Desired": None}), r"value at /TaskGroups/web/Desired is null, not a number"),
    (status({"Running": 2}), r"JSON pointer /TaskGroups/web/Desired not found"),
    (json.dumps({"JobStopped": True, "TaskGroups": {"web": {"Desired": 2}}}),
     r"job is stopped: nothing to scale until it runs again"),
    (json.dumps({"TaskGroups": [{"Name": "web", "Count": 2}]}),
     r"response is not a job's scale status: no TaskGroups object"),
    ("[]", r"response is not a job: not a JSON object"),
]


@test
def test_garbage_and_wrong_types_never_scale(ctx):
    api, metric, path = setup(ctx, start=False, queue=0)   # the metric asks for 1: down
    for body, _ in BAD:
        api.answer(body, method="GET")
    d = daemon(ctx, path)
    for _, why in BAD:
        d.wait_log(r"reading the replica count via nomad failed: " + why, 10)
    assert not api.calls("POST"), "scaled on a count it could not read"
    metric.queue = 40
    d.wait_log(r"engine\[web\]: scaled 2->4 via nomad", 10)
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


if __name__ == "__main__":
    sys.exit(main())
