/* scalers/haproxy: the options, the planning (haproxy_plan.h: what a read of hosts.d and
 * HAProxy leads to, as tables of plans written out one step a line), and the scaler's calls
 * against an in-process HAProxy model on a UNIX socket (test_haproxy_fake.h): the count, a
 * scale both ways, garbage and silence from the socket (the call fails: the group holds),
 * cancel, the lock of hosts.d, describe. The real HAProxy is in
 * tests/integration/test_scaler_haproxy.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config/cfg.h"
#include "config/hosts.h"
#include "core/plugin.h"
#include "scalers/haproxy_plan.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/util.h"

static const struct as_scaler_ops *ops = &as_scaler_haproxy;

#include "scaler_fixture.h"
#include "test_haproxy_fake.h"

#define NOW 1700000600000LL

static struct as_haproxy_opts base_opts(void)
{
    static char *sopts[] = {"check", NULL};
    return (struct as_haproxy_opts){
        .backend = "app", .server_options = sopts, .weight = 1, .drain_timeout = 300000};
}

static struct as_host_entry entry(const char *host, int port, int origin, int state, int64_t added,
                                  int64_t since)
{
    struct as_host_entry e = {.port = port,
                              .weight = 1,
                              .origin = origin,
                              .state = state,
                              .added_ms = added,
                              .since_ms = since};
    snprintf(e.host, sizeof(e.host), "%s", host);
    as_host_server_name(e.host, port, e.name, sizeof(e.name));
    return e;
}

static struct as_hart_server server(const char *name, unsigned admin, long scur, int weight)
{
    struct as_hart_server s = {.op = 2, .admin = admin, .scur = scur, .qcur = 0, .weight = weight};
    snprintf(s.name, sizeof(s.name), "%s", name);
    return s;
}

/* The plan as text: one line a step, '*' before the steps of the set's own change. */
static char *plan_text(const struct as_haproxy_opts *o, struct as_host_entry *e, size_t ne,
                       struct as_host_prov *pr, size_t np, struct as_hart_server *srv, size_t ns,
                       int want, struct hap_plan *p)
{
    static const char *const st[] = {"active", "draining", "deprovisioning"};
    struct as_hosts h = {.v = e, .n = ne, .prov = pr, .nprov = np};
    struct hap_view v = {.hosts = &h, .srv = srv, .nsrv = ns, .now_ms = NOW};
    struct as_sb sb = {0};
    memset(p, 0, sizeof(*p));
    assert_int_equal(hap_plan(o, &v, want, p), 0);
    for (size_t i = 0; i < p->n; i++) {
        const struct hap_step *s = &p->v[i];
        as_sb_puts(&sb, s->scale ? "*" : "");
        switch (s->kind) {
        case HAP_CMD:
            as_sb_printf(&sb, "%s\n", s->cmd);
            break;
        case HAP_ADD:
            as_sb_printf(&sb, "add %s\n", s->e.name);
            break;
        case HAP_WRITE:
            as_sb_printf(&sb, "write %s %s\n", s->e.name, st[s->e.state]);
            break;
        case HAP_DEPROV:
            as_sb_printf(&sb, "deprovision %s\n", s->e.name);
            break;
        case HAP_PROV_NEW:
            as_sb_puts(&sb, "provision\n");
            break;
        case HAP_PROV_RESUME:
            as_sb_printf(&sb, "resume %s\n", s->id);
            break;
        }
    }
    return sb.buf ? sb.buf : strdup("");
}

static void expect_plan(const struct as_haproxy_opts *o, struct as_host_entry *e, size_t ne,
                        struct as_hart_server *srv, size_t ns, int want, const char *text)
{
    struct hap_plan p;
    char *got = plan_text(o, e, ne, NULL, 0, srv, ns, want, &p);
    if (strcmp(got, text) != 0)
        fail_msg("plan:\n%s\nwanted:\n%s", got, text);
    free(got);
    hap_plan_free(&p);
}

/* ---- reconcile ---- */

