/* The worker list of a running process pool, <state_dir>/<group>.workers (a helper of
 * src/scalers/process.c, no ops table), which `autoscaler workers` prints.
 *
 * One JSON object, replaced whole (temporary file, rename; never fsync'ed: it describes
 * processes, which a reboot ends anyway):
 *
 *   {"format": "autoscaler workers 1", "group": "jobs",
 *    "daemon": {"pid": 4100, "start": 123456, "instance": 1},  the pool that writes it
 *    "updated": 1764000000000,                                 epoch ms
 *    "workers": [{"id": 0, "pid": 4242, "status": "BUSY", "task": "job-17",
 *                 "started": 1764000000000, "since": 1764000012000, "cpu": "",
 *                 "stopping": false, "garbage": 0}, ...]}
 *
 * `status` is BUSY, FREE or unknown (never reported); `since` is when the worker reported its
 * status; for an unknown one `cpu` says what its last CPU sample showed ("busy": its CPU time
 * moved, `since` is when it started moving; "idle": `since` is when it last moved; "": not
 * sampled yet, `since` 0; an older writer's file without `cpu` reads as ""); `pid` 0 is a
 * crashed worker waiting to restart; `stopping` a worker asked to stop that has not exited yet
 * (not counted in the pool's size); `garbage` the lines of its status channel that were
 * ignored. `daemon.start` is the daemon's start time (field 22 of /proc/PID/stat): with the pid
 * it tells a running daemon from one that died and left the file behind. */
#ifndef AS_PROCESS_LIST_H
#define AS_PROCESS_LIST_H

#include <stddef.h>
#include <stdint.h>

#include "scalers/process_status.h"
#include "util/err.h"

#define AS_WORKER_LIST_FORMAT "autoscaler workers 1"

/* What the CPU samples of a worker without status say. */
enum as_cpu_seen { AS_CPU_UNSAMPLED = 0, AS_CPU_IDLE, AS_CPU_BUSY };

struct as_worker_entry {
    int id;   /* AUTOSCALER_WORKER */
    long pid; /* 0: waiting to restart */
    enum as_wstate state;
    enum as_cpu_seen cpu;          /* state unknown: its last CPU sample */
    char task[AS_STATUS_TASK_MAX]; /* "" none */
    int64_t started_ms;            /* epoch ms; 0 unknown */
    int64_t since_ms;              /* epoch ms; 0 unknown */
    int stopping;
    unsigned long long garbage;
};

struct as_worker_list {
    char group[128];
    long daemon_pid;
    unsigned long long daemon_start;
    unsigned long instance;
    int64_t updated_ms;
    size_t n;
    struct as_worker_entry *w; /* n entries; owned (as_worker_list_free) when read */
};

/* Formats <state_dir>/<group>.workers into buf. Returns 0, or -1 when it does not fit. */
int as_worker_list_path(char *buf, size_t len, const char *state_dir, const char *group);

/* Writes l to path atomically (path.tmp, then rename). Returns 0, or -1 with errno. */
int as_worker_list_write(const char *path, const struct as_worker_list *l);

/* Reads path into *l (zeroed first). Returns 0; or -1 with errno ENOENT (no file) or EINVAL
 * (not a worker list, err says why) or another errno. Free with as_worker_list_free. */
int as_worker_list_read(const char *path, struct as_worker_list *l, struct as_err *err);

/* The same from len bytes of text (NUL not needed). Returns 0, or -1 with err (*l then needs
 * no freeing). Free with as_worker_list_free. */
int as_worker_list_parse(const char *text, size_t len, struct as_worker_list *l,
                         struct as_err *err);

/* Frees what as_worker_list_read allocated; l may be zeroed. */
void as_worker_list_free(struct as_worker_list *l);

/* 1 when the daemon the list names runs (its pid with its start time, not a zombie). */
int as_worker_list_live(const struct as_worker_list *l);

#endif
