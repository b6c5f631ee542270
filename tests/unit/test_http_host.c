/* The HTTP client's bound per origin across owners (calls_per_host): never more than the bound
 * in flight to one origin, the owners waiting for it served in turn, a waiting call that is
 * cancelled or times out gone without a trace, other origins not held back, a larger bound
 * applied at once. Against two in-process libmicrohttpd servers on 127.0.0.1 that record
 * what they hold at once and the order requests arrive in. */
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
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#include "util/http.h"
#include "util/loop.h"
#include "util/util.h"

/* ---- the servers ---- */

#define ARRIVALS_MAX 64

/* One server: /o<owner>/<n> answers after delay_ms, /hang when released. */
struct server {
    struct MHD_Daemon *mhd;
    int port;
    int delay_ms;
    int inflight, max_inflight, hangs;
    int narrivals;
    char arrivals[ARRIVALS_MAX][16]; /* the paths, in the order they arrived */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int released; /* ends every /hang */
static struct server srv_a, srv_b;

static int locked_get(const int *field)
{
    pthread_mutex_lock(&mu);
    int n = *field;
    pthread_mutex_unlock(&mu);
    return n;
}

static void arrive(struct server *s, const char *url)
{
    pthread_mutex_lock(&mu);
    if (++s->inflight > s->max_inflight)
        s->max_inflight = s->inflight;
    s->hangs += strcmp(url, "/hang") == 0;
    if (s->narrivals < ARRIVALS_MAX)
        snprintf(s->arrivals[s->narrivals++], sizeof(s->arrivals[0]), "%s", url);
    pthread_mutex_unlock(&mu);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **req_cls)
{
    (void)method;
    (void)version;
    (void)data;
    (void)size;
    struct server *s = cls;
    if (*req_cls == NULL) { /* the headers: the request comes next */
        *req_cls = c;
        return MHD_YES;
    }
    arrive(s, url);
    if (strcmp(url, "/hang") == 0)
        for (int t = 0; t < 5000 && !locked_get(&released); t += 10)
            usleep(10000);
    else
        usleep((useconds_t)locked_get(&s->delay_ms) * 1000);
    pthread_mutex_lock(&mu); /* before the answer: the client may send its next call at once */
    s->inflight--;
    pthread_mutex_unlock(&mu);
    struct MHD_Response *r = MHD_create_response_from_buffer(2, "{}", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static int server_start(struct server *s)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                              NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_END);
    if (s->mhd == NULL)
        return -1;
    s->port = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return server_start(&srv_a) < 0 || server_start(&srv_b) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(srv_a.mhd);
    MHD_stop_daemon(srv_b.mhd);
    return 0;
}

/* A quiet server with fresh counts, its answers after delay_ms. */
static void server_reset(struct server *s, int delay_ms)
{
    pthread_mutex_lock(&mu);
    s->delay_ms = delay_ms;
    s->max_inflight = s->hangs = s->narrivals = 0;
    released = 0;
    pthread_mutex_unlock(&mu);
}

/* Ends every /hang and waits (bounded) until both servers hold nothing. */
static void server_release(void)
{
    pthread_mutex_lock(&mu);
    released = 1;
    pthread_mutex_unlock(&mu);
    for (int t = 0; t < 3000 && (locked_get(&srv_a.inflight) || locked_get(&srv_b.inflight));
         t += 10)
        usleep(10000);
}

/* ---- the client ---- */

struct got {
    int done, ok;
    long status;
    int timed_out;
    int64_t elapsed_ms;
};

static void on_got(const struct as_http_resp *r, void *arg)
{
    struct got *g = arg;
    g->done++;
    g->ok = r->ok;
    g->status = r->status;
    g->timed_out = r->timed_out;
    g->elapsed_ms = r->elapsed_ms;
}

static struct as_http_call *get(struct as_http *http, const struct server *s, const char *owner,
                                const char *path, int64_t timeout_ms, struct got *g)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
    struct as_http_req req = {.url = url, .owner = owner, .timeout_ms = timeout_ms};
    memset(g, 0, sizeof(*g));
    struct as_http_call *c = as_http_start(http, &req, on_got, g);
    assert_non_null(c);
    return c;
}

