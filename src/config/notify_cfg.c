#include "config/notify_cfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/event.h"
#include "util/suggest.h"
#include "util/tmpl.h"
#include "util/util.h"

const struct as_opt as_notifier_common_opts[] = {
    {"type", AS_OPT_STR, offsetof(struct as_notifier_cfg, type), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED, NULL, "Notifier type: console, log, syslog, webhook, email, exec or test."},
    {"on", AS_OPT_STRLIST, offsetof(struct as_notifier_cfg, on), NULL, AS_NO_BOUNDS, 0, NULL,
     "Event kinds this notifier takes (docs/events.md): measurement, scale, scale_failed, "
     "below_min, above_max, too_rapid, source_failed, recovered, fallback, paused, or all. "
     "Default: [above_max] (autoscalebot's defaults: NOTIFY_IF_NEEDS_EXCEED_MAX on, the "
     "others off)."},
    {"groups", AS_OPT_STRLIST, offsetof(struct as_notifier_cfg, groups), NULL, AS_NO_BOUNDS, 0,
     NULL, "Only events of these groups (each must be a group of the file). Default: every group."},
    {"template", AS_OPT_STR, offsetof(struct as_notifier_cfg, template), NULL, AS_NO_BOUNDS, 0,
     NULL,
     "The message, in the template language of docs/events.md (e.g. \"{{group}}: {{kind}} "
     "{{from}}->{{to}}\"). Default: the type's own."},
    {"repeat_interval", AS_OPT_DURATION, offsetof(struct as_notifier_cfg, repeat_interval_ms), "5m",
     0, 604800000, 0, NULL,
     "An event like one this notifier delivered less than this long ago (same group, kind, "
     "counts and metric) is held back and counted; when the interval ends, the last one held "
     "back is delivered with \"(and N more like it)\". 0s: every event is delivered."},
    {"queue", AS_OPT_INT, offsetof(struct as_notifier_cfg, queue), "100", 1, 10000, 0, NULL,
     "Events waiting for delivery at most; when full, the oldest waiting one is dropped "
     "(counted and logged)."},
    {"retries", AS_OPT_INT, offsetof(struct as_notifier_cfg, retries), "3", 0, 100, 0, NULL,
     "Retries of a delivery that failed (a permanent failure is not retried)."},
    {"backoff", AS_OPT_DURATION, offsetof(struct as_notifier_cfg, backoff_ms), "1s", 10, 3600000, 0,
     NULL, "First retry delay; doubles on each retry, with jitter."},
    {"backoff_max", AS_OPT_DURATION, offsetof(struct as_notifier_cfg, backoff_max_ms), "30s", 10,
     86400000, 0, NULL, "Longest retry delay."},
    {"timeout", AS_OPT_DURATION, offsetof(struct as_notifier_cfg, timeout_ms), "10s", 10, 600000, 0,
     NULL,
     "Longest one delivery may take (the dispatcher cancels it 100ms after); at shutdown, how "
     "long the notifier may go on delivering what waits."},
    AS_OPT_END,
};

static void notifier_free(struct as_notifier_cfg *n)
{
    if (n->ops != NULL && n->state != NULL) {
        if (n->ops->opts)
            as_opts_free(n->ops->opts, n->state);
    }
    free(n->state);
    as_tmpl_free(n->tmpl);
    free(n->fingerprint);
    as_opts_free(as_notifier_common_opts, n);
    free(n->name);
}

void as_notifiers_free(struct as_config *cfg)
{
    for (size_t i = 0; i < cfg->nnotifiers; i++)
        notifier_free(&cfg->notifiers[i]);
    free(cfg->notifiers);
    cfg->notifiers = NULL;
    cfg->nnotifiers = 0;
}

int as_notifier_wants_group(const struct as_notifier_cfg *n, const char *group)
{
    if (n->groups == NULL)
        return 1;
    for (size_t i = 0; n->groups[i]; i++)
        if (strcmp(n->groups[i], group) == 0)
            return 1;
    return 0;
}

static int parse_kinds(struct as_notifier_cfg *n, struct as_node *map, const char *what,
                       struct as_err *err)
{
    struct as_node *list = as_node_get(map, "on");
    if (n->on == NULL) {
        n->kinds = 1u << AS_EV_ABOVE_MAX;
        return 0;
    }
    for (size_t i = 0; n->on[i]; i++) {
        const struct as_node *at = list->items[i];
        int k = as_ev_kind_parse(n->on[i]);
        if (strcmp(n->on[i], "all") == 0)
            n->kinds |= (1u << AS_EV_KINDS) - 1;
        else if (k >= 0)
            n->kinds |= 1u << k;
        else if (strcmp(n->on[i], "leader_changed") == 0)
            return as_err_at(err, at->file, at->line, at->col,
                             "%s: 'on': leader_changed: this daemon has no leader election, so "
                             "no such event",
                             what);
        else
            return as_err_at(err, at->file, at->line, at->col,
                             "%s: 'on': unknown event '%s' (measurement, scale, scale_failed, "
                             "below_min, above_max, too_rapid, source_failed, recovered, "
                             "fallback, paused, all)",
                             what, at->from_ref ? "(from a reference)" : n->on[i]);
    }
    return 0;
}

static int check_groups(const struct as_config *cfg, struct as_notifier_cfg *n, struct as_node *map,
                        const char *what, struct as_err *err)
{
    struct as_node *list = as_node_get(map, "groups");
    for (size_t i = 0; n->groups && n->groups[i]; i++) {
        if (as_config_group(cfg, n->groups[i]) != NULL)
            continue;
        const struct as_node *at = list->items[i];
        return as_err_at(err, at->file, at->line, at->col, "%s: 'groups': no group named '%s'",
                         what, at->from_ref ? "(from a reference)" : n->groups[i]);
    }
    return 0;
}

