#!/usr/bin/env python3
"""The `kubernetes` scaler, driven by the daemon, against kube_api.KubeAPI: a local API server
that follows the Kubernetes API reference ("Deployment v1 apps" and its siblings' scale
operations, "Scale v1 autoscaling", "Pod v1 core", "Status", "Kubernetes API Concepts"; named
with their URLs in kube_api.py) and that the real kubectl takes for a cluster.

  - run with a kubeconfig (bearer token): a load metric scales the Deployment up and down with
    GET .../deployments/web/scale and PATCH with application/merge-patch+json, the pods of the
    scale's selector listed (page by page) on every read;
  - in-cluster (KUBERNETES_SERVICE_HOST/PORT, a service account directory as the kubelet
    mounts it, over TLS with its ca.crt): a StatefulSet in the namespace file's namespace;
    the token rotates mid-test (the kubelet's symlink swap, the old token revoked) and the
    next calls carry the new one; a wrong ca.crt is a TLS failure that holds;
  - a kubeconfig's named context with a client certificate (the server checks it);
  - --dry-run logs the exact PATCH and sends none;
  - 409 Conflict, 503 and a timeout are retried (the count re-read in between), a 403
    Status is permanent with the apiserver's message;
  - garbage, a huge body and wrong types where the Scale or the PodList should be are failed
    reads that hold (never a scale-down);
  - per-pod values of a Prometheus-style metric (replica_id_label: pod) joined with the pods:
    with `readiness: cpu`, new pods not Ready yet (their start-up spike) are treated as the HPA
    treats them for CPU; with the default `readiness: pending`, as the HPA treats any other
    metric: a Pending pod is left out, a Running one that is not Ready yet counts its value;
  - the deploy/kubernetes Role allows exactly what the daemon calls (the fixture's request
    log), and its manifests parse;
  - the real kubectl (/usr/lib/google-cloud-sdk/bin/kubectl.1.32) against the same fixture:
    get, scale (PATCH, and PUT with resourceVersion), get pods; it sees the daemon's scale and
    the daemon sees its scale as an outside change, trusted after count_confirm reads.

    python3 tests/integration/test_scaler_kubernetes.py --bin build/autoscaler
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, main, run_cli, test, wait_for, write_config  # noqa: E402
from kube_api import KubeAPI  # noqa: E402

TOKEN = "eyJhbGciOiJSUzI1NiJ9.kube-test-token-7f3a"
SA_USER = "system:serviceaccount:default:autoscaler"
KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32"
SCALE = "/apis/apps/v1/namespaces/default/deployments/web/scale"


class Metric(ThreadingHTTPServer):
    """GET /load: {"load": N}. GET /api/v1/query: a Prometheus instant vector with one series
    per pod of the fixture (label pod): `per_pod(pod, ready_pods)` gives each value."""
    daemon_threads = True

    def __init__(self, api=None, load=0):
        super().__init__(("127.0.0.1", 0), MetricHandler)
        self.api, self.load = api, load
        self.per_pod = None
        self.extra = {}  # series of pods that do not exist
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class MetricHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        srv = self.server
        if self.path.startswith("/api/v1/query"):
            pods = srv.api.pods("web")
            ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                            for c in p["status"]["conditions"])]
            values = {p["metadata"]["name"]: srv.per_pod(p, ready) for p in pods}
            values = {k: v for k, v in values.items() if v is not None}  # None: no series
            values.update(srv.extra)
            result = [{"metric": {"__name__": "load", "pod": name}, "value": [time.time(),
                                                                               str(v)]}
                      for name, v in sorted(values.items())]
            obj = {"status": "success", "data": {"resultType": "vector", "result": result}}
        else:
            obj = {"load": srv.load}
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def kubeconfig(path, server, user, ca=None, context="test", extra_contexts=""):
    cluster = f"server: '{server}'" + (f", certificate-authority: '{ca}'" if ca else "")
    with open(path, "w") as f:
        f.write(f"apiVersion: v1\nkind: Config\ncurrent-context: {context}\n"
                f"clusters:\n- name: test\n  cluster: {{{cluster}}}\n"
                f"- name: elsewhere\n  cluster: {{server: 'https://192.0.2.1:6443'}}\n"
                f"contexts:\n- name: {context}\n  context: {{cluster: test, user: me, "
                f"namespace: default}}\n{extra_contexts}"
                f"users:\n- name: me\n  user: {user}\n")
    return path


def openssl_cert(directory, name, cn, san=True):
    """A self-signed EC certificate and key; (cert, key) paths."""
    cert, key = os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key")
    args = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
            "-subj", f"/CN={cn}"]
    if san:
        args += ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
    subprocess.run(args, check=True, capture_output=True, timeout=20)
    return cert, key


def setup(ctx, load=60, start=True, scaler=None, group=None, api_kw=None, metric_kw=None,
          tokens=None, user=f"{{token: '{TOKEN}'}}", extra=(), tls=False):
    """The fixture (deployment web at 2, Ready; over https with tls), the metric, a kubeconfig
    with the token (and the CA), and a config (interval 500ms, average_value 10 on the load);
    the daemon started unless start is False (then the config's path is returned in its
    place)."""
    api_kw = dict(api_kw or {})
    ca = None
    if tls:
        ca, key = openssl_cert(ctx.tmp, "apiserver", "kube-apiserver")
        api_kw["tls"] = (ca, key)
    api = KubeAPI(tokens=tokens if tokens is not None else {TOKEN: SA_USER}, **api_kw)
    api.start()
    ctx.defer(api.stop)
    api.add("deployment", "web", 2)
    metric = Metric(api, load, **(metric_kw or {}))
    ctx.defer(metric.shutdown)
    here = tempfile.mkdtemp(dir=ctx.tmp)
    kubeconfig(os.path.join(here, "kubeconfig"), api.url, user, ca=ca)
    sc = {"type": "kubernetes", "name": "web", "kubeconfig": "kubeconfig", "timeout": "400ms",
          "retries": 2, "backoff": "50ms", "backoff_max": "100ms"}
    sc.update(scaler or {})
    g = {"interval": "500ms", "min": 1, "max": 10, "behavior": "off",
         "metrics": [{"name": "load", "type": "http_json", "url": metric.url + "/load",
                      "pointer": "/load", "timeout": "250ms", "average_value": 10}],
         "scaler": sc}
    g.update(group(metric) if callable(group) else group or {})
    cfg = {"log_file": os.path.join(here, "autoscaler.log"),
           "state_dir": os.path.join(here, "state"), "groups": {"web": g}}
    path = write_config(here, cfg)
    if not start:
        return api, metric, path
    return api, metric, daemon(ctx, path, extra)


def whole_reasons(path):
    """log_level: debug, so that decision lines carry their whole reason (at info a long one
    is shortened to fit 160 columns, its middle left out)."""
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write("log_level: debug\n" + text)


def daemon(ctx, path, extra=(), env=None):
    return ctx.daemon(path, extra, log_file=os.path.join(os.path.dirname(path), "autoscaler.log"),
                      env=env)


def assert_token_hidden(d, *tokens):
    for text in (d.log_text(), d.stderr(), d.stdout()):
        for t in tokens or (TOKEN,):
            assert t not in text, "a token reached the log"


def calls(api):
    """(verb, resource) of every request that reached the API's resources."""
    return {(r["verb"], r["resource"]) for r in api.calls() if r["resource"]}


