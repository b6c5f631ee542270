/* Source `prometheus`: an instant query over the Prometheus HTTP API (GET or POST
 * /api/v1/query). A scalar or a single series is the value; a vector of several series is one
 * per-replica value per series (their aggregate is the value), and a series that vanished is a
 * missing replica until it returns or forget_after passes, so the HPA's per-pod rules never
 * scale down on a replica that went silent. Failed measurement: transport error, timeout,
 * "status":"error" (errorType: error), non-2xx, garbage, a matrix or string result, an empty
 * vector (unless empty_as), a NaN/infinite/negative value where one value is needed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/http_api.h"
#include "sources/prometheus.h"
#include "util/http.h"
#include "util/json.h"
#include "util/log.h"
#include "util/loop.h"
#include "core/plugin.h"

/* ---- the answer ---- */

static int not_result(struct as_err *err, const char *what)
{
    return as_err_set(err, "response is not a query result: %s", what);
}

/* A string member of obj, or NULL. */
static const char *str_member(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* [<unix time>, "<value>"]: Prometheus writes values as strings, NaN and infinities too. */
static int parse_pair(json_t *pair, double *out, struct as_err *err)
{
    if (!json_is_array(pair) || json_array_size(pair) != 2 ||
        !json_is_number(json_array_get(pair, 0)) || !json_is_string(json_array_get(pair, 1)))
        return not_result(err, "a value is not [time, \"number\"]");
    json_t *v = json_array_get(pair, 1);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 3 && strcmp(s, "NaN") == 0)
        *out = NAN;
    else if ((n == 4 && strcmp(s, "+Inf") == 0) || (n == 3 && strcmp(s, "Inf") == 0))
        *out = INFINITY;
    else if (n == 4 && strcmp(s, "-Inf") == 0)
        *out = -INFINITY;
    else if (as_json_number_at(pair, "/1", AS_JSON_NUMERIC_STRINGS, out, err) < 0)
        return not_result(err, "a sample value is not a decimal number, NaN or [+-]Inf");
    return 0;
}

static int by_labels(const void *a, const void *b)
{
    return strcmp(((const struct as_prom_sample *)a)->labels,
                  ((const struct as_prom_sample *)b)->labels);
}

/* One {"metric": {...}, "value": [t, "v"]} of a vector. */
static int parse_series(json_t *item, struct as_prom_sample *out, struct as_err *err)
{
    json_t *metric = json_object_get(item, "metric"), *value = json_object_get(item, "value");
    if (!json_is_object(item) || !json_is_object(metric))
        return not_result(err, "a series has no \"metric\" object");
    if (value == NULL && json_object_get(item, "histogram") != NULL)
        return not_result(err, "a native histogram sample is not a number (use "
                               "histogram_quantile, histogram_sum or histogram_count)");
    const char *key;
    json_t *label;
    json_object_foreach(metric, key, label)
    {
        if (!json_is_string(label))
            return not_result(err, "a label value is not a string");
    }
    if (parse_pair(value, &out->value, err) < 0)
        return -1;
    out->labels = json_dumps(metric, JSON_COMPACT | JSON_SORT_KEYS);
    return out->labels ? 0 : as_err_set(err, "out of memory");
}

static int parse_vector(json_t *list, size_t max, struct as_prom_result *out, struct as_err *err)
{
    if (!json_is_array(list))
        return not_result(err, "a vector's result is not an array");
    size_t n = json_array_size(list);
    if (n > max)
        return as_err_set(err, "the vector has %zu series, more than %zu", n, max);
    out->v = calloc(n ? n : 1, sizeof(*out->v));
    if (out->v == NULL)
        return as_err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++, out->n++)
        if (parse_series(json_array_get(list, i), &out->v[i], err) < 0)
            return -1;
    qsort(out->v, n, sizeof(*out->v), by_labels);
    for (size_t i = 1; i < n; i++)
        if (strcmp(out->v[i - 1].labels, out->v[i].labels) == 0)
            return not_result(err, "two series with the same labels");
    return 0;
}

static int parse_scalar(json_t *pair, struct as_prom_result *out, struct as_err *err)
{
    out->v = calloc(1, sizeof(*out->v));
    if (out->v == NULL || (out->v[0].labels = strdup("{}")) == NULL)
        return as_err_set(err, "out of memory");
    out->n = 1;
    return parse_pair(pair, &out->v[0].value, err);
}

