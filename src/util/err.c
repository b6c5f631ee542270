#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void as_err_clear(struct as_err *err)
{
    memset(err, 0, sizeof(*err));
}

static void vset(struct as_err *err, const char *fmt, va_list ap)
{
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int as_err_set(struct as_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vset(err, fmt, ap);
    va_end(ap);
    err->file[0] = '\0';
    err->line = err->col = 0;
    return -1;
}

int as_err_at(struct as_err *err, const char *file, int line, int col, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vset(err, fmt, ap);
    va_end(ap);
    snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
    err->line = line;
    err->col = col;
    return -1;
}

const char *as_err_str(const struct as_err *err, char *buf, size_t len)
{
    if (err->file[0] != '\0' && err->line == 0)
        snprintf(buf, len, "%s: %s", err->file, err->msg);
    else if (err->file[0] != '\0')
        snprintf(buf, len, "%s:%d:%d: %s", err->file, err->line, err->col, err->msg);
    else
        snprintf(buf, len, "%s", err->msg);
    return buf;
}

static int same_err(const struct as_err *a, const struct as_err *b)
{
    return a->line == b->line && a->col == b->col && strcmp(a->file, b->file) == 0 &&
           strcmp(a->msg, b->msg) == 0;
}

int as_errs_add(struct as_errs *l, const struct as_err *err)
{
    if (l->n + l->dropped > 0 && same_err(&l->last, err))
        return 0;
    l->last = *err;
    if (l->n >= AS_ERRS_KEEP) {
        l->dropped++;
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct as_err *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *err;
    return 0;
}

static int by_position(const struct as_err *a, const struct as_err *b)
{
    int c = strcmp(a->file, b->file);
    if (c != 0)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->col < b->col ? -1 : a->col > b->col;
}

struct ranked {
    const struct as_err *e;
    size_t found; /* ties keep the order errors were found in */
};

static int cmp_ranked(const void *x, const void *y)
{
    const struct ranked *a = x, *b = y;
    int c = by_position(a->e, b->e);
    return c != 0 ? c : a->found < b->found ? -1 : a->found > b->found;
}

void as_errs_sort(struct as_errs *l)
{
    struct ranked *r = l->n > 1 ? malloc(l->n * sizeof(*r)) : NULL;
    struct as_err *v = l->n > 1 ? malloc(l->n * sizeof(*v)) : NULL;
    if (r == NULL || v == NULL) { /* one error, or no memory: leave the order found */
        free(r);
        free(v);
        return;
    }
    for (size_t i = 0; i < l->n; i++)
        r[i] = (struct ranked){&l->v[i], i};
    qsort(r, l->n, sizeof(*r), cmp_ranked);
    size_t w = 0;
    for (size_t i = 0; i < l->n; i++) {
        int dup = 0;
        for (size_t k = w; k > 0 && !dup && by_position(&v[k - 1], r[i].e) == 0; k--)
            dup = same_err(&v[k - 1], r[i].e);
        if (!dup)
            v[w++] = *r[i].e;
    }
    free(r);
    free(l->v);
    l->v = v;
    l->cap = l->n;
    l->n = w;
}

void as_errs_free(struct as_errs *l)
{
    free(l->v);
    *l = (struct as_errs){0};
}
