#include "drivers/replay.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "core/decide.h"
#include "util/numfmt.h"
#include "util/util.h"

#define AS_REPLAY_COLS 64
#define AS_REPLAY_LINE 8192
#define AS_REPLAY_JSON_LINE (16 * 1024 * 1024) /* bytes; a longer line is an error */
#define AS_REPLAY_MAX_REPLICAS 100000          /* per metric and line */
#define AS_REPLAY_MAX_T 1e12                   /* seconds: keeps t * 1000 exact in int64 */
#define AS_REPLAY_OUT (64 * 1024)              /* bytes of output gathered per write */

/* ---- what every format shares: one decision per row ---- */

struct run {
    const struct as_group_cfg *g;
    struct as_group_state st;
    FILE *out;
    int previous; /* the last decision: the current count of a row without one */
    int64_t start_ms;
    size_t olen; /* bytes in obuf, written out by out_flush */
    char obuf[AS_REPLAY_OUT];
};

static void out_flush(struct run *r)
{
    if (r->olen > 0)
        fwrite(r->obuf, 1, r->olen, r->out);
    r->olen = 0;
}

/* Room for n more bytes in obuf (n <= AS_REPLAY_OUT). */
static char *out_room(struct run *r, size_t n)
{
    if (AS_REPLAY_OUT - r->olen < n)
        out_flush(r);
    return r->obuf + r->olen;
}

static void out_mem(struct run *r, const char *s, size_t n)
{
    while (n > 0) {
        size_t k = n < AS_REPLAY_OUT ? n : AS_REPLAY_OUT;
        memcpy(out_room(r, k), s, k);
        r->olen += k, s += k, n -= k;
    }
}

static void out_int(struct run *r, int v)
{
    r->olen += as_fmt_i64(out_room(r, AS_NUMFMT_MAX), v);
}

/* s in double quotes, a quote in it doubled (RFC 4180). */
static void csv_quote(struct run *r, const char *s)
{
    out_mem(r, "\"", 1);
    const char *q = strchr(s, '"');
    for (; q != NULL; s = q + 1, q = strchr(s, '"')) {
        out_mem(r, s, (size_t)(q - s + 1));
        out_mem(r, "\"", 1);
    }
    out_mem(r, s, strlen(s));
    out_mem(r, "\"", 1);
}

/* Decides one row, writes it, and records the scale as done. replicas < 0: the previous
 * decision. t_text is copied verbatim to the output. */
static void emit(struct run *r, const char *t_text, double t, int replicas,
                 const struct as_metric_obs *obs, const struct as_replica_obs *workers,
                 size_t nworkers)
{
    struct as_obs o = {.now_ms = r->start_ms + (int64_t)llround(t * 1000.0),
                       .current = replicas >= 0 ? replicas : r->previous,
                       .n = r->g->nmetrics,
                       .m = obs,
                       .nworkers = nworkers,
                       .workers = workers};
    struct as_decision d;
    as_decide(r->g, &r->st, &o, &d);
    out_mem(r, t_text, strlen(t_text));
    out_mem(r, ",", 1);
    out_int(r, o.current);
    out_mem(r, ",", 1);
    out_int(r, d.desired);
    out_mem(r, ",", 1);
    csv_quote(r, d.reason);
    out_mem(r, "\n", 1);
    as_decide_scaled(r->g, &r->st, o.now_ms, o.current, d.desired);
    r->previous = d.desired;
}

static int t_ok(double t)
{
    return isfinite(t) && fabs(t) <= AS_REPLAY_MAX_T;
}

/* ---- CSV ---- */

