/* The loadtest source against an in-process server (timing_server.h): users in flight at
 * once, weights, think times, spawn rate, the reported statistics, failures, a dead and a
 * hanging host, redirects not followed, cancellation, and option validation at file:line:col. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "config/cfg.h"
#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "core/plugin.h"
#include "util/util.h"

#include "timing_server.h"

extern const struct as_source_ops as_source_loadtest;

struct src {
    struct as_loop *loop;
    struct as_http *http;
    struct as_doc *doc;
    void *state;
};

/* Parses and validates yaml (every %d is the server's port); 0, or -1 with err. */
static int src_parse(struct src *b, const char *yaml_fmt, struct as_err *err)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml), yaml_fmt, ts_port, ts_port);
    memset(b, 0, sizeof(*b));
    as_err_clear(err);
    b->doc = as_doc_parse("test.yaml", yaml, strlen(yaml), err);
    assert_non_null(b->doc);
    b->state = calloc(1, as_source_loadtest.state_size);
    assert_non_null(b->state);
    if (as_opts_parse(as_source_loadtest.opts, b->state, b->doc->root, "test", err) < 0)
        return -1;
    return as_source_loadtest.validate(b->state, b->doc->root, err);
}

static void src_new(struct src *b, const char *yaml_fmt)
{
    struct as_err err;
    if (src_parse(b, yaml_fmt, &err) < 0)
        fail_msg("%s:%d:%d: %s", err.file, err.line, err.col, err.msg);
    b->loop = as_loop_new();
    b->http = as_http_new(b->loop);
    struct as_ctx ctx = {
        .loop = b->loop, .http = b->http, .group = "g", .name = "lt", .timeout_ms = 5000};
    assert_int_equal(as_source_loadtest.start(b->state, &ctx, &err), 0);
}

static void src_free(struct src *b)
{
    if (b->loop)
        as_source_loadtest.stop(b->state);
    as_opts_free(as_source_loadtest.opts, b->state);
    free(b->state);
    as_doc_free(b->doc);
    if (b->loop) {
        as_http_free(b->http);
        as_loop_free(b->loop);
    }
}

struct result {
    int done;
    struct as_measurement m;
};

static void on_measure(const struct as_measurement *m, void *arg)
{
    struct result *r = arg;
    r->m = *m;
    r->done++;
}

static struct as_measurement measure_once(struct src *b, int64_t *took)
{
    struct result r = {0};
    int64_t t0 = as_mono_ms();
    as_source_loadtest.measure(b->state, on_measure, &r);
    assert_int_equal(r.done, 0);
    while (!r.done && as_mono_ms() < t0 + 10000)
        as_loop_once(b->loop, 10);
    assert_int_equal(r.done, 1);
    if (took)
        *took = as_mono_ms() - t0;
    assert_int_equal(as_http_active(b->http), 0); /* nothing left in flight */
    return r.m;
}

#define HOST "host: http://127.0.0.1:%d\ntimeout: 5s\n"

/* Six users keep six requests in flight (more than a group's default four per origin), for
 * the duration and no longer; rps is what the server saw. */
static void test_users(void **state)
{
    (void)state;
    struct src b;
    int64_t took;
    ts_reset();
    src_new(&b, HOST "users: 6\nduration: 600ms\nrequests: [{path: /delay/50}]\n"
                     "report: {stat: rps}\n");
    struct as_measurement m = measure_once(&b, &took);
    assert_true(m.ok);
    int seen = ts_count("/delay/50");
    assert_int_equal(ts_get(&ts.max_inflight), 6);
    if (took < 600 || took > 900)
        fail_msg("a 600 ms test took %lld ms", (long long)took);
    /* 6 users x 600 ms / ~50 ms: about 72; rps counts the answers that came back in the
     * test's time (a little over 600 ms), not the 6 in flight at the end */
    if (seen < 40 || seen > 80 || m.value * 0.6 > seen || m.value * 0.6 < seen - 10)
        fail_msg("server saw %d requests, rps %g", seen, m.value);
    src_free(&b);
}

