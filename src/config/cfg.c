#include "config/cfg.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/util.h"

#define AS_REF_FILE_MAX (64 * 1024)
#define AS_CFG_DEPTH_MAX 64

struct parser {
    yaml_parser_t yp;
    const char *file;
    char *base_dir;
    struct as_err *err;
};

static void node_free(struct as_node *n)
{
    if (n == NULL)
        return;
    free(n->value);
    free(n->raw);
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == AS_NODE_MAP) {
            node_free(n->pairs[i].key);
            node_free(n->pairs[i].value);
        } else if (n->kind == AS_NODE_SEQ) {
            node_free(n->items[i]);
        }
    }
    free(n->pairs);
    free(n->items);
    free(n);
}

static int next_event(struct parser *p, yaml_event_t *ev)
{
    if (yaml_parser_parse(&p->yp, ev))
        return 0;
    const yaml_mark_t *m = &p->yp.problem_mark;
    return as_err_at(p->err, p->file, (int)m->line + 1, (int)m->column + 1, "YAML syntax error: %s",
                     p->yp.problem ? p->yp.problem : "unknown");
}

static struct as_node *node_new(struct parser *p, enum as_node_kind kind, const yaml_mark_t *m)
{
    struct as_node *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        as_err_set(p->err, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->file = p->file;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

static int is_null_scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static struct as_node *parse_node(struct parser *p, yaml_event_t *ev, int depth);

static struct as_node *parse_scalar(struct parser *p, yaml_event_t *ev)
{
    int null = is_null_scalar(ev);
    struct as_node *n = node_new(p, null ? AS_NODE_NULL : AS_NODE_SCALAR, &ev->start_mark);
    if (n == NULL || null)
        return n;
    struct as_err rerr;
    as_err_clear(&rerr);
    n->raw = strdup((const char *)ev->data.scalar.value);
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    n->value = n->raw ? as_resolve_refs(n->raw, p->base_dir, &n->from_ref, &rerr) : NULL;
    if (n->value == NULL) {
        as_err_at(p->err, p->file, n->line, n->col, "%s", n->raw ? rerr.msg : "out of memory");
        node_free(n);
        return NULL;
    }
    return n;
}

static int find_key(const struct as_node *map, const char *key)
{
    for (size_t i = 0; i < map->n; i++)
        if (map->pairs[i].key->kind == AS_NODE_SCALAR && strcmp(map->pairs[i].key->value, key) == 0)
            return (int)i;
    return -1;
}

static struct as_node *parse_map(struct parser *p, yaml_event_t *start, int depth)
{
    struct as_node *n = node_new(p, AS_NODE_MAP, &start->start_mark);
    while (n != NULL) {
        yaml_event_t ev;
        if (next_event(p, &ev) < 0)
            goto fail;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return n;
        }
        struct as_node *key = parse_node(p, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (key == NULL)
            goto fail;
        if (key->kind != AS_NODE_SCALAR || find_key(n, key->value) >= 0) {
            as_err_at(p->err, p->file, key->line, key->col,
                      key->kind != AS_NODE_SCALAR ? "mapping keys must be plain strings"
                                                  : "duplicate key '%s'",
                      key->value ? key->value : "");
            node_free(key);
            goto fail;
        }
        if (next_event(p, &ev) < 0) {
            node_free(key);
            goto fail;
        }
        struct as_node *val = parse_node(p, &ev, depth + 1);
        yaml_event_delete(&ev);
        struct as_pair *np = val ? realloc(n->pairs, (n->n + 1) * sizeof(*np)) : NULL;
        if (np == NULL) {
            if (val != NULL)
                as_err_set(p->err, "out of memory");
            node_free(key);
            node_free(val);
            goto fail;
        }
        n->pairs = np;
        n->pairs[n->n++] = (struct as_pair){key, val, 0};
    }
    return NULL;
fail:
    node_free(n);
    return NULL;
}

static struct as_node *parse_seq(struct parser *p, yaml_event_t *start, int depth)
{
    struct as_node *n = node_new(p, AS_NODE_SEQ, &start->start_mark);
    while (n != NULL) {
        yaml_event_t ev;
        if (next_event(p, &ev) < 0)
            break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return n;
        }
        struct as_node *item = parse_node(p, &ev, depth + 1);
        yaml_event_delete(&ev);
        struct as_node **ni = item ? realloc(n->items, (n->n + 1) * sizeof(*ni)) : NULL;
        if (ni == NULL) {
            if (item != NULL)
                as_err_set(p->err, "out of memory");
            node_free(item);
            break;
        }
        n->items = ni;
        n->items[n->n++] = item;
    }
    node_free(n);
    return NULL;
}

static struct as_node *parse_node(struct parser *p, yaml_event_t *ev, int depth)
{
    const yaml_mark_t *m = &ev->start_mark;
    if (depth > AS_CFG_DEPTH_MAX) {
        as_err_at(p->err, p->file, (int)m->line + 1, (int)m->column + 1, "nesting too deep");
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return parse_scalar(p, ev);
    case YAML_MAPPING_START_EVENT:
        return parse_map(p, ev, depth);
    case YAML_SEQUENCE_START_EVENT:
        return parse_seq(p, ev, depth);
    case YAML_ALIAS_EVENT:
        as_err_at(p->err, p->file, (int)m->line + 1, (int)m->column + 1,
                  "YAML aliases are not supported; write the value out");
        return NULL;
    default:
        as_err_at(p->err, p->file, (int)m->line + 1, (int)m->column + 1, "unexpected YAML event");
        return NULL;
    }
}

/* Reads stream-start, document-start, the root node, document-end; rejects a second document. */
static struct as_node *parse_document(struct parser *p)
{
    yaml_event_t ev;
    struct as_node *root = NULL;
    if (next_event(p, &ev) < 0)
        return NULL;
    yaml_event_delete(&ev); /* stream start */
    if (next_event(p, &ev) < 0)
        return NULL;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        as_err_at(p->err, p->file, 1, 1, "the file is empty");
        return NULL;
    }
    yaml_event_delete(&ev); /* document start */
    if (next_event(p, &ev) < 0)
        return NULL;
    root = parse_node(p, &ev, 0);
    yaml_event_delete(&ev);
    if (root == NULL)
        return NULL;
    if (next_event(p, &ev) < 0)
        goto fail;
    yaml_event_delete(&ev); /* document end */
    if (next_event(p, &ev) < 0)
        goto fail;
    if (ev.type != YAML_STREAM_END_EVENT) {
        as_err_at(p->err, p->file, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                  "only one YAML document per file");
        yaml_event_delete(&ev);
        goto fail;
    }
    yaml_event_delete(&ev);
    return root;
fail:
    node_free(root);
    return NULL;
}