/* Splits a CSV line in place (no quoting: recorded numbers only). Returns the cell count. */
static size_t split(char *line, char **cells, size_t max)
{
    size_t n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    char *p = line;
    while (n < max) {
        cells[n++] = p;
        char *comma = strchr(p, ',');
        if (comma == NULL)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    for (size_t i = 0; i < n; i++) { /* trim spaces */
        while (*cells[i] == ' ')
            cells[i]++;
        size_t len = strlen(cells[i]);
        while (len > 0 && cells[i][len - 1] == ' ')
            cells[i][--len] = '\0';
    }
    return n;
}

struct columns {
    int t, replicas;
    int metric[AS_REPLAY_COLS]; /* column of g->metrics[i] */
    size_t ncells;
};

static int map_header(const struct as_group_cfg *g, char *line, const char *name, int lineno,
                      struct columns *c, struct as_err *err)
{
    char *cells[AS_REPLAY_COLS];
    size_t n = split(line, cells, AS_REPLAY_COLS);
    c->t = c->replicas = -1;
    c->ncells = n;
    if (g->nmetrics > AS_REPLAY_COLS)
        return as_err_at(err, name, lineno, 1, "too many metrics for replay");
    for (size_t i = 0; i < g->nmetrics; i++)
        c->metric[i] = -1;
    for (size_t k = 0; k < n; k++) {
        if (strcmp(cells[k], "t") == 0)
            c->t = (int)k;
        else if (strcmp(cells[k], "replicas") == 0)
            c->replicas = (int)k;
        for (size_t i = 0; i < g->nmetrics; i++)
            if (strcmp(cells[k], g->metrics[i].name) == 0)
                c->metric[i] = (int)k;
    }
    if (c->t < 0)
        return as_err_at(err, name, lineno, 1, "the header has no 't' column");
    for (size_t i = 0; i < g->nmetrics; i++)
        if (c->metric[i] < 0)
            return as_err_at(err, name, lineno, 1, "the header has no column for metric '%s'",
                             g->metrics[i].name);
    return 0;
}

static int parse_row(const struct as_group_cfg *g, const struct columns *c, char **cells, size_t n,
                     struct as_metric_obs *obs, int *replicas, double *t)
{
    if (n != c->ncells || as_parse_double(cells[c->t], t) < 0 || !t_ok(*t))
        return -1;
    *replicas = -1;
    long r;
    if (c->replicas >= 0 && cells[c->replicas][0] != '\0') {
        if (as_parse_long(cells[c->replicas], &r) < 0 || r < 0 || r > 1000000000L)
            return -1;
        *replicas = (int)r;
    }
    for (size_t i = 0; i < g->nmetrics; i++) {
        const char *v = cells[c->metric[i]];
        double d;
        obs[i] = (struct as_metric_obs){0};
        if (v[0] == '\0' || strcmp(v, "null") == 0 || strcasecmp(v, "nan") == 0)
            continue; /* failed measurement */
        if (as_parse_double(v, &d) < 0)
            return -1;
        obs[i].ok = d >= 0; /* a negative reading is garbage, as in http_json */
        obs[i].value = d;
    }
    return 0;
}

static int replay_csv(struct run *r, FILE *in, const char *name, int lineno, struct as_err *err)
{
    char line[AS_REPLAY_LINE];
    struct columns c;
    struct as_metric_obs obs[AS_REPLAY_COLS];
    if (fgets(line, sizeof(line), in) == NULL)
        return as_err_at(err, name, lineno, 1,
                         "empty input: expected a header t,replicas,<metric>...");
    if (map_header(r->g, line, name, lineno, &c, err) < 0)
        return -1;
    fputs("t,current,desired,reason\n", r->out);
    for (lineno++; fgets(line, sizeof(line), in) != NULL; lineno++) {
        if (line[strspn(line, " \t\r\n")] == '\0')
            continue;
        char *cells[AS_REPLAY_COLS];
        size_t n = split(line, cells, AS_REPLAY_COLS);
        int replicas;
        double t = 0;
        if (parse_row(r->g, &c, cells, n, obs, &replicas, &t) < 0)
            return as_err_at(err, name, lineno, 1,
                             "bad row: expected %zu cells: t (seconds), "
                             "replicas (whole number or empty), metric values (number or empty)",
                             c.ncells);
        emit(r, cells[c.t], t, replicas, obs, NULL, 0);
    }
    if (ferror(in))
        return as_err_set(err, "%s: read error", name);
    return 0;
}

/* ---- JSON Lines ---- */

/* Per-replica storage for one line, reused across lines. */
struct rowbuf {
    struct as_metric_obs *obs;    /* g->nmetrics */
    struct as_replica_obs **reps; /* g->nmetrics arrays */
    size_t *cap;
    struct as_replica_obs *workers; /* the row's top-level `workers` */
    size_t nworkers, capworkers;
};

static int fail(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes the problem of a line to why. Returns -1. */
static int fail(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* Seconds (a JSON number >= 0) to ms. */
static int seconds_ms(json_t *v, int64_t *ms)
{
    if (!json_is_number(v) || json_number_value(v) < 0 || !t_ok(json_number_value(v)))
        return -1;
    *ms = (int64_t)llround(json_number_value(v) * 1000.0);
    return 0;
}

/* `request` (> 0: the replica's weight) and `usage` (instead of `value`: value = 100 * usage /
 * request, its utilization in percent) of a replica object. */
static int parse_request(json_t *j, struct as_replica_obs *r, json_t **v, int *usage, char *why,
                         size_t len)
{
    json_t *req = json_object_get(j, "request"), *use = json_object_get(j, "usage");
    if (req != NULL && !json_is_null(req) &&
        !(json_is_number(req) && json_number_value(req) > 0 && isfinite(json_number_value(req))))
        return fail(why, len, "'request' is a number > 0 or null");
    if (use != NULL && (req == NULL || *v != NULL))
        return fail(why, len, "'usage' needs 'request' and goes without 'value'");
    if (use != NULL && !json_is_null(use) && !json_is_number(use))
        return fail(why, len, "'usage' is a number or null");
    if (req != NULL) /* null: a pod without a request, where the others have one */
        r->weight = json_is_null(req) ? -1 : json_number_value(req);
    if (use != NULL)
        *v = use, *usage = 1;
    return 0;
}

/* One entry of a `replicas` list: a number, null (no sample), or {"value": number|null,
 * "ready": bool, "age_s": s, "idle_s": s, "request": number, "usage": number|null}. */
static int parse_replica(json_t *j, struct as_replica_obs *r, char *why, size_t len)
{
    *r = (struct as_replica_obs){.ok = 0, .ready = 1, .age_ms = -1, .idle_ms = -1};
    json_t *v = j;
    int usage = 0;
    if (json_is_object(j)) {
        const char *key;
        json_t *x;
        v = json_object_get(j, "value");
        json_object_foreach(j, key, x)
        {
            if (strcmp(key, "ready") == 0 && json_is_boolean(x))
                r->ready = json_is_true(x);
            else if (strcmp(key, "age_s") == 0 && seconds_ms(x, &r->age_ms) == 0)
                continue;
            else if (strcmp(key, "idle_s") == 0 && seconds_ms(x, &r->idle_ms) == 0)
                continue;
            else if (strcmp(key, "value") != 0 && strcmp(key, "request") != 0 &&
                     strcmp(key, "usage") != 0)
                return fail(why, len,
                            "replica key '%s': expected value (number or null), ready (true or "
                            "false), age_s or idle_s (seconds >= 0), request, usage",
                            key);
        }
        if (parse_request(j, r, &v, &usage, why, len) < 0)
            return -1;
    }
    if (v == NULL || json_is_null(v))
        return 0; /* no sample: a missing replica */
    if (!json_is_number(v))
        return fail(why, len, "a replica is a number, null or an object with 'value'");
    r->value = json_number_value(v);
    r->ok = r->value >= 0; /* a negative reading is garbage: no sample */
    if (r->ok && usage)    /* utilization in percent of the request (none: unknown) */
        r->value = r->weight > 0 ? 100.0 * r->value / r->weight : 0;
    return 0;
}

/* {"replicas": [...], "value": optional aggregate}: the aggregate defaults to the mean of the
 * ready replicas with a sample; with none of those the metric failed. */
static int parse_list(json_t *j, struct rowbuf *rb, size_t i, char *why, size_t len)
{
    struct as_metric_obs *o = &rb->obs[i];
    json_t *list = json_object_get(j, "replicas"), *agg = json_object_get(j, "value");
    if (json_object_size(j) != (size_t)(list != NULL) + (agg != NULL) || !json_is_array(list))
        return fail(why, len,
                    "a per-replica metric is {\"replicas\": [...]} with an optional "
                    "\"value\"");
    size_t n = json_array_size(list);
    if (n > AS_REPLAY_MAX_REPLICAS)
        return fail(why, len, "more than 100000 replicas");
    if (n > rb->cap[i]) {
        struct as_replica_obs *v = realloc(rb->reps[i], n * sizeof(*v));
        if (v == NULL)
            return fail(why, len, "out of memory");
        rb->reps[i] = v;
        rb->cap[i] = n;
    }
    double sum = 0, wsum = 0;
    int ready = 0, weighted = 0, unweighed = 0;
    for (size_t k = 0; k < n; k++) {
        struct as_replica_obs *r = &rb->reps[i][k];
        if (parse_replica(json_array_get(list, k), r, why, len) < 0)
            return -1;
        weighted |= r->weight != 0;
        unweighed |= !(r->weight > 0);
    }
    for (size_t k = 0; k < n; k++) { /* with requests, weighted by them (as the HPA) */
        const struct as_replica_obs *r = &rb->reps[i][k];
        double w = weighted ? r->weight : 1.0;
        if (r->ok && r->ready)
            sum += r->value * w, wsum += w, ready++;
    }
    /* A replica without a request among weighted ones: the HPA fails the metric. */
    *o = (struct as_metric_obs){.ok = ready > 0 && wsum > 0 && !(weighted && unweighed),
                                .value = wsum > 0 ? sum / wsum : 0,
                                .nreplicas = n,
                                .replicas = rb->reps[i]};
    if (agg != NULL && !json_is_null(agg)) {
        if (!json_is_number(agg))
            return fail(why, len, "'value' of a per-replica metric is a number or null");
        o->value = json_number_value(agg);
        o->ok = o->value >= 0;
    }
    return 0;
}

static int parse_metric(json_t *v, struct rowbuf *rb, size_t i, char *why, size_t len)
{
    struct as_metric_obs *o = &rb->obs[i];
    *o = (struct as_metric_obs){0};
    if (json_is_null(v))
        return 0; /* a failed measurement */
    if (json_is_number(v)) {
        o->value = json_number_value(v);
        o->ok = o->value >= 0; /* a negative reading is garbage, as in http_json */
        return 0;
    }
    if (json_is_object(v))
        return parse_list(v, rb, i, why, len);
    return fail(why, len, "a metric is a number, null (failed) or {\"replicas\": [...]}");
}

static int parse_metrics(const struct as_group_cfg *g, json_t *m, struct rowbuf *rb, char *why,
                         size_t len)
{
    if (!json_is_object(m))
        return fail(why, len, "'metrics' must be an object {\"<metric name>\": value, ...}");
    for (size_t i = 0; i < g->nmetrics; i++) {
        const char *name = g->metrics[i].name;
        json_t *v = json_object_get(m, name);
        if (v == NULL)
            return fail(why, len, "no value for metric '%s' (null marks a failed measurement)",
                        name);
        if (parse_metric(v, rb, i, why, len) < 0) {
            char detail[256];
            snprintf(detail, sizeof(detail), "%s", why);
            snprintf(why, len, "metric '%s': %s", name, detail);
            return -1;
        }
    }
    return 0;
}

/* `workers`: the replicas as the scaler saw them, [{"age_s": s, "idle_s": s}, ...]. */
static int parse_workers(json_t *list, struct rowbuf *rb, char *why, size_t len)
{
    rb->nworkers = 0;
    if (list == NULL)
        return 0;
    if (!json_is_array(list))
        return fail(why, len, "'workers' is a list of {\"age_s\": s, \"idle_s\": s}");
    size_t n = json_array_size(list);
    if (n > rb->capworkers) {
        struct as_replica_obs *v = realloc(rb->workers, n * sizeof(*v));
        if (v == NULL)
            return fail(why, len, "out of memory");
        rb->workers = v;
        rb->capworkers = n;
    }
    for (size_t k = 0; k < n; k++) {
        if (!json_is_object(json_array_get(list, k)) ||
            parse_replica(json_array_get(list, k), &rb->workers[k], why, len) < 0)
            return fail(why, len, "worker %zu: an object with age_s and/or idle_s", k);
        rb->workers[k].ok = rb->workers[k].ready = 1;
    }
    rb->nworkers = n;
    return 0;
}

/* The top-level keys: t (required), replicas, metrics (required), workers, note (ignored). */
static int parse_top(json_t *root, double *t, int *replicas, char *why, size_t len)
{
    const char *key;
    json_t *v;
    *replicas = -1;
    if (!json_is_number(json_object_get(root, "t")))
        return fail(why, len, "'t' (seconds, a number) is required");
    *t = json_number_value(json_object_get(root, "t"));
    if (!t_ok(*t))
        return fail(why, len, "'t' is out of range");
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "replicas") == 0) {
            if (json_is_null(v))
                continue;
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > 1000000000)
                return fail(why, len, "'replicas' is a whole number >= 0 or null");
            *replicas = (int)json_integer_value(v);
        } else if (strcmp(key, "t") != 0 && strcmp(key, "metrics") != 0 &&
                   strcmp(key, "note") != 0 && strcmp(key, "workers") != 0) {
            return fail(why, len, "unknown key '%s' (expected t, replicas, metrics, workers, note)",
                        key);
        }
    }
    return 0;
}

