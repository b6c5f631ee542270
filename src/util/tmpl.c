#include "util/tmpl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum node_kind { N_TEXT, N_VAR, N_IF, N_UNLESS, N_END };

struct node {
    enum node_kind kind;
    size_t off, len; /* the text (N_TEXT) or the name, in t->text */
    size_t end;      /* N_IF, N_UNLESS: index of the matching N_END */
};

struct as_tmpl {
    char *text;
    size_t n;
    struct node nodes[];
};

struct parser {
    const char *s;
    size_t len;
    as_tmpl_known_fn known;
    struct node *nodes;
    size_t n;
    size_t open[AS_TMPL_DEPTH]; /* indexes of the open sections */
    int depth;
    size_t *pos;
    char *msg;
    size_t msglen;
};

static int fail(struct parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, size_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, p->msglen, fmt, ap);
    va_end(ap);
    *p->pos = at;
    return -1;
}

static int add(struct parser *p, enum node_kind kind, size_t off, size_t len, size_t at)
{
    if (p->n >= AS_TMPL_NODES_MAX)
        return fail(p, at, "more than %d text runs and tags", AS_TMPL_NODES_MAX);
    p->nodes[p->n++] = (struct node){kind, off, len, 0};
    return 0;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* A name from b to e (spaces around it allowed): its start and length. */
static int take_name(struct parser *p, size_t b, size_t e, size_t *off, size_t *len)
{
    while (b < e && is_space(p->s[b]))
        b++;
    while (e > b && is_space(p->s[e - 1]))
        e--;
    if (b == e)
        return fail(p, b, "a tag without a name");
    for (size_t i = b; i < e; i++)
        if (!name_char(p->s[i]))
            return fail(p, i, "'%c' in a name (names are letters, digits, _ . -)",
                        p->s[i] >= 0x20 && p->s[i] < 0x7f ? p->s[i] : '?');
    if (p->known && !p->known(p->s + b, e - b))
        return fail(p, b, "unknown field '%.*s'", (int)(e - b), p->s + b);
    *off = b;
    *len = e - b;
    return 0;
}

static int open_section(struct parser *p, enum node_kind kind, size_t off, size_t len, size_t at)
{
    if (p->depth >= AS_TMPL_DEPTH)
        return fail(p, at, "sections nested more than %d deep", AS_TMPL_DEPTH);
    if (add(p, kind, off, len, at) < 0)
        return -1;
    p->open[p->depth++] = p->n - 1;
    return 0;
}

static int close_section(struct parser *p, size_t off, size_t len, size_t at)
{
    if (p->depth == 0)
        return fail(p, at, "{{/%.*s}} closes no section", (int)len, p->s + off);
    struct node *o = &p->nodes[p->open[p->depth - 1]];
    if (o->len != len || memcmp(p->s + o->off, p->s + off, len) != 0)
        return fail(p, at, "{{/%.*s}} closes the section {{%c%.*s}}", (int)len, p->s + off,
                    o->kind == N_IF ? '#' : '^', (int)o->len, p->s + o->off);
    if (add(p, N_END, off, len, at) < 0)
        return -1;
    o->end = p->n - 1;
    p->depth--;
    return 0;
}

/* The tag whose "{{" is at b and whose "}}" is at e. */
static int tag(struct parser *p, size_t b, size_t e)
{
    size_t in = b + 2, off, len;
    while (in < e && is_space(p->s[in]))
        in++;
    char c = in < e ? p->s[in] : '\0';
    if (c == '!')
        return 0;
    if (c == '"') {
        size_t q = e;
        while (q > in + 1 && is_space(p->s[q - 1]))
            q--;
        if (q <= in + 1 || p->s[q - 1] != '"')
            return fail(p, in, "a quoted tag must end with '\"'");
        return add(p, N_TEXT, in + 1, q - 1 - (in + 1), b);
    }
    if (c == '#' || c == '^' || c == '/') {
        if (take_name(p, in + 1, e, &off, &len) < 0)
            return -1;
        if (c == '/')
            return close_section(p, off, len, b);
        return open_section(p, c == '#' ? N_IF : N_UNLESS, off, len, b);
    }
    if (take_name(p, in, e, &off, &len) < 0)
        return -1;
    return add(p, N_VAR, off, len, b);
}

/* The "}}" that ends the tag starting at b ("{{"), skipping a quoted text. */
static const char *tag_end(const struct parser *p, size_t b)
{
    const char *in = p->s + b + 2;
    while (*in == ' ' || *in == '\t')
        in++;
    if (*in == '"') {
        const char *q = strchr(in + 1, '"');
        while (q != NULL) {
            const char *after = q + 1;
            while (*after == ' ' || *after == '\t')
                after++;
            if (after[0] == '}' && after[1] == '}')
                return after;
            q = strchr(q + 1, '"');
        }
        return NULL;
    }
    return strstr(in, "}}");
}

static int parse(struct parser *p)
{
    size_t i = 0;
    while (i < p->len) {
        const char *open = strstr(p->s + i, "{{");
        size_t b = open ? (size_t)(open - p->s) : p->len;
        if (b > i && add(p, N_TEXT, i, b - i, i) < 0)
            return -1;
        if (open == NULL)
            break;
        const char *close = tag_end(p, b);
        if (close == NULL)
            return fail(p, b, "'{{' without '}}'");
        if (tag(p, b, (size_t)(close - p->s)) < 0)
            return -1;
        i = (size_t)(close - p->s) + 2;
    }
    if (p->depth > 0) {
        const struct node *o = &p->nodes[p->open[p->depth - 1]];
        return fail(p, o->off, "the section {{%c%.*s}} is not closed", o->kind == N_IF ? '#' : '^',
                    (int)o->len, p->s + o->off);
    }
    return 0;
}

int as_tmpl_compile(const char *text, as_tmpl_known_fn known, struct as_tmpl **out, size_t *pos,
                    char *msg, size_t msglen)
{
    size_t len = strlen(text);
    struct parser p = {
        .s = text, .len = len, .known = known, .pos = pos, .msg = msg, .msglen = msglen};
    *out = NULL;
    if (len > AS_TMPL_TEXT_MAX)
        return fail(&p, AS_TMPL_TEXT_MAX, "longer than %d bytes", AS_TMPL_TEXT_MAX);
    p.nodes = malloc(AS_TMPL_NODES_MAX * sizeof(*p.nodes));
    if (p.nodes == NULL)
        return fail(&p, 0, "out of memory");
    if (parse(&p) < 0) {
        free(p.nodes);
        return -1;
    }
    struct as_tmpl *t = malloc(sizeof(*t) + p.n * sizeof(t->nodes[0]));
    char *copy = t ? strdup(text) : NULL;
    if (copy == NULL) {
        free(t);
        free(p.nodes);
        return fail(&p, 0, "out of memory");
    }
    t->text = copy;
    t->n = p.n;
    if (p.n > 0)
        memcpy(t->nodes, p.nodes, p.n * sizeof(t->nodes[0]));
    free(p.nodes);
    *out = t;
    return 0;
}

/* Appends at most what is left of AS_TMPL_OUT_MAX. */
static int put(struct as_sb *out, size_t start, const char *s, size_t n)
{
    size_t used = out->len - start;
    if (used >= AS_TMPL_OUT_MAX)
        return 0;
    if (n > AS_TMPL_OUT_MAX - used)
        n = AS_TMPL_OUT_MAX - used;
    return n > 0 ? as_sb_append(out, s, n) : 0;
}

static int truthy(const char *v)
{
    return v[0] != '\0' && strcmp(v, "0") != 0;
}

int as_tmpl_render(const struct as_tmpl *t, as_tmpl_value_fn value, void *arg, struct as_sb *out)
{
    char buf[4096];
    size_t start = out->len;
    if (as_sb_append(out, "", 0) < 0) /* out->buf is a string even when nothing is rendered */
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        const struct node *nd = &t->nodes[i];
        const char *name = t->text + nd->off, *v;
        switch (nd->kind) {
        case N_TEXT:
            if (put(out, start, name, nd->len) < 0)
                return -1;
            break;
        case N_VAR:
            v = value(arg, name, nd->len, buf, sizeof(buf));
            if (put(out, start, v, strlen(v)) < 0)
                return -1;
            break;
        case N_IF:
        case N_UNLESS:
            v = value(arg, name, nd->len, buf, sizeof(buf));
            if (truthy(v) != (nd->kind == N_IF))
                i = nd->end;
            break;
        case N_END:
            break;
        }
    }
    return 0;
}

int as_tmpl_uses(const struct as_tmpl *t, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < t->n; i++)
        if (t->nodes[i].kind != N_TEXT && t->nodes[i].len == n &&
            memcmp(t->text + t->nodes[i].off, name, n) == 0)
            return 1;
    return 0;
}

void as_tmpl_free(struct as_tmpl *t)
{
    if (t == NULL)
        return;
    free(t->text);
    free(t);
}
