#!/usr/bin/env python3
"""The rabbitmq source against a real RabbitMQ (3.10 here) with its management plugin, started
once for this file on 127.0.0.1 (free ports; its own epmd, HOME, mnesia and logs in a temp
dir; the Erlang distribution on 127.0.0.1 only) and killed at the end:

  - --dry-run: ready, unacked, total and consumers of a queue that a real AMQP consumer (a
    minimal AMQP 0-9-1 client below, holding its deliveries unacknowledged) reads, in the
    default vhost and in a vhost "prod env" with a queue "a b/c" (percent-encoding);
  - a real run with a process pool: publishing 20 messages grows the pool to 4 (5 per
    worker), purging the queue shrinks it to 1;
  - a real run with the http scaler: no such queue (404), a wrong password (401, given by
    reference and never logged), the broker's port closed, a server that hangs past the
    timeout and a garbage answer are failed measurements, logged and counted, and never a
    scale-down.

The broker's HTTP API lags behind the queue (statistics are collected every 500 ms with the
sample-retention settings below, every 5 s by default): the tests wait for the values.

    python3 tests/integration/test_source_rabbitmq.py --bin build/autoscaler
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import free_port, main, test, wait_for, write_config  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402

RB = "/usr/lib/rabbitmq/bin"
EPMD = shutil.which("epmd")
CONF = """listeners.tcp.default = 127.0.0.1:{amqp}
management.tcp.ip   = 127.0.0.1
management.tcp.port = {http}
collect_statistics_interval = 500
management.sample_retention_policies.global.minute = 1
management.sample_retention_policies.basic.minute = 1
management.sample_retention_policies.detailed.10 = 1
"""


class Broker:
    """rabbitmq-server with the management plugin, as /work/shared/SERVERS.md starts it: the
    scripts in /usr/lib/rabbitmq/bin (not the /usr/sbin wrappers, which su to rabbitmq), an epmd
    of our own on 127.0.0.1 (ERL_EPMD_PORT/ADDRESS everywhere, or Erlang starts a detached one
    on 0.0.0.0:4369), HOME in the temp dir (the Erlang cookie), the distribution port pinned to
    127.0.0.1. Stopped with SIGKILL of the pid file (the data is throwaway), then epmd."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="as-it-rabbitmq-")
        self.amqp, self.http, dist, epmd = free_port(), free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http}"
        self.pid_file = os.path.join(self.dir, "rabbit.pid")
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write(CONF.format(amqp=self.amqp, http=self.http))
        self.env = dict(os.environ, HOME=self.dir,
                        RABBITMQ_NODENAME=f"astest{os.getpid()}@localhost",
                        RABBITMQ_NODE_IP_ADDRESS="127.0.0.1", RABBITMQ_NODE_PORT=str(self.amqp),
                        RABBITMQ_DIST_PORT=str(dist), ERL_EPMD_ADDRESS="127.0.0.1",
                        ERL_EPMD_PORT=str(epmd),
                        RABBITMQ_CONFIG_FILE=os.path.join(self.dir, "rabbitmq.conf"),
                        RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.dir, "enabled_plugins"),
                        RABBITMQ_MNESIA_BASE=os.path.join(self.dir, "mnesia"),
                        RABBITMQ_LOG_BASE=os.path.join(self.dir, "log"), RABBITMQ_LOGS="-",
                        RABBITMQ_PID_FILE=self.pid_file,
                        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface "
                                                           "{127,0,0,1}")
        self.log = open(os.path.join(self.dir, "rabbit.log"), "wb")
        subprocess.run([f"{RB}/rabbitmq-plugins", "enable", "--offline", "rabbitmq_management"],
                       env=self.env, stdout=self.log, stderr=subprocess.STDOUT, check=True,
                       timeout=60)
        self.epmd = subprocess.Popen([EPMD, "-address", "127.0.0.1", "-port", str(epmd)],
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.proc = subprocess.Popen([f"{RB}/rabbitmq-server"], env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def wait_ready(self, timeout=40):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"rabbitmq-server exited: {self.tail()}")
            return self.api("GET", "/api/overview", quiet=True)[0] == 200
        wait_for(ready, timeout, "the management API", interval=0.1)

    def api(self, method, path, doc=None, user="guest:guest", quiet=False):
        """(status, parsed JSON or None) of one management API call."""
        req = urllib.request.Request(self.url + path, method=method,
                                     data=json.dumps(doc).encode() if doc is not None else None)
        req.add_header("Authorization", "Basic " + base64.b64encode(user.encode()).decode())
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                body = r.read()
                return r.status, json.loads(body) if body else None
        except urllib.error.HTTPError as e:
            return e.code, None
        except OSError:
            if quiet:
                return 0, None
            raise

    def declare(self, vhost, queue):
        st, _ = self.api("PUT", f"/api/queues/{q(vhost)}/{q(queue)}",
                         {"durable": True, "auto_delete": False, "arguments": {}})
        assert st in (201, 204), st

    def publish(self, vhost, queue, n):
        for i in range(n):
            st, doc = self.api("POST", f"/api/exchanges/{q(vhost)}/amq.default/publish",
                               {"properties": {"delivery_mode": 2}, "routing_key": queue,
                                "payload": f"job {i}", "payload_encoding": "string"})
            assert st == 200 and doc == {"routed": True}, (st, doc)

    def depth(self, vhost, queue):
        st, doc = self.api("GET", f"/api/queues/{q(vhost)}/{q(queue)}?columns=messages_ready,"
                                  "messages_unacknowledged,messages,consumers")
        return doc if st == 200 and isinstance(doc, dict) else {}

    def tail(self):
        with open(os.path.join(self.dir, "rabbit.log"), errors="replace") as f:
            return f.read()[-3000:]

    def stop(self):
        try:
            with open(self.pid_file) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)   # beam.smp
        except (OSError, ValueError):
            pass
        self.epmd.terminate()
        for p in (self.proc, self.epmd):   # the script exits about 1 s after beam
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def q(s):
    return urllib.request.quote(s, safe="")


