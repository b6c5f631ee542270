/* The process pool's per-worker I/O: the status channel, the stop of one worker, and the
 * worker list file (see process_pool.h, process_status.h and process_list.h). */
/* pipe2 is a GNU extension. */
#define _GNU_SOURCE

#include "scalers/process_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scalers/process_list.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/proc.h"
#include "util/util.h"

#define LIST_EVERY_MS 1000 /* the worker list is rewritten at most this often */
#define STATUS_READS 8     /* reads of a status pipe per wakeup: a chatty worker cannot starve */

const char *const as_pool_signal_names[] = {"SIGTERM", "SIGINT",  "SIGQUIT", "SIGHUP",
                                            "SIGUSR1", "SIGUSR2", NULL};
const int as_pool_signals[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2};

static void arm_kill(struct worker *w);

/* ---- the status channel ---- */

void as_pool_status_close(struct worker *w)
{
    if (w->status_fd < 0)
        return;
    as_loop_watch_fd(w->s->ctx.loop, w->status_fd, 0, NULL, NULL);
    close(w->status_fd);
    w->status_fd = -1;
}

/* With drain, a stopping worker's deadline follows what it reports: drain_grace from the stop
 * while BUSY, grace from its FREE line (never later than the drain deadline). */
static void redeadline(struct worker *w, int64_t now)
{
    struct process_scaler *s = w->s;
    if (!w->stopping || !s->drain)
        return;
    int64_t drain_end = w->stop_ms + s->drain_grace;
    int64_t at = w->state == AS_WSTATE_BUSY ? drain_end : now + s->grace;
    w->kill_at = at < drain_end ? at : drain_end;
    arm_kill(w);
}

static void on_status(const struct as_status_line *line, const char *raw, size_t len, void *arg)
{
    struct worker *w = arg;
    struct process_scaler *s = w->s;
    char text[2 * AS_STATUS_LINE_MAX];
    if (line == NULL) {
        if (w->garbage++ == 0)
            AS_LOG(AS_WARN,
                   "scaler/process[%s]: worker %d (pid %ld) wrote a line that is not a status "
                   "(BUSY, BUSY <task>, FREE) on descriptor %d: ignored (and any more, counted): "
                   "%s",
                   s->ctx.group, w->slot, (long)w->pid, AS_STATUS_FD,
                   as_printable(raw, len, text, sizeof(text)));
        as_pool_list_touch(s);
        return;
    }
    if (line->state == w->state && strcmp(line->task, w->task) == 0)
        return; /* a repeat: it changes nothing, not even the time since */
    int64_t now = as_loop_now(s->ctx.loop);
    w->state = line->state;
    w->state_ms = now;
    memcpy(w->task, line->task, sizeof(w->task));
    AS_LOG(AS_DEBUG, "scaler/process[%s]: worker %d %s%s%s", s->ctx.group, w->slot,
           as_wstate_name(w->state), w->task[0] ? " " : "", w->task);
    redeadline(w, now);
    as_pool_list_touch(s);
}

/* The worker (and anything it started) closed its end of the channel. A worker that still
 * runs can no longer report: what it said last would go stale (a BUSY held forever), so it is
 * judged by its CPU time from now on. A stopping one keeps its deadline. */
static void on_status_closed(struct worker *w)
{
    struct as_proc_stat st;
    as_pool_status_close(w);
    if (w->proc == NULL || w->stopping || w->state == AS_WSTATE_UNKNOWN ||
        as_proc_stat(w->pid, &st) < 0 || st.state == 'Z')
        return; /* exiting: its exit is handled as such */
    AS_LOG(AS_INFO,
           "scaler/process[%s]: worker %d (pid %ld) closed its status channel after %s: judged "
           "by its CPU time from now on",
           w->s->ctx.group, w->slot, (long)w->pid, as_wstate_name(w->state));
    w->state = AS_WSTATE_UNKNOWN;
    w->task[0] = '\0';
    w->sampled = 0;
    w->cpu_busy = 0;
    as_pool_list_touch(w->s);
}

static void on_status_readable(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct worker *w = arg;
    char chunk[512];
    for (int i = 0; i < STATUS_READS && w->status_fd >= 0; i++) {
        ssize_t n = read(w->status_fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) { /* closed by the worker (and anything it started): nothing more to read */
            on_status_closed(w);
            return;
        }
        as_status_feed(&w->rd, chunk, (size_t)n, on_status, w);
    }
}

void as_pool_status_poll(struct worker *w)
{
    if (w->status_fd >= 0)
        on_status_readable(w->s->ctx.loop, w->status_fd, AS_READ, w);
}

/* A pipe for the worker's status: our end non-blocking; both close-on-exec (the child gets
 * its copy as descriptor 3 from util/proc). Returns the worker's end, or -1 with errno. */
int as_pool_status_open(struct worker *w)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    /* The worker's end blocks as a pipe normally does: a worker that writes faster than we
     * read waits rather than losing a line. */
    if (fcntl(fds[1], F_SETFL, 0) < 0) {
        int saved = errno;
        close(fds[0]);
        close(fds[1]);
        errno = saved;
        return -1;
    }
    w->status_fd = fds[0];
    w->rd = (struct as_status_reader){0};
    return fds[1];
}

