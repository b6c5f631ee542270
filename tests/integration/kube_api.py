"""A stand-in for the Kubernetes API server on 127.0.0.1 (standard library only), for the tests
of the `kubernetes` scaler and for the real `kubectl`, which must find it indistinguishable
from a cluster for what it asks here.

It follows the Kubernetes API reference as published, for exactly what we use:
  - "Kubernetes API Concepts" (https://kubernetes.io/docs/reference/using-api/api-concepts/):
    resource paths /api/v1/namespaces/{ns}/{resource}[/{name}[/{subresource}]] and
    /apis/{group}/{version}/namespaces/..., collections listed with labelSelector, retrieved in
    chunks with `limit` and `continue` (metadata.continue; a page may hold fewer than `limit`
    items; an expired token answers 410 Gone with reason Expired; the list's resourceVersion
    stays that of its first page: a consistent snapshot), Table output when the Accept header
    asks for `as=Table;g=meta.k8s.io;v=v1` (kubectl get), JSON otherwise.
  - "The Kubernetes API", Discovery (https://kubernetes.io/docs/concepts/overview/
    kubernetes-api/): GET /version, /api (APIVersions), /apis (APIGroupList), /api/v1 and
    /apis/apps/v1 (APIResourceList, with the scale subresources) as unaggregated discovery;
    an Accept asking for aggregated discovery (apidiscovery.k8s.io) is answered with the
    plain documents and Content-Type application/json, as a server without it does.
  - "Deployment v1 apps", "StatefulSet v1 apps", "ReplicaSet v1 apps"
    (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/
    and its siblings; the generated reference https://kubernetes.io/docs/reference/generated/
    kubernetes-api/v1.32/#deployment-v1-apps, operations "read scale", "replace scale",
    "partially update scale"): GET, list, and the /scale subresource:
        GET   .../{name}/scale    200 Scale
        PATCH .../{name}/scale    Content-Type application/merge-patch+json,
                                  application/strategic-merge-patch+json or
                                  application/json-patch+json; 200 Scale; any other type
                                  415 UnsupportedMediaType
        PUT   .../{name}/scale    a Scale; metadata.resourceVersion, when given, must be the
                                  current one, else 409 Conflict (optimistic concurrency,
                                  api-conventions.md "Concurrency Control and Consistency")
    `dryRun=All` and `fieldManager` are accepted; spec.replicas must be an integer >= 0
    (422 Invalid otherwise).
  - "Scale v1 autoscaling" (https://kubernetes.io/docs/reference/generated/kubernetes-api/
    v1.32/#scale-v1-autoscaling; the "Scale subresource" of custom resources,
    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
    custom-resource-definitions/#scale-subresource): apiVersion autoscaling/v1, kind Scale,
    metadata, spec.replicas (omitted when 0, as Go's omitempty does), status.replicas (the
    pods the controller observes) and status.selector (the label selector in query-parameter
    syntax).
  - "Pod v1 core" (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/
    pod-v1/): metadata (name, namespace, labels, creationTimestamp, deletionTimestamp while
    terminating, ownerReferences), status.phase (Pending, then Running), status.startTime,
    status.conditions (PodScheduled, Initialized, ContainersReady, Ready with
    lastTransitionTime), status.containerStatuses.
  - "Status" (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/):
    every error is a Status object (kind Status, apiVersion v1, status Failure, message,
    reason, details, code) with the code as the HTTP status; reasons NotFound, Unauthorized,
    Forbidden, Conflict, Invalid, UnsupportedMediaType, MethodNotAllowed, Expired, BadRequest.
  - Authentication and authorization ("Authenticating", "Using RBAC Authorization"): a bearer
    token (Authorization: Bearer T) or a TLS client certificate (its CN is the user) names the
    user; a wrong token is 401 Unauthorized; no credentials at all is the user
    system:anonymous, allowed /version only; with `rules` (a Role's rules: apiGroups,
    resources with "resource/subresource", verbs get/list/watch/patch/update), anything
    else is 403 Forbidden with the apiserver's message ('deployments.apps "web" is forbidden:
    User "U" cannot patch resource "deployments/scale" in API group "apps" in the namespace
    "default"').

State: the workloads and their pods. A workload's pods follow its spec.replicas on every
request, as its controller would: new pods start Pending for `pending_for` s (the kubelet has
acknowledged them at once: status.startTime is their creation, their Ready condition False
since then), then Running but not Ready until `ready_after` s after their creation (Ready
True from then, its lastTransitionTime that moment); a scale-down marks pods terminating
(deletionTimestamp) and removes them `terminate_after` s later, taking not-ready pods first,
then the newest ready ones (the ReplicaSet controller's order); a StatefulSet's pods are
web-0, web-1, ... and leave from the highest ordinal. Every write bumps the resourceVersion.

Faults a test can inject, each for `times` requests matching a method and a path fragment:
`fault(status, body, method=None, path=None, delay=0, times=1, headers=None)`: answer status
with body (a dict as JSON, str/bytes as they are, None: a Status object for that code), after
delay seconds; status None with a delay only delays the real answer.

    api = KubeAPI(tokens={"t0k": "system:serviceaccount:default:autoscaler"}).start()
    api.add("deployment", "web", 2, labels={"app": "web"})
    api.url; api.replicas("deployment", "web"); api.pods("web"); api.requests
    python3 kube_api.py --port 18999      # standalone, for kubectl by hand
"""

