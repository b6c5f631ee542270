"""The real HAProxy and its backends for the haproxy scaler's and the self-hosted mode's tests
(../shared/SERVERS.md, "HAProxy 2.6.12"). Standard library only; 127.0.0.1 only.

  Haproxy(dir, cfg_path)   `haproxy -W -S master.sock -db -f cfg` (master-worker, foreground:
                           the pid is the master's); cmd() on the Runtime API socket,
                           servers() / stat() parsed, reload() by SIGUSR2 to the master
  Backend(dir, port, name) tests/integration/named_backend.py, answering its name
  template(...)            a configuration template for `autoscaler generate`
  seen(port, n)            the names n requests through the frontend reach
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy")
                                      else None)
FLEET = os.path.join(HERE, "fleet.py")

sys.path.insert(0, HERE)
from harness import free_port, wait_for  # noqa: E402

TEMPLATE = """# test template for `autoscaler generate`
global
    stats socket {sock} mode 600 level admin expose-fd listeners
    stats timeout 30s
    maxconn 500
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    default_backend {backend}
backend {backend}
    balance roundrobin
    {{{{servers}}}}
"""


def template(sock, port, backend="app"):
    return TEMPLATE.format(sock=sock, port=port, backend=backend)


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def sock_cmd(path, text, timeout=5.0):
    """One Runtime API command (non-interactive mode: HAProxy closes after the answer)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(text.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)  # the master CLI answers at end of input
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out.decode(errors="replace")
            out += chunk


class Backend:
    def __init__(self, workdir, port, name):
        self.port, self.name = port, name
        log = open(os.path.join(workdir, f"backend-{name}.log"), "wb")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "named_backend.py"),
                                      str(port), name], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        wait_for(lambda: listening(port), 10, f"backend {name} on {port}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


class Haproxy:
    def __init__(self, workdir, cfg_path, sock, port):
        self.dir, self.cfg, self.sock, self.port = workdir, cfg_path, sock, port
        self.master_sock = os.path.join(workdir, "master.sock")
        self.log_path = os.path.join(workdir, "haproxy.log")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([HAPROXY, "-W", "-S", self.master_sock, "-db", "-f", cfg_path],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        with open(os.path.join(workdir, "haproxy.pid"), "w") as f:
            f.write(f"{self.proc.pid}\n")  # the master: the reload command signals it
        wait_for(self.ready, 10, "haproxy's Runtime API socket")

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"haproxy exited ({self.proc.returncode}):\n{self.log()}")
        try:
            return sock_cmd(self.sock, "show info", 1).startswith("Name: HAProxy")
        except OSError:
            return False

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-3000:]

    def cmd(self, text):
        return sock_cmd(self.sock, text)

    def workers(self):
        """Pids of the master's workers (the current one and old ones still finishing); [] while
        the master re-executes itself."""
        try:
            out = sock_cmd(self.master_sock, "show proc")
        except OSError:
            return []
        return [ln.split()[0] for ln in out.splitlines()
                if len(ln.split()) > 1 and ln.split()[1] == "worker"]

    def reload(self):
        """SIGUSR2 to the master (master-worker mode); waits for a new worker to answer."""
        before = set(self.workers())
        os.kill(self.proc.pid, signal.SIGUSR2)
        wait_for(lambda: set(self.workers()) - before and self.ready(), 10,
                 "a new haproxy worker")

    def servers(self, backend="app"):
        """name -> dict(addr, port, op, admin, weight) from `show servers state BACKEND`."""
        lines = self.cmd(f"show servers state {backend}").splitlines()
        assert lines and lines[0] == "1", lines[:3]
        cols = lines[1][2:].split()
        out = {}
        for ln in lines[2:]:
            if not ln.strip() or ln.startswith("#"):
                continue
            row = dict(zip(cols, ln.split()))
            out[row["srv_name"]] = {"addr": row["srv_addr"], "port": int(row["srv_port"]),
                                    "op": int(row["srv_op_state"]),
                                    "admin": int(row["srv_admin_state"]),
                                    "weight": int(row["srv_uweight"])}
        return out

    def stat(self, backend="app"):
        """name -> dict(scur, status) from `show stat BACKEND 4 -1`."""
        lines = self.cmd(f"show stat {backend} 4 -1").splitlines()
        cols = lines[0][2:].split(",")
        out = {}
        for ln in lines[1:]:
            if ln.strip():
                row = dict(zip(cols, ln.split(",")))
                out[row["svname"]] = {"scur": int(row["scur"]), "status": row["status"]}
        return out

    def stop(self):
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def http_get(port, path="/", timeout=5.0):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.read().decode().strip()


def seen(port, n=12):
    """The set of backend names n requests through the frontend reached (errors: '!503' ...)."""
    names = set()
    for _ in range(n):
        try:
            names.add(http_get(port, timeout=3))
        except urllib.error.HTTPError as e:
            names.add(f"!{e.code}")
        except OSError as e:
            names.add(f"!{type(e).__name__}")
    return names


