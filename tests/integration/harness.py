"""Helpers for the autoscaler's integration tests. Standard library only.

What is here:
  free_port()                 a free TCP port on 127.0.0.1
  temp_dir()                  a temporary directory (context manager)
  yaml_dump(obj)              a dict/list/scalar as YAML text (hand-written; no PyYAML)
  write_config(dir, cfg)      writes a dict or YAML text to a file, returns its path
  wait_for(pred, timeout)     polls until pred() is truthy; every wait is bounded
  parse_line / Decision       the daemon's log lines
  Daemon                      `autoscaler run` as a subprocess: logs, signals, clean exit,
                              decisions made (counted, whether INFO logged them or not)
  run_cli(bin, args)          a short-lived command (`check`, `run --once`), bounded
  test / main                 a tiny runner: `N passed, M failed` on the last line, exit 1 if
                              any failed

Everything talks to 127.0.0.1 only. Every process a test starts is stopped at the end of the
test, and again at exit (atexit) in case a test was interrupted.
"""

import argparse
import atexit
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Optional

HOST = "127.0.0.1"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


# ---- small helpers -----------------------------------------------------------------------------

def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def temp_dir(prefix: str = "as-it-", keep: bool = False):
    """A fresh directory, removed afterwards unless keep is set."""
    d = tempfile.mkdtemp(prefix=prefix)
    try:
        yield d
    finally:
        if not keep:
            shutil.rmtree(d, ignore_errors=True)


class WaitTimeout(AssertionError):
    pass


def live_processes(marker):
    """pid -> (argv, ppid, pgid) of every live (not zombie) process with marker in an argument
    of its command line."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            with open(f"/proc/{name}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if fields[0] != "Z" and any(marker in a for a in argv):
            out[int(name)] = (argv, int(fields[1]), int(fields[2]))
    return out


def wait_for(pred: Callable, timeout: float, what: str = "condition", interval: float = 0.05,
             check: Optional[Callable] = None):
    """Polls pred() until it returns something truthy and returns that value.

    Raises WaitTimeout after `timeout` seconds. `check`, if given, runs on every poll and may
    raise to stop early (e.g. when the daemon died)."""
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


# ---- YAML --------------------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./:@+-]*")
_NUMBER_LIKE = re.compile(r"[-+]?(\.?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+"
                          r"|0o[0-7_]+|0b[01_]+|\.inf|\.nan|[0-9]+(:[0-9]+)+)")
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ""}


def yaml_scalar(v) -> str:
    """One scalar as YAML. Strings stay plain when that is unambiguous (so `500ms` and URLs
    read naturally), else they are single-quoted (or JSON-quoted if they hold control chars)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v} to YAML")
        return repr(v)
    if not isinstance(v, str):
        raise TypeError(f"cannot write {type(v).__name__} to YAML")
    if any(ord(c) < 0x20 or c == "\x7f" for c in v):
        return json.dumps(v)  # a JSON string is a valid YAML double-quoted scalar
    if (_PLAIN.fullmatch(v) and not v.endswith(":") and v.lower() not in _RESERVED
            and not _NUMBER_LIKE.fullmatch(v)):
        return v
    return "'" + v.replace("'", "''") + "'"


def yaml_dump(obj, indent: int = 0) -> str:
    """A nested dict/list/scalar structure as block-style YAML (2-space indent)."""
    return "\n".join(_yaml_lines(obj, indent)) + "\n"


def _yaml_lines(obj, indent: int) -> list:
    pad = " " * indent
    if isinstance(obj, dict):
        if not obj:
            return [pad + "{}"]
        out = []
        for k, v in obj.items():
            key = yaml_scalar(str(k))
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{key}:")
                out.extend(_yaml_lines(v, indent + 2))
            else:
                out.append(f"{pad}{key}: {_yaml_inline(v)}")
        return out
    if isinstance(obj, list):
        if not obj:
            return [pad + "[]"]
        out = []
        for item in obj:
            if isinstance(item, (dict, list)) and item:
                sub = _yaml_lines(item, indent + 2)
                # The first line of the item goes after "- " (same column as the rest).
                out.append(f"{pad}- {sub[0][indent + 2:]}")
                out.extend(sub[1:])
            else:
                out.append(f"{pad}- {_yaml_inline(item)}")
        return out
    return [pad + yaml_scalar(obj)]


