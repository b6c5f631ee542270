#!/usr/bin/env python3
"""The kubernetes scaler's `requests`: a per-pod CPU usage metric (Prometheus-style, one series
per pod, label pod) becomes a utilization weighted by the pods' CPU requests, as the HPA's
resource utilization (sum of usage / sum of requests), and a pod without a request makes the
metric unknown (the HPA: "missing request for cpu"). Against tests/integration/kube_api.py.

    python3 tests/integration/test_kube_requests.py --bin build/autoscaler
"""

import json
import os
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, test, write_config  # noqa: E402
from kube_api import KubeAPI  # noqa: E402

TOKEN = "eyJhbGciOiJSUzI1NiJ9.kube-requests-token-51c2"


class Prom(ThreadingHTTPServer):
    """GET /api/v1/query: an instant vector, one series per pod named in `usage` (cores)."""
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), PromHandler)
        self.usage = {}
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class PromHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        result = [{"metric": {"__name__": "cpu", "pod": name}, "value": [time.time(), str(v)]}
                  for name, v in sorted(self.server.usage.items())]
        body = json.dumps({"status": "success",
                           "data": {"resultType": "vector", "result": result}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def set_requests(api, requests):
    """Each named pod's containers request `requests[name]` CPU (None: no request)."""
    with api.lock:
        for (_, name), pod in api.pods_by.items():
            if name in requests:
                for c in pod["spec"]["containers"]:
                    c["resources"] = ({"requests": {"cpu": requests[name], "memory": "64Mi"}}
                                      if requests[name] else {})


def setup(ctx, ids=True, policy=None):
    api = KubeAPI(tokens={TOKEN: "system:serviceaccount:default:autoscaler"})
    api.start()
    ctx.defer(api.stop)
    w = api.add("deployment", "web", 2)
    # the pods the daemon adds request 500m each
    w["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "500m"}}
    prom = Prom()
    ctx.defer(prom.shutdown)
    here = tempfile.mkdtemp(dir=ctx.tmp)
    with open(os.path.join(here, "kubeconfig"), "w") as f:
        f.write(f"apiVersion: v1\nkind: Config\ncurrent-context: t\n"
                f"clusters:\n- name: t\n  cluster: {{server: '{api.url}'}}\n"
                f"contexts:\n- name: t\n  context: {{cluster: t, user: me, namespace: default}}\n"
                f"users:\n- name: me\n  user: {{token: '{TOKEN}'}}\n")
    g = {"interval": "500ms", "min": 1, "max": 10, "behavior": "off",
         "metrics": [{"name": "cpu", "type": "prometheus", "url": prom.url,
                      "query": "sum by (pod) (rate(container_cpu_usage_seconds_total[1m]))",
                      "timeout": "250ms", "target": 50}],
         "scaler": {"type": "kubernetes", "name": "web", "kubeconfig": "kubeconfig",
                    "timeout": "400ms", "requests": "cpu", "requests_metric": "cpu"}}
    if ids:
        g["metrics"][0]["replica_id_label"] = "pod"
    if policy:
        g["policy"] = policy
        del g["metrics"][0]["target"]
    log = os.path.join(here, "autoscaler.log")
    path = write_config(here, {"log_level": "debug", "log_file": log,
                               "state_dir": os.path.join(here, "state"), "groups": {"web": g}})
    return api, prom, path, log


@test
def test_utilization_is_weighted_by_the_requests(ctx):
    api, prom, path, log = setup(ctx)
    a, b = sorted(p["metadata"]["name"] for p in api.pods("web"))
    # a requests 250m and uses all of it (100 %), b requests 750m and uses 150m (20 %): the
    # HPA's utilization is 400m / 1000m = 40 %, 0.8 of the target: ceil(0.8 * 2) = 2, keep 2.
    # (The mean of the pods' own utilizations, 60 %, would scale to ceil(1.2 * 2) = 3.)
    set_requests(api, {a: "250m", b: "0.75"})
    prom.usage = {a: 0.25, b: 0.15}
    d = ctx.daemon(path, log_file=log)
    d.wait_log(r"decision current=2 desired=2 cpu=40 reason=\"cpu utilization=40 over 2 ready "
               r"target=50 ratio=0\.800: ceil\(0\.800\*2\)=2", 10)
    time.sleep(1.0)
    assert api.replicas("deployment", "web") == 2 and not d.grep(r"scaled 2->"), d.tail()
    # A pod without a request: the metric is unknown, the count held.
    set_requests(api, {a: None})
    d.wait_log(rf"reason=\"cpu: replica '{a}' has no request while others have: keep 2", 10)
    # b at 100 % of its request too: 1000m / 1000m = 100 %, ratio 2: ceil(2 * 2) = 4.
    set_requests(api, {a: "250m"})
    prom.usage = {a: 0.25, b: 0.75}
    d.wait_log(r"engine\[web\]: scaled 2->4 via kubernetes", 10)
    d.stop(signal.SIGTERM)


@test
def test_usage_without_pod_names_is_unknown(ctx):
    # Without replica_id_label the values cannot be joined with the pods, so the usage (0.2
    # cores a pod) cannot become a utilization: the metric is unknown and the group holds,
    # where read as a utilization it would have scaled down to 1.
    api, prom, path, log = setup(ctx, ids=False)
    a, b = sorted(p["metadata"]["name"] for p in api.pods("web"))
    set_requests(api, {a: "250m", b: "0.75"})
    prom.usage = {a: 0.25, b: 0.15}
    d = ctx.daemon(path, log_file=log)
    d.wait_log(r"WARN .*metric cpu: its values are not joined with the pods by name", 10)
    d.wait_log(r"decision current=2 desired=2 .*"
               r"reason=\"no valid metric \(failed: cpu\): hold 2", 10)
    time.sleep(1.0)
    assert api.replicas("deployment", "web") == 2 and not d.grep(r"scaled 2->"), d.tail()
    d.stop(signal.SIGTERM)


@test
def test_other_policies_see_the_utilization(ctx):
    # A policy that reads the metric's value (threshold_average) gets the utilization, 40 %
    # (not the mean usage, 0.2 cores): inside [30, 60], keep 2. A pod without a request makes
    # the metric unknown to it (usage must not pass as a utilization): no decision on it.
    api, prom, path, log = setup(ctx, policy={"type": "threshold_average", "min": 30,
                                              "max": 60, "measurements": 1})
    a, b = sorted(p["metadata"]["name"] for p in api.pods("web"))
    set_requests(api, {a: "250m", b: "0.75"})
    prom.usage = {a: 0.25, b: 0.15}
    d = ctx.daemon(path, log_file=log)
    d.wait_log(r"decision current=2 desired=2 cpu=40 reason=\"cpu mean of last 1 = 40 within", 10)
    set_requests(api, {a: None})
    n = len(d.grep(r"decision current"))
    d.wait_log(r"decision current=2 desired=2 .*failed: cpu", 10)
    assert not d.grep(r"decision .*mean of last 1 = 0\.2", n), d.tail()
    d.stop(signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