static void test_reconcile_active(void **state)
{
    (void)state;
    struct as_haproxy_opts o = base_opts();
    struct as_host_entry e[] = {
        entry("10.0.0.1", 80, AS_HOST_MANUAL, AS_HOST_ACTIVE, 1, 0),
        entry("10.0.0.2", 80, AS_HOST_MANUAL, AS_HOST_ACTIVE, 1, 0),
        entry("10.0.0.3", 80, AS_HOST_MANUAL, AS_HOST_ACTIVE, 1, 0),
        entry("10.0.0.4", 80, AS_HOST_MANUAL, AS_HOST_ACTIVE, 1, 0),
        entry("10.0.0.5", 80, AS_HOST_MANUAL, AS_HOST_ACTIVE, 1, 0),
    };
    e[4].weight = 5;
    /* .1 missing (a reload forgot it), .2 fine, .3 in maintenance (added, never enabled), .4
     * draining by hand, .5 at weight 1 in HAProxy; plus a server that is not ours */
    struct as_hart_server s[] = {server("10.0.0.2_80", 0, 0, 1), server("10.0.0.3_80", 1, 0, 1),
                                 server("10.0.0.4_80", 8, 2, 1), server("10.0.0.5_80", 0, 0, 1),
                                 server("static1", 0, 0, 1)};
    expect_plan(&o, e, 5, s, 5, -1,
                "add 10.0.0.1_80\n"
                "enable health app/10.0.0.1_80\n"
                "enable server app/10.0.0.1_80\n"
                "set server app/10.0.0.3_80 state ready\n"
                "enable health app/10.0.0.3_80\n"
                "set server app/10.0.0.4_80 state ready\n"
                "set server app/10.0.0.5_80 weight 5\n");
    struct as_hosts h = {.v = e, .n = 5};
    struct hap_view v = {.hosts = &h, .srv = s, .nsrv = 5, .now_ms = NOW};
    assert_int_equal(hap_count(&v), 2); /* .2 and .5: the others are not serving yet */
    assert_false(hap_pending(&v));
    char *no_check[] = {NULL};
    o.server_options = no_check;
    expect_plan(&o, e, 1, s, 0, -1, "add 10.0.0.1_80\nenable server app/10.0.0.1_80\n");
}

static void test_reconcile_drains(void **state)
{
    (void)state;
    struct as_haproxy_opts o = base_opts();
    int64_t young = NOW - 1000, old = NOW - 300000;
    struct as_host_entry e[] = {
        entry("10.0.0.1", 80, AS_HOST_PROVISIONED, AS_HOST_DRAINING, 1, young),
        entry("10.0.0.2", 80, AS_HOST_PROVISIONED, AS_HOST_DRAINING, 1, young),
        entry("10.0.0.3", 80, AS_HOST_PROVISIONED, AS_HOST_DRAINING, 1, old),
        entry("10.0.0.4", 80, AS_HOST_PROVISIONED, AS_HOST_DRAINING, 1, young),
        entry("10.0.0.5", 80, AS_HOST_PROVISIONED, AS_HOST_DRAINING, 1, young),
        entry("10.0.0.6", 80, AS_HOST_PROVISIONED, AS_HOST_DRAINING, 1, old),
    };
    /* .1 busy and drained: wait; .2 idle: remove; .3 busy past drain_timeout: remove and cut
     * its sessions; .4 busy, drain lost with a reload: drain again; .5 gone, young: wait (an
     * old process may still serve it); .6 gone and old: deprovision */
    struct as_hart_server s[] = {server("10.0.0.1_80", 8, 4, 1), server("10.0.0.2_80", 8, 0, 1),
                                 server("10.0.0.3_80", 8, 2, 1), server("10.0.0.4_80", 0, 3, 0)};
    expect_plan(&o, e, 6, s, 4, -1,
                "write 10.0.0.2_80 deprovisioning\n"
                "set server app/10.0.0.2_80 state maint\n"
                "del server app/10.0.0.2_80\n"
                "deprovision 10.0.0.2_80\n"
                "write 10.0.0.3_80 deprovisioning\n"
                "set server app/10.0.0.3_80 state maint\n"
                "shutdown sessions server app/10.0.0.3_80\n"
                "del server app/10.0.0.3_80\n"
                "deprovision 10.0.0.3_80\n"
                "set server app/10.0.0.4_80 state drain\n"
                "write 10.0.0.6_80 deprovisioning\n"
                "deprovision 10.0.0.6_80\n");
    /* a queue is not idle; an unknown session count is not idle */
    s[1].qcur = 2;
    s[0].scur = -1;
    expect_plan(&o, e, 2, s, 2, -1, "");
}