def _yaml_inline(v) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return yaml_scalar(v)


def write_config(directory: str, cfg, name: str = "config.yaml") -> str:
    """Writes cfg (a dict, dumped as YAML, or YAML text as is) and returns the absolute path."""
    path = os.path.join(os.path.abspath(directory), name)
    text = cfg if isinstance(cfg, str) else yaml_dump(cfg)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def find_key(text: str, key: str, nth: int = 1):
    """(line, col), both 1-based, of the nth line whose first token is `key:` in YAML text."""
    seen = 0
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^(\s*(?:-\s+)?)" + re.escape(key) + r"\s*:", line)
        if m:
            seen += 1
            if seen == nth:
                return i, len(m.group(1)) + 1
    raise KeyError(f"key {key!r} not found in the YAML text")


# ---- log lines ---------------------------------------------------------------------------------

# 2026-11-22T23:59:01.123Z INFO  engine[web]: decision current=3 desired=4 cpu=0.91 reason="..."
LINE_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)\s+([A-Z]+)\s+(.*)$")
DECISION_RE = re.compile(r"engine\[([\w.-]+)\]: decision current=(\d+) desired=(\d+)(.*)$")
SCALED_RE = re.compile(r"engine\[([\w.-]+)\]: scaled (\d+)->(\d+)")
RUNNING_RE = re.compile(r"main: autoscaler \S+ running ")
SCALE_FAILED_RE = re.compile(r"engine\[([\w.-]+)\]: scale (\d+)->(\d+) .*failed"
                             r"(?: \(attempt (\d+)/(\d+)([^)]*)\))?")
VALUE_RE = re.compile(r"\b([\w.-]+)=(failed|[-+0-9.eE]+|nan|inf)(?=\s|$)")
SANITIZER_RE = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer"
                          r"|runtime error:|ThreadSanitizer")


@dataclass
class LogLine:
    ts: str
    level: str
    text: str      # everything after the level
    raw: str


@dataclass
class Decision:
    group: str
    current: int
    desired: int
    values: dict   # metric name -> float, or None for "failed"
    line: LogLine

    @property
    def any_failed(self) -> bool:
        return any(v is None for v in self.values.values())


def parse_line(raw: str) -> Optional[LogLine]:
    m = LINE_RE.match(raw.rstrip("\n"))
    return LogLine(m.group(1), m.group(2), m.group(3), raw.rstrip("\n")) if m else None


def log_lines(text: str) -> list:
    """Parsed LogLines of a log text (complete lines only; unparsable lines skipped)."""
    raw = text.split("\n")[:-1]
    return [ln for ln in (parse_line(r) for r in raw) if ln is not None]


def decisions_of(text: str) -> list:
    """Decisions found in a log text."""
    return [d for d in (parse_decision(ln) for ln in log_lines(text)) if d]


def parse_decision(line: LogLine) -> Optional[Decision]:
    m = DECISION_RE.search(line.text)
    if not m:
        return None
    rest = m.group(4).split(" reason=", 1)[0]
    values = {}
    for name, v in VALUE_RE.findall(rest):
        values[name] = None if v == "failed" else float(v)
    return Decision(m.group(1), int(m.group(2)), int(m.group(3)), values, line)


# ---- processes ---------------------------------------------------------------------------------

_live = {}  # pid -> Popen, every process started here and not yet reaped


def _kill_leftovers():
    for pid, p in list(_live.items()):
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # its own group (start_new_session)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=5)
        _live.pop(pid, None)


atexit.register(_kill_leftovers)