class Consumer:
    """A minimal AMQP 0-9-1 client: logs in (PLAIN), opens a channel with a prefetch of
    `prefetch`, consumes `queue` and never acknowledges, so that the broker reports one
    consumer and `prefetch` unacknowledged messages. Closing the socket requeues them."""

    def __init__(self, port, vhost, queue, prefetch):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        self.expect(10, 10)                                            # Connection.Start
        self.method(0, 10, 11, table() + shortstr("PLAIN") + longstr(b"\0guest\0guest")
                    + shortstr("en_US"))
        args = self.expect(10, 30)                                     # Connection.Tune
        channel_max, frame_max, _ = struct.unpack(">HIH", args[:8])
        self.method(0, 10, 31, struct.pack(">HIH", channel_max, frame_max, 0))
        self.method(0, 10, 40, shortstr(vhost) + shortstr("") + b"\0")
        self.expect(10, 41)                                            # Connection.Open-Ok
        self.method(1, 20, 10, shortstr(""))
        self.expect(20, 11)                                            # Channel.Open-Ok
        self.method(1, 60, 10, struct.pack(">IHB", 0, prefetch, 0))
        self.expect(60, 11)                                            # Basic.Qos-Ok
        self.method(1, 60, 20, struct.pack(">H", 0) + shortstr(queue) + shortstr("") + b"\0"
                    + table())
        self.expect(60, 21)                                            # Basic.Consume-Ok

    def method(self, channel, cls, meth, args):
        payload = struct.pack(">HH", cls, meth) + args
        self.sock.sendall(struct.pack(">BHI", 1, channel, len(payload)) + payload + b"\xce")

    def frame(self):
        head = self.read(7)
        kind, _, size = struct.unpack(">BHI", head)
        payload = self.read(size)
        assert self.read(1) == b"\xce"
        return kind, payload

    def expect(self, cls, meth):
        while True:
            kind, payload = self.frame()
            if kind == 1 and struct.unpack(">HH", payload[:4]) == (cls, meth):
                return payload[4:]
            assert kind != 1 or payload[:4] not in (b"\x00\x0a\x00\x32", b"\x00\x14\x00\x28"), \
                f"the broker closed the connection or channel: {payload!r}"

    def read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            assert chunk, "the broker closed the connection"
            buf += chunk
        return buf

    def close(self):
        self.sock.close()