static void test_reconcile_deprovisioning_and_records(void **state)
{
    (void)state;
    struct as_haproxy_opts o = base_opts();
    struct as_host_entry e[] = {
        entry("10.0.0.1", 80, AS_HOST_PROVISIONED, AS_HOST_DEPROVISIONING, 1, NOW),
        entry("10.0.0.2", 80, AS_HOST_PROVISIONED, AS_HOST_DEPROVISIONING, 1, NOW),
    };
    struct as_hart_server s[] = {server("10.0.0.1_80", 1, 0, 1)}; /* in maintenance already */
    struct as_host_prov pr[] = {{.id = "p1-aa"}};
    struct hap_plan p;
    char *got = plan_text(&o, e, 2, pr, 1, s, 1, -1, &p);
    assert_string_equal(got, "del server app/10.0.0.1_80\n"
                             "deprovision 10.0.0.1_80\n"
                             "deprovision 10.0.0.2_80\n"
                             "resume p1-aa\n");
    free(got);
    hap_plan_free(&p);
    struct as_hosts h = {.v = e, .n = 2, .prov = pr, .nprov = 1};
    struct hap_view v = {.hosts = &h, .srv = s, .nsrv = 1, .now_ms = NOW};
    assert_int_equal(hap_count(&v), 1); /* the provision in flight */
    assert_true(hap_pending(&v));
}

/* ---- scale ---- */

static void test_scale_down(void **state)
{
    (void)state;
    struct as_haproxy_opts o = base_opts();
    struct as_host_entry e[] = {
        entry("10.0.0.1", 80, AS_HOST_MANUAL, AS_HOST_ACTIVE, 100, 0),
        entry("10.0.0.2", 80, AS_HOST_PROVISIONED, AS_HOST_ACTIVE, 200, 0),
        entry("10.0.0.3", 80, AS_HOST_PROVISIONED, AS_HOST_ACTIVE, 300, 0),
        entry("10.0.0.4", 80, AS_HOST_PROVISIONED, AS_HOST_ACTIVE, 400, 0),
    };
    /* fewest sessions first; a tie goes to the newest (.4 before .2); the manual .1 stays */
    struct as_hart_server s[] = {server("10.0.0.1_80", 0, 0, 1), server("10.0.0.2_80", 0, 1, 1),
                                 server("10.0.0.3_80", 0, 7, 1), server("10.0.0.4_80", 0, 1, 1)};
    expect_plan(&o, e, 4, s, 4, 2,
                "*write 10.0.0.2_80 draining\n"
                "*set server app/10.0.0.2_80 state drain\n"
                "*write 10.0.0.4_80 draining\n"
                "*set server app/10.0.0.4_80 state drain\n");
    struct hap_plan p;
    char *got = plan_text(&o, e, 4, NULL, 0, s, 4, 0, &p);
    assert_int_equal(p.drain, 3);
    assert_int_equal(p.short_by, 1); /* the manual server is not removed */
    free(got);
    hap_plan_free(&p);
    o.remove = AS_HAP_REMOVE_ANY;
    got = plan_text(&o, e, 4, NULL, 0, s, 4, 0, &p);
    assert_int_equal(p.drain, 4);
    assert_int_equal(p.short_by, 0);
    free(got);
    hap_plan_free(&p);
    /* drained now with no session: removed by a later plan, never this one */
    s[3].scur = 0;
    o.remove = AS_HAP_REMOVE_PROVISIONED;
    expect_plan(&o, e, 4, s, 4, 3,
                "*write 10.0.0.4_80 draining\n"
                "*set server app/10.0.0.4_80 state drain\n");
    /* a server not in the backend is not drained */
    expect_plan(&o, e + 3, 1, s, 0, 0,
                "add 10.0.0.4_80\nenable health app/10.0.0.4_80\nenable server app/10.0.0.4_80\n");
}

