/* Scaler `haproxy`: a pool of servers behind HAProxy, changed through its Runtime API without
 * a reload (docs/scalers/haproxy.md, docs/selfhosted.md).
 *
 * The pool is hosts.d (config/hosts.h): one entry per server, written by `autoscaler
 * add-host` and by this scaler, and one record per provision in flight. Every call reads
 * hosts.d and HAProxy (`show servers state BACKEND`, `show stat BACKEND 4 -1`), then plans
 * (haproxy_plan.h) and runs the steps in order, one Runtime API command at a time:
 *   get:  reconciles (a server a reload forgot is added again, a drain that finished is
 *         removed...), then reads again and answers the count (hap_count: active entries
 *         serving in the backend, plus provisions in flight).
 *   set:  the same, with the pool changed toward the count asked: drains cancelled or
 *         provisions started (up), least loaded removable servers drained (down); a provision
 *         is written to hosts.d before its command starts, and its server added when the
 *         command prints HOST:PORT, however long after the call. Servers drained are removed
 *         by later polls (every `poll` while there is such work) once idle or at
 *         drain_timeout, then deprovisioned (haproxy_child.c).
 * One job runs at a time (a call, a poll, the adding of a provisioned server). The engine's
 * cancel closes the call's Runtime API exchange and drops the rest of its steps (hosts.d
 * keeps what was decided; the next job resumes). The scaler holds an exclusive lock on
 * hosts.d/.lock: a second daemon (or group) on the same hosts.d only reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/loop.h"
#include "util/resolve.h"
#include "util/writer.h"
#include "scalers/haproxy_run.h"

static void job_next(struct haproxy_scaler *s);
static void run_step(struct haproxy_scaler *s);
static void read_pool(struct haproxy_scaler *s);

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    return as_haproxy_validate(state, map, err);
}

/* ---- the lock ---- */

