#!/usr/bin/env python3
"""An example queue worker for the `process` scaler (docs/scalers/process.md), standard library
only. It takes one task at a time from a Redis list (BLPOP), writes `BUSY <task>` before each and
`FREE` after on the status channel the pool gives it (AUTOSCALER_STATUS_FD), and on SIGTERM it
finishes the task at hand and exits: a task taken is never lost. A task is "NAME" or
"NAME:SECONDS" (it sleeps that long). Each event is a line "PID WORKER EVENT" in WORKER_LOG:
ready, start NAME, done NAME, signal 15.

    REDIS_URL  redis://HOST:PORT (default redis://127.0.0.1:6379)
    QUEUE      the list (default tasks)
    WORKER_LOG the record (default worker-tasks.log)
"""
import os, signal, socket, time, urllib.parse

url = urllib.parse.urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
queue = os.environ.get("QUEUE", "tasks").encode()
log = os.open(os.environ.get("WORKER_LOG", "worker-tasks.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
status = int(os.environ.get("AUTOSCALER_STATUS_FD", "-1"))
me, stop = f"{os.getpid()} {os.environ.get('AUTOSCALER_WORKER', '-')}", []

def note(event): os.write(log, f"{me} {event}\n".encode())            # one write: no torn lines
def say(line): status >= 0 and os.write(status, f"{line}\n".encode())  # BUSY <task> / FREE

signal.signal(signal.SIGTERM, lambda sig, _: (stop.append(sig), note(f"signal {sig}")))
redis = socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379)).makefile("rwb")
note("ready"), say("FREE")
while not stop:  # BLPOP waits at most 1 s, so a stop is noticed within a second
    redis.write(b"*3\r\n$5\r\nBLPOP\r\n$%d\r\n%s\r\n$1\r\n1\r\n" % (len(queue), queue)), redis.flush()
    head = redis.readline()
    if head != b"*2\r\n":  # *-1: nothing came; anything else is an error reply
        if head.startswith(b"*-1"): continue
        raise SystemExit(f"redis: {head.decode().strip()}")
    for _ in "kv": task = redis.read(int(redis.readline()[1:]) + 2)[:-2].decode()  # key, then value
    say(f"BUSY {task}"), note(f"start {task}")
    time.sleep(float(task.partition(":")[2] or 0))  # the work (a signal does not cut it short)
    note(f"done {task}"), say("FREE")
