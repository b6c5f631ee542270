/* sources/agents: the listener on a real loop, fed by sockets of the test: per-host values,
 * missing and forgotten hosts, `hosts`, `max_hosts`, two metrics of a group on one listener,
 * another group refused, warmup, and a stop/start (a reload) that keeps the host table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/cfg.h"
#include "config/opt.h"
#include "core/plugin.h"
#include "util/agentproto.h"
#include "util/loop.h"
#include "util/util.h"

#define KEY "test-key-0123456789abcdef"

static struct as_loop *loop;
static const struct as_source_ops *ops;

struct result {
    int done, ok;
    double value;
    size_t n;
    struct as_replica_obs reps[8];
    char error[AS_MSG_MAX];
};

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* A metric from YAML ("listen: 127.0.0.1:PORT" is added), started in group. err set: the
 * start must fail with that message. */
static void *metric(const char *group, int port, const char *yaml, const char *err_want)
{
    char text[1024];
    snprintf(text, sizeof(text), "listen: 127.0.0.1:%d\nsecret: ${env:AGENTS_TEST_KEY}\n%s", port,
             yaml);
    struct as_err err;
    as_err_clear(&err);
    struct as_doc *doc = as_doc_parse("test", text, strlen(text), &err);
    if (doc == NULL)
        fail_msg("yaml: %s", err.msg);
    void *state = calloc(1, ops->state_size);
    assert_non_null(state);
    if (as_opts_parse(ops->opts, state, doc->root, "test", &err) < 0 ||
        ops->validate(state, doc->root, &err) < 0)
        fail_msg("options: %s", err.msg);
    as_doc_free(doc);
    struct as_ctx ctx = {.loop = loop, .group = group, .name = "m", .timeout_ms = 500};
    int rc = ops->start(state, &ctx, &err);
    if (err_want == NULL && rc < 0)
        fail_msg("start: %s", err.msg);
    if (err_want != NULL) {
        assert_int_equal(rc, -1);
        if (strstr(err.msg, err_want) == NULL)
            fail_msg("start: '%s' does not say '%s'", err.msg, err_want);
    }
    return state;
}

static void drop(void *state)
{
    ops->stop(state);
    as_opts_free(ops->opts, state);
    free(state);
}

static void pump(int64_t ms)
{
    int64_t end = as_mono_ms() + ms;
    do
        as_loop_once(loop, 10);
    while (as_mono_ms() < end);
}

static void on_measured(const struct as_measurement *m, void *arg)
{
    struct result *r = arg;
    r->done = 1;
    r->ok = m->ok;
    r->value = m->value;
    r->n = m->nreplicas;
    assert_true(m->nreplicas <= 8);
    if (m->nreplicas)
        memcpy(r->reps, m->per_replica, m->nreplicas * sizeof(r->reps[0]));
    snprintf(r->error, sizeof(r->error), "%s", m->error);
    assert_int_equal(m->replicas, -1);
}

static struct result measure(void *state)
{
    struct result r = {0};
    ops->measure(state, on_measured, &r);
    assert_false(r.done); /* never re-entrantly */
    for (int i = 0; i < 100 && !r.done; i++)
        as_loop_once(loop, 10);
    assert_true(r.done);
    return r;
}

