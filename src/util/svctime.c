#include "util/svctime.h"

#include <string.h>

#include "util/util.h"

const char *const as_time_unit_names[] = {"none", "us", "ms", "s", NULL};

#define INT_DIGITS_MAX 15
#define FRAC_DIGITS_MAX 9

static int fail(const char **why, const char *text)
{
    *why = text;
    return -1;
}

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static int is_sep(char c)
{
    return is_wsp(c) || c == ',' || c == ';';
}

static int is_ctl(char c)
{
    unsigned char u = (unsigned char)c;
    return (u < 0x20 && c != '\t') || u == 0x7f;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads the digits of a number at s[*i..n) into buf. Returns the count, or -1 past max. */
static int digits(const char *s, size_t n, size_t *i, char *buf, size_t *blen, int max)
{
    int count = 0;
    while (*i < n && is_digit(s[*i])) {
        if (++count > max)
            return -1;
        buf[(*blen)++] = s[(*i)++];
    }
    return count;
}

/* The unit at s[0..n), which must be the whole rest. */
static enum as_time_unit unit_of(const char *s, size_t n)
{
    if (n == 1 && s[0] == 's')
        return AS_UNIT_S;
    if (n == 2 && s[1] == 's' && (s[0] == 'm' || s[0] == 'u'))
        return s[0] == 'm' ? AS_UNIT_MS : AS_UNIT_US;
    return AS_UNIT_NONE;
}

/* time = number [ *WSP unit ], the whole of s[0..n). */
static int parse_time(const char *s, size_t n, enum as_time_unit bare, double *ms, const char **why)
{
    char buf[INT_DIGITS_MAX + FRAC_DIGITS_MAX + 2];
    size_t i = 0, blen = 0;
    int d = digits(s, n, &i, buf, &blen, INT_DIGITS_MAX);
    if (d < 0)
        return fail(why, "number has too many digits");
    if (d == 0)
        return fail(why, "not a number");
    if (i < n && s[i] == '.') {
        buf[blen++] = s[i++];
        d = digits(s, n, &i, buf, &blen, FRAC_DIGITS_MAX);
        if (d < 0)
            return fail(why, "number has too many decimals");
        if (d == 0)
            return fail(why, "no digit after the decimal point");
    }
    buf[blen] = '\0';
    while (i < n && is_wsp(s[i]))
        i++;
    enum as_time_unit unit = bare;
    if (i < n) {
        unit = unit_of(s + i, n - i);
        if (unit == AS_UNIT_NONE)
            return fail(why, "unit is not us, ms or s");
    } else if (unit == AS_UNIT_NONE) {
        return fail(why, "number has no unit (us, ms or s)");
    }
    double v;
    if (as_parse_double(buf, &v) < 0)
        return fail(why, "not a number");
    *ms = unit == AS_UNIT_US ? v / 1000 : unit == AS_UNIT_S ? v * 1000 : v;
    return 0;
}

static int check_ctl(const char *s, size_t n, const char **why)
{
    for (size_t i = 0; i < n; i++)
        if (is_ctl(s[i]))
            return fail(why, "control character in the value");
    return 0;
}

/* Skips a quoted string starting at s[*i] == '"'. */
static int skip_quoted(const char *s, size_t n, size_t *i, const char **why)
{
    for ((*i)++; *i < n && s[*i] != '"'; (*i)++)
        if (s[*i] == '\\' && ++(*i) == n)
            break;
    if (*i >= n)
        return fail(why, "unterminated quoted string");
    (*i)++;
    return 0;
}

/* One item at s[*i] (not a separator): its key [kb, ke) and plain value [vb, ve) (vb == ve
 * with *has_value 0 for a bare word, *quoted for a quoted value). */
struct item {
    size_t kb, ke, vb, ve;
    int has_value, quoted;
};

static int next_item(const char *s, size_t n, size_t *i, struct item *it, const char **why)
{
    memset(it, 0, sizeof(*it));
    it->kb = *i;
    while (*i < n && !is_sep(s[*i]) && s[*i] != '=' && s[*i] != '"')
        (*i)++;
    it->ke = *i;
    if (*i < n && s[*i] == '"')
        return fail(why, "quote inside a key");
    if (it->ke == it->kb)
        return fail(why, "empty key before '='");
    if (*i < n && s[*i] == '=') {
        it->has_value = 1;
        (*i)++;
        it->vb = *i;
        if (*i < n && s[*i] == '"') {
            it->quoted = 1;
            if (skip_quoted(s, n, i, why) < 0)
                return -1;
        } else {
            while (*i < n && !is_sep(s[*i]) && s[*i] != '=' && s[*i] != '"')
                (*i)++;
        }
        it->ve = *i;
    }
    if (*i < n && !is_sep(s[*i]))
        return fail(why, "stray '=' or quote");
    return 0;
}

static int parse_list(const char *s, size_t n, const char *key, enum as_time_unit bare, double *ms,
                      const char **why)
{
    size_t klen = strlen(key), i = 0;
    struct item it, found = {0};
    int seen = 0;
    while (i < n) {
        while (i < n && is_sep(s[i]))
            i++;
        if (i == n)
            break;
        if (next_item(s, n, &i, &it, why) < 0)
            return -1;
        if (it.ke - it.kb != klen || memcmp(s + it.kb, key, klen) != 0)
            continue;
        if (seen++)
            return fail(why, "key appears more than once");
        found = it;
    }
    if (!seen)
        return fail(why, "key not found");
    if (!found.has_value || found.quoted || found.vb == found.ve)
        return fail(why, "key has no plain value");
    return parse_time(s + found.vb, found.ve - found.vb, bare, ms, why);
}

int as_svctime_parse(const char *value, size_t len, const char *key, enum as_time_unit bare_unit,
                     double *ms, const char **why)
{
    if (check_ctl(value, len, why) < 0)
        return -1;
    if (key != NULL)
        return parse_list(value, len, key, bare_unit, ms, why);
    size_t b = 0, e = len;
    while (b < e && is_wsp(value[b]))
        b++;
    while (e > b && is_wsp(value[e - 1]))
        e--;
    if (b == e)
        return fail(why, "empty value");
    return parse_time(value + b, e - b, bare_unit, ms, why);
}
