#!/usr/bin/env python3
"""The email notifier against a real SMTP server on 127.0.0.1 (a small one in this test, from
notify_helpers: Debian offers no SMTP sink that runs without a system daemon, and Python 3.11's
smtpd is deprecated): the message arrives after STARTTLS and a login whose password comes from
a reference, as a proper RFC 5322 message (Date, Message-ID, From, To, Subject, body), and the
password never reaches the log. A server without STARTTLS gets nothing when it is required
(a permanent failure, not retried); a denied login is permanent; a 4xx reply is retried.

    python3 tests/integration/test_notify_email.py --bin build/autoscaler
"""

import email.utils
import os
import secrets
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, test, write_config  # noqa: E402
from notify_helpers import SmtpSink, group, make_cert  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402


def start(ctx, app, mail, env=None):
    log = os.path.join(ctx.tmp, "autoscaler.log")
    cfg = {"log_file": log, "state_dir": "", "groups": {"web": group(app)},
           "notifiers": {"mail": mail}}
    return ctx.daemon(write_config(ctx.tmp, cfg), log_file=log, env=env)


def mail(port, **keys):
    m = {"type": "email", "url": f"smtp://127.0.0.1:{port}", "on": ["above_max"],
         "from": "Autoscaler <autoscaler@example.com>",
         "to": ["ops@example.com", "Pager <pager@example.net>"], "starttls": "off",
         "retries": 1, "backoff": "100ms"}
    m.update(keys)
    return m


@test
def test_message_after_starttls_and_login(ctx):
    password = "pw-" + secrets.token_hex(10)
    cert, key = make_cert(ctx.tmp)
    sink = SmtpSink(starttls=(cert, key), auth=("alerts", password))
    ctx.defer(sink.stop)
    app = ScaleitApp(load=8.0, replicas=4, cap=None).start()  # at max 4, wants 10
    ctx.defer(app.stop)
    d = start(ctx, app, mail(sink.port, starttls="required", ca_file=cert, username="alerts",
                             password="${env:AS_SMTP_PASSWORD}",
                             subject="{{group}} needs {{wanted}} (max {{max}})"),
              env={"AS_SMTP_PASSWORD": password})
    d.wait_until(lambda: sink.got(), 15, "the message")
    m = sink.got()[0]
    assert m["tls"] and m["user"] == "alerts", m
    assert m["from"] == "<autoscaler@example.com>", m["from"]
    assert m["rcpt"] == ["<ops@example.com>", "<pager@example.net>"], m["rcpt"]
    msg = m["msg"]
    assert msg["Subject"] == "web needs 10 (max 4)", msg["Subject"]
    assert msg["From"] == "Autoscaler <autoscaler@example.com>"
    assert "ops@example.com" in msg["To"] and "pager@example.net" in msg["To"], msg["To"]
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@example.com>")
    sent = email.utils.parsedate_to_datetime(msg["Date"]).timestamp()
    assert abs(sent - time.time()) < 60, msg["Date"]
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Autoscaler-Event"] == "above_max" and msg["X-Autoscaler-Group"] == "web"
    assert msg.get_content_type() == "text/plain"
    body = msg.get_content()
    assert body.startswith("web: wants 10, above max 4 (current 4, desired 4)"), body
    assert "event:   above_max" in body and "values:  cpu=2 (target 0.8)" in body, body
    assert b"\r\n" in m["data"] and b"\n\n" not in m["data"].replace(b"\r\n", b"")
    d.stop(signal.SIGTERM)
    for text in (d.log_text(), d.stderr()):
        assert password not in text


@test
def test_required_starttls_sends_nothing_in_clear(ctx):
    sink = SmtpSink()  # offers no STARTTLS
    ctx.defer(sink.stop)
    app = ScaleitApp(load=8.0, replicas=4, cap=None).start()
    ctx.defer(app.stop)
    d = start(ctx, app, mail(sink.port, starttls="required", retries=3))
    d.wait_log(r"ERROR notify\[mail\]: gave up on the above_max event of web after 1 "
               r"attempt\(s\): STARTTLS", 15)
    assert d.grep(r"failed \(attempt 1/4, permanent\)")
    assert sink.got() == []
    d.stop(signal.SIGTERM)


@test
def test_denied_login_is_permanent_and_secret(ctx):
    password = "wrong-" + secrets.token_hex(10)
    sink = SmtpSink(auth=("alerts", "the-right-one"))
    ctx.defer(sink.stop)
    app = ScaleitApp(load=8.0, replicas=4, cap=None).start()
    ctx.defer(app.stop)
    d = start(ctx, app, mail(sink.port, username="alerts", password="${env:AS_SMTP_PASSWORD}",
                             retries=3), env={"AS_SMTP_PASSWORD": password})
    d.wait_log(r"gave up on the above_max event of web after 1 attempt\(s\)", 15)
    assert sink.logins == [("alerts", False)] and sink.got() == []
    d.stop(signal.SIGTERM)
    for text in (d.log_text(), d.stderr()):
        assert password not in text


@test
def test_4xx_reply_is_retried(ctx):
    sink = SmtpSink(reply_mail=451)
    ctx.defer(sink.stop)
    app = ScaleitApp(load=8.0, replicas=4, cap=None).start()
    ctx.defer(app.stop)
    d = start(ctx, app, mail(sink.port, retries=2))
    d.wait_log(r"gave up on the above_max event of web after 3 attempt\(s\): MAIL failed: 451", 15)
    assert sink.sessions >= 3
    d.stop(signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
