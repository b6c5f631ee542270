#include "util/numfmt.h"

#include <math.h>
#include <stdarg.h>
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

/* m (< 10^digits) as exactly `digits` digits, leading zeros kept; returns digits. */
static size_t put_digits(char *buf, uint64_t m, int digits)
{
    for (int i = digits - 1; i >= 0; i--, m /= 10)
        buf[i] = (char)('0' + m % 10);
    return (size_t)digits;
}

/* The nearest integer to the exact product a x 10^k (k in -1..10, a x 10^k < 2^52), in *m;
 * 0 when that product may be a tie (the caller asks snprintf, which rounds ties to even).
 * The multiplication (or division) rounds once, and rounding is monotonic: an exact product
 * below a tie n + 1/2 (a double here) comes out at most n + 1/2, one above it at least. So
 * the computed product is on the tie's side of the exact one, or on the tie itself. */
static int round_scaled(double a, int k, uint64_t *m)
{
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10};
    double y = k < 0 ? a / 10 : a * p10[k], f = y - floor(y);
    if (f == 0.5)
        return 0;
    *m = (uint64_t)(f < 0.5 ? floor(y) : floor(y) + 1);
    return 1;
}

size_t as_fmt_g(char *buf, double v)
{
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e6)) /* zeros, NaN, infinities and the exponent style */
        return v == 0 && !signbit(v) ? (size_t)(strcpy(buf, "0"), 1)
                                     : (size_t)snprintf(buf, AS_NUMFMT_MAX, "%g", v);
    /* x: the decimal exponent of a rounded to 6 digits, found from the rounded digits m
     * themselves (100000 <= m < 1000000): no log10, whose own rounding could be off by one. */
    static const double p10s[] = {1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100, 1e3, 1e4, 1e5}; /* 10^(i-4) */
    int x = -4;
    while (x < 5 && a >= p10s[x + 5])
        x++;
    uint64_t m = 0;
    for (int tries = 0;; tries++) {
        if (tries == 3 || !round_scaled(a, 5 - x, &m))
            return (size_t)snprintf(buf, AS_NUMFMT_MAX, "%g", v);
        if (m < 100000)
            x--;
        else if (m > 1000000)
            x++;
        else
            break;
    }
    if (m == 1000000) /* rounded up to the next power of ten */
        m = 100000, x++;
    if (x < -4 || x >= 6)
        return (size_t)snprintf(buf, AS_NUMFMT_MAX, "%g", v);
    char digits[6];
    put_digits(digits, m, 6);
    int nd = 6;
    while (nd > 1 && digits[nd - 1] == '0' && nd > x + 1)
        nd--;
    size_t len = 0;
    if (signbit(v))
        buf[len++] = '-';
    if (x >= 0) {
        memcpy(buf + len, digits, (size_t)x + 1);
        len += (size_t)x + 1;
        if (nd > x + 1) {
            buf[len++] = '.';
            memcpy(buf + len, digits + x + 1, (size_t)(nd - x - 1));
            len += (size_t)(nd - x - 1);
        }
    } else {
        buf[len++] = '0';
        buf[len++] = '.';
        for (int i = -1; i > x; i--)
            buf[len++] = '0';
        memcpy(buf + len, digits, (size_t)nd);
        len += (size_t)nd;
    }
    buf[len] = '\0';
    return len;
}

size_t as_fmt_f3(char *buf, double v)
{
    double a = fabs(v);
    uint64_t m = 0;
    if (!(a < 1e6) || !round_scaled(a, 3, &m))
        return (size_t)snprintf(buf, AS_NUMFMT_MAX, "%.3f", v);
    size_t len = 0;
    if (signbit(v))
        buf[len++] = '-';
    len += as_fmt_i64(buf + len, (int64_t)(m / 1000));
    buf[len++] = '.';
    len += put_digits(buf + len, m % 1000, 3);
    buf[len] = '\0';
    return len;
}

/* Copies what fits of s[0..n) at *at of buf[0..len - 1), and counts all of it. */
static void put(char *buf, size_t len, size_t *at, const char *s, size_t n)
{
    if (*at + 1 < len) {
        size_t room = len - 1 - *at;
        memcpy(buf + *at, s, n < room ? n : room);
    }
    *at += n;
}

/* Whether as_fmt writes fmt itself: only %s, %d, %g and %% as conversions, no flags. */
static int simple_format(const char *fmt)
{
    for (const char *p = strchr(fmt, '%'); p != NULL; p = strchr(p + 2, '%'))
        if (p[1] != 's' && p[1] != 'd' && p[1] != 'g' && p[1] != '%')
            return 0;
    return 1;
}

int as_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!simple_format(fmt)) {
        int n = vsnprintf(buf, len, fmt, ap);
        va_end(ap);
        return n;
    }
    size_t at = 0;
    char num[AS_NUMFMT_MAX];
    for (const char *p = fmt; *p != '\0';) {
        const char *pct = strchr(p, '%');
        size_t lit = pct != NULL ? (size_t)(pct - p) : strlen(p);
        put(buf, len, &at, p, lit);
        if (pct == NULL)
            break;
        switch (pct[1]) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            put(buf, len, &at, s, strlen(s));
            break;
        }
        case 'd':
            put(buf, len, &at, num, as_fmt_i64(num, va_arg(ap, int)));
            break;
        case 'g':
            put(buf, len, &at, num, as_fmt_g(num, va_arg(ap, double)));
            break;
        default: /* %% */
            put(buf, len, &at, "%", 1);
        }
        p = pct + 2;
    }
    va_end(ap);
    if (len > 0)
        buf[at < len ? at : len - 1] = '\0';
    return (int)at;
}
