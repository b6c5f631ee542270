"""Receivers for the notifier integration tests (tests/integration/test_notify_*.py).
Standard library only; everything binds to 127.0.0.1.

  group(app, **keys)   a group of the scaleit app (harness ScaleitApp) that decides fast
  Receiver             an HTTP server that records each request (webhooks) and answers as told:
                       "ok" (204), "500", "400", or "hang" (answers after hang_s)
  SmtpSink             a minimal SMTP server (EHLO, optional STARTTLS with a throwaway
                       certificate, AUTH PLAIN and LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT)
                       that keeps each message with its envelope
  SyslogSocket         a unix datagram socket in a temporary directory, as /dev/log would be
  make_cert(dir)       a self-signed certificate for 127.0.0.1 (openssl)
"""

import base64
import email
import email.policy
import json
import os
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def group(app, **keys):
    """A group that measures the scaleit app every 300 ms and scales it at once (no behavior,
    a count trusted at once). Keys override."""
    g = {"interval": "300ms", "min": 1, "max": 4, "behavior": "off", "count_confirm": 1,
         "metrics": [{"name": "cpu", "type": "http_json", "url": app.url("/app/status"),
                      "pointer": "/cpu/highPriority", "target": 0.8, "timeout": "200ms"}],
         "scaler": {"type": "http", "url": app.url("/app/replicas"),
                    "get_url": app.url("/app/replicas"), "timeout": "200ms"}}
    g.update(keys)
    return g


class Receiver:
    """Records every request: (monotonic time, method, path, headers, parsed JSON or None)."""

    def __init__(self, mode="ok", hang_s=5.0):
        self.mode = mode
        self.hang_s = hang_s
        self.lock = threading.Lock()
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    doc = json.loads(raw)
                except ValueError:
                    doc = None
                with outer.lock:
                    outer.requests.append((time.monotonic(), self.command, self.path,
                                           dict(self.headers), doc))
                    mode = outer.mode
                if mode == "hang":
                    time.sleep(outer.hang_s)
                code = {"500": 500, "400": 400, "hang": 200}.get(mode, 204)
                body = b"" if code == 204 else json.dumps({"error": mode}).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the daemon gave up on it

            do_POST = do_PUT = _any

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.srv.server_address[1]}/hook"

    def bodies(self, kind=None):
        with self.lock:
            docs = [r[4] for r in self.requests if r[4] is not None]
        return [d for d in docs if kind is None or d.get("kind") == kind]

    def count(self):
        with self.lock:
            return len(self.requests)

    def times(self):
        with self.lock:
            return [r[0] for r in self.requests]

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def make_cert(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


class SmtpSink:
    """Messages: a list of dicts {from, rcpt, data (bytes), msg (email.message), tls, user}.
    Options: starttls (a (cert, key) pair to offer STARTTLS with), auth ((user, password): the
    login MAIL needs), reply_mail (a reply code for MAIL FROM, e.g. 451 or 550)."""

    def __init__(self, starttls=None, auth=None, reply_mail=None):
        self.messages = []
        self.sessions = 0
        self.logins = []  # (user, ok)
        self.lock = threading.Lock()
        self.tls_ctx = None
        if starttls:
            self.tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_ctx.load_cert_chain(*starttls)
        self.auth = auth
        self.reply_mail = reply_mail
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 10

            def send(self, line):
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def readline(self):
                line = self.rfile.readline(4096)
                if not line:
                    raise EOFError
                return line.rstrip(b"\r\n").decode("utf-8", "replace")

            def ehlo(self):
                caps = ["127.0.0.1", "8BITMIME", "AUTH PLAIN LOGIN"]
                if outer.tls_ctx is not None and not self.tls:
                    caps.append("STARTTLS")
                for c in caps[:-1]:
                    self.send("250-" + c)
                self.send("250 " + caps[-1])

            def login(self, user, password):
                ok = outer.auth is not None and (user, password) == tuple(outer.auth)
                with outer.lock:
                    outer.logins.append((user, ok))
                self.user = user if ok else None
                self.send("235 2.7.0 ok" if ok else "535 5.7.8 authentication failed")

            def auth_cmd(self, arg):
                parts = arg.split()
                mech = parts[0].upper() if parts else ""
                if mech == "PLAIN":
                    if len(parts) > 1:
                        blob = parts[1]
                    else:
                        self.send("334 ")
                        blob = self.readline()
                    fields = base64.b64decode(blob).split(b"\0")
                    self.login(fields[1].decode(), fields[2].decode())
                elif mech == "LOGIN":
                    self.send("334 VXNlcm5hbWU6")
                    user = base64.b64decode(self.readline()).decode()
                    self.send("334 UGFzc3dvcmQ6")
                    self.login(user, base64.b64decode(self.readline()).decode())
                else:
                    self.send("504 5.5.4 unknown mechanism")

            def data(self):
                self.send("354 go ahead")
                lines = []
                while True:
                    raw = self.rfile.readline(65536)
                    if not raw:
                        raise EOFError
                    if raw in (b".\r\n", b".\n"):
                        break
                    lines.append(raw[1:] if raw.startswith(b".") else raw)
                data = b"".join(lines)
                msg = email.message_from_bytes(data, policy=email.policy.default)
                with outer.lock:
                    outer.messages.append({"from": self.mail_from, "rcpt": list(self.rcpt),
                                           "data": data, "msg": msg, "tls": self.tls,
                                           "user": self.user})
                self.send("250 2.0.0 queued")

            def handle(self):
                self.tls, self.user, self.mail_from, self.rcpt = False, None, None, []
                with outer.lock:
                    outer.sessions += 1
                self.send("220 127.0.0.1 ESMTP sink")
                try:
                    while self.step():
                        pass
                except (EOFError, OSError, ssl.SSLError):
                    pass

            def step(self):
                line = self.readline()
                verb, _, arg = line.partition(" ")
                verb = verb.upper()
                if verb in ("EHLO", "HELO"):
                    self.ehlo()
                elif verb == "STARTTLS" and outer.tls_ctx is not None and not self.tls:
                    self.send("220 2.0.0 ready")
                    self.connection = outer.tls_ctx.wrap_socket(self.connection, server_side=True)
                    self.rfile = self.connection.makefile("rb")
                    self.wfile = self.connection.makefile("wb")
                    self.tls = True
                elif verb == "AUTH":
                    self.auth_cmd(arg)
                elif verb == "MAIL":
                    if outer.auth is not None and self.user is None:
                        self.send("530 5.7.0 authentication required")
                    elif outer.reply_mail:
                        self.send(f"{outer.reply_mail} no")
                    else:
                        self.mail_from, self.rcpt = arg.split(":", 1)[1].strip(), []
                        self.send("250 2.1.0 ok")
                elif verb == "RCPT":
                    self.rcpt.append(arg.split(":", 1)[1].strip())
                    self.send("250 2.1.5 ok")
                elif verb == "DATA":
                    self.data()
                elif verb in ("RSET", "NOOP"):
                    self.send("250 2.0.0 ok")
                elif verb == "QUIT":
                    self.send("221 2.0.0 bye")
                    return False
                else:
                    self.send("502 5.5.2 not implemented")
                return True

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.srv = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    @property
    def port(self):
        return self.srv.server_address[1]

    def got(self):
        with self.lock:
            return list(self.messages)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class SyslogSocket:
    """A datagram socket at path; lines() gives what arrived."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "log.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.got = []

    def lines(self):
        while True:
            try:
                self.got.append(self.sock.recv(65536).decode("utf-8", "replace"))
            except (socket.timeout, BlockingIOError):
                return list(self.got)

    def stop(self):
        self.sock.close()