# ---- run ----------------------------------------------------------------------------------------

@test
def test_kubeconfig_token_scales_up_and_down(ctx):
    api, metric, d = setup(ctx, api_kw={"page_cap": 2})
    d.wait_log(r"engine\[web\]: scaled 2->6 via kubernetes in \d+ms \(read back\)", 15)
    assert api.replicas("deployment", "web") == 6
    (patch,) = api.calls("PATCH")
    assert patch["path"] == SCALE and patch["query"] == {"fieldManager": "autoscaler"}, patch
    assert json.loads(patch["body"]) == {"spec": {"replicas": 6}}, patch["body"]
    assert patch["headers"]["Content-Type"] == "application/merge-patch+json"
    assert patch["status"] == 200
    for r in api.calls():
        assert r["headers"].get("Authorization") == f"Bearer {TOKEN}", r["path"]
        assert r["user"] == SA_USER and r["status"] == 200, (r["path"], r["status"])
    pods = api.calls("GET", "/pods")
    assert pods[0]["query"] == {"labelSelector": "app=web", "limit": "250"}, pods[0]["query"]
    # six pods, two a page (the server may answer fewer than limit): continue tokens followed
    wait_for(lambda: any("continue" in r["query"] for r in api.calls("GET", "/pods")), 5,
             "a second page")
    metric.load = 15
    d.wait_log(r"engine\[web\]: scaled 6->2 via kubernetes", 10)
    assert api.replicas("deployment", "web") == 2
    wait_for(lambda: len(api.pods("web")) == 2, 5, "two pods")
    assert calls(api) == {("get", "deployments/scale"), ("list", "pods"),
                          ("patch", "deployments/scale")}, calls(api)
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


def service_account(directory, token, ca, namespace):
    """The kubelet's layout: token, ca.crt and namespace are symlinks into ..data, itself a
    symlink to a timestamped directory that a rotation replaces."""
    os.makedirs(directory)
    rotate(directory, token, ca, namespace, 1)
    for name in ("token", "ca.crt", "namespace"):
        os.symlink(os.path.join("..data", name), os.path.join(directory, name))


