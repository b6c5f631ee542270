#!/usr/bin/env python3
"""`make install` with PREFIX and DESTDIR installs exactly the expected files, from the build
that holds the binary under test (BUILD=its directory): the binary, the two man pages, the
documentation (README, docs/, examples/, deploy/) and the systemd unit, whose ExecStart= names
the installed binary; `make uninstall` removes them again.

    python3 tests/integration/test_install.py --bin build/autoscaler
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import REPO, main, test  # noqa: E402

UNIT = os.path.join("deploy", "systemd", "autoscaler.service")


def make(ctx, *args):
    build = os.path.dirname(ctx.bin)
    assert os.path.isfile(os.path.join(build, "CMakeCache.txt")), f"{build} is not a CMake build"
    r = subprocess.run(["make", "--no-print-directory", "-C", REPO, f"BUILD={build}", "JOBS=1",
                        *args], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r


def tree(root):
    """Every file and symlink under root, relative, and the mode of each."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = os.lstat(p).st_mode & 0o7777
    return out


def expected(prefix):
    doc = f"{prefix}/share/doc/autoscaler"
    want = {f"{prefix}/bin/autoscaler", f"{prefix}/share/man/man1/autoscaler.1",
            f"{prefix}/share/man/man5/autoscaler.yaml.5",
            f"{prefix}/lib/systemd/system/autoscaler.service", f"{doc}/README.md"}
    for top in ("docs", "examples", "deploy"):
        for rel in tree(os.path.join(REPO, top)):
            if os.path.join(top, rel) != UNIT:          # the unit goes to lib/systemd/system
                want.add(f"{doc}/{top}/{rel}")
    return want


def read(path):
    with open(path, "rb") as f:
        return f.read()


@test
def test_install_prefix_usr(ctx):
    dest = os.path.join(ctx.tmp, "dest")
    make(ctx, "install", f"DESTDIR={dest}", "PREFIX=/usr")
    got = tree(dest)
    want = {p.lstrip("/") for p in expected("/usr")}
    assert set(got) == want, (sorted(set(got) - want), sorted(want - set(got)))
    build = os.path.dirname(ctx.bin)
    assert read(os.path.join(dest, "usr/bin/autoscaler")) == read(ctx.bin)
    assert got["usr/bin/autoscaler"] == 0o755, oct(got["usr/bin/autoscaler"])
    for rel in ("man1/autoscaler.1", "man5/autoscaler.yaml.5"):
        assert read(os.path.join(dest, "usr/share/man", rel)) == read(os.path.join(build, "man", rel))
        assert got[f"usr/share/man/{rel}"] == 0o644
    # With PREFIX=/usr the unit is installed as it is in the repository.
    assert read(os.path.join(dest, "usr/lib/systemd/system/autoscaler.service")) == \
        read(os.path.join(REPO, UNIT))
    assert got["usr/share/doc/autoscaler/docs/README.md"] == 0o644
    # Executable examples stay executable (a worker script).
    for rel, mode in tree(os.path.join(REPO, "examples")).items():
        assert got[f"usr/share/doc/autoscaler/examples/{rel}"] & 0o111 == mode & 0o111, rel

    make(ctx, "uninstall", f"DESTDIR={dest}", "PREFIX=/usr")
    assert tree(dest) == {}, sorted(tree(dest))[:5]


@test
def test_install_default_prefix(ctx):
    dest = os.path.join(ctx.tmp, "dest")
    make(ctx, "install", f"DESTDIR={dest}")               # PREFIX defaults to /usr/local
    got = tree(dest)
    want = {p.lstrip("/") for p in expected("/usr/local")}
    assert set(got) == want, (sorted(set(got) - want), sorted(want - set(got)))
    unit = read(os.path.join(dest, "usr/local/lib/systemd/system/autoscaler.service")).decode()
    assert "\nExecStart=/usr/local/bin/autoscaler run -c /etc/autoscaler/autoscaler.yaml\n" in unit
    assert unit.count("/usr/bin/autoscaler") == 0, "every mention names the installed binary"


if __name__ == "__main__":
    sys.exit(main())