static void test_scale_up(void **state)
{
    (void)state;
    struct as_haproxy_opts o = base_opts();
    struct as_host_entry e[] = {
        entry("10.0.0.1", 80, AS_HOST_PROVISIONED, AS_HOST_ACTIVE, 1, 0),
        entry("10.0.0.2", 80, AS_HOST_PROVISIONED, AS_HOST_DRAINING, 1, NOW - 5000),
        entry("10.0.0.3", 80, AS_HOST_PROVISIONED, AS_HOST_DRAINING, 1, NOW - 1000),
        entry("10.0.0.4", 80, AS_HOST_PROVISIONED, AS_HOST_DEPROVISIONING, 1, NOW),
    };
    struct as_hart_server s[] = {server("10.0.0.1_80", 0, 0, 1), server("10.0.0.2_80", 8, 0, 0),
                                 server("10.0.0.3_80", 8, 5, 1)};
    /* the latest drain is cancelled first, even the idle .2 would otherwise be removed; what
     * is being deprovisioned is not brought back; then provisions */
    expect_plan(&o, e, 4, s, 3, 2,
                "write 10.0.0.2_80 deprovisioning\n"
                "set server app/10.0.0.2_80 state maint\n"
                "del server app/10.0.0.2_80\n"
                "deprovision 10.0.0.2_80\n"
                "*write 10.0.0.3_80 active\n"
                "*set server app/10.0.0.3_80 state ready\n"
                "deprovision 10.0.0.4_80\n");
    expect_plan(&o, e, 4, s, 3, 5,
                "*write 10.0.0.2_80 active\n"
                "*set server app/10.0.0.2_80 state ready\n"
                "*set server app/10.0.0.2_80 weight 1\n"
                "*write 10.0.0.3_80 active\n"
                "*set server app/10.0.0.3_80 state ready\n"
                "deprovision 10.0.0.4_80\n"
                "*provision\n"
                "*provision\n");
    /* provisions in flight count: 1 active + 1 record = 2 */
    struct as_host_prov pr[] = {{.id = "p1-aa"}};
    struct hap_plan p;
    char *got = plan_text(&o, e, 1, pr, 1, s, 1, 2, &p);
    assert_string_equal(got, "resume p1-aa\n");
    free(got);
    hap_plan_free(&p);
}

/* ---- options ---- */

static int configure(const char *yaml, struct as_err *err, void *state)
{
    struct as_doc *doc = as_doc_parse("/tmp/x/test.yaml", yaml, strlen(yaml), err);
    if (doc == NULL)
        return -1;
    int rc = as_opts_parse(ops->opts, state, doc->root, "test", err);
    if (rc == 0)
        rc = ops->validate(state, doc->root, err);
    as_doc_free(doc);
    return rc;
}

