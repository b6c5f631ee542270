/* The rabbitmq source against an in-process server that answers as the management HTTP API
 * does: each measure's field, every failure (404, 401, other statuses, garbage, a missing or
 * unusable field, a timeout), Basic credentials, and the option checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <microhttpd.h>

#include "config/cfg.h"
#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "core/plugin.h"
#include "util/util.h"

#include "http_server.h"

extern const struct as_source_ops as_source_rabbitmq;
static const struct as_source_ops *const ops = &as_source_rabbitmq;

struct src {
    struct as_loop *loop;
    struct as_http *http;
    struct as_doc *doc;
    void *state;
};

static void on_measure(const struct as_measurement *m, void *arg)
{
    *(struct as_measurement *)arg = *m;
}

/* Parses yaml (its %d is the server's port) and validates; starts the source if that passed.
 * Returns what parsing or validation returned, err says why. */
static int src_new(struct src *s, const char *yaml_fmt, struct as_err *err)
{
    char yaml[512];
    snprintf(yaml, sizeof(yaml), yaml_fmt, port);
    as_err_clear(err);
    s->loop = as_loop_new();
    s->http = as_http_new(s->loop);
    s->doc = as_doc_parse("test.yaml", yaml, strlen(yaml), err);
    assert_non_null(s->doc);
    s->state = calloc(1, ops->state_size);
    int rc = as_opts_parse(ops->opts, s->state, s->doc->root, "test", err);
    if (rc == 0)
        rc = ops->validate(s->state, s->doc->root, err);
    struct as_ctx ctx = {
        .loop = s->loop, .http = s->http, .group = "g", .name = "m", .timeout_ms = 600};
    if (rc == 0)
        assert_int_equal(ops->start(s->state, &ctx, err), 0);
    return rc;
}

static void src_free(struct src *s)
{
    ops->stop(s->state);
    as_opts_free(ops->opts, s->state);
    free(s->state);
    as_doc_free(s->doc);
    as_http_free(s->http);
    as_loop_free(s->loop);
}

static struct as_measurement src_measure(struct src *s)
{
    struct as_measurement m = {.ok = -1};
    ops->measure(s->state, on_measure, &m);
    assert_int_equal(m.ok, -1); /* never re-entrant */
    int64_t end = as_mono_ms() + 5000;
    while (m.ok == -1 && as_mono_ms() < end)
        as_loop_once(s->loop, 20);
    assert_int_not_equal(m.ok, -1);
    return m;
}

