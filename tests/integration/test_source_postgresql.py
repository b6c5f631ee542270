#!/usr/bin/env python3
"""The postgresql source against a real PostgreSQL on 127.0.0.1 (initdb + postgres in a temp
dir, as the `postgres` user when run as root), started once for this file with a jobs table
and a role that must give its password (scram-sha-256 in pg_hba.conf):

  - --dry-run, one group per case in one daemon: the pending count (with a password from the
    environment), NULL, no row, two rows, a text column, a syntax error, a wrong password, a
    server that is down, a port that accepts and never answers, and a statement that sleeps
    past the timeout (the group holds; once the statement is quick again the source measures
    again): each failure with its reason in the log, counted, and the group holding;
  - a real run with a process pool: inserting pending jobs grows the pool, killing the server
    (SIGKILL) holds it (failed measurements, no scale-down), the restarted server is measured
    again, and finishing the jobs shrinks it.

    python3 tests/integration/test_source_postgresql.py --bin build/autoscaler
"""

import glob
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (free_port, live_processes, main, run_cli, test, wait_for,  # noqa: E402
                     write_config)


def pg_bin():
    """The directory holding initdb and postgres, or None."""
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(d, "initdb"), os.X_OK):
            return d
    initdb = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(initdb)) if initdb else None


PGBIN = pg_bin()
PSQL = shutil.which("psql") or (PGBIN and os.path.join(PGBIN, "psql"))
PASSWORD = "right-pw-4711"
WRONG = "wrong-pw-0815"


class Postgres:
    """One server in a temp dir on a free port; as root it runs as the `postgres` user (neither
    initdb nor postgres runs as root)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="as-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.proc = None
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")  # mkdtemp: root's, mode 0700
            self.as_user = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                            "--"]

    def init(self):
        subprocess.run(self.as_user + [os.path.join(PGBIN, "initdb"), "-D", self.data,
                                       "-U", "postgres", "-A", "trust", "-E", "UTF8",
                                       "--locale=C.UTF-8", "--no-sync"],
                       check=True, capture_output=True, timeout=60)
        # First match wins: the `secured` role must give its password, everyone else is trusted.
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "host all secured 127.0.0.1/32 scram-sha-256\n"
                    "host all all 127.0.0.1/32 trust\n")
        return self

    def start(self):
        log = open(os.path.join(self.dir, "pg.log"), "ab")
        self.proc = subprocess.Popen(
            self.as_user + [os.path.join(PGBIN, "postgres"), "-D", self.data, "-k", self.dir,
                            "-h", "127.0.0.1", "-p", str(self.port), "-c", "fsync=off",
                            "-c", "full_page_writes=off", "-c", "synchronous_commit=off"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        wait_for(self.ready, 30, "postgres to accept connections", interval=0.05)
        return self

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"postgres exited:\n{self.log()[-2000:]}")
        return subprocess.run([PSQL, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                               "-d", "postgres", "-qAtc", "SELECT 1"],
                              capture_output=True, timeout=10).returncode == 0

    def log(self):
        with open(os.path.join(self.dir, "pg.log"), errors="replace") as f:
            return f.read()

    def sql(self, text):
        r = subprocess.run([PSQL, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAtc", text],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def stop(self):
        """Fast shutdown (SIGINT; SIGTERM would wait for the clients)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def kill(self):
        """SIGKILL to the postmaster and every backend (its process group)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def dsn(self, user="postgres", password=None):
        pw = f" password={password}" if password else ""
        return f"host=127.0.0.1 port={self.port} dbname=postgres user={user}{pw}"


PG = None


def server():
    """The file's server, started on first use with its tables and roles."""
    global PG
    if PG is None:
        PG = Postgres().init().start()
        PG.sql("CREATE TABLE jobs(id serial PRIMARY KEY, state text NOT NULL);"
               "INSERT INTO jobs(state) SELECT CASE WHEN g % 3 = 0 THEN 'done' ELSE 'pending' "
               "END FROM generate_series(1, 10) g;"
               "CREATE TABLE knob(delay float8 NOT NULL);"
               "INSERT INTO knob VALUES (2);"
               f"CREATE ROLE secured LOGIN PASSWORD '{PASSWORD}';"
               "GRANT SELECT ON jobs, knob TO secured;"
               "CREATE TABLE queue(id serial PRIMARY KEY, state text NOT NULL);")
    return PG