static void read_warnings(json_t *doc, struct as_prom_result *out)
{
    json_t *w = json_object_get(doc, "warnings");
    if (!json_is_array(w) || json_array_size(w) == 0)
        return;
    out->nwarnings = json_array_size(w);
    const char *first = json_string_value(json_array_get(w, 0));
    as_printable(first ? first : "(not a string)", first ? strlen(first) : 14, out->warning,
                 sizeof(out->warning));
}

static int parse_doc(json_t *doc, size_t max, struct as_prom_result *out, struct as_err *err)
{
    const char *status = str_member(doc, "status");
    if (status && strcmp(status, "error") == 0) {
        const char *type = str_member(doc, "errorType"), *msg = str_member(doc, "error");
        char t[48], m[200];
        return as_err_set(err, "Prometheus error %s: %s",
                          as_printable(type ? type : "?", type ? strlen(type) : 1, t, sizeof(t)),
                          as_printable(msg ? msg : "", msg ? strlen(msg) : 0, m, sizeof(m)));
    }
    if (status == NULL || strcmp(status, "success") != 0)
        return not_result(err, "no \"status\": \"success\"");
    read_warnings(doc, out);
    json_t *data = json_object_get(doc, "data");
    const char *type = str_member(data, "resultType");
    json_t *result = json_object_get(data, "result");
    if (type == NULL || result == NULL)
        return not_result(err, "no data.resultType and data.result");
    if (strcmp(type, "vector") == 0) {
        out->type = AS_PROM_VECTOR;
        return parse_vector(result, max, out, err);
    }
    if (strcmp(type, "scalar") == 0) {
        out->type = AS_PROM_SCALAR;
        return parse_scalar(result, out, err);
    }
    if (strcmp(type, "matrix") == 0 && json_is_array(result)) {
        out->type = AS_PROM_MATRIX;
        return 0;
    }
    if (strcmp(type, "string") == 0 && json_is_array(result)) {
        out->type = AS_PROM_STRING;
        return 0;
    }
    return not_result(err, "unknown resultType");
}

int as_prom_parse(const char *body, size_t len, size_t max, struct as_prom_result *out,
                  struct as_err *err)
{
    memset(out, 0, sizeof(*out));
    struct as_err jerr;
    as_err_clear(&jerr);
    json_t *doc = as_json_load(body, len, &jerr);
    if (doc == NULL)
        return as_err_set(err, "response is %s", jerr.msg);
    int rc =
        json_is_object(doc) ? parse_doc(doc, max, out, err) : not_result(err, "not a JSON object");
    json_decref(doc);
    if (rc < 0)
        as_prom_result_free(out);
    return rc;
}

void as_prom_result_free(struct as_prom_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].labels);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

/* ---- the series remembered, and the measurement ---- */

void as_prom_memory_free(struct as_prom_memory *mem)
{
    for (size_t i = 0; i < mem->n; i++)
        free(mem->v[i].labels);
    free(mem->v);
    free(mem->reps);
    memset(mem, 0, sizeof(*mem));
}

static void note(struct as_prom_change *c, const char *labels)
{
    if (c->n++ == 0)
        as_printable(labels, strlen(labels), c->first, sizeof(c->first));
}

/* A remembered series that is not in this answer: kept as missing until forget_ms has passed
 * since its last sample. Returns 1 to keep it. */
static int keep_absent(struct as_prom_series *old, int64_t now, int64_t forget_ms,
                       struct as_prom_changes *ch)
{
    if (forget_ms > 0 && now - old->seen_ms < forget_ms) {
        if (old->present)
            note(&ch->vanished, old->labels);
        old->present = 0;
        return 1;
    }
    note(&ch->forgotten, old->labels);
    free(old->labels);
    return 0;
}

