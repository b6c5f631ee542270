#!/usr/bin/env python3
"""Reaction time with agents pushing: a CPU step on the hosts -> the scale call leaving the master.

    python3 bench/reaction_agents.py [--bin build/autoscaler] [--agents 3] [--steps 8]
                                     [--intervals 1:1,0.4:0.4]

All on 127.0.0.1: a master (`autoscaler run`) with one group fed by the `agents` source
(docs/sources/agents.md), K `autoscaler agent` processes (`--name h1`..`hK`) reporting to it,
and bench/reaction.py's HTTP endpoint, which timestamps the arrival of the group's `http`
scaler PUT. Use a release build (`make`).

The agents' value. An agent's `cpu` is /proc/stat's, which a bench cannot set without burning
the cores it shares with the master. So each agent also runs `--command load='cat FILE'`
(what tests/integration/test_source_agents.py does) and the master's metric reads
`field: load`: the same reports, connections, listener, table and policy as `cpu`, with a
value the bench writes. The agent runs its commands at its tick and sends the report when
they exit (a fork and exec of /bin/sh and cat, a few ms, counted in the figures). What this
leaves out: a real `cpu` is the mean over the agent's last interval, so a real load step
shows only in part in the first report after it and in full one interval later; whether the
partial value already crosses the target depends on the step.

The step. Target 0.5 per host, `behavior: off` (no stabilization window, every step acted on),
`hosts: [h1..hK]` (expected from the start: no warmup). Every host's value steps together
(one file) between low and high at a random moment, chosen so that the master settles on
ceil(K/2) and 2K replicas (K=3: 0.25 and 0.917, 2 and 6 replicas; the values sit half a
replica below those counts, so rounding cannot change them). The reaction of a step is the
time until the PUT asking for that count arrives: the whole fleet's step acted on, which needs
every host's report in. A host whose report is in alone may already cause a smaller call; its
time is shown as "first call".

Where the time goes. Each agent connects through its own TCP forwarder in this process (what
the `ssh -R` tunnel of docs/selfhosted.md is), which timestamps every report as it passes. So
a reaction splits into "agents": the step -> the last host's report with the new value at the
master (waiting for the agents' ticks, up to one agent interval, plus the command), and
"master": that report -> the PUT (waiting for the group's tick, up to one group interval,
plus the round). The end-to-end bound is therefore the sum of the two intervals plus the
rounds' costs.

The intervals. The documented defaults (agent `--interval 5s`, group `interval: 15s`) are
for steady fleets, and the docs recommend no setting for fast reaction. `AGENT:GROUP` pairs,
in seconds: 1:1 is the fastest setting the docs use (bench/reaction.py's 1 s group, the
agents' integration tests at 1 s), whose bound (about 2 s) is past the 1 s goal; 0.4:0.4 is
the slowest equal pair whose sum leaves 200 ms under 1 s for the commands, the rounds and the
noise of a shared machine. A 0.4 s agent sends 2.5 lines a second (the master's
`max_line_rate` is 10) and is missing after 1.2 s of silence (3 intervals, the default
`missing_after`).

Phases. A timer of the same period as another keeps its phase to it, so the wait from a host's
report to the group's next tick is nearly the same at every step of one start. The master and
the agents are therefore started afresh (each agent after a random part of its interval)
every two steps, one up and one down.

Prints, per pair: each step's reaction, its p50 and max, max / 1 s (the goal: <= 1.0), and
the stages. Every wait is bounded; every process is stopped at the end, on Ctrl-C, on
SIGTERM and on an error.
"""

import argparse
import math
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer

import reaction  # the scaler's endpoint; this script's directory is on sys.path
from reaction import State

TARGET = 0.5
FIELD = "load"
LOAD = re.compile(rb" " + FIELD.encode() + rb"=([0-9.]+) ")
LINE = re.compile(r"(\S+)Z (\w+) +(?:engine\[fleet\]: decision current=\d+ desired=(\d+) )?")


class Handler(reaction.Handler):
    """bench/reaction.py's endpoint (GET: the replicas; PUT: timestamped in State.puts), quiet
    when the master stops in the middle of a call, as it does every two steps here."""

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass


class Tunnel:
    """A TCP forwarder on 127.0.0.1 between one agent and the master that keeps, for every
    report passing, when it arrived and the value of FIELD it carries."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.lock = threading.Lock()
        self.reports = []  # (monotonic time, value)
        self.socks = []
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return  # closed
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream), timeout=2)
            except OSError:
                c.close()  # the agent reconnects with backoff, as through a tunnel
                continue
            up.settimeout(None)
            with self.lock:
                self.socks += [c, up]
            threading.Thread(target=self._to_master, args=(c, up), daemon=True).start()
            threading.Thread(target=self._from_master, args=(up, c), daemon=True).start()

    def _to_master(self, c, up):
        buf = b""
        try:
            while True:
                data = c.recv(4096)
                now = time.monotonic()
                if not data:
                    break
                buf += data
                while b"\n" in buf:  # kept before it is sent: known before it can act
                    line, buf = buf.split(b"\n", 1)
                    m = LOAD.search(line)
                    if m:
                        with self.lock:
                            self.reports.append((now, float(m.group(1))))
                up.sendall(data)
        except OSError:
            pass
        close_socks(c, up)

    def _from_master(self, up, c):
        """The master never writes; its close (a rejected report) must reach the agent."""
        try:
            while up.recv(4096):
                pass
        except OSError:
            pass
        close_socks(c, up)

    def first(self, value, after):
        """When the first report carrying value arrived after `after`, or None."""
        with self.lock:
            return next((t for t, v in self.reports if t >= after and v == value), None)

    def close(self):
        self.srv.close()
        with self.lock:
            for s in self.socks:
                close_socks(s)


def close_socks(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


CONFIG = """log_file: {log}
state_dir: ''
http: {{listen: ''}}
groups:
  fleet:
    interval: {group_ms}ms
    min: 1
    max: {max}
    behavior: off
    metrics:
      - name: load
        type: agents
        listen: 127.0.0.1:{port}
        secret: ${{file:{key}}}
        field: {field}
        hosts: [{hosts}]
        react: {react}
        target: {target}
    scaler: {{type: http, url: '{url}/scale', get_url: '{url}/replicas', get_pointer: /replicas}}
"""


def counts(k):
    """The replica counts the low and the high value ask for, with k hosts."""
    return max(1, math.ceil(k / 2)), 2 * k


def value_for(replicas, k):
    """The value every host reports so that the master asks for `replicas`: half a replica
    below the count (ceil(value / target * k) = replicas, far from a rounding edge)."""
    return round(TARGET * (replicas - 0.5) / k, 4)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_atomic(path, text, mode=0o644):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.chmod(path + ".tmp", mode)
    os.replace(path + ".tmp", path)


def wait_until(pred, timeout, alive):
    """pred()'s first value that is not None, polled every 2 ms; None after timeout. Raises
    when a process of `alive` has exited."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v is not None:
            return v
        for name, p, err in alive:
            if p.poll() is not None:
                with open(err, errors="replace") as f:
                    raise RuntimeError(f"{name} exited with {p.returncode}: {f.read()[-600:]}")
        time.sleep(0.002)
    return None


def put_after(after, want=None):
    with State.lock:
        return next((t for t, w in State.puts if t >= after and (want is None or w == want)),
                    None)


def stop(procs):
    for _, p, _ in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for _, p, _ in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def tail(path):
    """The master's WARN and ERROR lines (the last 2000 characters of them)."""
    try:
        with open(path, errors="replace") as f:
            return "".join(line for line in f if " WARN " in line or " ERROR " in line)[-2000:]
    except OSError:
        return ""


def spawn(procs, name, argv, err):
    """Starts argv with its stderr into the file err and adds it to procs."""
    with open(err, "w") as f:
        procs.append((name, subprocess.Popen(argv, stderr=f), err))


def reports_in(tunnels, value, after):
    """When the last host's first report carrying value after `after` arrived, or None."""
    times = [tn.first(value, after) for tn in tunnels]
    return None if None in times else max(times)


