/* The http_latency source against an in-process server (timing_server.h): measured times,
 * the statistics, concurrency beyond the client's default per-group limit, failures and the
 * failure ratio, timeouts, the header mode, cancellation, and option validation. */
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

extern const struct as_source_ops as_source_http_latency;

struct src {
    struct as_loop *loop;
    struct as_http *http;
    struct as_doc *doc;
    void *state;
};

/* Parses and validates yaml (its %d: the server's port); returns 0, or -1 with err. */
static int src_parse(struct src *b, const char *yaml_fmt, struct as_err *err)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml), yaml_fmt, ts_port);
    memset(b, 0, sizeof(*b));
    as_err_clear(err);
    b->doc = as_doc_parse("test.yaml", yaml, strlen(yaml), err);
    assert_non_null(b->doc);
    b->state = calloc(1, as_source_http_latency.state_size);
    assert_non_null(b->state);
    if (as_opts_parse(as_source_http_latency.opts, b->state, b->doc->root, "test", err) < 0)
        return -1;
    return as_source_http_latency.validate(b->state, b->doc->root, err);
}

static void src_new(struct src *b, const char *yaml_fmt, int64_t timeout_ms)
{
    struct as_err err;
    if (src_parse(b, yaml_fmt, &err) < 0)
        fail_msg("%s", err.msg);
    b->loop = as_loop_new();
    b->http = as_http_new(b->loop);
    struct as_ctx ctx = {
        .loop = b->loop, .http = b->http, .group = "g", .name = "lat", .timeout_ms = timeout_ms};
    assert_int_equal(as_source_http_latency.start(b->state, &ctx, &err), 0);
}

static void src_free(struct src *b)
{
    if (b->loop)
        as_source_http_latency.stop(b->state);
    as_opts_free(as_source_http_latency.opts, b->state);
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

/* One measurement; its duration in ms goes to *took when not NULL. */
static struct as_measurement measure_once(struct src *b, int64_t *took)
{
    struct result r = {0};
    int64_t t0 = as_mono_ms();
    as_source_http_latency.measure(b->state, on_measure, &r);
    assert_int_equal(r.done, 0); /* never from within measure() */
    int64_t end = t0 + 10000;
    while (!r.done && as_mono_ms() < end)
        as_loop_once(b->loop, 10);
    assert_int_equal(r.done, 1);
    if (took)
        *took = as_mono_ms() - t0;
    return r.m;
}

static void test_measured_time(void **state)
{
    (void)state;
    struct src b;
    ts_reset();
    src_new(&b, "url: http://127.0.0.1:%d/delay/40\nrequests: 3\n", 2000);
    struct as_measurement m = measure_once(&b, NULL);
    assert_true(m.ok);
    /* curl's own time: at least the server's delay, and not much more on loopback */
    if (m.value < 40 || m.value > 400)
        fail_msg("mean %g ms for a 40 ms delay", m.value);
    assert_int_equal(ts_count("/delay/40"), 3);
    src_free(&b);
}

/* The statistic is taken over the requests' times: /seq states 1ms, 2ms, ... 10ms. */
static void test_stats(void **state)
{
    (void)state;
    struct {
        const char *stat;
        double want;
    } cases[] = {{"mean", 5.5}, {"median", 5}, {"p90", 9}, {"p95", 10}, {"p99", 10}, {"max", 10}};
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        char yaml[256];
        struct src b;
        snprintf(yaml, sizeof(yaml),
                 "url: http://127.0.0.1:%%d/seq\nrequests: 10\nheader: X-Response-Time\n"
                 "stat: %s\n",
                 cases[i].stat);
        ts_reset();
        src_new(&b, yaml, 2000);
        struct as_measurement m = measure_once(&b, NULL);
        if (!m.ok || m.value != cases[i].want)
            fail_msg("%s: ok=%d value=%g, want %g (%s)", cases[i].stat, m.ok, m.value,
                     cases[i].want, m.error);
        src_free(&b);
    }
}

