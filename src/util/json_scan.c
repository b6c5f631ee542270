#include "util/json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* as_json_scan_numbers: RFC 8259 as jansson reads it, without a tree (util/json.h).
 * What jansson (json_loadb with JSON_DECODE_ANY | JSON_REJECT_DUPLICATES |
 * JSON_DECODE_INT_AS_REAL) accepts: any value at the top and only whitespace (space, tab, CR,
 * LF) after it; numbers -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? read by strtod, the
 * document refused when one overflows; strings of valid UTF-8 (no overlong forms, no
 * surrogates, at most U+10FFFF) without control characters, escapes \" \\ \/ \b \f \n \r \t
 * and \uXXXX (not \u0000; surrogates only in pairs); no key twice in an object; at most 2048
 * levels. The scanner accepts a subset of that and gives up (0) on the rest. */

struct scan_ptr {
    char buf[256];                 /* the decoded reference tokens (~1 -> /, ~0 -> ~), each
                                      followed by a NUL */
    size_t at[AS_JSON_SCAN_DEPTH]; /* where token i starts in buf */
    size_t len[AS_JSON_SCAN_DEPTH];
    size_t index[AS_JSON_SCAN_DEPTH]; /* token i as an array index, or SIZE_MAX */
    int ntok;
    int matched; /* leading tokens the current path matches */
    int found;
    double value;
};

struct scan {
    const char *p, *end;
    struct scan_ptr *ptrs;
    size_t n;
};

static int split_pointer(const char *ptr, struct scan_ptr *sp)
{
    sp->ntok = 0;
    sp->matched = 0;
    sp->found = 0;
    if (ptr[0] != '\0' && ptr[0] != '/')
        return -1;
    size_t o = 0;
    for (const char *p = ptr; *p == '/';) {
        const char *end = strchr(p + 1, '/');
        if (end == NULL)
            end = p + strlen(p);
        if (sp->ntok == AS_JSON_SCAN_DEPTH)
            return -1;
        size_t start = o;
        for (const char *c = p + 1; c < end; c++) {
            char ch = *c;
            if (ch == '~') {
                if (c[1] != '0' && c[1] != '1')
                    return -1;
                ch = *++c == '1' ? '/' : '~';
            }
            if (o + 1 >= sizeof(sp->buf))
                return -1;
            sp->buf[o++] = ch;
        }
        sp->buf[o++] = '\0';
        int t = sp->ntok++;
        sp->at[t] = start;
        sp->len[t] = o - 1 - start;
        if (as_json_array_index(sp->buf + start, &sp->index[t]) < 0)
            sp->index[t] = SIZE_MAX;
        p = end;
    }
    return 0;
}

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

/* One UTF-8 sequence at p (first byte >= 0x80) as jansson checks it; its length, or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], v;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, v = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, v = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, v = c & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
        (n == 4 && (v < 0x10000 || v > 0x10ffff)))
        return 0;
    return n;
}

/* A string at s->p ('"'): its raw bytes in [*start, *start + *len), *escaped when it has
 * an escape. -1 on anything jansson refuses or this scanner does not read. */
static int scan_string(struct scan *s, const char **start, size_t *len, int *escaped)
{
    const char *p = s->p + 1;
    *start = p;
    *escaped = 0;
    for (;;) {
        if (p >= s->end)
            return -1;
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            *escaped = 1;
            if (p + 1 >= s->end)
                return -1;
            char e = p[1];
            if (e == 'u') {
                unsigned u;
                if (s->end - p < 6 || hex4(p + 2, &u) < 0 || u == 0 || (u >= 0xd800 && u <= 0xdfff))
                    return -1; /* \u0000 is refused; surrogate pairs left to jansson */
                p += 6;
            } else if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' &&
                       e != 'r' && e != 't') {
                return -1;
            } else {
                p += 2;
            }
        } else if (c >= 0x80) {
            size_t n = utf8_seq((const unsigned char *)p, (const unsigned char *)s->end);
            if (n == 0)
                return -1;
            p += n;
        } else {
            p++;
        }
    }
    *len = (size_t)(p - *start);
    s->p = p + 1;
    return 0;
}

static int is_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* A number at s->p, read by strtod as jansson reads it (-1 where jansson refuses it). */
static int scan_number(struct scan *s, double *out)
{
    const char *p = s->p, *end = s->end;
    if (p < end && *p == '-')
        p++;
    if (!is_digit(p, end))
        return -1;
    if (*p == '0') /* "01" is a 0 and then a 1 where a separator must come: refused there */
        p++;
    else
        while (is_digit(p, end))
            p++;
    if (p < end && *p == '.') {
        p++;
        if (!is_digit(p, end))
            return -1;
        while (is_digit(p, end))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!is_digit(p, end))
            return -1;
        while (is_digit(p, end))
            p++;
    }
    char buf[64];
    size_t n = (size_t)(p - s->p);
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, s->p, n);
    buf[n] = '\0';
    double v = strtod(buf, NULL);
    if (v == HUGE_VAL || v == -HUGE_VAL) /* jansson: "real number overflow" */
        return -1;
    *out = v;
    s->p = p;
    return 0;
}