static int dial(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* A report of host, signed with KEY, sent on fd; returns its text. */
static const char *report(int fd, const char *host, uint64_t boot, uint64_t seq, int64_t interval,
                          const char *name, double v, const char *name2, double v2)
{
    static char line[AS_AGENT_LINE_MAX + 1];
    struct as_agent_msg m = {
        .boot = boot, .seq = seq, .ts_ms = as_wall_ms(), .interval_ms = interval};
    snprintf(m.host, sizeof(m.host), "%s", host);
    if (name) {
        snprintf(m.values[m.nvalues].name, sizeof(m.values[0].name), "%s", name);
        m.values[m.nvalues++].value = v;
    }
    if (name2) {
        snprintf(m.values[m.nvalues].name, sizeof(m.values[0].name), "%s", name2);
        m.values[m.nvalues++].value = v2;
    }
    int n = as_agent_format(&m, KEY, strlen(KEY), line, sizeof(line));
    assert_true(n > 0);
    assert_int_equal(write(fd, line, (size_t)n), n);
    pump(30);
    return line;
}

/* Whether the master closed fd (after the loop ran a little). */
static int closed(int fd)
{
    char c;
    pump(30);
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void test_two_fields_one_listener(void **state)
{
    (void)state;
    int port = free_port();
    void *cpu = metric("web", port, "warmup: 0s\n", NULL);
    void *queue = metric("web", port, "warmup: 0s\nfield: queue\n", NULL);
    /* Other options, or another group: refused. */
    drop(metric("web", port, "warmup: 0s\nmax_hosts: 3\n", "whose options other than"));
    drop(metric("api", port, "warmup: 0s\n", "already used by group 'web'"));
    int a = dial(port), b = dial(port);
    report(a, "h1", 1, 1, 1000, "cpu", 0.25, "queue", 7);
    report(b, "h2", 2, 1, 1000, "cpu", 0.75, NULL, 0);
    struct result r = measure(cpu);
    assert_true(r.ok);
    assert_int_equal(r.n, 2);
    assert_true(r.value == 0.5);
    assert_true(r.reps[0].ok && r.reps[1].ok && r.reps[0].ready && r.reps[0].age_ms == -1);
    r = measure(queue); /* h2 sent no queue: missing for this metric */
    assert_true(r.ok);
    assert_int_equal(r.n, 2);
    assert_true(r.value == 7);
    assert_int_equal(r.reps[0].ok + r.reps[1].ok, 1);
    /* A reload: both stop, both start again; the host table stays, no warmup. */
    drop(cpu);
    drop(queue);
    assert_true(closed(a) && closed(b));
    close(a);
    close(b);
    cpu = metric("web", port, "warmup: 10s\n", NULL);
    r = measure(cpu);
    assert_true(r.ok && r.n == 2 && r.value == 0.5);
    a = dial(port);
    report(a, "h1", 1, 1, 1000, "cpu", 0.9, NULL, 0); /* seq 1 of boot 1 again: replayed */
    assert_true(closed(a));
    close(a);
    a = dial(port);
    report(a, "h1", 1, 2, 1000, "cpu", 0.75, NULL, 0);
    assert_false(closed(a));
    r = measure(cpu);
    assert_true(r.ok && r.value == 0.75);
    close(a);
    drop(cpu);
}

static void test_missing_forgotten_warmup(void **state)
{
    (void)state;
    int port = free_port();
    void *m = metric("web", port, "warmup: 300ms\nforget_after: 1s\n", NULL);
    int a = dial(port);
    report(a, "h1", 1, 1, 200, "cpu", 0.5, NULL, 0);
    struct result r = measure(m);
    assert_false(r.ok);
    assert_non_null(strstr(r.error, "warming up"));
    pump(300);
    report(a, "h1", 1, 2, 200, "cpu", 0.5, NULL, 0);
    r = measure(m);
    assert_true(r.ok && r.n == 1 && r.reps[0].ok);
    /* missing_after 0s: 3 intervals of 200 ms. */
    pump(700);
    r = measure(m);
    assert_false(r.ok);
    assert_non_null(strstr(r.error, "no host reported cpu within missing_after (1 known)"));
    pump(600);
    r = measure(m);
    assert_non_null(strstr(r.error, "(0 known)"));
    /* The connection stayed (3 intervals < idle_timeout 30s). */
    assert_false(closed(a));
    close(a);
    drop(m);
}

static void test_hosts_and_limits(void **state)
{
    (void)state;
    int port = free_port();
    void *m = metric("web", port, "hosts: [h1, h2]\nwarmup: 10s\n", NULL);
    struct result r = measure(m); /* listed hosts: no warmup; both missing */
    assert_false(r.ok);
    assert_non_null(strstr(r.error, "(2 known)"));
    int a = dial(port);
    report(a, "h3", 1, 1, 1000, "cpu", 0.5, NULL, 0);
    assert_true(closed(a));
    close(a);
    a = dial(port);
    report(a, "h1", 1, 1, 1000, "cpu", 0.5, NULL, 0);
    r = measure(m);
    assert_true(r.ok && r.n == 2 && r.value == 0.5);
    assert_int_equal(r.reps[0].ok + r.reps[1].ok, 1);
    close(a);
    drop(m);

    port = free_port();
    m = metric("web", port, "max_hosts: 2\nwarmup: 0s\nmax_line_rate: 2\n", NULL);
    int fds[3];
    for (int i = 0; i < 3; i++) { /* one connection each: no flood */
        char host[8];
        snprintf(host, sizeof(host), "h%d", i + 1);
        fds[i] = dial(port);
        report(fds[i], host, (uint64_t)i + 1, 1, 1000, "cpu", 0.5, NULL, 0);
    }
    assert_false(closed(fds[0]) || closed(fds[1]));
    assert_true(closed(fds[2])); /* a third host */
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    a = dial(port); /* a third line at once: a flood for max_line_rate 2 */
    report(a, "h1", 1, 2, 1000, "cpu", 0.5, NULL, 0);
    report(a, "h1", 1, 3, 1000, "cpu", 0.5, NULL, 0);
    report(a, "h1", 1, 4, 1000, "cpu", 0.5, NULL, 0);
    assert_true(closed(a));
    close(a);
    drop(m);
}

static void test_connection_cap(void **state)
{
    (void)state;
    int port = free_port(), fds[6];
    void *m = metric("web", port, "max_connections: 3\nwarmup: 0s\nidle_timeout: 300ms\n", NULL);
    fds[0] = dial(port);
    report(fds[0], "h1", 1, 1, 1000, "cpu", 0.5, NULL, 0);
    for (int i = 1; i < 6; i++) {
        fds[i] = dial(port);
        pump(20);
    }
    /* 3 slots: the agent keeps its own; the oldest idle ones were evicted for newer ones. */
    assert_true(closed(fds[1]) && closed(fds[2]) && closed(fds[3]));
    assert_false(closed(fds[0]));
    pump(800); /* idle_timeout for the rest; the agent's limit is 3 x 1 s */
    assert_true(closed(fds[4]) && closed(fds[5]));
    assert_false(closed(fds[0]));
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    drop(m);
}

static void test_not_listening(void **state)
{
    (void)state;
    int port = free_port(), blocker = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(blocker, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(blocker, 1), 0);
    void *m = metric("web", port, "", "cannot listen on 127.0.0.1");
    struct result r = measure(m); /* the engine may still measure a source that did not start */
    assert_false(r.ok);
    assert_non_null(strstr(r.error, "not listening"));
    drop(m);
    close(blocker);
}

static int setup(void **state)
{
    (void)state;
    setenv("AGENTS_TEST_KEY", KEY, 1);
    ops = as_source_find("agents");
    loop = as_loop_new();
    return ops && loop ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    as_loop_free(loop);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_fields_one_listener),
        cmocka_unit_test(test_missing_forgotten_warmup),
        cmocka_unit_test(test_hosts_and_limits),
        cmocka_unit_test(test_connection_cap),
        cmocka_unit_test(test_not_listening),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