/* Merges the answer's series (sorted, their labels taken) into the sorted memory. */
static int merge(struct as_prom_memory *mem, struct as_prom_result *r, int64_t now,
                 int64_t forget_ms, struct as_prom_changes *ch)
{
    struct as_prom_series *v = calloc(mem->n + r->n + 1, sizeof(*v));
    if (v == NULL)
        return -1;
    size_t i = 0, j = 0, k = 0;
    while (i < mem->n || j < r->n) {
        int cmp = i == mem->n ? 1 : j == r->n ? -1 : strcmp(mem->v[i].labels, r->v[j].labels);
        if (cmp < 0) {
            if (keep_absent(&mem->v[i], now, forget_ms, ch))
                v[k++] = mem->v[i];
            i++;
            continue;
        }
        struct as_prom_series s = {
            .labels = r->v[j].labels, .value = r->v[j].value, .seen_ms = now, .present = 1};
        r->v[j++].labels = NULL;
        if (cmp == 0) {
            if (!mem->v[i].present)
                note(&ch->returned, s.labels);
            free(mem->v[i++].labels);
        } else if (mem->rounds > 0) {
            note(&ch->appeared, s.labels);
        }
        v[k++] = s;
    }
    free(mem->v);
    mem->v = v;
    mem->n = k;
    return 0;
}

static int usable(double v)
{
    return isfinite(v) && v >= 0;
}

static double fold(int how, double acc, double v, size_t n)
{
    if (n == 0)
        return v;
    switch (how) {
    case AS_PROM_SUM:
        return acc + v;
    case AS_PROM_MAX:
        return v > acc ? v : acc;
    case AS_PROM_MIN:
        return v < acc ? v : acc;
    default: /* mean: the sum until the end */
        return acc + v;
    }
}

static const char *what_is(double v)
{
    return isnan(v) ? "NaN" : isinf(v) ? "infinite" : "negative";
}

/* One value from the answer's samples (a scalar, one series, or per_replica off): every one of
 * them must be usable. */
static void one_value(const struct as_prom_eval_cfg *cfg, const struct as_prom_sample *v, size_t n,
                      struct as_measurement *m)
{
    double acc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!usable(v[i].value)) {
            char lab[96];
            snprintf(m->error, sizeof(m->error), "the sample of %s is %s (%g)",
                     strcmp(v[i].labels, "{}") == 0
                         ? "the result"
                         : as_printable(v[i].labels, strlen(v[i].labels), lab, sizeof(lab)),
                     what_is(v[i].value), v[i].value);
            return;
        }
        acc = fold(cfg->aggregate, acc, v[i].value, i);
    }
    m->ok = 1;
    m->value = cfg->aggregate == AS_PROM_MEAN ? acc / (double)n : acc;
}

/* One per-replica value per remembered series: a vanished one or one with an unusable sample
 * is missing; the value is the aggregate of the usable ones. */
static void per_replica(const struct as_prom_eval_cfg *cfg, struct as_prom_memory *mem,
                        struct as_measurement *m, struct as_prom_changes *ch)
{
    if (mem->n > mem->cap) {
        struct as_replica_obs *r = realloc(mem->reps, mem->n * sizeof(*r));
        if (r == NULL) {
            snprintf(m->error, sizeof(m->error), "out of memory");
            return;
        }
        mem->reps = r;
        mem->cap = mem->n;
    }
    size_t ok = 0, gone = 0;
    double acc = 0;
    for (size_t i = 0; i < mem->n; i++) {
        const struct as_prom_series *s = &mem->v[i];
        int good = s->present && usable(s->value);
        mem->reps[i] = (struct as_replica_obs){
            .ok = good, .value = good ? s->value : 0, .ready = 1, .age_ms = -1, .idle_ms = -1};
        if (s->present && !good)
            note(&ch->unusable, s->labels);
        gone += !s->present;
        if (good)
            acc = fold(cfg->aggregate, acc, s->value, ok++);
    }
    ch->missing = mem->n - ok;
    if (ok == 0) {
        snprintf(m->error, sizeof(m->error),
                 "no usable sample in %zu series (%zu vanished, %zu NaN, infinite or negative)",
                 mem->n, gone, ch->unusable.n);
        return;
    }
    m->ok = 1;
    m->value = cfg->aggregate == AS_PROM_MEAN ? acc / (double)ok : acc;
    m->nreplicas = mem->n;
    m->per_replica = mem->reps;
}

