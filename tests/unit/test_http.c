/* The async HTTP client (deadlines, owners, hostile answers), the http_json source and the
 * http scaler against an in-process libmicrohttpd server on 127.0.0.1 (http_server.h). */
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

extern const struct as_source_ops as_source_http_json;
extern const struct as_scaler_ops as_scaler_http;

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

static void stopped(void *arg)
{
    *(int *)arg = 1;
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
    int own_loop;
    struct as_doc *doc;
    void *state;
    const struct as_opt *opts;
};

typedef int (*start_fn)(void *, const struct as_ctx *, struct as_err *);

/* A backend of group `group` on loop and http, or on a loop and client of its own when loop
 * is NULL. yaml_fmt's %d (up to two) are the server's port. */
static void *backend_on(struct backend *b, struct as_loop *loop, struct as_http *http,
                        const char *group, const struct as_opt *opts, size_t size,
                        const char *yaml_fmt, int64_t timeout_ms, start_fn start)
{
    char yaml[1024];
    struct as_err err;
    snprintf(yaml, sizeof(yaml), yaml_fmt, port, port);
    b->own_loop = loop == NULL;
    b->loop = loop ? loop : as_loop_new();
    b->http = http ? http : as_http_new(b->loop);
    b->doc = as_doc_parse("test.yaml", yaml, strlen(yaml), &err);
    assert_non_null(b->doc);
    b->state = calloc(1, size);
    b->opts = opts;
    if (as_opts_parse(opts, b->state, b->doc->root, "test", &err) < 0)
        fail_msg("%s", err.msg);
    struct as_ctx ctx = {
        .loop = b->loop, .http = b->http, .group = group, .name = "m", .timeout_ms = timeout_ms};
    assert_int_equal(start(b->state, &ctx, &err), 0);
    return b->state;
}

static void *backend_new(struct backend *b, const struct as_opt *opts, size_t size,
                         const char *yaml_fmt, int64_t timeout_ms, start_fn start)
{
    return backend_on(b, NULL, NULL, "g", opts, size, yaml_fmt, timeout_ms, start);
}

static void backend_free(struct backend *b)
{
    as_opts_free(b->opts, b->state);
    free(b->state);
    as_doc_free(b->doc);
    if (b->own_loop) {
        as_http_free(b->http);
        as_loop_free(b->loop);
    }
}

/* ---- the client: deadlines and owners ---- */

struct got {
    int done, seq; /* seq: order of the callbacks */
    int ok, timed_out, truncated;
    long status;
    int64_t elapsed_ms;
    char error[256];
};

static void on_got(const struct as_http_resp *r, void *arg)
{
    static int seq;
    struct got *g = arg;
    g->done = 1;
    g->seq = ++seq;
    g->ok = r->ok;
    g->timed_out = r->timed_out;
    g->truncated = r->truncated;
    g->status = r->status;
    g->elapsed_ms = r->elapsed_ms;
    snprintf(g->error, sizeof(g->error), "%s", r->error ? r->error : "");
}

static struct as_http_call *get(struct as_http *http, const char *owner, const char *path,
                                int64_t timeout_ms, struct got *g)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    struct as_http_req req = {.url = url, .owner = owner, .timeout_ms = timeout_ms};
    memset(g, 0, sizeof(*g));
    struct as_http_call *c = as_http_start(http, &req, on_got, g);
    assert_non_null(c);
    return c;
}

/* Runs the loop until *flag is set or ms pass. */
static void run_until(struct as_loop *loop, const int *flag, int64_t ms)
{
    int64_t end = as_mono_ms() + ms;
    while (!*flag && as_mono_ms() < end)
        as_loop_once(loop, 10);
}

/* Runs the loop until the server has seen n requests on /hang, or ms pass. */
static void run_until_hangs(struct as_loop *loop, int n, int64_t ms)
{
    int64_t end = as_mono_ms() + ms;
    while (server_count(&srv.hangs) < n && as_mono_ms() < end)
        as_loop_once(loop, 10);
}

/* Cancels the calls still open and lets the server end every slow answer. */
static void unhang(struct as_http_call **calls, struct got *got, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!got[i].done)
            as_http_cancel(calls[i]);
    server_release();
}

