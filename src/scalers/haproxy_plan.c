/* The haproxy scaler's options and planning (haproxy_plan.h). */
#include "scalers/haproxy_plan.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const removes[] = {"provisioned", "any", NULL};

#define O(f) offsetof(struct as_haproxy_opts, f)
const struct as_opt as_haproxy_opts_table[] = {
    {"socket", AS_OPT_STR, O(socket), NULL, AS_NO_BOUNDS, AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "HAProxy's Runtime API socket (a `stats socket ... level admin` line): a UNIX socket path "
     "(relative to this file), unix@PATH, or IPV4:PORT."},
    {"backend", AS_OPT_STR, O(backend), NULL, AS_NO_BOUNDS, AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "The backend whose servers are the pool; it must use a dynamic balance algorithm "
     "(roundrobin, leastconn, first, random, or a consistent hash)."},
    {"hosts_dir", AS_OPT_STR, O(hosts_dir), "hosts.d", AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL,
     "Directory of the pool's entries (one file per server, written by add-host and by this "
     "scaler), relative to this file."},
    {"provision", AS_OPT_STRLIST, O(provision), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Program and arguments (no shell) that create one server and print its HOST:PORT as the "
     "last line of stdout; {{group}}, {{backend}} and {{id}} are substituted. {{id}} (also "
     "AUTOSCALER_PROVISION_ID) names the provision: after a restart it runs again with the same "
     "id, so make it idempotent on it."},
    {"deprovision", AS_OPT_STRLIST, O(deprovision), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL,
     "Program and arguments run after a server left the backend; {{host}}, {{port}}, {{server}}, "
     "{{id}} (its provision, \"\" for add-host's), {{group}} and {{backend}} are substituted. "
     "Exit 0 removes its entry; else it is retried (10 s, doubling to 10 min). None: the entry "
     "is removed at once."},
    {"server_options", AS_OPT_STRLIST, O(server_options), "[check]", AS_NO_BOUNDS, 0, NULL,
     "Words after `weight W` on every server line and `add server` (e.g. [check, inter, 2s]): "
     "only keywords `add server` accepts (HAProxy 2.6 management guide), not weight, backup, "
     "disabled or enabled; with `check`, `enable health` follows `add server`."},
    {"weight", AS_OPT_INT, O(weight), "1", 0, 256, 0, NULL,
     "HAProxy weight of the servers this scaler provisions (add-host sets its own)."},
    {"remove", AS_OPT_ENUM, O(remove), "provisioned", AS_NO_BOUNDS, 0, removes,
     "Which servers a scale-down may drain and remove: those this scaler provisioned, or any "
     "server with a hosts.d entry (then add-host's too)."},
    {"drain_timeout", AS_OPT_DURATION, O(drain_timeout), "5m", 0, 86400000, 0, NULL,
     "How long a draining server keeps its sessions before it is removed anyway (`shutdown "
     "sessions server`); it goes earlier once it has no session and no queue."},
    {"provision_timeout", AS_OPT_DURATION, O(provision_timeout), "10m", 1000, 86400000, 0, NULL,
     "How long `provision` may run (then SIGTERM, SIGKILL after grace); it runs beyond the "
     "scale call, counted as a server meanwhile."},
    {"deprovision_timeout", AS_OPT_DURATION, O(deprovision_timeout), "10m", 1000, 86400000, 0, NULL,
     "How long `deprovision` may run before it is stopped and retried."},
    {"grace", AS_OPT_DURATION, O(grace), "10s", 1, 600000, 0, NULL,
     "After a command's timeout, how long SIGTERM is given before SIGKILL."},
    {"poll", AS_OPT_DURATION, O(poll), "1s", 100, 60000, 0, NULL,
     "While drains, deprovisions or provisions are under way, how often hosts.d and HAProxy "
     "are read again (besides every round)."},
    {"template", AS_OPT_STR, O(tmpl), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL,
     "`autoscaler generate`: the HAProxy configuration template ({{servers}}), relative to this "
     "file."},
    {"config", AS_OPT_STR, O(config), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL,
     "`autoscaler generate`: the live HAProxy configuration file it replaces, relative to this "
     "file."},
    {"check", AS_OPT_STRLIST, O(check), "[haproxy, -c, -f, '{{file}}']", AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "`autoscaler generate`: the command that checks a rendered file ({{file}}); exit 0 means "
     "valid."},
    {"reload", AS_OPT_STRLIST, O(reload), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL,
     "`autoscaler generate`: the command that reloads HAProxy once the file is replaced (e.g. "
     "[systemctl, reload, haproxy]); none: not reloaded."},
    AS_OPT_END,
};
#undef O

