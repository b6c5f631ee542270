/* The prometheus source: its parser of the HTTP API's answers (every result type, NaN and
 * infinities, errors, garbage), the step from an answer to a measurement (per-replica values,
 * vanished series as missing replicas, forget_after, empty_as, aggregates), the helpers it
 * shares with rabbitmq, and the whole source against an in-process server (auth, POST form,
 * HTTP errors, timeout). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
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
#include "sources/http_api.h"
#include "sources/prometheus.h"
#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "core/plugin.h"
#include "util/util.h"

#include "http_server.h"

extern const struct as_source_ops as_source_prometheus;

#define OK "{\"status\":\"success\",\"data\":"
#define VEC(x) OK "{\"resultType\":\"vector\",\"result\":[" x "]}}"
#define SER(pod, v) "{\"metric\":{\"pod\":\"" pod "\"},\"value\":[1700000000.5,\"" v "\"]}"

static int parse(const char *body, struct as_prom_result *r, struct as_err *err)
{
    as_err_clear(err);
    return as_prom_parse(body, strlen(body), 16, r, err);
}

/* ---- the parser ---- */

static void test_parse_results(void **state)
{
    (void)state;
    struct as_prom_result r;
    struct as_err err;
    assert_int_equal(
        parse(OK "{\"resultType\":\"scalar\",\"result\":[1700000000.1,\"1.5\"]}}", &r, &err), 0);
    assert_int_equal(r.type, AS_PROM_SCALAR);
    assert_int_equal(r.n, 1);
    assert_true(r.v[0].value == 1.5);
    as_prom_result_free(&r);

    /* Sorted by labels; NaN and infinities as Prometheus writes them; exponents. */
    assert_int_equal(parse(VEC(SER("c", "NaN") "," SER("a", "+Inf") "," SER("b", "-Inf") "," SER(
                               "d", "1e+06") "," SER("e", "-2.5e-3")),
                           &r, &err),
                     0);
    assert_int_equal(r.type, AS_PROM_VECTOR);
    assert_int_equal(r.n, 5);
    assert_string_equal(r.v[0].labels, "{\"pod\":\"a\"}");
    assert_true(isinf(r.v[0].value) && r.v[0].value > 0);
    assert_true(isinf(r.v[1].value) && r.v[1].value < 0);
    assert_true(isnan(r.v[2].value));
    assert_true(r.v[3].value == 1e6);
    assert_true(r.v[4].value == -2.5e-3);
    as_prom_result_free(&r);

    /* Label order in the answer does not matter: the key is canonical. */
    assert_int_equal(
        parse(VEC("{\"metric\":{\"z\":\"1\",\"a\":\"2\"},\"value\":[1,\"3\"]}"), &r, &err), 0);
    assert_string_equal(r.v[0].labels, "{\"a\":\"2\",\"z\":\"1\"}");
    as_prom_result_free(&r);

    assert_int_equal(parse(VEC(""), &r, &err), 0);
    assert_int_equal(r.n, 0);
    as_prom_result_free(&r);

    assert_int_equal(parse(OK "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":"
                              "[[1,\"1\"],[2,\"2\"]]}]}}",
                           &r, &err),
                     0);
    assert_int_equal(r.type, AS_PROM_MATRIX);
    as_prom_result_free(&r);
    assert_int_equal(parse(OK "{\"resultType\":\"string\",\"result\":[1,\"hello\"]}}", &r, &err),
                     0);
    assert_int_equal(r.type, AS_PROM_STRING);
    as_prom_result_free(&r);

    assert_int_equal(parse("{\"status\":\"success\",\"warnings\":[\"PromQL info: x\",\"y\"],"
                           "\"data\":{\"resultType\":\"vector\",\"result\":[]}}",
                           &r, &err),
                     0);
    assert_int_equal(r.nwarnings, 2);
    assert_string_equal(r.warning, "PromQL info: x");
    as_prom_result_free(&r);
}