def _popen(argv, env, stdout, stderr, cwd):
    # A new session: the daemon gets no terminal signals meant for the test runner, and
    # killpg() on its pid reaches it (and anything it spawned) without touching us.
    p = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                         cwd=cwd, start_new_session=True)
    _live[p.pid] = p
    return p


def _env(extra: Optional[dict]) -> dict:
    env = dict(os.environ)
    env.update(extra or {})
    return env


def run_cli(binary: str, args, timeout: float = 20.0, env: Optional[dict] = None,
            cwd: Optional[str] = None) -> subprocess.CompletedProcess:
    """Runs `binary args...` to completion within `timeout` s (killed and failed otherwise)."""
    argv = [binary] + list(args)
    p = _popen(argv, _env(env), subprocess.PIPE, subprocess.PIPE, cwd)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=5)
        raise AssertionError(f"{' '.join(argv)} did not finish within {timeout:g}s;\n"
                             f"stderr:\n{err.decode(errors='replace')[-3000:]}")
    finally:
        _live.pop(p.pid, None)
    return subprocess.CompletedProcess(argv, p.returncode, out.decode(errors="replace"),
                                       err.decode(errors="replace"))


class DaemonDied(AssertionError):
    pass


class Daemon:
    """`autoscaler run -c CONFIG [extra...]` as a subprocess.

    stdout and stderr go to files in `workdir` (no pipe to fill up). The log is read from
    `log_file` (the config's), else from stderr. Always stop() or kill() it; the runner's
    Ctx does that for daemons it started.
    """

    def __init__(self, binary: str, config_path: str, workdir: str, extra=(),
                 log_file: Optional[str] = None, env: Optional[dict] = None,
                 name: str = "daemon"):
        self.argv = [binary, "run", "-c", config_path] + list(extra)
        self.workdir = workdir
        self.log_file = log_file
        self.stdout_path = os.path.join(workdir, f"{name}.stdout")
        self.stderr_path = os.path.join(workdir, f"{name}.stderr")
        self.env = _env(env)
        self.proc: Optional[subprocess.Popen] = None
        self.returncode: Optional[int] = None

    def start(self) -> "Daemon":
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = _popen(self.argv, self.env, out, err, self.workdir)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        """Raises DaemonDied (with the log's tail) if the daemon has exited."""
        if not self.alive():
            rc = self.proc.poll() if self.proc else None
            raise DaemonDied(f"the daemon exited unexpectedly (code {rc});\n{self.tail()}")

    # -- logs --

    def _read(self, path: Optional[str]) -> str:
        if not path:
            return ""
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stderr(self) -> str:
        return self._read(self.stderr_path)

    def stdout(self) -> str:
        return self._read(self.stdout_path)

    def log_text(self) -> str:
        return self._read(self.log_file) if self.log_file else self.stderr()

    def lines(self, since: int = 0, until: Optional[int] = None) -> list:
        """Parsed log lines (LogLine) with index in [since, until) (marks from mark());
        unparsable lines skipped. Only complete lines (ending in a newline) are returned."""
        text = self.log_text()
        raw = text.split("\n")[:-1]  # the last piece is "" or a line still being written
        return [ln for ln in (parse_line(r) for r in raw[since:until]) if ln is not None]

    def mark(self) -> int:
        """A position in the log; pass it as `since` to look at later lines only."""
        return self.log_text().count("\n")

    def grep(self, pattern: str, since: int = 0) -> list:
        """re.search matches of pattern over log lines (raw text)."""
        rx = re.compile(pattern)
        return [m for m in (rx.search(ln.raw) for ln in self.lines(since)) if m]

    def decisions(self, since: int = 0, group: Optional[str] = None,
                  until: Optional[int] = None) -> list:
        out = [d for d in (parse_decision(ln) for ln in self.lines(since, until)) if d]
        return [d for d in out if group is None or d.group == group]

    def decided(self, group: str = "web") -> int:
        """The decisions group has made, from the counters line SIGUSR1 makes the daemon write.
        At INFO a decision has a line only when it says something new (docs/logging.md); the
        counters count every one, and come from the thread that writes the decision lines, so
        each decision they count has had its line (if any) before them."""
        self.wait_log(RUNNING_RE.pattern, 15)  # SIGUSR1 is handled from then on
        mark = self.mark()
        self.send_signal(signal.SIGUSR1)
        m = self.wait_log(rf"engine\[{re.escape(group)}\]: counters .*\bdecisions=(\d+)", 5,
                          since=mark)
        return int(m.group(1))

    def wait_decided(self, n: int, timeout: float, group: str = "web", after: int = 0) -> int:
        """Waits until group has made at least n decisions more than `after` (a decided()
        value; 0: since the start) whether they were logged or not; returns decided()."""
        def enough():
            k = self.decided(group)
            return k if k >= after + n else None
        return wait_for(enough, timeout, f"{n} decision(s) of {group}", interval=0.2,
                        check=self.check_alive)

    def scaled(self, since: int = 0) -> list:
        """[(from, to)] of successful scale lines."""
        return [(int(m.group(2)), int(m.group(3))) for m in self.grep(SCALED_RE.pattern, since)]

    def tail(self, n: int = 40) -> str:
        text = self.log_text() or self.stderr()
        lines = text.splitlines()[-n:]
        err = self.stderr()
        extra = ""
        if self.log_file and SANITIZER_RE.search(err):
            extra = "\n--- stderr (sanitizer) ---\n" + err[-4000:]
        return "--- log tail ---\n" + "\n".join(lines) + extra

    # -- waiting --

    def wait_until(self, pred: Callable, timeout: float, what: str = "condition"):
        """wait_for(), failing early if the daemon exits."""
        return wait_for(pred, timeout, what, check=self.check_alive)

    def wait_log(self, pattern: str, timeout: float, since: int = 0):
        """The first match of `pattern` in a log line from `since` on."""
        def find():
            hits = self.grep(pattern, since)
            return hits[0] if hits else None
        return self.wait_until(find, timeout, f"a log line matching /{pattern}/")

    def wait_decisions(self, n: int, timeout: float, since: int = 0,
                       where: Optional[Callable] = None) -> list:
        """Waits for at least n decision lines (optionally only those where(d) holds)."""
        def enough():
            ds = [d for d in self.decisions(since) if where is None or where(d)]
            return ds if len(ds) >= n else None
        return self.wait_until(enough, timeout, f"{n} decision line(s)")

    # -- stopping --

    def send_signal(self, sig: int) -> None:
        self.check_alive()
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout: float) -> int:
        """The exit code, waiting at most `timeout` s (AssertionError if still running)."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the daemon did not exit within {timeout:g}s;\n{self.tail()}")
        _live.pop(self.proc.pid, None)
        return self.returncode

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> float:
        """Sends sig and asserts a clean exit (code 0, no sanitizer report) within timeout.
        Returns the seconds it took."""
        t0 = time.monotonic()
        self.send_signal(sig)
        rc = self.wait_exit(timeout)
        took = time.monotonic() - t0
        assert rc == 0, (f"the daemon exited with code {rc} after {signal.Signals(sig).name} "
                         f"(expected 0);\n{self.tail()}")
        self.assert_no_sanitizer_report()
        return took

    def assert_no_sanitizer_report(self) -> None:
        err = self.stderr()
        m = SANITIZER_RE.search(err)
        assert m is None, f"sanitizer report on stderr:\n{err[max(0, m.start() - 200):][:6000]}"

    def kill(self) -> None:
        """SIGKILL if still running (for cleanup; never fails)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        _live.pop(self.proc.pid, None)