import argparse
import base64
import calendar
import copy
import hashlib
import json
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = {  # kind -> (resource, Kind)
    "deployment": ("deployments", "Deployment"),
    "statefulset": ("statefulsets", "StatefulSet"),
    "replicaset": ("replicasets", "ReplicaSet"),
}
BY_RESOURCE = {r: k for k, (r, _) in KINDS.items()}
PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json",
               "application/json-patch+json")
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def parse_time(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def status_obj(code, reason, message, details=None):
    obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code}
    if details is not None:
        obj["details"] = details
    return obj


REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           405: "MethodNotAllowed", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType",
           422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable", 504: "Timeout"}


class ApiError(Exception):
    def __init__(self, code, message, details=None, reason=None):
        super().__init__(message)
        self.obj = status_obj(code, reason or REASONS.get(code, "Unknown"), message, details)
        self.code = code


# ---- label selectors (query-parameter syntax) ---------------------------------------------------

def split_selector(s):
    """The requirements of a selector: commas outside parentheses separate them."""
    out, depth, cur = [], 0, ""
    for c in s:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += c
    if cur.strip():
        out.append(cur.strip())
    return out


def selector_matches(selector, labels):
    for req in split_selector(selector or ""):
        m = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", req)
        if m:
            values = {v.strip() for v in m.group(3).split(",")}
            has = m.group(1) in labels and labels[m.group(1)] in values
            if has != (m.group(2) == "in"):
                return False
            continue
        m = re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", req)
        if m:
            eq = labels.get(m.group(1)) == m.group(3)
            if eq != (m.group(2) != "!="):
                return False
            continue
        m = re.fullmatch(r"(!?)([\w./-]+)", req)
        if not m:
            raise ApiError(400, f"unable to parse requirement: {req!r}")
        if (m.group(2) in labels) == (m.group(1) == "!"):
            return False
    return True


def selector_string(match_labels):
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


def age(seconds):
    s = int(max(0, seconds))
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h"


# ---- the server ----------------------------------------------------------------------------------