class Silent:
    """A TCP port that accepts connections and never says a word."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stopping = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.stopping = True
        self.sock.close()
        for c in self.held:
            c.close()


def counters(d, group, metric="q"):
    mark = d.mark()
    d.send_signal(signal.SIGUSR1)
    line = d.wait_log(rf"engine\[{group}\]: metric {metric} counters (.*)$", 5, since=mark)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line.group(1))}


def group(query, dsn="${env:PG_DSN}", timeout="300ms"):
    return {"interval": "500ms", "max": 10,
            "metrics": [{"name": "q", "type": "postgresql", "dsn": dsn, "query": query,
                         "timeout": timeout, "average_value": 2}],
            "scaler": {"type": "exec", "command": ["true"], "get": ["echo", "3"]}}


# group -> (query, dsn, the reason in the log)
FAILING = {
    "null": ("SELECT NULL::int", None, r'column "int4" is NULL'),
    "norow": ("SELECT 1 WHERE false", None, r"the query returned no row"),
    "tworows": ("SELECT 1 UNION ALL SELECT 2", None, r"the query returned 2 rows, not one"),
    "text": ("SELECT state FROM jobs LIMIT 1", None,
             r'column "state" is not a number \(type oid 25\)'),
    "syntax": ("SELEC count(*) FROM jobs", None,
               r'ERROR: syntax error at or near "SELEC" \(SQLSTATE 42601\)'),
    "badpw": ("SELECT 1", "${env:PG_BAD_DSN}",
              r'cannot connect: .*password authentication failed for user "secured"'),
    "down": ("SELECT 1", "${env:PG_DOWN_DSN}", r"cannot connect: .*Connection refused"),
    "hang": ("SELECT 1", "${env:PG_HANG_DSN}", r"timeout after \d+ ms connecting"),
}


@test
def test_dry_run_values_and_failures(ctx):
    pg = server()
    silent = Silent()
    ctx.defer(silent.close)
    pg.sql("UPDATE knob SET delay = 2")
    groups = {"count": group("SELECT count(*) FROM jobs WHERE state = 'pending'",
                             "${env:DATABASE_URL}"),
              # sleeps past the timeout until the knob is turned down
              "slow": group("SELECT count(*) FROM jobs, pg_sleep((SELECT delay FROM knob)) "
                            "WHERE state = 'pending'")}
    for name, (query, dsn, _) in FAILING.items():
        groups[name] = group(query, dsn or "${env:PG_DSN}")
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "groups": groups}
    env = {"PG_DSN": pg.dsn(),
           "DATABASE_URL": f"postgresql://secured:{PASSWORD}@127.0.0.1:{pg.port}/postgres",
           "PG_BAD_DSN": pg.dsn("secured", WRONG),
           "PG_DOWN_DSN": f"host=127.0.0.1 port={free_port()} dbname=postgres user=postgres",
           "PG_HANG_DSN": f"host=127.0.0.1 port={silent.port} dbname=postgres user=postgres"}
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=["--dry-run"], log_file=cfg["log_file"],
                   env=env)
    # 7 pending jobs, 2 per replica: 4, with the password of the URL
    d.wait_decisions(1, 15, where=lambda x: x.group == "count" and x.values["q"] == 7)
    assert d.grep(r"engine\[count\]: dry-run: would scale 3->4"), d.tail()
    for name, (_, _, why) in FAILING.items():
        d.wait_log(rf"ERROR source/postgresql\[{name}/q\]: {why}", 10)
        d.wait_decided(2, 10, name)
    d.wait_log(r"ERROR source/postgresql\[slow/q\]: timeout after \d+ ms waiting for the answer: "
               r"connection dropped", 10)
    for name in list(FAILING) + ["slow"]:
        # at info, a decision with a q or a count of its own would have its line
        ds = d.decisions(group=name)
        assert ds and all(x.values["q"] is None and x.desired == 3 for x in ds), (name, d.tail())
        c = counters(d, name)
        # measurements counts a measurement when it starts: one may be in flight at the signal
        # (the decisions above show that none succeeded)
        assert c["failures"] >= 1 and c["measurements"] - c["failures"] <= 1, (name, c)
    # The same fault every round: one ERROR line, the repeats at DEBUG.
    assert len(d.grep(r"ERROR source/postgresql\[text/q\]")) == 1, d.tail()
    # The statement we gave up on was ended by the server (statement_timeout), not left running.
    wait_for(lambda: "canceling statement due to statement timeout" in pg.log(), 10,
             "the server's statement_timeout")
    # Quick again: measured on a new connection.
    mark = d.mark()
    pg.sql("UPDATE knob SET delay = 0")
    d.wait_log(r"INFO  source/postgresql\[slow/q\]: measuring again", 15, since=mark)
    d.wait_decisions(1, 10, since=mark, where=lambda x: x.group == "slow" and x.values["q"] == 7)
    d.stop(signal.SIGTERM, timeout=10)
    text = d.log_text()
    assert WRONG not in text and PASSWORD not in text, "a password reached the log"
    assert f"port={pg.port}" not in text, "a connection string reached the log"
    # Nothing left connected: every session ended with the daemon.
    wait_for(lambda: pg.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                            "'autoscaler'") == "0", 10, "the daemon's sessions to end")


@test
def test_check_refuses_host_names_and_never_shows_the_string(ctx):
    cases = [("postgresql://app:s3cr3t-pw@db.example.com:5432/jobs",
              "host 'db.example.com' is a name"),
             ("host=127.0.0.1 password=s3cr3t-pw junk", "'dsn' is not a valid connection string")]
    for dsn, why in cases:
        cfg = {"log_file": "", "groups": {"g": group("SELECT 1")}}
        path = write_config(ctx.tmp, cfg)
        r = run_cli(ctx.bin, ["check", "-c", path], env={"PG_DSN": dsn})
        assert r.returncode == 2 and why in r.stderr, r.stderr
        assert re.search(r"config\.yaml:\d+:\d+", r.stderr) and "s3cr3t" not in r.stderr, r.stderr
    # a name with its address is fine: libpq connects to hostaddr and resolves nothing
    r = run_cli(ctx.bin, ["check", "-c", path],
                env={"PG_DSN": "host=db.example.com hostaddr=127.0.0.1 dbname=jobs"})
    assert r.returncode == 0, r.stderr


WORKER = """#!/bin/sh
trap 'exit 0' TERM
while :; do sleep 0.05; done
"""


@test
def test_run_grows_holds_and_shrinks_a_pool(ctx):
    pg = server()
    pg.sql("TRUNCATE queue")
    worker = os.path.join(ctx.tmp, "pg-worker.sh")
    with open(worker, "w") as f:
        f.write(WORKER)
    os.chmod(worker, os.stat(worker).st_mode | stat.S_IXUSR)
    cfg = {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "state_dir": "",
           "groups": {"workers": {
               "interval": "300ms", "min": 1, "max": 6, "behavior": "off",
               "metrics": [{"name": "pending", "type": "postgresql", "dsn": "${env:PG_DSN}",
                            "query": "SELECT count(*) FROM queue WHERE state = 'pending'",
                            "timeout": "250ms", "average_value": 2}],
               "scaler": {"type": "process", "command": [worker], "working_dir": ctx.tmp,
                          "grace": "1s"}}}}
    d = ctx.daemon(write_config(ctx.tmp, cfg), log_file=cfg["log_file"],
                   env={"PG_DSN": pg.dsn()})

    def workers():
        return len(live_processes(worker))

    d.wait_until(lambda: workers() == 1, 10, "one worker (min)")
    pg.sql("INSERT INTO queue(state) SELECT 'pending' FROM generate_series(1, 6)")
    d.wait_until(lambda: workers() == 3, 10, "three workers for six pending jobs")

    # The server dies: failed measurements, the pool holds.
    mark = d.mark()
    pg.kill()
    d.wait_log(r"ERROR source/postgresql\[workers/pending\]: (connection lost|cannot connect)", 10,
               since=mark)
    d.wait_decisions(1, 10, since=mark, where=lambda x: x.values["pending"] is None)
    d.wait_decided(2, 10, "workers", after=d.decided("workers"))
    # at info, any decision with another count would have its line
    assert all(x.desired == 3 for x in d.decisions(since=mark)), d.tail()
    assert workers() == 3
    c = counters(d, "workers", "pending")
    assert c["failures"] >= 1, c

    # Back: measured again on a new connection, still three.
    mark = d.mark()
    pg.start()
    d.wait_log(r"INFO  source/postgresql\[workers/pending\]: measuring again", 15, since=mark)
    d.wait_decisions(1, 10, since=mark, where=lambda x: x.values["pending"] == 6)
    assert workers() == 3

    pg.sql("UPDATE queue SET state = 'done'")
    d.wait_until(lambda: workers() == 1, 10, "back to one worker")
    assert d.scaled()[-1] == (3, 1), d.scaled()
    d.stop(signal.SIGTERM, timeout=10)
    wait_for(lambda: workers() == 0, 5, "no worker left")


def run():
    if PGBIN is None or PSQL is None:
        print("SKIP: PostgreSQL (initdb, postgres, psql) is not installed "
              "(bootstrap --test installs it)", flush=True)
        return 0
    try:
        return main()
    finally:
        if PG is not None:
            PG.remove()


if __name__ == "__main__":
    sys.exit(run())