int as_prom_eval(const struct as_prom_eval_cfg *cfg, struct as_prom_memory *mem,
                 struct as_prom_result *r, int64_t now, struct as_measurement *m,
                 struct as_prom_changes *ch)
{
    *m = (struct as_measurement){.ok = 0, .replicas = -1};
    memset(ch, 0, sizeof(*ch));
    if (r->type == AS_PROM_MATRIX || r->type == AS_PROM_STRING) {
        snprintf(m->error, sizeof(m->error), "%s",
                 r->type == AS_PROM_MATRIX
                     ? "the query returned a range vector (matrix): drop the [range] or wrap it "
                       "in a function such as rate() or max_over_time()"
                     : "the query returned a string, not a number");
        return 0;
    }
    if (r->type == AS_PROM_SCALAR) {
        one_value(cfg, r->v, r->n, m);
        return 0;
    }
    size_t present = r->n;
    if (cfg->per_replica) {
        if (merge(mem, r, now, cfg->forget_ms, ch) < 0)
            return -1;
        mem->rounds++;
    }
    if (present == 0) {
        m->ok = cfg->has_empty_as;
        m->value = cfg->empty_as;
        if (!m->ok)
            snprintf(m->error, sizeof(m->error), "empty result: no series matched the query");
        return 0;
    }
    if (cfg->per_replica && mem->n > 1) {
        per_replica(cfg, mem, m, ch);
        return 0;
    }
    if (cfg->per_replica) { /* one series, now in memory: its value */
        struct as_prom_sample one = {.labels = mem->v[0].labels, .value = mem->v[0].value};
        one_value(cfg, &one, 1, m);
        return 0;
    }
    one_value(cfg, r->v, r->n, m);
    return 0;
}

/* ---- the source ---- */

static const char *const methods[] = {"GET", "POST", NULL};
static const char *const aggregates[] = {"mean", "sum", "max", "min", NULL};

struct prometheus {
    char *url, *query, *token, *username, *password, *ca_file, *id_label;
    char **headers, **params;
    int method, insecure, per_replica, aggregate;
    int64_t forget_ms;
    double empty_as;
    int has_empty_as;
    /* runtime */
    struct as_ctx ctx;
    char *req_url, *req_body, *auth;
    char **req_headers;
    char log_url[256];
    struct as_http_call *call;
    struct as_timer *deferred;
    as_measure_cb done;
    void *arg;
    struct as_prom_memory mem;
    struct as_fault_log fault, unusable, warnings;
};

static const struct as_opt opts[] = {
    {"url", AS_OPT_STR, offsetof(struct prometheus, url), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Prometheus server (or a compatible API), http:// or https://; /api/v1/query is appended: "
     "http://prometheus:9090, https://host/prefix."},
    {"query", AS_OPT_STR, offsetof(struct prometheus, query), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "PromQL expression, evaluated as an instant query at the server's current time: a scalar "
     "or an instant vector."},
    {"method", AS_OPT_ENUM, offsetof(struct prometheus, method), "GET", AS_NO_BOUNDS, 0, methods,
     "GET, or POST (the query as a form body: for queries too long for a URL)."},
    {"params", AS_OPT_HEADERS, offsetof(struct prometheus, params), NULL, AS_NO_BOUNDS, 0, NULL,
     "Extra query parameters (name: value), e.g. Thanos's dedup: 'true' or lookback_delta: 1m."},
    {"headers", AS_OPT_HEADERS, offsetof(struct prometheus, headers), NULL, AS_NO_BOUNDS, 0, NULL,
     "Extra request headers (name: value), e.g. X-Scope-OrgID for a Cortex or Mimir tenant."},
    {"token", AS_OPT_STR, offsetof(struct prometheus, token), NULL, AS_NO_BOUNDS,
     AS_OPT_SECRET | AS_OPT_NONEMPTY, NULL,
     "Bearer token sent as Authorization: Bearer TOKEN, e.g. ${file:/run/secrets/prom-token}."},
    {"username", AS_OPT_STR, offsetof(struct prometheus, username), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL, "User for HTTP Basic authentication (with password)."},
    {"password", AS_OPT_STR, offsetof(struct prometheus, password), NULL, AS_NO_BOUNDS,
     AS_OPT_SECRET, NULL, "Password for HTTP Basic authentication, e.g. ${env:PROM_PASSWORD}."},
    {"aggregate", AS_OPT_ENUM, offsetof(struct prometheus, aggregate), "mean", AS_NO_BOUNDS, 0,
     aggregates,
     "The value of a vector of several series: mean, sum, max or min of their usable samples "
     "(with per-replica values, `target` uses those and this is the value logged)."},
    {"per_replica", AS_OPT_BOOL, offsetof(struct prometheus, per_replica), "true", AS_NO_BOUNDS, 0,
     NULL,
     "A vector of several series gives one per-replica value per series, for the HPA's "
     "per-pod rules; false: only the aggregate."},
    {"forget_after", AS_OPT_DURATION, offsetof(struct prometheus, forget_ms), "1m", 0, 86400000, 0,
     NULL,
     "A series that vanished counts as a missing replica until it returns or this long after "
     "its last sample; 0: a vanished series is simply not counted."},
    {"replica_id_label", AS_OPT_STR, offsetof(struct prometheus, id_label), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "The label naming each series' replica, e.g. pod: its value is the per-replica value's id, "
     "joined with the scaler's replicas (the kubernetes scaler's pods) as the HPA joins metrics "
     "with pods; even one series is then a per-replica value."},
    {"empty_as", AS_OPT_DOUBLE, offsetof(struct prometheus, empty_as), NULL, 0, 1e15, 0, NULL,
     "The value of an empty result (no series matched), e.g. 0 as KEDA's ignoreNullValues; "
     "unset: an empty result is a failed measurement."},
    {"insecure_skip_verify", AS_OPT_BOOL, offsetof(struct prometheus, insecure), "false",
     AS_NO_BOUNDS, 0, NULL, "Skip TLS certificate verification (off: verification is on)."},
    {"ca_file", AS_OPT_STR, offsetof(struct prometheus, ca_file), NULL, AS_NO_BOUNDS, 0, NULL,
     "CA bundle for TLS verification."},
    AS_OPT_END,
};

