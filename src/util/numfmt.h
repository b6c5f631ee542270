/* Fast number formatting for hot output paths (replay's CSV): no locale, no varargs.
 * Each writes into buf (at least AS_NUMFMT_MAX bytes), NUL-terminates it and returns the
 * length written, never more than AS_NUMFMT_MAX - 1. */
#ifndef AS_UTIL_NUMFMT_H
#define AS_UTIL_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

#define AS_NUMFMT_MAX 32

/* v in decimal, as printf("%" PRId64) writes it. */
size_t as_fmt_i64(char *buf, int64_t v);

/* The shortest of printf's "%.15g", "%.16g", "%.17g" that reads back (strtod) as exactly v;
 * the same text as that snprintf loop, about ten times faster for values with at most 15
 * significant digits in [1e-4, 1e15) (a decimal with up to 6 places: timestamps, counts).
 * Other values (and NaN, infinities, -0) go through snprintf. */
size_t as_fmt_double(char *buf, double v);

/* v as printf("%g", v) writes it (6 significant digits, trailing zeros dropped), and as
 * printf("%.3f", v): the same text, several times faster for values in [1e-4, 1e6) (for
 * %.3f, below 1e6) that do not round onto a tie; the rest go through snprintf.
 * For the decisions' reasons, formatted every round. */
size_t as_fmt_g(char *buf, double v);
size_t as_fmt_f3(char *buf, double v);

/* snprintf(buf, len, fmt, ...) for the conversions a decision's reason uses, %s, %d and %g
 * (through as_fmt_g), and %%: the same text and the same result (the length the whole text
 * would have), without glibc's general printf machinery. A format with any other conversion
 * goes to vsnprintf whole. */
int as_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