class KubeAPI(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, tokens=None, tls=None, client_ca=None, rules=None, ready_after=1.0,
                 pending_for=0.0, terminate_after=0.3, page_cap=None, continue_ttl=300.0,
                 port=0):
        """tokens: {token: user} (None: no token needed, every request is user "admin");
        tls: (certfile, keyfile) to serve https; client_ca: CA file whose client
        certificates authenticate (CN = user); rules: a Role's rules (None: all allowed)."""
        super().__init__(("127.0.0.1", port), Handler)
        self.tokens = tokens
        self.rules = rules
        self.ready_after, self.pending_for = ready_after, pending_for
        self.terminate_after = terminate_after
        self.page_cap, self.continue_ttl = page_cap, continue_ttl
        self.lock = threading.RLock()
        self.rv = 100
        self.workloads = {}     # (kind, ns, name) -> object
        self.pods_by = {}       # (ns, name) -> pod object (with private "_" fields)
        self.snapshots = {}     # token id -> (time, [pods])
        self.faults = []
        self.requests = []      # dicts: method, path, query, headers, body, status, user, verb
        self.tls = tls is not None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            if client_ca:
                ctx.load_verify_locations(client_ca)
                ctx.verify_mode = ssl.CERT_OPTIONAL
            self.ssl_ctx = ctx

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls:  # the handshake happens in the handler's thread, on its first read
            sock = self.ssl_ctx.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        """A client that hung up or refused our certificate (what a test may mean to do) is
        not an error of the server."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.server_address[1]}"

    @property
    def port(self):
        return self.server_address[1]

    # -- state --

    def bump(self):
        self.rv += 1
        return str(self.rv)

    def add(self, kind, name, replicas, labels=None, namespace="default", image="nginx:1.27"):
        """A workload whose pods carry `labels` (default app=NAME) and match its selector."""
        resource, kind_name = KINDS[kind]
        labels = labels or {"app": name}
        now = time.time()
        obj = {"apiVersion": "apps/v1", "kind": kind_name,
               "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()),
                            "generation": 1, "creationTimestamp": rfc3339(now),
                            "labels": dict(labels)},
               "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                        "template": {"metadata": {"labels": dict(labels)},
                                     "spec": {"containers": [{"name": name, "image": image}]}}},
               "status": {}}
        if kind == "deployment":
            obj["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate":
                                       {"maxUnavailable": "25%", "maxSurge": "25%"}}
        if kind == "statefulset":
            obj["spec"]["serviceName"] = name
            obj["spec"]["podManagementPolicy"] = "Parallel"
        with self.lock:
            obj["metadata"]["resourceVersion"] = self.bump()
            obj["_hash"] = hashlib.sha1(name.encode()).hexdigest()[:10]
            self.workloads[(kind, namespace, name)] = obj
            self.reconcile(ready=True)
        return obj

    def replicas(self, kind, name, namespace="default"):
        with self.lock:
            return self.workloads[(kind, namespace, name)]["spec"]["replicas"]

    def set_replicas(self, kind, name, n, namespace="default"):
        with self.lock:
            w = self.workloads[(kind, namespace, name)]
            w["spec"]["replicas"] = n
            w["metadata"]["resourceVersion"] = self.bump()
            self.reconcile()

    def pods(self, app=None, namespace="default", terminating=False):
        """The public form of the pods (with app=APP), sorted by name."""
        with self.lock:
            self.reconcile()
            out = [self.public(p) for (ns, _), p in sorted(self.pods_by.items())
                   if ns == namespace and (app is None or p["metadata"]["labels"].get("app") == app)
                   and (terminating or "deletionTimestamp" not in p["metadata"])]
        return out

    def fault(self, status=None, body=None, method=None, path=None, delay=0.0, times=1,
              headers=None):
        with self.lock:
            self.faults.append({"status": status, "body": body, "method": method,
                                "path": path, "delay": delay, "times": times,
                                "headers": headers or {}})

    def calls(self, method=None, path=None):
        with self.lock:
            return [r for r in self.requests if (method is None or r["method"] == method)
                    and (path is None or path in r["path"])]

    def take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if (f["method"] in (None, method)) and (f["path"] is None or f["path"] in path):
                    f["times"] -= 1
                    if f["times"] <= 0:
                        self.faults.remove(f)
                    return f
        return None

    # -- the controllers --

    def reconcile(self, ready=False):
        """Pods follow each workload's spec.replicas; phases and conditions follow the clock.
        ready=True: new pods are Running and Ready at once (the initial state)."""
        now = time.time()
        for (kind, ns, name), w in self.workloads.items():
            mine = [p for (pns, _), p in self.pods_by.items()
                    if pns == ns and p["_owner"] == (kind, name)]
            live = [p for p in mine if "deletionTimestamp" not in p["metadata"]]
            want = w["spec"]["replicas"]
            for _ in range(want - len(live)):
                live.append(self.new_pod(kind, w, live, now, ready))
            if len(live) > want:
                for p in self.victims(kind, live, now)[:len(live) - want]:
                    p["metadata"]["deletionTimestamp"] = rfc3339(now)
                    p["metadata"]["deletionGracePeriodSeconds"] = 30
                    p["metadata"]["resourceVersion"] = self.bump()
                    p["_deleted_at"] = now
        for key, p in list(self.pods_by.items()):
            if "_deleted_at" in p and now - p["_deleted_at"] >= self.terminate_after:
                del self.pods_by[key]
                self.bump()
        for p in self.pods_by.values():
            self.pod_status(p, now)
        for (kind, ns, name), w in self.workloads.items():
            live = [p for (pns, _), p in self.pods_by.items() if pns == ns
                    and p["_owner"] == (kind, name) and "deletionTimestamp" not in p["metadata"]]
            ready_n = sum(1 for p in live if self.is_ready(p, now))
            st = {"observedGeneration": w["metadata"]["generation"], "replicas": len(live),
                  "readyReplicas": ready_n, "availableReplicas": ready_n}
            if kind == "deployment":
                st["updatedReplicas"] = len(live)
            if kind == "statefulset":
                st["currentReplicas"] = st["updatedReplicas"] = len(live)
            if not ready_n:
                del st["readyReplicas"], st["availableReplicas"]  # omitempty
            w["status"] = st

    def new_pod(self, kind, w, live, now, ready):
        meta = w["metadata"]
        if kind == "statefulset":
            used = {p["metadata"]["name"] for p in live}
            name = next(f"{meta['name']}-{i}" for i in range(10 ** 6)
                        if f"{meta['name']}-{i}" not in used)
            owner_kind, owner = "StatefulSet", meta["name"]
        elif kind == "deployment":
            owner_kind, owner = "ReplicaSet", f"{meta['name']}-{w['_hash']}"
            name = f"{owner}-{uuid.uuid4().hex[:5]}"
        else:
            owner_kind, owner = "ReplicaSet", meta["name"]
            name = f"{owner}-{uuid.uuid4().hex[:5]}"
        labels = dict(w["spec"]["template"]["metadata"]["labels"])
        if kind == "deployment":
            labels["pod-template-hash"] = w["_hash"]
        created = now - (max(self.ready_after, self.pending_for) + 1 if ready else 0)
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": meta["namespace"],
                            "uid": str(uuid.uuid4()), "resourceVersion": self.bump(),
                            "creationTimestamp": rfc3339(created), "labels": labels,
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner_kind,
                                                 "name": owner, "uid": meta["uid"],
                                                 "controller": True,
                                                 "blockOwnerDeletion": True}]},
               "spec": copy.deepcopy(w["spec"]["template"]["spec"]),
               "status": {},
               "_owner": (kind, meta["name"]), "_created": created}
        pod["spec"]["nodeName"] = "node-1"
        self.pods_by[(meta["namespace"], name)] = pod
        return pod

    def is_ready(self, p, now):
        return now - p["_created"] >= max(self.ready_after, self.pending_for)

    def pod_status(self, p, now):
        created = p["_created"]
        running = now - created >= self.pending_for
        ready = self.is_ready(p, now)
        acked = rfc3339(created)  # startTime: the kubelet acknowledged the pod (node-1) at once
        started = rfc3339(created + self.pending_for)  # its containers, after the image pull
        ready_at = rfc3339(created + max(self.ready_after, self.pending_for))
        tf = lambda b: "True" if b else "False"  # noqa: E731
        conds = [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                  "lastTransitionTime": rfc3339(created)}]
        if running:
            conds += [{"type": "Initialized", "status": "True", "lastProbeTime": None,
                       "lastTransitionTime": started}]
        for t in ("Ready", "ContainersReady"):
            conds.append({"type": t, "status": tf(ready), "lastProbeTime": None,
                          "lastTransitionTime": ready_at if ready else acked})
        st = {"phase": "Running" if running else "Pending", "conditions": conds,
              "hostIP": "10.0.0.1", "qosClass": "BestEffort", "startTime": acked}
        if running:
            st["podIP"] = "10.1.0.%d" % (int(p["metadata"]["uid"][:2], 16) % 250 + 2)
            st["containerStatuses"] = [{
                "name": p["spec"]["containers"][0]["name"], "ready": ready, "restartCount": 0,
                "image": p["spec"]["containers"][0]["image"], "started": True,
                "state": {"running": {"startedAt": started}}}]
        p["status"] = st

    def victims(self, kind, live, now):
        if kind == "statefulset":
            return sorted(live, key=lambda p: -int(p["metadata"]["name"].rsplit("-", 1)[1]))
        return sorted(live, key=lambda p: (self.is_ready(p, now), -p["_created"]))

    @staticmethod
    def public(obj):
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    # -- authentication and authorization --

    def authorized(self, verb, group, resource, sub):
        if self.rules is None:
            return True
        full = f"{resource}/{sub}" if sub else resource
        for r in self.rules:
            if ((group in r.get("apiGroups", []) or "*" in r.get("apiGroups", []))
                    and (full in r.get("resources", []) or "*" in r.get("resources", []))
                    and (verb in r.get("verbs", []) or "*" in r.get("verbs", []))):
                return True
        return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: KubeAPI

    # -- answers --

    def _send(self, status, obj, headers=None, ctype="application/json"):
        body = obj if isinstance(obj, bytes) else (
            obj.encode() if isinstance(obj, str) else json.dumps(obj).encode())
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Audit-Id", str(uuid.uuid4()))
            self.send_header("Cache-Control", "no-cache, private")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up (its timeout)

    def _user(self):
        """The authenticated user, or raises 401."""
        srv = self.server
        auth = self.headers.get("Authorization")
        if auth is not None:
            m = re.fullmatch(r"Bearer (\S+)", auth)
            if m and srv.tokens is not None and m.group(1) in srv.tokens:
                return srv.tokens[m.group(1)]
            if srv.tokens is None and m:
                return "admin"
            raise ApiError(401, "Unauthorized")
        if srv.tls and isinstance(self.connection, ssl.SSLSocket):
            cert = self.connection.getpeercert()
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            return v
        return "admin" if srv.tokens is None else "system:anonymous"

    # -- dispatch --

    def _handle(self):
        srv = self.server
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query,
                                                             keep_blank_values=True).items()}
        rec = {"method": self.command, "path": url.path, "query": query,
               "headers": dict(self.headers.items()), "body": body, "status": None,
               "user": None, "verb": None, "resource": None}
        with srv.lock:
            srv.requests.append(rec)
        fault = srv.take_fault(self.command, url.path)
        if fault and fault["delay"]:
            time.sleep(fault["delay"])
        if fault and fault["status"] is not None:
            b = fault["body"]
            code = fault["status"]
            if b is None:
                b = status_obj(code, REASONS.get(code, "Unknown"), f"injected {code}")
            rec["status"] = code
            return self._send(code, b, fault["headers"])
        try:
            rec["user"] = self._user()
            with srv.lock:
                srv.reconcile()
                status, obj = self._route(url.path, query, body, rec)
        except ApiError as e:
            status, obj = e.code, e.obj
        rec["status"] = status
        self._send(status, obj)

    def _route(self, path, query, body, rec):
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["version"] and len(parts) == 1:
            return self._nonresource(rec, 200, {
                "major": "1", "minor": "32", "gitVersion": "v1.32.4",
                "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
                "gitTreeState": "clean", "buildDate": "2025-04-22T16:02:27Z",
                "goVersion": "go1.23.6", "compiler": "gc", "platform": "linux/amd64"},
                public=True)
        if parts == ["api"]:
            return self._nonresource(rec, 200, {
                "kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.server.port}"}]})
        if parts == ["apis"]:
            gv = {"groupVersion": "apps/v1", "version": "v1"}
            return self._nonresource(rec, 200, {
                "kind": "APIGroupList", "apiVersion": "v1",
                "groups": [{"name": "apps", "versions": [gv], "preferredVersion": gv}]})
        if parts == ["api", "v1"]:
            return self._nonresource(rec, 200, core_resources())
        if parts == ["apis", "apps", "v1"]:
            return self._nonresource(rec, 200, apps_resources())
        if parts[:2] == ["api", "v1"] and len(parts) >= 5 and parts[2] == "namespaces":
            return self._resource(rec, "", parts[3], parts[4], parts[5:], query, body)
        if parts[:3] == ["apis", "apps", "v1"] and len(parts) >= 6 and parts[3] == "namespaces":
            return self._resource(rec, "apps", parts[4], parts[5], parts[6:], query, body)
        self._authz_nonresource(rec)
        raise ApiError(404, "the server could not find the requested resource",
                       {"causes": [{"reason": "UnexpectedServerResponse",
                                    "message": "404 page not found"}]})

    def _authz_nonresource(self, rec, public=False):
        rec["verb"] = self.command.lower()
        if rec["user"] == "system:anonymous" and not public:
            raise ApiError(403, f'forbidden: User "system:anonymous" cannot '
                           f'{rec["verb"]} path "{urllib.parse.urlsplit(self.path).path}"', {})

    def _nonresource(self, rec, status, obj, public=False):
        self._authz_nonresource(rec, public)
        if self.command != "GET":
            raise ApiError(405, "the server does not allow this method on the requested "
                           "resource", {})
        return status, obj

    def _resource(self, rec, group, ns, resource, rest, query, body):
        name = rest[0] if rest else None
        sub = rest[1] if len(rest) > 1 else None
        method = self.command
        verb = {"GET": "list" if name is None else "get", "PATCH": "patch", "PUT": "update",
                "POST": "create", "DELETE": "delete"}.get(method, method.lower())
        if verb == "list" and query.get("watch") in ("1", "true"):
            verb = "watch"
        rec.update(verb=verb, resource=f"{resource}/{sub}" if sub else resource)
        known = (group == "" and resource == "pods") or (group == "apps" and resource in
                                                        BY_RESOURCE)
        if not known or len(rest) > 2 or (sub is not None and (group != "apps" or sub != "scale")):
            raise ApiError(404, "the server could not find the requested resource",
                           {"causes": [{"reason": "UnexpectedServerResponse",
                                        "message": "404 page not found"}]})
        user = rec["user"]
        gname = f"{resource}.{group}" if group else resource
        if user == "system:anonymous" or not self.server.authorized(verb, group, resource, sub):
            what = f'{gname} "{name}"' if name else gname
            raise ApiError(403, f'{what} is forbidden: User "{user}" cannot {verb} resource '
                           f'"{rec["resource"]}" in API group "{group}" in the namespace '
                           f'"{ns}"', {"name": name, "group": group, "kind": resource}
                           if name else {"group": group, "kind": resource})
        if resource == "pods":
            if name is None and method == "GET":
                return self._list_pods(ns, query)
            if method == "GET":
                pod = self.server.pods_by.get((ns, name))
                if pod is None:
                    raise ApiError(404, f'pods "{name}" not found',
                                   {"name": name, "kind": "pods"})
                return 200, self.server.public(pod)
            raise self._not_allowed(group, resource, name)
        kind = BY_RESOURCE[resource]
        if name is None:
            if method != "GET":
                raise self._not_allowed(group, resource, name)
            return self._list_workloads(kind, ns, query)
        w = self.server.workloads.get((kind, ns, name))
        if w is None:
            raise ApiError(404, f'{gname} "{name}" not found',
                           {"name": name, "group": group, "kind": resource})
        if sub is None:
            if method != "GET":
                raise self._not_allowed(group, resource, name)
            if wants_table(self.headers.get("Accept", "")):
                return 200, self._workload_table(kind, [w])
            return 200, self.server.public(w)
        if method == "GET":
            return 200, scale_of(w)
        if method == "PATCH":
            return self._patch_scale(kind, w, body, query)
        if method == "PUT":
            return self._put_scale(kind, w, body, query)
        raise self._not_allowed(group, resource, name)

    def _not_allowed(self, group, resource, name):
        return ApiError(405, "the server does not allow this method on the requested resource",
                        {"name": name, "group": group, "kind": resource}
                        if name else {"group": group, "kind": resource})

    # -- scale --

    def _check_replicas(self, w, value):
        name = w["metadata"]["name"]
        if type(value) is not int or value < 0 or value > 2 ** 31 - 1:
            raise ApiError(422, f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid '
                           f'value: {json.dumps(value)}: must be greater than or equal to 0',
                           {"name": name, "group": "autoscaling", "kind": "Scale",
                            "causes": [{"reason": "FieldValueInvalid",
                                        "message": "Invalid value: must be greater than or "
                                                   "equal to 0", "field": "spec.replicas"}]})

    def _conflict(self, kind, w):
        name = w["metadata"]["name"]
        return ApiError(409, f'Operation cannot be fulfilled on {KINDS[kind][0]}.apps "{name}": '
                        f"the object has been modified; please apply your changes to the "
                        f"latest version and try again",
                        {"name": name, "group": "apps", "kind": KINDS[kind][0]})

    def _apply_scale(self, kind, w, replicas, query):
        if query.get("dryRun") == "All":
            out = scale_of(w)
            out["spec"] = {"replicas": replicas} if replicas else {}
            return 200, out
        if replicas != w["spec"]["replicas"]:
            w["spec"]["replicas"] = replicas
            w["metadata"]["generation"] += 1
            w["metadata"]["resourceVersion"] = self.server.bump()
            self.server.reconcile()
        return 200, scale_of(w)

    def _patch_scale(self, kind, w, body, query):
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype not in PATCH_TYPES:
            raise ApiError(415, "the body of the request was in an unknown format - accepted "
                           "media types include: application/json-patch+json, "
                           "application/merge-patch+json, application/apply-patch+yaml", {})
        try:
            patch = json.loads(body)
        except ValueError as e:
            raise ApiError(400, f"error decoding patch: {e}", {})
        current = scale_of(w)
        if ctype == "application/json-patch+json":
            merged = json_patch(current, patch)
        else:
            if not isinstance(patch, dict):
                raise ApiError(400, "error decoding patch: not a JSON object", {})
            merged = merge_patch(current, patch)
        rv = (merged.get("metadata") or {}).get("resourceVersion")
        if rv is not None and rv != w["metadata"]["resourceVersion"]:
            raise self._conflict(kind, w)
        replicas = (merged.get("spec") or {}).get("replicas", 0)
        self._check_replicas(w, replicas)
        return self._apply_scale(kind, w, replicas, query)

    def _put_scale(self, kind, w, body, query):
        try:
            obj = json.loads(body)
        except ValueError as e:
            raise ApiError(400, f"error decoding body: {e}", {})
        if not isinstance(obj, dict) or obj.get("kind") not in (None, "Scale"):
            raise ApiError(400, "the body is not a Scale", {})
        meta = obj.get("metadata") or {}
        if meta.get("name") not in (None, w["metadata"]["name"]):
            raise ApiError(400, "the name of the object does not match the name on the URL", {})
        rv = meta.get("resourceVersion")
        if rv not in (None, "") and rv != w["metadata"]["resourceVersion"]:
            raise self._conflict(kind, w)
        replicas = (obj.get("spec") or {}).get("replicas", 0)
        self._check_replicas(w, replicas)
        return self._apply_scale(kind, w, replicas, query)

    # -- lists --

    def _page(self, items, query, key):
        """One chunk of a list, as API Concepts describes: (items, metadata). The first page's
        items are kept as the snapshot the continue tokens read on."""
        srv = self.server
        limit, cont = query.get("limit"), query.get("continue")
        try:
            limit = int(limit) if limit not in (None, "") else 0
        except ValueError:
            raise ApiError(400, f'limit: Invalid value: "{limit}"', {})
        snap_id, start, rv = uuid.uuid4().hex, 0, str(srv.rv)
        if cont:
            try:
                tok = json.loads(base64.urlsafe_b64decode(cont + "=" * (-len(cont) % 4)))
                snap_id, start, rv = tok["snap"], int(tok["start"]), str(tok["rv"])
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, "continue key is not valid: incorrect encoded start "
                               "resourceVersion (version meta.k8s.io/v1)", {})
            snap = srv.snapshots.get(snap_id)
            if snap is None or time.time() - snap[0] > srv.continue_ttl or snap[2] != key:
                raise ApiError(410, "The provided continue parameter is too old to display a "
                               "consistent list result. You can start a new list without the "
                               "continue parameter.", {}, reason="Expired")
            items = snap[1]
        if srv.page_cap:
            limit = min(limit, srv.page_cap) if limit else srv.page_cap
        meta = {"resourceVersion": rv}
        if not limit or start + limit >= len(items):
            return items[start:], meta
        srv.snapshots.setdefault(snap_id, (time.time(), items, key))
        tok = {"v": "meta.k8s.io/v1", "rv": rv, "snap": snap_id, "start": start + limit}
        meta["continue"] = base64.urlsafe_b64encode(json.dumps(tok).encode()).decode().rstrip("=")
        meta["remainingItemCount"] = len(items) - start - limit
        return items[start:start + limit], meta

    def _list_pods(self, ns, query):
        srv = self.server
        sel = query.get("labelSelector", "")
        items = [srv.public(p) for (pns, _), p in sorted(srv.pods_by.items())
                 if pns == ns and selector_matches(sel, p["metadata"]["labels"])]
        page, meta = self._page(items, query, ("pods", ns, sel))
        if wants_table(self.headers.get("Accept", "")):
            return 200, pod_table(page, meta)
        return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": page}

    def _list_workloads(self, kind, ns, query):
        srv = self.server
        sel = query.get("labelSelector", "")
        items = [w for (k, wns, _), w in sorted(srv.workloads.items())
                 if k == kind and wns == ns and selector_matches(sel, w["metadata"]["labels"])]
        page, meta = self._page(items, query, (kind, ns, sel))
        if wants_table(self.headers.get("Accept", "")):
            t = self._workload_table(kind, page)
            t["metadata"] = meta
            return 200, t
        return 200, {"kind": KINDS[kind][1] + "List", "apiVersion": "apps/v1", "metadata": meta,
                     "items": [srv.public(w) for w in page]}

    def _workload_table(self, kind, items):
        cols = [("Name", "name", 0), ("Ready", "", 0)]
        if kind == "deployment":
            cols += [("Up-to-date", "", 0), ("Available", "", 0)]
        cols += [("Age", "", 0), ("Containers", "", 1), ("Images", "", 1), ("Selector", "", 1)]
        rows = []
        now = time.time()
        for w in items:
            st, spec = w["status"], w["spec"]
            ready = st.get("readyReplicas", 0)
            cells = [w["metadata"]["name"], f"{ready}/{spec['replicas']}"]
            if kind == "deployment":
                cells += [st.get("updatedReplicas", 0), st.get("availableReplicas", 0)]
            created = parse_time(w["metadata"]["creationTimestamp"])
            containers = spec["template"]["spec"]["containers"]
            cells += [age(now - created), ",".join(c["name"] for c in containers),
                      ",".join(c["image"] for c in containers),
                      selector_string(spec["selector"]["matchLabels"])]
            rows.append({"cells": cells, "object": partial(w)})
        return table(cols, rows, {"resourceVersion": str(self.server.rv)})

    def do_GET(self):
        self._handle()

    def do_PATCH(self):
        self._handle()

    def do_PUT(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def log_message(self, *args):
        pass


# ---- documents -----------------------------------------------------------------------------------

def scale_of(w):
    meta = w["metadata"]
    spec = {"replicas": w["spec"]["replicas"]} if w["spec"]["replicas"] else {}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
                         "resourceVersion": meta["resourceVersion"],
                         "creationTimestamp": meta["creationTimestamp"]},
            "spec": spec,
            "status": {"replicas": w["status"].get("replicas", 0),
                       "selector": selector_string(w["spec"]["selector"]["matchLabels"])}}


def merge_patch(target, patch):
    """RFC 7386 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def json_patch(doc, ops):
    """RFC 6902 JSON Patch, the operations a Scale needs (add, replace, remove, test)."""
    if not isinstance(ops, list):
        raise ApiError(400, "error decoding patch: a JSON Patch is an array", {})
    doc = copy.deepcopy(doc)
    for op in ops:
        try:
            keys = [k.replace("~1", "/").replace("~0", "~") for k in op["path"].split("/")[1:]]
            parent = doc
            for k in keys[:-1]:
                parent = parent.setdefault(k, {})
            if op["op"] in ("add", "replace"):
                parent[keys[-1]] = op["value"]
            elif op["op"] == "remove":
                del parent[keys[-1]]
            elif op["op"] == "test":
                if parent.get(keys[-1]) != op["value"]:
                    raise ApiError(422, f"the server rejected our request due to an error in "
                                   f"our request: test operation failed at {op['path']}", {})
            else:
                raise ApiError(400, f"unsupported JSON Patch operation {op['op']!r}", {})
        except (KeyError, TypeError, AttributeError):
            raise ApiError(400, "error decoding patch: bad operation", {})
    return doc


