#!/usr/bin/env python3
"""N groups polling one local nginx every second: what a fetch costs the daemon next to what a
request costs wrk and a scrape costs Prometheus, side by side in one run (issue 11).

    python3 bench/scale.py [--bin build/autoscaler] [--sizes 1000,10000,30000] [--seconds 10]
                           [--no-prometheus] [--debug-log]

Starts nginx-light (one worker, 127.0.0.1, a free port, no access log) serving a 56-byte JSON
document and a 56-byte Prometheus text, with stub_status for its request counter. For each N:
  - the daemon (`run --dry-run`), N groups every 1 s, one `http_json` metric each on the JSON;
    after a warm-up of 3 s, over --seconds: its CPU (every thread, /proc schedstat), the
    requests nginx served it, its RSS at the end; from /metrics (read before and after):
    lateness = how late ticks ran after they were due, and how long rounds then waited for a
    measuring slot (autoscaler_tick_lateness_seconds and autoscaler_round_start_delay_seconds:
    p50 and p99 of each as the histogram bucket that holds them, "<=5ms" the finest, the
    larger of the two shown), the rounds' p99 duration, ticks coalesced (a round lost to a
    group still busy: "lost"), overloaded;
  - wrk (one thread, 64 connections, --seconds) on the JSON: its CPU per request; and wrk
    with one connection (one request at a time to a server idle between them, as the
    daemon's polls are: each request wakes nginx and wrk sleeps for each answer): the same;
  - Prometheus (unless --no-prometheus), N targets (one label apart) scraped every 1 s,
    --seconds after its own warm-up: its CPU per scrape (requests nginx served it).
Prints per N: daemon CPU per fetch and its ratio to wrk's CPU per request (64 connections,
and "vs wrk1": one connection) and to Prometheus's per scrape, the daemon's share of a core, RSS, lateness, lost ticks.
Use a release build. Everything on 127.0.0.1; every process it starts is stopped.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

JSON = b'{"cpu":{"highPriority":0.5},"replicas":2,"name":"web1"}\n'  # 56 bytes
PROM = b"app_cpu_ratio 0.5\napp_replicas 2\napp_queue_depth 17.25\n"

NGINX_CONF = """worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
worker_rlimit_nofile 65536;
events {{ worker_connections 65536; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    default_type application/json;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location = /stub {{ stub_status; }}
    }}
}}
"""

PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(tmp):
    d = os.path.join(tmp, "nginx")
    os.makedirs(os.path.join(d, "www"))
    for p in (tmp, d, os.path.join(d, "www")):
        os.chmod(p, 0o755)  # nginx's workers run as nobody when started by root
    with open(os.path.join(d, "www", "status.json"), "wb") as f:
        f.write(JSON)
    with open(os.path.join(d, "www", "metrics"), "wb") as f:
        f.write(PROM)
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(d=d, port=port))
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([exe, "-c", conf, "-p", d], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            with urllib.request.urlopen(url + "/status.json", timeout=1) as r:
                if r.read() == JSON:
                    return proc, url, d
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"nginx did not answer; see {d}/error.log")


def stop(proc, sig=signal.SIGTERM, timeout=30):
    """Stops proc with sig, and with SIGKILL if it is still there after timeout seconds."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def served(url):
    with urllib.request.urlopen(url + "/stub", timeout=5) as r:
        text = r.read().decode()
    return int(text.split("\n")[2].split()[2])  # accepts handled requests