/* Weights 3:1, and each request's own statistics and failure ratio. */
static void test_weights_and_stats(void **state)
{
    (void)state;
    const char *base = HOST "users: 4\nduration: 800ms\nmax_failure_ratio: 1\n"
                            "requests:\n"
                            "  - {name: slow, path: /delay/20, weight: 3}\n"
                            "  - {name: bad, path: /status/503}\n";
    struct {
        const char *report;
        double lo, hi;
    } cases[] = {
        {"report: {request: slow, stat: median}\n", 20, 60},
        {"report: {request: slow, stat: max}\n", 20, 300},
        {"report: {request: bad, stat: failure_ratio}\n", 1, 1},
        {"report: {request: slow, stat: failure_ratio}\n", 0, 0},
        {"report: {stat: failure_ratio}\n", 0.02, 0.9},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        char yaml[1024];
        struct src b;
        snprintf(yaml, sizeof(yaml), "%s%s", base, cases[i].report);
        ts_reset();
        src_new(&b, yaml);
        struct as_measurement m = measure_once(&b, NULL);
        if (!m.ok || m.value < cases[i].lo || m.value > cases[i].hi)
            fail_msg("%s: ok=%d value=%g (%s)", cases[i].report, m.ok, m.value, m.error);
        /* the 503s are answered at once, so 3:1 in picks, not in counts: check the picks over
         * the slow path's pace instead: every user spends most of its time on /delay/20 */
        assert_true(ts_count("/delay/20") > 0 && ts_count("/status/503") > 0);
        src_free(&b);
    }
}

/* Weights with equal costs: the counts follow them. */
static void test_weight_ratio(void **state)
{
    (void)state;
    struct src b;
    ts_reset();
    src_new(&b, HOST "users: 2\nduration: 700ms\n"
                     "requests: [{path: /a, weight: 3}, {path: /b, weight: 1}]\n");
    struct as_measurement m = measure_once(&b, NULL);
    assert_true(m.ok);
    double a = ts_count("/a"), bb = ts_count("/b");
    if (a + bb < 100 || a / bb < 2.2 || a / bb > 4.0)
        fail_msg("/a %g, /b %g", a, bb);
    src_free(&b);
}

/* A host name (or https) goes through the HTTP client (libcurl) instead of the direct path:
 * the same users in flight, counts and statistics. */
static void test_client_path(void **state)
{
    (void)state;
    struct src b;
    ts_reset();
    src_new(&b, "host: http://localhost:%d\ntimeout: 5s\nusers: 6\nduration: 500ms\n"
                "request_timeout: 80ms\nmax_failure_ratio: 1\n"
                "requests: [{path: /delay/50, weight: 3}, {path: /delay/200}]\n"
                "report: {request: /delay/200, stat: failure_ratio}\n");
    struct as_measurement m = measure_once(&b, NULL);
    assert_true(m.ok);
    assert_true(m.value == 1); /* every /delay/200 timed out at 80 ms */
    /* six users at once, beyond a group's default 4 per origin (and more on the server: the
     * requests that timed out at 80 ms are still being answered there) */
    assert_true(ts_get(&ts.max_inflight) >= 6);
    assert_true(ts_count("/delay/50") > 20);
    src_free(&b);
}

/* host's base path and the path make the URL (trailing slashes of host dropped). */
static void test_base_path(void **state)
{
    (void)state;
    struct src b;
    ts_reset();
    src_new(&b, "host: http://127.0.0.1:%d/base//\ntimeout: 5s\nusers: 1\nduration: 200ms\n"
                "requests: [{path: '/x?id=1', method: POST, body: hello, "
                "headers: {X-Test: yes}}]\n");
    assert_true(measure_once(&b, NULL).ok);
    assert_true(ts_count("/base/x") > 0);
    assert_int_equal(ts_get(&ts.total), ts_count("/base/x"));
    src_free(&b);
}

/* Think time: two users pausing 100 ms make about 2 x 600 / 100 requests. */
static void test_think_time(void **state)
{
    (void)state;
    struct src b;
    ts_reset();
    src_new(&b, HOST "users: 2\nduration: 600ms\nthink_time: 100ms\n"
                     "requests: [{path: /x}, {path: /y, think_time: 100ms, think_time_max: "
                     "120ms}]\nreport: {stat: rps}\n");
    struct as_measurement m = measure_once(&b, NULL);
    assert_true(m.ok);
    int seen = ts_get(&ts.total);
    if (seen < 8 || seen > 14)
        fail_msg("%d requests", seen);
    src_free(&b);
}