/* The key at fault, with err set, or NULL when the options fit together. */
static const char *check(struct prometheus *s, struct as_err *err)
{
    if (!as_http_url_ok(s->url))
        return as_err_set(err, "'url' must start with http:// or https://"), "url";
    if (as_has_control(s->token))
        return as_err_set(err, "'token' holds a control character (a line break?)"), "token";
    if (s->token && s->username)
        return as_err_set(err, "'token' and 'username' exclude each other"), "token";
    if (s->password && !s->username)
        return as_err_set(err, "'password' needs 'username'"), "password";
    if ((s->token || s->username) && as_api_has_header(s->headers, "Authorization"))
        return as_err_set(err, "'headers' sets Authorization: drop it, or token/username"),
               "headers";
    for (const char *p = s->id_label; p && *p; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (p > s->id_label && *p >= '0' && *p <= '9')))
            return as_err_set(err,
                              "'replica_id_label' is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
                   "replica_id_label";
    if (s->id_label && !s->per_replica)
        return as_err_set(err, "'replica_id_label' needs per_replica: true"), "replica_id_label";
    for (size_t i = 0; s->params && s->params[i]; i++) {
        const char *p = s->params[i];
        size_t n = strcspn(p, ":");
        if (n == 0 || (n == 5 && strncmp(p, "query", 5) == 0) ||
            (n == 7 && strncmp(p, "timeout", 7) == 0))
            return as_err_set(err, "'params' may not set query or timeout (the source sets them)"),
                   "params";
    }
    return NULL;
}

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct prometheus *s = state;
    struct as_node *e = as_node_get(map, "empty_as");
    s->has_empty_as = e != NULL && e->kind != AS_NODE_NULL;
    const char *bad = check(s, err);
    if (bad == NULL)
        return 0;
    return as_err_key(err, map, bad, "%s", err->msg);
}

/* query=...&timeout=...ms&params...: Prometheus gets 90 % of our timeout, so its own "query
 * timed out" reaches us before our deadline does. */
static int form(struct prometheus *s, struct as_sb *sb)
{
    int64_t t = s->ctx.timeout_ms - s->ctx.timeout_ms / 10;
    int rc = as_sb_puts(sb, "query=") | as_api_encode(sb, s->query) |
             as_sb_printf(sb, "&timeout=%lldms", (long long)(t > 0 ? t : 1));
    for (size_t i = 0; rc == 0 && s->params && s->params[i]; i++) {
        const char *p = s->params[i], *colon = strchr(p, ':');
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(colon - p), p);
        const char *value = colon + 1 + (colon[1] == ' ');
        rc = as_sb_puts(sb, "&") | as_api_encode(sb, name) | as_sb_puts(sb, "=") |
             as_api_encode(sb, value);
    }
    return rc ? -1 : 0;
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct prometheus *s = state;
    s->ctx = *ctx;
    struct as_sb u = {0}, q = {0};
    size_t base = strlen(s->url);
    while (base > 0 && s->url[base - 1] == '/')
        base--;
    if (as_sb_append(&u, s->url, base) < 0 || as_sb_puts(&u, "/api/v1/query") < 0 ||
        form(s, &q) < 0)
        goto oom;
    as_log_url(u.buf, s->log_url, sizeof(s->log_url));
    if (s->method == 0 && (as_sb_puts(&u, "?") < 0 || as_sb_puts(&u, q.buf) < 0))
        goto oom;
    s->req_url = u.buf;
    if (s->method == 1)
        s->req_body = q.buf;
    else
        as_sb_free(&q);
    if (s->token) {
        struct as_sb a = {0};
        if (as_sb_printf(&a, "Authorization: Bearer %s", s->token) < 0)
            return as_err_set(err, "out of memory");
        s->auth = a.buf;
    } else if (s->username && (s->auth = as_api_basic_auth(s->username, s->password, err)) == NULL)
        return -1;
    s->req_headers = as_api_headers(
        s->headers, "Accept: application/json", s->auth,
        s->method == 1 ? "Content-Type: application/x-www-form-urlencoded" : NULL, err);
    return s->req_headers ? 0 : -1;