/* Runs the loop until the client has nothing in flight or waiting, or ms pass. */
static void run_idle(struct as_loop *loop, struct as_http *http, int64_t ms)
{
    int64_t end = as_mono_ms() + ms;
    while (as_http_active(http) > 0 && as_mono_ms() < end)
        as_loop_once(loop, 10);
}

/* Runs the loop until the server holds n requests on /hang, or ms pass. */
static void run_until_hangs(struct as_loop *loop, const struct server *s, int n, int64_t ms)
{
    int64_t end = as_mono_ms() + ms;
    while (locked_get(&s->hangs) < n && as_mono_ms() < end)
        as_loop_once(loop, 10);
}

/* Where path arrived at s, or -1. */
static int arrived_at(const struct server *s, const char *path)
{
    int at = -1;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < s->narrivals && at < 0; i++)
        if (strcmp(s->arrivals[i], path) == 0)
            at = i;
    pthread_mutex_unlock(&mu);
    return at;
}

/* Runs the loop until path arrives at s, or ms pass. */
static void run_until_arrived(struct as_loop *loop, const struct server *s, const char *path,
                              int64_t ms)
{
    int64_t end = as_mono_ms() + ms;
    while (arrived_at(s, path) < 0 && as_mono_ms() < end)
        as_loop_once(loop, 10);
}

/* ---- the tests ---- */

enum { BOUND = 3, OWNERS = 20, HEAVY_CALLS = 8 };

/* With a bound of 3, owner o0 starts 8 calls and then o1..o19 one each, to one slow origin:
 * the server never holds more than 3, every call completes, and the owners waiting for the
 * origin are served in turn: o0's 4th call (its lane allows 4), then o1..o19, then o0's
 * others. A FIFO across owners would run o0's 8 calls before anyone else's; without the
 * bound all 27 run at once. */
static void test_round_robin(void **state)
{
    (void)state;
    server_reset(&srv_a, 60);
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    as_http_set_host_max(http, BOUND);
    enum { N = HEAVY_CALLS + OWNERS - 1 };
    struct got g[N];
    char owners[OWNERS][8], paths[N][16];
    const char *expected[N]; /* the order the calls start in */
    for (int i = 0; i < OWNERS; i++)
        snprintf(owners[i], sizeof(owners[i]), "o%d", i);
    for (int i = 0; i < N; i++) {
        int owner = i < HEAVY_CALLS ? 0 : i - HEAVY_CALLS + 1;
        snprintf(paths[i], sizeof(paths[i]), "/o%d/%d", owner, owner ? 0 : i);
        get(http, &srv_a, owners[owner], paths[i], 5000, &g[i]);
    }
    for (int i = 0; i < N; i++) /* o0 #0..#3, o1..o19, o0 #4..#7 */
        expected[i] = paths[i < 4 ? i : i < 4 + OWNERS - 1 ? i + HEAVY_CALLS - 4 : i - OWNERS + 1];
    run_idle(loop, http, 10000);
    for (int i = 0; i < N; i++)
        if (g[i].done != 1 || !g[i].ok || g[i].status != 200)
            fail_msg("%s: done=%d ok=%d status=%ld", paths[i], g[i].done, g[i].ok, g[i].status);
    assert_int_equal(locked_get(&srv_a.max_inflight), BOUND);
    assert_int_equal(locked_get(&srv_a.narrivals), N);
    /* A call starts once at most BOUND - 1 others are in flight: every call started more than
     * BOUND - 1 places before it has arrived, so arrivals are the start order give or take
     * BOUND - 1 places. */
    for (int i = 0; i < N; i++) {
        int at = arrived_at(&srv_a, expected[i]);
        if (at < i - (BOUND - 1) || at > i + (BOUND - 1))
            fail_msg("%s arrived %dth, expected %dth give or take %d", expected[i], at + 1, i + 1,
                     BOUND - 1);
    }
    assert_int_equal(as_http_host_waits(http), N - BOUND); /* all but the first three waited */
    as_http_free(http);
    as_loop_free(loop);
}