def partial(obj):
    meta = {k: v for k, v in obj["metadata"].items()}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


def table(cols, rows, meta):
    desc = {"Name": "Name must be unique within a namespace. More info: "
                    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"}
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": [{"name": n, "type": "integer" if n in ("Up-to-date",
                                                                          "Available")
                                   else "string", "format": f,
                                   "description": desc.get(n, n), "priority": p}
                                  for n, f, p in cols],
            "rows": rows}


def pod_table(pods, meta):
    cols = [("Name", "name", 0), ("Ready", "", 0), ("Status", "", 0), ("Restarts", "", 0),
            ("Age", "", 0), ("IP", "", 1), ("Node", "", 1), ("Nominated Node", "", 1),
            ("Readiness Gates", "", 1)]
    rows = []
    now = time.time()
    for p in pods:
        st = p["status"]
        cs = st.get("containerStatuses", [])
        ready = sum(1 for c in cs if c.get("ready"))
        status = "Terminating" if "deletionTimestamp" in p["metadata"] else (
            "Running" if st.get("phase") == "Running" else "ContainerCreating")
        created = parse_time(p["metadata"]["creationTimestamp"])
        rows.append({"cells": [p["metadata"]["name"], f"{ready}/{len(p['spec']['containers'])}",
                               status, "0", age(now - created), st.get("podIP", "<none>"),
                               p["spec"].get("nodeName", "<none>"), "<none>", "<none>"],
                     "object": partial(p)})
    return table(cols, rows, meta)


