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
 * flight when the test ends are cancelled and not counted, as Locust drops them too. */
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/h1.h"
#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/stats.h"
#include "util/util.h"
#include "core/plugin.h"

#define REQUESTS_MAX 32
#define USERS_MAX 4096
#define SUMMARY_MAX 1800
/* A request that could not even start makes its user pause at least this long. */
#define RETRY_PAUSE_MS 10

enum { STAT_RPS = AS_STAT_MAX + 1, STAT_FAILURE_RATIO };

static const char *const report_stats[] = {"mean", "median", "p90",           "p95", "p99",
                                           "max",  "rps",    "failure_ratio", NULL};
static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};

/* One entry of `requests` as its option table parses it. */
struct req_cfg {
    char *name, *path, *body;
    char **headers;
    int method, weight;
    int64_t think_ms, think_max_ms;
};

/* A request ready to send; lives in the block that `host` points to (see pack()). */
struct lt_req {
    const char *name, *url, *body, *method;
    const char *const *headers; /* NULL-terminated, or NULL */
    int weight_end;             /* the sum of the weights up to this one's */
    int64_t think_ms, think_max_ms;
};

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
    /* Options. After validate(), `host` points to a block that also holds the requests (one
     * allocation, so that freeing the options frees them: a source's state is freed with its
     * option table only). */
    char *host, *ca_file;
    int users, insecure;
    double spawn_rate, max_failure_ratio;
    int64_t duration_ms, think_ms, think_max_ms, request_timeout_ms;
    const struct lt_req *reqs;
    int nreqs, total_weight;
    int report_req; /* index in reqs, or -1: all of them */
    int report_stat;
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

static const struct as_opt request_opts[] = {
    {"name", AS_OPT_STR, offsetof(struct req_cfg, name), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL,
     "Name in the statistics and in report; unique. Default: the path."},
    {"method", AS_OPT_ENUM, offsetof(struct req_cfg, method), "GET", AS_NO_BOUNDS, 0, methods,
     "Request method."},
    {"path", AS_OPT_STR, offsetof(struct req_cfg, path), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL, "Path on host with its query, starting with /."},
    {"headers", AS_OPT_HEADERS, offsetof(struct req_cfg, headers), NULL, AS_NO_BOUNDS, 0, NULL,
     "Request headers (name: value)."},
    {"body", AS_OPT_STR, offsetof(struct req_cfg, body), NULL, AS_NO_BOUNDS, 0, NULL,
     "Request body."},
    {"weight", AS_OPT_INT, offsetof(struct req_cfg, weight), "1", 1, 10000, 0, NULL,
     "How often a user picks this request, relative to the other weights."},
    {"think_time", AS_OPT_DURATION, offsetof(struct req_cfg, think_ms), NULL, 0, 3600000, 0, NULL,
     "A user's pause after this request. Default: the source's think_time."},
    {"think_time_max", AS_OPT_DURATION, offsetof(struct req_cfg, think_max_ms), NULL, 0, 3600000, 0,
     NULL, "The pause is uniform between think_time and this. Default: think_time."},
    AS_OPT_END,
};

struct report_cfg {
    char *request;
    int stat;
};

static const struct as_opt report_opts[] = {
    {"request", AS_OPT_STR, offsetof(struct report_cfg, request), "total", AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL, "A request's name, or total for all of them."},
    {"stat", AS_OPT_ENUM, offsetof(struct report_cfg, stat), "p95", AS_NO_BOUNDS, 0, report_stats,
     "Response time (ms) statistic, rps, or failure_ratio."},
    AS_OPT_END,
};

