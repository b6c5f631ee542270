/* Scaler `process`: supervises N local copies of a command, the embedded default scaler.
 *
 * Workers live in slots 0..N-1; slot i runs `command` ({{group}} and {{worker}} substituted,
 * no shell) with AUTOSCALER_GROUP, AUTOSCALER_WORKER=i and AUTOSCALER_REPLICAS (the pool size
 * when it started), in its own process group.
 *   set(n): grows by spawning the missing slots; shrinks by sending SIGTERM to the process
 *           groups of the highest slots and SIGKILL `grace` later. Reports as soon as the
 *           spawns have succeeded and the signals are sent, without waiting for exits. A slot
 *           that is wanted again while its old worker is still stopping is restarted when that
 *           worker has exited, so two workers never share an index. A program that cannot be
 *           started is a permanent failure; the slots started before it stay.
 *   get:    the intended pool size: wanted slots, including crashed workers awaiting restart.
 *   A wanted worker that exits is logged at ERROR and restarted after `restart_backoff`,
 *   doubled for each consecutive crash of the slot up to `restart_backoff_max`; the doubling
 *   resets once a worker has run longer than `restart_backoff_max`.
 *   stop:   SIGTERM to every worker, SIGKILL after `grace`, done once every child is reaped.
 *
 * No worker outlives the daemon: each has a parent-death signal (SIGTERM, util/proc.h), the
 * child guard stops its process group (SIGTERM, SIGKILL after `grace`) when the daemon dies
 * (util/guard.h), and with a state_dir the pool lists its workers in <state_dir>/<group>.pids
 * (util/pidfile.h) for what is still there when it starts again (the guard killed as well, or
 * a restart within the grace). At start, what an earlier instance left there (a daemon killed with
 * SIGKILL, a worker that ignored the death signal, grandchildren in a worker's process group, the
 * pool a reload replaced) is stopped first: SIGTERM, SIGKILL after `grace`. Until that sweep is
 * done, get and set fail transiently, so two pools never run side by side. Stopping what is left
 * rather than adopting it: an adopted worker could not be reaped (it is not our child) nor its
 * output read, and with the death signal it has normally gone already. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/backoff.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/pidfile.h"
#include "core/plugin.h"
#include "util/proc.h"

enum { OUT_INHERIT, OUT_NULL, OUT_LOG };
static const char *const outputs[] = {"inherit", "null", "log", NULL};

struct process_scaler;

struct worker {
    struct process_scaler *s;
    int slot;
    struct as_proc *proc; /* NULL when not running */
    pid_t pid;
    unsigned long long start; /* its start time (clock ticks after boot), for the pid file */
    int64_t started_ms;
    unsigned long long cpu_ticks; /* utime + stime at the last sample */
    int64_t busy_ms;              /* last sample that saw CPU used (or the start) */
    int stopping;                 /* SIGTERM sent: the exit is expected */
    unsigned crashes;             /* consecutive exits of a wanted worker that ran briefly */
    struct as_timer *restart;
};

struct process_scaler {
    char **command;
    char *working_dir;
    int64_t grace, backoff, backoff_max;
    int output;
    /* runtime */
    struct as_ctx ctx;
    struct worker **slots; /* nslots allocated workers, stable addresses */
    int nslots;
    int size; /* slots 0..size-1 are wanted */
    int live; /* children not yet reaped */
    struct as_timer *deferred;
    int stopping;
    struct as_timer *stop_timer;
    as_stopped_cb stop_done;
    void *stop_arg;
    struct as_pidfile *pids; /* <state_dir>/<group>.pids; NULL without a state_dir */
};