def start(a, agent_s, group_s, url, tmp, index, procs, tunnels):
    """The master and a.agents agents, each through its own tunnel, all at `low` replicas;
    returns the master's log and the file the agents' command reads."""
    k, tag = a.agents, f"a{agent_s:g}-g{group_s:g}-{index}"
    low, high = counts(k)
    port, key, load = free_port(), os.path.join(tmp, "agent.key"), os.path.join(tmp, "load")
    log, path = os.path.join(tmp, f"master-{tag}.log"), os.path.join(tmp, f"master-{tag}.yaml")
    hosts = [f"h{i + 1}" for i in range(k)]
    write_atomic(key, "bench-key-" + os.urandom(16).hex() + "\n", 0o600)
    write_atomic(load, f"{value_for(low, k)}\n")
    write_atomic(path, CONFIG.format(log=log, group_ms=round(group_s * 1000), max=high,
                                     port=port, key=key, field=FIELD, hosts=", ".join(hosts),
                                     target=TARGET, url=url,
                                     react="true" if a.react else "false"))
    with State.lock:
        State.replicas, State.puts = low, []
    t0 = time.monotonic()
    spawn(procs, "the master", [a.bin, "run", "-c", path], f"{log}.stderr")
    for h in hosts:
        time.sleep(random.uniform(0, agent_s))  # agents tick at phases of their own
        tunnels.append(Tunnel(port))
        spawn(procs, f"agent {h}",
              [a.bin, "agent", "--master", f"127.0.0.1:{tunnels[-1].port}", "--secret-file", key,
               "--name", h, "--interval", f"{round(agent_s * 1000)}ms",
               "--command", f"{FIELD}=cat {load}"], os.path.join(tmp, f"agent-{tag}-{h}.log"))
    if wait_until(lambda: reports_in(tunnels, value_for(low, k), t0), agent_s * 2 + 7,
                  procs) is None:
        raise RuntimeError("the agents' reports did not reach the master:\n" + tail(log))
    time.sleep(group_s * 2)  # a round or two on every host's report
    return log, load