static void test_options(void **state)
{
    (void)state;
    struct {
        const char *yaml, *error; /* NULL: valid */
    } rows[] = {
        {"type: haproxy\nsocket: /run/h.sock\nbackend: app\nprovision: [p]\n", NULL},
        {"type: haproxy\nsocket: 127.0.0.1:9999\nbackend: app\nprovision: [p]\n"
         "server_options: [check, inter, 2s]\n",
         NULL},
        {"type: haproxy\nbackend: app\nprovision: [p]\n", "socket"},
        {"type: haproxy\nsocket: /s\nprovision: [p]\n", "backend"},
        {"type: haproxy\nsocket: /s\nbackend: app\n", "provision"},
        {"type: haproxy\nsocket: /s\nbackend: 'app;show info'\nprovision: [p]\n", "backend"},
        {"type: haproxy\nsocket: /s\nbackend: 'a b'\nprovision: [p]\n", "backend"},
        {"type: haproxy\nsocket: 'unix@rel.sock'\nbackend: app\nprovision: [p]\n", "socket"},
        {"type: haproxy\nsocket: 'host:80'\nbackend: app\nprovision: [p]\n", "socket"},
        {"type: haproxy\nsocket: /s\nbackend: app\nprovision: [p]\nserver_options: [weight, '2']\n",
         "server_options"},
        {"type: haproxy\nsocket: /s\nbackend: app\nprovision: [p]\nserver_options: [backup]\n",
         "server_options"},
        {"type: haproxy\nsocket: /s\nbackend: app\nprovision: [p]\n"
         "server_options: ['check;del server app/x']\n",
         "server_options"},
        {"type: haproxy\nsocket: /s\nbackend: app\nprovision: [p]\nweight: 257\n", "weight"},
        {"type: haproxy\nsocket: /s\nbackend: app\nprovision: [p]\nremove: all\n", "remove"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(rows); i++) {
        struct as_err err;
        void *st = calloc(1, ops->state_size);
        as_err_clear(&err);
        int rc = configure(rows[i].yaml, &err, st);
        if (rows[i].error == NULL && rc != 0)
            fail_msg("row %zu: %s", i, err.msg);
        if (rows[i].error != NULL && (rc == 0 || strstr(err.msg, rows[i].error) == NULL))
            fail_msg("row %zu: rc %d '%s', wanted an error on %s", i, rc, err.msg, rows[i].error);
        if (rows[i].error != NULL)
            assert_true(err.line > 0);
        as_opts_free(ops->opts, st);
        free(st);
    }
    /* relative paths are the configuration file's: /tmp/x here */
    struct as_err err;
    struct as_haproxy_opts *o = calloc(1, ops->state_size);
    as_err_clear(&err);
    assert_int_equal(configure("type: haproxy\nsocket: run/h.sock\nbackend: app\n"
                               "provision: [./p.sh, '{{group}}']\ndeprovision: [d.sh]\n",
                               &err, o),
                     0);
    assert_string_equal(o->socket, "/tmp/x/run/h.sock");
    assert_string_equal(o->hosts_dir, "/tmp/x/hosts.d");
    assert_string_equal(o->provision[0], "/tmp/x/./p.sh");
    assert_string_equal(o->deprovision[0], "d.sh"); /* a bare name: searched in PATH */
    assert_string_equal(o->check[0], "haproxy");
    assert_string_equal(o->server_options[0], "check");
    as_opts_free(ops->opts, o);
    free(o);
}

/* ---- the scaler against a model of HAProxy ---- */

static void *start_scaler(struct fixture *f, struct fake *fk, const char *extra, int64_t timeout)
{
    char yaml[2048];
    struct as_err err;
    snprintf(yaml, sizeof(yaml),
             "type: haproxy\nsocket: %s\nbackend: app\nhosts_dir: %s/hosts.d\n%s"
             "deprovision: [/bin/true]\npoll: 100ms\n%s",
             fk->path, f->dir,
             strstr(extra, "provision:") ? "" : "provision: [/bin/sh, -c, 'echo 10.0.0.40:80']\n",
             extra);
    void *st = calloc(1, ops->state_size);
    assert_non_null(st);
    as_err_clear(&err);
    if (configure(yaml, &err, st) < 0)
        fail_msg("%s", err.msg);
    struct as_ctx ctx = {.loop = f->loop, .group = "g", .name = "haproxy", .timeout_ms = timeout};
    assert_int_equal(ops->start(st, &ctx, &err), 0);
    return st;
}

static void call_get(struct fixture *f, void *st)
{
    int calls = f->calls;
    ops->get(st, on_result, f);
    int64_t end = as_mono_ms() + 5000;
    while (f->calls == calls && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_int_equal(f->calls, calls + 1);
}

static void call_set(struct fixture *f, void *st, int want)
{
    int calls = f->calls;
    ops->set(st, want, on_result, f);
    int64_t end = as_mono_ms() + 5000;
    while (f->calls == calls && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_int_equal(f->calls, calls + 1);
}

static void add_entry(struct fixture *f, const char *host, int port, int origin)
{
    char dir[128], why[200], p[8];
    struct as_host_entry e;
    struct as_err err;
    snprintf(dir, sizeof(dir), "%s/hosts.d", f->dir);
    snprintf(p, sizeof(p), "%d", port);
    assert_int_equal(as_host_entry_init(&e, host, p, 1, origin, why, sizeof(why)), 0);
    assert_int_equal(as_host_entry_write(dir, &e, &err), 0);
}

static void test_scaler_count_and_scale(void **state)
{
    struct fixture *f = *state;
    struct fake fk;
    fake_start(&fk);
    fake_add(&fk, "static1", 0, 0); /* not ours: never counted nor touched */
    add_entry(f, "10.0.0.1", 80, AS_HOST_MANUAL);
    add_entry(f, "10.0.0.2", 80, AS_HOST_PROVISIONED);
    f->state = start_scaler(f, &fk, "", 1000);
    call_get(f, f->state);
    assert_true(f->r.ok);
    assert_int_equal(f->r.replicas, 2); /* both added to the backend and enabled */
    assert_int_equal(fake_find(&fk, "10.0.0.1_80")->admin, 0);
    /* down to 1: the provisioned one drains (then goes, being idle) */
    fake_find(&fk, "10.0.0.2_80")->scur = 3;
    call_set(f, f->state, 1);
    assert_true(f->r.ok);
    assert_int_equal(f->r.replicas, 1);
    assert_int_equal(fake_find(&fk, "10.0.0.2_80")->admin, 8);
    char buf[512];
    ops->describe(f->state, 3, buf, sizeof(buf));
    assert_non_null(strstr(buf, "set server app/10.0.0.2_80 state ready"));
    assert_non_null(strstr(buf, "1 time(s)"));
    fake_find(&fk, "10.0.0.2_80")->scur = 0;
    int64_t end = as_mono_ms() + 5000; /* a poll removes it */
    while (fake_find(&fk, "10.0.0.2_80") != NULL && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_null(fake_find(&fk, "10.0.0.2_80"));
    assert_non_null(fake_find(&fk, "static1"));
    fake_stop(&fk);
}

static int lines_in(const char *path)
{
    FILE *fp = fopen(path, "r");
    int n = 0, c;
    while (fp != NULL && (c = fgetc(fp)) != EOF)
        n += c == '\n';
    if (fp != NULL)
        fclose(fp);
    return n;
}

static void test_scaler_provisions_once_each(void **state)
{
    struct fixture *f = *state;
    struct fake fk;
    char extra[512], runs[128];
    fake_start(&fk);
    snprintf(runs, sizeof(runs), "%s/runs", f->dir);
    /* two provisions that end together: the one whose server waits to be added while the
     * other's is added must not be taken for a provision left by an earlier run */
    snprintf(extra, sizeof(extra),
             "provision: [/bin/sh, -c, 'echo x >> %s; echo 10.0.1.$((1 + $$ %% 200)):80']\n", runs);
    f->state = start_scaler(f, &fk, extra, 1000);
    call_set(f, f->state, 2);
    assert_true(f->r.ok);
    assert_int_equal(f->r.replicas, 2); /* provisions in flight count */
    int64_t end = as_mono_ms() + 5000;
    while (fk.n < 2 && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    for (int i = 0; i < 25; i++) /* anything more would come now */
        as_loop_once(f->loop, 20);
    assert_int_equal(fk.n, 2);
    assert_int_equal(lines_in(runs), 2);
    call_get(f, f->state);
    assert_int_equal(f->r.replicas, 2);
    fake_stop(&fk);
}

static void test_scaler_refused_server_does_not_hold(void **state)
{
    struct fixture *f = *state;
    struct fake fk;
    fake_start(&fk);
    add_entry(f, "10.0.0.1", 80, AS_HOST_MANUAL);
    add_entry(f, "10.0.0.99", 80, AS_HOST_MANUAL); /* HAProxy refuses to add it */
    f->state = start_scaler(f, &fk, "", 1000);
    call_get(f, f->state);
    assert_true(f->r.ok); /* logged, retried each round; the group is not held for it */
    assert_int_equal(f->r.replicas, 1);
    assert_null(fake_find(&fk, "10.0.0.99_80"));
    fake_stop(&fk);
}

static void test_scaler_garbage_and_silence(void **state)
{
    struct fixture *f = *state;
    struct fake fk;
    fake_start(&fk);
    add_entry(f, "10.0.0.1", 80, AS_HOST_MANUAL);
    f->state = start_scaler(f, &fk, "", 300);
    call_get(f, f->state);
    assert_int_equal(f->r.replicas, 1);
    static const char *const garbage[] = {"Unknown command.\n", "1\n# be_id\n3 app\n", "",
                                          "\x01\x02\xff"};
    for (size_t i = 0; i < AS_ARRAY_LEN(garbage); i++) {
        fk.garbage = garbage[i];
        call_get(f, f->state);
        assert_false(f->r.ok); /* unknown, never a count: the engine holds the group */
        call_set(f, f->state, 0);
        assert_false(f->r.ok);
        assert_non_null(fake_find(&fk, "10.0.0.1_80"));
    }
    fk.garbage = NULL;
    fk.hang = 1;
    int64_t t0 = as_mono_ms();
    call_get(f, f->state);
    assert_false(f->r.ok);
    assert_non_null(strstr(f->r.error, "no answer within 300 ms"));
    assert_true(as_mono_ms() - t0 < 2000);
    /* cancel: no callback, and the next call works */
    int calls = f->calls;
    ops->get(f->state, on_result, f);
    as_loop_once(f->loop, 50);
    ops->cancel(f->state);
    for (int i = 0; i < 20; i++)
        as_loop_once(f->loop, 30);
    assert_int_equal(f->calls, calls);
    fk.hang = 0;
    call_get(f, f->state);
    assert_true(f->r.ok);
    assert_int_equal(f->r.replicas, 1);
    fake_stop(&fk);
}

static void test_scaler_lock(void **state)
{
    struct fixture *f = *state;
    struct fake fk;
    fake_start(&fk);
    add_entry(f, "10.0.0.1", 80, AS_HOST_PROVISIONED);
    f->state = start_scaler(f, &fk, "", 1000);
    call_get(f, f->state);
    assert_int_equal(f->r.replicas, 1);
    /* a second scaler on the same hosts.d reads, and changes nothing */
    void *second = start_scaler(f, &fk, "", 1000);
    call_get(f, second);
    assert_true(f->r.ok);
    assert_int_equal(f->r.replicas, 1);
    call_set(f, second, 0);
    assert_false(f->r.ok);
    assert_non_null(strstr(f->r.error, "locked"));
    assert_int_equal(fake_find(&fk, "10.0.0.1_80")->admin, 0);
    int stopped = f->stopped;
    ops->stop(second, on_stopped, f);
    run_until_stopped(f, 3000);
    assert_int_equal(f->stopped, stopped + 1);
    f->stopped = 0;
    as_opts_free(ops->opts, second);
    free(second);
    fake_stop(&fk);
}

int main(void)
{
    as_log_min = AS_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reconcile_active),
        cmocka_unit_test(test_reconcile_drains),
        cmocka_unit_test(test_reconcile_deprovisioning_and_records),
        cmocka_unit_test(test_scale_down),
        cmocka_unit_test(test_scale_up),
        cmocka_unit_test(test_options),
        cmocka_unit_test_setup_teardown(test_scaler_count_and_scale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scaler_provisions_once_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scaler_refused_server_does_not_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scaler_garbage_and_silence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scaler_lock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
