#include "util/json.h"

#include <errno.h>
#include <math.h>
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

/* RFC 6901 array index: "0" or digits without a leading zero. */
static int array_index(const char *tok, size_t *out)
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
        else if (json_is_array(cur) && array_index(tok, &idx) == 0)
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

int as_json_number_at(json_t *doc, const char *ptr, double *out, struct as_err *err)
{
    json_t *v = as_json_pointer(doc, ptr, err);
    if (v == NULL)
        return -1;
    double d;
    if (json_is_number(v))
        d = json_number_value(v);
    else if (!json_is_string(v) || as_parse_double(json_string_value(v), &d) < 0)
        return as_err_set(err, "value at %s is %s, not a number", ptr,
                          json_is_null(v)      ? "null"
                          : json_is_string(v)  ? "a non-numeric string"
                          : json_is_boolean(v) ? "a boolean"
                                               : "a container");
    if (!isfinite(d))
        return as_err_set(err, "value at %s is not finite", ptr);
    *out = d;
    return 0;
}

int as_json_parse_number(const char *text, size_t len, const char *ptr, double *out,
                         struct as_err *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return as_err_set(err, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                          jerr.text);
    int rc = as_json_number_at(doc, ptr, out, err);
    json_decref(doc);
    return rc;
}
