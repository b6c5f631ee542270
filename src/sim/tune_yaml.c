/* A group's parsed document written back as block YAML with some keys set: the candidates of
 * `autoscaler tune` go through the configuration loader as text, and the winner prints as YAML
 * the user pastes. Comments and anchors are not kept (anchors are refused at load anyway). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "sim/tune.h"

struct emit {
    struct as_sb *sb;
    const struct as_tune_space *sp;
    const double *v;
    int raw;
};

static int indent_to(struct as_sb *sb, int n)
{
    for (int i = 0; i < n; i++)
        if (as_sb_append(sb, " ", 1) < 0)
            return -1;
    return 0;
}

/* The code point of the UTF-8 sequence at c (the parser checked it) and its length. */
static unsigned utf8_at(const unsigned char *c, size_t *len)
{
    if (c[0] < 0xe0) {
        *len = 2;
        return (c[0] & 0x1fu) << 6 | (c[1] & 0x3fu);
    }
    if (c[0] < 0xf0) {
        *len = 3;
        return (c[0] & 0x0fu) << 12 | (c[1] & 0x3fu) << 6 | (c[2] & 0x3fu);
    }
    *len = 4;
    return (c[0] & 0x07u) << 18 | (c[1] & 0x3fu) << 12 | (c[2] & 0x3fu) << 6 | (c[3] & 0x3fu);
}

/* What YAML reads as a line break or does not print: escaped, or it would not read back. */
static int unprintable(unsigned cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff ||
           cp == 0xfffe || cp == 0xffff;
}

static int quoted(struct as_sb *sb, const char *s)
{
    if (as_sb_append(sb, "\"", 1) < 0)
        return -1;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        int rc;
        size_t len = 1;
        unsigned cp = *c >= 0xc0 ? utf8_at(c, &len) : 0;
        if (cp != 0 && unprintable(cp)) {
            rc = as_sb_printf(sb, "\\u%04x", cp);
            c += len - 1;
        } else if (cp != 0) {
            rc = as_sb_append(sb, (const char *)c, len);
            c += len - 1;
        } else if (*c == '"' || *c == '\\')
            rc = as_sb_printf(sb, "\\%c", *c);
        else if (*c == '\n')
            rc = as_sb_puts(sb, "\\n");
        else if (*c == '\t')
            rc = as_sb_puts(sb, "\\t");
        else if (*c < 0x20 || *c == 0x7f)
            rc = as_sb_printf(sb, "\\x%02x", *c);
        else
            rc = as_sb_append(sb, (const char *)c, 1);
        if (rc < 0)
            return -1;
    }
    return as_sb_append(sb, "\"", 1);
}

/* A plain key is written plain (it was plain or is a simple word); anything else quoted. */
/* A plain scalar of the source written plain again: unless folding gave it a line break or
 * it holds a character YAML would not read back as is. */
static int plain_again(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c >= 0x80)
            return 0;
    /* an indicator first would read as something else ("- -" is a list), -1 and -x are fine */
    if (s[0] == '-' && (isalnum((unsigned char)s[1]) || s[1] == '.'))
        return 1;
    return s[0] != '\0' && strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) == NULL;
}

/* A key is written plain when it is a simple word (interval, scale_down, p95_ms, a.b-c). */
static int key_text(struct as_sb *sb, const struct as_node *k)
{
    const char *s = k->value;
    int plain = !k->quoted && !k->from_ref && (isalnum((unsigned char)s[0]) || s[0] == '_');
    for (const char *c = s; plain && *c; c++)
        plain = isalnum((unsigned char)*c) || strchr("_.-/", *c) != NULL;
    return plain ? as_sb_puts(sb, s) : quoted(sb, s);
}

static int scalar_text(const struct emit *e, const struct as_node *n)
{
    if (n->kind == AS_NODE_NULL)
        return as_sb_puts(e->sb, "~");
    const char *s = n->from_ref && e->raw ? n->raw : n->value;
    /* a resolved reference is quoted: its text may hold anything */
    if (n->quoted || (n->from_ref && !e->raw) || !plain_again(s))
        return quoted(e->sb, s);
    return as_sb_puts(e->sb, s);
}