def rotate(directory, token, ca, namespace, n):
    ts = os.path.join(directory, f"..2026_01_01_00_00_0{n}")
    os.makedirs(ts)
    for name, text in (("token", token), ("namespace", namespace)):
        with open(os.path.join(ts, name), "w") as f:
            f.write(text)
    shutil.copy(ca, os.path.join(ts, "ca.crt"))
    tmp = os.path.join(directory, "..data_tmp")
    os.symlink(os.path.basename(ts), tmp)
    os.rename(tmp, os.path.join(directory, "..data"))  # atomic, as the kubelet's swap


@test
def test_in_cluster_token_rotates(ctx):
    cert, key = openssl_cert(ctx.tmp, "apiserver", "kube-apiserver")
    first, second = "sa-token-first-" + "a" * 16, "sa-token-second-" + "b" * 16
    api = KubeAPI(tokens={first: "system:serviceaccount:team:autoscaler"}, tls=(cert, key))
    api.start()
    ctx.defer(api.stop)
    api.add("statefulset", "db", 2, namespace="team")
    metric = Metric(api, 40)
    ctx.defer(metric.shutdown)
    here = tempfile.mkdtemp(dir=ctx.tmp)
    service_account(os.path.join(here, "sa"), first, cert, "team")
    cfg = {"log_file": os.path.join(here, "autoscaler.log"), "state_dir": "",
           "groups": {"db": {
               "interval": "500ms", "min": 1, "max": 10, "behavior": "off",
               "metrics": [{"name": "load", "type": "http_json", "url": metric.url + "/load",
                            "pointer": "/load", "timeout": "250ms", "average_value": 10}],
               "scaler": {"type": "kubernetes", "kind": "statefulset", "name": "db",
                          "serviceaccount_dir": "sa", "timeout": "400ms"}}}}
    path = write_config(here, cfg)
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api.port)}
    d = daemon(ctx, path, env=env)
    d.wait_log(r"scaler/kubernetes\[db\]: statefulset team/db at https://127\.0\.0\.1:\d+ "
               r"\(in-cluster \(.*/sa\)\)", 5)
    d.wait_log(r"engine\[db\]: scaled 2->4 via kubernetes", 15)
    assert [p["metadata"]["name"] for p in api.pods("db", "team")] == [f"db-{i}" for i in range(4)]
    assert api.calls("PATCH")[0]["path"] == "/apis/apps/v1/namespaces/team/statefulsets/db/scale"
    # The kubelet rotates the token: the next call carries the new one; then the apiserver
    # stops taking the old one.
    user = "system:serviceaccount:team:autoscaler"
    with api.lock:
        api.tokens = {first: user, second: user}
    rotate(os.path.join(here, "sa"), second, cert, "team", 2)
    (mark,) = wait_for(lambda: next(((i,) for i, r in enumerate(api.calls())
                                     if r["headers"]["Authorization"] == f"Bearer {second}"),
                                    None), 5, "a call with the new token")
    with api.lock:
        api.tokens = {second: user}
    metric.load = 10
    d.wait_log(r"engine\[db\]: scaled 4->1 via kubernetes", 10)
    after = api.calls()[mark:]
    assert after and all(r["headers"]["Authorization"] == f"Bearer {second}" for r in after)
    assert all(r["status"] == 200 for r in after), [r["status"] for r in after]
    assert [p["metadata"]["name"] for p in api.pods("db", "team")] == ["db-0"]
    d.stop(signal.SIGTERM)
    assert_token_hidden(d, first, second)
    # A ca.crt that did not sign the server's certificate: a TLS failure, the group holds.
    other, _ = openssl_cert(ctx.tmp, "other", "other-ca")
    rotate(os.path.join(here, "sa"), second, other, "team", 3)
    d = daemon(ctx, path, env=env)
    d.wait_log(r"reading the replica count via kubernetes failed: .*(SSL|certificate)", 10)
    d.stop(signal.SIGTERM)