/* concurrency: 8 requests of 150 ms, 8 at a time, take one round, and all 8 are in flight at
 * once although the client allows a group 4 per origin by default. */
static void test_concurrency(void **state)
{
    (void)state;
    struct src b;
    int64_t took;
    ts_reset();
    src_new(&b, "url: http://127.0.0.1:%d/delay/150\nrequests: 8\nconcurrency: 8\n", 3000);
    struct as_measurement m = measure_once(&b, &took);
    assert_true(m.ok);
    assert_int_equal(ts_get(&ts.max_inflight), 8);
    if (took > 290)
        fail_msg("8 requests of 150 ms, 8 at once, took %lld ms", (long long)took);
    src_free(&b);

    ts_reset(); /* and one at a time by default */
    src_new(&b, "url: http://127.0.0.1:%d/delay/30\nrequests: 4\n", 3000);
    m = measure_once(&b, &took);
    assert_true(m.ok);
    assert_int_equal(ts_get(&ts.max_inflight), 1);
    assert_true(took >= 120);
    src_free(&b);
}

static void test_failures(void **state)
{
    (void)state;
    struct {
        const char *yaml;
        int64_t timeout_ms;
        int ok;
        const char *error;
    } cases[] = {
        {"url: http://127.0.0.1:%d/status/503\n", 1000, 0,
         "1 of 1 requests failed (more than "
         "0.1): HTTP 503"},
        {"url: http://127.0.0.1:%d/status/302\n", 1000, 0, "HTTP 302"},
        {"url: http://127.0.0.1:%d/status/204\n", 1000, 1, ""},
        /* every second request fails: 5 of 10 */
        {"url: http://127.0.0.1:%d/flaky\nrequests: 10\n", 2000, 0, "5 of 10 requests failed"},
        {"url: http://127.0.0.1:%d/flaky\nrequests: 10\nmax_failure_ratio: 0.5\n", 2000, 1, ""},
        /* all failed is never a value, whatever the ratio allowed */
        {"url: http://127.0.0.1:%d/status/500\nrequests: 2\nmax_failure_ratio: 1\n", 2000, 0,
         "2 of 2 requests failed"},
        {"url: http://127.0.0.1:%d/delay/1000\n", 200, 0, "timeout after 2"},
        {"url: http://127.0.0.1:%d/delay/1000\nrequest_timeout: 100ms\n", 900, 0,
         "timeout after 1"},
        /* the measurement's timeout ends the requests not yet made: the third times out, the
         * fourth has no time left */
        {"url: http://127.0.0.1:%d/delay/120\nrequests: 4\nmax_failure_ratio: 0.2\n", 300, 0,
         "2 of 4 requests failed (more than 0.2): timeout after"},
        {"url: http://127.0.0.1:1/\n", 1000, 0, "1 of 1 requests failed"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct src b;
        ts_reset();
        src_new(&b, cases[i].yaml, cases[i].timeout_ms);
        struct as_measurement m = measure_once(&b, NULL);
        if (m.ok != cases[i].ok || strstr(m.error, cases[i].error) == NULL)
            fail_msg("case %zu: ok=%d error='%s', want ok=%d '%s'", i, m.ok, m.error, cases[i].ok,
                     cases[i].error);
        src_free(&b);
    }
}

static void test_header(void **state)
{
    (void)state;
    struct {
        const char *path, *extra;
        int ok;
        double value;
        const char *error;
    } cases[] = {
        {"/hdr?v=350ms", "", 1, 350, ""},
        {"/hdr?v=1.5s", "", 1, 1500, ""},
        {"/hdr?v=250us", "", 1, 0.25, ""},
        {"/hdr?v=350", "", 0, 0, "header X-Response-Time: '350': number has no unit"},
        {"/hdr?v=0.35", "header_unit: s\n", 1, 350, ""},
        {"/hdr?v=at%%3Dinfo%%20connect%%3D1ms%%20service%%3D350ms%%20status%%3D200",
         "header_key: service\n", 1, 350, ""},
        {"/hdr?v=connect%%3D1ms", "header_key: service\n", 0, 0, "key not found"},
        {"/hdr?v=-5ms", "", 0, 0, "not a number"},
        {"/hdr?v=5%%20parsecs", "", 0, 0, "unit is not us, ms or s"},
        {"/delay/0", "", 0, 0, "no header X-Response-Time in the response"},
        {"/dup", "", 0, 0, "header X-Response-Time came more than once"},
        {"/status/500", "", 0, 0, "HTTP 500"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        char yaml[512];
        struct src b;
        snprintf(yaml, sizeof(yaml), "url: 'http://127.0.0.1:%%d%s'\nheader: X-Response-Time\n%s",
                 cases[i].path, cases[i].extra);
        ts_reset();
        src_new(&b, yaml, 1000);
        struct as_measurement m = measure_once(&b, NULL);
        if (m.ok != cases[i].ok || (m.ok && fabs(m.value - cases[i].value) > 1e-9) ||
            strstr(m.error, cases[i].error) == NULL)
            fail_msg("%s: ok=%d value=%g error='%s'", cases[i].path, m.ok, m.value, m.error);
        src_free(&b);
    }
}

/* A measurement cancelled in flight never calls back; the next one works. */
static void test_cancel(void **state)
{
    (void)state;
    struct src b;
    struct result r = {0};
    ts_reset();
    src_new(&b, "url: http://127.0.0.1:%d/delay/200\nrequests: 4\nconcurrency: 2\n", 2000);
    as_source_http_latency.measure(b.state, on_measure, &r);
    int64_t end = as_mono_ms() + 100;
    while (as_mono_ms() < end)
        as_loop_once(b.loop, 10);
    as_source_http_latency.cancel(b.state);
    end = as_mono_ms() + 400;
    while (as_mono_ms() < end)
        as_loop_once(b.loop, 10);
    assert_int_equal(r.done, 0);
    struct as_measurement m = measure_once(&b, NULL);
    assert_true(m.ok);
    src_free(&b);
}

static void test_validate(void **state)
{
    (void)state;
    struct {
        const char *yaml, *error;
    } cases[] = {
        {"url: ftp://x/\n", "test.yaml:1:6: 'url' must start with http:// or https://"},
        {"url: http://x/\nrequests: 2\nconcurrency: 3\n",
         "test.yaml:3:14: 'concurrency' 3 is more than 'requests' 2"},
        {"url: http://x/\nrequests: 1001\n", "'requests' must be between 1 and 1000"},
        {"url: http://x/\nheader_key: service\n", "test.yaml:2:13: 'header_key' needs 'header'"},
        {"url: http://x/\nheader_unit: s\n", "test.yaml:2:14: 'header_unit' needs 'header'"},
        {"url: http://x/\nheader: 'X-Time: 5'\n", "'header' must be a header name"},
        {"url: http://x/\nstat: p50\n", "'stat' must be one of: mean, median, p90, p95, p99, max"},
        {"url: http://x/\nmax_failure_ratio: 1.5\n", "'max_failure_ratio' must be between 0"},
        {"url: http://x/\nmethod: DELETE\n", "'method' must be one of: GET, POST"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct src b;
        struct as_err err;
        int rc = src_parse(&b, cases[i].yaml, &err);
        char full[AS_ERR_MAX + 64];
        snprintf(full, sizeof(full), "%s:%d:%d: %s", err.file, err.line, err.col, err.msg);
        if (rc == 0 ||
            (strstr(full, cases[i].error) == NULL && strstr(err.msg, cases[i].error) == NULL))
            fail_msg("%s: rc=%d '%s'", cases[i].yaml, rc, full);
        src_free(&b);
    }
}

int main(void)
{
    as_log_min = AS_OFF;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_measured_time), cmocka_unit_test(test_stats),
        cmocka_unit_test(test_concurrency),   cmocka_unit_test(test_failures),
        cmocka_unit_test(test_header),        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_validate),
    };
    return cmocka_run_group_tests(tests, ts_start, ts_stop);
}
