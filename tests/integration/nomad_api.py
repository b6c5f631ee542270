"""A stand-in for a Nomad agent's Jobs HTTP API, on 127.0.0.1, standard library only, for the
tests of the `nomad` scaler.

It follows Nomad's Jobs HTTP API (https://developer.hashicorp.com/nomad/api-docs/jobs) and
the API overview (https://developer.hashicorp.com/nomad/api-docs: ACLs, namespaces, regions)
as published:
  - Read Job                GET  /v1/job/:job_id         the job: TaskGroups [{Name, Count, ..}],
                                                          Stop, Namespace, JobModifyIndex, ...
  - Read Job Scale Status   GET  /v1/job/:job_id/scale   {JobID, Namespace, JobStopped,
                                                          TaskGroups: {name: {Desired, Placed,
                                                          Running, Healthy, Unhealthy, Events}}}
  - Scale Task Group        POST /v1/job/:job_id/scale   {Count, Target: {Group}, Message,
                                                          Error, Meta, PolicyOverride} ->
                                                          {EvalID, EvalCreateIndex, Index,
                                                          JobModifyIndex, ...}
  - `namespace` (default "default") and `region` query parameters; the ACL token in the
    X-Nomad-Token header.
  - Errors are plain text with a status, as Nomad's agent writes them: 404 "job not found",
    403 "Permission denied" (no token, or one without the capability) and "ACL token not
    found", 400 for a scale request Nomad refuses ("missing task group name for scaling
    action", "scaling action count can't be negative", `task group "x" specified for scaling
    does not exist in job`, "group count was greater than scaling policy maximum: 12 > 10",
    "job scaling blocked due to active deployment"), 500 "No path to region".

Faults a test can inject, one answer each, in order: `fail(status, text, method=None)`,
`hang(seconds, method=None)` (then answer normally), `answer(body, method=None)` (a 200 with
this body: garbage, wrong types).

    api = NomadAPI(token="secret-id").start()
    api.add_job("api", {"web": 2, "db": 1}, namespace="apps", scaling={"web": (1, 10)})
    api.count("api", "web", "apps"); api.requests
"""

import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class NomadAPI(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, token=None, region="global"):
        super().__init__(("127.0.0.1", 0), Handler)
        self.token, self.region = token, region
        self.lock = threading.Lock()
        self.jobs = {}            # (namespace, id) -> job dict (Read Job's shape)
        self.deployment_active = 0  # scale requests refused while > 0 (each one counts down)
        self.index = 10
        self.faults = []
        self.requests = []        # [(method, path, query dict, headers dict, body bytes)]

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add_job(self, job_id, groups, namespace="default", scaling=None, stopped=False):
        scaling = scaling or {}
        with self.lock:
            self.index += 1
            tgs = []
            for name, count in groups.items():
                tg = {"Name": name, "Count": count,
                      "Tasks": [{"Name": name, "Driver": "docker",
                                 "Config": {"image": "redis:7"},
                                 "Resources": {"CPU": 100, "MemoryMB": 256}}],
                      "RestartPolicy": {"Attempts": 2, "Interval": 1800000000000,
                                        "Delay": 15000000000, "Mode": "fail"},
                      "Scaling": None}
                if name in scaling:
                    lo, hi = scaling[name]
                    tg["Scaling"] = {"ID": str(uuid.uuid4()), "Type": "horizontal",
                                     "Min": lo, "Max": hi, "Enabled": True, "Policy": {}}
                tgs.append(tg)
            self.jobs[(namespace, job_id)] = {
                "Region": self.region, "Namespace": namespace, "ID": job_id, "ParentID": "",
                "Name": job_id, "Type": "service", "Priority": 50, "AllAtOnce": False,
                "Datacenters": ["dc1"], "NodePool": "default", "TaskGroups": tgs,
                "Stop": stopped, "Status": "dead" if stopped else "running",
                "StatusDescription": "", "Version": 0, "CreateIndex": self.index,
                "ModifyIndex": self.index, "JobModifyIndex": self.index}

    def count(self, job_id, group, namespace="default"):
        with self.lock:
            job = self.jobs[(namespace, job_id)]
            return next(tg["Count"] for tg in job["TaskGroups"] if tg["Name"] == group)

    def set_count(self, job_id, group, n, namespace="default"):
        with self.lock:
            job = self.jobs[(namespace, job_id)]
            next(tg for tg in job["TaskGroups"] if tg["Name"] == group)["Count"] = n

    def fail(self, status, text, method=None):
        with self.lock:
            self.faults.append((method, "fail", (status, text)))

    def hang(self, seconds, method=None):
        with self.lock:
            self.faults.append((method, "hang", seconds))

    def answer(self, body, method=None):
        with self.lock:
            self.faults.append((method, "answer", body))

    def calls(self, method=None):
        with self.lock:
            return [r for r in self.requests if method is None or r[0] == method]

    def next_fault(self, method):
        with self.lock:
            for i, (m, kind, arg) in enumerate(self.faults):
                if m is None or m == method:
                    del self.faults[i]
                    return kind, arg
        return None, None