/* A call waiting for its host that is cancelled never runs and leaves nothing behind (its
 * owner's lane, alone in the host's turns, is freed under ASan's eyes); one that times out
 * while waiting fails at its own deadline and costs no other owner anything. */
static void test_cancel_and_timeout_while_waiting(void **state)
{
    (void)state;
    server_reset(&srv_a, 200);
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    as_http_set_host_max(http, 2);
    struct got hung[2], gone, gone2, next, late, after;
    struct as_http_call *hc[2];
    hc[0] = get(http, &srv_a, "h0", "/hang", 5000, &hung[0]);
    hc[1] = get(http, &srv_a, "h1", "/hang", 5000, &hung[1]);
    run_until_hangs(loop, &srv_a, 2, 2000);
    struct as_http_call *c1 = get(http, &srv_a, "c", "/gone", 5000, &gone);
    get(http, &srv_a, "late", "/late", 300, &late);
    struct as_http_call *c2 = get(http, &srv_a, "d", "/gone2", 5000, &gone2);
    get(http, &srv_a, "d", "/next", 5000, &next); /* behind /gone2 in d's lane */
    get(http, &srv_a, "e", "/after", 5000, &after);
    as_http_cancel(c1); /* c's lane empties: out of the turns, freed */
    as_http_cancel(c2); /* d's lane keeps its place with /next */
    int64_t end = as_mono_ms() + 2000;
    while (!late.done && as_mono_ms() < end)
        as_loop_once(loop, 10);
    if (late.ok || !late.timed_out || late.elapsed_ms < 300 || late.elapsed_ms > 700)
        fail_msg("late: done=%d ok=%d timed_out=%d elapsed=%lld ms", late.done, late.ok,
                 late.timed_out, (long long)late.elapsed_ms);
    assert_false(next.done || after.done); /* still waiting for the host */
    as_http_cancel(hc[0]); /* a slot frees: d's /next has the first turn, e's /after waits */
    run_until_arrived(loop, &srv_a, "/next", 2000);
    assert_true(arrived_at(&srv_a, "/next") >= 0 && !next.done);
    assert_int_equal(arrived_at(&srv_a, "/after"), -1);
    as_http_cancel(hc[1]);
    run_idle(loop, http, 3000);
    assert_true(next.done == 1 && next.ok && after.done == 1 && after.ok);
    assert_false(gone.done || gone2.done); /* cancelled: no callback */
    server_release();
    assert_int_equal(arrived_at(&srv_a, "/gone"), -1);
    assert_int_equal(arrived_at(&srv_a, "/gone2"), -1);
    assert_int_equal(arrived_at(&srv_a, "/late"), -1);
    assert_int_equal(as_http_host_waits(http), 5);
    assert_int_equal(as_http_active(http), 0);
    as_http_free(http);
    as_loop_free(loop);
}

/* The bound is per origin: with one origin full, a call to another starts at once. */
static void test_other_origin_not_held(void **state)
{
    (void)state;
    server_reset(&srv_a, 0);
    server_reset(&srv_b, 0);
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    as_http_set_host_max(http, 1);
    struct got hung, queued, other;
    struct as_http_call *hc = get(http, &srv_a, "g", "/hang", 5000, &hung);
    run_until_hangs(loop, &srv_a, 1, 2000);
    struct as_http_call *qc = get(http, &srv_a, "h", "/queued", 5000, &queued);
    get(http, &srv_b, "h", "/other", 1000, &other);
    int64_t end = as_mono_ms() + 2000;
    while (!other.done && as_mono_ms() < end)
        as_loop_once(loop, 10);
    if (!other.ok || other.elapsed_ms > 300)
        fail_msg("other origin: done=%d ok=%d elapsed=%lld ms", other.done, other.ok,
                 (long long)other.elapsed_ms);
    assert_false(queued.done);
    assert_int_equal(arrived_at(&srv_a, "/queued"), -1);
    as_http_cancel(qc);
    as_http_cancel(hc);
    server_release();
    assert_int_equal(as_http_active(http), 0);
    as_http_free(http);
    as_loop_free(loop);
}

