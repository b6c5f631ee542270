#include "api/route.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/decide.h"

#define AS_OVERRIDE_MAX 1000000
#define AS_LIMIT_MAX 100000

int as_route_name_ok(const char *s, size_t len)
{
    if (len == 0 || len >= AS_ROUTE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!(c == '_' || c == '-' || c == '.' || (c >= '0' && c <= '9') ||
              (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return 0;
    }
    return 1;
}

static unsigned method_bit(const char *m)
{
    static const struct {
        const char *name;
        unsigned bit;
    } known[] = {
        {"GET", AS_M_GET}, {"HEAD", AS_M_HEAD}, {"POST", AS_M_POST}, {"DELETE", AS_M_DELETE}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(m, known[i].name) == 0)
            return known[i].bit;
    return 0;
}

struct fixed {
    const char *path;
    enum as_route_kind kind;
    unsigned params;
};

/* Paths without a group. */
static const struct fixed fixed_paths[] = {
    {"/", AS_R_DASHBOARD, 0},           {"/dashboard.js", AS_R_ASSET, 0},
    {"/dashboard.css", AS_R_ASSET, 0},  {"/metrics", AS_R_METRICS, 0},
    {"/healthz", AS_R_HEALTHZ, 0},      {"/readyz", AS_R_READYZ, 0},
    {"/api/v1", AS_R_INDEX, 0},         {"/api/v1/status", AS_R_STATUS, 0},
    {"/api/v1/groups", AS_R_GROUPS, 0},
};

/* What follows /api/v1/groups/G. */
static const struct {
    const char *sub;
    enum as_route_kind kind;
    unsigned methods, params;
    int write;
} group_paths[] = {
    {"", AS_R_GROUP, AS_M_GET | AS_M_HEAD, AS_Q_LIMIT, 0},
    {"/config", AS_R_CONFIG, AS_M_GET | AS_M_HEAD, 0, 0},
    {"/decisions", AS_R_DECISIONS, AS_M_GET | AS_M_HEAD, AS_Q_LIMIT | AS_Q_SINCE, 0},
    {"/rounds", AS_R_ROUNDS, AS_M_GET | AS_M_HEAD, AS_Q_LIMIT | AS_Q_SINCE, 0},
    {"/workers", AS_R_WORKERS, AS_M_GET | AS_M_HEAD, 0, 0},
    {"/queue", AS_R_QUEUE, AS_M_GET | AS_M_HEAD, AS_Q_LIMIT | AS_Q_SINCE | AS_Q_METRIC, 0},
    {"/pause", AS_R_PAUSE, AS_M_POST, 0, 1},
    {"/resume", AS_R_RESUME, AS_M_POST, 0, 1},
    {"/override", AS_R_OVERRIDE, AS_M_POST | AS_M_DELETE, 0, 1},
};

static int finish(struct as_route *r, unsigned method)
{
    return (r->methods & method) ? 200 : 405;
}

int as_route_parse(const char *method, const char *path, struct as_route *r)
{
    static const char prefix[] = "/api/v1/groups/";
    memset(r, 0, sizeof(*r));
    unsigned m = method_bit(method);
    r->method = m;
    size_t len = strlen(path);
    if (len > 1 && path[len - 1] == '/')
        len--; /* one trailing slash is the same path */
    for (size_t i = 0; i < sizeof(fixed_paths) / sizeof(fixed_paths[0]); i++) {
        const struct fixed *f = &fixed_paths[i];
        if (strlen(f->path) != len || strncmp(f->path, path, len) != 0)
            continue;
        r->kind = f->kind;
        r->method = m;
        r->methods = AS_M_GET | AS_M_HEAD;
        r->params = f->params;
        if (f->kind == AS_R_ASSET)
            snprintf(r->asset, sizeof(r->asset), "%s", strrchr(f->path, '.') + 1);
        return finish(r, m);
    }
    if (len <= sizeof(prefix) - 1 || strncmp(path, prefix, sizeof(prefix) - 1) != 0)
        return 404;
    const char *name = path + sizeof(prefix) - 1, *end = path + len;
    const char *slash = memchr(name, '/', (size_t)(end - name));
    size_t nlen = (size_t)((slash ? slash : end) - name);
    if (!as_route_name_ok(name, nlen))
        return nlen >= AS_ROUTE_NAME_MAX || nlen == 0 ? 404 : 400;
    const char *sub = name + nlen;
    size_t slen = (size_t)(end - sub);
    for (size_t i = 0; i < sizeof(group_paths) / sizeof(group_paths[0]); i++) {
        if (strlen(group_paths[i].sub) != slen || strncmp(group_paths[i].sub, sub, slen) != 0)
            continue;
        memcpy(r->group, name, nlen);
        r->group[nlen] = '\0';
        r->method = m;
        r->kind = group_paths[i].kind;
        r->methods = group_paths[i].methods;
        r->params = group_paths[i].params;
        r->write = group_paths[i].write;
        return finish(r, m);
    }
    return 404;
}

const char *as_route_allow(unsigned methods, char *buf, size_t len)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "DELETE"};
    size_t o = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < 4 && o < len; i++)
        if (methods & (1u << i)) {
            int n = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", names[i]);
            if (n < 0)
                break;
            o += (size_t)n;
        }
    return buf;
}

