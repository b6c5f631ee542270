/* The haproxy scaler's commands (haproxy_run.h): `provision`, which makes one server and
 * prints its HOST:PORT as the last line of stdout, and `deprovision`, which destroys one that
 * left the backend. Each runs without a shell in a process group of its own (util/proc.h),
 * stopped at its timeout (SIGTERM, SIGKILL after grace) and when the daemon stops or dies.
 * Of its output only the last line of stdout (the address) and of stderr (why it failed) are
 * kept, bounded; neither its arguments nor its environment are logged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/loop.h"
#include "scalers/haproxy_run.h"

#define DEPROV_BACKOFF_MS 10000
#define DEPROV_BACKOFF_MAX_MS 600000
#define LAST_MAX 300

struct lines { /* the last non-empty line of each stream */
    char out[LAST_MAX], err[LAST_MAX];
};

struct run {
    struct hap_child *c;
    struct lines last;
};

/* argv with the placeholders substituted; NULL on ENOMEM. Caller frees (as_strv_free). */
static char **expand(char *const *tmpl, const char *const *keys, const char *const *values,
                     size_t n)
{
    size_t len = 0;
    while (tmpl[len])
        len++;
    char **argv = calloc(len + 1, sizeof(char *));
    for (size_t i = 0; argv && i < len; i++)
        if ((argv[i] = as_template(tmpl[i], keys, values, n)) == NULL) {
            as_strv_free(argv);
            return NULL;
        }
    return argv;
}

static void on_line(int stream, const char *line, size_t len, void *arg)
{
    struct run *r = arg;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return;
    char *dst = stream == AS_PROC_STDOUT ? r->last.out : r->last.err;
    as_printable(line, len, dst, LAST_MAX);
}

static void unlink_child(struct haproxy_scaler *s, struct hap_child *c)
{
    for (struct hap_child **pp = &s->children; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            return;
        }
}

static struct hap_child *find(const struct haproxy_scaler *s, enum child_kind kind, const char *key)
{
    for (struct hap_child *c = s->children; c; c = c->next)
        if (c->kind == kind && strcmp(kind == CHILD_PROV ? c->id : c->e.name, key) == 0)
            return c;
    return NULL;
}

/* Starts argv for c; the run (its last lines) is freed by the callback. Returns 0, or -1
 * with why and errno. */