def cpu_seconds(pid):
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def rss_kib(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE // 1024


def config(n, url, log, api, level):
    out = [f"log_file: {log}", f"log_level: {level}", "state_dir: ''",
           f"http: {{listen: '127.0.0.1:{api}'}}", "groups:"]
    for i in range(n):
        out += [f"  g{i}:", "    interval: 1s", "    max: 10", "    metrics:",
                "      - name: cpu", "        type: http_json", f"        url: {url}/status.json",
                "        pointer: /cpu/highPriority", "        replicas_pointer: /replicas",
                "        timeout: 800ms", "        target: 0.8",
                "    scaler: {type: http, url: 'http://127.0.0.1:1/x'}"]
    return "\n".join(out) + "\n"


def scrape(api):
    """The daemon's /metrics as {name{labels}: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{api}/metrics", timeout=30) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


HISTS = ("autoscaler_tick_lateness_seconds", "autoscaler_round_start_delay_seconds")


def histogram(m0, m1, name):
    """A histogram's buckets [(le, count)] and count between two scrapes."""
    b0 = {k: v for k, v in m0.items() if k.startswith(name + "_bucket{")}
    b = sorted((float(k.split('le="')[1].rstrip('"}')), v - b0.get(k, 0)) for k, v in m1.items()
               if k.startswith(name + "_bucket{") and "+Inf" not in k)
    return b, m1.get(name + "_count", 0) - m0.get(name + "_count", 0)


def quantile(hist, q):
    """The smallest bucket bound (ms) under which q of the histogram's events fall."""
    buckets, n = hist
    if n <= 0:
        return 0.0
    for le, c in buckets:
        if c >= q * n:
            return le * 1000
    return float("inf")  # beyond the last finite bucket (30 s)


def lateness(m0, m1):
    """p50 and p99 (bucket bounds, ms) of the ticks' lateness and of the rounds' wait for a
    slot, the larger of the two (each over its own events: ticks, and rounds started)."""
    h = [histogram(m0, m1, name) for name in HISTS]
    return (max(quantile(x, 0.5) for x in h), max(quantile(x, 0.99) for x in h), h[0][1])


def overloaded(m):
    return int(m.get("autoscaler_overloaded", -1))


def run_daemon(a, n, url, tmp):
    log = os.path.join(tmp, f"d{n}.log")
    api = free_port()
    path = os.path.join(tmp, f"d{n}.yaml")
    with open(path, "w") as f:
        f.write(config(n, url, log, api, "debug" if a.debug_log else "info"))
    d = subprocess.Popen([a.bin, "run", "-c", path, "--dry-run"], stderr=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL)
    try:
        time.sleep(3 + n / 20000)  # warm-up: the configuration, connections, first rounds
        m0 = scrape(api)
        s0, c0, t0 = served(url), cpu_seconds(d.pid), time.monotonic()
        time.sleep(a.seconds)
        s1, c1, t1 = served(url), cpu_seconds(d.pid), time.monotonic()
        m1 = scrape(api)
        rss = rss_kib(d.pid)
        over = overloaded(m1)
    finally:
        stop(d)
    p50, p99, rounds = lateness(m0, m1)
    round_p99 = quantile(histogram(m0, m1, "autoscaler_round_duration_seconds"), 0.99)
    late = int(m1.get("autoscaler_ticks_coalesced_total", 0) -
               m0.get("autoscaler_ticks_coalesced_total", 0))
    with open(log) as f:
        errors = sum(1 for line in f if " ERROR " in line)
    fetches = max(1, s1 - s0 - 2)  # the two stub_status reads
    return {"cpu_fetch_us": (c1 - c0) / fetches * 1e6, "cpu_pct": (c1 - c0) / (t1 - t0) * 100,
            "fetch_rate": fetches / (t1 - t0), "rss": rss, "p50": p50, "p99": p99, "round_p99": round_p99,
            "late": late, "errors": errors, "over": over, "rounds": rounds}


def run_wrk(a, url, conns=64):
    s0 = served(url)
    w = subprocess.Popen(["wrk", "-t1", f"-c{conns}", f"-d{int(a.seconds)}s", url + "/status.json"],
                         stdout=subprocess.DEVNULL)
    _, _, ru = os.wait4(w.pid, 0)  # its CPU, user and system, from the kernel at its exit
    w.returncode = 0
    reqs = max(1, served(url) - s0 - 1)
    return {"cpu_req_us": (ru.ru_utime + ru.ru_stime) / reqs * 1e6, "rate": reqs / a.seconds}


PROM_CONF = """global: {{scrape_interval: 1s, scrape_timeout: 800ms}}
scrape_configs:
  - job_name: bench
    metrics_path: /metrics
    static_configs:
"""


def run_prometheus(a, n, url, tmp):
    d = os.path.join(tmp, f"prom{n}")
    os.makedirs(d)
    host = url.split("//")[1]
    with open(os.path.join(d, "p.yml"), "w") as f:
        f.write(PROM_CONF.format())
        for i in range(n):
            f.write(f"      - targets: ['{host}']\n        labels: {{g: 'g{i}'}}\n")
    port = free_port()
    p = subprocess.Popen(["prometheus", f"--config.file={d}/p.yml", f"--storage.tsdb.path={d}/db",
                          f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(5 + n / 5000)
        s0, c0, t0 = served(url), cpu_seconds(p.pid), time.monotonic()
        time.sleep(a.seconds)
        s1, c1, t1 = served(url), cpu_seconds(p.pid), time.monotonic()
        rss = rss_kib(p.pid)
    finally:
        stop(p)
    scrapes = max(1, s1 - s0 - 2)
    return {"cpu_scrape_us": (c1 - c0) / scrapes * 1e6, "rate": scrapes / (t1 - t0), "rss": rss,
            "cpu_pct": (c1 - c0) / (t1 - t0) * 100}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/autoscaler")
    ap.add_argument("--sizes", default="1000,10000,30000")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--no-prometheus", action="store_true")
    ap.add_argument("--debug-log", action="store_true", help="the daemon at log_level debug")
    a = ap.parse_args()
    a.bin = os.path.abspath(a.bin)
    for tool in ("wrk", "nginx") + (() if a.no_prometheus else ("prometheus",)):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"{tool} not found: apt-get install wrk nginx-light prometheus")
    tmp = tempfile.mkdtemp(prefix="as-scale-")
    nginx, url, _ = start_nginx(tmp)
    rows = []
    try:
        for n in (int(x) for x in a.sizes.split(",")):
            d = run_daemon(a, n, url, tmp)
            w = run_wrk(a, url)
            w["cpu_req_us_1"] = run_wrk(a, url, 1)["cpu_req_us"]
            p = None if a.no_prometheus else run_prometheus(a, n, url, tmp)
            rows.append((n, d, w, p))
            print_row(n, d, w, p, header=len(rows) == 1)
    finally:
        stop(nginx, signal.SIGQUIT, 10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def ms(v):
    return "<=" + (f"{v:.0f}ms" if v != float("inf") else "inf")


def print_row(n, d, w, p, header):
    if header:
        print(f"{'groups':>6} {'fetch/s':>8} {'CPU/fetch':>9} {'vs wrk':>7} {'vs wrk1':>7} "
              f"{'vs prom':>7} "
              f"{'CPU':>5} {'RSS MiB':>7} {'late p50':>8} {'p99':>7} {'round p99':>9} {'lost':>6} "
              f"{'errors':>6} {'over':>4} | {'wrk/req':>7} {'wrk1/req':>8} {'prom/scr':>8} "
              f"{'prom CPU':>8}")
    vs_p = f"{d['cpu_fetch_us'] / p['cpu_scrape_us']:6.2f}x" if p else "      -"
    ps = f"{p['cpu_scrape_us']:6.1f}us {p['cpu_pct']:7.0f}%" if p else f"{'-':>8} {'-':>8}"
    print(f"{n:>6} {d['fetch_rate']:>8.0f} {d['cpu_fetch_us']:>7.1f}us "
          f"{d['cpu_fetch_us'] / w['cpu_req_us']:6.2f}x "
          f"{d['cpu_fetch_us'] / w['cpu_req_us_1']:6.2f}x {vs_p} {d['cpu_pct']:>4.0f}% "
          f"{d['rss'] / 1024:>7.1f} {ms(d['p50']):>8} {ms(d['p99']):>7} {ms(d['round_p99']):>9} "
          f"{d['late']:>6} "
          f"{d['errors']:>6} {d['over']:>4} | {w['cpu_req_us']:>5.1f}us "
          f"{w['cpu_req_us_1']:>6.1f}us {ps}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
