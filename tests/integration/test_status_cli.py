#!/usr/bin/env python3
"""`autoscaler status`, `autoscaler queue` and `autoscaler workers` read a running daemon's HTTP
API (docs/cli.md): the table and --json, found from the configuration (plain, TLS with the
daemon's own certificate pinned, auth: all with the file's token) or from --url; a daemon that
runs another file at the same address is refused; workers from the API even where the daemon
keeps no list file, from the file when the server is off.

    python3 tests/integration/test_status_cli.py --bin build/autoscaler
"""

import json
import os
import re
import subprocess
import sys

from api_helpers import Api, api_config, pool_group, queue_group, write_backlog
from harness import free_port, main, run_cli, test, wait_for, write_config

TOKEN = "cli-token-0123456789abcdef"


def start(ctx, groups, http=None, env=None, name="config.yaml", **top):
    port = free_port()
    cfg = api_config(ctx.tmp, port, groups, http=http, **top)
    path = write_config(ctx.tmp, cfg, name)
    d = ctx.daemon(path, log_file=cfg["log_file"], env=env)
    return d, port, path


@test
def test_status_table_and_json(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 5)
    d, port, path = start(ctx, {"jobs": queue_group(backlog, max_=3),
                                "web": pool_group(backlog, max_=4)})
    api = Api(f"http://127.0.0.1:{port}")
    api.wait_up()
    api.wait_group("web", lambda g: g["replicas"] == 3, 10, "3 replicas")
    api.wait_group("jobs", lambda g: g["replicas"] == 3, 10, "3 workers")
    r = run_cli(ctx.bin, ["status", "-c", path])
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert re.match(r"GROUP +REPLICAS +DESIRED +MIN/MAX +METRICS +DECISION +AGE$", lines[0]), lines
    assert re.match(r"jobs +3 +3 +0/3 +backlog=5 +(up|hold): backlog=5 .* +\d+s$", lines[1]), lines
    assert re.match(r"web +3 +3 +1/4 +backlog=5/2 +hold: backlog=5 average_value=2: "
                    r"ceil\(5/2\)=3 +\d+s$", lines[2]), lines
    r = run_cli(ctx.bin, ["status", "--url", f"http://127.0.0.1:{port}/", "--json"])
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert [g["name"] for g in doc["groups"]] == ["jobs", "web"], doc
    # markers
    tok = os.path.join(ctx.tmp, "tok")
    with open(tok, "w") as f:
        f.write("x\n")
    r = run_cli(ctx.bin, ["status", "-c", path, "--url", "http://x"])
    assert r.returncode == 2 and "-c and --url: give one of them" in r.stderr, r
    d.stop()
    r = run_cli(ctx.bin, ["status", "-c", path])
    assert r.returncode == 1, r
    assert re.search(rf"autoscaler status: cannot reach http://127\.0\.0\.1:{port}: ", r.stderr), r
    r = run_cli(ctx.bin, ["status", "--help"])
    assert r.returncode == 0 and r.stdout.startswith("usage: autoscaler status"), r


@test
def test_status_markers_and_another_daemon(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    d, port, path = start(ctx, {"web": pool_group(backlog, paused=True, override=2)})
    api = Api(f"http://127.0.0.1:{port}")
    api.wait_up()
    api.wait_group("web", lambda g: g["last_decision"] is not None, 10, "a decision")
    r = run_cli(ctx.bin, ["status", "-c", path])
    assert r.returncode == 0 and re.search(r"\nweb PAUSED OVERRIDE 2 ", r.stdout), r
    # another file naming the same address: its daemon is not this one
    other = api_config(ctx.tmp, port, {"web": pool_group(backlog)})
    opath = write_config(ctx.tmp, other, "other.yaml")
    r = run_cli(ctx.bin, ["status", "-c", opath])
    assert r.returncode == 1, r
    assert (f"the daemon at http://127.0.0.1:{port} runs {os.path.realpath(path)}, not "
            f"{os.path.realpath(opath)}") in r.stderr, r.stderr
    d.stop()


@test
def test_queue(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 4)
    d, port, path = start(ctx, {"jobs": queue_group(backlog, max_=3),
                                "web": pool_group(backlog)})
    api = Api(f"http://127.0.0.1:{port}")
    api.wait_up()
    api.wait_group("jobs", lambda g: g["rounds"] >= 3, 10, "3 rounds")
    r = run_cli(ctx.bin, ["queue", "jobs", "-c", path, "--limit", "3"])
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0] == "queue backlog of group jobs (policy queue), oldest first:", lines
    assert re.match(r"TIME +LENGTH +REPLICAS +DESIRED$", lines[1]), lines
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +4 +\d +\d$", ln) for ln in lines[2:5]), \
        lines
    assert lines[5] == "3 rounds: lowest 4, mean 4, highest 4", lines
    r = run_cli(ctx.bin, ["queue", "jobs", "-c", path, "--json", "--limit", "2"])
    assert r.returncode == 0 and len(json.loads(r.stdout)["rounds"]) == 2, r
    r = run_cli(ctx.bin, ["queue", "web", "-c", path])
    assert r.returncode == 1 and "has no queue (its policy is target)" in r.stderr, r
    r = run_cli(ctx.bin, ["queue", "web", "-c", path, "--metric", "backlog", "--limit", "1"])
    assert r.returncode == 0 and "queue backlog of group web (policy target)" in r.stdout, r
    r = run_cli(ctx.bin, ["queue", "nope", "-c", path])
    assert r.returncode == 1 and "answered 404: no group 'nope'" in r.stderr, r
    r = run_cli(ctx.bin, ["queue", "-c", path])
    assert r.returncode == 2 and "which group?" in r.stderr, r
    r = run_cli(ctx.bin, ["queue", "jobs", "-c", path, "--limit", "0"])
    assert r.returncode == 2, r
    d.stop()