/* Takes hosts_dir/.lock (created with the directory if missing). Returns 0 when held. */
static int take_lock(struct haproxy_scaler *s)
{
    char path[4096], holder[32] = "";
    if (s->lock_fd >= 0)
        return 0;
    if (snprintf(path, sizeof(path), "%s/.lock", s->o.hosts_dir) >= (int)sizeof(path))
        return -1;
    if (mkdir(s->o.hosts_dir, 0755) < 0 && errno != EEXIST) {
        as_log_fault(&s->lock_fault, AS_WARN, HAP_LOG "cannot create %s: %s", s->ctx.group,
                     s->o.hosts_dir, strerror(errno));
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
        int n = snprintf(holder, sizeof(holder), "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) < 0 || write(fd, holder, (size_t)n) != n)
            AS_LOG(AS_DEBUG, HAP_LOG "cannot write the pid into %s", s->ctx.group, path);
        s->lock_fd = fd;
        as_log_recovered(&s->lock_fault, HAP_LOG "%s is ours: changing the pool", s->ctx.group,
                         path);
        return 0;
    }
    ssize_t r = fd >= 0 ? pread(fd, holder, sizeof(holder) - 1, 0) : -1;
    holder[r > 0 ? r : 0] = '\0';
    holder[strcspn(holder, "\n")] = '\0';
    as_log_fault(&s->lock_fault, AS_WARN,
                 HAP_LOG "%s is held by another autoscaler (pid %s): reading the pool only, "
                         "changing nothing",
                 s->ctx.group, path, holder[0] ? holder : "unknown");
    if (fd >= 0)
        close(fd);
    return -1;
}

/* ---- jobs ---- */

static void view_of(const struct haproxy_scaler *s, struct hap_view *v)
{
    *v = (struct hap_view){
        .hosts = &s->hosts, .srv = s->srv, .nsrv = s->nsrv, .now_ms = as_wall_ms()};
}

static int64_t on_kick(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct haproxy_scaler *s = arg;
    s->kick = NULL;
    if (s->cur == NULL)
        job_next(s);
    return AS_TIMER_STOP;
}

/* Queues a job; it starts from the loop once the one running has finished. */
static int enqueue(struct haproxy_scaler *s, struct job *j)
{
    struct job **t = &s->queue;
    if (s->cur == NULL && s->kick == NULL &&
        (s->kick = as_loop_add_timer(s->ctx.loop, 0, on_kick, s)) == NULL)
        return -1;
    while (*t)
        t = &(*t)->next;
    *t = j;
    return 0;
}

int hap_enqueue_add(struct haproxy_scaler *s, const struct as_host_entry *e)
{
    struct job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return -1;
    *j = (struct job){.kind = JOB_ADD, .e = *e};
    if (enqueue(s, j) < 0) {
        free(j);
        return -1;
    }
    return 0;
}

void hap_forget_provision(struct haproxy_scaler *s, const char *id)
{
    char path[4096];
    struct as_err err;
    as_err_clear(&err);
    if (as_host_prov_path(s->o.hosts_dir, id, path, sizeof(path)) == 0 &&
        as_hosts_unlink(path, 0, &err) < 0)
        AS_LOG(AS_ERROR, HAP_LOG "%s", s->ctx.group, err.msg);
}

static void fail_job(struct haproxy_scaler *s, const char *msg, int permanent)
{
    if (s->res_out.ok) {
        s->res_out.ok = 0;
        s->res_out.permanent = permanent;
        snprintf(s->res_out.error, sizeof(s->res_out.error), "%s", msg);
    }
}

static void job_end(struct haproxy_scaler *s)
{
    struct job *j = s->cur;
    struct hap_view v;
    s->cur = NULL;
    hap_plan_free(&s->plan);
    view_of(s, &v);
    if (!s->have_view)
        fail_job(s, s->aborted ? "cancelled" : "HAProxy was not read", 0);
    s->pending = !s->res_out.ok || hap_pending(&v) || hap_children_waiting(s);
    if (s->res_out.ok) {
        s->last_count = hap_count(&v);
        s->res_out.replicas = s->last_count;
    }
    s->aborted = 0;
    if (j->done != NULL)
        j->done(&s->res_out, j->arg);
    free(j);
    job_next(s);
}

static void add_begin(struct haproxy_scaler *s);

static void job_next(struct haproxy_scaler *s)
{
    if (s->cur != NULL || s->queue == NULL || s->stopping)
        return;
    s->cur = s->queue;
    s->queue = s->cur->next;
    s->pass = 0;
    s->have_view = 0;
    s->res_out = (struct as_scale_result){.ok = 1, .replicas = -1};
    if (s->cur->kind == JOB_ADD)
        add_begin(s);
    else
        read_pool(s);
}

/* Closes what the job has in flight; a write in flight ends it from its callback. */
static void abort_job(struct haproxy_scaler *s)
{
    s->aborted = 1;
    as_hart_cancel(s->rt);
    as_resolve_cancel(s->res);
    as_loop_cancel_timer(s->ctx.loop, s->step_timer);
    s->rt = NULL;
    s->res = NULL;
    s->step_timer = NULL;
    if (s->ticket == 0)
        job_end(s);
}

/* ---- reading HAProxy ---- */

static void plan_notes(struct haproxy_scaler *s)
{
    const struct hap_plan *p = &s->plan;
    if (p->undrain > 0)
        AS_LOG(AS_INFO, HAP_LOG "cancelling %d drain(s)", s->ctx.group, p->undrain);
    if (p->drain > 0)
        AS_LOG(AS_INFO, HAP_LOG "draining %d server(s)", s->ctx.group, p->drain);
    if (p->short_by > 0)
        as_log_fault(&s->fault, AS_WARN,
                     HAP_LOG "%d server(s) fewer than asked could be drained: only %s servers "
                             "in the backend are removed",
                     s->ctx.group, p->short_by,
                     s->o.remove == AS_HAP_REMOVE_ANY ? "active" : "provisioned");
}

static void plan_and_run(struct haproxy_scaler *s)
{
    struct hap_view v;
    view_of(s, &v);
    s->have_view = 1;
    if (s->pass == 1) {
        job_end(s);
        return;
    }
    if (s->read_only) {
        if (s->cur->kind == JOB_SET)
            fail_job(s, "hosts.d is locked by another autoscaler: not changing the pool", 0);
        job_end(s);
        return;
    }
    if (hap_plan(&s->o, &v, s->cur->kind == JOB_SET ? s->cur->want : -1, &s->plan) < 0) {
        fail_job(s, "out of memory", 0);
        job_end(s);
        return;
    }
    s->pc = 0;
    s->skip_group = -1;
    if (s->cur->kind == JOB_SET)
        plan_notes(s);
    run_step(s);
}

static void send_cmd(struct haproxy_scaler *s, const char *cmd, as_hart_cb cb)
{
    s->rt = as_hart_send(s->ctx.loop, s->o.socket, cmd, s->ctx.timeout_ms, cb, s);
    if (s->rt == NULL) {
        fail_job(s, "out of memory", 0);
        job_end(s);
    }
}

static void read_failed(struct haproxy_scaler *s, const char *what, const char *error)
{
    char msg[AS_MSG_MAX];
    snprintf(msg, sizeof(msg), "%s: %s", what, error);
    fail_job(s, msg, 0);
    s->have_view = 0;
    job_end(s);
}

static void on_stat(const char *reply, size_t len, const char *error, void *arg)
{
    struct haproxy_scaler *s = arg;
    char why[AS_MSG_MAX - 64];
    s->rt = NULL;
    if (error == NULL &&
        as_hart_merge_stat(reply, len, s->o.backend, s->srv, s->nsrv, why, sizeof(why)) < 0)
        error = why;
    if (error != NULL)
        read_failed(s, "show stat", error);
    else
        plan_and_run(s);
}

static void on_state(const char *reply, size_t len, const char *error, void *arg)
{
    struct haproxy_scaler *s = arg;
    char why[AS_MSG_MAX - 64], cmd[AS_HART_NAME_MAX + 32];
    s->rt = NULL;
    if (error == NULL && as_hart_parse_state(reply, len, s->o.backend, s->srv, AS_HART_SERVERS_MAX,
                                             &s->nsrv, why, sizeof(why)) < 0)
        error = why;
    if (error != NULL) {
        s->nsrv = 0;
        read_failed(s, "show servers state", error);
        return;
    }
    snprintf(cmd, sizeof(cmd), "show stat %s 4 -1", s->o.backend);
    send_cmd(s, cmd, on_stat);
}

static void read_pool(struct haproxy_scaler *s)
{
    struct as_err err;
    char cmd[AS_HART_NAME_MAX + 32];
    as_err_clear(&err);
    s->read_only = s->ctx.dry_run || take_lock(s) < 0;
    if (as_hosts_load(s->o.hosts_dir, &s->hosts, &err) < 0) {
        char buf[AS_ERR_MAX + 300];
        read_failed(s, "hosts.d", as_err_str(&err, buf, sizeof(buf)));
        return;
    }
    snprintf(cmd, sizeof(cmd), "show servers state %s", s->o.backend);
    send_cmd(s, cmd, on_state);
}

/* ---- steps ---- */

/* The step at pc is done; error: it failed (transport: HAProxy did not answer, so the rest of
 * the job is dropped). */
static void step_done(struct haproxy_scaler *s, const char *error, int transport)
{
    struct hap_step *st = &s->plan.v[s->pc];
    if (error != NULL) {
        char msg[AS_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s: %s",
                 st->kind == HAP_CMD ? st->cmd
                 : st->e.name[0]     ? st->e.name
                                     : "provision",
                 error);
        if (transport) {
            fail_job(s, msg, 0);
            job_end(s);
            return;
        }
        as_log_fault(&s->fault, AS_WARN, HAP_LOG "%s", s->ctx.group, msg);
        if (st->scale)
            fail_job(s, msg, 0);
        s->skip_group = st->group;
    }
    s->pc++;
    run_step(s);
}

static void on_cmd(const char *reply, size_t len, const char *error, void *arg)
{
    struct haproxy_scaler *s = arg;
    struct hap_step *st = &s->plan.v[s->pc];
    char line[200], answer[120];
    s->rt = NULL;
    if (error != NULL) {
        step_done(s, error, 1);
        return;
    }
    if (!as_hart_reply_is(reply, len, st->expect)) {
        snprintf(line, sizeof(line), "HAProxy answered \"%s\"",
                 as_hart_reply_line(reply, len, answer, sizeof(answer)));
        step_done(s, line, 0);
        return;
    }
    AS_LOG(AS_INFO, HAP_LOG "%s", s->ctx.group, st->cmd);
    step_done(s, NULL, 0);
}

static void add_send(struct haproxy_scaler *s, const char *ip)
{
    struct hap_step *st = &s->plan.v[s->pc];
    if (hap_add_command(&s->o, &st->e, ip, st->cmd, sizeof(st->cmd)) < 0) {
        step_done(s, "the add server command is too long", 0);
        return;
    }
    st->expect = "New server registered.";
    st->kind = HAP_CMD;
    send_cmd(s, st->cmd, on_cmd);
}

static void on_resolved(const char *addr, const char *error, void *arg)
{
    struct haproxy_scaler *s = arg;
    char msg[300];
    s->res = NULL;
    as_loop_cancel_timer(s->ctx.loop, s->step_timer);
    s->step_timer = NULL;
    if (addr == NULL) {
        snprintf(msg, sizeof(msg), "cannot resolve %s: %s", s->plan.v[s->pc].e.host, error);
        step_done(s, msg, 0);
        return;
    }
    add_send(s, addr);
}

static int64_t on_resolve_timeout(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct haproxy_scaler *s = arg;
    char msg[300];
    s->step_timer = NULL;
    as_resolve_cancel(s->res);
    s->res = NULL;
    snprintf(msg, sizeof(msg), "cannot resolve %s within %lldms", s->plan.v[s->pc].e.host,
             (long long)s->ctx.timeout_ms);
    step_done(s, msg, 0);
    return AS_TIMER_STOP;
}

static void add_step(struct haproxy_scaler *s)
{
    struct hap_step *st = &s->plan.v[s->pc];
    if (as_resolve_is_numeric(st->e.host)) {
        add_send(s, st->e.host);
        return;
    }
    /* `add server` does not resolve names (management guide, "add server") */
    s->res = as_resolve_start(s->ctx.loop, st->e.host, on_resolved, s);
    s->step_timer =
        s->res ? as_loop_add_timer(s->ctx.loop, s->ctx.timeout_ms, on_resolve_timeout, s) : NULL;
    if (s->step_timer == NULL) {
        as_resolve_cancel(s->res);
        s->res = NULL;
        step_done(s, "cannot start resolving", 0);
    }
}

static void prov_start(struct haproxy_scaler *s, struct hap_step *st, int resume)
{
    char why[AS_MSG_MAX - 64];
    int permanent;
    if (hap_provision(s, st->id, resume, why, sizeof(why), &permanent) == 0) {
        step_done(s, NULL, 0);
        return;
    }
    hap_forget_provision(s, st->id);
    if (resume)
        AS_LOG(AS_ERROR,
               HAP_LOG "cannot resume the provision %s left by an earlier run: %s; the server "
                       "it was making, if any, is not in the pool",
               s->ctx.group, st->id, why);
    if (st->scale)
        fail_job(s, why, permanent);
    step_done(s, resume ? NULL : why, 0);
}

static void on_written(int ok, const char *error, void *arg)
{
    struct haproxy_scaler *s = arg;
    s->ticket = 0;
    if (s->stopping)
        return;
    if (s->aborted) {
        job_end(s);
        return;
    }
    struct hap_step *st = &s->plan.v[s->pc];
    if (ok && st->kind == HAP_PROV_NEW)
        prov_start(s, st, 0);
    else
        step_done(s, ok ? NULL : error, 0);
}

static int write_step(struct haproxy_scaler *s, struct hap_step *st)
{
    char path[4096];
    struct as_sb sb = {0};
    int rc;
    if (st->kind == HAP_PROV_NEW) {
        struct as_host_prov p = {.started_ms = as_wall_ms()};
        as_prov_id_new(st->id);
        memcpy(p.id, st->id, sizeof(p.id));
        rc = as_host_prov_path(s->o.hosts_dir, p.id, path, sizeof(path)) < 0 ||
                     as_host_prov_format(&p, &sb) < 0
                 ? -1
                 : 0;
    } else {
        rc = as_host_entry_path(s->o.hosts_dir, st->e.name, path, sizeof(path)) < 0 ||
                     as_host_entry_format(&st->e, &sb) < 0
                 ? -1
                 : 0;
    }
    if (rc < 0) {
        as_sb_free(&sb);
        return -1;
    }
    s->ticket = as_writer_put(s->writer, path, sb.buf, sb.len, 1, on_written, s);
    return s->ticket == 0 ? -1 : 0;
}

/* The steps are done: GET and SET read HAProxy again for the count they answer; an added
 * provisioned server is reconciled into HAProxy. */
static void steps_done(struct haproxy_scaler *s)
{
    if (s->pass < 0) {
        if (s->res_out.ok)
            hap_forget_provision(s, s->cur->e.id);
        s->res_out = (struct as_scale_result){.ok = 1, .replicas = -1};
        s->pass = 0;
    } else if (s->plan.n > 0 && s->pass == 0 && s->cur->kind != JOB_POLL &&
               s->cur->kind != JOB_ADD) {
        s->pass = 1;
    } else {
        job_end(s);
        return;
    }
    hap_plan_free(&s->plan);
    read_pool(s);
}

/* Whether the server of provision id waits to be added (its command is done). */
static int add_queued(const struct haproxy_scaler *s, const char *id)
{
    if (s->cur != NULL && s->cur->kind == JOB_ADD && strcmp(s->cur->e.id, id) == 0)
        return 1;
    for (const struct job *j = s->queue; j; j = j->next)
        if (j->kind == JOB_ADD && strcmp(j->e.id, id) == 0)
            return 1;
    return 0;
}

static void run_step(struct haproxy_scaler *s)
{
    while (s->pc < s->plan.n && s->plan.v[s->pc].group == s->skip_group)
        s->pc++;
    if (s->aborted) {
        job_end(s);
        return;
    }
    if (s->pc == s->plan.n) {
        steps_done(s);
        return;
    }
    struct hap_step *st = &s->plan.v[s->pc];
    switch (st->kind) {
    case HAP_CMD:
        send_cmd(s, st->cmd, on_cmd);
        return;
    case HAP_ADD:
        add_step(s);
        return;
    case HAP_WRITE:
    case HAP_PROV_NEW:
        if (write_step(s, st) < 0)
            step_done(s, "out of memory", 0);
        return;
    case HAP_DEPROV:
        hap_deprovision(s, &st->e);
        break;
    case HAP_PROV_RESUME:
        if (!hap_provision_running(s, st->id) && !add_queued(s, st->id)) {
            prov_start(s, st, 1);
            return;
        }
        break;
    }
    step_done(s, NULL, 0);
}

/* A provisioned server: its entry is written first (pass -1), then its provision record is
 * removed and the pool reconciled, which adds it to HAProxy. */
static void add_begin(struct haproxy_scaler *s)
{
    struct as_err err;
    const struct as_host_entry *e = &s->cur->e, *old;
    struct hap_step *st;
    as_err_clear(&err);
    s->pass = -1;
    s->pc = 0;
    s->skip_group = -1;
    if (as_hosts_load(s->o.hosts_dir, &s->hosts, &err) == 0 &&
        (old = as_hosts_find(&s->hosts, e->name)) != NULL) {
        if (strcmp(old->id, e->id) != 0)
            AS_LOG(AS_ERROR,
                   HAP_LOG "provision %s made %s:%d, which is in the pool already (%s): not "
                           "added twice",
                   s->ctx.group, e->id, e->host, e->port, old->id[0] ? old->id : "add-host");
        steps_done(s);
        return;
    }
    if ((st = hap_plan_step(&s->plan, HAP_WRITE, e)) == NULL) {
        fail_job(s, "out of memory", 0);
        job_end(s);
        return;
    }
    st->scale = 1;
    run_step(s);
}

/* ---- the ops ---- */

static int64_t on_poll(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct haproxy_scaler *s = arg;
    if (!s->pending || s->cur != NULL || s->queue != NULL)
        return s->o.poll;
    struct job *j = calloc(1, sizeof(*j));
    if (j != NULL) {
        j->kind = JOB_POLL;
        if (enqueue(s, j) < 0)
            free(j);
    }
    return s->o.poll;
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct haproxy_scaler *s = state;
    s->ctx = *ctx;
    s->last_count = -1;
    s->lock_fd = -1;
    s->pending = 1; /* a first poll resumes what an earlier run left (drains, provisions) */
    s->srv = calloc(AS_HART_SERVERS_MAX, sizeof(*s->srv));
    s->writer = s->srv ? as_writer_new(ctx->loop) : NULL;
    s->poll_timer = s->writer ? as_loop_add_timer(ctx->loop, 0, on_poll, s) : NULL;
    if (s->poll_timer == NULL)
        return as_err_set(err, "out of memory");
    return 0;
}

static void call(struct haproxy_scaler *s, enum job_kind kind, int want, as_scale_cb done,
                 void *arg)
{
    struct job *j = calloc(1, sizeof(*j));
    if (j != NULL) {
        *j = (struct job){.kind = kind, .want = want, .done = done, .arg = arg};
        if (enqueue(s, j) == 0)
            return;
        free(j);
    }
    /* Nothing will answer: the engine's deadline counts the call as failed. */
    AS_LOG(AS_ERROR, HAP_LOG "out of memory", s->ctx.group);
}

static void get(void *state, as_scale_cb done, void *arg)
{
    call(state, JOB_GET, 0, done, arg);
}

static void set(void *state, int want, as_scale_cb done, void *arg)
{
    call(state, JOB_SET, want, done, arg);
}

static void cancel(void *state)
{
    struct haproxy_scaler *s = state;
    for (struct job **pp = &s->queue; *pp;) {
        struct job *j = *pp;
        if (j->kind == JOB_GET || j->kind == JOB_SET) {
            *pp = j->next;
            free(j);
        } else {
            pp = &j->next;
        }
    }
    if (s->cur != NULL && (s->cur->kind == JOB_GET || s->cur->kind == JOB_SET) && !s->aborted) {
        s->cur->done = NULL;
        abort_job(s);
    }
}

static void finish_stop(struct haproxy_scaler *s)
{
    as_writer_free(s->writer); /* writes queued still happen */
    s->writer = NULL;
    hap_children_free(s);
    as_hosts_free(&s->hosts);
    free(s->srv);
    s->srv = NULL;
    hap_plan_free(&s->plan);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    s->lock_fd = -1;
    if (s->stop_done != NULL)
        s->stop_done(s->stop_arg);
}

static void stop(void *state, as_stopped_cb done, void *arg)
{
    struct haproxy_scaler *s = state;
    s->stopping = 1;
    s->stop_done = done;
    s->stop_arg = arg;
    if (s->ctx.loop == NULL) {
        done(arg);
        return;
    }
    as_loop_cancel_timer(s->ctx.loop, s->poll_timer);
    as_loop_cancel_timer(s->ctx.loop, s->kick);
    as_loop_cancel_timer(s->ctx.loop, s->step_timer);
    as_hart_cancel(s->rt);
    as_resolve_cancel(s->res);
    s->poll_timer = s->kick = s->step_timer = NULL;
    s->rt = NULL;
    s->res = NULL;
    free(s->cur);
    s->cur = NULL;
    for (struct job *j = s->queue, *n; j; j = n) {
        n = j->next;
        free(j);
    }
    s->queue = NULL;
    hap_children_stop(s, finish_stop);
}

/* ---- describe (--dry-run) ---- */

static void join(char *const *argv, char *buf, size_t len)
{
    size_t n = strlen(buf);
    for (size_t i = 0; argv && argv[i] && n + 1 < len; i++) {
        snprintf(buf + n, len - n, "%s%s", i ? " " : "", argv[i]);
        n += strlen(buf + n);
    }
}

static void describe(void *state, int want, char *buf, size_t len)
{
    struct haproxy_scaler *s = state;
    struct hap_plan p = {0};
    struct hap_view v;
    struct as_sb sb = {0};
    char prov[200] = "", opts[160] = "";
    view_of(s, &v);
    if (!s->have_view || hap_plan(&s->o, &v, want, &p) < 0) {
        snprintf(buf, len, "read %s via %s, then drain or provision servers to %d", s->o.backend,
                 s->o.socket, want);
        hap_plan_free(&p);
        return;
    }
    for (size_t i = 0; i < p.n; i++)
        if (p.v[i].scale && p.v[i].kind == HAP_CMD)
            as_sb_printf(&sb, "%s%s", sb.len ? "; " : "", p.v[i].cmd);
    join(s->o.provision, prov, sizeof(prov));
    join(s->o.server_options, opts, sizeof(opts));
    if (p.provision > 0)
        as_sb_printf(&sb,
                     "%srun [%s] %d time(s), then for each HOST:PORT it prints: add server "
                     "%s/HOST_PORT HOST:PORT weight %d %s; enable server %s/HOST_PORT",
                     sb.len ? "; " : "", prov, p.provision, s->o.backend, s->o.weight, opts,
                     s->o.backend);
    if (p.short_by > 0)
        as_sb_printf(&sb, "%s%d fewer: no removable server left", sb.len ? "; " : "", p.short_by);
    snprintf(buf, len, "%s", sb.buf ? sb.buf : "nothing to change");
    as_sb_free(&sb);
    hap_plan_free(&p);
}

const struct as_scaler_ops as_scaler_haproxy = {
    .name = "haproxy",
    .opts = as_haproxy_opts_table,
    .state_size = sizeof(struct haproxy_scaler),
    .summary = "Servers of an HAProxy backend through its Runtime API: provisioned and "
               "deprovisioned by your commands, drained before removal, kept in hosts.d.",
    .validate = validate,
    .start = start,
    .get = get,
    .set = set,
    .cancel = cancel,
    .stop = stop,
    .describe = describe,
};