/* spawn_rate 10/s: users start 100 ms apart, so fewer requests than all at once. */
static void test_spawn_rate(void **state)
{
    (void)state;
    struct src b;
    ts_reset();
    src_new(&b, HOST "users: 4\nspawn_rate: 10\nduration: 500ms\nrequests: [{path: /delay/50}]\n");
    assert_true(measure_once(&b, NULL).ok);
    int seen = ts_count("/delay/50"); /* about 10 + 8 + 6 + 4 = 28; all at once: 40 */
    if (seen < 18 || seen > 33)
        fail_msg("%d requests", seen);
    src_free(&b);
}

/* A redirect is an answer: never followed, wherever it points. */
static void test_redirect_not_followed(void **state)
{
    (void)state;
    struct src b;
    ts_reset();
    src_new(&b, HOST "users: 1\nduration: 300ms\nrequests: [{path: /redirect}]\n"
                     "report: {stat: failure_ratio}\n");
    struct as_measurement m = measure_once(&b, NULL);
    assert_true(m.ok);
    assert_true(m.value == 0);
    assert_int_equal(ts_get(&ts.total), ts_count("/redirect"));
    src_free(&b);
}

static void test_failures(void **state)
{
    (void)state;
    struct {
        const char *yaml, *error;
    } cases[] = {
        {"host: http://127.0.0.1:1\ntimeout: 5s\nusers: 2\nduration: 300ms\n"
         "requests: [{path: /}]\n",
         "requests failed (more than 0.1); first: /: "},
        {HOST "users: 2\nduration: 300ms\nrequests: [{path: /status/500}]\n",
         "requests failed (more than 0.1); first: /status/500: HTTP 500"},
        {HOST "users: 2\nduration: 300ms\nrequests: [{path: /delay/2000}]\n",
         "no request completed in 0.3s (2 in flight)"},
        {HOST "users: 2\nduration: 300ms\nrequest_timeout: 50ms\nrequests: [{path: /delay/200}]\n",
         "first: /delay/200: timeout after 50 ms"},
        /* failures allowed, but a latency of nothing that answered is no value */
        {"host: http://127.0.0.1:1\ntimeout: 5s\nusers: 1\nduration: 200ms\nmax_failure_ratio: 1\n"
         "requests: [{path: /}]\n",
         "no 'total' request got an answer"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct src b;
        ts_reset();
        src_new(&b, cases[i].yaml);
        struct as_measurement m = measure_once(&b, NULL);
        if (m.ok || strstr(m.error, cases[i].error) == NULL)
            fail_msg("case %zu: ok=%d error='%s'", i, m.ok, m.error);
        src_free(&b);
    }
}

/* Cancelled mid-test: no callback, nothing in flight; the next test works. */
static void test_cancel(void **state)
{
    (void)state;
    struct src b;
    struct result r = {0};
    ts_reset();
    src_new(&b, HOST "users: 3\nduration: 400ms\nrequests: [{path: /delay/30}]\n");
    as_source_loadtest.measure(b.state, on_measure, &r);
    int64_t end = as_mono_ms() + 150;
    while (as_mono_ms() < end)
        as_loop_once(b.loop, 10);
    as_source_loadtest.cancel(b.state);
    assert_int_equal(as_http_active(b.http), 0);
    end = as_mono_ms() + 400;
    while (as_mono_ms() < end)
        as_loop_once(b.loop, 10);
    assert_int_equal(r.done, 0);
    assert_true(measure_once(&b, NULL).ok);
    src_free(&b);
}

static void test_validate(void **state)
{
    (void)state;
    struct {
        const char *yaml, *error;
    } cases[] = {
        {"host: http://h\nduration: 1s\nrequests: [{path: /}]\n",
         "test.yaml:2:11: a loadtest needs the metric's 'timeout' set above its 'duration'"},
        {"host: http://h\ntimeout: 2s\nduration: 2s\nrequests: [{path: /}]\n",
         "test.yaml:3:11: 'duration' 2s must be below the metric's timeout 2s"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nusers: 30\nspawn_rate: 10\n"
         "requests: [{path: /}]\n",
         "test.yaml:5:13: starting 30 users at 10 per second takes longer than the duration"},
        {"host: http://user:pw@h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /}]\n",
         "test.yaml:1:7: 'host' must be http:// or https://"},
        {"host: http://h/?q=1\ntimeout: 3s\nduration: 2s\nrequests: [{path: /}]\n", "'host' must"},
        {"host: ftp://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /}]\n", "'host' must"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: 'http://evil/x'}]\n",
         "test.yaml:4:19: 'path' must be a path on host"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: //evil/x}]\n",
         "'path' must be a path on host"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: '/a b'}]\n",
         "'path' must be a path on host"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /a}, {path: /a}]\n",
         "test.yaml:4:31: two requests are named '/a'"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /a, name: total}]\n",
         "'total' is the name of all requests together"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /a, colour: red}]\n",
         "test.yaml:4:23: unknown key 'colour' in loadtest request 1"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /a, weight: 0}]\n",
         "loadtest request 1: 'weight' must be between 1 and 10000"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /a, method: TRACE}]\n",
         "'method' must be one of: GET, POST, PUT, PATCH, DELETE"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /a, think_time: 2s, "
         "think_time_max: 1s}]\n",
         "'think_time_max' is below 'think_time'"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: []\n",
         "test.yaml:4:11: a loadtest needs 'requests'"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: /a\n",
         "a loadtest needs 'requests'"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\n", "a loadtest needs 'requests'"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [/a]\n",
         "loadtest request 1 must be a mapping"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /a}]\n"
         "report: {request: checkout}\n",
         "test.yaml:5:19: 'report': no request named 'checkout' (nor total)"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /a}]\nreport: {stat: p50}\n",
         "'stat' must be one of: mean, median, p90, p95, p99, max, rps, failure_ratio"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /a}]\nreport: p95\n",
         "'report' must be a mapping"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /a}]\nreport: {x: 1}\n",
         "unknown key 'x' in loadtest report"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /a, headers: "
         "{Content-Length: 5}}]\n",
         "test.yaml:4:32: 'headers': no control characters, and Content-Length"},
        {"host: http://h\ntimeout: 3s\nduration: 2s\nrequests: [{path: /a, headers: "
         "{X-A: \"a\\r\\nEvil: 1\"}}]\n",
         "'headers': no control characters"},
        {"host: http://h\ntimeout: 3s\nduration: 50ms\nrequests: [{path: /a}]\n",
         "'duration' must be between 100ms and 1h"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct src b;
        struct as_err err;
        int rc = src_parse(&b, cases[i].yaml, &err);
        char full[AS_ERR_MAX + 300];
        snprintf(full, sizeof(full), "%s:%d:%d: %s", err.file, err.line, err.col, err.msg);
        if (rc == 0 || strstr(full, cases[i].error) == NULL)
            fail_msg("case %zu: rc=%d '%s'", i, rc, full);
        src_free(&b);
    }
    /* a good one: trailing slashes of host dropped, base path kept */
    struct src b;
    struct as_err err;
    assert_int_equal(src_parse(&b,
                               "host: http://h:8080/api//\ntimeout: 3s\nduration: 2s\n"
                               "requests: [{path: '/cart?id=1', headers: {X-A: b}, body: x}]\n",
                               &err),
                     0);
    src_free(&b);
}

int main(void)
{
    as_log_min = AS_OFF;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_users),        cmocka_unit_test(test_weights_and_stats),
        cmocka_unit_test(test_weight_ratio), cmocka_unit_test(test_think_time),
        cmocka_unit_test(test_spawn_rate),   cmocka_unit_test(test_redirect_not_followed),
        cmocka_unit_test(test_base_path),    cmocka_unit_test(test_client_path),
        cmocka_unit_test(test_failures),     cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_validate),
    };
    return cmocka_run_group_tests(tests, ts_start, ts_stop);
}