static const struct as_opt opts[] = {
    {"command", AS_OPT_STRLIST, offsetof(struct process_scaler, command), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Program and arguments of one worker (no shell); {{group}} and {{worker}} are "
     "substituted."},
    {"grace", AS_OPT_DURATION, offsetof(struct process_scaler, grace), "5s", 1, 3600000, 0, NULL,
     "How long a stopping worker gets after SIGTERM before SIGKILL."},
    {"restart_backoff", AS_OPT_DURATION, offsetof(struct process_scaler, backoff), "1s", 1, 3600000,
     0, NULL, "Delay before restarting a crashed worker, doubled per consecutive crash."},
    {"restart_backoff_max", AS_OPT_DURATION, offsetof(struct process_scaler, backoff_max), "30s", 1,
     86400000, 0, NULL,
     "Longest restart delay; a worker that runs longer than this resets the doubling."},
    {"output", AS_OPT_ENUM, offsetof(struct process_scaler, output), "inherit", AS_NO_BOUNDS, 0,
     outputs,
     "Workers' stdout and stderr: the daemon's own (inherit), discarded (null), or each line "
     "logged at INFO (log)."},
    {"working_dir", AS_OPT_STR, offsetof(struct process_scaler, working_dir), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL, "Directory the workers run in (default: the daemon's)."},
    AS_OPT_END,
};

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct process_scaler *s = state;
    if (s->backoff_max >= s->backoff)
        return 0;
    const char *file;
    int line, col;
    as_node_pos(map, "restart_backoff_max", &file, &line, &col);
    return as_err_at(err, file, line, col,
                     "'restart_backoff_max' must not be shorter than 'restart_backoff'");
}

static int wanted(const struct worker *w)
{
    return !w->s->stopping && w->slot < w->s->size;
}

/* ---- spawning ---- */

static void on_line(int stream, const char *line, size_t len, void *arg)
{
    struct worker *w = arg;
    char text[AS_PROC_LINE_MAX + 1];
    AS_LOG(AS_INFO, "scaler/process[%s]: worker %d %s: %s", w->s->ctx.group, w->slot,
           stream == AS_PROC_STDOUT ? "stdout" : "stderr",
           as_printable(line, len, text, sizeof(text)));
}

static void free_list(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}

/* command with {{group}} and {{worker}} substituted; NULL on ENOMEM. */
static char **worker_argv(const struct worker *w)
{
    const struct process_scaler *s = w->s;
    char slot[16];
    snprintf(slot, sizeof(slot), "%d", w->slot);
    const char *keys[] = {"group", "worker"};
    const char *values[] = {s->ctx.group, slot};
    size_t n = 0;
    while (s->command[n])
        n++;
    char **argv = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; argv && i < n; i++) {
        argv[i] = as_template(s->command[i], keys, values, 2);
        if (argv[i] == NULL) {
            free_list(argv);
            return NULL;
        }
    }
    return argv;
}

static void on_exit_worker(const struct as_proc_result *r, void *arg);

/* Starts slot w with AUTOSCALER_REPLICAS=replicas. Returns 0, or -1 with err and errno. */
static int spawn_worker(struct worker *w, int replicas, struct as_err *err)
{
    struct process_scaler *s = w->s;
    char e_group[256], e_worker[48], e_replicas[48];
    int n = snprintf(e_group, sizeof(e_group), "AUTOSCALER_GROUP=%s", s->ctx.group);
    snprintf(e_worker, sizeof(e_worker), "AUTOSCALER_WORKER=%d", w->slot);
    snprintf(e_replicas, sizeof(e_replicas), "AUTOSCALER_REPLICAS=%d", replicas);
    const char *env[] = {e_group, e_worker, e_replicas, NULL};
    char **argv = worker_argv(w);
    if (argv == NULL || n < 0 || (size_t)n >= sizeof(e_group)) {
        free_list(argv);
        errno = ENOMEM;
        return as_err_set(err, "out of memory or group name too long");
    }
    enum as_proc_output out = s->output == OUT_LOG    ? AS_PROC_LINES
                              : s->output == OUT_NULL ? AS_PROC_NULL
                                                      : AS_PROC_INHERIT;
    struct as_proc_opts o = {.argv = (const char *const *)argv,
                             .env = env,
                             .cwd = s->working_dir,
                             .out = out,
                             .err = out,
                             .grace_ms = s->grace, /* the guard's, should the daemon die */
                             .on_line = on_line};
    w->proc = as_proc_spawn(s->ctx.loop, &o, on_exit_worker, w, err);
    int saved = errno;
    free_list(argv);
    if (w->proc == NULL) {
        errno = saved;
        return -1;
    }
    w->pid = as_proc_pid(w->proc);
    w->start = as_proc_start_ticks(w->proc);
    w->started_ms = as_loop_now(s->ctx.loop);
    w->busy_ms = w->started_ms;
    w->cpu_ticks = 0;
    w->stopping = 0;
    s->live++;
    AS_LOG(AS_DEBUG, "scaler/process[%s]: worker %d started (pid %ld)", s->ctx.group, w->slot,
           (long)w->pid);
    return 0;
}