@test
def test_kubeconfig_named_context_client_certificate(ctx):
    cert, key = openssl_cert(ctx.tmp, "apiserver", "kube-apiserver")
    ccert, ckey = openssl_cert(ctx.tmp, "client", "autoscaler-client", san=False)
    api = KubeAPI(tokens={}, tls=(cert, key), client_ca=ccert)
    api.start()
    ctx.defer(api.stop)
    api.add("replicaset", "batch", 3)
    metric = Metric(api, 10)
    ctx.defer(metric.shutdown)
    here = tempfile.mkdtemp(dir=ctx.tmp)
    # The current context points elsewhere; the scaler names the one to use.
    users = (f"{{client-certificate: '{ccert}', client-key: '{ckey}'}}")
    extra = (f"- name: tls\n  context: {{cluster: test, user: me}}\n")
    kubeconfig(os.path.join(here, "kubeconfig"), api.url, users, ca=cert, context="wrong",
               extra_contexts=extra)
    with open(os.path.join(here, "kubeconfig")) as f:
        text = f.read().replace("{cluster: test, user: me, namespace: default}",
                                "{cluster: elsewhere, user: me}", 1)
    with open(os.path.join(here, "kubeconfig"), "w") as f:
        f.write(text)
    cfg = {"log_file": os.path.join(here, "autoscaler.log"), "state_dir": "",
           "groups": {"batch": {
               "interval": "500ms", "min": 1, "max": 10, "behavior": "off",
               "metrics": [{"name": "load", "type": "http_json", "url": metric.url + "/load",
                            "pointer": "/load", "timeout": "250ms", "average_value": 10}],
               "scaler": {"type": "kubernetes", "kind": "replicaset", "name": "batch",
                          "kubeconfig": "kubeconfig", "context": "tls", "timeout": "400ms"}}}}
    d = daemon(ctx, write_config(here, cfg))
    d.wait_log(r"engine\[batch\]: scaled 3->1 via kubernetes", 15)
    assert {r["user"] for r in api.calls()} == {"autoscaler-client"}
    assert api.calls("PATCH")[0]["path"].endswith("/replicasets/batch/scale")
    d.stop(signal.SIGTERM)


@test
def test_dry_run_describes_the_patch(ctx):
    api, _, path = setup(ctx, start=False)
    r = run_cli(ctx.bin, ["run", "-c", path, "--once", "--dry-run"], timeout=30)
    assert r.returncode == 0, r.stderr
    text = open(os.path.join(os.path.dirname(path), "autoscaler.log")).read()
    want = (f"engine[web]: dry-run: would scale 2->6 via kubernetes: PATCH {api.url}{SCALE}"
            f'?fieldManager=autoscaler {{"spec":{{"replicas":6}}}} (Content-Type: '
            f"application/merge-patch+json, Authorization: Bearer ***)")
    assert want in text, text[-3000:]
    assert not api.calls("PATCH") and api.calls("GET", SCALE), api.requests
    assert api.replicas("deployment", "web") == 2
    assert TOKEN not in text + r.stderr + r.stdout


# ---- failures -----------------------------------------------------------------------------------

@test
def test_conflict_5xx_and_timeout_are_retried(ctx):
    api, metric, path = setup(ctx, start=False)
    api.fault(409, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": 'Operation cannot be fulfilled on deployments.apps "web": the '
                               "object has been modified; please apply your changes to the "
                               "latest version and try again", "reason": "Conflict",
                    "details": {"name": "web", "group": "apps", "kind": "deployments"},
                    "code": 409}, method="PATCH")
    api.fault(503, method="PATCH")
    d = daemon(ctx, path)
    d.wait_log(r"scale 2->6 via kubernetes failed \(attempt 1/3\): HTTP 409 Conflict: "
               r'Operation cannot be fulfilled on deployments\.apps "web"', 15)
    d.wait_log(r"scale 2->6 via kubernetes failed \(attempt 2/3\): HTTP 503 "
               r"ServiceUnavailable: injected 503", 5)
    d.wait_log(r"engine\[web\]: scaled 2->6 via kubernetes", 5)
    seq = [(r["method"], r["status"]) for r in api.calls() if r["path"] == SCALE]
    i = seq.index(("PATCH", 409))
    assert seq[i:i + 5] == [("PATCH", 409), ("GET", 200), ("PATCH", 503), ("GET", 200),
                            ("PATCH", 200)], seq  # re-read before each retry
    # A PATCH that hangs past the timeout is retried too.
    api.fault(None, method="PATCH", delay=1.0)
    metric.load = 30
    d.wait_log(r"scale 6->3 via kubernetes failed \(attempt 1/3\): timeout after \d+ ms", 10)
    d.wait_log(r"engine\[web\]: scaled 6->3 via kubernetes", 10)
    d.stop(signal.SIGTERM)