/* A load test's calls (load_generator) are neither held nor counted by the host's bound: two
 * of them run on a bound of 1, and a poll of the same host does not wait behind them. */
static void test_load_generator_free_of_host(void **state)
{
    (void)state;
    server_reset(&srv_a, 0);
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    as_http_set_host_max(http, 1);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hang", srv_a.port);
    struct as_http_req req = {.url = url, .owner = "lt", .timeout_ms = 5000,
                              .max_in_flight = 8, .load_generator = 1};
    struct got load[2];
    struct as_http_call *lc[2];
    for (int i = 0; i < 2; i++) {
        memset(&load[i], 0, sizeof(load[i]));
        lc[i] = as_http_start(http, &req, on_got, &load[i]);
        assert_non_null(lc[i]);
    }
    run_until_hangs(loop, &srv_a, 2, 2000);
    assert_int_equal(locked_get(&srv_a.hangs), 2);
    struct got poll;
    get(http, &srv_a, "p", "/poll", 1000, &poll);
    int64_t end = as_mono_ms() + 2000;
    while (!poll.done && as_mono_ms() < end)
        as_loop_once(loop, 10);
    if (!poll.ok || poll.elapsed_ms > 300)
        fail_msg("a poll behind a load test: done=%d ok=%d elapsed=%lld ms", poll.done, poll.ok,
                 (long long)poll.elapsed_ms);
    assert_int_equal(as_http_host_waits(http), 0);
    as_http_cancel(lc[0]);
    as_http_cancel(lc[1]);
    server_release();
    assert_int_equal(as_http_active(http), 0);
    as_http_free(http);
    as_loop_free(loop);
}

/* A larger bound (a reload) starts the waiting calls at once; a smaller one lets the calls in
 * flight finish and starts no new one until fewer than the bound are in flight. */
static void test_set_host_max(void **state)
{
    (void)state;
    server_reset(&srv_a, 0);
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    as_http_set_host_max(http, 1);
    enum { N = 4 };
    struct got g[N];
    struct as_http_call *calls[N];
    char owner[N][4];
    for (int i = 0; i < N; i++) {
        snprintf(owner[i], sizeof(owner[i]), "g%d", i);
        calls[i] = get(http, &srv_a, owner[i], "/hang", 5000, &g[i]);
    }
    run_until_hangs(loop, &srv_a, N, 300);
    assert_int_equal(locked_get(&srv_a.hangs), 1);
    as_http_set_host_max(http, 3);
    run_until_hangs(loop, &srv_a, N, 300);
    assert_int_equal(locked_get(&srv_a.hangs), 3);
    as_http_set_host_max(http, 1);
    as_http_cancel(calls[0]); /* 2 still in flight: the 4th waits */
    run_until_hangs(loop, &srv_a, N, 300);
    assert_int_equal(locked_get(&srv_a.hangs), 3);
    as_http_cancel(calls[1]);
    as_http_cancel(calls[2]); /* none in flight: the 4th starts */
    run_until_hangs(loop, &srv_a, N, 2000);
    assert_int_equal(locked_get(&srv_a.hangs), N);
    as_http_cancel(calls[3]);
    server_release();
    assert_int_equal(as_http_active(http), 0);
    as_http_free(http);
    as_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_robin),
        cmocka_unit_test(test_cancel_and_timeout_while_waiting),
        cmocka_unit_test(test_other_origin_not_held),
        cmocka_unit_test(test_load_generator_free_of_host),
        cmocka_unit_test(test_set_host_max),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