/* t as written: an integer as is, a real in the shortest form that reads back the same. */
static void t_text(json_t *t, char *buf, size_t len)
{
    if (json_is_integer(t)) {
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(t));
        return;
    }
    char tmp[AS_NUMFMT_MAX];
    as_fmt_double(tmp, json_real_value(t));
    snprintf(buf, len, "%s", tmp);
}

static int jsonl_row(struct run *r, const char *line, size_t n, struct rowbuf *rb, char *why,
                     size_t len)
{
    json_error_t je;
    json_t *root = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
    int rc = -1, replicas;
    double t = 0;
    if (root == NULL) {
        snprintf(why, len, "not valid JSON (column %d): %s", je.column, je.text);
        return -1;
    }
    if (!json_is_object(root)) {
        fail(why, len,
             "expected an object {\"t\": ..., \"replicas\": ..., \"metrics\": "
             "{...}}");
        goto out;
    }
    if (parse_top(root, &t, &replicas, why, len) < 0 ||
        parse_metrics(r->g, json_object_get(root, "metrics"), rb, why, len) < 0 ||
        parse_workers(json_object_get(root, "workers"), rb, why, len) < 0)
        goto out;
    char tbuf[64];
    t_text(json_object_get(root, "t"), tbuf, sizeof(tbuf));
    emit(r, tbuf, t, replicas, rb->obs, rb->workers, rb->nworkers);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static void rowbuf_free(struct rowbuf *rb, size_t n)
{
    for (size_t i = 0; rb->reps != NULL && i < n; i++)
        free(rb->reps[i]);
    free(rb->reps);
    free(rb->obs);
    free(rb->cap);
    free(rb->workers);
}

static int replay_jsonl(struct run *r, FILE *in, const char *name, int lineno, struct as_err *err)
{
    size_t n = r->g->nmetrics ? r->g->nmetrics : 1, cap = 0;
    struct rowbuf rb = {.obs = calloc(n, sizeof(*rb.obs)),
                        .reps = calloc(n, sizeof(*rb.reps)),
                        .cap = calloc(n, sizeof(*rb.cap))};
    char *line = NULL, why[AS_ERR_MAX - 64];
    ssize_t len;
    int rc = -1;
    if (rb.obs == NULL || rb.reps == NULL || rb.cap == NULL) {
        as_err_set(err, "out of memory");
        goto out;
    }
    fputs("t,current,desired,reason\n", r->out);
    for (; (len = getline(&line, &cap, in)) != -1; lineno++) {
        why[0] = '\0';
        if (line[strspn(line, " \t\r\n")] == '\0')
            continue;
        if (len > AS_REPLAY_JSON_LINE)
            snprintf(why, sizeof(why), "line longer than %d bytes", AS_REPLAY_JSON_LINE);
        if (why[0] != '\0' || jsonl_row(r, line, (size_t)len, &rb, why, sizeof(why)) < 0) {
            as_err_at(err, name, lineno, 1, "%s", why);
            goto out;
        }
    }
    rc = ferror(in) ? as_err_set(err, "%s: read error", name) : 0;
out:
    free(line);
    rowbuf_free(&rb, n);
    return rc;
}

/* ---- entry points ---- */

/* Skips leading white space (counting lines) and returns the first other character, pushed
 * back, or EOF. */
static int peek(FILE *in, int *lineno)
{
    int c;
    while ((c = getc(in)) != EOF && isspace(c))
        if (c == '\n')
            (*lineno)++;
    if (c != EOF)
        ungetc(c, in);
    return c;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

static enum as_replay_format detect(const char *name, int first)
{
    if (ends_with(name, ".jsonl") || ends_with(name, ".ndjson"))
        return AS_REPLAY_JSONL;
    if (ends_with(name, ".csv"))
        return AS_REPLAY_CSV;
    return first == '{' ? AS_REPLAY_JSONL : AS_REPLAY_CSV;
}

int as_replay(const struct as_group_cfg *g, FILE *in, const char *name,
              const struct as_replay_opts *opts, FILE *out, struct as_err *err)
{
    struct run r = {.g = g, .out = out, .previous = g->min};
    enum as_replay_format f = opts ? opts->format : AS_REPLAY_AUTO;
    int lineno = 1;
    r.start_ms = opts ? opts->start_ms : 0;
    int first = peek(in, &lineno);
    if (f == AS_REPLAY_AUTO)
        f = detect(name, first);
    int rc = f == AS_REPLAY_JSONL ? replay_jsonl(&r, in, name, lineno, err)
                                  : replay_csv(&r, in, name, lineno, err);
    out_flush(&r);
    as_group_state_free(&r.st);
    return rc;
}

int as_replay_csv(const struct as_group_cfg *g, FILE *in, const char *name, FILE *out,
                  struct as_err *err)
{
    struct as_replay_opts o = {.format = AS_REPLAY_CSV, .start_ms = 0};
    return as_replay(g, in, name, &o, out, err);
}

int as_replay_format_parse(const char *s, enum as_replay_format *out, struct as_err *err)
{
    if (strcmp(s, "csv") == 0)
        *out = AS_REPLAY_CSV;
    else if (strcmp(s, "jsonl") == 0)
        *out = AS_REPLAY_JSONL;
    else
        return as_err_set(err, "--format '%s': expected csv or jsonl", s);
    return 0;
}

/* ---- --start ---- */

/* Exactly n digits at *s, advanced. Returns the value or -1. */
static int digits(const char **s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*s)++) {
        if (!isdigit((unsigned char)**s))
            return -1;
        v = v * 10 + (**s - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[m - 1] + (m == 2 && leap);
}

/* Fraction ".ddd" (any number of digits) to ms, truncated; the offset "Z" or "+hh:mm". */
static int rfc3339_tail(const char *s, int64_t *frac_ms, int64_t *offset_ms)
{
    *frac_ms = 0;
    if (*s == '.') {
        int scale = 100, n = 0;
        for (s++; isdigit((unsigned char)*s); s++, n++, scale /= 10)
            *frac_ms += (*s - '0') * scale;
        if (n == 0)
            return -1;
    }
    if ((*s == 'Z' || *s == 'z') && s[1] == '\0') {
        *offset_ms = 0;
        return 0;
    }
    if (*s != '+' && *s != '-')
        return -1;
    int sign = *s++ == '-' ? -1 : 1, oh = digits(&s, 2);
    int om = *s == ':' ? (s++, digits(&s, 2)) : -1;
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || *s != '\0')
        return -1;
    *offset_ms = sign * ((int64_t)oh * 3600 + om * 60) * 1000;
    return 0;
}

static int parse_rfc3339(const char *s, int64_t *out)
{
    int y = digits(&s, 4), mo = *s == '-' ? (s++, digits(&s, 2)) : -1;
    int d = *s == '-' ? (s++, digits(&s, 2)) : -1;
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) ||
        (*s != 'T' && *s != 't' && *s != ' '))
        return -1;
    s++;
    int h = digits(&s, 2), mi = *s == ':' ? (s++, digits(&s, 2)) : -1;
    int sec = *s == ':' ? (s++, digits(&s, 2)) : -1;
    int64_t frac, offset;
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60 ||
        rfc3339_tail(s, &frac, &offset) < 0)
        return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    *out = secs * 1000 + frac - offset;
    return 0;
}

int as_replay_start_parse(const char *s, int64_t *out, struct as_err *err)
{
    double v;
    if (as_parse_double(s, &v) == 0) {
        if (v < 0 || v > 1e11)
            return as_err_set(err, "--start '%s': epoch seconds out of range", s);
        *out = (int64_t)llround(v * 1000.0);
        return 0;
    }
    if (parse_rfc3339(s, out) < 0)
        return as_err_set(err,
                          "--start '%s': expected epoch seconds or an RFC 3339 time such as "
                          "2024-03-01T08:00:00Z",
                          s);
    return 0;
}