/* Finding 7: ten groups hanging on one path of a host must not delay another group's call to
 * another path of the same host:port (it once waited for one of curl's 8 per-host
 * connections, and its timeout counted from when it got one). */
static void test_owner_isolation(void **state)
{
    (void)state;
    serve(200, "{\"v\":1}", 0);
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    enum { N = 12 };
    struct as_http_call *calls[N];
    struct got hung[N];
    char owners[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(owners[i], sizeof(owners[i]), "A%d", i + 1);
        calls[i] = get(http, owners[i], "/hang", 5000, &hung[i]);
    }
    run_until_hangs(loop, N, 2000);
    assert_int_equal(server_count(&srv.hangs), N); /* far below the bound across owners */
    struct got ok;
    get(http, "B", "/ok", 300, &ok);
    run_until(loop, &ok.done, 2000);
    if (!ok.done || !ok.ok || ok.status != 200 || ok.elapsed_ms > 250)
        fail_msg("B: done=%d ok=%d status=%ld elapsed=%lld ms error='%s'", ok.done, ok.ok,
                 ok.status, (long long)ok.elapsed_ms, ok.error);
    for (int i = 0; i < N; i++)
        assert_false(hung[i].done);
    unhang(calls, hung, N);
    assert_int_equal(as_http_active(http), 0);
    as_http_free(http);
    as_loop_free(loop);
}

/* A call over its owner's limit waits in the owner's FIFO, and its deadline counts from
 * as_http_start: it times out at its own timeout, not when a connection frees up. */
static void test_queued_deadline(void **state)
{
    (void)state;
    serve(200, "{\"v\":1}", 0);
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    enum { N = 9 };
    struct as_http_call *calls[N];
    struct got hung[N];
    for (int i = 0; i < N; i++)
        calls[i] = get(http, "Q", "/hang", 5000, &hung[i]);
    run_until_hangs(loop, AS_HTTP_OWNER_HOST_MAX, 2000);
    struct got late;
    get(http, "Q", "/hang", 300, &late);
    run_until(loop, &late.done, 4000);
    if (!late.done || late.ok || !late.timed_out || late.elapsed_ms < 300 ||
        late.elapsed_ms > 700 || strcmp(late.error, "timeout after 300 ms") != 0)
        fail_msg("queued call: done=%d ok=%d timed_out=%d elapsed=%lld ms error='%s'", late.done,
                 late.ok, late.timed_out, (long long)late.elapsed_ms, late.error);
    /* Only the owner's limit reached the server; the rest waited in its FIFO. */
    assert_int_equal(server_count(&srv.hangs), AS_HTTP_OWNER_HOST_MAX);
    unhang(calls, hung, N);
    assert_int_equal(as_http_active(http), 0);
    as_http_free(http);
    as_loop_free(loop);
}

/* The FIFO moves on: calls over the limit run as earlier ones finish, oldest first, never
 * more than the limit at once; cancelling a waiting call drops it, cancelling a running one
 * lets the next one in. */
static void test_owner_fifo(void **state)
{
    (void)state;
    serve(200, "{\"v\":1}", 0);
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    enum { N = 7 };
    struct got g[N];
    struct as_http_call *calls[N];
    for (int i = 0; i < N; i++)
        calls[i] = get(http, "P", "/slow", 3000, &g[i]);
    as_http_cancel(calls[5]); /* still waiting: never runs, no callback */
    int64_t end = as_mono_ms() + 3000;
    while (as_http_active(http) > 0 && as_mono_ms() < end)
        as_loop_once(loop, 10);
    for (int i = 0; i < N; i++) {
        if (i == 5) {
            assert_false(g[i].done);
            continue;
        }
        if (!g[i].ok || g[i].status != 200)
            fail_msg("call %d: ok=%d status=%ld error='%s'", i, g[i].ok, g[i].status, g[i].error);
    }
    assert_true(server_count(&srv.max_inflight) <= AS_HTTP_OWNER_HOST_MAX);
    assert_true(g[4].elapsed_ms >= 150 + 150 / 2); /* waited for a first call to finish */

    /* Cancelling a running call lets the oldest waiting one run at once; the next one waits
     * for it (the lane is full again). */
    struct got hung[AS_HTTP_OWNER_HOST_MAX], next[2];
    struct as_http_call *hc[AS_HTTP_OWNER_HOST_MAX];
    for (int i = 0; i < AS_HTTP_OWNER_HOST_MAX; i++)
        hc[i] = get(http, "P", "/hang", 5000, &hung[i]);
    get(http, "P", "/ok", 2000, &next[0]);
    get(http, "P", "/ok", 2000, &next[1]);
    run_until_hangs(loop, AS_HTTP_OWNER_HOST_MAX, 2000);
    assert_false(next[0].done || next[1].done);
    as_http_cancel(hc[0]);
    hung[0].done = 1;
    run_until(loop, &next[1].done, 3000);
    assert_true(next[0].ok && next[1].ok);
    assert_true(next[0].seq < next[1].seq);
    unhang(hc, hung, AS_HTTP_OWNER_HOST_MAX);
    as_http_free(http);
    as_loop_free(loop);
}