/* ---- query ---- */

/* A decimal number of at most 15 digits in [lo, hi], nothing else. */
static int number(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v = 0;
    size_t n = 0;
    if (s == NULL || *s == '\0')
        return -1;
    for (; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 15)
            return -1;
        v = v * 10 + (s[n] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void names_of(unsigned allowed, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s%s%s", allowed & AS_Q_LIMIT ? "limit" : "",
             (allowed & AS_Q_LIMIT) && (allowed & ~AS_Q_LIMIT) ? ", " : "",
             allowed & AS_Q_SINCE ? "since" : "",
             (allowed & AS_Q_SINCE) && (allowed & AS_Q_METRIC) ? ", " : "",
             allowed & AS_Q_METRIC ? "metric" : "");
    if (allowed == 0)
        snprintf(buf, len, "none");
}

int as_query_set(struct as_query *q, unsigned allowed, const char *key, const char *value,
                 struct as_err *err)
{
    char takes[48], shown[40];
    unsigned bit = strcmp(key, "limit") == 0    ? AS_Q_LIMIT
                   : strcmp(key, "since") == 0  ? AS_Q_SINCE
                   : strcmp(key, "metric") == 0 ? AS_Q_METRIC
                                                : 0;
    int64_t v;
    names_of(allowed, takes, sizeof(takes));
    if (bit == 0 || !(allowed & bit)) {
        snprintf(shown, sizeof(shown), "%s", key);
        for (char *c = shown; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f || *c == '"' || *c == '\\')
                *c = '?';
        return as_err_set(err, "unknown query parameter '%s' (this endpoint takes: %s)", shown,
                          takes);
    }
    if (q->given & bit)
        return as_err_set(err, "query parameter '%s' given twice", key);
    switch (bit) {
    case AS_Q_LIMIT:
        if (number(value, 1, AS_LIMIT_MAX, &v) < 0)
            return as_err_set(err, "limit must be a whole number from 1 to %d", AS_LIMIT_MAX);
        q->limit = (long)v;
        break;
    case AS_Q_SINCE:
        if (number(value, 0, AS_TIME_MAX, &v) < 0)
            return as_err_set(err, "since must be a time in milliseconds since the epoch");
        q->since = v;
        break;
    default:
        if (value == NULL || !as_route_name_ok(value, strlen(value)))
            return as_err_set(err, "metric must be a metric's name (1-63 of A-Z a-z 0-9 _ . -)");
        snprintf(q->metric, sizeof(q->metric), "%s", value);
        break;
    }
    q->given |= bit; /* only a value that parsed: a refused one leaves q as it was */
    return 0;
}

/* ---- body ---- */

int as_override_parse(const char *body, size_t len, int *replicas, struct as_err *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = -1;
    if (doc == NULL)
        return as_err_set(err, "the body is not JSON (line %d column %d): %s", jerr.line,
                          jerr.column, jerr.text);
    json_t *v = json_object_get(doc, "replicas");
    if (!json_is_object(doc) || json_object_size(doc) != 1 || v == NULL) {
        as_err_set(err, "the body must be {\"replicas\": N} (0..%d) or {\"replicas\": null}",
                   AS_OVERRIDE_MAX);
    } else if (json_is_null(v)) {
        *replicas = -1;
        rc = 0;
    } else if (!json_is_integer(v) || json_integer_value(v) < 0 ||
               json_integer_value(v) > AS_OVERRIDE_MAX) {
        as_err_set(err, "replicas must be a whole number from 0 to %d, or null to clear",
                   AS_OVERRIDE_MAX);
    } else {
        *replicas = (int)json_integer_value(v);
        rc = 0;
    }
    json_decref(doc);
    return rc;
}