static int spawn(struct haproxy_scaler *s, struct hap_child *c, char **argv, const char *const *env,
                 int64_t timeout_ms, as_proc_cb cb, char *why, size_t len)
{
    struct as_err err;
    struct run *r = calloc(1, sizeof(*r));
    as_err_clear(&err);
    if (argv == NULL || r == NULL) {
        as_strv_free(argv);
        free(r);
        snprintf(why, len, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    r->c = c;
    struct as_proc_opts po = {.argv = (const char *const *)argv,
                              .env = env,
                              .out = AS_PROC_LINES,
                              .err = AS_PROC_LINES,
                              .on_line = on_line,
                              .timeout_ms = timeout_ms,
                              .grace_ms = s->o.grace};
    c->proc = as_proc_spawn(s->ctx.loop, &po, cb, r, &err);
    int saved = errno;
    as_strv_free(argv);
    if (c->proc == NULL) {
        free(r);
        snprintf(why, len, "%s", err.msg);
        errno = saved;
        return -1;
    }
    s->nchildren++;
    return 0;
}

/* A child has exited; during a stop, the last one ends it. Returns 1 when stopping. */
static int exited(struct haproxy_scaler *s, struct hap_child *c)
{
    c->proc = NULL;
    s->nchildren--;
    if (!s->stopping)
        return 0;
    if (s->nchildren == 0 && s->children_done != NULL) {
        void (*done)(struct haproxy_scaler *) = s->children_done;
        s->children_done = NULL;
        done(s);
    }
    return 1;
}

/* ---- provision ---- */

static void on_provisioned(const struct as_proc_result *res, void *arg)
{
    struct run *r = arg;
    struct hap_child *c = r->c;
    struct haproxy_scaler *s = c->s;
    struct as_host_entry e = {0};
    char how[64], why[160];
    if (exited(s, c)) { /* stopping: the record stays; the next start resumes it */
        free(r);
        return;
    }
    unlink_child(s, c);
    as_proc_describe(res, how, sizeof(how));
    if (res->exit_code != 0 || res->timed_out) {
        AS_LOG(AS_ERROR, HAP_LOG "provision %s failed (%s): %s%s", s->ctx.group, c->id, how,
               r->last.err[0] ? r->last.err : "no output on stderr",
               res->timed_out ? "; the server it was making, if any, is not in the pool" : "");
        hap_forget_provision(s, c->id);
    } else if (as_host_parse_pair(r->last.out, &e, why, sizeof(why)) < 0) {
        AS_LOG(AS_ERROR,
               HAP_LOG "provision %s printed \"%.80s\" as its last line: %s; nothing added (the "
                       "server it made, if any, is not in the pool)",
               s->ctx.group, c->id, r->last.out, why);
        hap_forget_provision(s, c->id);
    } else {
        e.weight = s->o.weight;
        e.origin = AS_HOST_PROVISIONED;
        e.added_ms = as_wall_ms();
        memcpy(e.id, c->id, sizeof(e.id));
        AS_LOG(AS_INFO, HAP_LOG "provision %s made %s:%d in %lldms", s->ctx.group, c->id, e.host,
               e.port, (long long)res->elapsed_ms);
        if (hap_enqueue_add(s, &e) < 0) /* the record stays: resumed by the next poll */
            AS_LOG(AS_ERROR, HAP_LOG "out of memory adding %s", s->ctx.group, e.name);
    }
    s->pending = 1;
    free(c);
    free(r);
}

int hap_provision_running(const struct haproxy_scaler *s, const char *id)
{
    return find(s, CHILD_PROV, id) != NULL;
}

int hap_provision(struct haproxy_scaler *s, const char *id, int resume, char *why, size_t len,
                  int *permanent)
{
    const char *keys[] = {"group", "backend", "id"};
    const char *values[] = {s->ctx.group, s->o.backend, id};
    char e_group[300], e_backend[AS_HART_NAME_MAX + 32], e_id[AS_PROV_ID_MAX + 32];
    snprintf(e_group, sizeof(e_group), "AUTOSCALER_GROUP=%s", s->ctx.group);
    snprintf(e_backend, sizeof(e_backend), "AUTOSCALER_BACKEND=%s", s->o.backend);
    snprintf(e_id, sizeof(e_id), "AUTOSCALER_PROVISION_ID=%s", id);
    const char *env[] = {e_group, e_backend, e_id, NULL};
    struct hap_child *c = calloc(1, sizeof(*c));
    *permanent = 0;
    if (c == NULL) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    *c = (struct hap_child){.s = s, .kind = CHILD_PROV};
    memcpy(c->id, id, sizeof(c->id));
    if (spawn(s, c, expand(s->o.provision, keys, values, 3), env, s->o.provision_timeout,
              on_provisioned, why, len) < 0) {
        *permanent = errno == ENOENT || errno == EACCES || errno == ENOEXEC;
        free(c);
        return -1;
    }
    c->next = s->children;
    s->children = c;
    AS_LOG(AS_INFO, HAP_LOG "%s %s (pid %ld)", s->ctx.group,
           resume ? "resuming the provision left by an earlier run:" : "provisioning a server:", id,
           (long)as_proc_pid(c->proc));
    return 0;
}

/* ---- deprovision ---- */

static void entry_gone(struct haproxy_scaler *s, const struct as_host_entry *e)
{
    char path[4096];
    struct as_err err;
    as_err_clear(&err);
    if (as_host_entry_path(s->o.hosts_dir, e->name, path, sizeof(path)) < 0 ||
        as_hosts_unlink(path, 0, &err) < 0)
        AS_LOG(AS_ERROR, HAP_LOG "%s: %s", s->ctx.group, e->name,
               err.msg[0] ? err.msg : "path too long");
    else
        AS_LOG(AS_INFO, HAP_LOG "%s:%d left the pool", s->ctx.group, e->host, e->port);
}

static void retry_later(struct haproxy_scaler *s, struct hap_child *c)
{
    int64_t delay = DEPROV_BACKOFF_MS;
    for (int i = 0; i < c->failures && delay < DEPROV_BACKOFF_MAX_MS; i++)
        delay *= 2;
    c->failures++;
    c->next_ms =
        as_loop_now(s->ctx.loop) + (delay < DEPROV_BACKOFF_MAX_MS ? delay : DEPROV_BACKOFF_MAX_MS);
}

static void on_deprovisioned(const struct as_proc_result *res, void *arg)
{
    struct run *r = arg;
    struct hap_child *c = r->c;
    struct haproxy_scaler *s = c->s;
    char how[64];
    if (exited(s, c)) { /* stopping: the entry stays deprovisioning; the next start reruns it */
        free(r);
        return;
    }
    if (res->exit_code == 0 && !res->timed_out) {
        entry_gone(s, &c->e);
        unlink_child(s, c);
        free(c);
        free(r);
        return;
    }
    retry_later(s, c);
    AS_LOG(AS_ERROR, HAP_LOG "deprovision %s:%d failed (%s): %s; retried in %llds", s->ctx.group,
           c->e.host, c->e.port, as_proc_describe(res, how, sizeof(how)),
           r->last.err[0] ? r->last.err : "no output on stderr",
           (long long)(c->next_ms - as_loop_now(s->ctx.loop)) / 1000);
    free(r);
}

void hap_deprovision(struct haproxy_scaler *s, const struct as_host_entry *e)
{
    struct hap_child *c = find(s, CHILD_DEPROV, e->name);
    if (c != NULL && (c->proc != NULL || as_loop_now(s->ctx.loop) < c->next_ms))
        return;
    if (s->o.deprovision == NULL) {
        entry_gone(s, e);
        return;
    }
    if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL) {
        *c = (struct hap_child){.s = s, .kind = CHILD_DEPROV, .e = *e, .next = s->children};
        s->children = c;
    }
    if (c == NULL) {
        AS_LOG(AS_ERROR, HAP_LOG "out of memory deprovisioning %s", s->ctx.group, e->name);
        return;
    }
    char port[16], why[200], e_host[AS_HOST_MAX + 20], e_port[40], e_name[AS_HOST_NAME_MAX + 20],
        e_id[AS_PROV_ID_MAX + 32], e_group[300], e_backend[AS_HART_NAME_MAX + 32];
    snprintf(port, sizeof(port), "%d", e->port);
    snprintf(e_host, sizeof(e_host), "AUTOSCALER_HOST=%s", e->host);
    snprintf(e_port, sizeof(e_port), "AUTOSCALER_PORT=%d", e->port);
    snprintf(e_name, sizeof(e_name), "AUTOSCALER_SERVER=%s", e->name);
    snprintf(e_id, sizeof(e_id), "AUTOSCALER_PROVISION_ID=%s", e->id);
    snprintf(e_group, sizeof(e_group), "AUTOSCALER_GROUP=%s", s->ctx.group);
    snprintf(e_backend, sizeof(e_backend), "AUTOSCALER_BACKEND=%s", s->o.backend);
    const char *keys[] = {"host", "port", "server", "group", "backend", "id"};
    const char *values[] = {e->host, port, e->name, s->ctx.group, s->o.backend, e->id};
    const char *env[] = {e_host, e_port, e_name, e_id, e_group, e_backend, NULL};
    if (spawn(s, c, expand(s->o.deprovision, keys, values, 6), env, s->o.deprovision_timeout,
              on_deprovisioned, why, sizeof(why)) < 0) {
        retry_later(s, c);
        AS_LOG(AS_ERROR, HAP_LOG "deprovision %s:%d: %s; retried in %llds", s->ctx.group, e->host,
               e->port, why, (long long)(c->next_ms - as_loop_now(s->ctx.loop)) / 1000);
        return;
    }
    AS_LOG(AS_INFO, HAP_LOG "deprovisioning %s:%d (pid %ld)", s->ctx.group, e->host, e->port,
           (long)as_proc_pid(c->proc));
}

int hap_children_waiting(const struct haproxy_scaler *s)
{
    for (const struct hap_child *c = s->children; c; c = c->next)
        if (c->kind == CHILD_DEPROV)
            return 1;
    return 0;
}

void hap_children_stop(struct haproxy_scaler *s, void (*done)(struct haproxy_scaler *))
{
    s->children_done = done;
    for (struct hap_child *c = s->children; c; c = c->next)
        if (c->proc != NULL) {
            if (c->kind == CHILD_PROV)
                AS_LOG(AS_WARN,
                       HAP_LOG "stopping: provision %s is stopped; the next start runs it again "
                               "with the same id",
                       s->ctx.group, c->id);
            as_proc_terminate(c->proc, s->o.grace);
        }
    if (s->nchildren == 0) {
        s->children_done = NULL;
        done(s);
    }
}

void hap_children_free(struct haproxy_scaler *s)
{
    for (struct hap_child *c = s->children, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    s->children = NULL;
}