def wants_table(accept):
    return any("as=Table" in part and "g=meta.k8s.io" in part and "v=v1" in part
               and "v=v1beta1" not in part for part in accept.split(","))


def core_resources():
    return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
         "verbs": VERBS, "shortNames": ["po"], "categories": ["all"],
         "storageVersionHash": "xPOwRZ+Yhw8="},
        {"name": "pods/status", "singularName": "", "namespaced": True, "kind": "Pod",
         "verbs": ["get", "patch", "update"]}]}


def apps_resources():
    out = []
    for kind, (res, kind_name) in KINDS.items():
        short = {"deployments": ["deploy"], "statefulsets": ["sts"], "replicasets": ["rs"]}[res]
        out.append({"name": res, "singularName": kind, "namespaced": True, "kind": kind_name,
                    "verbs": VERBS, "shortNames": short, "categories": ["all"]})
        out.append({"name": f"{res}/scale", "singularName": "", "namespaced": True,
                    "group": "autoscaling", "version": "v1", "kind": "Scale",
                    "verbs": ["get", "patch", "update"]})
        out.append({"name": f"{res}/status", "singularName": "", "namespaced": True,
                    "kind": kind_name, "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1",
            "resources": out}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="a fake Kubernetes API server on 127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default=None)
    ap.add_argument("--replicas", type=int, default=2)
    a = ap.parse_args()
    api = KubeAPI(tokens={a.token: "admin"} if a.token else None, port=a.port)
    api.add("deployment", "web", a.replicas)
    print(api.url, flush=True)
    api.serve_forever()