/* ---- the pid file ---- */

/* Records the running workers (stopping ones included) in the pid file. */
static void save_pids(struct process_scaler *s)
{
    if (s->pids == NULL)
        return;
    struct as_pidfile_entry *list = calloc((size_t)s->nslots + 1, sizeof(*list));
    if (list == NULL) {
        AS_LOG(AS_ERROR, "scaler/process[%s]: out of memory writing the pid file", s->ctx.group);
        return;
    }
    size_t n = 0;
    for (int i = 0; i < s->nslots; i++)
        if (s->slots[i]->proc != NULL)
            list[n++] = (struct as_pidfile_entry){s->slots[i]->pid, s->slots[i]->start, i};
    as_pidfile_save(s->pids, list, n);
    free(list);
}

static void stopped(struct process_scaler *s);

static void on_swept(void *arg)
{
    struct process_scaler *s = arg;
    if (s->stopping && s->live == 0)
        stopped(s);
}

/* Before the pool runs anything, what an earlier instance left is stopped (pidfile.h); until
 * then get and set fail transiently, so two pools never run side by side. */
static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct process_scaler *s = state;
    char path[4096], who[320];
    s->ctx = *ctx;
    if (ctx->state_dir == NULL)
        return 0; /* no pid file: the death signal is the only protection */
    if (snprintf(path, sizeof(path), "%s/%s.pids", ctx->state_dir, ctx->group) >= (int)sizeof(path))
        return as_err_set(err, "pid file path too long");
    snprintf(who, sizeof(who), "scaler/process[%s]", ctx->group);
    s->pids = as_pidfile_open(ctx->loop, path, who, s->grace, on_swept, s, err);
    return s->pids == NULL ? -1 : 0;
}

/* ---- restarts ---- */

/* restart_backoff doubled per consecutive crash, capped: no jitter, a crash loop of one
 * local worker needs no spreading. */
static int64_t backoff_delay(const struct worker *w)
{
    struct as_backoff b;
    as_backoff_init(&b, w->s->backoff, w->s->backoff_max, 0);
    return as_backoff_ceiling(&b, w->crashes);
}

static int64_t on_restart(struct as_loop *loop, void *arg);

static void schedule_restart(struct worker *w, const char *why)
{
    char d[32];
    int64_t delay = backoff_delay(w);
    w->crashes++;
    w->restart = as_loop_add_timer(w->s->ctx.loop, delay, on_restart, w);
    AS_LOG(AS_ERROR, "scaler/process[%s]: worker %d %s; restarting in %s%s", w->s->ctx.group,
           w->slot, why, as_duration_fmt(delay, d, sizeof(d)),
           w->restart ? "" : " (failed: out of memory)");
}

static int64_t on_restart(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct worker *w = arg;
    struct as_err err;
    w->restart = NULL;
    if (!wanted(w) || w->proc != NULL)
        return AS_TIMER_STOP;
    as_err_clear(&err);
    if (spawn_worker(w, w->s->size, &err) < 0)
        schedule_restart(w, err.msg);
    else
        save_pids(w->s);
    return AS_TIMER_STOP;
}

/* ---- exits ---- */

static void free_workers(struct process_scaler *s)
{
    for (int i = 0; i < s->nslots; i++) {
        as_loop_cancel_timer(s->ctx.loop, s->slots[i]->restart);
        free(s->slots[i]);
    }
    free(s->slots);
    s->slots = NULL;
    s->nslots = 0;
}

/* Last step of stop(): nothing of s is touched after done. Nothing is left running: the pid
 * file goes (unless a reload's successor has taken it over). */