static const struct as_opt opts[] = {
    {"host", AS_OPT_STR, offsetof(struct loadtest, host), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Where all traffic goes: http:// or https://, a host, an optional port and base path "
     "(no user:password, query or fragment)."},
    {"users", AS_OPT_INT, offsetof(struct loadtest, users), "10", 1, USERS_MAX, 0, NULL,
     "Simulated users, each with at most one request in flight."},
    {"spawn_rate", AS_OPT_DOUBLE, offsetof(struct loadtest, spawn_rate), "0", 0, 1e6, 0, NULL,
     "Users started per second at the start of each test; 0: all at once. All must start "
     "within the duration."},
    {"duration", AS_OPT_DURATION, offsetof(struct loadtest, duration_ms), NULL, 100, 3600000,
     AS_OPT_REQUIRED, NULL,
     "Length of the test each measurement runs; below the metric's timeout, which must be set."},
    {"think_time", AS_OPT_DURATION, offsetof(struct loadtest, think_ms), NULL, 0, 3600000, 0, NULL,
     "A user's pause after each request (Locust's wait_time); a request may set its own."},
    {"think_time_max", AS_OPT_DURATION, offsetof(struct loadtest, think_max_ms), NULL, 0, 3600000,
     0, NULL, "The pause is uniform between think_time and this (Locust's between())."},
    {"request_timeout", AS_OPT_DURATION, offsetof(struct loadtest, request_timeout_ms), NULL, 1,
     3600000, 0, NULL,
     "A request taking longer fails (timeout). Default: none; the end of the test ends it."},
    {"max_failure_ratio", AS_OPT_DOUBLE, offsetof(struct loadtest, max_failure_ratio), "0.1", 0, 1,
     0, NULL,
     "The measurement fails when more than this share of all requests failed (transport "
     "error, timeout, HTTP status 400 or more)."},
    {"insecure_skip_verify", AS_OPT_BOOL, offsetof(struct loadtest, insecure), "false",
     AS_NO_BOUNDS, 0, NULL, "Skip TLS certificate verification (off: verification is on)."},
    {"ca_file", AS_OPT_STR, offsetof(struct loadtest, ca_file), NULL, AS_NO_BOUNDS, 0, NULL,
     "CA bundle for TLS verification."},
    AS_OPT_END,
};

/* ---- validation ---- */

static int err_at(const struct as_node *n, struct as_err *err, const char *fmt, const char *a,
                  const char *b)
{
    char msg[AS_ERR_MAX];
    snprintf(msg, sizeof(msg), fmt, a, b);
    return as_err_at(err, n->file, n->line, n->col, "%s", msg);
}

/* The value node of key in map, or map itself. */
static const struct as_node *at(const struct as_node *map, const char *key)
{
    long i = as_node_find(map, key);
    return i < 0 ? map : map->pairs[i].value;
}

static int visible(char c)
{
    return c > ' ' && c < 0x7f && c != '\\';
}

/* http(s)://authority[/base] with nothing that could send a request elsewhere. */
static int host_ok(const char *h)
{
    const char *p = strncmp(h, "http://", 7) == 0    ? h + 7
                    : strncmp(h, "https://", 8) == 0 ? h + 8
                                                     : NULL;
    if (p == NULL || *p == '\0' || *p == '/')
        return 0;
    for (; *p; p++)
        if (!visible(*p) || *p == '@' || *p == '?' || *p == '#')
            return 0;
    return 1;
}

static int path_ok(const char *p)
{
    if (p[0] != '/' || p[1] == '/')
        return 0;
    for (; *p; p++)
        if (!visible(*p) || *p == '#')
            return 0;
    return 1;
}