/* Hostile answers: a body that trickles in one byte a second still ends at the deadline; an
 * endless body stops at the limit; a redirect loop is one request, answered as a 3xx. */
static void test_hostile(void **state)
{
    (void)state;
    serve(200, "{\"v\":1}", 0);
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    struct got g;
    get(http, NULL, "/trickle", 500, &g);
    run_until(loop, &g.done, 3000);
    if (!g.done || g.ok || !g.timed_out || g.elapsed_ms < 500 || g.elapsed_ms > 1000)
        fail_msg("trickle: done=%d ok=%d timed_out=%d elapsed=%lld error='%s'", g.done, g.ok,
                 g.timed_out, (long long)g.elapsed_ms, g.error);
    assert_string_equal(g.error, "timeout after 500 ms");

    get(http, NULL, "/big", 3000, &g);
    run_until(loop, &g.done, 4000);
    assert_true(g.done && !g.ok && g.truncated);
    assert_string_equal(g.error, "response body larger than the limit");

    get(http, NULL, "/loop", 1000, &g);
    run_until(loop, &g.done, 2000);
    assert_true(g.done && g.ok);
    assert_int_equal(g.status, 302);
    assert_int_equal(server_count(&srv.loops), 1);

    struct as_http_req bad = {.url = "http://127.0.0.1:1/x", .timeout_ms = 0};
    assert_null(as_http_start(http, &bad, on_got, &g)); /* a deadline is required */
    unhang(NULL, NULL, 0);
    assert_int_equal(as_http_active(http), 0);
    as_http_free(http);
    as_loop_free(loop);
}

/* ---- http_json ---- */

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
                600, as_source_http_json.start);
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
        /* Finding 11: strings are not numbers unless numeric_strings is on. */
        {200, "{\"cpu\":{\"highPriority\":\"0x0\"}}", 0, 0, 0, -1, "is a string, not a number"},
        {200, "{\"cpu\":{\"highPriority\":\"0.5\"}}", 0, 0, 0, -1, "is a string, not a number"},
        /* Finding 15: any whole count 0..INT_MAX; the group's count_max is the engine's. */
        {200, "{\"cpu\":{\"highPriority\":0.5},\"replicas\":1000000001}", 0, 1, 0.5, 1000000001,
         ""},
        {200, "{\"cpu\":{\"highPriority\":0.5},\"replicas\":3000000000}", 0, 1, 0.5, -1, ""},
        {200, "{\"cpu\":{\"highPriority\":0.5},\"replicas\":\"3\"}", 0, 1, 0.5, -1, ""},
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

/* The log lines written while fn ran. */
static char *logged(void (*fn)(void))
{
    char path[] = "/tmp/test_http_log.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(as_log_open(path), 0);
    as_log_stderr(0);
    fn();
    as_log_stderr(1);
    as_log_close();
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    return text;
}

/* numeric_strings: true takes decimal strings (as Prometheus sends) and nothing strtod would
 * add; an unusable replica count is dropped with a WARN that says why. */