oom:
    as_sb_free(&u);
    as_sb_free(&q);
    return as_err_set(err, "out of memory");
}

static void finish(struct prometheus *s, const struct as_measurement *m)
{
    if (m->ok)
        as_log_recovered(&s->fault, "source/prometheus[%s/%s]: measured again", s->ctx.group,
                         s->ctx.name);
    else
        as_log_fault(&s->fault, AS_ERROR, "source/prometheus[%s/%s]: %s: %s", s->ctx.group,
                     s->ctx.name, s->log_url, m->error);
    s->done(m, s->arg);
}

static void log_changes(struct prometheus *s, const struct as_prom_changes *ch, size_t n)
{
    const char *g = s->ctx.group, *name = s->ctx.name;
    char d[32];
    as_duration_fmt(s->forget_ms, d, sizeof(d));
    if (ch->appeared.n)
        AS_LOG(AS_INFO, "source/prometheus[%s/%s]: %zu new series (first %s), %zu in all", g, name,
               ch->appeared.n, ch->appeared.first, n);
    if (ch->returned.n)
        AS_LOG(AS_INFO, "source/prometheus[%s/%s]: %zu series back (first %s)", g, name,
               ch->returned.n, ch->returned.first);
    if (ch->vanished.n)
        AS_LOG(AS_WARN,
               "source/prometheus[%s/%s]: %zu series vanished (first %s): missing replicas "
               "until they return, for at most forget_after %s",
               g, name, ch->vanished.n, ch->vanished.first, d);
    if (ch->forgotten.n)
        AS_LOG(AS_INFO,
               "source/prometheus[%s/%s]: %zu series forgotten, no sample for forget_after %s "
               "(first %s)",
               g, name, ch->forgotten.n, d, ch->forgotten.first);
    if (ch->unusable.n)
        as_log_fault(&s->unusable, AS_WARN,
                     "source/prometheus[%s/%s]: %zu series with a NaN, infinite or negative "
                     "sample (first %s): missing replicas",
                     g, name, ch->unusable.n, ch->unusable.first);
    else
        as_log_recovered(&s->unusable, "source/prometheus[%s/%s]: every sample usable again", g,
                         name);
}

/* With replica_id_label, one series alone is a per-replica value too (a pod without a series is
 * then missing, as with several). */
static void one_series_replica(struct prometheus *s, struct as_measurement *m)
{
    if (!m->ok || m->per_replica != NULL || s->mem.n != 1 || !s->mem.v[0].present)
        return;
    if (s->mem.cap == 0) {
        struct as_replica_obs *r = calloc(1, sizeof(*r));
        if (r == NULL)
            return;
        s->mem.reps = r;
        s->mem.cap = 1;
    }
    s->mem.reps[0] = (struct as_replica_obs){
        .ok = 1, .value = m->value, .ready = 1, .age_ms = -1, .idle_ms = -1};
    m->nreplicas = 1;
    m->per_replica = s->mem.reps;
}

/* Each per-replica value's id: the value of replica_id_label in its series' labels ("" when the
 * series has none or a value too long for an id: it joins no replica). */