class CodedError(Exception):
    def __init__(self, code, text):
        super().__init__(text)
        self.code, self.text = code, text


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: NomadAPI

    def _send(self, status, body, ctype, index=None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if index is not None:
                self.send_header("X-Nomad-Index", str(index))
                self.send_header("X-Nomad-KnownLeader", "true")
                self.send_header("X-Nomad-LastContact", "0")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout)

    def _handle(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        srv = self.server
        with srv.lock:
            srv.requests.append((method, url.path, query, dict(self.headers.items()), body))
        kind, arg = srv.next_fault(method)
        if kind == "hang":
            time.sleep(arg)
        elif kind == "fail":
            return self._send(arg[0], arg[1].encode(), "text/plain; charset=utf-8")
        elif kind == "answer":
            return self._send(200, arg.encode() if isinstance(arg, str) else arg,
                              "application/json", srv.index)
        try:
            obj = self._route(method, url.path, query, body)
        except CodedError as e:
            return self._send(e.code, e.text.encode(), "text/plain; charset=utf-8")
        self._send(200, json.dumps(obj).encode(), "application/json", srv.index)

    def _route(self, method, path, query, body):
        srv = self.server
        if query.get("region", srv.region) != srv.region:
            raise CodedError(500, "No path to region")
        if srv.token is not None:
            given = self.headers.get("X-Nomad-Token")
            if given is None:
                raise CodedError(403, "Permission denied")
            if given != srv.token:
                raise CodedError(403, "ACL token not found")
        parts = path.split("/")
        if len(parts) not in (4, 5) or parts[:3] != ["", "v1", "job"] or not parts[3]:
            raise CodedError(404, "Invalid URL path")
        job_id = urllib.parse.unquote(parts[3])
        scale = len(parts) == 5
        if scale and parts[4] != "scale":
            raise CodedError(404, "Invalid URL path")
        namespace = query.get("namespace", "default")
        with srv.lock:
            job = srv.jobs.get((namespace, job_id))
            if method == "GET":
                if job is None:
                    raise CodedError(404, "job not found")
                return self._scale_status(job) if scale else json.loads(json.dumps(job))
            if method in ("POST", "PUT") and scale:
                return self._scale(job, job_id, namespace, body)
        raise CodedError(405, "Invalid method")

    @staticmethod
    def _scale_status(job):
        return {"JobCreateIndex": job["CreateIndex"], "JobID": job["ID"],
                "Namespace": job["Namespace"], "JobModifyIndex": job["JobModifyIndex"],
                "JobStopped": job["Stop"],
                "TaskGroups": {tg["Name"]: {"Desired": tg["Count"], "Events": None,
                                            "Healthy": tg["Count"], "Placed": tg["Count"],
                                            "Running": tg["Count"], "Unhealthy": 0}
                               for tg in job["TaskGroups"]}}

    def _scale(self, job, job_id, namespace, body):
        srv = self.server
        try:
            args = json.loads(body)
        except ValueError as e:
            raise CodedError(400, str(e))
        if not isinstance(args, dict):
            raise CodedError(400, "json: cannot unmarshal into Go value of type "
                                  "api.ScalingRequest")
        target = args.get("Target") or {}
        if target.get("Job") not in (None, "", job_id):
            raise CodedError(400, "job ID in payload did not match URL")
        if not target.get("Group"):
            raise CodedError(400, "missing task group name for scaling action")
        count = args.get("Count")
        if count is not None and (type(count) is not int):
            raise CodedError(400, "json: cannot unmarshal into Go struct field "
                                  "ScalingRequest.Count of type int64")
        if count is not None and count < 0:
            raise CodedError(400, "scaling action count can't be negative")
        if job is None:
            raise CodedError(404, f'job "{job_id}" not found')
        tg = next((g for g in job["TaskGroups"] if g["Name"] == target["Group"]), None)
        if tg is None:
            raise CodedError(400, f'task group "{target["Group"]}" specified for scaling '
                                  f"does not exist in job")
        if count is not None and tg["Scaling"]:
            if count < tg["Scaling"]["Min"]:
                raise CodedError(400, f"group count was less than scaling policy minimum: "
                                      f"{count} < {tg['Scaling']['Min']}")
            if count > tg["Scaling"]["Max"]:
                raise CodedError(400, f"group count was greater than scaling policy maximum: "
                                      f"{count} > {tg['Scaling']['Max']}")
        if count is not None and srv.deployment_active > 0:
            srv.deployment_active -= 1
            raise CodedError(400, "job scaling blocked due to active deployment")
        srv.index += 2
        if count is not None:
            tg["Count"] = count
            job["JobModifyIndex"] = job["ModifyIndex"] = srv.index - 1
        return {"EvalCreateIndex": srv.index, "EvalID": str(uuid.uuid4()), "Index": srv.index,
                "JobModifyIndex": job["JobModifyIndex"], "KnownLeader": False,
                "LastContact": 0, "Warnings": ""}

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def log_message(self, *args):
        pass
