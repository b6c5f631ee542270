#!/usr/bin/env python3
"""The project's container file (Dockerfile at the root; deploy/kubernetes runs its image):
its runtime stage installs exactly the Debian packages of the shared libraries the binary
links (DT_NEEDED, resolved by ldd, mapped to packages by dpkg -S; libc6 is in the base image),
plus CA certificates and time zones; its build stage installs the -dev package of every
pkg-config module CMakeLists.txt asks for, and .dockerignore lets in what it copies.

The binary under test is the sanitizer build: its DT_NEEDED is a release build's plus the
sanitizer runtimes (libasan, libubsan), which are left out here.

    python3 tests/integration/test_container.py --bin build/autoscaler
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, main, test  # noqa: E402

CONTAINERFILE = os.path.join(REPO, "Dockerfile")
BASE_IMAGE = {"libc6"}                         # in debian:12-slim (essential)
NOT_LIBRARIES = {"ca-certificates", "tzdata"}  # data the image adds on purpose
SANITIZERS = re.compile(r"^lib(asan|ubsan|lsan|tsan)\.so")


def stages():
    """[(FROM line, [instructions, continuation lines joined])] of the container file."""
    with open(CONTAINERFILE) as f:
        text = re.sub(r"\\\n", " ", f.read())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append((line, []))
        else:
            assert out, f"{line!r} before FROM"
            out[-1][1].append(line)
    return out


def apt_installed(instructions):
    pkgs = set()
    for ins in instructions:
        for cmd in ins.split("&&"):
            words = cmd.split()
            if "apt-get" in words and "install" in words:
                pkgs |= {w for w in words[words.index("install") + 1:] if not w.startswith("-")}
    return pkgs


def run(*argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout


def package_of(path):
    """The Debian package that ships path (tried as is and with /usr merged or split)."""
    alt = path[4:] if path.startswith("/usr/") else "/usr" + path
    for p in (path, alt, os.path.realpath(path)):
        rc, out = run("dpkg", "-S", p)
        if rc == 0:
            return out.split(":", 1)[0].strip()
    raise AssertionError(f"no package ships {path}")


def linked_packages(binary):
    rc, out = run("readelf", "-d", binary)
    assert rc == 0, "readelf failed"
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    assert "libc.so.6" in needed, needed
    rc, out = run("ldd", binary)
    assert rc == 0, "ldd failed"
    where = dict(re.findall(r"^\s*(\S+) => (/\S+)", out, re.M))
    pkgs = {}
    for lib in needed:
        if not SANITIZERS.match(lib):
            assert lib in where, f"ldd does not resolve {lib}"
            pkgs[package_of(where[lib])] = lib
    return pkgs


def tools_missing():
    missing = [t for t in ("dpkg", "readelf", "ldd") if shutil.which(t) is None]
    if missing:
        print(f"SKIP: {', '.join(missing)} not installed (a Debian system with binutils)",
              flush=True)
    return missing


@test
def test_runtime_stage_installs_exactly_the_linked_libraries(ctx):
    if tools_missing():
        return
    st = stages()
    assert len(st) == 2 and " AS build" in st[0][0] and st[1][0] == "FROM debian:12-slim", st
    runtime = apt_installed(st[1][1])
    linked = linked_packages(ctx.bin)
    assert {"libcurl4", "libssl3"} <= set(linked), linked
    want = (set(linked) - BASE_IMAGE) | NOT_LIBRARIES
    assert runtime == want, (f"missing: {sorted(want - runtime)}; "
                             f"not linked: {sorted(runtime - want)}; linked: {linked}")
    # The binary the build stage makes is what the runtime stage runs.
    assert any(re.match(r"COPY --from=build /src/build/autoscaler /usr/local/bin/autoscaler$", i)
               for i in st[1][1]), st[1][1]


@test
def test_build_stage_has_every_dev_package(ctx):
    if tools_missing() or shutil.which("pkg-config") is None:
        return
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        m = re.search(r"pkg_check_modules\(DEPS REQUIRED IMPORTED_TARGET([^)]*)\)", f.read())
    modules = m.group(1).split()
    assert "libcurl" in modules and "libmicrohttpd" in modules, modules
    build = apt_installed(stages()[0][1])
    for mod in modules:
        rc, pc = run("pkg-config", "--path", mod)
        assert rc == 0, f"pkg-config does not know {mod}"
        pkg = package_of(pc.strip())
        assert pkg in build, f"the build stage does not install {pkg} (pkg-config {mod})"
    assert {"build-essential", "cmake", "pkg-config"} <= build, build


@test
def test_context_has_what_the_build_copies(ctx):
    with open(os.path.join(REPO, ".dockerignore")) as f:
        rules = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    assert rules[0] == "*", rules                 # everything out, then what the build needs
    allowed = {r[1:].rstrip("/") for r in rules[1:] if r.startswith("!")}
    copies = [i.split()[1:-1] for i in stages()[0][1] if i.upper().startswith("COPY ")]
    assert copies, "the build stage copies nothing"
    for srcs in copies:
        for src in srcs:
            src = src.rstrip("/")
            assert src in allowed, f"COPY {src}: .dockerignore keeps it out"
            assert os.path.exists(os.path.join(REPO, src)), src


if __name__ == "__main__":
    sys.exit(main())