void as_pool_status_watch(struct worker *w)
{
    if (w->status_fd >= 0 &&
        as_loop_watch_fd(w->s->ctx.loop, w->status_fd, AS_READ, on_status_readable, w) < 0)
        as_pool_status_close(w);
}

/* ---- stopping a worker ---- */

static int64_t on_kill(struct as_loop *loop, void *arg)
{
    struct worker *w = arg;
    char d[32];
    w->kill_timer = NULL;
    if (w->proc == NULL)
        return AS_TIMER_STOP;
    AS_LOG(AS_WARN, "scaler/process[%s]: worker %d (pid %ld) still running %s after %s: SIGKILL",
           w->s->ctx.group, w->slot, (long)w->pid,
           as_duration_fmt(as_loop_now(loop) - w->stop_ms, d, sizeof(d)),
           as_pool_signal_names[w->s->stop_signal]);
    as_proc_kill(w->proc, SIGKILL);
    return AS_TIMER_STOP;
}

/* (Re)arms the SIGKILL for w->kill_at. */
static void arm_kill(struct worker *w)
{
    struct as_loop *loop = w->s->ctx.loop;
    int64_t delay = w->kill_at - as_loop_now(loop);
    as_loop_cancel_timer(loop, w->kill_timer);
    w->kill_timer = as_loop_add_timer(loop, delay > 0 ? delay : 0, on_kill, w);
    if (w->kill_timer == NULL) /* no timer: now rather than never */
        as_proc_kill(w->proc, SIGKILL);
}

/* "BUSY job-17 for 12s", "FREE for 2m05s", "no status, CPU idle for 3s", into buf. */
static const char *doing(const struct worker *w, int64_t now, char *buf, size_t len)
{
    char d[32];
    int64_t since = w->state != AS_WSTATE_UNKNOWN ? w->state_ms
                    : !w->sampled                 ? now
                    : w->cpu_busy                 ? w->cpu_busy_from
                                                  : w->busy_ms;
    as_age_fmt(now - since, d, sizeof(d));
    if (w->state == AS_WSTATE_UNKNOWN && !w->sampled)
        snprintf(buf, len, "no status");
    else if (w->state == AS_WSTATE_UNKNOWN)
        snprintf(buf, len, "no status, CPU %s for %s", w->cpu_busy ? "busy" : "idle", d);
    else
        snprintf(buf, len, "%s%s%s for %s", as_wstate_name(w->state), w->task[0] ? " " : "",
                 w->task, d);
    return buf;
}

void as_pool_retire(struct worker *w)
{
    struct process_scaler *s = w->s;
    /* The clock now, not the loop's (read when the iteration began): grace counts from the
     * signal, however late in an iteration the scale-down comes (as util/proc's timers do). */
    int64_t now = as_mono_ms();
    char what[160], k[32];
    as_loop_cancel_timer(s->ctx.loop, w->restart);
    w->restart = NULL;
    w->crashes = 0;
    w->wanted = 0;
    if (w->proc == NULL || w->stopping)
        return;
    w->stopping = 1;
    w->stop_ms = now;
    int drain = s->drain && as_pool_busy(w);
    w->kill_at = now + (drain ? s->drain_grace : s->grace);
    as_proc_kill(w->proc, as_pool_signals[s->stop_signal]);
    arm_kill(w);
    AS_LOG(AS_INFO, "scaler/process[%s]: stopping worker %d (pid %ld, %s): %s, SIGKILL after %s%s",
           s->ctx.group, w->slot, (long)w->pid, doing(w, now, what, sizeof(what)),
           as_pool_signal_names[s->stop_signal], as_duration_fmt(w->kill_at - now, k, sizeof(k)),
           drain ? " (drain)" : "");
}

/* ---- the worker list (process_list.h) ---- */

/* Loop time t as epoch ms. */
static int64_t wall_of(int64_t t, int64_t now, int64_t wall)
{
    return t > 0 ? wall - (now - t) : 0;
}

static void list_entry(const struct worker *w, int64_t now, int64_t wall, struct as_worker_entry *e)
{
    *e = (struct as_worker_entry){.id = w->slot,
                                  .pid = w->proc ? (long)w->pid : 0,
                                  .state = w->proc ? w->state : AS_WSTATE_UNKNOWN,
                                  .stopping = w->stopping,
                                  .garbage = w->garbage};
    if (w->proc == NULL)
        return;
    memcpy(e->task, w->task, sizeof(e->task));
    e->started_ms = wall_of(w->started_ms, now, wall);
    int64_t since = w->state_ms;
    if (w->state == AS_WSTATE_UNKNOWN) {
        e->cpu = !w->sampled ? AS_CPU_UNSAMPLED : w->cpu_busy ? AS_CPU_BUSY : AS_CPU_IDLE;
        since = e->cpu == AS_CPU_UNSAMPLED ? 0 : w->cpu_busy ? w->cpu_busy_from : w->busy_ms;
    }
    e->since_ms = wall_of(since, now, wall);
}