static void test_parse_failures(void **state)
{
    (void)state;
    struct {
        const char *body, *error;
    } cases[] = {
        {"{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"1:5: parse error: "
         "unexpected\"}",
         "Prometheus error bad_data: 1:5: parse error: unexpected"},
        {"{\"status\":\"error\"}", "Prometheus error ?: "},
        {"<html>502 Bad Gateway</html>", "response is not JSON"},
        {"", "response is not JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"status\":\"success\"}", "no data.resultType"},
        {"{\"status\":\"ok\",\"data\":{}}", "no \"status\": \"success\""},
        {OK "{\"resultType\":\"vector\",\"result\":{}}}", "not an array"},
        {OK "{\"resultType\":\"histogram\",\"result\":[]}}", "unknown resultType"},
        {VEC("{\"value\":[1,\"2\"]}"), "no \"metric\" object"},
        {VEC("{\"metric\":{\"a\":1},\"value\":[1,\"2\"]}"), "label value is not a string"},
        {VEC("{\"metric\":{},\"value\":[1,2]}"), "not [time, \"number\"]"},
        {VEC("{\"metric\":{},\"value\":[\"1\",\"2\"]}"), "not [time, \"number\"]"},
        {VEC("{\"metric\":{},\"value\":[1,\"2\",3]}"), "not [time, \"number\"]"},
        {VEC("{\"metric\":{}}"), "not [time, \"number\"]"},
        {VEC("{\"metric\":{},\"value\":[1,\"0x10\"]}"), "not a decimal number, NaN"},
        {VEC("{\"metric\":{},\"value\":[1,\"nan\"]}"), "not a decimal number, NaN"},
        {VEC("{\"metric\":{},\"value\":[1,\" 1\"]}"), "not a decimal number, NaN"},
        {VEC("{\"metric\":{},\"value\":[1,\"1e999\"]}"), "not a decimal number, NaN"},
        {VEC("{\"metric\":{},\"histogram\":[1,{\"count\":\"2\"}]}"), "native histogram"},
        {VEC(SER("a", "1") "," SER("a", "2")), "two series with the same labels"},
        {OK "{\"resultType\":\"scalar\",\"result\":[1,\"x\"]}}", "not a decimal number"},
        {OK "{\"resultType\":\"scalar\",\"result\":null}}", "not [time"},
        {"{\"status\":\"success\",\"status\":\"success\"}", "not JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct as_prom_result r;
        struct as_err err;
        if (parse(cases[i].body, &r, &err) == 0 || strstr(err.msg, cases[i].error) == NULL)
            fail_msg("case %zu: '%s'", i, err.msg);
        assert_int_equal(r.n, 0); /* nothing left to free */
        assert_null(r.v);
    }
    /* More series than allowed. */
    struct as_prom_result r;
    struct as_err err;
    const char *three = VEC(SER("a", "1") "," SER("b", "1") "," SER("c", "1"));
    assert_int_equal(as_prom_parse(three, strlen(three), 2, &r, &err), -1);
    assert_string_equal(err.msg, "the vector has 3 series, more than 2");
}

/* ---- from an answer to a measurement ---- */

struct evalf {
    struct as_prom_eval_cfg cfg;
    struct as_prom_memory mem;
    struct as_measurement m;
    struct as_prom_changes ch;
};

static void eval_at(struct evalf *f, const char *body, int64_t now)
{
    struct as_prom_result r;
    struct as_err err;
    if (parse(body, &r, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(as_prom_eval(&f->cfg, &f->mem, &r, now, &f->m, &f->ch), 0);
    as_prom_result_free(&r);
}

/* "a=0.4 b=- c=0.5": each replica's value, '-' for a missing one. */
static const char *reps(const struct as_measurement *m)
{
    static char buf[256];
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < m->nreplicas && at < sizeof(buf); i++) {
        if (m->per_replica[i].ok)
            at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%g", i ? " " : "",
                                   m->per_replica[i].value);
        else
            at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s-", i ? " " : "");
    }
    return buf;
}

static void test_eval_per_replica(void **state)
{
    (void)state;
    struct evalf f = {.cfg = {.per_replica = 1, .forget_ms = 1000}};
    eval_at(&f, VEC(SER("b", "0.2") "," SER("a", "0.4") "," SER("c", "0.6")), 0);
    assert_true(f.m.ok);
    assert_string_equal(reps(&f.m), "0.4 0.2 0.6");
    assert_true(fabs(f.m.value - 0.4) < 1e-12); /* the mean */
    assert_int_equal(f.m.replicas, -1);
    assert_int_equal(f.ch.appeared.n, 0); /* the first answer's series are not "new" */
    for (size_t i = 0; i < 3; i++)
        assert_true(f.m.per_replica[i].ready && f.m.per_replica[i].age_ms == -1 &&
                    f.m.per_replica[i].idle_ms == -1);

    /* b vanishes: a missing replica, not a smaller vector. */
    eval_at(&f, VEC(SER("a", "0.4") "," SER("c", "0.6")), 500);
    assert_true(f.m.ok);
    assert_string_equal(reps(&f.m), "0.4 - 0.6");
    assert_true(fabs(f.m.value - 0.5) < 1e-12);
    assert_int_equal(f.ch.vanished.n, 1);
    assert_string_equal(f.ch.vanished.first, "{\"pod\":\"b\"}");
    assert_int_equal(f.ch.missing, 1);

    /* Still missing (logged once), then back. */
    eval_at(&f, VEC(SER("a", "0.4") "," SER("c", "0.6")), 900);
    assert_string_equal(reps(&f.m), "0.4 - 0.6");
    assert_int_equal(f.ch.vanished.n, 0);
    eval_at(&f, VEC(SER("a", "0.4") "," SER("b", "0.1") "," SER("c", "0.6")), 1000);
    assert_string_equal(reps(&f.m), "0.4 0.1 0.6");
    assert_int_equal(f.ch.returned.n, 1);

    /* Gone for good: forgotten forget_ms after its last sample. A new one is "new". */
    eval_at(&f, VEC(SER("a", "0.4") "," SER("c", "0.6") "," SER("d", "0.8")), 1500);
    assert_string_equal(reps(&f.m), "0.4 - 0.6 0.8");
    assert_int_equal(f.ch.appeared.n, 1);
    eval_at(&f, VEC(SER("a", "0.4") "," SER("c", "0.6") "," SER("d", "0.8")), 1999);
    assert_string_equal(reps(&f.m), "0.4 - 0.6 0.8");
    eval_at(&f, VEC(SER("a", "0.4") "," SER("c", "0.6") "," SER("d", "0.8")), 2000);
    assert_string_equal(reps(&f.m), "0.4 0.6 0.8");
    assert_int_equal(f.ch.forgotten.n, 1);

    /* A NaN, infinite or negative sample: that replica is missing. */
    eval_at(&f, VEC(SER("a", "NaN") "," SER("c", "-1") "," SER("d", "+Inf")), 2100);
    assert_false(f.m.ok);
    assert_string_equal(f.m.error,
                        "no usable sample in 3 series (0 vanished, 3 NaN, infinite or negative)");
    eval_at(&f, VEC(SER("a", "NaN") "," SER("c", "0.3") "," SER("d", "0.9")), 2200);
    assert_true(f.m.ok);
    assert_string_equal(reps(&f.m), "- 0.3 0.9");
    assert_int_equal(f.ch.unusable.n, 1);
    assert_true(fabs(f.m.value - 0.6) < 1e-12);

    /* Every series vanished: an empty result, a failed measurement. */
    eval_at(&f, VEC(""), 2300);
    assert_false(f.m.ok);
    assert_string_equal(f.m.error, "empty result: no series matched the query");
    assert_int_equal(f.ch.vanished.n, 3);
    as_prom_memory_free(&f.mem);
}

static void test_eval_values(void **state)
{
    (void)state;
    const char *three = VEC(SER("a", "1") "," SER("b", "4") "," SER("c", "7"));
    struct {
        int aggregate;
        double want;
    } aggs[] = {{AS_PROM_MEAN, 4}, {AS_PROM_SUM, 12}, {AS_PROM_MAX, 7}, {AS_PROM_MIN, 1}};
    for (size_t i = 0; i < 4; i++) {
        struct evalf f = {.cfg = {.per_replica = 1, .aggregate = aggs[i].aggregate}};
        eval_at(&f, three, 0);
        assert_true(f.m.ok && f.m.value == aggs[i].want);
        assert_int_equal(f.m.nreplicas, 3);
        as_prom_memory_free(&f.mem);
        /* per_replica off: the aggregate alone, and no memory. */
        f.cfg.per_replica = 0;
        eval_at(&f, three, 0);
        assert_true(f.m.ok && f.m.value == aggs[i].want);
        assert_int_equal(f.m.nreplicas, 0);
        assert_int_equal(f.mem.n, 0);
    }

    struct evalf f = {.cfg = {.per_replica = 1, .forget_ms = 60000}};
    /* One series: its value, no per-replica values. */
    eval_at(&f, VEC(SER("a", "2.5")), 0);
    assert_true(f.m.ok && f.m.value == 2.5 && f.m.nreplicas == 0);
    /* A scalar: its value; the memory is left alone. */
    eval_at(&f, OK "{\"resultType\":\"scalar\",\"result\":[1,\"3\"]}}", 10);
    assert_true(f.m.ok && f.m.value == 3 && f.m.nreplicas == 0);
    eval_at(&f, OK "{\"resultType\":\"scalar\",\"result\":[1,\"NaN\"]}}", 10);
    assert_false(f.m.ok);
    assert_string_equal(f.m.error, "the sample of the result is NaN (nan)");
    /* A single series that is not usable fails the measurement. */
    eval_at(&f, VEC(SER("a", "-Inf")), 20);
    assert_false(f.m.ok);
    assert_string_equal(f.m.error, "the sample of {\"pod\":\"a\"} is infinite (-inf)");
    eval_at(&f, VEC(SER("a", "-0.5")), 30);
    assert_string_equal(f.m.error, "the sample of {\"pod\":\"a\"} is negative (-0.5)");
    /* Matrix and string results. */
    eval_at(&f, OK "{\"resultType\":\"matrix\",\"result\":[]}}", 40);
    assert_false(f.m.ok);
    assert_non_null(strstr(f.m.error, "range vector (matrix)"));
    eval_at(&f, OK "{\"resultType\":\"string\",\"result\":[1,\"x\"]}}", 40);
    assert_string_equal(f.m.error, "the query returned a string, not a number");
    as_prom_memory_free(&f.mem);

    /* empty_as: an empty result is that value (0 is a value, not a failure). */
    struct evalf e = {.cfg = {.has_empty_as = 1, .empty_as = 0}};
    eval_at(&e, VEC(""), 0);
    assert_true(e.m.ok && e.m.value == 0 && e.m.nreplicas == 0);
    e.cfg.empty_as = 3;
    eval_at(&e, VEC(""), 0);
    assert_true(e.m.ok && e.m.value == 3);
    /* ... but NaN is not empty. */
    eval_at(&e, VEC(SER("a", "NaN")), 0);
    assert_false(e.m.ok);
}

/* forget_after 0: a vanished series is simply not counted. */
static void test_eval_no_memory(void **state)
{
    (void)state;
    struct evalf f = {.cfg = {.per_replica = 1, .forget_ms = 0}};
    eval_at(&f, VEC(SER("a", "1") "," SER("b", "2") "," SER("c", "3")), 0);
    eval_at(&f, VEC(SER("a", "1") "," SER("c", "3")), 1);
    assert_string_equal(reps(&f.m), "1 3");
    assert_int_equal(f.ch.forgotten.n, 1);
    /* And a lone survivor is a plain value again. */
    eval_at(&f, VEC(SER("c", "3")), 2);
    assert_true(f.m.ok && f.m.value == 3 && f.m.nreplicas == 0);
    as_prom_memory_free(&f.mem);

    /* With memory, a lone survivor stays per-replica while the others are missing. */
    struct evalf g = {.cfg = {.per_replica = 1, .forget_ms = 100}};
    eval_at(&g, VEC(SER("a", "1") "," SER("b", "2")), 0);
    eval_at(&g, VEC(SER("b", "2")), 50);
    assert_string_equal(reps(&g.m), "- 2");
    eval_at(&g, VEC(SER("b", "2")), 100);
    assert_int_equal(g.m.nreplicas, 0);
    assert_true(g.m.ok && g.m.value == 2);
    as_prom_memory_free(&g.mem);
}

/* ---- the shared helpers ---- */

static void test_helpers(void **state)
{
    (void)state;
    struct as_sb sb = {0};
    assert_int_equal(as_api_encode(&sb, "sum(rate(x{a=\"b c\",d=~\"e|f\"}[1m])) + 1/2 ~ü&#"), 0);
    assert_string_equal(sb.buf, "sum%28rate%28x%7Ba%3D%22b%20c%22%2Cd%3D~%22e%7Cf%22%7D%5B1m%5D%29"
                                "%29%20%2B%201%2F2%20~%C3%BC%26%23");
    as_sb_free(&sb);
    assert_int_equal(as_api_encode(&sb, "/"), 0);
    assert_string_equal(sb.buf, "%2F");
    as_sb_free(&sb);

    struct as_err err;
    char *h = as_api_basic_auth("guest", "s3cr3t!", &err);
    assert_string_equal(h, "Authorization: Basic Z3Vlc3Q6czNjcjN0IQ==");
    /* The encoded credentials are a log secret. */
    char line[] = "sent Z3Vlc3Q6czNjcjN0IQ== to the server";
    as_log_mask(line, strlen(line));
    assert_string_equal(line, "sent *** to the server");
    free(h);
    h = as_api_basic_auth("u", NULL, &err);
    assert_string_equal(h, "Authorization: Basic dTo=");
    free(h);
    as_log_secrets_clear();

    char *extra[] = {"X-A: 1", "authorization: x", NULL};
    assert_true(as_api_has_header(extra, "Authorization"));
    assert_false(as_api_has_header(extra, "X"));
    assert_false(as_api_has_header(NULL, "X-A"));
    char **list = as_api_headers(extra, "Accept: a", NULL, "C: c", &err);
    assert_string_equal(list[0], "X-A: 1");
    assert_string_equal(list[2], "Accept: a");
    assert_string_equal(list[3], "C: c");
    assert_null(list[4]);
    free(list);
}

/* ---- the source against an in-process server ---- */

struct src {
    struct as_loop *loop;
    struct as_http *http;
    struct as_doc *doc;
    void *state;
};

static void on_measure(const struct as_measurement *m, void *arg)
{
    struct as_measurement *out = arg;
    *out = *m;
    out->per_replica = NULL; /* borrowed for the callback only */
}

static int src_new(struct src *s, const char *yaml_fmt, int64_t timeout_ms, struct as_err *err)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml), yaml_fmt, port);
    s->loop = as_loop_new();
    s->http = as_http_new(s->loop);
    s->doc = as_doc_parse("test.yaml", yaml, strlen(yaml), err);
    assert_non_null(s->doc);
    s->state = calloc(1, as_source_prometheus.state_size);
    if (as_opts_parse(as_source_prometheus.opts, s->state, s->doc->root, "test", err) < 0 ||
        as_source_prometheus.validate(s->state, s->doc->root, err) < 0)
        return -1;
    struct as_ctx ctx = {
        .loop = s->loop, .http = s->http, .group = "g", .name = "m", .timeout_ms = timeout_ms};
    assert_int_equal(as_source_prometheus.start(s->state, &ctx, err), 0);
    return 0;
}

