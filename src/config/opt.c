#include "config/opt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/suggest.h"

#define FIELD(base, opt, type) ((type *)((char *)(base) + (opt)->offset))

static const char *type_name(const struct as_opt *o)
{
    static const char *const names[] = {"string",   "integer", "number",          "boolean",
                                        "duration", "enum",    "list of strings", "map of strings"};
    return names[o->type];
}

static int bad(const struct as_node *n, const char *what, const struct as_opt *o,
               struct as_err *err, const char *why)
{
    return as_err_at(err, n->file, n->line, n->col, "%s: '%s' %s", what, o->name, why);
}

static int check_bounds(const struct as_opt *o, double v, const struct as_node *n, const char *what,
                        struct as_err *err)
{
    if (o->min > o->max || (v >= o->min && v <= o->max))
        return 0;
    char lo[32], hi[32];
    if (o->type == AS_OPT_DURATION) {
        as_duration_fmt((int64_t)o->min, lo, sizeof(lo));
        as_duration_fmt((int64_t)o->max, hi, sizeof(hi));
    } else {
        snprintf(lo, sizeof(lo), "%g", o->min);
        snprintf(hi, sizeof(hi), "%g", o->max);
    }
    return as_err_at(err, n->file, n->line, n->col, "%s: '%s' must be between %s and %s", what,
                     o->name, lo, hi);
}

static int parse_list(const struct as_opt *o, void *base, const struct as_node *n, const char *what,
                      struct as_err *err)
{
    int headers = o->type == AS_OPT_HEADERS;
    if (n->kind != (headers ? AS_NODE_MAP : AS_NODE_SEQ))
        return bad(n, what, o, err,
                   headers ? "must be a mapping of names to strings" : "must be a list of strings");
    char **list = calloc(n->n + 1, sizeof(char *));
    if (list == NULL)
        return as_err_set(err, "out of memory");
    *FIELD(base, o, char **) = list;
    for (size_t i = 0; i < n->n; i++) {
        const struct as_node *item = headers ? n->pairs[i].value : n->items[i];
        if (item->kind != AS_NODE_SCALAR)
            return as_err_at(err, item->file, item->line, item->col,
                             "%s: '%s' entries must be strings", what, o->name);
        struct as_sb sb = {0};
        int rc = headers ? as_sb_printf(&sb, "%s: %s", n->pairs[i].key->value, item->value)
                         : as_sb_puts(&sb, item->value);
        if (rc < 0)
            return as_err_set(err, "out of memory");
        list[i] = sb.buf;
    }
    if ((o->flags & AS_OPT_NONEMPTY) && n->n == 0)
        return bad(n, what, o, err, "may not be empty");
    return 0;
}

static int bad_enum(const struct as_opt *o, const char *s, const struct as_node *n,
                    const char *what, struct as_err *err)
{
    size_t count = 0;
    while (o->enums[count])
        count++;
    struct as_sb sb = {0};
    if (as_names_list(&sb, (const char *const *)o->enums, count, count) < 0)
        return as_err_set(err, "out of memory");
    const char *near = n->from_ref ? NULL : as_suggest(s, (const char *const *)o->enums, count);
    as_err_at(err, n->file, n->line, n->col, "%s: '%s' must be one of: %s%s%s%s", what, o->name,
              sb.buf, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
    as_sb_free(&sb);
    return -1;
}

/* Parses one scalar into the field; n is used for error positions only. */
static int parse_scalar(const struct as_opt *o, void *base, const char *s, const struct as_node *n,
                        const char *what, struct as_err *err)
{
    long l;
    double d;
    int64_t ms;
    switch (o->type) {
    case AS_OPT_STR:
        if ((o->flags & AS_OPT_NONEMPTY) && s[0] == '\0')
            return bad(n, what, o, err, "may not be empty");
        free(*FIELD(base, o, char *));
        *FIELD(base, o, char *) = strdup(s);
        return *FIELD(base, o, char *) ? 0 : as_err_set(err, "out of memory");
    case AS_OPT_INT:
        if (as_parse_long(s, &l) < 0 || l < -2147483647L || l > 2147483647L)
            return bad(n, what, o, err, "must be an integer");
        *FIELD(base, o, int) = (int)l;
        return check_bounds(o, (double)l, n, what, err);
    case AS_OPT_DOUBLE:
        if (as_parse_double(s, &d) < 0)
            return bad(n, what, o, err, "must be a number");
        *FIELD(base, o, double) = d;
        return check_bounds(o, d, n, what, err);
    case AS_OPT_BOOL:
        if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
            return bad(n, what, o, err, "must be true or false");
        *FIELD(base, o, int) = s[0] == 't';
        return 0;
    case AS_OPT_DURATION:
        if (as_duration_parse(s, &ms) < 0)
            return bad(n, what, o, err, "must be a duration like 500ms, 15s, 5m or 1h");
        *FIELD(base, o, int64_t) = ms;
        return check_bounds(o, (double)ms, n, what, err);
    case AS_OPT_ENUM:
        for (int i = 0; o->enums[i]; i++)
            if (strcmp(s, o->enums[i]) == 0) {
                *FIELD(base, o, int) = i;
                return 0;
            }
        return bad_enum(o, s, n, what, err);
    default:
        return bad(n, what, o, err, "has an unsupported default");
    }
}

static int set_default(const struct as_opt *o, void *base, struct as_err *err)
{
    static const struct as_node none = {.file = NULL};
    if (o->def == NULL || o->type == AS_OPT_STRLIST || o->type == AS_OPT_HEADERS)
        return 0;
    return parse_scalar(o, base, o->def, &none, "built-in default", err);
}

int as_opts_defaults(const struct as_opt *opts, void *base, struct as_err *err)
{
    for (const struct as_opt *o = opts; o->name; o++)
        if (set_default(o, base, err) < 0)
            return -1;
    return 0;
}

/* One option present in the map. */
static int parse_one(const struct as_opt *o, void *base, const struct as_node *n, const char *what,
                     struct as_err *err)
{
    if (o->type == AS_OPT_STRLIST || o->type == AS_OPT_HEADERS)
        return parse_list(o, base, n, what, err);
    if (n->kind != AS_NODE_SCALAR) {
        char why[64];
        snprintf(why, sizeof(why), "must be a %s, not %s", type_name(o),
                 as_node_kind_name(n->kind));
        return bad(n, what, o, err, why);
    }
    return parse_scalar(o, base, n->value, n, what, err);
}

/* A required key that is absent or null: reported once every key of the table is marked
 * used, so that a misspelling is looked for among the others only. */
static int missing(struct as_node *map, struct as_node *n, const char *key, const char *what,
                   struct as_err *err)
{
    if (n == NULL)
        return as_node_missing(map, key, what, err);
    return as_err_at(err, n->file, n->line, n->col, "%s: missing required key '%s'", what, key);
}

int as_opts_parse(const struct as_opt *opts, void *base, struct as_node *map, const char *what,
                  struct as_err *err)
{
    as_opts_free(opts, base);
    int failed = 0;
    for (const struct as_opt *o = opts; o->name; o++) {
        struct as_node *n = as_node_get(map, o->name);
        if (n != NULL && n->bad) { /* its reference failed: reported already */
            failed = 1;
        } else if (n == NULL || n->kind == AS_NODE_NULL) {
            if (!(o->flags & AS_OPT_REQUIRED) && set_default(o, base, err) < 0)
                return -1;
        } else if (parse_one(o, base, n, what, err) < 0) {
            if (as_node_keep(map, err) < 0) /* stop at the first (or out of memory) */
                return -1;
            failed = 1;
        }
    }
    for (const struct as_opt *o = opts; o->name; o++) {
        struct as_node *n = as_node_get(map, o->name);
        if (!(o->flags & AS_OPT_REQUIRED) || (n != NULL && n->kind != AS_NODE_NULL))
            continue;
        missing(map, n, o->name, what, err);
        if (as_node_keep(map, err) < 0)
            return -1;
        failed = 1;
    }
    return failed ? -1 : 0;
}

void as_opts_free(const struct as_opt *opts, void *base)
{
    for (const struct as_opt *o = opts; o->name; o++) {
        if (o->type == AS_OPT_STR) {
            free(*FIELD(base, o, char *));
            *FIELD(base, o, char *) = NULL;
        } else if (o->type == AS_OPT_STRLIST || o->type == AS_OPT_HEADERS) {
            char **list = *FIELD(base, o, char **);
            for (size_t i = 0; list && list[i]; i++)
                free(list[i]);
            free(list);
            *FIELD(base, o, char **) = NULL;
        }
    }
}

const struct as_opt *as_opt_find(const struct as_opt *opts, const char *name)
{
    for (const struct as_opt *o = opts; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

int as_opts_markdown(const struct as_opt *opts, struct as_sb *sb)
{
    if (opts[0].name == NULL)
        return as_sb_puts(sb, "No keys of its own.\n");
    int rc = as_sb_puts(sb, "| key | type | default | description |\n|---|---|---|---|\n");
    for (const struct as_opt *o = opts; rc == 0 && o->name; o++) {
        char type[160];
        snprintf(type, sizeof(type), "%s", type_name(o));
        if (o->type == AS_OPT_ENUM) {
            struct as_sb e = {0};
            for (int i = 0; o->enums[i]; i++)
                as_sb_printf(&e, "%s%s", i ? "\\|" : "", o->enums[i]);
            snprintf(type, sizeof(type), "%s", e.buf ? e.buf : "");
            as_sb_free(&e);
        }
        const char *def = (o->flags & AS_OPT_REQUIRED) ? "**required**" : o->def ? o->def : "–";
        rc = as_sb_printf(sb, "| `%s` | %s | %s%s%s | ", o->name, type, o->def ? "`" : "", def,
                          o->def ? "`" : "");
        for (const char *h = o->help; rc == 0 && *h; h++) /* a '|' would end the cell */
            rc = *h == '|' ? as_sb_puts(sb, "\\|") : as_sb_append(sb, h, 1);
        if (rc == 0)
            rc = as_sb_puts(sb, (o->flags & AS_OPT_SECRET) ? " Secret: give it as a reference. |\n"
                                                           : " |\n");
    }
    return rc;
}

void as_node_pos(const struct as_node *map, const char *key, const char **file, int *line, int *col)
{
    long i = as_node_find(map, key);
    const struct as_node *at = i < 0 ? map : map->pairs[i].value;
    *file = at->file;
    *line = at->line;
    *col = at->col;
}

int as_err_key(struct as_err *err, const struct as_node *map, const char *key, const char *fmt, ...)
{
    char msg[AS_ERR_MAX];
    const char *file;
    int line, col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    as_node_pos(map, key, &file, &line, &col);
    return as_err_at(err, file, line, col, "%s", msg);
}