def shortstr(s):
    b = s.encode()
    return struct.pack(">B", len(b)) + b


def longstr(b):
    return struct.pack(">I", len(b)) + b


def table():
    return struct.pack(">I", 0)


class FakeServer:
    """Answers every request with `body` after `delay` seconds."""

    def __init__(self, body=b"", delay=0.0):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(delay)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


BROKER = None


def broker():
    global BROKER
    if BROKER is None:
        BROKER = Broker()
        BROKER.wait_ready()
    return BROKER


def metric(url, queue, vhost="/", password="guest", timeout="800ms", **extra):
    return dict({"name": "q", "type": "rabbitmq", "url": url, "vhost": vhost, "queue": queue,
                 "username": "guest", "password": password, "timeout": timeout}, **extra)


def http_group(app, m, interval="1s", timeout="800ms"):
    # Timeouts generous enough for a python app and the broker on 2 busy cores under ASan.
    return {"interval": interval, "min": 1, "max": 10, "behavior": "off", "metrics": [m],
            "scaler": {"type": "http", "url": app.url("/app/replicas"),
                       "get_url": app.url("/app/replicas"), "timeout": timeout}}


@test
def test_dry_run_measures(ctx):
    b = broker()
    st, _ = b.api("PUT", f"/api/vhosts/{q('prod env')}")
    assert st in (201, 204), st
    st, _ = b.api("PUT", f"/api/permissions/{q('prod env')}/guest",
                  {"configure": ".*", "write": ".*", "read": ".*"})
    assert st in (201, 204), st
    b.declare("/", "jobs")
    b.declare("prod env", "a b/c")
    b.publish("/", "jobs", 8)
    b.publish("prod env", "a b/c", 3)
    consumer = Consumer(b.amqp, "/", "jobs", prefetch=3)
    ctx.defer(consumer.close)
    want = {"messages_ready": 5, "messages_unacknowledged": 3, "messages": 8, "consumers": 1}
    wait_for(lambda: b.depth("/", "jobs") == want, 10, "the broker's statistics", interval=0.1)
    wait_for(lambda: b.depth("prod env", "a b/c").get("messages_ready") == 3, 10, "prod env")

    app = ScaleitApp(load=1.0, replicas=2).start()
    ctx.defer(app.stop)
    groups = {m: http_group(app, metric(b.url, "jobs", measure=m, average_value=1,
                                        timeout="3s"), "5s", "3s")
              for m in ("ready", "unacked", "total", "consumers")}
    groups["encoded"] = http_group(app, metric(b.url, "a b/c", vhost="prod env",
                                               average_value=1, timeout="3s"), "5s", "3s")
    cfg = {"log_file": "", "state_dir": "", "groups": groups}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--once", "--dry-run"])
    assert d.wait_exit(20) == 0, d.tail()
    d.assert_no_sanitizer_report()
    got = {g: d.decisions(group=g)[-1] for g in groups}
    assert {g: x.values["q"] for g, x in got.items()} == \
        {"ready": 5, "unacked": 3, "total": 8, "consumers": 1, "encoded": 3}, d.tail()
    assert got["total"].desired == 8 and got["ready"].desired == 5, d.tail()
    assert app.put_requests == 0, "a dry run scaled"


