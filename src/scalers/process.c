/* Scaler `process`: supervises N local copies of a command, the embedded default scaler.
 *
 * Each worker lives in a slot whose number is its id: it runs `command` ({{group}} and
 * {{worker}} substituted, no shell) with AUTOSCALER_GROUP, AUTOSCALER_WORKER=<slot>,
 * AUTOSCALER_REPLICAS (the pool size when it started) and, with the status channel,
 * AUTOSCALER_STATUS_FD=3, in its own process group.
 *   Status channel (process_status.h): the worker writes BUSY / FREE lines to descriptor 3, the
 *           pool reads them on the loop; a worker that never writes is judged by its CPU time.
 *   set(n): grows by starting workers in the lowest free slots (a slot is free when no process
 *           runs there, a stopping one included, so ids stay unique among running workers);
 *           shrinks by asking the workers as_release_order puts first to stop, on the status
 *           lines read just before: slots waiting to restart, then workers that are not busy,
 *           the longest idle first, and busy ones (BUSY, or without status busy by their CPU
 *           time) only when nothing else is left. A worker asked to stop gets `stop_signal` and
 *           SIGKILL `grace` later; with `drain`, a busy one gets `drain_grace` to finish its
 *           task (cut to `grace` once it reports FREE). Reports as soon as the spawns have
 *           succeeded and the signals are sent. A program that cannot be started is a
 *           permanent failure; the workers started before it stay.
 *   get:    the intended pool size: wanted workers, including crashed ones awaiting restart,
 *           excluding those asked to stop.
 *   A wanted worker that exits is logged at ERROR and restarted after `restart_backoff`,
 *   doubled for each consecutive crash of the slot up to `restart_backoff_max`; the doubling
 *   resets once a worker has run longer than `restart_backoff_max`.
 *   stop:   every worker is asked to stop as on a scale-down; done once every child is reaped.
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
 * output read, and with the death signal it has normally gone already.
 *
 * With a state_dir the pool also keeps <state_dir>/<group>.workers (process_list.h) for
 * `autoscaler workers`: rewritten at most once a second while something changed, a last time
 * when the pool stops, and removed once it has stopped. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/backoff.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/pidfile.h"
#include "core/plugin.h"
#include "util/proc.h"
#include "scalers/process_pool.h"
#include "scalers/process_status.h"

static const char *const outputs[] = {"inherit", "null", "log", NULL};

static const struct as_opt opts[] = {
    {"command", AS_OPT_STRLIST, offsetof(struct process_scaler, command), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Program and arguments of one worker (no shell); {{group}} and {{worker}} are "
     "substituted."},
    {"grace", AS_OPT_DURATION, offsetof(struct process_scaler, grace), "5s", 1, 3600000, 0, NULL,
     "How long a worker asked to stop gets after stop_signal before SIGKILL."},
    {"stop_signal", AS_OPT_ENUM, offsetof(struct process_scaler, stop_signal), "SIGTERM",
     AS_NO_BOUNDS, 0, as_pool_signal_names,
     "The signal that asks a worker to stop (its warm shutdown: finish the task at hand, take "
     "no new one, exit)."},
    {"drain", AS_OPT_BOOL, offsetof(struct process_scaler, drain), "false", AS_NO_BOUNDS, 0, NULL,
     "A busy worker asked to stop (BUSY, or without status busy by its CPU time) gets "
     "drain_grace instead of grace to finish its task."},
    {"drain_grace", AS_OPT_DURATION, offsetof(struct process_scaler, drain_grace), "5m", 1,
     86400000, 0, NULL,
     "With drain: how long a BUSY worker asked to stop gets before SIGKILL (grace once it "
     "reports FREE)."},
    {"status_channel", AS_OPT_BOOL, offsetof(struct process_scaler, status_channel), "true",
     AS_NO_BOUNDS, 0, NULL,
     "Give each worker descriptor 3 (AUTOSCALER_STATUS_FD) to report BUSY / FREE lines on."},
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
    const char *key = NULL, *what = NULL;
    if (s->backoff_max < s->backoff)
        key = "restart_backoff_max", what = "'restart_backoff_max' must not be shorter than "
                                            "'restart_backoff'";
    else if (s->drain && s->drain_grace < s->grace)
        key = "drain_grace", what = "'drain_grace' must not be shorter than 'grace'";
    if (key == NULL)
        return 0;
    return as_err_key(err, map, key, "%s", what);
}

static int wanted(const struct worker *w)
{
    return !w->s->stopping && w->wanted;
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

/* Starts the child of w with env (argv from the command) and the worker's end of its status
 * pipe (-1: none). Returns 0, or -1 with err and errno. */
