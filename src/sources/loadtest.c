/* Source `loadtest`: a Locust-style load test built in. Each measurement runs one test of
 * `duration`: `users` simulated users are started (`spawn_rate` per second, or all at once),
 * and each loops: pick one of `requests` by weight, send it to `host`, wait for the answer,
 * pause for the request's think time. The metric's value is one statistic (`report`) of one
 * request name or of all: a latency in milliseconds, requests per second, or the failure
 * ratio.
 *
 * Everything runs on the event loop: a user is a small state machine of one HTTP call or one
 * timer at a time; no thread, no blocking. Traffic goes to `host` only: paths are relative and
 * checked, and redirects are never followed (a 3xx is an answer like any other).
 *
 * Statistics: per request name, a count of requests and failures, and a histogram of
 * response times with a bounded relative error (util/stats.h: 0.4 %), as Locust rounds its
 * response times into buckets; memory stays the same whatever the rate. Requests still in
 * flight when the test ends are cancelled and not counted, as Locust drops them too.
 * The options and the parse of `requests` and `report` are in loadtest_cfg.c. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/h1.h"
#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/stats.h"
#include "util/util.h"
#include "core/plugin.h"
#include "sources/loadtest_cfg.h"

#define SUMMARY_MAX 1800
/* A request that could not even start makes its user pause at least this long. */
#define RETRY_PAUSE_MS 10

struct counters {
    uint64_t requests, failures;
    struct as_hist hist; /* response times of the requests that got an answer, in us */
};

struct loadtest;

struct user {
    struct loadtest *s;
    struct as_http_call *call; /* through libcurl */
    struct as_h1 *conn;        /* or its own connection (the direct path) */
    int busy;                  /* a request is in flight on conn */
    struct as_timer *timer;    /* its start, or its think time */
    int req;                   /* the request in flight */
};

struct loadtest {
    struct lt_config c; /* first: the option table's offsets are into it */
    /* runtime */
    struct as_ctx ctx;
    char *owner; /* the HTTP client's owner of our calls: a lane of the group's own */
    /* The direct path (plain http to an IP address): each request as sent, on conn. */
    char **wire;
    size_t *wire_len;
    struct user *u;
    struct counters *cnt; /* nreqs of them */
    struct counters total;
    struct as_timer *end, *deferred;
    int64_t t_start, t_end;
    int running;
    uint64_t rng, dropped;
    char error[AS_MSG_MAX]; /* the first failure of the test */
    struct as_fault_log fault;
    as_measure_cb done;
    void *arg;
};

_Static_assert(offsetof(struct loadtest, c) == 0, "the option table's offsets are into c");

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    return as_loadtest_validate(&((struct loadtest *)state)->c, map, err);
}

/* ---- runtime ---- */

/* Plain http to an IP address goes through util/h1 (a connection per user, the requests
 * formatted once): several times less CPU per request than libcurl. Anything else (https, a
 * host name) through the HTTP client. Returns 0, or -1 on ENOMEM. */
static int start_direct(struct loadtest *s)
{
    struct sockaddr_storage addr;
    socklen_t len;
    const char *path;
    if (as_h1_numeric_url(s->c.host, &addr, &len, &path) < 0)
        return 0;
    s->wire = calloc((size_t)s->c.nreqs, sizeof(s->wire[0]));
    s->wire_len = calloc((size_t)s->c.nreqs, sizeof(s->wire_len[0]));
    if (s->wire == NULL || s->wire_len == NULL)
        return -1;
    const char *auth = s->c.host + 7;
    size_t auth_len = (size_t)(path - auth);
    for (int i = 0; i < s->c.nreqs; i++) {
        const struct lt_req *r = &s->c.reqs[i];
        const char *target = r->url + 7 + auth_len;
        size_t n =
            as_h1_format_request(NULL, 0, r->method, auth, auth_len, target, r->headers, r->body);
        if ((s->wire[i] = malloc(n)) == NULL)
            return -1;
        s->wire_len[i] = as_h1_format_request(s->wire[i], n, r->method, auth, auth_len, target,
                                              r->headers, r->body);
    }
    for (int i = 0; i < s->c.users; i++)
        if ((s->u[i].conn = as_h1_new(s->ctx.loop, (struct sockaddr *)&addr, len)) == NULL)
            return -1;
    return 0;
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct loadtest *s = state;
    s->ctx = *ctx;
    struct as_sb owner = {0};
    if (as_sb_printf(&owner, "%s/%s (loadtest)", ctx->group, ctx->name) < 0)
        return as_err_set(err, "out of memory");
    s->owner = owner.buf;
    s->u = calloc((size_t)s->c.users, sizeof(s->u[0]));
    s->cnt = calloc((size_t)s->c.nreqs, sizeof(s->cnt[0]));
    if (s->u == NULL || s->cnt == NULL || as_hist_init(&s->total.hist) < 0)
        return as_err_set(err, "out of memory");
    for (int i = 0; i < s->c.nreqs; i++)
        if (as_hist_init(&s->cnt[i].hist) < 0)
            return as_err_set(err, "out of memory");
    for (int i = 0; i < s->c.users; i++)
        s->u[i].s = s;
    if (start_direct(s) < 0)
        return as_err_set(err, "out of memory");
    s->rng = (uint64_t)as_mono_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)s;
    if (s->rng == 0)
        s->rng = 1;
    return 0;
}