@test
def test_403_is_permanent_with_the_apiservers_message(ctx):
    rules = [{"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get"]},
             {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    api, _, d = setup(ctx, api_kw={"rules": rules})
    d.wait_log(r"scale 2->6 via kubernetes failed \(attempt 1/3, permanent\): HTTP 403 "
               r'Forbidden: deployments\.apps "web" is forbidden: User "system:serviceaccount:'
               r'default:autoscaler" cannot patch resource "deployments/scale" in API group '
               r'"apps" in the namespace "default"', 15)
    d.wait_log(r"giving up on 2->6 until the next round$", 5)
    mark = d.mark()
    d.wait_decisions(2, 5, since=mark)
    assert not d.grep(r"attempt 2/3"), "a permanent failure was retried"
    assert api.replicas("deployment", "web") == 2
    d.stop(signal.SIGTERM)
    # A wrong token: 401, a failed read with the Status message, no decision.
    api, _, d = setup(ctx, tokens={"another-token": SA_USER})
    d.wait_log(r"reading the replica count via kubernetes failed: HTTP 401 Unauthorized: "
               r"Unauthorized: no decision, hold", 10)
    assert not api.calls("PATCH")
    d.stop(signal.SIGTERM)
    assert_token_hidden(d)


BAD_SCALES = [
    (b"\x00\xff garbage", r"response is not JSON"),
    (b"x" * (2 * 1024 * 1024), r"response body larger than the limit"),
    ({"kind": "Scale", "apiVersion": "autoscaling/v1", "spec": {"replicas": "1"}},
     r"not a Scale: value at /spec/replicas is a string, not a number"),
    ({"kind": "Scale", "apiVersion": "autoscaling/v1", "spec": {"replicas": -1}},
     r"not a Scale: .*negative"),
    ({"kind": "Scale", "apiVersion": "autoscaling/v1", "spec": {"replicas": 1.5}},
     r"not a Scale: .*not a whole number"),
    ({"kind": "Scale", "apiVersion": "autoscaling/v1", "spec": 1},
     r'not a Scale: no "spec" object'),
    ({"kind": "Deployment", "apiVersion": "apps/v1", "spec": {"replicas": 1}},
     r'not a Scale: "kind" is "Deployment"'),
    ([{"spec": {"replicas": 1}}], r"not a Scale: the answer is not a JSON object"),
]
BAD_PODS = [
    (b"<html>", r"listing pods: response is not JSON"),
    ({"kind": "PodList", "apiVersion": "v1", "items": {"web-a": {}}},
     r'listing pods: not a PodList: "items" is not an array'),
    ({"kind": "PodList", "apiVersion": "v1", "items": [{"metadata": {"name": 7}}]},
     r"listing pods: not a PodList: an item has no metadata\.name"),
]


@test
def test_garbage_huge_and_wrong_types_hold(ctx):
    api, metric, path = setup(ctx, load=0, start=False)  # the metric asks for 1: down
    for body, _ in BAD_SCALES:
        api.fault(200, body, method="GET", path="/scale")
    for body, _ in BAD_PODS:
        api.fault(200, body, method="GET", path="/pods")
    d = daemon(ctx, path)
    for _, why in BAD_SCALES + BAD_PODS:
        d.wait_log(r"reading the replica count via kubernetes failed: " + why, 10)
    assert not api.calls("PATCH"), "scaled on a count it could not read"
    d.wait_log(r"engine\[web\]: scaled 2->1 via kubernetes", 10)
    d.stop(signal.SIGTERM)


# ---- pods ---------------------------------------------------------------------------------------

def per_pod_load(m):
    """A per-pod load from a Prometheus-style query (a series per pod, label pod), target 50."""
    return {"metrics": [{"name": "load", "type": "prometheus", "url": m.url, "query": "load",
                         "replica_id_label": "pod", "timeout": "250ms", "target": 50}]}


@test
def test_not_ready_pods_as_the_hpa(ctx):
    # Ready pods share the traffic; a pod that is Running but not Ready yet shows its start-up
    # spike (500), as CPU does. With `readiness: cpu` (the HPA's rule for CPU: a pod not Ready
    # in its first 5 minutes is not ready), the not-ready pod is left out, and on a scale-up
    # counts as 0: the new pods' spike must not scale further. A series of a pod that does
    # not exist is dropped.
    api, metric, path = setup(
        ctx, start=False, api_kw={"ready_after": 3.0, "page_cap": 3},
        scaler={"readiness": "cpu"}, group=per_pod_load)
    total = [200.0]
    metric.per_pod = lambda p, ready: (total[0] / len(ready) if p in ready else 500.0)
    metric.extra = {"web-gone-00000": 1000.0}
    whole_reasons(path)
    d = daemon(ctx, path)
    d.wait_log(r"engine\[web\]: scaled 2->4 via kubernetes", 15)
    # While the two new pods start (3 s), every decision keeps 4.
    m = d.wait_log(r"decision current=4 desired=4 .*with 0 missing, 2 not ready", 5)
    assert m
    time.sleep(1.5)
    assert api.replicas("deployment", "web") == 4 and not d.grep(r"scaled 4->"), d.tail()
    # Once Ready they share the load: 200 over 4 = the target.
    d.wait_log(r"decision current=4 desired=4 load=\S+ reason=\"load avg=50 over 4 ready", 10)
    assert any("continue" in r["query"] for r in api.calls("GET", "/pods"))  # 4 pods, 3 a page
    # Less traffic: 60 over 4 ready pods is 15 a pod, ceil(0.3 * 4) = 2.
    total[0] = 60.0
    d.wait_log(r"engine\[web\]: scaled 4->2 via kubernetes", 10)
    d.stop(signal.SIGTERM)


@test
def test_default_readiness_counts_running_pods(ctx):
    # readiness: pending (the default), the HPA's rule for every metric but CPU: a Pending pod
    # is not ready, a Running pod counts its value whatever its Ready condition says. New pods
    # are Pending for 1.5 s (a value of 500 here, so that the decision shows it left out),
    # then Running and not Ready for the rest of the test: they get no traffic (0).
    api, metric, path = setup(ctx, start=False, api_kw={"pending_for": 1.5, "ready_after": 60.0},
                              group=per_pod_load)
    total = [200.0]

    def value(p, ready):
        if p["status"]["phase"] == "Pending":
            return 500.0
        return total[0] / len(ready) if p in ready else 0.0

    metric.per_pod = value
    whole_reasons(path)
    d = daemon(ctx, path)
    d.wait_log(r"engine\[web\]: scaled 2->4 via kubernetes", 15)
    # Pending: left out, and 0 in the scale-up's average: 200 over 4 is the target, keep 4.
    d.wait_log(r"decision current=4 desired=4 .*with 0 missing, 2 not ready", 5)
    # Running, not Ready: their 0 counts.
    d.wait_log(r"decision current=4 desired=4 load=\S+ reason=\"load avg=50 over 4 ready", 10)
    pods = api.pods("web")
    assert sorted((p["status"]["phase"], c["status"]) for p in pods
                  for c in p["status"]["conditions"] if c["type"] == "Ready") == [
        ("Running", "False"), ("Running", "False"), ("Running", "True"), ("Running", "True")]
    # Less traffic: 100 on the 2 Ready pods, 0 on the others, 25 a pod: ceil(0.5 * 4) = 2
    # (with readiness: ready the two would be left out: 50 a pod, keep 4).
    total[0] = 100.0
    d.wait_log(r"engine\[web\]: scaled 4->2 via kubernetes", 10)
    d.stop(signal.SIGTERM)


@test
def test_pending_pods_without_series_are_not_ready(ctx):
    # The HPA looks at the phase before the metric (groupPods): a Pending pod is unready even
    # without a series (a new pod has none), so it is left out of a scale-down, where a started
    # pod without a series would be missing and counted at the target.
    api, metric, path = setup(ctx, start=False, api_kw={"pending_for": 60.0, "ready_after": 60.0},
                              group=per_pod_load)
    total = [200.0]
    metric.per_pod = lambda p, ready: (None if p["status"]["phase"] == "Pending"
                                       else total[0] / len(ready))
    whole_reasons(path)
    d = daemon(ctx, path)
    d.wait_log(r"engine\[web\]: scaled 2->4 via kubernetes", 15)
    d.wait_log(r"decision current=4 desired=4 .*with 0 missing, 2 not ready", 5)
    # 20 on each Ready pod: 0.4 of the target over the 2 of them, the Pending ones left out:
    # ceil(0.4 * 2) = 1 (were they missing, at the target: 35 a pod, ceil(0.7 * 4) = 3).
    total[0] = 40.0
    d.wait_log(r"engine\[web\]: scaled 4->1 via kubernetes", 10)
    assert not d.grep(r"scaled 4->3"), d.tail()
    d.stop(signal.SIGTERM)


# ---- deploy/kubernetes --------------------------------------------------------------------------

DEPLOY = os.path.join(REPO, "deploy", "kubernetes")


def configmap_config(path):
    """The autoscaler.yaml embedded in the ConfigMap (a block scalar), without PyYAML."""
    lines = open(path).read().split("\n")
    start = next(i for i, ln in enumerate(lines) if re.match(r"\s+autoscaler\.yaml: \|", ln))
    indent = len(lines[start]) - len(lines[start].lstrip()) + 2
    out = []
    for ln in lines[start + 1:]:
        if ln.strip() and len(ln) - len(ln.lstrip()) < indent:
            break
        out.append(ln[indent:])
    return "\n".join(out).rstrip() + "\n"


@test
def test_deploy_manifests(ctx):
    files = sorted(f for f in os.listdir(DEPLOY) if f.endswith(".yaml"))
    assert {"configmap.yaml", "deployment.yaml", "rbac.yaml"} <= set(files), files
    try:
        import yaml  # python3-yaml, when installed
    except ImportError:
        yaml = None
        print("SKIP (part): PyYAML is not installed: the manifests are not parsed", flush=True)
    docs = []
    for f in files:
        text = open(os.path.join(DEPLOY, f)).read()
        assert not re.search(r"^\s*namespace:", text, re.M), f"{f}: names a namespace"
        if yaml is not None:
            docs += [d for d in yaml.safe_load_all(text) if d]
    if yaml is not None:
        kinds = sorted(d["kind"] for d in docs)
        assert kinds == ["ConfigMap", "Deployment", "Role", "RoleBinding", "ServiceAccount"], kinds
        dep = next(d for d in docs if d["kind"] == "Deployment")
        spec = dep["spec"]["template"]["spec"]
        assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
        c = spec["containers"][0]
        assert c["args"] == ["run", "-c", "/etc/autoscaler/autoscaler.yaml"], c
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["serviceAccountName"] == "autoscaler"
        assert c["ports"] == [{"name": "http", "containerPort": 9711}], c
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}, c
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, c
        vols = {v["name"]: v for v in spec["volumes"]}
        assert vols["token"]["secret"]["secretName"] == "autoscaler-token", vols
    # The embedded configuration is one `check` accepts (state_dir moved to a temp dir).
    cfg = configmap_config(os.path.join(DEPLOY, "configmap.yaml"))
    assert "kubeconfig" not in cfg and "type: kubernetes" in cfg  # in-cluster
    cfg = cfg.replace("/var/lib/autoscaler", os.path.join(ctx.tmp, "state"))
    assert "listen: 0.0.0.0:9711" in cfg and "${file:/etc/autoscaler-token/token}" in cfg, cfg
    with open(os.path.join(ctx.tmp, "token"), "w") as f:
        f.write("0123456789abcdef0123456789abcdef\n")
    cfg = cfg.replace("/etc/autoscaler-token/token", os.path.join(ctx.tmp, "token"))
    r = run_cli(ctx.bin, ["check", "-c", write_config(ctx.tmp, cfg)])
    assert r.returncode == 0, r.stderr