/* "Name: value" without control characters, and not one the load test sets itself. */
static int header_ok(const char *h)
{
    static const char *const own[] = {"content-length:", "transfer-encoding:", "connection:"};
    for (const char *p = h; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    for (size_t i = 0; i < AS_ARRAY_LEN(own); i++)
        if (strncasecmp(h, own[i], strlen(own[i])) == 0)
            return 0;
    return 1;
}

static int check_duration(struct loadtest *s, struct as_node *map, struct as_err *err)
{
    char a[32], b[32];
    long ti = as_node_find(map, "timeout");
    int64_t timeout_ms;
    if (ti < 0)
        return err_at(at(map, "duration"), err,
                      "a loadtest needs the metric's 'timeout' set above its 'duration'%s%s", "",
                      "");
    if (as_duration_parse(map->pairs[ti].value->value, &timeout_ms) < 0)
        return 0; /* the metric's own check reports it */
    if (s->duration_ms >= timeout_ms)
        return err_at(at(map, "duration"), err,
                      "'duration' %s must be below the metric's timeout %s",
                      as_duration_fmt(s->duration_ms, a, sizeof(a)),
                      as_duration_fmt(timeout_ms, b, sizeof(b)));
    if (s->spawn_rate > 0 && (s->users - 1) / s->spawn_rate * 1000 >= (double)s->duration_ms) {
        snprintf(a, sizeof(a), "%d", s->users);
        snprintf(b, sizeof(b), "%g", s->spawn_rate);
        return err_at(at(map, "spawn_rate"), err,
                      "starting %s users at %s per second takes longer than the duration", a, b);
    }
    if (s->think_max_ms > 0 && s->think_max_ms < s->think_ms)
        return err_at(at(map, "think_time_max"), err, "'think_time_max' is below 'think_time'%s%s",
                      "", "");
    return 0;
}

/* Parses and checks request i (cfgs[0..i) are already parsed). */
static int parse_request(struct loadtest *s, struct req_cfg *cfgs, size_t i, struct as_node *item,
                         struct as_err *err)
{
    char what[48];
    snprintf(what, sizeof(what), "loadtest request %zu", i + 1);
    if (item->kind != AS_NODE_MAP)
        return err_at(item, err, "%s must be a mapping (name, path, ...)%s", what, "");
    struct req_cfg *r = &cfgs[i];
    if (as_opts_parse(request_opts, r, item, what, err) < 0 ||
        as_node_check_unused(item, what, err) < 0)
        return -1;
    if (!path_ok(r->path))
        return err_at(at(item, "path"), err,
                      "'path' must be a path on host starting with / (no URL, no spaces)%s%s", "",
                      "");
    for (size_t k = 0; r->headers && r->headers[k]; k++)
        if (!header_ok(r->headers[k]))
            return err_at(at(item, "headers"), err,
                          "'headers': no control characters, and Content-Length, "
                          "Transfer-Encoding and Connection are the load test's own%s%s",
                          "", "");
    if (r->name == NULL && (r->name = strdup(r->path)) == NULL)
        return as_err_set(err, "out of memory");
    if (strcmp(r->name, "total") == 0)
        return err_at(at(item, "name"), err, "'total' is the name of all requests together%s%s", "",
                      "");
    for (size_t j = 0; j < i; j++)
        if (strcmp(cfgs[j].name, r->name) == 0)
            return err_at(as_node_find(item, "name") >= 0 ? at(item, "name") : at(item, "path"),
                          err, "two requests are named '%s': give each its own name%s", r->name,
                          "");
    if (as_node_find(item, "think_time") < 0)
        r->think_ms = s->think_ms;
    if (as_node_find(item, "think_time_max") < 0)
        r->think_max_ms = as_node_find(item, "think_time") < 0 ? s->think_max_ms : 0;
    if (r->think_max_ms == 0)
        r->think_max_ms = r->think_ms;
    if (r->think_max_ms < r->think_ms)
        return err_at(at(item, "think_time_max"), err, "'think_time_max' is below 'think_time'%s%s",
                      "", "");
    return 0;
}

/* ---- the requests' block: host, then the lt_req array, then every string ---- */

struct arena {
    char *base; /* NULL: only measuring */
    size_t used;
};

static void *take(struct arena *a, size_t n, size_t align)
{
    a->used = (a->used + align - 1) / align * align;
    void *p = a->base ? a->base + a->used : NULL;
    a->used += n;
    return p;
}

static const char *put(struct arena *a, const char *x, const char *y)
{
    size_t nx = strlen(x), ny = y ? strlen(y) : 0;
    char *p = take(a, nx + ny + 1, 1);
    if (p != NULL) {
        memcpy(p, x, nx);
        memcpy(p + nx, y ? y : "", ny + 1);
    }
    return p;
}

static void pack(const char *host, const struct req_cfg *cfgs, size_t n, struct arena *a)
{
    size_t hl = strlen(host);
    while (hl > 0 && host[hl - 1] == '/')
        hl--;
    char *h = take(a, hl + 1, 1);
    if (h != NULL) {
        memcpy(h, host, hl);
        h[hl] = '\0';
    }
    struct lt_req *reqs = take(a, n * sizeof(*reqs), alignof(struct lt_req));
    int weight = 0;
    for (size_t i = 0; i < n; i++) {
        const struct req_cfg *c = &cfgs[i];
        size_t nh = 0;
        while (c->headers && c->headers[nh])
            nh++;
        const char **hdrs = nh ? take(a, (nh + 1) * sizeof(*hdrs), alignof(const char *)) : NULL;
        for (size_t k = 0; k < nh; k++) {
            const char *v = put(a, c->headers[k], NULL);
            if (hdrs)
                hdrs[k] = v;
        }
        struct lt_req r = {
            .name = put(a, c->name, NULL),
            .url = h ? put(a, h, c->path) : put(a, host, c->path),
            .body = c->body ? put(a, c->body, NULL) : NULL,
            .method = methods[c->method],
            .headers = hdrs,
            .weight_end = weight += c->weight,
            .think_ms = c->think_ms,
            .think_max_ms = c->think_max_ms,
        };
        if (hdrs)
            hdrs[nh] = NULL;
        if (reqs)
            reqs[i] = r;
    }
}

/* Replaces host by one block holding it and the requests. */
static int pack_all(struct loadtest *s, const struct req_cfg *cfgs, size_t n, struct as_err *err)
{
    struct arena a = {0};
    pack(s->host, cfgs, n, &a);
    char *block = malloc(a.used);
    if (block == NULL)
        return as_err_set(err, "out of memory");
    struct arena b = {.base = block};
    pack(s->host, cfgs, n, &b);
    size_t off = strlen(block) + 1;
    s->reqs = (const struct lt_req *)(block + (off + alignof(struct lt_req) - 1) /
                                                  alignof(struct lt_req) * alignof(struct lt_req));
    s->nreqs = (int)n;
    s->total_weight = s->reqs[n - 1].weight_end;
    free(s->host);
    s->host = block;
    return 0;
}

static int parse_report(struct loadtest *s, struct as_node *map, const struct req_cfg *cfgs,
                        size_t n, struct as_err *err)
{
    struct report_cfg rep = {0};
    struct as_node *node = as_node_get(map, "report");
    struct as_node none = {.kind = AS_NODE_MAP, .file = map->file, .line = map->line};
    if (node == NULL || node->kind == AS_NODE_NULL)
        node = &none;
    if (node->kind != AS_NODE_MAP)
        return err_at(node, err,
                      "'report' must be a mapping {request: NAME or total, stat: ...}%s%s", "", "");
    int rc = as_opts_parse(report_opts, &rep, node, "loadtest report", err);
    if (rc == 0)
        rc = as_node_check_unused(node, "loadtest report", err);
    s->report_stat = rep.stat;
    s->report_req = -1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (strcmp(cfgs[i].name, rep.request) == 0)
            s->report_req = (int)i;
    if (rc == 0 && s->report_req < 0 && strcmp(rep.request, "total") != 0)
        rc = err_at(at(node, "request"), err, "'report': no request named '%s' (nor total)%s",
                    rep.request, "");
    as_opts_free(report_opts, &rep);
    return rc;
}

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct loadtest *s = state;
    if (!host_ok(s->host))
        return err_at(at(map, "host"), err,
                      "'host' must be http:// or https:// and a host[:port][/base path], without "
                      "user:password, query or fragment%s%s",
                      "", "");
    if (check_duration(s, map, err) < 0)
        return -1;
    struct as_node *list = as_node_get(map, "requests");
    if (list == NULL || list->kind != AS_NODE_SEQ || list->n == 0 || list->n > REQUESTS_MAX)
        return err_at(list ? list : map, err,
                      "a loadtest needs 'requests': a list of 1 to 32 mappings "
                      "({name, method, path, headers, body, weight, think_time})%s%s",
                      "", "");
    struct req_cfg *cfgs = calloc(list->n, sizeof(*cfgs));
    if (cfgs == NULL)
        return as_err_set(err, "out of memory");
    int rc = 0;
    size_t parsed = 0;
    for (; rc == 0 && parsed < list->n; parsed++)
        rc = parse_request(s, cfgs, parsed, list->items[parsed], err);
    if (rc == 0)
        rc = parse_report(s, map, cfgs, list->n, err);
    if (rc == 0)
        rc = pack_all(s, cfgs, list->n, err);
    for (size_t i = 0; i < parsed; i++)
        as_opts_free(request_opts, &cfgs[i]);
    free(cfgs);
    return rc;
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
    if (as_h1_numeric_url(s->host, &addr, &len, &path) < 0)
        return 0;
    s->wire = calloc((size_t)s->nreqs, sizeof(s->wire[0]));
    s->wire_len = calloc((size_t)s->nreqs, sizeof(s->wire_len[0]));
    if (s->wire == NULL || s->wire_len == NULL)
        return -1;
    const char *auth = s->host + 7;
    size_t auth_len = (size_t)(path - auth);
    for (int i = 0; i < s->nreqs; i++) {
        const struct lt_req *r = &s->reqs[i];
        const char *target = r->url + 7 + auth_len;
        size_t n =
            as_h1_format_request(NULL, 0, r->method, auth, auth_len, target, r->headers, r->body);
        if ((s->wire[i] = malloc(n)) == NULL)
            return -1;
        s->wire_len[i] = as_h1_format_request(s->wire[i], n, r->method, auth, auth_len, target,
                                              r->headers, r->body);
    }
    for (int i = 0; i < s->users; i++)
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
    s->u = calloc((size_t)s->users, sizeof(s->u[0]));
    s->cnt = calloc((size_t)s->nreqs, sizeof(s->cnt[0]));
    if (s->u == NULL || s->cnt == NULL || as_hist_init(&s->total.hist) < 0)
        return as_err_set(err, "out of memory");
    for (int i = 0; i < s->nreqs; i++)
        if (as_hist_init(&s->cnt[i].hist) < 0)
            return as_err_set(err, "out of memory");
    for (int i = 0; i < s->users; i++)
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
    int w = (int)(next_rand(s) % (uint64_t)s->total_weight), i = 0;
    while (s->reqs[i].weight_end <= w)
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
        snprintf(s->error, sizeof(s->error), "%s: %.200s", s->reqs[req].name, why);
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
    think(u, &s->reqs[u->req], 0);
}

