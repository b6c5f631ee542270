#!/usr/bin/env python3
"""The provision and deprovision commands of the haproxy tests: a "fleet" of named_backend.py
processes on 127.0.0.1 standing in for machines (docs/scalers/haproxy.md, the contract).

    fleet.py provision DIR              starts a backend, prints 127.0.0.1:PORT last
    fleet.py deprovision DIR HOST PORT ID
                                        stops the backend on PORT

Provisioning is idempotent per AUTOSCALER_PROVISION_ID (run again with the same id, it
prints the same address and starts no second backend), as the docs ask of a real script.
Files in DIR steer it and record what it did:
    provision.log / deprovision.log    one line per start and end
    provision.fail / deprovision.fail  exit non-zero (3 / 4) with a message on stderr
    provision.garbage                  exit 0 with a last line that is no address
    provision.sleep                    seconds to wait before answering
    backend-PORT.pid                   the backend of PORT (removed when deprovisioned)
Each backend runs in a session of its own (a machine outlives the command that made it).
Standard library only.
"""

import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def log(d, name, text):
    with open(os.path.join(d, name), "a") as f:
        f.write(f"{time.time():.3f} {text}\n")


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def provision(d):
    pid = os.environ.get("AUTOSCALER_PROVISION_ID", "")
    log(d, "provision.log", f"start {pid} group={os.environ.get('AUTOSCALER_GROUP', '')}")
    if os.path.exists(os.path.join(d, "provision.fail")):
        print("fleet: no capacity left (told to fail)", file=sys.stderr)
        return 3
    if os.path.exists(os.path.join(d, "provision.sleep")):
        with open(os.path.join(d, "provision.sleep")) as f:
            time.sleep(float(f.read()))
    if os.path.exists(os.path.join(d, "provision.garbage")):
        print("127.0.0.1:8080 extra; bind :9999")
        return 0
    port_file = os.path.join(d, f"prov-{pid}.port")
    if os.path.exists(port_file):
        with open(port_file) as f:
            port = int(f.read())
    else:
        port = free_port()
        with open(port_file, "w") as f:
            f.write(f"{port}\n")
    if not listening(port):
        subprocess.Popen([sys.executable, os.path.join(HERE, "named_backend.py"), str(port),
                          f"app-{port}", "--pidfile", os.path.join(d, f"backend-{port}.pid")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while not listening(port):
            if time.monotonic() > deadline:
                print(f"fleet: backend on {port} did not start", file=sys.stderr)
                return 5
            time.sleep(0.02)
    log(d, "provision.log", f"done {pid} {port}")
    print("fleet: the machine is up")  # chatter before the address: only the last line counts
    print(f"127.0.0.1:{port}")
    return 0


def deprovision(d, host, port, pid):
    log(d, "deprovision.log", f"start {host} {port} {pid}")
    if os.path.exists(os.path.join(d, "deprovision.fail")):
        print("fleet: cannot reach the cloud (told to fail)", file=sys.stderr)
        return 4
    pidfile = os.path.join(d, f"backend-{port}.pid")
    if os.path.exists(pidfile):
        with open(pidfile) as f:
            bpid = int(f.read())
        try:
            os.kill(bpid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and listening(int(port)):
            time.sleep(0.02)
        os.unlink(pidfile)
    log(d, "deprovision.log", f"done {host} {port} {pid}")
    return 0


def stop_all(d):
    """Stops every backend DIR still records (test cleanup)."""
    for name in os.listdir(d):
        if name.startswith("backend-") and name.endswith(".pid"):
            try:
                with open(os.path.join(d, name)) as f:
                    os.kill(int(f.read()), signal.SIGKILL)
            except (OSError, ValueError):
                pass


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "provision":
        sys.exit(provision(sys.argv[2]))
    if cmd == "deprovision":
        sys.exit(deprovision(*sys.argv[2:6]))
    print(f"fleet: unknown command {cmd}", file=sys.stderr)
    sys.exit(2)