@test
def test_deploy_role_allows_what_the_daemon_calls(ctx):
    try:
        import yaml
    except ImportError:
        print("SKIP: PyYAML is not installed: the Role cannot be read", flush=True)
        return
    docs = list(yaml.safe_load_all(open(os.path.join(DEPLOY, "rbac.yaml"))))
    role = next(d for d in docs if d and d["kind"] == "Role")
    api, metric, d = setup(ctx, api_kw={"rules": role["rules"]})
    d.wait_log(r"engine\[web\]: scaled 2->6 via kubernetes", 15)
    metric.load = 20
    d.wait_log(r"engine\[web\]: scaled 6->2 via kubernetes", 10)
    d.stop(signal.SIGTERM)
    assert all(r["status"] == 200 for r in api.calls()), [r["status"] for r in api.calls()]
    used = calls(api)
    granted = {(v, res) for rule in role["rules"] for res in rule["resources"]
               for v in rule["verbs"]}
    # Every verb the Role grants on deployments/scale and pods is one the daemon used: no more.
    relevant = {(v, res) for v, res in granted if res in ("deployments/scale", "pods")}
    assert relevant == used, (relevant, used)
    for kind in ("statefulsets", "replicasets"):  # the other kinds get the same
        assert {(v, f"{kind}/scale") for v, _ in used if _ == "deployments/scale"} <= granted