/* ---- validation ---- */

static int at(struct as_node *map, const char *key, struct as_err *err, const char *msg,
              const char *detail)
{
    return as_err_key(err, map, key, "'%s': %s%s", key, msg, detail ? detail : "");
}

/* Makes *path absolute from base (the configuration's directory). Returns 0 or -1 (ENOMEM). */
static int absolute(char **path, const char *base)
{
    if (*path == NULL || (*path)[0] == '/')
        return 0;
    struct as_sb sb = {0};
    if (as_sb_printf(&sb, "%s/%s", base, *path) < 0)
        return -1;
    free(*path);
    *path = sb.buf;
    return 0;
}

/* A program given with a relative path ("./provision.sh") is taken from base too; a bare
 * name is searched in PATH. */
static int program(char **argv, const char *base)
{
    if (argv == NULL || argv[0] == NULL || argv[0][0] == '/' || strchr(argv[0], '/') == NULL)
        return 0;
    return absolute(&argv[0], base);
}

static int socket_path(char **sock, const char *base)
{
    char *s = *sock;
    if (strncmp(s, "unix@", 5) == 0)
        return s[5] == '/' ? 0 : -2;
    if (s[0] == '/' || strncmp(s, "ipv4@", 5) == 0 || strchr(s, ':') != NULL)
        return 0;
    return absolute(sock, base);
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= AS_HART_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("._:-", s[i]) == NULL)
            return 0;
    return 1;
}

static int reserved(const char *kw)
{
    static const char *const words[] = {"weight", "backup", "disabled", "enabled", NULL};
    for (size_t i = 0; words[i]; i++)
        if (strcmp(kw, words[i]) == 0)
            return 1;
    return 0;
}

static char **list_of(const char *const *items)
{
    size_t n = 0;
    while (items[n])
        n++;
    char **l = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; l && i < n; i++)
        if ((l[i] = as_strdup(items[i])) == NULL) {
            as_strv_free(l);
            return NULL;
        }
    return l;
}

static int defaults(struct as_haproxy_opts *o)
{
    static const char *const check[] = {"check", NULL};
    static const char *const cmd[] = {"haproxy", "-c", "-f", "{{file}}", NULL};
    if (o->server_options == NULL && (o->server_options = list_of(check)) == NULL)
        return -1;
    if (o->check == NULL && (o->check = list_of(cmd)) == NULL)
        return -1;
    return 0;
}