static int run_child(struct worker *w, const char *const *env, int status_end, struct as_err *err)
{
    struct process_scaler *s = w->s;
    char **argv = worker_argv(w);
    if (argv == NULL) {
        errno = ENOMEM;
        return as_err_set(err, "out of memory");
    }
    enum as_proc_output out = s->output == AS_POOL_OUT_LOG    ? AS_PROC_LINES
                              : s->output == AS_POOL_OUT_NULL ? AS_PROC_NULL
                                                              : AS_PROC_INHERIT;
    struct as_proc_opts o = {.argv = (const char *const *)argv,
                             .env = env,
                             .cwd = s->working_dir,
                             .out = out,
                             .err = out,
                             .grace_ms = s->grace, /* the guard's, should the daemon die */
                             .on_line = on_line,
                             .pass_fd = status_end >= 0 ? status_end : 0};
    w->proc = as_proc_spawn(s->ctx.loop, &o, on_exit_worker, w, err);
    int saved = errno;
    free_list(argv);
    errno = saved;
    return w->proc == NULL ? -1 : 0;
}

/* Starts slot w with AUTOSCALER_REPLICAS=replicas. Returns 0, or -1 with err and errno. */
static int spawn_worker(struct worker *w, int replicas, struct as_err *err)
{
    struct process_scaler *s = w->s;
    char e_group[256], e_worker[48], e_replicas[48], e_fd[48];
    int n = snprintf(e_group, sizeof(e_group), "AUTOSCALER_GROUP=%s", s->ctx.group);
    snprintf(e_worker, sizeof(e_worker), "AUTOSCALER_WORKER=%d", w->slot);
    snprintf(e_replicas, sizeof(e_replicas), "AUTOSCALER_REPLICAS=%d", replicas);
    snprintf(e_fd, sizeof(e_fd), "AUTOSCALER_STATUS_FD=%d", AS_STATUS_FD);
    const char *env[] = {e_group, e_worker, e_replicas, s->status_channel ? e_fd : NULL, NULL};
    if (n < 0 || (size_t)n >= sizeof(e_group)) {
        errno = EINVAL;
        return as_err_set(err, "group name too long");
    }
    int status_end = s->status_channel ? as_pool_status_open(w) : -1;
    if (s->status_channel && status_end < 0)
        return as_err_set(err, "cannot create the status pipe: %s", strerror(errno));
    int rc = run_child(w, env, status_end, err), saved = errno;
    if (status_end >= 0)
        close(status_end);
    if (rc == 0)
        as_pool_status_watch(w);
    if (rc < 0) {
        as_pool_status_close(w);
        errno = saved;
        return -1;
    }
    w->pid = as_proc_pid(w->proc);
    w->start = as_proc_start_ticks(w->proc);
    w->started_ms = as_loop_now(s->ctx.loop);
    w->busy_ms = w->started_ms;
    w->cpu_ticks = 0;
    w->sampled = 0;
    w->cpu_busy = 0;
    w->stopping = 0;
    w->state = AS_WSTATE_UNKNOWN;
    w->task[0] = '\0';
    w->garbage = 0;
    s->live++;
    AS_LOG(AS_DEBUG, "scaler/process[%s]: worker %d started (pid %ld)", s->ctx.group, w->slot,
           (long)w->pid);
    as_pool_list_touch(s);
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
    if (s->pids == NULL)
        return -1;
    return as_pool_list_open(s, err);
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
        as_loop_cancel_timer(s->ctx.loop, s->slots[i]->kill_timer);
        as_pool_status_close(s->slots[i]);
        free(s->slots[i]);
    }
    free(s->slots);
    s->slots = NULL;
    s->nslots = 0;
}