static void numeric_strings_cases(void)
{
    struct backend b;
    backend_new(&b, as_source_http_json.opts, as_source_http_json.state_size,
                "url: http://127.0.0.1:%d/app/status\npointer: /v\nreplicas_pointer: /r\n"
                "numeric_strings: true\n",
                1000, as_source_http_json.start);
    struct {
        const char *body;
        int ok;
        double value;
        int replicas;
        const char *error;
    } cases[] = {
        {"{\"v\":\"0.5\",\"r\":\"3\"}", 1, 0.5, 3, ""},
        {"{\"v\":\"1e3\",\"r\":4}", 1, 1000, 4, ""},
        {"{\"v\":\"-0\"}", 1, 0, -1, ""},
        {"{\"v\":0.5,\"r\":\"0x10\"}", 1, 0.5, -1, ""},
        {"{\"v\":0.5,\"r\":\"2.5\"}", 1, 0.5, -1, ""},
        {"{\"v\":0.5,\"r\":-1}", 1, 0.5, -1, ""},
        {"{\"v\":\"0x0\"}", 0, 0, -1, "not a decimal number"},
        {"{\"v\":\" 1\"}", 0, 0, -1, "not a decimal number"},
        {"{\"v\":\"inf\"}", 0, 0, -1, "not a decimal number"},
        {"{\"v\":\"nan\"}", 0, 0, -1, "not a decimal number"},
        {"{\"v\":\"\"}", 0, 0, -1, "not a decimal number"},
        {"{\"v\":\"-1\"}", 0, 0, -1, "negative"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        serve(200, cases[i].body, 0);
        struct as_measurement m = measure_once(&b);
        if (m.ok != cases[i].ok || (m.ok && m.value != cases[i].value) ||
            m.replicas != cases[i].replicas || strstr(m.error, cases[i].error) == NULL)
            fail_msg("case %zu: ok=%d value=%g replicas=%d error='%s'", i, m.ok, m.value,
                     m.replicas, m.error);
    }
    as_source_http_json.stop(b.state);
    backend_free(&b);
}

static void test_http_json_numeric_strings(void **state)
{
    (void)state;
    const char *log = logged(numeric_strings_cases);
    const char *want[] = {
        "WARN  source/http_json[g/m]: no replica count at /r: value at /r is a string that is "
        "not a decimal number",
        "WARN  source/http_json[g/m]: no replica count at /r: replica count 2.5 is not a whole "
        "number",
        "WARN  source/http_json[g/m]: no replica count at /r: replica count -1 is negative",
        "ERROR source/http_json[g/m]: http://127.0.0.1:",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (strstr(log, want[i]) == NULL)
            fail_msg("no '%s' in the log:\n%s", want[i], log);
}

/* Hostile endpoints fail the measurement, each with its own reason, within the timeout. */
static void test_http_json_hostile(void **state)
{
    (void)state;
    struct {
        const char *path;
        const char *error;
    } cases[] = {
        {"/big", "response body larger than the limit"},
        {"/trickle", "timeout after"},
        {"/loop", "HTTP 302"},
        {"/garbage", "response is not JSON"},
        {"/deep", "response is not JSON"},
    };
    serve(200, "{}", 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[128];
        snprintf(yaml, sizeof(yaml), "url: http://127.0.0.1:%%d%s\npointer: /v\n", cases[i].path);
        struct backend b;
        backend_new(&b, as_source_http_json.opts, as_source_http_json.state_size, yaml, 500,
                    as_source_http_json.start);
        int64_t t0 = as_mono_ms();
        struct as_measurement m = measure_once(&b);
        if (m.ok || strstr(m.error, cases[i].error) == NULL || as_mono_ms() - t0 > 1500)
            fail_msg("%s: ok=%d error='%s' after %lld ms", cases[i].path, m.ok, m.error,
                     (long long)(as_mono_ms() - t0));
        as_source_http_json.stop(b.state);
        backend_free(&b);
    }
    unhang(NULL, NULL, 0);
}

/* Sources and the scaler pass their group as the owner: a group's calls share its limit per
 * host (its scaler waits behind its four hanging metrics and times out at its own deadline),
 * and another group is not held up by them. */
static void test_group_is_owner(void **state)
{
    (void)state;
    serve(200, "{\"replicas\":3}", 0);
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    struct backend src[AS_HTTP_OWNER_HOST_MAX], sg, sh;
    struct result hung[AS_HTTP_OWNER_HOST_MAX] = {0}, rg = {0}, rh = {0};
    for (int i = 0; i < AS_HTTP_OWNER_HOST_MAX; i++) {
        backend_on(&src[i], loop, http, "g", as_source_http_json.opts,
                   as_source_http_json.state_size, "url: http://127.0.0.1:%d/hang\npointer: /v\n",
                   5000, as_source_http_json.start);
        as_source_http_json.measure(src[i].state, on_measure, &hung[i]);
    }
    run_until_hangs(loop, AS_HTTP_OWNER_HOST_MAX, 2000);
    const char *yaml = "url: http://127.0.0.1:%d/x\nget_url: http://127.0.0.1:%d/app/status\n";
    backend_on(&sg, loop, http, "g", as_scaler_http.opts, as_scaler_http.state_size, yaml, 300,
               as_scaler_http.start);
    backend_on(&sh, loop, http, "h", as_scaler_http.opts, as_scaler_http.state_size, yaml, 300,
               as_scaler_http.start);
    as_scaler_http.get(sg.state, on_scale, &rg);
    as_scaler_http.get(sh.state, on_scale, &rh);
    run_until(loop, &rh.done, 2000);
    assert_true(rh.r.ok);
    assert_int_equal(rh.r.replicas, 3);
    run_until(loop, &rg.done, 2000);
    if (rg.r.ok || strstr(rg.r.error, "timeout after") == NULL)
        fail_msg("group g's get: ok=%d error='%s'", rg.r.ok, rg.r.error);
    int stopped_g = 0, stopped_h = 0;
    as_scaler_http.stop(sg.state, stopped, &stopped_g);
    as_scaler_http.stop(sh.state, stopped, &stopped_h);
    for (int i = 0; i < AS_HTTP_OWNER_HOST_MAX; i++) {
        assert_false(hung[i].done);
        as_source_http_json.stop(src[i].state);
        backend_free(&src[i]);
    }
    backend_free(&sg);
    backend_free(&sh);
    unhang(NULL, NULL, 0);
    as_http_free(http);
    as_loop_free(loop);
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

static void test_http_scaler(void **state)
{
    (void)state;
    struct backend b;
    backend_new(&b, as_scaler_http.opts, as_scaler_http.state_size,
                "url: http://127.0.0.1:%d/app/replicas?g={{group}}\n"
                "get_url: http://127.0.0.1:%d/app/status\n",
                600, as_scaler_http.start);
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
    if (!r.ok || r.replicas != 7)
        fail_msg("get: ok=%d replicas=%d error='%s'", r.ok, r.replicas, r.error);
    assert_string_equal(srv.last_method, "GET");
    struct {
        const char *body;
        int replicas;
        const char *error;
    } counts[] = {
        {"{\"replicas\":1000000001}", 1000000001, NULL},
        {"{\"replicas\":2147483647}", 2147483647, NULL},
        {"{\"replicas\":0}", 0, NULL},
        {"{\"replicas\":3000000000}", -1,
         "replica count 3000000000 is out of range (0..2147483647)"},
        {"{\"replicas\":2.5}", -1, "replica count 2.5 is not a whole number"},
        {"{\"replicas\":-2}", -1, "replica count -2 is negative"},
        {"{\"replicas\":\"x\"}", -1, "is a string, not a number"},
        {"{\"replicas\":\"0x0\"}", -1, "is a string, not a number"},
        {"{\"replicas\":\"5\"}", -1, "is a string, not a number"},
        {"{\"replicas\":", -1, "response is not JSON (line 1"},
    };
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        serve(200, counts[i].body, 0);
        r = scale_call(&b, -1);
        if (counts[i].error ? r.ok || strstr(r.error, counts[i].error) == NULL
                            : !r.ok || r.replicas != counts[i].replicas)
            fail_msg("%s: ok=%d replicas=%d error='%s'", counts[i].body, r.ok, r.replicas, r.error);
    }
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
        cmocka_unit_test(test_owner_isolation),   cmocka_unit_test(test_queued_deadline),
        cmocka_unit_test(test_owner_fifo),        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_http_json),         cmocka_unit_test(test_http_json_numeric_strings),
        cmocka_unit_test(test_http_json_hostile), cmocka_unit_test(test_group_is_owner),
        cmocka_unit_test(test_http_json_cancel),  cmocka_unit_test(test_http_scaler),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