static uint64_t next_rand(struct loadtest *s)
{
    s->rng ^= s->rng >> 12; /* xorshift64* */
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545f4914f6cdd1dull;
}

static int pick(struct loadtest *s)
{
    int w = (int)(next_rand(s) % (uint64_t)s->c.total_weight), i = 0;
    while (s->c.reqs[i].weight_end <= w)
        i++;
    return i;
}

static void user_next(struct user *u);

static int64_t on_user_timer(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct user *u = arg;
    u->timer = NULL;
    user_next(u);
    return AS_TIMER_STOP;
}

/* The user's pause after request r (at least min_ms), then its next request. */
static void think(struct user *u, const struct lt_req *r, int64_t min_ms)
{
    struct loadtest *s = u->s;
    int64_t ms = r->think_ms;
    if (r->think_max_ms > r->think_ms)
        ms += (int64_t)(next_rand(s) % (uint64_t)(r->think_max_ms - r->think_ms + 1));
    if (ms < min_ms)
        ms = min_ms;
    if (ms == 0) {
        user_next(u);
        return;
    }
    u->timer = as_loop_add_timer(s->ctx.loop, ms, on_user_timer, u);
    if (u->timer == NULL) /* this user stops; the others go on */
        AS_LOG(AS_WARN, "source/loadtest[%s/%s]: out of memory: a user stops", s->ctx.group,
               s->ctx.name);
}

static void note_failure(struct loadtest *s, int req, const char *why)
{
    s->cnt[req].failures++;
    if (s->error[0] == '\0')
        snprintf(s->error, sizeof(s->error), "%s: %.200s", s->c.reqs[req].name, why);
}

/* One answer (ok: one came, with its status), or a failure with its reason. */
static void record(struct loadtest *s, int req, int ok, long status, const char *error,
                   int64_t elapsed_us)
{
    char text[32];
    struct counters *c = &s->cnt[req];
    c->requests++;
    if (!ok) {
        note_failure(s, req, error ? error : "transfer failed");
        return;
    }
    /* The user's view, as wrk's and Locust's: from the call to the answer, the loop's own
     * delays included (curl's own transfer time starts only when curl gets to the call, and
     * under load it reads about half of what the users wait). */
    as_hist_add(&c->hist, (uint64_t)(elapsed_us > 0 ? elapsed_us : 0));
    if (status >= 400) {
        snprintf(text, sizeof(text), "HTTP %ld", status);
        note_failure(s, req, text);
    }
}

static void on_response(const struct as_http_resp *r, void *arg)
{
    struct user *u = arg;
    struct loadtest *s = u->s;
    u->call = NULL;
    record(s, u->req, r->ok, r->status, r->error, r->elapsed_us);
    think(u, &s->c.reqs[u->req], 0);
}

static void on_h1(const struct as_h1_resp *r, void *arg)
{
    struct user *u = arg;
    struct loadtest *s = u->s;
    char text[64];
    u->busy = 0;
    if (r->timed_out)
        snprintf(text, sizeof(text), "timeout after %lld ms", (long long)s->c.request_timeout_ms);
    record(s, u->req, r->ok, r->status, r->timed_out ? text : r->error, r->elapsed_us);
    think(u, &s->c.reqs[u->req], 0);
}