static int scan_value(struct scan *s, int depth);

/* Enters the child of the container at depth whose reference token is key (kl bytes) or,
 * in an array, idx (key NULL). */
static void enter(struct scan *s, int depth, const char *key, size_t kl, size_t idx)
{
    for (size_t i = 0; i < s->n; i++) {
        struct scan_ptr *sp = &s->ptrs[i];
        if (sp->matched != depth || sp->ntok <= depth)
            continue;
        if (key != NULL ? sp->len[depth] == kl && memcmp(sp->buf + sp->at[depth], key, kl) == 0
                        : sp->index[depth] == idx)
            sp->matched = depth + 1;
    }
}

static void leave(struct scan *s, int depth)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->ptrs[i].matched > depth)
            s->ptrs[i].matched = depth;
}

/* Past the opening byte of a container and its whitespace: 1 when the closing byte follows
 * at once (and is read), else 0. */
static int empty_container(struct scan *s, char close)
{
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 1;
    }
    return 0;
}

/* A container's child at depth + 1 (entered as key, or as index idx in an array), then what
 * follows it: 1 after a ',' (another child comes), 0 after the closing byte, -1 on anything
 * else. */
static int child(struct scan *s, int depth, const char *key, size_t kl, size_t idx, char close)
{
    enter(s, depth, key, kl, idx);
    int rc = scan_value(s, depth + 1);
    leave(s, depth);
    if (rc < 0)
        return -1;
    skip_ws(s);
    if (s->p < s->end && *s->p == ',') {
        s->p++;
        skip_ws(s);
        return 1;
    }
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    return -1;
}

static int scan_object(struct scan *s, int depth)
{
    const char *keys[AS_JSON_SCAN_KEYS];
    size_t lens[AS_JSON_SCAN_KEYS], nkeys = 0;
    if (empty_container(s, '}'))
        return 0;
    int more = 1;
    while (more == 1) {
        const char *k;
        size_t kl;
        int escaped;
        if (s->p >= s->end || *s->p != '"' || scan_string(s, &k, &kl, &escaped) < 0 || escaped)
            return -1; /* a key with escapes: compared decoded, which jansson does */
        if (nkeys == AS_JSON_SCAN_KEYS)
            return -1;
        for (size_t i = 0; i < nkeys; i++)
            if (lens[i] == kl && memcmp(keys[i], k, kl) == 0)
                return -1; /* a duplicate key: jansson refuses the document */
        keys[nkeys] = k;
        lens[nkeys++] = kl;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return -1;
        s->p++;
        skip_ws(s);
        more = child(s, depth, k, kl, 0, '}');
    }
    return more;
}

static int scan_array(struct scan *s, int depth)
{
    if (empty_container(s, ']'))
        return 0;
    int more = 1;
    for (size_t idx = 0; more == 1; idx++)
        more = child(s, depth, NULL, 0, idx, ']');
    return more;
}

static int literal(struct scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

static int ends_here(const struct scan_ptr *sp, int depth)
{
    return sp->matched == depth && sp->ntok == depth;
}

/* The value at s->p (whitespace skipped), at depth; a pointer ending here takes it if it
 * is a number, and the scan gives up if it is anything else. */
static int scan_value(struct scan *s, int depth)
{
    if (depth >= AS_JSON_SCAN_DEPTH || s->p >= s->end)
        return -1;
    int target = 0; /* some pointer ends here (two may be alike) */
    for (size_t i = 0; i < s->n; i++)
        target |= ends_here(&s->ptrs[i], depth);
    char c = *s->p;
    if (c == '-' || (c >= '0' && c <= '9')) {
        double v;
        if (scan_number(s, &v) < 0)
            return -1;
        for (size_t i = 0; target && i < s->n; i++)
            if (ends_here(&s->ptrs[i], depth)) {
                s->ptrs[i].found = 1;
                s->ptrs[i].value = v;
            }
        return 0;
    }
    if (target)
        return -1; /* not a number: the jansson path says what it is */
    switch (c) {
    case '{':
        return scan_object(s, depth);
    case '[':
        return scan_array(s, depth);
    case '"': {
        const char *str;
        size_t len;
        int escaped;
        return scan_string(s, &str, &len, &escaped);
    }
    case 't':
        return literal(s, "true", 4);
    case 'f':
        return literal(s, "false", 5);
    case 'n':
        return literal(s, "null", 4);
    default:
        return -1;
    }
}

int as_json_scan_numbers(const char *text, size_t len, const char *const *ptrs, size_t n,
                         double *out)
{
    struct scan_ptr sp[AS_JSON_SCAN_MAX];
    if (n > AS_JSON_SCAN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (split_pointer(ptrs[i], &sp[i]) < 0)
            return 0;
    struct scan s = {.p = text, .end = text + len, .ptrs = sp, .n = n};
    skip_ws(&s);
    if (scan_value(&s, 0) < 0)
        return 0;
    skip_ws(&s);
    if (s.p != s.end)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!sp[i].found || !isfinite(sp[i].value))
            return 0;
        out[i] = sp[i].value;
    }
    return 1;
}