/* The list now: the wanted workers and those still stopping (l->w NULL on ENOMEM; the caller
 * frees it). */
static void list_build(const struct process_scaler *s, struct as_worker_list *l)
{
    *l = (struct as_worker_list){.daemon_pid = (long)getpid(),
                                 .daemon_start = s->self_start,
                                 .instance = s->instance,
                                 .updated_ms = as_wall_ms()};
    snprintf(l->group, sizeof(l->group), "%s", s->ctx.group);
    l->w = calloc((size_t)s->nslots + 1, sizeof(*l->w));
    int64_t now = as_loop_now(s->ctx.loop);
    for (int i = 0; l->w != NULL && i < s->nslots; i++)
        if (s->slots[i]->wanted || s->slots[i]->proc != NULL)
            list_entry(s->slots[i], now, l->updated_ms, &l->w[l->n++]);
}

json_t *as_pool_list_doc(const struct process_scaler *s)
{
    struct as_worker_list l;
    if (s->ctx.loop == NULL)
        return NULL; /* not started */
    list_build(s, &l);
    json_t *doc = l.w ? as_worker_list_json(&l) : NULL;
    free(l.w);
    return doc;
}

/* Writes the list now: the wanted workers and those still stopping. */
void as_pool_list_flush(struct process_scaler *s)
{
    struct as_worker_list l;
    list_build(s, &l);
    int rc = l.w == NULL ? -1 : as_worker_list_write(s->list_path, &l);
    if (l.w == NULL)
        errno = ENOMEM;
    if (rc < 0 && !s->list_failed)
        AS_LOG(AS_WARN, "scaler/process[%s]: cannot write %s: %s", s->ctx.group, s->list_path,
               strerror(errno));
    else if (rc == 0 && s->list_failed)
        AS_LOG(AS_INFO, "scaler/process[%s]: %s written again", s->ctx.group, s->list_path);
    s->list_failed = rc < 0;
    s->list_at = as_loop_now(s->ctx.loop);
    free(l.w);
}

static int64_t on_list_timer(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct process_scaler *s = arg;
    s->list_timer = NULL;
    if (!s->stopping)
        as_pool_list_flush(s);
    return AS_TIMER_STOP;
}

/* Something the list shows changed: written once LIST_EVERY_MS have passed since the last. */
void as_pool_list_touch(struct process_scaler *s)
{
    if (s->list_path == NULL || s->list_timer != NULL || s->stopping)
        return;
    int64_t wait = s->list_at + LIST_EVERY_MS - as_loop_now(s->ctx.loop);
    s->list_timer =
        as_loop_add_timer(s->ctx.loop, s->list_at && wait > 0 ? wait : 0, on_list_timer, s);
}

/* 1 when the list at path names this pool; 0 another; -1 no readable list. other_live: it
 * names another daemon that still runs. */
static int list_owner(const struct process_scaler *s, int *other_live)
{
    struct as_worker_list l;
    struct as_err err;
    as_err_clear(&err);
    *other_live = 0;
    if (as_worker_list_read(s->list_path, &l, &err) < 0)
        return -1;
    int mine = l.daemon_pid == (long)getpid() && l.instance == s->instance;
    *other_live = l.daemon_pid != (long)getpid() && as_worker_list_live(&l);
    as_worker_list_free(&l);
    return mine;
}

/* At start: the list is ours unless another daemon that still runs keeps it (a --dry-run
 * beside the real daemon, or two daemons on one state_dir): then this pool keeps none. */
int as_pool_list_open(struct process_scaler *s, struct as_err *err)
{
    static unsigned long instances;
    char path[4096];
    struct as_proc_stat self;
    if (as_worker_list_path(path, sizeof(path), s->ctx.state_dir, s->ctx.group) < 0)
        return as_err_set(err, "worker list path too long");
    s->instance = ++instances;
    s->self_start = as_proc_stat(getpid(), &self) == 0 ? self.start_ticks : 0;
    s->list_path = as_strdup(path);
    if (s->list_path == NULL)
        return as_err_set(err, "out of memory");
    int other_live;
    list_owner(s, &other_live);
    if (other_live) {
        AS_LOG(AS_WARN,
               "scaler/process[%s]: %s belongs to another running daemon: this pool "
               "keeps no worker list",
               s->ctx.group, s->list_path);
        free(s->list_path);
        s->list_path = NULL;
        return 0;
    }
    as_pool_list_touch(s);
    return 0;
}

/* When the pool has stopped: the list goes, unless another pool (a reload's) has taken it. */
void as_pool_list_close(struct process_scaler *s)
{
    int other_live;
    as_loop_cancel_timer(s->ctx.loop, s->list_timer);
    s->list_timer = NULL;
    if (s->list_path != NULL && list_owner(s, &other_live) == 1)
        unlink(s->list_path);
    free(s->list_path);
    s->list_path = NULL;
}
