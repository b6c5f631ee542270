#include "sources/loadtest_cfg.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

#define REQUESTS_MAX 32
#define USERS_MAX 4096

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

const struct as_opt as_loadtest_opts[] = {
    {"host", AS_OPT_STR, offsetof(struct lt_config, host), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Where all traffic goes: http:// or https://, a host, an optional port and base path "
     "(no user:password, query or fragment)."},
    {"users", AS_OPT_INT, offsetof(struct lt_config, users), "10", 1, USERS_MAX, 0, NULL,
     "Simulated users, each with at most one request in flight."},
    {"spawn_rate", AS_OPT_DOUBLE, offsetof(struct lt_config, spawn_rate), "0", 0, 1e6, 0, NULL,
     "Users started per second at the start of each test; 0: all at once. All must start "
     "within the duration."},
    {"duration", AS_OPT_DURATION, offsetof(struct lt_config, duration_ms), NULL, 100, 3600000,
     AS_OPT_REQUIRED, NULL,
     "Length of the test each measurement runs; below the metric's timeout, which must be set."},
    {"think_time", AS_OPT_DURATION, offsetof(struct lt_config, think_ms), NULL, 0, 3600000, 0, NULL,
     "A user's pause after each request (Locust's wait_time); a request may set its own."},
    {"think_time_max", AS_OPT_DURATION, offsetof(struct lt_config, think_max_ms), NULL, 0, 3600000,
     0, NULL, "The pause is uniform between think_time and this (Locust's between())."},
    {"request_timeout", AS_OPT_DURATION, offsetof(struct lt_config, request_timeout_ms), NULL, 1,
     3600000, 0, NULL,
     "A request taking longer fails (timeout). Default: none; the end of the test ends it."},
    {"max_failure_ratio", AS_OPT_DOUBLE, offsetof(struct lt_config, max_failure_ratio), "0.1", 0, 1,
     0, NULL,
     "The measurement fails when more than this share of all requests failed (transport "
     "error, timeout, HTTP status 400 or more)."},
    {"insecure_skip_verify", AS_OPT_BOOL, offsetof(struct lt_config, insecure), "false",
     AS_NO_BOUNDS, 0, NULL, "Skip TLS certificate verification (off: verification is on)."},
    {"ca_file", AS_OPT_STR, offsetof(struct lt_config, ca_file), NULL, AS_NO_BOUNDS, 0, NULL,
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
    if (as_has_control(h))
        return 0;
    for (size_t i = 0; i < AS_ARRAY_LEN(own); i++)
        if (strncasecmp(h, own[i], strlen(own[i])) == 0)
            return 0;
    return 1;
}

static int check_duration(struct lt_config *s, struct as_node *map, struct as_err *err)
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
static int parse_request(struct lt_config *s, struct req_cfg *cfgs, size_t i, struct as_node *item,
                         struct as_err *err)
{
    char what[48];
    snprintf(what, sizeof(what), "loadtest request %zu", i + 1);
    if (item->kind != AS_NODE_MAP)
        return err_at(item, err, "%s must be a mapping (name, path, ...)%s", what, "");
    struct req_cfg *r = &cfgs[i];
    const struct as_opt *const tables[] = {request_opts, NULL};
    if (as_opts_parse(request_opts, r, item, what, err) < 0 ||
        as_node_check_keys(item, what, tables, NULL, err) < 0)
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
static int pack_all(struct lt_config *s, const struct req_cfg *cfgs, size_t n, struct as_err *err)
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

static int parse_report(struct lt_config *s, struct as_node *map, const struct req_cfg *cfgs,
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
    const struct as_opt *const tables[] = {report_opts, NULL};
    int rc = as_opts_parse(report_opts, &rep, node, "loadtest report", err);
    if (rc == 0)
        rc = as_node_check_keys(node, "loadtest report", tables, NULL, err);
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

int as_loadtest_validate(struct lt_config *s, struct as_node *map, struct as_err *err)
{
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