struct as_doc *as_doc_parse(const char *name, const char *text, size_t len, struct as_err *err)
{
    struct as_doc *doc = calloc(1, sizeof(*doc));
    struct parser p = {.err = err};
    char *dir_copy = NULL;
    if (doc == NULL || (doc->file = strdup(name)) == NULL || (dir_copy = strdup(name)) == NULL) {
        as_err_set(err, "out of memory");
        goto fail;
    }
    p.file = doc->file;
    p.base_dir = dirname(dir_copy);
    if (!yaml_parser_initialize(&p.yp)) {
        as_err_set(err, "out of memory");
        goto fail;
    }
    yaml_parser_set_input_string(&p.yp, (const unsigned char *)text, len);
    doc->root = parse_document(&p);
    yaml_parser_delete(&p.yp);
    if (doc->root == NULL)
        goto fail;
    free(dir_copy);
    return doc;
fail:
    free(dir_copy);
    as_doc_free(doc);
    return NULL;
}

static char *read_file(const char *path, size_t max, size_t *len_out, struct as_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        as_err_set(err, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t len = buf ? fread(buf, 1, max + 1, f) : 0;
    int failed = buf == NULL || ferror(f);
    fclose(f);
    if (failed || len > max) {
        as_err_set(err, failed ? "cannot read %s" : "%s is larger than the limit", path);
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

struct as_doc *as_doc_load(const char *path, struct as_err *err)
{
    size_t len;
    char *text = read_file(path, 16 * 1024 * 1024, &len, err);
    if (text == NULL)
        return NULL;
    struct as_doc *doc = as_doc_parse(path, text, len, err);
    free(text);
    return doc;
}

void as_doc_free(struct as_doc *doc)
{
    if (doc == NULL)
        return;
    node_free(doc->root);
    free(doc->file);
    free(doc);
}

struct as_node *as_node_get(struct as_node *map, const char *key)
{
    if (map == NULL || map->kind != AS_NODE_MAP)
        return NULL;
    int i = find_key(map, key);
    if (i < 0)
        return NULL;
    map->pairs[i].used = 1;
    return map->pairs[i].value;
}

int as_node_check_unused(const struct as_node *map, const char *what, struct as_err *err)
{
    for (size_t i = 0; map && map->kind == AS_NODE_MAP && i < map->n; i++) {
        const struct as_node *k = map->pairs[i].key;
        if (!map->pairs[i].used)
            return as_err_at(err, k->file, k->line, k->col, "unknown key '%s' in %s", k->value,
                             what);
    }
    return 0;
}

const char *as_node_kind_name(enum as_node_kind kind)
{
    switch (kind) {
    case AS_NODE_SCALAR:
        return "a scalar";
    case AS_NODE_MAP:
        return "a mapping";
    case AS_NODE_SEQ:
        return "a list";
    default:
        return "null";
    }
}

static int resolve_one(const char *kind, const char *arg, const char *base_dir, struct as_sb *out,
                       struct as_err *err)
{
    if (strcmp(kind, "env") == 0) {
        const char *v = getenv(arg);
        if (v == NULL)
            return as_err_set(err, "environment variable %s is not set", arg);
        return as_sb_puts(out, v);
    }
    if (strcmp(kind, "file") != 0)
        return as_err_set(err, "unknown reference ${%s:...}; use ${env:NAME} or ${file:PATH}",
                          kind);
    char path[4096];
    int n = arg[0] == '/' ? snprintf(path, sizeof(path), "%s", arg)
                          : snprintf(path, sizeof(path), "%s/%s", base_dir, arg);
    if (n < 0 || (size_t)n >= sizeof(path))
        return as_err_set(err, "file reference path too long");
    size_t len;
    char *text = read_file(path, AS_REF_FILE_MAX, &len, err);
    if (text == NULL)
        return -1;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--; /* ConfigMap files usually end with a newline */
    int rc = as_sb_append(out, text, len);
    free(text);
    return rc;
}

char *as_resolve_refs(const char *s, const char *base_dir, int *had_ref, struct as_err *err)
{
    struct as_sb out = {0};
    const char *p = s;
    *had_ref = 0;
    while (*p) {
        const char *open = strstr(p, "${");
        if (open == NULL) {
            if (as_sb_puts(&out, p) < 0)
                goto oom;
            break;
        }
        const char *close = strchr(open, '}');
        const char *colon = close ? memchr(open, ':', (size_t)(close - open)) : NULL;
        if (close == NULL || colon == NULL || colon + 1 == close) {
            as_err_set(err, "malformed reference; write ${env:NAME} or ${file:PATH}");
            goto fail;
        }
        char kind[16], arg[4096];
        size_t klen = (size_t)(colon - open - 2), alen = (size_t)(close - colon - 1);
        if (klen >= sizeof(kind) || alen >= sizeof(arg)) {
            as_err_set(err, "reference too long");
            goto fail;
        }
        memcpy(kind, open + 2, klen);
        kind[klen] = '\0';
        memcpy(arg, colon + 1, alen);
        arg[alen] = '\0';
        if (as_sb_append(&out, p, (size_t)(open - p)) < 0)
            goto oom;
        if (resolve_one(kind, arg, base_dir, &out, err) < 0)
            goto fail;
        *had_ref = 1;
        p = close + 1;
    }
    if (out.buf == NULL && as_sb_append(&out, "", 0) < 0)
        goto oom;
    return out.buf;
oom:
    as_err_set(err, "out of memory");
fail:
    as_sb_free(&out);
    return NULL;
}
