/* The process pool's state (src/scalers/process.c, the `process` scaler), shared with
 * process_io.c: each worker's status channel, the stop of one worker, and the worker list.
 * Not a backend: neither file but process.c exports an ops table. */
#ifndef AS_SCALERS_PROCESS_POOL_H
#define AS_SCALERS_PROCESS_POOL_H

#include <stdint.h>
#include <sys/types.h>

#include "core/plugin.h"
#include "scalers/process_status.h"
#include "util/err.h"

enum { AS_POOL_OUT_INHERIT, AS_POOL_OUT_NULL, AS_POOL_OUT_LOG };

/* `stop_signal`'s names (NULL-terminated) and numbers, index for index. */
extern const char *const as_pool_signal_names[];
extern const int as_pool_signals[];

struct process_scaler;

struct worker {
    struct process_scaler *s;
    int slot;
    int wanted;           /* counts in the pool's size */
    struct as_proc *proc; /* NULL when not running */
    pid_t pid;
    unsigned long long start; /* its start time (clock ticks after boot), for the pid file */
    int64_t started_ms;
    unsigned long long cpu_ticks; /* utime + stime at the last sample */
    int64_t busy_ms;              /* last sample that saw CPU used (or the start) */
    int sampled;                  /* its CPU time has been sampled */
    int cpu_busy;                 /* its CPU time moved between the last two samples */
    int64_t cpu_busy_from;        /* the first sample of that run of busy samples */
    int stopping;                 /* asked to stop: the exit is expected */
    int64_t stop_ms;              /* when */
    int64_t kill_at;              /* SIGKILL then, unless it has exited */
    struct as_timer *kill_timer;
    unsigned crashes; /* consecutive exits of a wanted worker that ran briefly */
    struct as_timer *restart;
    /* the status channel */
    int status_fd; /* our read end, -1 when closed */
    struct as_status_reader rd;
    enum as_wstate state;
    int64_t state_ms; /* when it reported state */
    char task[AS_STATUS_TASK_MAX];
    unsigned long long garbage; /* lines ignored */
};

struct process_scaler {
    char **command;
    char *working_dir;
    int64_t grace, backoff, backoff_max, drain_grace;
    int output, stop_signal, drain, status_channel;
    /* runtime */
    struct as_ctx ctx;
    struct worker **slots; /* nslots allocated workers, stable addresses */
    int nslots;
    int size; /* wanted workers */
    int live; /* children not yet reaped */
    struct as_timer *deferred;
    int stopping;
    struct as_timer *stop_timer;
    as_stopped_cb stop_done;
    void *stop_arg;
    struct as_pidfile *pids; /* <state_dir>/<group>.pids; NULL without a state_dir */
    char *list_path;         /* <state_dir>/<group>.workers; NULL: none kept */
    struct as_timer *list_timer;
    int64_t list_at; /* loop time of the last write */
    int list_failed;
    unsigned long instance;
    unsigned long long self_start; /* the daemon's start time */
};

/* Whether w is busy: it reported BUSY, or it has no status and its CPU time moved between
 * the last two samples (the fallback; the queue policy saw it busy, idle 0). */
static inline int as_pool_busy(const struct worker *w)
{
    return w->state == AS_WSTATE_BUSY ||
           (w->state == AS_WSTATE_UNKNOWN && w->sampled && w->cpu_busy);
}

/* ---- process_io.c ---- */

/* Opens w's status pipe: our end (non-blocking) in w->status_fd. Returns the worker's end
 * (close-on-exec, blocking; the caller passes it to the child, then closes it), or -1 with
 * errno. */
int as_pool_status_open(struct worker *w);

/* Watches w->status_fd on the loop; on failure closes it (the worker is then judged by its CPU
 * time). */
void as_pool_status_watch(struct worker *w);

/* Reads what w's status channel holds now (a scale-down chooses on the latest word, not on
 * what the loop will deliver after it). No-op when closed. */
void as_pool_status_poll(struct worker *w);

/* Stops reading w's status channel and closes it; no-op when closed. */
void as_pool_status_close(struct worker *w);

/* w no longer counts in the pool's size; a running worker gets stop_signal and SIGKILL after
 * grace (with drain, a busy one (as_pool_busy) after drain_grace, or grace after it reports
 * FREE). A worker already stopping keeps its deadline. */
void as_pool_retire(struct worker *w);

/* Opens <state_dir>/<group>.workers for s (ctx set), unless another running daemon keeps it
 * (logged; the pool then keeps none). Returns 0, or -1 with err. */
int as_pool_list_open(struct process_scaler *s, struct as_err *err);

/* Something the list shows changed: it is rewritten within a second (never more often). */
void as_pool_list_touch(struct process_scaler *s);

/* Rewrites the list now. */
void as_pool_list_flush(struct process_scaler *s);

/* The pool has stopped: removes the list unless another pool (a reload's) has taken it over;
 * frees what as_pool_list_open allocated. */
void as_pool_list_close(struct process_scaler *s);

#endif