# ---- kubectl ------------------------------------------------------------------------------------

def kubectl(ctx, kcfg, *args):
    home = os.path.join(ctx.tmp, "home")
    os.makedirs(home, exist_ok=True)
    r = subprocess.run([KUBECTL, *args], capture_output=True, text=True, timeout=30,
                       env={"HOME": home, "KUBECONFIG": kcfg, "PATH": os.environ["PATH"]})
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


@test
def test_kubectl_against_the_same_fixture(ctx):
    if not os.access(KUBECTL, os.X_OK):
        print(f"SKIP: {KUBECTL} is not installed: the fixture is not checked against kubectl",
              flush=True)
        return
    # https: kubectl sends no bearer token over plain http
    api, metric, path = setup(ctx, load=30, start=False, group={"count_confirm": 2}, tls=True)
    kcfg = os.path.join(os.path.dirname(path), "kubeconfig")  # the daemon's own
    get = ("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}")
    assert kubectl(ctx, kcfg, *get) == "2"
    out = kubectl(ctx, kcfg, "get", "pods", "-l", "app=web")
    assert out.split("\n")[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], out
    assert len(re.findall(r"^web-\S+\s+1/1\s+Running\s", out, re.M)) == 2, out
    d = daemon(ctx, path)
    d.wait_log(r"engine\[web\]: scaled 2->3 via kubernetes", 15)
    assert kubectl(ctx, kcfg, *get) == "3"  # kubectl sees the daemon's scale
    wait_for(lambda: len(re.findall(r"^web-", kubectl(ctx, kcfg, "get", "pods", "-l", "app=web"),
                                    re.M)) == 3, 5, "kubectl listing 3 pods")
    # Scaled from outside, with kubectl's optimistic concurrency (GET, then PUT with the
    # resourceVersion): an outside change, trusted after count_confirm reads.
    out = kubectl(ctx, kcfg, "scale", "deployment", "web", "--current-replicas=3",
                  "--replicas=5")
    assert out.strip() == "deployment.apps/web scaled", out
    put = api.calls("PUT")[-1]
    assert json.loads(put["body"])["metadata"]["resourceVersion"], put["body"]
    d.wait_log(r"replica count 5 differs from the last trusted 3: unconfirmed \(read 1 of 2\)",
               5)
    d.wait_log(r"decision current=5 desired=3 ", 5)
    d.wait_log(r"engine\[web\]: scaled 5->3 via kubernetes", 5)
    assert kubectl(ctx, kcfg, *get) == "3"
    # The plain kubectl scale: GET the deployment, PATCH its scale with a merge patch.
    metric.load = 40
    assert kubectl(ctx, kcfg, "scale", "deployment", "web", "--replicas=4").strip() == \
        "deployment.apps/web scaled"
    patch = [r for r in api.calls("PATCH") if "kubectl" in r["headers"].get("User-Agent", "")][-1]
    assert patch["headers"]["Content-Type"] == "application/merge-patch+json"
    assert json.loads(patch["body"]) == {"spec": {"replicas": 4}}
    d.wait_log(r"decision current=4 desired=4 ", 5)
    d.stop(signal.SIGTERM)


