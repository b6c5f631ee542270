/* Traffic traces: `t_seconds,requests_per_second` CSV (traces/README.md). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"
#include "util/util.h"

#define TRACE_ROWS_MAX 100000000 /* rows: 3 years at one a second */
#define TRACE_T_MAX 1e11         /* seconds */
#define TRACE_FILE_MAX (1024L * 1024 * 1024)

void as_sim_trace_free(struct as_sim_trace *tr)
{
    if (tr == NULL)
        return;
    free(tr->t);
    free(tr->rps);
    memset(tr, 0, sizeof(*tr));
}

static int grow(struct as_sim_trace *tr, size_t *cap)
{
    if (tr->n < *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 1024;
    double *t = realloc(tr->t, n * sizeof(*t));
    if (t == NULL)
        return -1;
    tr->t = t;
    double *r = realloc(tr->rps, n * sizeof(*r));
    if (r == NULL)
        return -1;
    tr->rps = r;
    *cap = n;
    return 0;
}

/* One data line, [s, e): "T,RATE" with optional spaces around each cell and a final \r. */
static int parse_line(const char *s, const char *e, double *t, double *rps)
{
    char buf[128];
    size_t len = (size_t)(e - s);
    while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *comma = strchr(buf, ',');
    if (comma == NULL || strchr(comma + 1, ',') != NULL)
        return -1;
    *comma = '\0';
    char *a = buf, *b = comma + 1;
    while (*a == ' ' || *a == '\t')
        a++;
    while (*b == ' ' || *b == '\t')
        b++;
    size_t alen = strlen(a);
    while (alen > 0 && (a[alen - 1] == ' ' || a[alen - 1] == '\t'))
        a[--alen] = '\0';
    if (as_parse_double(a, t) < 0 || as_parse_double(b, rps) < 0)
        return -1;
    return 0;
}

static int add_row(struct as_sim_trace *tr, size_t *cap, double t, double rps, const char *name,
                   int lineno, struct as_err *err)
{
    if (!isfinite(t) || fabs(t) > TRACE_T_MAX)
        return as_err_at(err, name, lineno, 1, "t_seconds out of range");
    if (!isfinite(rps) || rps < 0 || rps > 1e15)
        return as_err_at(err, name, lineno, 1,
                         "requests_per_second must be a number >= 0 (at most 1e15)");
    if (tr->n > 0 && !(t > tr->t[tr->n - 1]))
        return as_err_at(err, name, lineno, 1, "t_seconds must increase from row to row");
    if (tr->n >= TRACE_ROWS_MAX)
        return as_err_at(err, name, lineno, 1, "more than %d rows", TRACE_ROWS_MAX);
    if (grow(tr, cap) < 0)
        return as_err_set(err, "out of memory");
    tr->t[tr->n] = t;
    tr->rps[tr->n] = rps;
    tr->n++;
    return 0;
}

static void set_step(struct as_sim_trace *tr)
{
    double step = 0;
    for (size_t i = 1; i < tr->n; i++)
        if (step == 0 || tr->t[i] - tr->t[i - 1] < step)
            step = tr->t[i] - tr->t[i - 1];
    tr->step_s = step > 0 ? step : 1;
}

int as_sim_trace_parse(const char *text, size_t len, const char *name, struct as_sim_trace *tr,
                       struct as_err *err)
{
    memset(tr, 0, sizeof(*tr));
    size_t cap = 0;
    int lineno = 0, header = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        lineno++;
        const char *q = p;
        while (q < e && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < e && *q != '#') {
            double t, rps;
            if (!header) {
                header = 1;
                if (parse_line(q, e, &t, &rps) < 0) /* a header line; a first row of numbers */
                    goto next;                      /* is taken as data */
            } else if (parse_line(q, e, &t, &rps) < 0) {
                as_err_at(err, name, lineno, 1,
                          "bad row: expected t_seconds,requests_per_second (two numbers)");
                goto fail;
            }
            if (add_row(tr, &cap, t, rps, name, lineno, err) < 0)
                goto fail;
        }
    next:
        p = nl ? nl + 1 : end;
    }
    if (tr->n == 0) {
        as_err_at(err, name, lineno > 0 ? lineno : 1, 1,
                  "no rows: expected a header and lines t_seconds,requests_per_second");
        goto fail;
    }
    set_step(tr);
    return 0;
fail:
    as_sim_trace_free(tr);
    return -1;
}

int as_sim_trace_load(const char *path, struct as_sim_trace *tr, struct as_err *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;
    memset(tr, 0, sizeof(*tr));
    if (f == NULL)
        return as_err_set(err, "%s: %s", path, strerror(errno));
    for (;;) {
        if (len == cap) {
            size_t n = cap ? cap * 2 : 65536;
            char *b = (long)n <= TRACE_FILE_MAX ? realloc(buf, n) : NULL;
            if (b == NULL) {
                as_err_set(err, "%s: too large or out of memory", path);
                goto out;
            }
            buf = b;
            cap = n;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        as_err_set(err, "%s: read error", path);
        goto out;
    }
    rc = as_sim_trace_parse(buf, len, path, tr, err);
out:
    free(buf);
    if (f != stdin)
        fclose(f);
    return rc;
}