static void test_depth_and_failures(void **state)
{
    (void)state;
    struct src s;
    struct as_err err;
    assert_int_equal(src_new(&s,
                             "url: http://127.0.0.1:%d/\nqueue: jobs\nusername: guest\n"
                             "password: guest\nmeasure: ready\n",
                             &err),
                     0);
    struct {
        unsigned status;
        const char *body;
        int delay_ms, ok;
        double value;
        const char *error;
    } cases[] = {
        {200, "{\"messages_ready\":5}", 0, 1, 5, ""},
        {200, "{\"messages_ready\":0,\"messages\":7}", 0, 1, 0, ""},
        {200, "{}", 0, 0, 0,
         "no messages_ready in the answer (the broker has not collected the queue's statistics "
         "yet)"},
        {200, "[]", 0, 0, 0, "no statistics for the queue yet (the broker answered [])"},
        {200, "[1]", 0, 0, 0, "response is not a queue object"},
        {200, "{\"messages_ready\":-1}", 0, 0, 0, "messages_ready is not a whole number >= 0"},
        {200, "{\"messages_ready\":1.5}", 0, 0, 0, "messages_ready is not a whole number >= 0"},
        {200, "{\"messages_ready\":\"5\"}", 0, 0, 0, "messages_ready is not a whole number"},
        {200, "{\"messages_ready\":null}", 0, 0, 0, "messages_ready is not a whole number"},
        {200, "<html>", 0, 0, 0, "response is not JSON"},
        {404, "{\"error\":\"Object Not Found\",\"reason\":\"Not Found\"}", 0, 0, 0,
         "HTTP 404: no queue 'jobs' in vhost '/' (Object Not Found: Not Found)"},
        {401, "{\"error\":\"not_authorised\",\"reason\":\"Login failed\"}", 0, 0, 0,
         "HTTP 401: login failed for user 'guest' (not_authorised: Login failed)"},
        {503, "<html>down</html>", 0, 0, 0, "HTTP 503: <html>down</html>"},
        {200, "{\"messages_ready\":1}", 1000, 0, 0, "timeout after"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        serve(cases[i].status, cases[i].body, cases[i].delay_ms);
        struct as_measurement m = src_measure(&s);
        if (m.ok != cases[i].ok || (m.ok && m.value != cases[i].value) ||
            strstr(m.error, cases[i].error) == NULL || m.replicas != -1 || m.nreplicas != 0)
            fail_msg("case %zu: ok=%d value=%g error='%s'", i, m.ok, m.value, m.error);
    }
    assert_string_equal(srv.last_method, "GET");
    assert_string_equal(srv.last_auth, "Basic Z3Vlc3Q6Z3Vlc3Q=");
    /* The server sees the path decoded: the vhost "/" travelled as %2F. */
    assert_string_equal(srv.last_url, "/api/queues///jobs");
    server_release();
    src_free(&s);
    as_log_secrets_clear();
}

static void test_measures(void **state)
{
    (void)state;
    const char *body = "{\"messages_ready\":3,\"messages_unacknowledged\":4,\"messages\":7,"
                       "\"consumers\":2}";
    struct {
        const char *measure;
        double want;
    } cases[] = {{"ready", 3}, {"unacked", 4}, {"total", 7}, {"consumers", 2}, {NULL, 7}};
    serve(200, body, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[256], measure[32] = "";
        struct src s;
        struct as_err err;
        if (cases[i].measure) /* absent: the default, total */
            snprintf(measure, sizeof(measure), "measure: %s\n", cases[i].measure);
        snprintf(yaml, sizeof(yaml),
                 "url: http://127.0.0.1:%%d\nvhost: prod\nqueue: 'a b/c'\nusername: u\n%s",
                 measure);
        assert_int_equal(src_new(&s, yaml, &err), 0);
        struct as_measurement m = src_measure(&s);
        if (!m.ok || m.value != cases[i].want)
            fail_msg("%s: ok=%d value=%g error='%s'", measure, m.ok, m.value, m.error);
        assert_string_equal(srv.last_url, "/api/queues/prod/a b/c");
        src_free(&s);
    }
    as_log_secrets_clear();
}

static void test_validate(void **state)
{
    (void)state;
    struct {
        const char *yaml, *error;
    } cases[] = {
        {"url: ftp://h:%d\nqueue: q\nusername: u\n", "test.yaml:1:6: 'url' must start"},
        {"url: http://h:%d\nqueue: q\nusername: u\nheaders: {Authorization: x}\n",
         "test.yaml:4:10: 'headers' may not set Authorization"},
        {"url: http://h:%d\nqueue: q\n", "missing required key 'username'"},
        {"url: http://h:%d\nusername: u\n", "missing required key 'queue'"},
        {"url: http://h:%d\nqueue: q\nusername: u\nmeasure: depth\n", "measure"},
        {"url: http://h:%d\nqueue: q\nusername: u\nvhost: ''\n", "vhost"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct src s;
        struct as_err err;
        char msg[AS_ERR_MAX + 300];
        int rc = src_new(&s, cases[i].yaml, &err);
        as_err_str(&err, msg, sizeof(msg));
        if (rc == 0 || strstr(msg, cases[i].error) == NULL)
            fail_msg("case %zu: rc=%d '%s'", i, rc, msg);
        as_opts_free(ops->opts, s.state);
        free(s.state);
        as_doc_free(s.doc);
        as_http_free(s.http);
        as_loop_free(s.loop);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth_and_failures),
        cmocka_unit_test(test_measures),
        cmocka_unit_test(test_validate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
