/* The async HTTP client, the http_json source and the http scaler against an in-process
 * libmicrohttpd server on 127.0.0.1 that answers as each test tells it to. */
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
#include "util/loop.h"
#include "core/plugin.h"
#include "util/util.h"

/* ---- the server ---- */

static struct {
    pthread_mutex_t mu;
    unsigned status;
    char body[512];
    int delay_ms;
    int requests;
    char last_method[16], last_url[128], last_body[256], last_ctype[64], last_auth[128];
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void serve(unsigned status, const char *body, int delay_ms)
{
    pthread_mutex_lock(&srv.mu);
    srv.status = status;
    snprintf(srv.body, sizeof(srv.body), "%s", body);
    srv.delay_ms = delay_ms;
    pthread_mutex_unlock(&srv.mu);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **req_cls)
{
    (void)cls;
    (void)version;
    if (*req_cls == NULL) {
        *req_cls = c;
        pthread_mutex_lock(&srv.mu);
        srv.last_body[0] = '\0';
        pthread_mutex_unlock(&srv.mu);
        return MHD_YES;
    }
    pthread_mutex_lock(&srv.mu);
    if (*size) {
        strncat(srv.last_body, data, *size < 200 ? *size : 200);
        *size = 0;
        pthread_mutex_unlock(&srv.mu);
        return MHD_YES;
    }
    srv.requests++;
    snprintf(srv.last_method, sizeof(srv.last_method), "%s", method);
    snprintf(srv.last_url, sizeof(srv.last_url), "%s", url);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    snprintf(srv.last_ctype, sizeof(srv.last_ctype), "%s", ct ? ct : "");
    snprintf(srv.last_auth, sizeof(srv.last_auth), "%s", auth ? auth : "");
    unsigned status = srv.status;
    int delay = srv.delay_ms;
    char body[512];
    snprintf(body, sizeof(body), "%s", srv.body);
    pthread_mutex_unlock(&srv.mu);
    if (delay)
        usleep((useconds_t)delay * 1000);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static struct MHD_Daemon *mhd;
static int port;

static int setup(void **state)
{
    (void)state;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                           NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_END);
    if (mhd == NULL)
        return -1;
    port = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(mhd);
    return 0;
}

/* ---- driving a backend ---- */

struct result {
    int done;
    struct as_measurement m;
    struct as_scale_result r;
};

static void on_measure(const struct as_measurement *m, void *arg)
{
    struct result *res = arg;
    res->m = *m;
    res->done = 1;
}

static void on_scale(const struct as_scale_result *r, void *arg)
{
    struct result *res = arg;
    res->r = *r;
    res->done = 1;
}

static void wait_done(struct as_loop *loop, struct result *res)
{
    int64_t deadline = as_mono_ms() + 5000;
    while (!res->done && as_mono_ms() < deadline)
        as_loop_once(loop, 20);
    assert_true(res->done);
}

struct backend {
    struct as_loop *loop;
    struct as_http *http;
    struct as_doc *doc;
    void *state;
    const struct as_opt *opts;
};

static void *backend_new(struct backend *b, const struct as_opt *opts, size_t size,
                         const char *yaml_fmt, int64_t timeout_ms,
                         int (*start)(void *, const struct as_ctx *, struct as_err *))
{
    char yaml[1024];
    struct as_err err;
    snprintf(yaml, sizeof(yaml), yaml_fmt, port, port);
    b->loop = as_loop_new();
    b->http = as_http_new(b->loop);
    b->doc = as_doc_parse("test.yaml", yaml, strlen(yaml), &err);
    assert_non_null(b->doc);
    b->state = calloc(1, size);
    b->opts = opts;
    if (as_opts_parse(opts, b->state, b->doc->root, "test", &err) < 0)
        fail_msg("%s", err.msg);
    struct as_ctx ctx = {
        .loop = b->loop, .http = b->http, .group = "g", .name = "m", .timeout_ms = timeout_ms};
    assert_int_equal(start(b->state, &ctx, &err), 0);
    return b->state;
}

static void backend_free(struct backend *b)
{
    as_opts_free(b->opts, b->state);
    free(b->state);
    as_doc_free(b->doc);
    as_http_free(b->http);
    as_loop_free(b->loop);
}

/* ---- http_json ---- */

extern const struct as_source_ops as_source_http_json;

static struct as_measurement measure_once(struct backend *b)
{
    struct result res = {0};
    as_source_http_json.measure(b->state, on_measure, &res);
    assert_false(res.done); /* never re-entrant */
    wait_done(b->loop, &res);
    return res.m;
}

static void test_http_json(void **state)
{
    (void)state;
    struct backend b;
    setenv("AS_TEST_TOKEN", "s3cret", 1);
    backend_new(&b, as_source_http_json.opts, as_source_http_json.state_size,
                "url: http://127.0.0.1:%d/app/status\npointer: /cpu/highPriority\n"
                "replicas_pointer: /replicas\nheaders: {Authorization: \"Bearer "
                "${env:AS_TEST_TOKEN}\"}\n",
                300, as_source_http_json.start);
    struct {
        unsigned status;
        const char *body;
        int delay_ms;
        int ok;
        double value;
        int replicas;
        const char *error;
    } cases[] = {
        {200, "{\"cpu\":{\"highPriority\":0.68},\"replicas\":10}", 0, 1, 0.68, 10, ""},
        {200, "{\"cpu\":{\"highPriority\":0.5}}", 0, 1, 0.5, -1, ""},
        {200, "{\"cpu\":{\"highPriority\":0.5},\"replicas\":2.5}", 0, 1, 0.5, -1, ""},
        {500, "boom", 0, 0, 0, -1, "HTTP 500: boom"},
        {404, "", 0, 0, 0, -1, "HTTP 404"},
        {200, "{\"cpu\":", 0, 0, 0, -1, "not JSON"},
        {200, "<html>ok</html>", 0, 0, 0, -1, "not JSON"},
        {200, "{\"cpu\":{}}", 0, 0, 0, -1, "/cpu/highPriority not found"},
        {200, "{\"cpu\":{\"highPriority\":\"high\"}}", 0, 0, 0, -1, "not a number"},
        {200, "{\"cpu\":{\"highPriority\":-0.1}}", 0, 0, 0, -1, "negative"},
        {200, "{\"cpu\":{\"highPriority\":null}}", 0, 0, 0, -1, "null"},
        {200, "{\"cpu\":{\"highPriority\":1e999}}", 0, 0, 0, -1, "not JSON"},
        {200, "{\"cpu\":{\"highPriority\":0.1}}", 1000, 0, 0, -1, "timeout after"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        serve(cases[i].status, cases[i].body, cases[i].delay_ms);
        struct as_measurement m = measure_once(&b);
        if (m.ok != cases[i].ok || (m.ok && m.value != cases[i].value) ||
            m.replicas != cases[i].replicas || strstr(m.error, cases[i].error) == NULL)
            fail_msg("case %zu: ok=%d value=%g replicas=%d error='%s'", i, m.ok, m.value,
                     m.replicas, m.error);
    }
    assert_string_equal(srv.last_auth, "Bearer s3cret");
    assert_string_equal(srv.last_method, "GET");
    usleep(800000); /* let the server finish the slow request before stopping */
    as_source_http_json.stop(b.state);
    backend_free(&b);
}

/* Cancel: no callback after cancel, even when the answer arrives later. */
static void test_http_json_cancel(void **state)
{
    (void)state;
    struct backend b;
    backend_new(&b, as_source_http_json.opts, as_source_http_json.state_size,
                "url: http://127.0.0.1:%d/x\npointer: /v\n", 2000, as_source_http_json.start);
    serve(200, "{\"v\":1}", 200);
    struct result res = {0};
    as_source_http_json.measure(b.state, on_measure, &res);
    as_loop_once(b.loop, 20);
    as_source_http_json.cancel(b.state);
    for (int i = 0; i < 20; i++)
        as_loop_once(b.loop, 20);
    assert_false(res.done);
    as_source_http_json.stop(b.state);
    backend_free(&b);
}

/* ---- http scaler ---- */

extern const struct as_scaler_ops as_scaler_http;

static struct as_scale_result scale_call(struct backend *b, int want)
{
    struct result res = {0};
    if (want >= 0)
        as_scaler_http.set(b->state, want, on_scale, &res);
    else
        as_scaler_http.get(b->state, on_scale, &res);
    assert_false(res.done);
    wait_done(b->loop, &res);
    return res.r;
}

static void stopped(void *arg)
{
    *(int *)arg = 1;
}

static void test_http_scaler(void **state)
{
    (void)state;
    struct backend b;
    backend_new(&b, as_scaler_http.opts, as_scaler_http.state_size,
                "url: http://127.0.0.1:%d/app/replicas?g={{group}}\n"
                "get_url: http://127.0.0.1:%d/app/status\n",
                300, as_scaler_http.start);
    assert_true(as_scaler_http.can_get(b.state));
    unsigned ok_codes[] = {200, 201, 202, 204};
    for (size_t i = 0; i < 4; i++) {
        serve(ok_codes[i], "", 0);
        struct as_scale_result r = scale_call(&b, 11);
        assert_true(r.ok);
        assert_int_equal(r.replicas, 11);
    }
    assert_string_equal(srv.last_method, "PUT");
    assert_string_equal(srv.last_url, "/app/replicas");
    assert_string_equal(srv.last_body, "{\"replicas\":11}");
    assert_string_equal(srv.last_ctype, "application/json");
    struct {
        unsigned status;
        int delay;
        int permanent;
        const char *error;
    } fails[] = {
        {503, 0, 0, "HTTP 503"},         {500, 0, 0, "HTTP 500"},
        {429, 0, 0, "HTTP 429"},         {400, 0, 1, "HTTP 400: invalid replica count"},
        {404, 0, 1, "HTTP 404"},         {301, 0, 1, "HTTP 301"},
        {204, 1000, 0, "timeout after"},
    };
    for (size_t i = 0; i < sizeof(fails) / sizeof(fails[0]); i++) {
        serve(fails[i].status, "invalid replica count", fails[i].delay);
        struct as_scale_result r = scale_call(&b, 3);
        if (r.ok || r.permanent != fails[i].permanent || !strstr(r.error, fails[i].error))
            fail_msg("case %zu: ok=%d permanent=%d error='%s'", i, r.ok, r.permanent, r.error);
    }
    usleep(800000);
    serve(200, "{\"cpu\":{\"highPriority\":0.6},\"replicas\":7}", 0);
    struct as_scale_result r = scale_call(&b, -1);
    assert_true(r.ok);
    assert_int_equal(r.replicas, 7);
    assert_string_equal(srv.last_method, "GET");
    serve(200, "{\"replicas\":-2}", 0);
    assert_false(scale_call(&b, -1).ok);
    serve(200, "{\"replicas\":\"x\"}", 0);
    assert_false(scale_call(&b, -1).ok);
    serve(502, "bad gateway", 0);
    r = scale_call(&b, -1);
    assert_false(r.ok);
    assert_false(r.permanent);
    int done = 0;
    as_scaler_http.stop(b.state, stopped, &done);
    assert_true(done);
    backend_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_json),
        cmocka_unit_test(test_http_json_cancel),
        cmocka_unit_test(test_http_scaler),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