/* The template, or the type's default, compiled; an error points into a one-line template. */
static int compile(struct as_notifier_cfg *n, struct as_node *map, const char *what,
                   struct as_err *err)
{
    const char *text = n->template ? n->template : n->ops->template;
    size_t pos;
    char msg[160];
    if (as_tmpl_compile(text, as_ev_field_known, &n->tmpl, &pos, msg, sizeof(msg)) == 0)
        return 0;
    struct as_node *v = as_node_get(map, "template");
    if (v == NULL)
        return as_err_set(err, "%s: the default template: %s", what, msg);
    int col = v->col;
    if (!v->from_ref && memchr(text, '\n', pos) == NULL && strchr(text, '\\') == NULL)
        col += (int)pos + (v->quoted ? 1 : 0);
    return as_err_at(err, v->file, v->line, col, "%s: 'template': %s", what, msg);
}

static int type_keys(struct as_notifier_cfg *n, struct as_node *map, const char *what,
                     struct as_err *err)
{
    n->ops = as_notifier_find(n->type);
    if (n->ops == NULL) {
        struct as_node *t = as_node_get(map, "type");
        const char *names[16];
        size_t k = 0;
        for (; as_notifiers[k] != NULL && k < AS_ARRAY_LEN(names); k++)
            names[k] = as_notifiers[k]->name;
        struct as_sb list = {0};
        if (as_names_list(&list, names, k, k) < 0)
            return as_err_set(err, "out of memory");
        const char *near = t->from_ref ? NULL : as_suggest(n->type, names, k);
        as_err_at(err, t->file, t->line, t->col, "%s: unknown notifier type '%s'%s%s%s; one of: %s",
                  what, t->from_ref ? "(from a reference)" : n->type,
                  near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "", list.buf);
        as_sb_free(&list);
        return -1;
    }
    n->state = calloc(1, n->ops->state_size ? n->ops->state_size : 1);
    if (n->state == NULL)
        return as_err_set(err, "out of memory");
    if (n->ops->opts && as_opts_parse(n->ops->opts, n->state, map, what, err) < 0)
        return -1;
    if (n->ops->validate && n->ops->validate(n->state, map, err) < 0) {
        if (err->file[0] == '\0')
            as_err_at(err, map->file, map->line, map->col, "%s: %s", what, err->msg);
        return -1;
    }
    return 0;
}

static int parse_one(struct as_config *cfg, struct as_notifier_cfg *n, struct as_node *key,
                     struct as_node *map, struct as_err *err)
{
    char what[128];
    n->line = key->line;
    n->col = key->col;
    if ((n->name = strdup(key->value)) == NULL)
        return as_err_set(err, "out of memory");
    snprintf(what, sizeof(what), "notifier '%s'", n->name);
    if (map->kind != AS_NODE_MAP)
        return as_err_at(err, map->file, map->line, map->col, "%s must be a mapping, not %s", what,
                         as_node_kind_name(map->kind));
    if (as_opts_parse(as_notifier_common_opts, n, map, what, err) < 0 ||
        type_keys(n, map, what, err) < 0 || parse_kinds(n, map, what, err) < 0 ||
        check_groups(cfg, n, map, what, err) < 0 || compile(n, map, what, err) < 0)
        return -1;
    struct as_sb fp = {0};
    if (as_node_fingerprint(map, NULL, &fp) < 0) {
        as_sb_free(&fp);
        return as_err_set(err, "out of memory");
    }
    n->fingerprint = fp.buf;
    const struct as_opt *const tables[] = {as_notifier_common_opts, n->ops->opts, NULL};
    return as_node_check_keys(map, what, tables, NULL, err);
}

static int valid_name(const char *s)
{
    if (*s == '\0' || strlen(s) > 63)
        return 0;
    for (; *s; s++)
        if (!(*s == '_' || *s == '-' || *s == '.' || (*s >= '0' && *s <= '9') ||
              (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
            return 0;
    return 1;
}

int as_notifiers_parse(struct as_config *cfg, struct as_node *node, struct as_err *err)
{
    if (node == NULL || node->kind == AS_NODE_NULL)
        return 0;
    if (node->kind != AS_NODE_MAP)
        return as_err_at(err, node->file, node->line, node->col,
                         "'notifiers' must be a mapping of names to notifiers, not %s",
                         as_node_kind_name(node->kind));
    if (node->n == 0)
        return 0;
    cfg->notifiers = calloc(node->n, sizeof(*cfg->notifiers));
    if (cfg->notifiers == NULL)
        return as_err_set(err, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < node->n; i++) {
        struct as_pair *p = &node->pairs[i];
        p->used = 1;
        cfg->nnotifiers = i + 1;
        int one = !valid_name(p->key->value)
                      ? as_err_at(err, p->key->file, p->key->line, p->key->col,
                                  "notifier name '%s' must be 1-63 characters of A-Z a-z 0-9 _ . -",
                                  p->key->from_ref ? "(from a reference)" : p->key->value)
                      : parse_one(cfg, &cfg->notifiers[i], p->key, p->value, err);
        /* `check` reports every notifier's errors: keep this one and go on to the next */
        if (one < 0 && (err->msg[0] != '\0' || node->errs == NULL) && as_node_keep(node, err) < 0)
            return -1;
        rc |= one;
    }
    return rc < 0 ? -1 : 0;
}