def run(a, agent_s, group_s, url, tmp):
    """The steps of one AGENT:GROUP pair, each None (no scale call) or a dict of monotonic
    times: the step, the last host's report with the new value at the master, the decision
    (from the master's log), the PUT asking for the new count, the first PUT after the step;
    and how many WARN or ERROR lines the master logged during the steps. A new world every
    two steps (see Phases above)."""
    out, problems = [], 0
    for w in range(0, a.steps, 2):
        steps, n = world(a, agent_s, group_s, url, tmp, w // 2, min(2, a.steps - w))
        out += steps
        problems += n
    return out, problems


def world(a, agent_s, group_s, url, tmp, index, nsteps):
    """nsteps steps (up, then down) in a new world: run()'s steps and its problems."""
    low, high = counts(a.agents)
    slower = max(agent_s, group_s)
    wall_offset = time.time() - time.monotonic()
    procs, tunnels, out = [], [], []
    try:
        log, load = start(a, agent_s, group_s, url, tmp, index, procs, tunnels)
        for step in range(nsteps):
            time.sleep(slower * 1.5 + random.uniform(0, slower))
            want = high if step % 2 == 0 else low
            value = value_for(want, a.agents)
            t0 = time.monotonic()
            write_atomic(load, f"{value}\n")
            t = wait_until(lambda: put_after(t0, want), (agent_s + group_s) * 3 + 2, procs)
            if t is None:
                out.append(None)
                print(f"  no PUT for {want} replicas\n{tail(log)}", file=sys.stderr, flush=True)
                continue
            out.append({"step": t0, "wall": t0 + wall_offset, "want": want, "put": t,
                        "first": put_after(t0), "reports": reports_in(tunnels, value, t0)})
    finally:
        stop(procs)
        for tn in tunnels:
            tn.close()
    decisions, problems = read_log(log)
    for s in out:
        if s is not None:  # the decision's log line, on the monotonic clock
            d = next((w for w, want in decisions if w >= s["wall"] - 0.001 and want == s["want"]),
                     None)
            s["decision"] = None if d is None else d - wall_offset
    first = next((s["wall"] for s in out if s is not None), math.inf)
    return out, sum(1 for w in problems if w >= first - 0.001)


def read_log(log):
    """The wall times (in ms) of the master's decisions, with the count each asked for, and
    of its WARN and ERROR lines."""
    decisions, problems = [], []
    with open(log, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
            t = t.replace(tzinfo=timezone.utc).timestamp()
            if m.group(2) in ("WARN", "ERROR"):
                problems.append(t)
            elif m.group(3) is not None:
                decisions.append((t, int(m.group(3))))
    return decisions, problems


def row(label, xs):
    xs = [x for x in xs if x is not None]
    return (f"{'':>14}{label:<46} p50 {statistics.median(xs) * 1000:>5.0f}  "
            f"max {max(xs) * 1000:>5.0f} ms" if xs else f"{'':>14}{label:<46} -")


def report(agent_s, group_s, r, problems):
    ok = [s for s in r if s is not None]
    react = [s["put"] - s["step"] for s in ok]
    p50, mx = (statistics.median(react), max(react)) if react else (math.nan, math.nan)
    print(f"{agent_s:>5g}s {group_s:>5g}s {len(r):>5} {p50 * 1000:>7.0f} {mx * 1000:>7.0f} "
          f"{mx:>6.2f}x  " + " ".join("-" if s is None else f"{(s['put'] - s['step']) * 1000:.0f}"
                                     for s in r)
          + (f"  ({len(r) - len(ok)} without the scale call)" if len(ok) < len(r) else "")
          + (f"  ({problems} WARN/ERROR lines in the master's log)" if problems else ""))
    dec = [s for s in ok if s["decision"] is not None]
    print(row("step -> the last host's report at the master",
              [s["reports"] - s["step"] for s in ok]))
    print(row("-> the decision (waiting for the group's tick)",
              [s["decision"] - s["reports"] for s in dec]))
    print(row("decision -> the PUT (the scale call)", [s["put"] - s["decision"] for s in dec]))
    print(row("step -> the first scale call (any count)", [s["first"] - s["step"] for s in ok]),
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/autoscaler")
    ap.add_argument("--agents", type=int, default=3, help="K agent processes (1 to 20)")
    ap.add_argument("--intervals", default="1:1,0.4:0.4",
                    help="AGENT:GROUP interval pairs in seconds, comma-separated")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--react", action="store_true",
                    help="the metric's `react: true`: a changed report starts the round at once")
    a = ap.parse_args()
    a.bin = os.path.abspath(a.bin)
    if not 1 <= a.agents <= 20:
        ap.error("--agents: 1 to 20 (each is a process, and a fork of its command every interval)")
    if a.steps < 1:
        ap.error("--steps: at least 1")
    pairs = []
    for p in a.intervals.split(","):
        try:
            ag, gr = (float(x) for x in p.split(":"))
        except ValueError:
            ap.error(f"--intervals: '{p}' is not AGENT:GROUP")
        if ag < 0.1 or gr < 0.1:
            ap.error(f"--intervals: '{p}': each interval at least 0.1 s")
        pairs.append((ag, gr))
    # Ctrl-C (even when started with SIGINT ignored, as in a script's background) and SIGTERM
    # raise, so that the finally blocks stop every process.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    random.seed(11)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    low, high = counts(a.agents)
    print(f"{a.agents} agents, {FIELD} {value_for(low, a.agents)} <-> "
          f"{value_for(high, a.agents)} per host (target {TARGET}): {low} <-> {high} replicas")
    print(f"{'agent':>6} {'group':>6} {'steps':>5} {'p50 ms':>7} {'max ms':>7} {'max/1s':>7}"
          f"  each step, ms")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for ag, gr in pairs:
                report(ag, gr, *run(a, ag, gr, url, tmp))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, OSError) as e:  # a process exited (Ctrl-C reaches them too), no
        print(f"reaction_agents: {e}", file=sys.stderr)  # report came, or no binary
        return 1
    finally:
        srv.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
