#include "config/cfg.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config/opt.h"
#include "util/log.h"
#include "util/suggest.h"
#include "util/util.h"

#define AS_CFG_DEPTH_MAX 64
#define AS_MAP_INDEX_MIN 16 /* a map gets a hash index from this many keys on */

struct parser {
    yaml_parser_t yp;
    const char *file;
    char *base_dir;
    struct as_err *err;
    struct as_errs *errs; /* NULL: the first error stops the parse */
    const char *text;     /* the document, for the position of a reader error */
    size_t len;
};

/* ---- string -> index hash table ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = as_fnv1a(AS_FNV_BASIS, s, strlen(s));
    return h ^ (h >> 29);
}

/* The slot of key, or the empty slot where it would go. */
static struct as_index_slot *index_slot(const struct as_index *ix, const char *key)
{
    size_t mask = ix->cap - 1, i = hash_str(key) & mask;
    while (ix->slots[i].key != NULL && strcmp(ix->slots[i].key, key) != 0)
        i = (i + 1) & mask;
    return &ix->slots[i];
}

static int index_grow(struct as_index *ix)
{
    struct as_index bigger = {calloc(ix->cap ? ix->cap * 2 : 8, sizeof(*ix->slots)),
                              ix->cap ? ix->cap * 2 : 8, ix->n};
    if (bigger.slots == NULL)
        return -1;
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->slots[i].key != NULL)
            *index_slot(&bigger, ix->slots[i].key) = ix->slots[i];
    free(ix->slots);
    *ix = bigger;
    return 0;
}

int as_index_put(struct as_index *ix, const char *key, size_t value)
{
    if ((ix->n + 1) * 2 > ix->cap && index_grow(ix) < 0)
        return -1;
    struct as_index_slot *slot = index_slot(ix, key);
    if (slot->key != NULL)
        return 1;
    *slot = (struct as_index_slot){key, value};
    ix->n++;
    return 0;
}

long as_index_get(const struct as_index *ix, const char *key)
{
    if (ix == NULL || ix->cap == 0)
        return -1;
    const struct as_index_slot *slot = index_slot(ix, key);
    return slot->key ? (long)slot->value : -1;
}

void as_index_free(struct as_index *ix)
{
    free(ix->slots);
    *ix = (struct as_index){0};
}

/* ---- the tree ---- */

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
    if (n->kind == AS_NODE_MAP)
        free(n->pairs);
    else if (n->kind == AS_NODE_SEQ)
        free(n->items);
    if (n->index != NULL)
        as_index_free(n->index);
    free(n->index);
    free(n);
}

/* A byte the reader refused (not UTF-8, a control character): libyaml gives only its offset,
 * so the line and column (in characters) are counted here. */
static int reader_error(struct parser *p)
{
    size_t off = p->yp.problem_offset < p->len ? p->yp.problem_offset : p->len;
    const char *problem = p->yp.problem ? p->yp.problem : "unreadable";
    if (strstr(problem, "trailing") != NULL) /* point at the character's first byte */
        while (off > 0 && ((unsigned char)p->text[off] & 0xC0) != 0xC0 &&
               (unsigned char)p->text[off - 1] >= 0x80)
            off--;
    int line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        unsigned char c = (unsigned char)p->text[i];
        if (c == '\n')
            line++, col = 1;
        else if ((c & 0xC0) != 0x80)
            col++;
    }
    unsigned byte = off < p->len ? (unsigned char)p->text[off] : 0;
    if (strstr(problem, "control characters") != NULL)
        return as_err_at(p->err, p->file, line, col,
                         "not a text file: control character 0x%02X (a configuration is YAML "
                         "text)",
                         byte);
    return as_err_at(p->err, p->file, line, col,
                     "not UTF-8 text: byte 0x%02X (%s); save the file as UTF-8", byte, problem);
}

static int next_event(struct parser *p, yaml_event_t *ev)
{
    if (yaml_parser_parse(&p->yp, ev))
        return 0;
    if (p->yp.error == YAML_READER_ERROR)
        return reader_error(p);
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
    n->errs = p->errs;
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

static char *resolve_refs(const char *s, const char *base_dir, int *had_ref, size_t *at,
                          struct as_err *err);

/* Column of the byte at offset `off` of a scalar's text: exact when the text is ASCII on one
 * line and exactly as wide as its source (no escapes, no folding), else the scalar's column. */
static int scalar_col(const struct as_node *n, const yaml_event_t *ev, size_t off)
{
    const unsigned char *s = ev->data.scalar.value;
    size_t len = ev->data.scalar.length, width = len + (n->quoted ? 2 : 0);
    for (size_t i = 0; i < len; i++)
        if (s[i] >= 0x80)
            return n->col;
    if (ev->end_mark.line != ev->start_mark.line ||
        ev->end_mark.column - ev->start_mark.column != width)
        return n->col;
    return n->col + (n->quoted ? 1 : 0) + (int)off;
}

static struct as_node *parse_scalar(struct parser *p, yaml_event_t *ev)
{
    int null = is_null_scalar(ev);
    struct as_node *n = node_new(p, null ? AS_NODE_NULL : AS_NODE_SCALAR, &ev->start_mark);
    if (n == NULL || null)
        return n;
    const char *text = (const char *)ev->data.scalar.value;
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    /* A "\0" escape would silently cut a name or a URL short where C reads it. */
    if (memchr(text, '\0', ev->data.scalar.length) != NULL) {
        as_err_at(p->err, p->file, n->line, n->col, "a NUL byte (\\0) is not allowed in a string");
        goto fail;
    }
    struct as_err rerr; /* only read on failure, which sets it */
    size_t at = 0;
    n->value = resolve_refs(text, p->base_dir, &n->from_ref, &at, &rerr);
    if (n->value == NULL) {
        as_err_at(p->err, p->file, n->line, scalar_col(n, ev, at), "%s", rerr.msg);
        /* Collecting: keep it and go on with the text as written, marked bad. */
        if (p->errs == NULL || as_errs_add(p->errs, p->err) < 0 ||
            (n->value = strdup(text)) == NULL) {
            if (p->errs != NULL)
                as_err_set(p->err, "out of memory");
            goto fail;
        }
        n->bad = n->from_ref = 1;
    }
    if (n->from_ref && (n->raw = strdup(text)) == NULL) {
        as_err_set(p->err, "out of memory");
        goto fail;
    }
    return n;
fail:
    node_free(n);
    return NULL;
}

/* Makes room for one more entry in *arr (n used, *cap allocated), doubling. Returns 0 or -1. */
static int grow(void *arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *na = realloc(*(void **)arr, ncap * size);
    if (na == NULL)
        return -1;
    *(void **)arr = na;
    *cap = ncap;
    return 0;
}

/* Gives back the unused tail of *arr (n of cap used): memory stays proportional. */
static void shrink(void *arr, size_t cap, size_t n, size_t size)
{
    void *na = n < cap && n > 0 ? realloc(*(void **)arr, n * size) : NULL;
    if (na != NULL)
        *(void **)arr = na;
}

/* Whether map already has key; else records it as the next pair's. From AS_MAP_INDEX_MIN keys
 * on the map has a hash index (built here), so a map of n keys is checked in O(n).
 * Returns 1, 0, or -1 on ENOMEM. */
static int map_seen(struct as_node *map, const char *key)
{
    if (map->index == NULL && map->n < AS_MAP_INDEX_MIN)
        return as_node_find(map, key) >= 0;
    if (map->index == NULL) {
        if ((map->index = calloc(1, sizeof(*map->index))) == NULL)
            return -1;
        for (size_t i = 0; i < map->n; i++)
            if (as_index_put(map->index, map->pairs[i].key->value, i) < 0)
                return -1;
    }
    return as_index_put(map->index, key, map->n);
}

/* Reads a key; NULL with err set when it is not a string or is already in the map. */
static struct as_node *parse_key(struct parser *p, struct as_node *map, yaml_event_t *ev, int depth)
{
    struct as_node *key = parse_node(p, ev, depth + 1);
    if (key == NULL)
        return NULL;
    if (key->bad) { /* a key is no place for a reference: its error is kept, stop here */
        node_free(key);
        return NULL;
    }
    int seen = key->kind == AS_NODE_SCALAR ? map_seen(map, key->value) : 0;
    if (key->kind != AS_NODE_SCALAR || seen != 0) {
        if (seen < 0)
            as_err_set(p->err, "out of memory");
        else
            as_err_at(p->err, p->file, key->line, key->col,
                      key->kind != AS_NODE_SCALAR ? "mapping keys must be plain strings"
                                                  : "duplicate key '%s'",
                      key->value ? key->value : "");
        node_free(key);
        return NULL;
    }
    return key;
}

static struct as_node *parse_map(struct parser *p, yaml_event_t *start, int depth)
{
    struct as_node *n = node_new(p, AS_NODE_MAP, &start->start_mark);
    size_t cap = 0;
    while (n != NULL) {
        yaml_event_t ev;
        if (next_event(p, &ev) < 0)
            goto fail;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            shrink(&n->pairs, cap, n->n, sizeof(*n->pairs));
            return n;
        }
        struct as_node *key = parse_key(p, n, &ev, depth);
        yaml_event_delete(&ev);
        if (key == NULL)
            goto fail;
        if (next_event(p, &ev) < 0) {
            node_free(key);
            goto fail;
        }
        struct as_node *val = parse_node(p, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (val == NULL || grow(&n->pairs, &cap, n->n, sizeof(*n->pairs)) < 0) {
            if (val != NULL)
                as_err_set(p->err, "out of memory");
            node_free(key);
            node_free(val);
            goto fail;
        }
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
    size_t cap = 0;
    while (n != NULL) {
        yaml_event_t ev;
        if (next_event(p, &ev) < 0)
            break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            shrink(&n->items, cap, n->n, sizeof(*n->items));
            return n;
        }
        struct as_node *item = parse_node(p, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (item == NULL || grow(&n->items, &cap, n->n, sizeof(*n->items)) < 0) {
            if (item != NULL)
                as_err_set(p->err, "out of memory");
            node_free(item);
            break;
        }
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
    return as_doc_parse_all(name, text, len, NULL, err);
}

struct as_doc *as_doc_parse_all(const char *name, const char *text, size_t len,
                                struct as_errs *errs, struct as_err *err)
{
    struct as_doc *doc = calloc(1, sizeof(*doc));
    struct parser p = {.err = err, .errs = errs, .text = text, .len = len};
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

/* Reads what is left of fd, at most max bytes (hint: its size when known), into a new
 * NUL-terminated buffer. Returns it (caller frees), or NULL with err set (naming the file as
 * `path`). */
static char *read_fd(int fd, const char *path, size_t max, size_t hint, size_t *len_out,
                     struct as_err *err)
{
    size_t cap = (hint < max ? hint : max) + 1, len = 0; /* one more byte tells "too large" */
    cap = cap < 4096 && max >= 4096 ? 4096 : cap;
    char *buf = malloc(cap + 1);
    while (buf != NULL && len <= max) {
        if (len == cap) {
            size_t ncap = cap > max / 2 ? max + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (nb == NULL)
                break;
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            as_err_set(err, "cannot read %s: %s", path, strerror(errno));
            free(buf);
            return NULL;
        }
        if (r == 0) {
            buf[len] = '\0';
            *len_out = len;
            return buf;
        }
        len += (size_t)r;
    }
    if (buf == NULL || len <= max)
        as_err_set(err, "out of memory");
    else
        as_err_set(err, "%s is larger than the limit of %zu bytes", path, max);
    free(buf);
    return NULL;
}

/* Reads a file of at most max bytes. With `reference`, only a regular file (or a symlink to
 * one) is read, and neither opening nor reading it ever blocks: a FIFO or a device is an error,
 * never a loader (or a daemon reloading on SIGHUP) waiting forever. */
static char *read_file(const char *path, size_t max, int reference, size_t *len_out,
                       struct as_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (reference ? O_NONBLOCK : 0));
    if (fd < 0) {
        as_err_set(err, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) < 0)
        as_err_set(err, "cannot read %s: %s", path, strerror(errno));
    else if (reference && !S_ISREG(st.st_mode))
        as_err_set(err, "cannot read %s: not a regular file", path);
    else
        buf = read_fd(fd, path, max, S_ISREG(st.st_mode) ? (size_t)st.st_size : 0, len_out, err);
    close(fd);
    return buf;
}

/* The configuration file itself: every way it cannot be read is said at the file alone
 * ("FILE: why", line 0), where a position would be. */
static char *read_config(const char *path, size_t *len, struct as_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        as_err_at(err, path, 0, 0, "%s%s", e == ENOENT ? "no such file" : "cannot open it: ",
                  e == ENOENT ? "" : strerror(e));
        return NULL;
    }
    struct stat st;
    struct as_err e;
    char *text = NULL;
    if (fstat(fd, &st) < 0)
        as_err_at(err, path, 0, 0, "cannot read it: %s", strerror(errno));
    else if (S_ISDIR(st.st_mode))
        as_err_at(err, path, 0, 0, "is a directory, not a configuration file");
    else if ((text = read_fd(fd, "the file", AS_CFG_FILE_MAX,
                             S_ISREG(st.st_mode) ? (size_t)st.st_size : 0, len, &e)) == NULL)
        as_err_at(err, path, 0, 0, "%s", e.msg);
    close(fd);
    return text;
}

struct as_doc *as_doc_load(const char *path, struct as_errs *errs, struct as_err *err)
{
    size_t len;
    char *text = read_config(path, &len, err);
    if (text == NULL)
        return NULL;
    struct as_doc *doc = as_doc_parse_all(path, text, len, errs, err);
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

long as_node_find(const struct as_node *map, const char *key)
{
    if (map == NULL || map->kind != AS_NODE_MAP)
        return -1;
    if (map->index != NULL)
        return as_index_get(map->index, key);
    for (size_t i = 0; i < map->n; i++)
        if (map->pairs[i].key->kind == AS_NODE_SCALAR && strcmp(map->pairs[i].key->value, key) == 0)
            return (long)i;
    return -1;
}

struct as_node *as_node_get(struct as_node *map, const char *key)
{
    long i = as_node_find(map, key);
    if (i < 0)
        return NULL;
    map->pairs[i].used = 1;
    return map->pairs[i].value;
}

int as_node_keep(const struct as_node *n, struct as_err *err)
{
    if (n == NULL || n->errs == NULL || err->file[0] == '\0' || err->line == 0)
        return -1;
    return as_errs_add(n->errs, err) < 0 ? as_err_set(err, "out of memory") : 0;
}

#define AS_KEYS_MAX 128  /* valid keys of one mapping taken into account */
#define AS_KEYS_SHOWN 10 /* listed in an error */

/* The valid keys of a mapping: the names of its tables, then extra. Returns how many. */
static size_t valid_keys(const struct as_opt *const *tables, const char *const *extra,
                         const char **out)
{
    size_t n = 0;
    for (size_t t = 0; tables != NULL && tables[t] != NULL; t++)
        for (const struct as_opt *o = tables[t]; o->name != NULL && n < AS_KEYS_MAX; o++)
            out[n++] = o->name;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < AS_KEYS_MAX; i++)
        out[n++] = extra[i];
    return n;
}

static int unknown_key(const struct as_node *k, const char *what, const char **names, size_t n,
                       struct as_err *err)
{
    const char *near = as_suggest(k->value, names, n);
    if (near != NULL || n == 0)
        return as_err_at(err, k->file, k->line, k->col, "unknown key '%s' in %s%s%s%s", k->value,
                         what, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
    struct as_sb list = {0};
    if (as_names_list(&list, names, n, AS_KEYS_SHOWN) < 0)
        return as_err_set(err, "out of memory");
    as_err_at(err, k->file, k->line, k->col, "unknown key '%s' in %s; valid keys: %s", k->value,
              what, list.buf);
    as_sb_free(&list);
    return -1;
}

int as_node_check_keys(const struct as_node *map, const char *what,
                       const struct as_opt *const *tables, const char *const *extra,
                       struct as_err *err)
{
    const char *names[AS_KEYS_MAX];
    size_t n = valid_keys(tables, extra, names);
    int rc = 0;
    for (size_t i = 0; map && map->kind == AS_NODE_MAP && i < map->n; i++) {
        const struct as_node *k = map->pairs[i].key;
        if (map->pairs[i].used)
            continue;
        rc = unknown_key(k, what, names, n, err);
        if (as_node_keep(map, err) < 0)
            return -1;
    }
    return rc;
}

int as_node_check_unused(const struct as_node *map, const char *what, struct as_err *err)
{
    return as_node_check_keys(map, what, NULL, NULL, err);
}

int as_node_missing(struct as_node *map, const char *key, const char *what, struct as_err *err)
{
    for (size_t i = 0; map->kind == AS_NODE_MAP && i < map->n; i++) {
        const struct as_node *k = map->pairs[i].key;
        if (map->pairs[i].used || as_suggest(k->value, &key, 1) == NULL)
            continue;
        map->pairs[i].used = 1;
        return as_err_at(err, k->file, k->line, k->col,
                         "%s: missing required key '%s' (is '%s' a misspelling of it?)", what, key,
                         k->value);
    }
    return as_err_at(err, map->file, map->line, map->col, "%s: missing required key '%s'", what,
                     key);
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

int as_node_fingerprint(const struct as_node *n, const char *const *skip, struct as_sb *sb)
{
    int rc = 0;
    switch (n->kind) {
    case AS_NODE_SCALAR:
        return as_sb_printf(sb, "s%zu:%s", strlen(n->value), n->value);
    case AS_NODE_NULL:
        return as_sb_puts(sb, "~");
    case AS_NODE_SEQ:
        rc = as_sb_printf(sb, "[%zu", n->n);
        for (size_t i = 0; rc == 0 && i < n->n; i++)
            rc = as_node_fingerprint(n->items[i], NULL, sb);
        return rc ? rc : as_sb_puts(sb, "]");
    case AS_NODE_MAP:
        rc = as_sb_puts(sb, "{"); /* keys are length-prefixed: no count needed */
        for (size_t i = 0; rc == 0 && i < n->n; i++) {
            int skipped = 0;
            for (size_t k = 0; skip && skip[k]; k++)
                skipped |= strcmp(n->pairs[i].key->value, skip[k]) == 0;
            if (skipped)
                continue;
            rc = as_node_fingerprint(n->pairs[i].key, NULL, sb);
            if (rc == 0)
                rc = as_node_fingerprint(n->pairs[i].value, NULL, sb);
        }
        return rc ? rc : as_sb_puts(sb, "}");
    }
    return -1;
}

/* ---- references ---- */

/* Appends a value a reference resolved to, and registers it as a secret: whatever comes from
 * the environment or a file never reaches a log line (values too short to be secrets are not
 * registered, see as_log_secret). */
static int put_value(struct as_sb *out, const char *v, size_t len, struct as_err *err)
{
    if (as_log_secret(v, len) < 0 || as_sb_append(out, v, len) < 0)
        return as_err_set(err, "out of memory");
    return 0;
}

static int resolve_one(const char *kind, const char *arg, const char *base_dir, struct as_sb *out,
                       struct as_err *err)
{
    if (strcmp(kind, "env") == 0) {
        const char *v = getenv(arg);
        if (v == NULL)
            return as_err_set(err, "environment variable %s is not set", arg);
        return put_value(out, v, strlen(v), err);
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
    char *text = read_file(path, AS_REF_FILE_MAX, 1, &len, err);
    if (text == NULL)
        return -1;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--; /* ConfigMap files usually end with a newline */
    int rc = memchr(text, '\0', len) != NULL
                 ? as_err_set(err, "%s holds a NUL byte; a value cannot contain one", path)
                 : put_value(out, text, len, err);
    free(text);
    return rc;
}

/* as_resolve_refs; *at is the offset in s of the reference that failed. */
static char *resolve_refs(const char *s, const char *base_dir, int *had_ref, size_t *at,
                          struct as_err *err)
{
    struct as_sb out = {0};
    const char *p = s;
    *had_ref = 0;
    if (strstr(s, "${") == NULL) { /* most values: an exact copy, no growable buffer */
        char *copy = strdup(s);
        if (copy == NULL)
            as_err_set(err, "out of memory");
        return copy;
    }
    while (*p) {
        const char *open = strstr(p, "${");
        if (open == NULL) {
            if (as_sb_puts(&out, p) < 0)
                goto oom;
            break;
        }
        *at = (size_t)(open - s);
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
    char *exact = realloc(out.buf, out.len + 1); /* memory in proportion to the text */
    return exact ? exact : out.buf;
oom:
    as_err_set(err, "out of memory");
fail:
    as_sb_free(&out);
    return NULL;
}

char *as_resolve_refs(const char *s, const char *base_dir, int *had_ref, struct as_err *err)
{
    size_t at = 0;
    return resolve_refs(s, base_dir, had_ref, &at, err);
}