static void on_h1(const struct as_h1_resp *r, void *arg)
{
    struct user *u = arg;
    struct loadtest *s = u->s;
    char text[64];
    u->busy = 0;
    if (r->timed_out)
        snprintf(text, sizeof(text), "timeout after %lld ms", (long long)s->request_timeout_ms);
    record(s, u->req, r->ok, r->status, r->timed_out ? text : r->error, r->elapsed_us);
    think(u, &s->reqs[u->req], 0);
}

static void user_next(struct user *u)
{
    struct loadtest *s = u->s;
    int64_t now = as_mono_ms();
    if (!s->running || now >= s->t_end)
        return;
    u->req = pick(s);
    const struct lt_req *r = &s->reqs[u->req];
    int64_t left = s->t_end - now + 1000; /* the end of the test cancels it first */
    if (s->request_timeout_ms > 0 && s->request_timeout_ms < left)
        left = s->request_timeout_ms;
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
            .insecure = s->insecure,
            .ca_file = s->ca_file,
            .max_in_flight = (size_t)s->users,
            .discard_body = 1,
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
    for (int i = 0; s->u && i < s->users; i++) {
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
    for (int i = 0; i < s->nreqs; i++) {
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
                          secs, s->users, (unsigned long long)t->requests, t->requests / secs,
                          ms_at(t, 50), ms_at(t, 95), ms_at(t, 99), (unsigned long long)t->failures,
                          t->requests ? 100.0 * t->failures / t->requests : 0.0);
    for (int i = 0; rc == 0 && i < s->nreqs && sb.len < SUMMARY_MAX; i++)
        rc = as_sb_printf(&sb, "%s %s: %llu (%llu failed)", i ? "," : ";", s->reqs[i].name,
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
    const struct counters *c = s->report_req < 0 ? t : &s->cnt[s->report_req];
    const char *name = s->report_req < 0 ? "total" : s->reqs[s->report_req].name;
    if (t->requests == 0) {
        snprintf(m->error, sizeof(m->error), "no request completed in %.1fs (%llu in flight)", secs,
                 (unsigned long long)s->dropped);
    } else if ((double)t->failures / (double)t->requests > s->max_failure_ratio) {
        snprintf(m->error, sizeof(m->error),
                 "%llu of %llu requests failed (more than %g); first: %s",
                 (unsigned long long)t->failures, (unsigned long long)t->requests,
                 s->max_failure_ratio, s->error);
    } else if (s->report_stat == STAT_RPS) {
        m->ok = 1;
        m->value = (double)c->requests / secs;
    } else if (c->requests == 0) {
        snprintf(m->error, sizeof(m->error), "no '%s' request completed", name);
    } else if (s->report_stat == STAT_FAILURE_RATIO) {
        m->ok = 1;
        m->value = (double)c->failures / (double)c->requests;
    } else if (c->hist.count == 0) {
        snprintf(m->error, sizeof(m->error), "no '%s' request got an answer; first failure: %s",
                 name, s->error);
    } else {
        m->ok = 1;
        m->value = as_hist_stat(&c->hist, (enum as_stat)s->report_stat) / 1000.0;
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
                     s->ctx.name, as_log_url(s->host, host, sizeof(host)), m.error);
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
    for (int i = 0; i < s->nreqs; i++) {
        as_hist_reset(&s->cnt[i].hist);
        s->cnt[i].requests = s->cnt[i].failures = 0;
    }
    s->dropped = 0;
    s->error[0] = '\0';
    s->t_start = as_mono_ms();
    s->t_end = s->t_start + s->duration_ms;
    s->running = 1;
    s->end = as_loop_add_timer(s->ctx.loop, s->t_end - as_loop_now(s->ctx.loop), on_end, s);
    for (int i = 0; s->end != NULL && i < s->users; i++) {
        int64_t delay = s->spawn_rate > 0 ? (int64_t)(i * 1000.0 / s->spawn_rate) : 0;
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
    for (int i = 0; s->cnt && i < s->nreqs; i++)
        as_hist_fini(&s->cnt[i].hist);
    as_hist_fini(&s->total.hist);
    for (int i = 0; s->u && i < s->users; i++)
        as_h1_free(s->u[i].conn);
    for (int i = 0; s->wire && i < s->nreqs; i++)
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
    .opts = opts,
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
