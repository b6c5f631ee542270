/* The `notifiers:` section: named notifiers, each a type (a backend of src/notifiers), the
 * events it takes (`on`, `groups`), its template, its delivery settings and the type's own
 * keys (docs/configuration.md, docs/events.md). Parsed and validated with the rest of the
 * file; the dispatcher (drivers/notify.c) runs them. */
#ifndef AS_NOTIFY_CFG_H
#define AS_NOTIFY_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"
#include "config/opt.h"
#include "core/plugin.h"
#include "util/err.h"

struct as_config;
struct as_tmpl;

struct as_notifier_cfg {
    char *name;
    char *type;
    char **on;     /* the kinds as written; NULL: the default, [above_max] */
    char **groups; /* NULL: every group */
    char *template;
    int64_t repeat_interval_ms; /* 0: no rate limit */
    int queue;                  /* events waiting at most */
    int retries;
    int64_t backoff_ms, backoff_max_ms, timeout_ms;
    /* derived */
    unsigned kinds;       /* bit (1u << enum as_ev_kind) per kind taken */
    struct as_tmpl *tmpl; /* template (or the type's default), compiled */
    const struct as_notifier_ops *ops;
    void *state;       /* ops->state_size bytes, the type's options parsed in */
    char *fingerprint; /* canonical text of every key: equal => the same notifier */
    int line, col;     /* where it is defined */
};

/* Keys every notifier takes, for `autoscaler options`. */
extern const struct as_opt as_notifier_common_opts[];

/* Parses `notifiers:` (node may be NULL: none) into cfg->notifiers, after the groups (a
 * notifier's `groups` must name groups of the file). Returns 0 or -1 with err at the exact
 * position of the problem. */
int as_notifiers_parse(struct as_config *cfg, struct as_node *node, struct as_err *err);

/* Frees cfg->notifiers (NULL-safe on partly parsed ones). */
void as_notifiers_free(struct as_config *cfg);

/* Whether n takes events of this group. */
int as_notifier_wants_group(const struct as_notifier_cfg *n, const char *group);

#endif