static void user_next(struct user *u)
{
    struct loadtest *s = u->s;
    int64_t now = as_mono_ms();
    if (!s->running || now >= s->t_end)
        return;
    u->req = pick(s);
    const struct lt_req *r = &s->c.reqs[u->req];
    int64_t left = s->t_end - now + 1000; /* the end of the test cancels it first */
    if (s->c.request_timeout_ms > 0 && s->c.request_timeout_ms < left)
        left = s->c.request_timeout_ms;
    if (u->conn != NULL) {
        u->busy = as_h1_send(u->conn, s->wire[u->req], s->wire_len[u->req], left, on_h1, u) == 0;
        if (u->busy)
            return;
    } else {
        struct as_http_req req = {
            .method = r->method,
            .url = r->url,
            .owner = s->owner,
            .headers = r->headers,
            .body = r->body,
            .timeout_ms = left,
            .insecure = s->c.insecure,
            .ca_file = s->c.ca_file,
            .max_in_flight = (size_t)s->c.users,
            .discard_body = 1,
            .load_generator = 1,
        };
        u->call = as_http_start(s->ctx.http, &req, on_response, u);
        if (u->call != NULL)
            return;
    }
    s->cnt[u->req].requests++;
    note_failure(s, u->req, "cannot start the request");
    think(u, r, RETRY_PAUSE_MS);
}

/* Cancels every user's call and timer; counts the calls dropped. */
static void stop_users(struct loadtest *s)
{
    s->running = 0;
    for (int i = 0; s->u && i < s->c.users; i++) {
        struct user *u = &s->u[i];
        if (u->call != NULL || u->busy)
            s->dropped++;
        as_http_cancel(u->call);
        if (u->busy) /* an idle connection is kept for the next test */
            as_h1_cancel(u->conn);
        u->busy = 0;
        as_loop_cancel_timer(s->ctx.loop, u->timer);
        u->call = NULL;
        u->timer = NULL;
    }
}

static void sum_up(struct loadtest *s)
{
    as_hist_reset(&s->total.hist);
    s->total.requests = s->total.failures = 0;
    for (int i = 0; i < s->c.nreqs; i++) {
        s->total.requests += s->cnt[i].requests;
        s->total.failures += s->cnt[i].failures;
        as_hist_merge(&s->total.hist, &s->cnt[i].hist);
    }
}

static double ms_at(const struct counters *c, double p)
{
    return as_hist_percentile(&c->hist, p) / 1000.0;
}

/* One INFO line: the totals, then each request's count and failures. */
static void log_summary(struct loadtest *s, double secs)
{
    struct as_sb sb = {0};
    const struct counters *t = &s->total;
    int rc = as_sb_printf(&sb,
                          "%.1fs, %d users: %llu requests, %.1f rps, p50 %.3f ms, p95 %.3f ms, p99 "
                          "%.3f ms, %llu failed (%.2f%%)",
                          secs, s->c.users, (unsigned long long)t->requests, t->requests / secs,
                          ms_at(t, 50), ms_at(t, 95), ms_at(t, 99), (unsigned long long)t->failures,
                          t->requests ? 100.0 * t->failures / t->requests : 0.0);
    for (int i = 0; rc == 0 && i < s->c.nreqs && sb.len < SUMMARY_MAX; i++)
        rc = as_sb_printf(&sb, "%s %s: %llu (%llu failed)", i ? "," : ";", s->c.reqs[i].name,
                          (unsigned long long)s->cnt[i].requests,
                          (unsigned long long)s->cnt[i].failures);
    if (rc == 0 && s->dropped)
        rc = as_sb_printf(&sb, "; %llu in flight at the end not counted",
                          (unsigned long long)s->dropped);
    if (rc == 0)
        AS_LOG(AS_INFO, "source/loadtest[%s/%s]: %s", s->ctx.group, s->ctx.name, sb.buf);
    as_sb_free(&sb);
}

/* The reported value of the finished test, or a reason in m->error. */
static void value_of(struct loadtest *s, double secs, struct as_measurement *m)
{
    const struct counters *t = &s->total;
    const struct counters *c = s->c.report_req < 0 ? t : &s->cnt[s->c.report_req];
    const char *name = s->c.report_req < 0 ? "total" : s->c.reqs[s->c.report_req].name;
    if (t->requests == 0) {
        snprintf(m->error, sizeof(m->error), "no request completed in %.1fs (%llu in flight)", secs,
                 (unsigned long long)s->dropped);
    } else if ((double)t->failures / (double)t->requests > s->c.max_failure_ratio) {
        snprintf(m->error, sizeof(m->error),
                 "%llu of %llu requests failed (more than %g); first: %s",
                 (unsigned long long)t->failures, (unsigned long long)t->requests,
                 s->c.max_failure_ratio, s->error);
    } else if (s->c.report_stat == AS_LT_RPS) {
        m->ok = 1;
        m->value = (double)c->requests / secs;
    } else if (c->requests == 0) {
        snprintf(m->error, sizeof(m->error), "no '%s' request completed", name);
    } else if (s->c.report_stat == AS_LT_FAILURE_RATIO) {
        m->ok = 1;
        m->value = (double)c->failures / (double)c->requests;
    } else if (c->hist.count == 0) {
        snprintf(m->error, sizeof(m->error), "no '%s' request got an answer; first failure: %s",
                 name, s->error);
    } else {
        m->ok = 1;
        m->value = as_hist_stat(&c->hist, (enum as_stat)s->c.report_stat) / 1000.0;
    }
}

