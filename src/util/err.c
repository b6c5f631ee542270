#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
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
    if (err->file[0] != '\0')
        snprintf(buf, len, "%s:%d:%d: %s", err->file, err->line, err->col, err->msg);
    else
        snprintf(buf, len, "%s", err->msg);
    return buf;
}
