#!/bin/sh
# A stand-in for one Celery worker with --concurrency 1, for examples/celery.yaml: it takes one
# task at a time from the `celery` list in Redis (BRPOP, as Celery's Redis transport does) and
# "runs" it for TASK_SECONDS. On SIGTERM (a scale-down, or the daemon stopping) it finishes the
# task at hand and exits, as Celery's warm shutdown does; the pool's `grace` must be longer
# than a task. Replace it with your real worker, e.g.
#   command: [celery, -A, proj, worker, --concurrency, "1", -n, "w{{worker}}@%h"]
#
# Needs redis-cli (Debian: redis-tools). Environment:
#   CELERY_BROKER_URL  redis://[:PASSWORD@]HOST[:PORT][/DB]  (default redis://127.0.0.1:6379/0)
#   CELERY_QUEUE       the list (default celery)
#   TASK_SECONDS       how long a task takes (default 1)
# AUTOSCALER_WORKER (this worker's slot) comes from the process scaler.
url=${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}
queue=${CELERY_QUEUE:-celery}
secs=${TASK_SECONDS:-1}
me=${AUTOSCALER_WORKER:-0}
stop=0
nl='
'
trap 'stop=1' TERM INT
while [ "$stop" = 0 ]; do
    # The signal goes to the whole process group: redis-cli and the task ignore it, so a task
    # taken from the queue is never lost; this shell notes it and stops after the task.
    out=$( (trap '' TERM INT; exec redis-cli -u "$url" --no-auth-warning BRPOP "$queue" 1) 2>&1) ||
        out="error: $out"
    case $out in
    "$queue"*)
        # The task is the reply's last line. No pipeline here: a SIGTERM arriving now would
        # kill a `tail` and print the task's name empty.
        echo "worker $me: task ${out##*"$nl"}"
        (trap '' TERM INT; exec sleep "$secs")
        ;;
    "") ;; # nothing within a second: ask again
    *)
        echo "worker $me: $out" >&2 # Redis is down: try again in a second
        sleep 1
        ;;
    esac
done