# ---- runner ------------------------------------------------------------------------------------

_TESTS = []


def test(fn):
    """Registers a test function fn(ctx); tests run in definition order."""
    _TESTS.append(fn)
    return fn


class TestTimeout(AssertionError):
    pass


class Ctx:
    """What a test gets: the binary, a fresh temp dir, and cleanup for what it starts."""

    def __init__(self, args, tmp: str):
        self.args = args
        self.tmp = tmp
        self.daemons = []
        self._cleanups = []

    @property
    def bin(self) -> str:
        b = self.args.bin
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            raise AssertionError(f"autoscaler binary not found or not executable: {b} "
                                 f"(build it, or pass --bin PATH)")
        return b

    def defer(self, fn: Callable) -> None:
        """Runs fn() when the test ends (last registered, first run), even on failure."""
        self._cleanups.append(fn)

    def daemon(self, config_path: str, extra=(), log_file: Optional[str] = None,
               env: Optional[dict] = None, start: bool = True) -> Daemon:
        """A Daemon in this test's temp dir, killed at the end of the test if still running."""
        d = Daemon(self.bin, config_path, self.tmp, extra, log_file, env,
                   name=f"daemon{len(self.daemons) + 1}")
        self.daemons.append(d)
        self.defer(d.kill)
        return d.start() if start else d

    def cleanup(self) -> None:
        while self._cleanups:
            fn = self._cleanups.pop()
            try:
                fn()
            except Exception:  # cleanup must not hide the test's own result
                traceback.print_exc()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="autoscaler integration tests")
    p.add_argument("--bin", default=os.environ.get("AUTOSCALER_BIN",
                                                   os.path.join(REPO, "build", "autoscaler")),
                   help="path to the autoscaler binary (default: build/autoscaler)")
    p.add_argument("-k", dest="filter", default=None, help="run only tests whose name has this")
    p.add_argument("--keep", action="store_true", help="keep temp dirs (printed on failure)")
    p.add_argument("--test-timeout", type=float, default=60.0,
                   help="seconds before a single test is aborted (default 60)")
    a = p.parse_args(argv)
    a.bin = os.path.abspath(a.bin)
    return a


