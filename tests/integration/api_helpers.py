"""Helpers for the tests of the daemon's HTTP server (docs/api.md). Standard library only.

  Api(url, token)          GET/POST/DELETE with or without a bearer token: (status, headers, body)
  Api(url).samples()       /metrics as {'name{labels}': value}
  pool_group(...)          a group whose backlog is a file the test writes (an `exec` source
                           that cats it) and whose replicas are a `process` pool of sleepers
  api_config(...)          a whole configuration around such groups, with an `http:` section
"""

import json
import os
import ssl
import urllib.error
import urllib.request

from harness import wait_for


class Api:
    def __init__(self, url, token=None, cafile=None):
        self.url = url.rstrip("/")
        self.token = token
        self.ctx = ssl.create_default_context(cafile=cafile) if cafile else None

    def request(self, method, path, body=None, token=None, headers=None, timeout=5):
        """(status, headers dict with lower-case names, body bytes); token: None uses the
        Api's, "" sends none, anything else that exact bearer token."""
        h = dict(headers or {})
        tok = self.token if token is None else token
        if tok:
            h["Authorization"] = f"Bearer {tok}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ctx) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def json(self, path, expect=200, **kw):
        status, _, body = self.get(path, **kw)
        assert status == expect, f"GET {path}: {status} {body[:500]!r}"
        return json.loads(body)

    def samples(self):
        """/metrics as {'name{labels}': value}, one entry a sample line."""
        status, _, body = self.get("/metrics")
        assert status == 200, f"GET /metrics: {status} {body[:500]!r}"
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def post(self, path, body=None, **kw):
        status, headers, raw = self.request("POST", path, body=body, **kw)
        return status, json.loads(raw) if raw else None

    def group(self, name):
        return self.json(f"/api/v1/groups/{name}")

    def wait_group(self, name, pred, timeout, what="condition"):
        """Polls the group's summary until pred(summary) is truthy; returns the summary."""
        def poll():
            try:
                g = self.group(name)
            except (OSError, AssertionError):
                return None
            return g if pred(g) else None
        return wait_for(poll, timeout, f"group {name}: {what}", interval=0.1)

    def wait_up(self, timeout=15):
        def up():
            try:
                return self.get("/healthz", timeout=1)[0] == 200
            except OSError:
                return False
        wait_for(up, timeout, f"{self.url}/healthz", interval=0.05)


def write_backlog(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{value}\n")
    os.replace(tmp, path)


def pool_group(backlog_file, interval="1s", min_=1, max_=6, per_worker=2, **extra):
    """A queue-like group: backlog / per_worker workers, each a `sleep` process."""
    g = {"interval": interval, "min": min_, "max": max_, "behavior": "off",
         "metrics": [{"name": "backlog", "type": "exec", "command": ["cat", backlog_file],
                      "average_value": per_worker}],
         "scaler": {"type": "process", "command": ["sleep", "600"], "grace": "2s"}}
    g.update(extra)
    return g


# A worker of a `process` pool with a status channel: slot 0 says it is BUSY with a task named
# after its slot, the others FREE; then it sleeps until stopped.
WORKER = ("import os, time\n"
          "slot = os.environ['AUTOSCALER_WORKER']\n"
          "os.write(3, f'BUSY job-{slot}\\n'.encode() if slot == '0' else b'FREE\\n')\n"
          "time.sleep(600)\n")


def queue_group(backlog_file, max_=2, interval="1s"):
    """The queue policy over the backlog file, workers that report BUSY/FREE."""
    return {"interval": interval, "min": 0, "max": max_,
            "metrics": [{"name": "backlog", "type": "exec", "command": ["cat", backlog_file]}],
            "policy": {"type": "queue", "metric": "backlog", "max_queue_size": 1,
                       "scale_up_step": 1, "min_workers": 1, "max_idle_time": "1h"},
            "scaler": {"type": "process", "command": ["python3", "-c", WORKER],
                       "status_channel": True, "grace": "2s"}}


def api_config(tmp, port, groups, http=None, **top):
    cfg = {"log_file": os.path.join(tmp, "autoscaler.log"),
           "state_dir": os.path.join(tmp, "state"),
           "http": dict({"listen": f"127.0.0.1:{port}"}, **(http or {})),
           "groups": groups}
    cfg.update(top)
    return cfg
