#!/usr/bin/env python3
"""The console, log and syslog notifiers, driven by the daemon: one line per event on standard
output, one line of the daemon's log at the notifier's level, one datagram per event on a
syslog socket the test binds (RFC 3164 as glibc sends it, and RFC 5424), and a syslog socket
that is missing is retried, never in the way of scaling.

    python3 tests/integration/test_notify_local.py --bin build/autoscaler
"""

import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import main, test, write_config  # noqa: E402
from notify_helpers import SyslogSocket, group  # noqa: E402
from scaleit_app import ScaleitApp  # noqa: E402


def start(ctx, app, notifiers, **keys):
    log = os.path.join(ctx.tmp, "autoscaler.log")
    cfg = {"log_file": log, "state_dir": "", "groups": {"web": group(app, **keys)},
           "notifiers": notifiers}
    return ctx.daemon(write_config(ctx.tmp, cfg), log_file=log)


@test
def test_console_and_log(ctx):
    app = ScaleitApp(load=8.0, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    d = start(ctx, app, {
        "screen": {"type": "console", "on": ["scale", "above_max"]},
        "short": {"type": "console", "on": ["scale"],
                  "template": "{{group}} {{kind}} {{from}}->{{to}}\nsecond line dropped"},
        "journal": {"type": "log", "on": ["above_max"], "level": "warn"}})
    d.wait_until(lambda: "web scale 2->4" in d.stdout(), 10, "the scale on stdout")
    d.wait_until(lambda: "above max 4" in d.stdout(), 5, "above_max on stdout")
    out = d.stdout().splitlines()
    assert "web scale 2->4" in out, out
    scaled = [x for x in out if x.endswith("web: scaled 2 -> 4")]
    assert len(scaled) == 1 and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", scaled[0])
    assert not any("second line" in x for x in out), out
    d.wait_log(r"WARN  notify\[journal\]: web: wants 10, above max 4 \(current 2, desired 4\)", 5)
    d.stop(signal.SIGTERM)


@test
def test_syslog_rfc3164_and_rfc5424(ctx):
    app = ScaleitApp(load=4.0, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    sock = SyslogSocket(ctx.tmp)
    ctx.defer(sock.stop)
    d = start(ctx, app, {
        "bsd": {"type": "syslog", "path": sock.path, "on": ["scale", "above_max"]},
        "new": {"type": "syslog", "path": sock.path, "on": ["scale"], "format": "rfc5424",
                "facility": "local3", "ident": "as-test"}})
    d.wait_until(lambda: len(sock.lines()) >= 3, 10, "three datagrams")
    lines = sock.lines()
    pid = d.pid
    assert any(re.fullmatch(rf"<30>[A-Z][a-z][a-z] [ \d]\d \d\d:\d\d:\d\d autoscaler\[{pid}\]: "
                            r"web: scaled 2 -> 4", x) for x in lines), lines  # daemon.info
    assert any(re.fullmatch(rf"<29>[A-Z][a-z][a-z] [ \d]\d \d\d:\d\d:\d\d autoscaler\[{pid}\]: "
                            r"web: wants 5, above max 4 \(current 2, desired 4\)", x)
               for x in lines), lines  # daemon.notice
    assert any(re.fullmatch(rf"<158>1 \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z \S+ as-test "
                            rf"{pid} scale - web: scaled 2 -> 4", x) for x in lines), lines
    d.stop(signal.SIGTERM)


@test
def test_missing_syslog_socket_is_retried(ctx):
    app = ScaleitApp(load=4.0, replicas=2, cap=None).start()
    ctx.defer(app.stop)
    d = start(ctx, app, {"gone": {"type": "syslog", "path": os.path.join(ctx.tmp, "no.sock"),
                                  "on": ["scale"], "retries": 1, "backoff": "100ms"}})
    d.wait_log(r"notify\[gone\]: gave up on the scale event of web after 2 attempt\(s\): "
               r".*no\.sock: No such file or directory", 10)
    assert app.replicas == 4
    d.stop(signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