int as_haproxy_validate(struct as_haproxy_opts *o, struct as_node *map, struct as_err *err)
{
    char why[160], dir[4096];
    const char *file;
    int line, col, rc;
    as_node_pos(map, "type", &file, &line, &col);
    char real[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", file ? file : ".");
    const char *parent = dirname(dir); /* once: dirname may cut dir in place */
    const char *base = realpath(parent, real) ? real : parent;
    if (defaults(o) < 0)
        return as_err_set(err, "out of memory");
    if (!name_ok(o->backend))
        return at(map, "backend", err, "a backend name is 1 to 127 of A-Z a-z 0-9 . _ : -", NULL);
    for (size_t i = 0; o->server_options[i]; i++)
        if (!as_host_option_ok(o->server_options[i]) || reserved(o->server_options[i]))
            return at(map, "server_options", err,
                      "each entry is one keyword or value (A-Z a-z 0-9 . _ : / @ = + , - %); "
                      "not weight (from hosts.d), backup, disabled or enabled (the scaler sets "
                      "the state)",
                      NULL);
    if ((rc = socket_path(&o->socket, base)) == -1 || absolute(&o->hosts_dir, base) < 0 ||
        absolute(&o->tmpl, base) < 0 || absolute(&o->config, base) < 0 ||
        program(o->provision, base) < 0 || program(o->deprovision, base) < 0 ||
        program(o->check, base) < 0 || program(o->reload, base) < 0)
        return as_err_set(err, "out of memory");
    if (rc == -2 || as_hart_addr_check(o->socket, why, sizeof(why)) < 0)
        return at(map, "socket", err, rc == -2 ? "unix@ needs an absolute path" : why, NULL);
    return 0;
}

/* ---- planning ---- */

#define ADMIN_FIXABLE (AS_HART_ADMIN_FMAINT | AS_HART_ADMIN_FDRAIN) /* ours to set, clear */

const struct as_hart_server *hap_server(const struct hap_view *v, const char *name)
{
    for (size_t i = 0; i < v->nsrv; i++)
        if (strcmp(v->srv[i].name, name) == 0)
            return &v->srv[i];
    return NULL;
}

int hap_count(const struct hap_view *v)
{
    int n = (int)v->hosts->nprov;
    for (size_t i = 0; i < v->hosts->n; i++) {
        const struct as_host_entry *e = &v->hosts->v[i];
        const struct as_hart_server *s = hap_server(v, e->name);
        n += e->state == AS_HOST_ACTIVE && s != NULL &&
             (s->admin & (AS_HART_ADMIN_MAINT | AS_HART_ADMIN_DRAIN)) == 0;
    }
    return n;
}

/* An active entry that will serve once reconciled: absent (added), or present with only
 * flags of ours. */
static int can_serve(const struct hap_view *v, const struct as_host_entry *e)
{
    const struct as_hart_server *s = hap_server(v, e->name);
    return s == NULL || (s->admin & ~ADMIN_FIXABLE) == 0;
}

int hap_pending(const struct hap_view *v)
{
    if (v->hosts->nprov > 0)
        return 1;
    for (size_t i = 0; i < v->hosts->n; i++)
        if (v->hosts->v[i].state != AS_HOST_ACTIVE)
            return 1;
    return 0;
}

int hap_has_check(const struct as_haproxy_opts *o)
{
    for (size_t i = 0; o->server_options && o->server_options[i]; i++)
        if (strcmp(o->server_options[i], "check") == 0)
            return 1;
    return 0;
}

int hap_add_command(const struct as_haproxy_opts *o, const struct as_host_entry *e, const char *ip,
                    char *out, size_t len)
{
    char addr[AS_HOST_MAX + 16];
    as_host_address(ip, e->port, addr, sizeof(addr));
    int n =
        snprintf(out, len, "add server %s/%s %s weight %d", o->backend, e->name, addr, e->weight);
    for (size_t i = 0; o->server_options && o->server_options[i] && n >= 0 && (size_t)n < len; i++)
        n += snprintf(out + n, len - (size_t)n, " %s", o->server_options[i]);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

struct hap_step *hap_plan_step(struct hap_plan *p, enum hap_step_kind kind,
                               const struct as_host_entry *e)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        struct hap_step *v = realloc(p->v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        p->v = v;
        p->cap = cap;
    }
    struct hap_step *s = &p->v[p->n++];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->group = p->groups;
    if (e != NULL)
        s->e = *e;
    return s;
}

/* The planning of one call: the entries as the scale part leaves them. */
struct ctx {
    const struct as_haproxy_opts *o;
    const struct hap_view *v;
    struct hap_plan *p;
    struct as_host_entry *e; /* copies of v->hosts->v, states changed by the scale part */
    int *changed;            /* per entry: its state changed in this plan */
};

/* A Runtime API command on e's server: "VERB BACKEND/NAME[ARGS]". */
static int cmd(struct ctx *c, const struct as_host_entry *e, const char *verb, const char *args,
               const char *expect)
{
    struct hap_step *s = hap_plan_step(c->p, HAP_CMD, e);
    if (s == NULL)
        return -1;
    snprintf(s->cmd, sizeof(s->cmd), "%s %s/%s%s", verb, c->o->backend, e->name, args);
    s->expect = expect;
    return 0;
}

static int step(struct ctx *c, enum hap_step_kind kind, const struct as_host_entry *e)
{
    return hap_plan_step(c->p, kind, e) == NULL ? -1 : 0;
}

static int write_as(struct ctx *c, const struct as_host_entry *e, int state, int64_t since)
{
    struct hap_step *s = hap_plan_step(c->p, HAP_WRITE, e);
    if (s == NULL)
        return -1;
    s->e.state = state;
    s->e.since_ms = since;
    return 0;
}

static int active(struct ctx *c, const struct as_host_entry *e, const struct as_hart_server *s)
{
    int check = hap_has_check(c->o);
    char args[32];
    if (s == NULL)
        return step(c, HAP_ADD, e) < 0 || (check && cmd(c, e, "enable health", "", "") < 0) ||
                       cmd(c, e, "enable server", "", "") < 0
                   ? -1
                   : 0;
    /* ready first: a failed `enable health` (a server without checks) skips the rest */
    if ((s->admin & ADMIN_FIXABLE) && cmd(c, e, "set server", " state ready", "") < 0)
        return -1;
    if ((s->admin & AS_HART_ADMIN_FMAINT) && check && cmd(c, e, "enable health", "", "") < 0)
        return -1;
    snprintf(args, sizeof(args), " weight %d", e->weight);
    return s->weight != e->weight ? cmd(c, e, "set server", args, "") : 0;
}

/* maint, sessions shut down when there may be any, del server, then deprovision. */
static int removal(struct ctx *c, const struct as_host_entry *e, const struct as_hart_server *s)
{
    if (s != NULL) {
        if (!(s->admin & AS_HART_ADMIN_FMAINT) && cmd(c, e, "set server", " state maint", "") < 0)
            return -1;
        if (s->scur != 0 && cmd(c, e, "shutdown sessions server", "", "") < 0)
            return -1;
        if (cmd(c, e, "del server", "", "Server deleted.") < 0)
            return -1;
    }
    return step(c, HAP_DEPROV, e);
}

static int draining(struct ctx *c, size_t i, const struct as_hart_server *s)
{
    const struct as_host_entry *e = &c->e[i];
    int timed_out = c->v->now_ms - e->since_ms >= c->o->drain_timeout;
    if (c->changed[i]) /* drained now: removed by a later plan, once HAProxy has seen it */
        return cmd(c, e, "set server", " state drain", "");
    /* A server a reload forgot: the old process may still serve its sessions, unseen. */
    int idle = s != NULL && s->scur == 0 && s->qcur <= 0;
    if (timed_out || idle)
        return write_as(c, e, AS_HOST_DEPROVISIONING, c->v->now_ms) < 0 ? -1 : removal(c, e, s);
    if (s != NULL && !(s->admin & (AS_HART_ADMIN_DRAIN | AS_HART_ADMIN_MAINT)))
        return cmd(c, e, "set server", " state drain", "");
    return 0;
}

static int reconcile_one(struct ctx *c, size_t i)
{
    const struct as_host_entry *e = &c->e[i];
    const struct as_hart_server *s = hap_server(c->v, e->name);
    size_t first = c->p->n;
    int rc;
    c->p->groups++;
    if (c->changed[i] && write_as(c, e, e->state, e->since_ms) < 0)
        return -1;
    switch (e->state) {
    case AS_HOST_ACTIVE:
        rc = active(c, e, s);
        break;
    case AS_HOST_DRAINING:
        rc = draining(c, i, s);
        break;
    default:
        rc = removal(c, e, s);
        break;
    }
    for (size_t k = first; k < c->p->n; k++)
        c->p->v[k].scale = c->changed[i];
    return rc;
}

struct cand {
    size_t i;
    long scur;
    int64_t t; /* the drain's start (up), the server's addition (down) */
};

static int by_latest(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return (x->t < y->t) - (x->t > y->t);
}

static int by_load(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    unsigned long sx = (unsigned long)x->scur, sy = (unsigned long)y->scur; /* -1: last */
    if (sx != sy)
        return (sx > sy) - (sx < sy);
    return (x->t < y->t) - (x->t > y->t);
}

/* Entries that can cancel their drain (up) or start one (down), in the order to use them. */
static size_t candidates(struct ctx *c, int up, struct cand *out)
{
    size_t n = 0;
    for (size_t i = 0; i < c->v->hosts->n; i++) {
        const struct as_host_entry *e = &c->e[i];
        const struct as_hart_server *s = hap_server(c->v, e->name);
        long scur = s ? s->scur : -1;
        if (up && e->state == AS_HOST_DRAINING && (s == NULL || (s->admin & ~ADMIN_FIXABLE) == 0))
            out[n++] = (struct cand){i, scur, e->since_ms};
        else if (!up && e->state == AS_HOST_ACTIVE && s != NULL && can_serve(c->v, e) &&
                 (e->origin == AS_HOST_PROVISIONED || c->o->remove == AS_HAP_REMOVE_ANY))
            out[n++] = (struct cand){i, scur, e->added_ms};
    }
    qsort(out, n, sizeof(*out), up ? by_latest : by_load);
    return n;
}

/* The count the reconciled pool will have: active entries that can serve, and provisions. */
static int expected(const struct ctx *c)
{
    int n = (int)c->v->hosts->nprov;
    for (size_t i = 0; i < c->v->hosts->n; i++)
        n += c->e[i].state == AS_HOST_ACTIVE && can_serve(c->v, &c->e[i]);
    return n;
}

/* Changes the entries' states toward want, and counts the provisions to start. */
static int scale(struct ctx *c, int want)
{
    int count = expected(c);
    if (want == count)
        return 0;
    struct cand *cand = calloc(c->v->hosts->n + 1, sizeof(*cand));
    if (cand == NULL)
        return -1;
    size_t n = candidates(c, want > count, cand);
    for (size_t k = 0; k < n && count != want; k++) {
        struct as_host_entry *e = &c->e[cand[k].i];
        c->changed[cand[k].i] = 1;
        if (want > count) {
            e->state = AS_HOST_ACTIVE;
            e->since_ms = 0;
            c->p->undrain++;
            count++;
        } else {
            e->state = AS_HOST_DRAINING;
            e->since_ms = c->v->now_ms;
            c->p->drain++;
            count--;
        }
    }
    free(cand);
    if (want > count)
        c->p->provision = want - count;
    else
        c->p->short_by = count - want;
    return 0;
}

static int provisions(struct ctx *c)
{
    for (size_t i = 0; i < c->v->hosts->nprov; i++) {
        c->p->groups++;
        struct hap_step *s = hap_plan_step(c->p, HAP_PROV_RESUME, NULL);
        if (s == NULL)
            return -1;
        memcpy(s->id, c->v->hosts->prov[i].id, sizeof(s->id));
    }
    for (int i = 0; i < c->p->provision; i++) {
        c->p->groups++;
        struct hap_step *s = hap_plan_step(c->p, HAP_PROV_NEW, NULL);
        if (s == NULL)
            return -1;
        s->scale = 1;
    }
    return 0;
}

int hap_plan(const struct as_haproxy_opts *o, const struct hap_view *v, int want,
             struct hap_plan *p)
{
    size_t n = v->hosts->n;
    struct ctx c = {.o = o, .v = v, .p = p};
    int rc = -1;
    c.e = malloc((n + 1) * sizeof(*c.e));
    c.changed = calloc(n + 1, sizeof(*c.changed));
    if (c.e == NULL || c.changed == NULL)
        goto out;
    if (n > 0)
        memcpy(c.e, v->hosts->v, n * sizeof(*c.e));
    if (want >= 0 && scale(&c, want) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (reconcile_one(&c, i) < 0)
            goto out;
    rc = provisions(&c);
out:
    free(c.e);
    free(c.changed);
    return rc;
}

void hap_plan_free(struct hap_plan *p)
{
    free(p->v);
    memset(p, 0, sizeof(*p));
}