def _on_alarm(signum, frame):
    raise TestTimeout("the test exceeded its time limit")


def main(argv=None, needs_bin: bool = True) -> int:
    """Runs the registered tests; prints `N passed, M failed` as the last line.
    Returns the exit code (1 if any test failed) for sys.exit(). With needs_bin, a missing
    binary fails every test at once with one clear message."""
    args = parse_args(argv)
    # A runner started in the background by a non-interactive shell inherits SIGINT as
    # ignored, and so would every daemon it spawns (ignored signals survive exec). Restore
    # the default here so `stop(SIGINT)` tests what we mean.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGALRM, _on_alarm)
    tests = [t for t in _TESTS if args.filter is None or args.filter in t.__name__]
    if needs_bin and not (os.path.isfile(args.bin) and os.access(args.bin, os.X_OK)):
        print(f"autoscaler binary not found or not executable: {args.bin} "
              f"(build it, or pass --bin PATH)", flush=True)
        print(f"0 passed, {len(tests)} failed", flush=True)
        return 1
    passed = failed = 0
    t_all = time.monotonic()
    for fn in tests:
        tmp = tempfile.mkdtemp(prefix=f"as-it-{fn.__name__}-")
        ctx = Ctx(args, tmp)
        t0 = time.monotonic()
        ok = False
        print(f"--- {fn.__name__}", flush=True)
        try:
            signal.setitimer(signal.ITIMER_REAL, args.test_timeout)
            fn(ctx)
            ok = True
        except Exception:
            print(traceback.format_exc().rstrip(), flush=True)
            for d in ctx.daemons:
                if d.proc is not None:
                    print(d.tail(), flush=True)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            ctx.cleanup()
        dt = time.monotonic() - t0
        if ok:
            passed += 1
            print(f"PASS {fn.__name__} ({dt:.1f}s)", flush=True)
        else:
            failed += 1
            print(f"FAIL {fn.__name__} ({dt:.1f}s)" + (f" [kept {tmp}]" if args.keep else ""),
                  flush=True)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    _kill_leftovers()
    print(f"total {time.monotonic() - t_all:.1f}s", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed or not tests else 0