static void stopped(struct process_scaler *s)
{
    as_stopped_cb done = s->stop_done;
    as_pidfile_close(s->pids);
    s->pids = NULL;
    free_workers(s);
    s->stop_done = NULL;
    done(s->stop_arg);
}

static int64_t on_stop_timer(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct process_scaler *s = arg;
    s->stop_timer = NULL;
    stopped(s);
    return AS_TIMER_STOP;
}

static void on_exit_worker(const struct as_proc_result *r, void *arg)
{
    struct worker *w = arg;
    struct process_scaler *s = w->s;
    char how[96], why[160];
    as_proc_describe(r, how, sizeof(how));
    w->proc = NULL;
    s->live--;
    if (w->stopping || !wanted(w)) {
        AS_LOG(AS_INFO, "scaler/process[%s]: worker %d (pid %ld) stopped: %s", s->ctx.group,
               w->slot, (long)r->pid, how);
        w->stopping = 0;
        if (s->stopping && s->live == 0 && as_pidfile_left(s->pids) == 0)
            return stopped(s);
        struct as_err err;
        as_err_clear(&err);
        /* Wanted again while it was stopping: take the slot back now. */
        if (wanted(w) && spawn_worker(w, s->size, &err) < 0)
            schedule_restart(w, err.msg);
        save_pids(s);
        return;
    }
    save_pids(s);
    if (as_loop_now(s->ctx.loop) - w->started_ms > s->backoff_max)
        w->crashes = 0;
    snprintf(why, sizeof(why), "(pid %ld) exited unexpectedly: %s", (long)r->pid, how);
    schedule_restart(w, why);
}

/* ---- set / get ---- */

static void reply(struct process_scaler *s, const struct as_scale_result *r, as_scale_cb done,
                  void *arg)
{
    assert(s->deferred == NULL); /* one call at a time, as the engine guarantees */
    if (as_defer_scale(s->ctx.loop, &s->deferred, done, r, arg) < 0)
        AS_LOG(AS_ERROR, "scaler/process[%s]: out of memory reporting a result", s->ctx.group);
}

static void retire(struct worker *w)
{
    as_loop_cancel_timer(w->s->ctx.loop, w->restart);
    w->restart = NULL;
    w->crashes = 0;
    if (w->proc == NULL || w->stopping)
        return;
    w->stopping = 1;
    as_proc_terminate(w->proc, w->s->grace);
    AS_LOG(AS_INFO, "scaler/process[%s]: stopping worker %d (pid %ld)", w->s->ctx.group, w->slot,
           (long)w->pid);
}

static int grow_slots(struct process_scaler *s, int want)
{
    if (want <= s->nslots)
        return 0;
    struct worker **slots = realloc(s->slots, (size_t)want * sizeof(*slots));
    if (slots == NULL)
        return -1;
    s->slots = slots;
    for (; s->nslots < want; s->nslots++) {
        struct worker *w = calloc(1, sizeof(*w));
        if (w == NULL)
            return -1;
        *w = (struct worker){.s = s, .slot = s->nslots};
        s->slots[s->nslots] = w;
    }
    return 0;
}

/* Spawns slots size..want-1; on a failure the pool keeps the slots below it. */
static void grow(struct process_scaler *s, int want, struct as_scale_result *r)
{
    struct as_err err;
    as_err_clear(&err);
    while (s->size < want) {
        struct worker *w = s->slots[s->size];
        s->size++;
        /* A worker still stopping in this slot is replaced when it exits. */
        if (w->proc != NULL || spawn_worker(w, want, &err) == 0)
            continue;
        int e = errno;
        s->size--;
        r->ok = 0;
        r->permanent = e != ENOMEM && e != EMFILE && e != ENFILE && e != EAGAIN;
        r->replicas = s->size;
        snprintf(r->error, sizeof(r->error), "%s", err.msg);
        return;
    }
}

/* While an earlier instance's workers are being stopped, the pool runs nothing: get and set
 * fail transiently (the engine holds and retries). Returns 1 with r filled, or 0. */