@test
def test_fixture_follows_the_reference(ctx):
    # What kubectl did not exercise: a stale resourceVersion, media types, errors, paging.
    api = KubeAPI(tokens={TOKEN: SA_USER}, terminate_after=0).start()
    ctx.defer(api.stop)
    api.add("deployment", "web", 3)

    def call(method, path, body=None, ctype="application/json", token=TOKEN):
        req = urllib.request.Request(api.url + path, method=method, data=body)
        req.add_header("Content-Type", ctype)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    status, scale = call("GET", SCALE)
    assert status == 200 and scale["spec"] == {"replicas": 3}, scale
    assert scale["status"] == {"replicas": 3, "selector": "app=web"}, scale
    stale = dict(scale, spec={"replicas": 4})
    assert call("PUT", SCALE, json.dumps(stale).encode())[0] == 200
    status, err = call("PUT", SCALE, json.dumps(stale).encode())  # its resourceVersion is old
    assert status == 409 and err["reason"] == "Conflict" and err["kind"] == "Status", err
    status, err = call("PATCH", SCALE, b'{"spec":{"replicas":5}}', "text/plain")
    assert status == 415 and err["reason"] == "UnsupportedMediaType", err
    status, err = call("PATCH", SCALE, b'{"spec":{"replicas":-1}}',
                       "application/merge-patch+json")
    assert status == 422 and err["reason"] == "Invalid", err
    status, s0 = call("PATCH", SCALE, b'{"spec":{"replicas":0}}', "application/merge-patch+json")
    assert status == 200 and s0["spec"] == {}, s0  # a 0 is omitted
    assert call("GET", SCALE, token="nope")[0] == 401
    status, err = call("GET", SCALE, token=None)
    assert status == 403 and 'User "system:anonymous"' in err["message"], err
    assert call("GET", "/version", token=None)[0] == 200
    status, err = call("GET", "/apis/apps/v1/namespaces/default/deployments/nope/scale")
    assert status == 404 and err["message"] == 'deployments.apps "nope" not found', err
    call("PATCH", SCALE, b'{"spec":{"replicas":3}}', "application/merge-patch+json")
    status, page = call("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb&limit=2")
    assert status == 200 and len(page["items"]) == 2 and page["metadata"]["continue"], page
    assert page["metadata"]["remainingItemCount"] == 1
    status, rest = call("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb&limit=2"
                        "&continue=" + page["metadata"]["continue"])
    assert status == 200 and len(rest["items"]) == 1 and "continue" not in rest["metadata"]
    assert rest["metadata"]["resourceVersion"] == page["metadata"]["resourceVersion"]
    api.snapshots.clear()  # the token outlived its snapshot
    status, err = call("GET", "/api/v1/namespaces/default/pods?limit=2&labelSelector=app%3Dweb"
                       "&continue=" + page["metadata"]["continue"])
    assert status == 410 and err["reason"] == "Expired", err
    assert call("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dother")[1][
        "items"] == []


if __name__ == "__main__":
    sys.exit(main())