/* The parameter at path, or -1. */
static long param_at(const struct emit *e, const char *path)
{
    for (size_t i = 0; e->v != NULL && i < e->sp->n; i++)
        if (strcmp(e->sp->p[i].path, path) == 0)
            return (long)i;
    return -1;
}

/* Whether some parameter lies below path ("path." is a prefix of it). */
static int below(const struct emit *e, const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; e->v != NULL && i < e->sp->n; i++)
        if (strncmp(e->sp->p[i].path, path, n) == 0 && e->sp->p[i].path[n] == '.')
            return 1;
    return 0;
}

/* A path no parameter has (none starts with this byte): below a key too long for a path. */
#define NO_PATH "\x7f"

/* path.key, or NO_PATH when it is longer than any parameter's path can be. Returns 0. */
static int child_path(char *out, size_t len, const char *path, const char *key)
{
    int n = path[0] ? snprintf(out, len, "%s.%s", path, key) : snprintf(out, len, "%s", key);
    if (n < 0 || (size_t)n >= len || strcmp(path, NO_PATH) == 0)
        snprintf(out, len, "%s", NO_PATH);
    return 0;
}

static int emit_node(const struct emit *e, const struct as_node *n, const char *path, int indent);

static int param_value(const struct emit *e, long i)
{
    char buf[64];
    return as_sb_puts(e->sb, as_tune_value_text(&e->sp->p[i], e->v[i], buf, sizeof(buf)));
}

/* "key: value" or "key:\n  ..." for one entry (n NULL: a key that is absent, added). */
static int emit_entry(const struct emit *e, const struct as_node *key, const char *name,
                      const struct as_node *n, const char *path, int indent)
{
    char sub[AS_TUNE_PATH_MAX + 64];
    child_path(sub, sizeof(sub), path, name);
    long i = param_at(e, sub);
    if ((key ? key_text(e->sb, key) : as_sb_puts(e->sb, name)) < 0 ||
        as_sb_append(e->sb, ":", 1) < 0)
        return -1;
    if (i >= 0)
        return as_sb_append(e->sb, " ", 1) < 0 || param_value(e, i) < 0 ||
                       as_sb_append(e->sb, "\n", 1) < 0
                   ? -1
                   : 0;
    if (n == NULL || ((n->kind == AS_NODE_MAP || n->kind == AS_NODE_SEQ) && n->n > 0) ||
        (n->kind != AS_NODE_SCALAR && below(e, sub))) {
        if (as_sb_append(e->sb, "\n", 1) < 0)
            return -1;
        return emit_node(e, n, sub, indent + 2);
    }
    if (as_sb_append(e->sb, " ", 1) < 0)
        return -1;
    if (n->kind == AS_NODE_MAP || n->kind == AS_NODE_SEQ)
        return as_sb_puts(e->sb, n->kind == AS_NODE_MAP ? "{}\n" : "[]\n");
    return scalar_text(e, n) < 0 || as_sb_append(e->sb, "\n", 1) < 0 ? -1 : 0;
}

/* The keys below path that the map lacks: the next segment of each parameter's path. */
static int emit_missing(const struct emit *e, const struct as_node *map, const char *path,
                        int indent, int *first)
{
    size_t plen = path[0] ? strlen(path) + 1 : 0;
    for (size_t i = 0; e->v != NULL && i < e->sp->n; i++) {
        const char *p = e->sp->p[i].path;
        if (plen && (strncmp(p, path, plen - 1) != 0 || p[plen - 1] != '.'))
            continue;
        char seg[AS_TUNE_PATH_MAX];
        size_t k = strcspn(p + plen, ".");
        snprintf(seg, sizeof(seg), "%.*s", (int)k, p + plen);
        int seen = map != NULL && as_node_find(map, seg) >= 0;
        for (size_t j = 0; j < i && !seen; j++) /* an earlier parameter added it */
            seen = strncmp(e->sp->p[j].path, p, plen + k) == 0 &&
                   (e->sp->p[j].path[plen + k] == '.' || e->sp->p[j].path[plen + k] == '\0');
        if (seen)
            continue;
        if ((*first ? 0 : indent_to(e->sb, indent)) < 0 ||
            emit_entry(e, NULL, seg, NULL, path, indent) < 0)
            return -1;
        *first = 0;
    }
    return 0;
}