/* Last step of stop(): nothing of s is touched after done. Nothing is left running: the pid
 * file goes (unless a reload's successor has taken it over), and so does the worker list. */
static void stopped(struct process_scaler *s)
{
    as_stopped_cb done = s->stop_done;
    as_pidfile_close(s->pids);
    s->pids = NULL;
    as_pool_list_close(s);
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

/* The worker's process is gone: its slot is free (or restarts, if it is still wanted). */
static void forget_process(struct worker *w)
{
    as_loop_cancel_timer(w->s->ctx.loop, w->kill_timer);
    w->kill_timer = NULL;
    as_pool_status_close(w);
    w->proc = NULL;
    w->stopping = 0;
    w->state = AS_WSTATE_UNKNOWN;
    w->task[0] = '\0';
    w->s->live--;
}

static void on_exit_worker(const struct as_proc_result *r, void *arg)
{
    struct worker *w = arg;
    struct process_scaler *s = w->s;
    char how[96], why[160];
    as_proc_describe(r, how, sizeof(how));
    int expected = w->stopping || !wanted(w);
    forget_process(w);
    as_pool_list_touch(s);
    if (expected) {
        AS_LOG(AS_INFO, "scaler/process[%s]: worker %d (pid %ld) stopped: %s", s->ctx.group,
               w->slot, (long)r->pid, how);
        if (s->stopping && s->live == 0 && as_pidfile_left(s->pids) == 0)
            return stopped(s);
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

/* The lowest slot with nothing in it (not wanted, no process still stopping there), added at
 * the end when there is none. NULL on ENOMEM. */
static struct worker *free_slot(struct process_scaler *s)
{
    for (int i = 0; i < s->nslots; i++)
        if (!s->slots[i]->wanted && s->slots[i]->proc == NULL)
            return s->slots[i];
    struct worker **slots = realloc(s->slots, ((size_t)s->nslots + 1) * sizeof(*slots));
    if (slots == NULL)
        return NULL;
    s->slots = slots;
    struct worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    *w = (struct worker){.s = s, .slot = s->nslots, .status_fd = -1};
    s->slots[s->nslots++] = w;
    return w;
}

/* Starts workers until want; on a failure the pool keeps those started before it. */
static void grow(struct process_scaler *s, int want, struct as_scale_result *r)
{
    struct as_err err;
    as_err_clear(&err);
    while (s->size < want) {
        struct worker *w = free_slot(s);
        if (w != NULL && spawn_worker(w, want, &err) == 0) {
            w->wanted = 1;
            s->size++;
            continue;
        }
        int e = w == NULL ? ENOMEM : errno;
        r->ok = 0;
        r->permanent = e != ENOMEM && e != EMFILE && e != ENFILE && e != EAGAIN;
        r->replicas = s->size;
        snprintf(r->error, sizeof(r->error), "%s", w == NULL ? "out of memory" : err.msg);
        return;
    }
}

/* How the scale-down order sees w now: what it reported, else what its last CPU sample said,
 * as the policy saw it (busy at the last sample is busy, not "idle since that sample"). */
static struct as_release_cand candidate(const struct worker *w, int64_t now)
{
    struct as_release_cand c = {.slot = w->slot, .running = w->proc != NULL, .state = w->state};
    if (as_pool_busy(w)) {
        c.state = AS_WSTATE_BUSY;
        c.busy_ms = now - (w->state == AS_WSTATE_BUSY ? w->state_ms : w->cpu_busy_from);
    } else if (w->state == AS_WSTATE_FREE) {
        c.idle_ms = now - w->state_ms;
    } else if (w->sampled) {
        c.idle_ms = now - w->busy_ms;
    }
    return c;
}

/* Stops size - want workers, in as_release_order, on the latest status each worker wrote.
 * Returns 0 or -1 on ENOMEM. */
static int shrink(struct process_scaler *s, int want)
{
    struct as_release_cand *c = calloc((size_t)s->nslots + 1, sizeof(*c));
    if (c == NULL)
        return -1;
    size_t n = 0;
    for (int i = 0; i < s->nslots; i++)
        as_pool_status_poll(s->slots[i]);
    int64_t now = as_loop_now(s->ctx.loop);
    for (int i = 0; i < s->nslots; i++)
        if (s->slots[i]->wanted)
            c[n++] = candidate(s->slots[i], now);
    as_release_order(c, n);
    for (size_t i = 0; i < n && s->size > want; i++, s->size--)
        as_pool_retire(s->slots[c[i].slot]);
    free(c);
    as_pool_list_touch(s);
    return 0;
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
    } else if (want < s->size && shrink(s, want) < 0) {
        r = (struct as_scale_result){.ok = 0, .replicas = -1};
        snprintf(r.error, sizeof(r.error), "out of memory");
    } else if (want > s->size) {
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

/* How long w has been idle: 0 while BUSY, since its FREE line when FREE; a worker that never
 * reported is sampled now: busy (0) when its CPU time moved since the last sample, else idle
 * since it last moved (a worker waiting on an empty queue sleeps; one with a job burns CPU). */
static int64_t idle_now(struct worker *w, int64_t now)
{
    if (w->state == AS_WSTATE_BUSY)
        return 0;
    if (w->state == AS_WSTATE_FREE)
        return now > w->state_ms ? now - w->state_ms : 1; /* 0 would read as busy */
    unsigned long long ticks = cpu_ticks(w->pid);
    int busy = ticks != w->cpu_ticks;
    if (busy && (!w->sampled || !w->cpu_busy))
        w->cpu_busy_from = now;
    if (busy)
        w->busy_ms = now;
    if (!w->sampled || busy != w->cpu_busy)
        as_pool_list_touch(w->s);
    w->cpu_ticks = ticks;
    w->cpu_busy = busy;
    w->sampled = 1;
    return now - w->busy_ms;
}

/* Each running, wanted worker (not those being stopped): its age and idle time, for the queue
 * policy and warmup. */
static size_t workers(void *state, struct as_worker_info *out, size_t max)
{
    struct process_scaler *s = state;
    int64_t now = as_loop_now(s->ctx.loop);
    size_t n = 0;
    for (int i = 0; i < s->nslots && n < max; i++) {
        struct worker *w = s->slots[i];
        if (w->proc == NULL || !wanted(w))
            continue;
        out[n++] = (struct as_worker_info){
            .pid = (long)w->pid, .age_ms = now - w->started_ms, .idle_ms = idle_now(w, now)};
    }
    return n;
}

static json_t *worker_list(void *state)
{
    return as_pool_list_doc(state);
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
    for (int i = 0; i < s->nslots; i++)
        as_pool_retire(s->slots[i]);
    s->size = 0;
    if (s->list_path != NULL) /* a last time, every worker stopping (a reload's pool follows) */
        as_pool_list_flush(s);
    s->stopping = 1;
    s->stop_done = done;
    s->stop_arg = arg;
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
    .summary = "Runs N local copies of a command, restarts them when they crash, and on a "
               "scale-down stops idle workers (BUSY / FREE reported by each) first.",
    .validate = validate,
    .start = start,
    .get = get,
    .workers = workers,
    .worker_list = worker_list,
    .set = set,
    .cancel = cancel,
    .stop = stop,
    .owns_count = 1,
};