def table_rows(text):
    return [ln.split() for ln in text.splitlines() if re.match(r"\d+ ", ln)]


@test
def test_workers_from_the_api_and_from_the_file(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 5)
    # No state_dir: no list file, so only the API can list the workers.
    d, port, path = start(ctx, {"jobs": queue_group(backlog)}, state_dir="")
    api = Api(f"http://127.0.0.1:{port}")
    api.wait_up()
    api.wait_group("jobs", lambda g: g["replicas"] == 2, 15, "2 workers")

    def listed():
        r = run_cli(ctx.bin, ["workers", "-c", path])
        rows = table_rows(r.stdout)
        ok = r.returncode == 0 and sorted(x[2] for x in rows) == ["BUSY", "FREE"]
        return r if ok else None
    r = wait_for(listed, 10, "BUSY and FREE through the API")
    assert re.match(r"group jobs: 2 workers, 1 busy, 1 free, 0 unknown \(daemon pid "
                    rf"{d.pid}, ", r.stdout), r.stdout
    busy = [x for x in table_rows(r.stdout) if x[2] == "BUSY"][0]
    assert busy[0] == "0" and busy[-1] == "job-0", busy
    r = run_cli(ctx.bin, ["workers", "--url", f"http://127.0.0.1:{port}", "--json"])
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)["groups"][0]
    assert doc["group"] == "jobs" and doc["running"] and doc["daemon_pid"] == d.pid, doc
    assert sorted(w["status"] for w in doc["workers"]) == ["BUSY", "FREE"], doc
    d.stop()
    # The server off: the list file, as before the API.
    d, port, path = start(ctx, {"jobs": queue_group(backlog)}, http={"listen": ""},
                          name="off.yaml")
    wait_for(lambda: run_cli(ctx.bin, ["workers", "-c", path]).returncode == 0, 15,
             "the list file")
    r = run_cli(ctx.bin, ["workers", "-c", path])
    assert re.match(r"group jobs: \d workers", r.stdout), r
    r = run_cli(ctx.bin, ["status", "-c", path])
    assert r.returncode == 2 and "http.listen is empty: the daemon serves no API" in r.stderr, r
    d.stop()


def make_cert(directory, name):
    cert, key = os.path.join(directory, f"{name}.pem"), os.path.join(directory, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=autoscaler.internal", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@test
def test_tls_pinned_and_auth_all(ctx):
    backlog = os.path.join(ctx.tmp, "backlog")
    write_backlog(backlog, 2)
    make_cert(ctx.tmp, "cert")
    make_cert(ctx.tmp, "other")
    with open(os.path.join(ctx.tmp, "token"), "w") as f:
        f.write(TOKEN + "\n")
    # a certificate for another name, self-signed: pinned, it is trusted all the same
    d, port, path = start(ctx, {"web": pool_group(backlog)},
                          http={"tls_cert": "cert.pem", "tls_key": "cert.key", "auth": "all",
                                "token": "${file:token}"})
    api = Api(f"https://127.0.0.1:{port}", token=TOKEN,
              cafile=os.path.join(ctx.tmp, "cert.pem"))
    wait_for(lambda: run_cli(ctx.bin, ["status", "-c", path]).returncode == 0, 15, "status")
    r = run_cli(ctx.bin, ["status", "-c", path])
    assert "\nweb " in r.stdout, r
    # --url: the system's CAs do not know this certificate
    r = run_cli(ctx.bin, ["status", "--url", f"https://127.0.0.1:{port}"])
    assert r.returncode == 1 and "cannot reach" in r.stderr, r
    # another certificate at the same address: the pin refuses it
    cfg = api_config(ctx.tmp, port, {"web": pool_group(backlog)},
                     http={"tls_cert": "other.pem", "tls_key": "other.key"})
    wrong = write_config(ctx.tmp, cfg, "wrong.yaml")
    r = run_cli(ctx.bin, ["status", "-c", wrong])
    assert r.returncode == 1 and "cannot reach" in r.stderr, r
    d.stop()
    # auth: all over plain HTTP: the token from the file, from --token-file, or missing
    d, port, path = start(ctx, {"web": pool_group(backlog)},
                          http={"auth": "all", "token": "${file:token}"}, name="all.yaml")
    Api(f"http://127.0.0.1:{port}").wait_up()
    r = run_cli(ctx.bin, ["status", "-c", path])
    assert r.returncode == 0, r
    url = f"http://127.0.0.1:{port}"
    r = run_cli(ctx.bin, ["status", "--url", url])
    assert r.returncode == 1 and "answered 401: this needs the token" in r.stderr, r
    r = run_cli(ctx.bin, ["status", "--url", url, "--token-file", os.path.join(ctx.tmp, "token")])
    assert r.returncode == 0, r
    r = run_cli(ctx.bin, ["status", "--url", url], env={"AUTOSCALER_TOKEN": TOKEN})
    assert r.returncode == 0, r
    assert TOKEN not in r.stdout + r.stderr
    d.stop()


if __name__ == "__main__":
    sys.exit(main())