/* A mapping's entries; the first one on the current line when first is set ("- key: v"). */
static int emit_map(const struct emit *e, const struct as_node *map, const char *path, int indent,
                    int first)
{
    for (size_t i = 0; map != NULL && i < map->n; i++) {
        const struct as_pair *p = &map->pairs[i];
        if ((first ? 0 : indent_to(e->sb, indent)) < 0 ||
            emit_entry(e, p->key, p->key->value, p->value, path, indent) < 0)
            return -1;
        first = 0;
    }
    return emit_missing(e, map, path, indent, &first);
}

/* A list item's path: a mapping with a name is known by it (metrics.cpu), others by index. */
static int item_path(char *out, size_t len, const char *path, const struct as_node *item, size_t i)
{
    char idx[32];
    const char *name = NULL;
    long k = item->kind == AS_NODE_MAP ? as_node_find(item, "name") : -1;
    if (k >= 0 && item->pairs[k].value->kind == AS_NODE_SCALAR)
        name = item->pairs[k].value->value;
    snprintf(idx, sizeof(idx), "%zu", i);
    return child_path(out, len, path, name ? name : idx);
}

static int emit_seq(const struct emit *e, const struct as_node *seq, const char *path, int indent)
{
    for (size_t i = 0; i < seq->n; i++) {
        const struct as_node *it = seq->items[i];
        char sub[AS_TUNE_PATH_MAX + 64];
        int nested = it->kind == AS_NODE_SEQ && it->n > 0;
        if (indent_to(e->sb, indent) < 0 || as_sb_puts(e->sb, nested ? "-\n" : "- ") < 0 ||
            item_path(sub, sizeof(sub), path, it, i) < 0)
            return -1;
        int rc;
        if (it->kind == AS_NODE_MAP && it->n > 0)
            rc = emit_map(e, it, sub, indent + 2, 1);
        else if (nested)
            rc = emit_seq(e, it, sub, indent + 2);
        else if (it->kind == AS_NODE_MAP || it->kind == AS_NODE_SEQ)
            rc = as_sb_puts(e->sb, it->kind == AS_NODE_MAP ? "{}\n" : "[]\n");
        else
            rc = scalar_text(e, it) < 0 ? -1 : as_sb_append(e->sb, "\n", 1);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int emit_node(const struct emit *e, const struct as_node *n, const char *path, int indent)
{
    if (n != NULL && n->kind == AS_NODE_SEQ)
        return emit_seq(e, n, path, indent);
    return emit_map(e, n != NULL && n->kind == AS_NODE_MAP ? n : NULL, path, indent, 0);
}

int as_tune_emit(struct as_sb *sb, const char *name, const struct as_node *node,
                 const struct as_tune_space *sp, const double *v, int raw, int indent)
{
    struct emit e = {.sb = sb, .sp = sp, .v = sp != NULL ? v : NULL, .raw = raw};
    struct as_node key = {.kind = AS_NODE_SCALAR, .value = (char *)name};
    if (indent_to(sb, indent) < 0 || key_text(sb, &key) < 0 || as_sb_puts(sb, ":\n") < 0)
        return -1;
    return emit_node(&e, node, "", indent + 2);
}

struct as_config *as_tune_config(const struct as_tune_problem *p, const double *v,
                                 struct as_err *err)
{
    struct as_sb sb = {0};
    if (as_sb_puts(&sb, "groups:\n") < 0 ||
        as_tune_emit(&sb, p->group, p->node, p->space, v, 0, 2) < 0) {
        as_sb_free(&sb);
        as_err_set(err, "out of memory");
        return NULL;
    }
    struct as_config *cfg = as_config_parse(p->file, sb.buf, err);
    as_sb_free(&sb);
    return cfg;
}