@test
def test_pool_follows_the_queue(ctx):
    b = broker()
    b.declare("/", "work")
    worker = os.path.join(ctx.tmp, "worker.sh")
    with open(worker, "w") as f:
        f.write("#!/bin/sh\nexec sleep 600\n")
    os.chmod(worker, 0o755)
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "groups": {"workers": {
               "interval": "1s", "min": 1, "max": 8, "behavior": "off",
               "metrics": [metric(b.url, "work", average_value=5)],
               "scaler": {"type": "process", "command": [worker], "grace": "1s"}}}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    d.wait_decisions(1, 10, where=lambda x: x.current == 1 and x.values["q"] == 0)
    b.publish("/", "work", 20)                   # 20 messages, 5 per worker: 4 workers
    d.wait_log(r"engine\[workers\]: scaled 1->4", 15)
    st, _ = b.api("DELETE", "/api/queues/%2F/work/contents")
    assert st == 204, st
    d.wait_log(r"engine\[workers\]: scaled 4->1", 15)
    d.stop(signal.SIGTERM, timeout=10)


def counters(d, group):
    mark = d.mark()
    d.send_signal(signal.SIGUSR1)
    line = d.wait_log(rf"engine\[{group}\]: metric q counters (.*)$", 5, since=mark)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line.group(1))}


@test
def test_failures_never_scale_down(ctx):
    b = broker()
    hang = FakeServer(b"{}", delay=5.0)
    ctx.defer(hang.stop)
    junk = FakeServer(b"<html>\x01 not json")
    ctx.defer(junk.stop)
    secret = os.path.join(ctx.tmp, "password")
    with open(secret, "w") as f:
        f.write("wrong-password-4711\n")
    cases = {
        "missing": (metric(b.url, "no-such-queue", average_value=1),
                    r"HTTP 404: no queue 'no-such-queue' in vhost '/' \(Object Not Found"),
        "login": (metric(b.url, "jobs", password="${file:" + secret + "}", average_value=1),
                  r"HTTP 401: login failed for user 'guest'"),
        "down": (metric(f"http://127.0.0.1:{free_port()}", "jobs", average_value=1),
                 r"Couldn't connect|Failed to connect"),
        "slow": (metric(hang.url, "jobs", average_value=1), r"timeout after \d+ ms"),
        "garbage": (metric(junk.url, "jobs", average_value=1), r"response is not JSON"),
    }
    apps = {}
    for g in cases:
        apps[g] = ScaleitApp(load=1.0, replicas=3).start()
        ctx.defer(apps[g].stop)
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "groups": {g: http_group(apps[g], m) for g, (m, _) in cases.items()}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"])
    for g in cases:
        d.wait_decided(3, 15, g)
    for g, (_, why) in cases.items():
        assert d.grep(rf"ERROR source/rabbitmq\[{g}/q\]: http://127\.0\.0\.1:\d+/api/queues/"
                      rf"%2F/[\w-]+: .*({why})"), (g, d.tail())
        # at info, a decision with a q or a count of its own would have its line
        assert all(x.values["q"] is None and x.desired == 3 for x in d.decisions(group=g)), \
            (g, d.tail())
        c = counters(d, g)
        assert c["measurements"] >= 1 and c["failures"] == c["measurements"], (g, c)
        assert apps[g].replicas == 3 and apps[g].put_requests == 0, g
    text = d.log_text() + d.stderr()
    assert "wrong-password-4711" not in text and \
        base64.b64encode(b"guest:wrong-password-4711").decode() not in text
    d.stop(signal.SIGTERM, timeout=10)


def run():
    missing = [p for p in (f"{RB}/rabbitmq-server", EPMD) if not p or not os.path.exists(p)]
    if missing:
        print("SKIP: rabbitmq-server (with epmd) is not installed (bootstrap --test installs "
              "it)", flush=True)
        return 0
    try:
        return main()
    finally:
        if BROKER is not None:
            BROKER.stop()


if __name__ == "__main__":
    sys.exit(run())