static int holding(const struct process_scaler *s, struct as_scale_result *r)
{
    int n = as_pidfile_left(s->pids);
    if (n == 0)
        return 0;
    *r = (struct as_scale_result){.ok = 0, .replicas = -1};
    snprintf(r->error, sizeof(r->error), "stopping %d worker%s left by a previous instance", n,
             n == 1 ? "" : "s");
    return 1;
}

static void set(void *state, int want, as_scale_cb done, void *arg)
{
    struct process_scaler *s = state;
    struct as_scale_result r = {.ok = 1, .replicas = want};
    int before = s->size;
    if (s->stopping || want < 0) {
        r = (struct as_scale_result){.ok = 0, .permanent = 1, .replicas = -1};
        snprintf(r.error, sizeof(r.error), "%s", s->stopping ? "stopping" : "negative count");
    } else if (holding(s, &r)) {
        /* r says why */
    } else if (grow_slots(s, want) < 0) {
        r = (struct as_scale_result){.ok = 0, .replicas = -1};
        snprintf(r.error, sizeof(r.error), "out of memory");
    } else if (want < s->size) {
        int old = s->size;
        s->size = want;
        for (int i = want; i < old; i++)
            retire(s->slots[i]);
    } else {
        grow(s, want, &r);
    }
    if (s->size > before)
        save_pids(s);
    reply(s, &r, done, arg);
}

/* utime + stime of pid (the worker process itself, not its children); 0 when it cannot be
 * read. */
static unsigned long long cpu_ticks(pid_t pid)
{
    struct as_proc_stat st;
    return as_proc_stat(pid, &st) == 0 ? st.utime + st.stime : 0;
}

/* Each running, wanted worker: its age, and how long it has used no CPU (a worker waiting
 * on an empty queue sleeps; one with a job burns CPU), for the queue policy and warmup. */
static size_t workers(void *state, struct as_worker_info *out, size_t max)
{
    struct process_scaler *s = state;
    int64_t now = as_loop_now(s->ctx.loop);
    size_t n = 0;
    for (int i = 0; i < s->nslots && n < max; i++) {
        struct worker *w = s->slots[i];
        if (w == NULL || w->proc == NULL || !wanted(w))
            continue;
        unsigned long long ticks = cpu_ticks(w->pid);
        if (ticks != w->cpu_ticks)
            w->busy_ms = now;
        w->cpu_ticks = ticks;
        out[n++] = (struct as_worker_info){
            .pid = (long)w->pid, .age_ms = now - w->started_ms, .idle_ms = now - w->busy_ms};
    }
    return n;
}

static void get(void *state, as_scale_cb done, void *arg)
{
    struct process_scaler *s = state;
    struct as_scale_result r = {.ok = 1, .replicas = s->size};
    holding(s, &r);
    reply(s, &r, done, arg);
}

static void cancel(void *state)
{
    struct process_scaler *s = state;
    as_defer_cancel(s->ctx.loop, &s->deferred);
}

static void stop(void *state, as_stopped_cb done, void *arg)
{
    struct process_scaler *s = state;
    if (s->ctx.loop == NULL || s->stopping) {
        done(arg);
        return;
    }
    cancel(s);
    s->stopping = 1;
    s->stop_done = done;
    s->stop_arg = arg;
    for (int i = 0; i < s->nslots; i++)
        retire(s->slots[i]);
    s->size = 0;
    if (s->live > 0 || as_pidfile_left(s->pids) > 0) /* a sweep still running ends first */
        return;
    s->stop_timer = as_loop_add_timer(s->ctx.loop, 0, on_stop_timer, s);
    if (s->stop_timer == NULL)
        stopped(s);
}

const struct as_scaler_ops as_scaler_process = {
    .name = "process",
    .opts = opts,
    .state_size = sizeof(struct process_scaler),
    .summary = "Runs N local copies of a command and restarts them when they crash (the "
               "embedded default).",
    .validate = validate,
    .start = start,
    .get = get,
    .workers = workers,
    .set = set,
    .cancel = cancel,
    .stop = stop,
    .owns_count = 1,
};