static void label_ids(struct prometheus *s, struct as_measurement *m)
{
    one_series_replica(s, m);
    if (m->per_replica != s->mem.reps || m->per_replica == NULL)
        return;
    for (size_t i = 0; i < m->nreplicas; i++) {
        json_t *labels = json_loads(s->mem.v[i].labels, 0, NULL);
        json_t *v = json_object_get(labels, s->id_label);
        struct as_replica_obs *r = &s->mem.reps[i];
        r->id[0] = '\0';
        if (json_is_string(v) && json_string_length(v) < sizeof(r->id))
            memcpy(r->id, json_string_value(v), json_string_length(v) + 1);
        json_decref(labels);
    }
}

/* The answer of a completed call (any status) as a measurement. */
static void evaluate(struct prometheus *s, const struct as_http_resp *r, struct as_measurement *m)
{
    struct as_prom_result res;
    struct as_prom_changes ch;
    struct as_err err;
    as_err_clear(&err);
    int parsed = as_prom_parse(r->body, r->len, AS_REPLICAS_MAX, &res, &err);
    if (r->status < 200 || r->status > 299) {
        char snip[81];
        snprintf(m->error, sizeof(m->error), "HTTP %ld: %s", r->status,
                 parsed < 0 && strncmp(err.msg, "Prometheus error", 16) == 0
                     ? err.msg
                     : as_api_snippet(r, snip, sizeof(snip)));
    } else if (parsed < 0) {
        snprintf(m->error, sizeof(m->error), "%s", err.msg);
    } else {
        if (res.nwarnings)
            as_log_fault(&s->warnings, AS_WARN, "source/prometheus[%s/%s]: %zu warning(s): %s",
                         s->ctx.group, s->ctx.name, res.nwarnings, res.warning);
        struct as_prom_eval_cfg cfg = {.aggregate = s->aggregate,
                                       .per_replica = s->per_replica,
                                       .forget_ms = s->forget_ms,
                                       .has_empty_as = s->has_empty_as,
                                       .empty_as = s->empty_as};
        if (as_prom_eval(&cfg, &s->mem, &res, as_loop_now(s->ctx.loop), m, &ch) < 0)
            snprintf(m->error, sizeof(m->error), "out of memory");
        else
            log_changes(s, &ch, s->mem.n);
        if (s->id_label)
            label_ids(s, m);
    }
    as_prom_result_free(&res);
}

static void on_response(const struct as_http_resp *r, void *arg)
{
    struct prometheus *s = arg;
    struct as_measurement m = {.ok = 0, .replicas = -1};
    s->call = NULL;
    if (!r->ok)
        as_api_transport_error(r, m.error, sizeof(m.error));
    else
        evaluate(s, r, &m);
    finish(s, &m);
}

static void measure(void *state, as_measure_cb done, void *arg)
{
    struct prometheus *s = state;
    struct as_http_req req = {
        .method = methods[s->method],
        .url = s->req_url,
        .owner = s->ctx.group,
        .headers = (const char *const *)s->req_headers,
        .body = s->req_body,
        .timeout_ms = s->ctx.timeout_ms,
        .insecure = s->insecure,
        .ca_file = s->ca_file,
    };
    s->done = done;
    s->arg = arg;
    s->call = as_http_start(s->ctx.http, &req, on_response, s);
    if (s->call == NULL) {
        struct as_measurement m = {.ok = 0, .replicas = -1};
        snprintf(m.error, sizeof(m.error), "cannot start the request");
        if (as_defer_measurement(s->ctx.loop, &s->deferred, done, &m, arg) < 0)
            AS_LOG(AS_ERROR, "source/prometheus[%s/%s]: out of memory", s->ctx.group, s->ctx.name);
    }
}

static void cancel(void *state)
{
    struct prometheus *s = state;
    as_http_cancel(s->call);
    s->call = NULL;
    as_defer_cancel(s->ctx.loop, &s->deferred);
}

static void stop(void *state)
{
    struct prometheus *s = state;
    if (s->ctx.loop)
        cancel(s);
    free(s->req_url);
    free(s->req_body);
    free(s->auth);
    free(s->req_headers);
    s->req_url = s->req_body = s->auth = NULL;
    s->req_headers = NULL;
    as_prom_memory_free(&s->mem);
}

const struct as_source_ops as_source_prometheus = {
    .name = "prometheus",
    .opts = opts,
    .state_size = sizeof(struct prometheus),
    .summary = "An instant PromQL query: a scalar, one series, or one per-replica value per "
               "series.",
    .validate = validate,
    .start = start,
    .measure = measure,
    .cancel = cancel,
    .stop = stop,
};
