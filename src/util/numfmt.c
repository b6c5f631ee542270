#include "util/numfmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t as_fmt_i64(char *buf, int64_t v)
{
    char tmp[AS_NUMFMT_MAX];
    size_t n = 0, len = 0;
    /* in unsigned arithmetic: -INT64_MIN does not fit an int64_t */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        buf[len++] = '-';
    while (n > 0)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}

static size_t slow_double(char *buf, double v)
{
    static const char *const fmts[] = {"%.15g", "%.16g", "%.17g"};
    int n = 0;
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        n = snprintf(buf, AS_NUMFMT_MAX, fmts[i], v);
        if (strtod(buf, NULL) == v || isnan(v))
            break;
    }
    return n < 0 ? 0 : (size_t)n;
}

/* v == m / 10^places exactly as strtod would read it, with m < 1e15: then "%.15g" of v is
 * that decimal (any decimal of at most 15 significant digits reads back to itself, DBL_DIG)
 * and no shorter text reads back as v at fewer places. */
size_t as_fmt_double(char *buf, double v)
{
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15)) /* NaN, infinities, zeros, tiny and huge: exponents */
        return v == 0 && !signbit(v) ? (size_t)(strcpy(buf, "0"), 1) : slow_double(buf, v);
    for (int places = 0; places <= 6; places++) {
        double scaled = a * p10[places];
        if (scaled >= 1e15)
            break;
        double m = nearbyint(scaled);
        if (m / p10[places] != a)
            continue;
        uint64_t um = (uint64_t)m, ip = um, fp = 0;
        for (int i = 0; i < places; i++)
            ip /= 10;
        fp = um - ip * (uint64_t)p10[places];
        size_t len = 0;
        if (v < 0)
            buf[len++] = '-';
        len += as_fmt_i64(buf + len, (int64_t)ip);
        if (places > 0) {
            buf[len++] = '.';
            for (int i = places - 1; i >= 0; i--, fp /= 10)
                buf[len + (size_t)i] = (char)('0' + fp % 10);
            len += (size_t)places;
        }
        buf[len] = '\0';
        return len;
    }
    return slow_double(buf, v);
}
