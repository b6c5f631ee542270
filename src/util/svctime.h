/* A response time written in an HTTP response header by the server itself: the whole value
 * (`X-Response-Time: 350ms`, `12.5 ms`, `X-Runtime: 0.35` with a unit for bare numbers) or one
 * key=value pair of a list (Heroku's router style `connect=1ms service=350ms status=200`).
 *
 * The grammar is strict; anything else is an error, never a guess:
 *   time   = number [ *WSP unit ]        number = 1*15DIGIT [ "." 1*9DIGIT ]
 *   unit   = "us" / "ms" / "s"           (lowercase; no sign, exponent, inf or nan)
 *   whole  = *WSP time *WSP
 *   list   = items separated by runs of space, tab, "," or ";"; an item is a bare word or
 *            key=value, the value a plain word or a "quoted string" (with \ escapes); the key
 *            must appear exactly once and its value must be a plain time.
 * A bare number (no unit) is taken only when the caller names its unit. Control bytes
 * (except tab) anywhere are an error. Never allocates. */
#ifndef AS_SVCTIME_H
#define AS_SVCTIME_H

#include <stddef.h>

enum as_time_unit { AS_UNIT_NONE = 0, AS_UNIT_US, AS_UNIT_MS, AS_UNIT_S };

/* NULL-terminated names in enum order ("none", "us", "ms", "s"), for option tables. */
extern const char *const as_time_unit_names[];

/* Parses the len bytes at value: the whole value when key is NULL, else the value of key=
 * in a list. A number without a unit takes bare_unit (AS_UNIT_NONE: an error). Returns 0 with
 * *ms set (finite, >= 0), or -1 with *why set to a static reason. */
int as_svctime_parse(const char *value, size_t len, const char *key, enum as_time_unit bare_unit,
                     double *ms, const char **why);

#endif
