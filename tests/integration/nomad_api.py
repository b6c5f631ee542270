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
  - List Job Allocations    GET  /v1/job/:job_id/allocations   [{ID, EvalID, Name
                                                          ("job.group[i]"), NodeID, JobID,
                                                          TaskGroup, DesiredStatus (run, stop),
                                                          ClientStatus (pending, running,
                                                          complete, ...), TaskStates,
                                                          CreateIndex, ModifyIndex, CreateTime,
                                                          ModifyTime (nanoseconds)}]: a scale-up
    places new allocations (pending for `boot` seconds, then running), a scale-down stops the
    newest ones (DesiredStatus stop, ClientStatus complete).
  - `namespace` (default "default") and `region` query parameters; the ACL token in the
    X-Nomad-Token header. The ACLs each endpoint's table names: Read Job and List Job
    Allocations need namespace:read-job; Read Job Scale Status read-job-scaling or read-job;
    Scale Task Group scale-job or submit-job. `token` may do everything; `scale_token` has only
    what Nomad's built-in `scale` policy grants (read-job-scaling, scale-job).
  - Errors are plain text with a status, as Nomad's agent writes them (http.go: the message
    alone, no newline): 404 "job not found", 403 "Permission denied" (no token, an unknown one:
    servers since Nomad 1.5 answer every failed authentication so, older ones said "ACL token
    not found"; or a token without the capability), 400 for a scale request Nomad refuses
    ("missing task group name for scaling action", "scaling action count can't be negative",
    `task group "x" specified for scaling does not exist in job`, "group count was greater
    than scaling policy maximum: 12 > 10", `jobs of type "system" can only be scaled to 1 or
    0`, "job scaling blocked due to active deployment"), 500 "No path to region".

Faults a test can inject, one answer each, in order: `fail(status, text, method=None)`,
`hang(seconds, method=None)` (then answer normally), `answer(body, method=None)` (a 200 with
this body: garbage, wrong types).

    api = NomadAPI(token="secret-id").start()
    api.add_job("api", {"web": 2, "db": 1}, namespace="apps", scaling={"web": (1, 10)})
    api.count("api", "web", "apps"); api.requests; api.allocations("api", "apps")
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

    def __init__(self, token=None, region="global", scale_token=None, boot=0.0):
        super().__init__(("127.0.0.1", 0), Handler)
        self.token, self.region, self.scale_token, self.boot = token, region, scale_token, boot
        self.allocs = {}          # (namespace, id) -> [allocation stub]
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

    def add_job(self, job_id, groups, namespace="default", scaling=None, stopped=False,
                job_type="service", age=3600.0):
        """The job, and `count` running allocations per group, created `age` seconds ago."""
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
                "Name": job_id, "Type": job_type, "Priority": 50, "AllAtOnce": False,
                "Datacenters": ["dc1"], "NodePool": "default", "TaskGroups": tgs,
                "Stop": stopped, "Status": "dead" if stopped else "running",
                "StatusDescription": "", "Version": 0, "CreateIndex": self.index,
                "ModifyIndex": self.index, "JobModifyIndex": self.index}
            self.allocs[(namespace, job_id)] = []
            for tg in tgs:
                self._place(namespace, job_id, tg["Name"], tg["Count"], age=age, boot=0.0)

    # -- allocations (under the lock) --

    def _place(self, namespace, job_id, group, n, age=0.0, boot=None):
        allocs = self.allocs[(namespace, job_id)]
        now = time.time() - age
        boot = self.boot if boot is None else boot
        for _ in range(n):
            index = sum(1 for a in allocs if a["TaskGroup"] == group)
            self.index += 1
            ns = int(now * 1e9)
            allocs.append({
                "ID": str(uuid.uuid4()), "EvalID": str(uuid.uuid4()),
                "Name": f"{job_id}.{group}[{index}]", "NodeID": str(uuid.uuid4()),
                "JobID": job_id, "TaskGroup": group, "DesiredStatus": "run",
                "DesiredDescription": "", "ClientStatus": "pending", "ClientDescription": "",
                "TaskStates": {group: {"State": "pending", "Failed": False,
                                       "StartedAt": None, "FinishedAt": None, "Events": []}},
                "CreateIndex": self.index, "ModifyIndex": self.index, "CreateTime": ns,
                "ModifyTime": ns, "_running_at": time.monotonic() - age + boot})

    def _stop(self, namespace, job_id, group, n):
        live = [a for a in self.allocs[(namespace, job_id)]
                if a["TaskGroup"] == group and a["DesiredStatus"] == "run"]
        for a in live[len(live) - n:] if n > 0 else []:
            self.index += 1
            a.update(DesiredStatus="stop", DesiredDescription="alloc not needed due to job update",
                     ClientStatus="complete", ModifyIndex=self.index,
                     ModifyTime=int(time.time() * 1e9))

    def _stubs(self, namespace, job_id):
        out = []
        for a in self.allocs.get((namespace, job_id), []):
            if a["ClientStatus"] == "pending" and time.monotonic() >= a["_running_at"]:
                a["ClientStatus"] = "running"
                a["TaskStates"][a["TaskGroup"]]["State"] = "running"
            out.append({k: v for k, v in a.items() if not k.startswith("_")})
        return out

    def allocations(self, job_id, namespace="default"):
        """The job's allocation stubs, as List Job Allocations answers them."""
        with self.lock:
            return json.loads(json.dumps(self._stubs(namespace, job_id)))

    def set_alloc(self, alloc_id, **fields):
        """Changes one allocation (ClientStatus, CreateTime, ...): a restart elsewhere."""
        with self.lock:
            for allocs in self.allocs.values():
                for a in allocs:
                    if a["ID"] == alloc_id:
                        a.update(fields)

    def count(self, job_id, group, namespace="default"):
        with self.lock:
            job = self.jobs[(namespace, job_id)]
            return next(tg["Count"] for tg in job["TaskGroups"] if tg["Name"] == group)

    def set_count(self, job_id, group, n, namespace="default"):
        with self.lock:
            job = self.jobs[(namespace, job_id)]
            tg = next(tg for tg in job["TaskGroups"] if tg["Name"] == group)
            self._recount(namespace, job_id, group, tg["Count"], n)
            tg["Count"] = n

    def _recount(self, namespace, job_id, group, old, new):
        if new > old:
            self._place(namespace, job_id, group, new - old)
        else:
            self._stop(namespace, job_id, group, old - new)

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
        scale_only = False
        if srv.token is not None:
            given = self.headers.get("X-Nomad-Token")
            if given is None or given not in (srv.token, srv.scale_token):
                raise CodedError(403, "Permission denied")
            scale_only = given != srv.token
        parts = path.split("/")
        if len(parts) not in (4, 5) or parts[:3] != ["", "v1", "job"] or not parts[3]:
            raise CodedError(404, "Invalid URL path")
        job_id = urllib.parse.unquote(parts[3])
        sub = parts[4] if len(parts) == 5 else ""
        if sub not in ("", "scale", "allocations"):
            raise CodedError(404, "Invalid URL path")
        if sub != "scale" and scale_only:
            raise CodedError(403, "Permission denied")  # needs read-job
        namespace = query.get("namespace", "default")
        with srv.lock:
            job = srv.jobs.get((namespace, job_id))
            if method == "GET" and sub == "allocations":
                return srv._stubs(namespace, job_id) if job is not None else []
            if method == "GET":
                if job is None:
                    raise CodedError(404, "job not found")
                return self._scale_status(job) if sub else json.loads(json.dumps(job))
            if method in ("POST", "PUT") and sub == "scale":
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
        if job["Type"] == "system" and count is not None and count > 1:
            raise CodedError(400, 'jobs of type "system" can only be scaled to 1 or 0')
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
            srv._recount(namespace, job_id, tg["Name"], tg["Count"], count)
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