static int64_t on_end(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct loadtest *s = arg;
    s->end = NULL;
    stop_users(s);
    double secs = (double)(as_mono_ms() - s->t_start) / 1000.0;
    if (secs <= 0)
        secs = 0.001;
    sum_up(s);
    log_summary(s, secs);
    struct as_measurement m = {.ok = 0, .replicas = -1};
    value_of(s, secs, &m);
    char host[256];
    if (!m.ok)
        as_log_fault(&s->fault, AS_ERROR, "source/loadtest[%s/%s]: %s: %s", s->ctx.group,
                     s->ctx.name, as_log_url(s->c.host, host, sizeof(host)), m.error);
    else
        as_log_recovered(&s->fault, "source/loadtest[%s/%s]: measuring again", s->ctx.group,
                         s->ctx.name);
    as_measure_cb done = s->done;
    s->done = NULL;
    done(&m, s->arg);
    return AS_TIMER_STOP;
}

static void measure(void *state, as_measure_cb done, void *arg)
{
    struct loadtest *s = state;
    s->done = done;
    s->arg = arg;
    for (int i = 0; i < s->c.nreqs; i++) {
        as_hist_reset(&s->cnt[i].hist);
        s->cnt[i].requests = s->cnt[i].failures = 0;
    }
    s->dropped = 0;
    s->error[0] = '\0';
    s->t_start = as_mono_ms();
    s->t_end = s->t_start + s->c.duration_ms;
    s->running = 1;
    s->end = as_loop_add_timer(s->ctx.loop, s->t_end - as_loop_now(s->ctx.loop), on_end, s);
    for (int i = 0; s->end != NULL && i < s->c.users; i++) {
        int64_t delay = s->c.spawn_rate > 0 ? (int64_t)(i * 1000.0 / s->c.spawn_rate) : 0;
        s->u[i].timer = as_loop_add_timer(s->ctx.loop, delay, on_user_timer, &s->u[i]);
        if (s->u[i].timer == NULL) {
            as_loop_cancel_timer(s->ctx.loop, s->end);
            s->end = NULL;
        }
    }
    if (s->end != NULL)
        return;
    stop_users(s);
    struct as_measurement m = {.ok = 0, .replicas = -1};
    snprintf(m.error, sizeof(m.error), "out of memory: the test did not start");
    s->done = NULL;
    if (as_defer_measurement(s->ctx.loop, &s->deferred, done, &m, arg) < 0)
        AS_LOG(AS_ERROR, "source/loadtest[%s/%s]: out of memory", s->ctx.group, s->ctx.name);
}

static void cancel(void *state)
{
    struct loadtest *s = state;
    stop_users(s);
    as_loop_cancel_timer(s->ctx.loop, s->end);
    s->end = NULL;
    as_defer_cancel(s->ctx.loop, &s->deferred);
    s->done = NULL;
}

static void stop(void *state)
{
    struct loadtest *s = state;
    if (s->ctx.loop != NULL)
        cancel(s);
    for (int i = 0; s->cnt && i < s->c.nreqs; i++)
        as_hist_fini(&s->cnt[i].hist);
    as_hist_fini(&s->total.hist);
    for (int i = 0; s->u && i < s->c.users; i++)
        as_h1_free(s->u[i].conn);
    for (int i = 0; s->wire && i < s->c.nreqs; i++)
        free(s->wire[i]);
    free(s->wire);
    free(s->wire_len);
    s->wire = NULL;
    s->wire_len = NULL;
    free(s->cnt);
    free(s->u);
    free(s->owner);
    s->cnt = NULL;
    s->u = NULL;
    s->owner = NULL;
}

const struct as_source_ops as_source_loadtest = {
    .name = "loadtest",
    .opts = as_loadtest_opts,
    .state_size = sizeof(struct loadtest),
    .summary = "A Locust-style load test of one host on the event loop: users, spawn rate, "
               "weighted requests with think times; reports a latency statistic (ms), rps or the "
               "failure ratio of one request or all. Also takes 'requests' (a list) and 'report' "
               "(a mapping): see docs/sources/loadtest.md.",
    .validate = validate,
    .start = start,
    .measure = measure,
    .cancel = cancel,
    .stop = stop,
};
