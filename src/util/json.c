#include "util/json.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

int as_json_pointer_check(const char *ptr, struct as_err *err)
{
    if (ptr[0] != '\0' && ptr[0] != '/')
        return as_err_set(err, "JSON pointer must be empty or start with '/'");
    for (const char *p = ptr; *p; p++)
        if (*p == '~' && p[1] != '0' && p[1] != '1')
            return as_err_set(err, "JSON pointer has '~' not followed by 0 or 1");
    return 0;
}

/* Decodes one reference token (~1 -> /, ~0 -> ~) from [s, end) into buf. */
static int decode_token(const char *s, const char *end, char *buf, size_t len)
{
    size_t o = 0;
    for (const char *p = s; p < end; p++) {
        char c = *p;
        if (c == '~') {
            c = p[1] == '1' ? '/' : '~';
            p++;
        }
        if (o + 1 >= len)
            return -1;
        buf[o++] = c;
    }
    buf[o] = '\0';
    return 0;
}

int as_json_array_index(const char *tok, size_t *out)
{
    if (tok[0] == '\0' || (tok[0] == '0' && tok[1] != '\0'))
        return -1;
    for (const char *p = tok; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    errno = 0;
    unsigned long long v = strtoull(tok, NULL, 10);
    if (errno != 0)
        return -1;
    *out = (size_t)v;
    return 0;
}

json_t *as_json_pointer(json_t *doc, const char *ptr, struct as_err *err)
{
    if (as_json_pointer_check(ptr, err) < 0)
        return NULL;
    json_t *cur = doc;
    const char *p = ptr;
    while (*p == '/') {
        const char *end = strchr(p + 1, '/');
        if (end == NULL)
            end = p + strlen(p);
        char tok[512];
        if (decode_token(p + 1, end, tok, sizeof(tok)) < 0) {
            as_err_set(err, "JSON pointer token too long");
            return NULL;
        }
        size_t idx;
        json_t *next = NULL;
        if (json_is_object(cur))
            next = json_object_get(cur, tok);
        else if (json_is_array(cur) && as_json_array_index(tok, &idx) == 0)
            next = json_array_get(cur, idx);
        if (next == NULL) {
            as_err_set(err, "JSON pointer %.*s not found", (int)(end - ptr), ptr);
            return NULL;
        }
        cur = next;
        p = end;
    }
    return cur;
}

json_t *as_json_load(const char *text, size_t len, struct as_err *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(
        text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
    if (doc == NULL)
        as_err_set(err, "not JSON (line %d column %d: %s)", jerr.line, jerr.column, jerr.text);
    return doc;
}

/* A decimal number and nothing else: [+-]digits[.digits][(e|E)[+-]digits]. */
static int decimal_syntax(const char *s)
{
    const char *p = s + (*s == '+' || *s == '-');
    const char *digits = p;
    while (*p >= '0' && *p <= '9')
        p++;
    if (p == digits)
        return 0;
    if (*p == '.') {
        digits = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == digits)
            return 0;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        p += *p == '+' || *p == '-';
        digits = p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == digits)
            return 0;
    }
    return *p == '\0';
}

static const char *kind(const json_t *v)
{
    return json_is_null(v)      ? "null"
           : json_is_string(v)  ? "a string"
           : json_is_boolean(v) ? "a boolean"
                                : "a container";
}

int as_json_number_at(json_t *doc, const char *ptr, unsigned flags, double *out, struct as_err *err)
{
    json_t *v = as_json_pointer(doc, ptr, err);
    if (v == NULL)
        return -1;
    double d;
    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v) && (flags & AS_JSON_NUMERIC_STRINGS)) {
        /* strtod alone would take hex, inf, nan and leading spaces: check the form first. */
        if (!decimal_syntax(json_string_value(v)) || as_parse_double(json_string_value(v), &d) < 0)
            return as_err_set(err, "value at %s is a string that is not a decimal number", ptr);
    } else {
        return as_err_set(err, "value at %s is %s, not a number", ptr, kind(v));
    }
    if (!isfinite(d))
        return as_err_set(err, "value at %s is not finite", ptr);
    *out = d;
    return 0;
}

int as_json_count_at(json_t *doc, const char *ptr, unsigned flags, int *out, struct as_err *err)
{
    double v;
    if (as_json_number_at(doc, ptr, flags, &v, err) < 0)
        return -1;
    return as_json_count_of(v, out, err);
}

int as_json_count_of(double v, int *out, struct as_err *err)
{
    if (v >= 0 && v <= INT_MAX && v == floor(v)) {
        *out = (int)v;
        return 0;
    }
    char text[64];
    /* Whole numbers in full ("3000000000", not "3e+09"), others as %g. */
    if (v == floor(v) && fabs(v) < 1e18)
        snprintf(text, sizeof(text), "%.0f", v);
    else
        snprintf(text, sizeof(text), "%g", v);
    if (v < 0)
        return as_err_set(err, "replica count %s is negative", text);
    if (v != floor(v))
        return as_err_set(err, "replica count %s is not a whole number", text);
    return as_err_set(err, "replica count %s is out of range (0..%d)", text, INT_MAX);
}

int as_json_parse_number(const char *text, size_t len, const char *ptr, double *out,
                         struct as_err *err)
{
    json_t *doc = as_json_load(text, len, err);
    if (doc == NULL)
        return -1;
    int rc = as_json_number_at(doc, ptr, AS_JSON_NUMBERS_ONLY, out, err);
    json_decref(doc);
    return rc;
}