def stop_fleet(d):
    """Kills every backend fleet.py started in d (cleanup)."""
    for name in os.listdir(d):
        if name.startswith("backend-") and name.endswith(".pid"):
            with contextlib.suppress(OSError, ValueError):
                with open(os.path.join(d, name)) as f:
                    os.kill(int(f.read()), signal.SIGKILL)


def fleet_cmds(d):
    """The scaler's provision and deprovision options for fleet.py in d."""
    return ([sys.executable, FLEET, "provision", d],
            [sys.executable, FLEET, "deprovision", d, "{{host}}", "{{port}}", "{{id}}"])


def new_world(ctx, backend="app"):
    """A temp dir layout: socket path, frontend port, template file. Returns a dict."""
    sock = os.path.join(ctx.tmp, "haproxy.sock")
    port = free_port()
    tmpl = os.path.join(ctx.tmp, "haproxy.cfg.tmpl")
    with open(tmpl, "w") as f:
        f.write(template(sock, port, backend))
    ctx.defer(lambda: stop_fleet(ctx.tmp))
    return {"sock": sock, "port": port, "tmpl": tmpl, "cfg": os.path.join(ctx.tmp, "haproxy.cfg"),
            "hosts": os.path.join(ctx.tmp, "hosts.d")}


def start_haproxy(ctx, w):
    h = Haproxy(ctx.tmp, w["cfg"], w["sock"], w["port"])
    ctx.defer(h.stop)
    return h


def start_backend(ctx, port, name):
    b = Backend(ctx.tmp, port, name)
    ctx.defer(b.stop)
    return b


def wait_seen(port, want, timeout=10, n=12):
    """Waits until the frontend reaches exactly the names in want."""
    want = set(want)
    last = {}

    def ok():
        last["v"] = seen(port, n)
        return last["v"] == want
    try:
        wait_for(ok, timeout, f"traffic to reach exactly {sorted(want)}", interval=0.2)
    except AssertionError:
        raise AssertionError(f"traffic reached {sorted(last.get('v', []))}, "
                             f"wanted {sorted(want)}")


def now():
    return time.monotonic()


def scaler_config(ctx, w, extra="", drain_timeout="20s", interval="1s", poll="200ms",
                  log_level="info", provision_timeout="20s"):
    """A group whose count is the number in ctx.tmp/want (exec source, passthrough policy, no
    behavior) and whose scaler is haproxy over w, provisioning through fleet.py. Returns the
    config path; set_want() changes the number."""
    prov, deprov = fleet_cmds(ctx.tmp)
    pidfile = os.path.join(ctx.tmp, "haproxy.pid")
    if not os.path.exists(os.path.join(ctx.tmp, "want")):
        set_want(ctx, 1)
    text = f"""log_level: {log_level}
log_file: {os.path.join(ctx.tmp, 'autoscaler.log')}
state_dir: {os.path.join(ctx.tmp, 'state')}
groups:
  web:
    interval: {interval}
    min: 0
    max: 6
    behavior: off
    metrics:
      - name: want
        type: exec
        command: [cat, {os.path.join(ctx.tmp, 'want')}]
        timeout: 500ms
    policy: {{type: passthrough}}
    scaler:
      type: haproxy
      socket: {w['sock']}
      backend: app
      hosts_dir: {w['hosts']}
      provision: {json.dumps(prov)}
      deprovision: {json.dumps(deprov)}
      provision_timeout: {provision_timeout}
      drain_timeout: {drain_timeout}
      poll: {poll}
      grace: 1s
      server_options: [check, inter, 500ms]
      template: {w['tmpl']}
      config: {w['cfg']}
      reload: [sh, -c, 'kill -USR2 "$(cat {pidfile})"']
      timeout: 800ms
{extra}"""
    path = os.path.join(ctx.tmp, "autoscaler.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def set_want(ctx, n):
    with open(os.path.join(ctx.tmp, "want.tmp"), "w") as f:
        f.write(f"{n}\n")
    os.replace(os.path.join(ctx.tmp, "want.tmp"), os.path.join(ctx.tmp, "want"))


def entries(w):
    """name -> dict of the key=value lines of each hosts.d entry; ids of provision records."""
    out, prov = {}, []
    if not os.path.isdir(w["hosts"]):
        return out, prov
    for name in sorted(os.listdir(w["hosts"])):
        path = os.path.join(w["hosts"], name)
        if name.endswith(".host") and not name.startswith("."):
            with open(path) as f:
                out[name[:-5]] = dict(ln.split("=", 1) for ln in f.read().splitlines()
                                      if ln and not ln.startswith("#"))
        elif name.endswith(".provision"):
            prov.append(name[:-10])
    return out, prov


def fleet_backends(d):
    """Ports of the fleet.py backends still listening."""
    ports = []
    for name in os.listdir(d):
        if name.startswith("backend-") and name.endswith(".pid"):
            port = int(name[len("backend-"):-4])
            if listening(port):
                ports.append(port)
    return sorted(ports)


def lines_of(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []
