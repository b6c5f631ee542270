/* Option tables: one declaration per configuration key drives parsing, defaults, bounds,
 * validation, and the generated reference in docs/configuration.md (`autoscaler options`). */
#ifndef AS_OPT_H
#define AS_OPT_H

#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"
#include "util/util.h"

enum as_opt_type {
    AS_OPT_STR,      /* char *            */
    AS_OPT_INT,      /* int               */
    AS_OPT_DOUBLE,   /* double            */
    AS_OPT_BOOL,     /* int 0/1           */
    AS_OPT_DURATION, /* int64_t ms        */
    AS_OPT_ENUM,     /* int index in enums */
    AS_OPT_STRLIST,  /* char ** NULL-terminated, from a YAML list of scalars   */
    AS_OPT_HEADERS,  /* char ** NULL-terminated "Name: value", from a mapping */
};

#define AS_OPT_REQUIRED 0x1u /* absent key is an error */
#define AS_OPT_SECRET 0x2u   /* never printed; should come from a reference */
#define AS_OPT_NONEMPTY 0x4u /* strings and lists may not be empty */

struct as_opt {
    const char *name;
    enum as_opt_type type;
    size_t offset;
    const char *def; /* default as it would be written in YAML; NULL = none (0 / NULL) */
    double min, max; /* bounds for INT, DOUBLE, DURATION (ms); ignored when min > max */
    unsigned flags;
    const char *const *enums; /* AS_OPT_ENUM: NULL-terminated names */
    const char *help;         /* one sentence for docs and `autoscaler options` */
};

#define AS_OPT_END                                                                                 \
    {                                                                                              \
        NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL                                                      \
    }
#define AS_NO_BOUNDS 1, 0

/* Parses every option of `opts` from map into the struct at base (absent keys get their
 * default) and marks the keys used. `what` names the section in errors ("group 'web'").
 * Returns 0, or -1 with err at the offending value. Values already set are freed first. */
int as_opts_parse(const struct as_opt *opts, void *base, struct as_node *map, const char *what,
                  struct as_err *err);

/* Sets every option to its default. Returns 0 or -1 (only on ENOMEM or a bad table default). */
int as_opts_defaults(const struct as_opt *opts, void *base, struct as_err *err);

/* Frees strings and lists owned by base; leaves the struct zeroed for those fields. */
void as_opts_free(const struct as_opt *opts, void *base);

/* Finds an option by name in a table; NULL if absent. */
const struct as_opt *as_opt_find(const struct as_opt *opts, const char *name);

/* Appends a Markdown table of opts (key, type, default, description) to sb. */
int as_opts_markdown(const struct as_opt *opts, struct as_sb *sb);

/* Position of a key's value within map, for cross-field errors; falls back to the map. */
void as_node_pos(const struct as_node *map, const char *key, const char **file, int *line,
                 int *col);

/* Sets err to the message at the position of key's value in map (as_node_pos). The message is
 * formatted before err is touched, so an argument may be err->msg itself: a validation error
 * re-positioned at the key it is about. Returns -1. */
int as_err_key(struct as_err *err, const struct as_node *map, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