static void src_free(struct src *s)
{
    as_source_prometheus.stop(s->state);
    as_opts_free(as_source_prometheus.opts, s->state);
    free(s->state);
    as_doc_free(s->doc);
    as_http_free(s->http);
    as_loop_free(s->loop);
}

static struct as_measurement src_measure(struct src *s)
{
    struct as_measurement m = {.ok = -1};
    as_source_prometheus.measure(s->state, on_measure, &m);
    assert_int_equal(m.ok, -1); /* never re-entrant */
    int64_t end = as_mono_ms() + 5000;
    while (m.ok == -1 && as_mono_ms() < end)
        as_loop_once(s->loop, 20);
    assert_int_not_equal(m.ok, -1);
    return m;
}

static void test_source(void **state)
{
    (void)state;
    struct src s;
    struct as_err err;
    setenv("AS_TEST_PROM_TOKEN", "tok-123456", 1);
    assert_int_equal(src_new(&s,
                             "url: http://127.0.0.1:%d/prom/\nquery: up\n"
                             "token: ${env:AS_TEST_PROM_TOKEN}\n",
                             600, &err),
                     0);
    struct {
        unsigned status;
        const char *body;
        int delay_ms;
        int ok;
        double value;
        const char *error;
    } cases[] = {
        {200, VEC(SER("a", "0.25")), 0, 1, 0.25, ""},
        {200, OK "{\"resultType\":\"scalar\",\"result\":[1,\"7\"]}}", 0, 1, 7, ""},
        {400,
         "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
         "\\\"query\\\": 1:3: parse error\"}",
         0, 0, 0, "HTTP 400: Prometheus error bad_data: invalid parameter \"query\": 1:3: parse"},
        {503, "{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"query timed out\"}", 0,
         0, 0, "HTTP 503: Prometheus error timeout: query timed out"},
        {502, "<html>bad gateway</html>", 0, 0, 0, "HTTP 502: <html>bad gateway</html>"},
        {200, "{\"status\":\"error\",\"errorType\":\"x\",\"error\":\"y\"}", 0, 0, 0,
         "Prometheus error x: y"},
        {200, "garbage", 0, 0, 0, "response is not JSON"},
        {200, VEC(""), 0, 0, 0, "empty result"},
        {200, VEC(SER("a", "1")), 1000, 0, 0, "timeout after"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        serve(cases[i].status, cases[i].body, cases[i].delay_ms);
        struct as_measurement m = src_measure(&s);
        if (m.ok != cases[i].ok || (m.ok && m.value != cases[i].value) ||
            strstr(m.error, cases[i].error) == NULL)
            fail_msg("case %zu: ok=%d value=%g error='%s'", i, m.ok, m.value, m.error);
    }
    assert_string_equal(srv.last_method, "GET");
    assert_string_equal(srv.last_url, "/prom/api/v1/query");
    assert_string_equal(srv.last_auth, "Bearer tok-123456");
    server_release(); /* let the server finish the slow answer */
    src_free(&s);

    /* POST: the form in the body; Basic credentials. */
    assert_int_equal(src_new(&s,
                             "url: http://127.0.0.1:%d\nquery: 'sum(x{a=\"b c\"})'\n"
                             "method: POST\nusername: u\npassword: p\nparams: {dedup: 'true'}\n"
                             "empty_as: 0\n",
                             1000, &err),
                     0);
    serve(200, VEC(""), 0);
    struct as_measurement m = src_measure(&s);
    assert_true(m.ok && m.value == 0);
    assert_string_equal(srv.last_method, "POST");
    assert_string_equal(srv.last_ctype, "application/x-www-form-urlencoded");
    assert_string_equal(srv.last_body,
                        "query=sum%28x%7Ba%3D%22b%20c%22%7D%29&timeout=900ms&dedup=true");
    assert_string_equal(srv.last_auth, "Basic dTpw");
    src_free(&s);
    as_log_secrets_clear();
}

/* replica_id_label: each per-replica value carries its series' label value as its id (the pod
 * the kubernetes scaler lists), one series too; a series without the label has no id. */
struct ids {
    int ok;
    size_t n;
    char id[4][64];
    double value[4];
};

static void on_ids(const struct as_measurement *m, void *arg)
{
    struct ids *out = arg;
    out->ok = m->ok;
    out->n = m->nreplicas;
    for (size_t i = 0; i < m->nreplicas && i < 4; i++) {
        memcpy(out->id[i], m->per_replica[i].id, sizeof(out->id[i]));
        out->value[i] = m->per_replica[i].value;
    }
}

static struct ids measure_ids(struct src *s)
{
    struct ids out = {.ok = -1};
    as_source_prometheus.measure(s->state, on_ids, &out);
    int64_t end = as_mono_ms() + 5000;
    while (out.ok == -1 && as_mono_ms() < end)
        as_loop_once(s->loop, 20);
    assert_int_not_equal(out.ok, -1);
    return out;
}

static void test_replica_id_label(void **state)
{
    (void)state;
    struct src s;
    struct as_err err;
    assert_int_equal(
        src_new(&s, "url: http://127.0.0.1:%d\nquery: load\nreplica_id_label: pod\n", 1000, &err),
        0);
    serve(200,
          VEC(SER("web-7d4b9-x2x", "0.5") "," SER(
              "web-7d4b9-a1a", "0.25") ","
                                       "{\"metric\":{\"job\":\"w\"},\"value\":[1,\"9\"]}"),
          0);
    struct ids ids = measure_ids(&s);
    assert_int_equal(ids.ok, 1);
    assert_int_equal(ids.n, 3); /* sorted by labels */
    assert_string_equal(ids.id[0], "");
    assert_string_equal(ids.id[1], "web-7d4b9-a1a");
    assert_true(ids.value[1] == 0.25);
    assert_string_equal(ids.id[2], "web-7d4b9-x2x");
    assert_true(ids.value[2] == 0.5);
    src_free(&s);

    /* one series alone is a per-replica value with its id */
    assert_int_equal(
        src_new(&s, "url: http://127.0.0.1:%d\nquery: load\nreplica_id_label: pod\n", 1000, &err),
        0);
    serve(200, VEC(SER("web-1", "0.75")), 0);
    ids = measure_ids(&s);
    assert_int_equal(ids.ok, 1);
    assert_int_equal(ids.n, 1);
    assert_string_equal(ids.id[0], "web-1");
    assert_true(ids.value[0] == 0.75);
    src_free(&s);
}

static void test_validate(void **state)
{
    (void)state;
    struct {
        const char *yaml, *error;
    } cases[] = {
        {"url: ftp://x:%d\nquery: up\n", "test.yaml:1:6: 'url' must start with http://"},
        {"url: http://x:%d\nquery: up\ntoken: t\nusername: u\n",
         "test.yaml:3:8: 'token' and 'username' exclude each other"},
        {"url: http://x:%d\nquery: up\npassword: p\n", "test.yaml:3:11: 'password' needs"},
        {"url: http://x:%d\nquery: up\ntoken: \"abc\\r\\nX-Evil: 1\"\n",
         "test.yaml:3:8: 'token' holds a control character"},
        {"url: http://x:%d\nquery: up\ntoken: t\nheaders: {authorization: x}\n",
         "test.yaml:4:10: 'headers' sets Authorization"},
        {"url: http://x:%d\nquery: up\nparams: {timeout: 1s}\n", "test.yaml:3:9: 'params' may"},
        {"url: http://x:%d\nquery: up\nmethod: PUT\n", "method"},
        {"url: http://x:%d\nquery: up\naggregate: median\n", "aggregate"},
        {"url: http://x:%d\nquery: up\nempty_as: -1\n", "empty_as"},
        {"url: http://x:%d\nquery: ''\n", "query"},
        {"url: http://x:%d\nquery: up\nreplica_id_label: 'pod-name'\n",
         "test.yaml:3:19: 'replica_id_label' is not a label name"},
        {"url: http://x:%d\nquery: up\nreplica_id_label: 0pod\n", "is not a label name"},
        {"url: http://x:%d\nquery: up\nper_replica: false\nreplica_id_label: pod\n",
         "test.yaml:4:19: 'replica_id_label' needs per_replica: true"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[256], msg[AS_ERR_MAX + 300];
        struct as_err err;
        as_err_clear(&err);
        snprintf(yaml, sizeof(yaml), cases[i].yaml, port);
        struct as_doc *doc = as_doc_parse("test.yaml", yaml, strlen(yaml), &err);
        void *st = calloc(1, as_source_prometheus.state_size);
        int rc = as_opts_parse(as_source_prometheus.opts, st, doc->root, "test", &err);
        if (rc == 0)
            rc = as_source_prometheus.validate(st, doc->root, &err);
        as_err_str(&err, msg, sizeof(msg));
        if (rc == 0 || strstr(msg, cases[i].error) == NULL)
            fail_msg("case %zu: rc=%d '%s'", i, rc, msg);
        as_opts_free(as_source_prometheus.opts, st);
        free(st);
        as_doc_free(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_results),    cmocka_unit_test(test_parse_failures),
        cmocka_unit_test(test_eval_per_replica), cmocka_unit_test(test_eval_values),
        cmocka_unit_test(test_eval_no_memory),   cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_source),           cmocka_unit_test(test_validate),
        cmocka_unit_test(test_replica_id_label),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
