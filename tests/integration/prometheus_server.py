"""A real prometheus (Debian's package) on 127.0.0.1 with a temporary TSDB, scraping every
second, for the tests that need one (test_source_prometheus, test_api_prometheus).

    prom = Prometheus("  - job_name: x\\n    static_configs: [{targets: ['127.0.0.1:9100']}]\\n")
    prom.wait_series("up", 1); prom.value("up"); prom.stop()
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.parse
import urllib.request

from harness import free_port, wait_for

PROMETHEUS = shutil.which("prometheus")


class Prometheus:
    def __init__(self, scrape_configs):
        """scrape_configs: the YAML of the scrape_configs list's items, indented by 2."""
        self.dir = tempfile.mkdtemp(prefix="as-it-prometheus-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                    "scrape_configs:\n" + scrape_configs)
        self.log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{self.port}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'tsdb')}"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)

    def query(self, q):
        """The result vector of an instant query, or None when prometheus does not answer."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return json.load(r)["data"]["result"]
        except OSError:
            return None

    def alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited: {self.tail()}")

    def value(self, q):
        """The one sample of q as a float, or None."""
        self.alive()
        res = self.query(q)
        return float(res[0]["value"][1]) if res and len(res) == 1 else None

    def wait_series(self, q, n, timeout=20):
        """Waits until q returns n series (the first scrape takes about 6 s)."""
        def ready():
            self.alive()
            res = self.query(q)
            return res is not None and len(res) == n
        wait_for(ready, timeout, f"{n} series of {q} in prometheus", interval=0.2)

    def tail(self):
        with open(os.path.join(self.dir, "prometheus.log"), errors="replace") as f:
            return f.read()[-2000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
