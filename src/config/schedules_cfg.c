/* Bounds in time (docs/bounds.md): min and max as time-of-day schedules, the group's time
 * zone, and `schedules` (scheduled capacity), parsed out of a group's mapping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/parse.h"
#include "util/util.h"

const struct as_opt as_schedule_opts[] = {
    {"cron", AS_OPT_STR, offsetof(struct as_sched, cron), NULL, AS_NO_BOUNDS, AS_OPT_REQUIRED, NULL,
     "When the window starts: `minute hour day-of-month month day-of-week`, local time."},
    {"duration", AS_OPT_DURATION, offsetof(struct as_sched, duration_ms), NULL, 60000,
     35LL * 86400000, 0, NULL, "How long the window lasts. Exactly one of duration and end."},
    {"end", AS_OPT_STR, offsetof(struct as_sched, end), NULL, AS_NO_BOUNDS, 0, NULL,
     "When the window ends, a cron expression (KEDA's cron scaler `end`)."},
    {"timezone", AS_OPT_STR, offsetof(struct as_sched, timezone), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL, "IANA time zone of the cron expressions. Default: the group's."},
    {"min", AS_OPT_INT, offsetof(struct as_sched, min), "-1", -1, AS_INT_MAX_OPT, 0, NULL,
     "min during the window (-1: unchanged)."},
    {"max", AS_OPT_INT, offsetof(struct as_sched, max), "-1", -1, AS_INT_MAX_OPT, 0, NULL,
     "max during the window (-1: unchanged); 0 shuts the group down."},
    {"replicas", AS_OPT_INT, offsetof(struct as_sched, replicas), "-1", -1, AS_INT_MAX_OPT, 0, NULL,
     "Desired capacity during the window: the decision is at least this, through behavior "
     "(KEDA's desiredReplicas; -1: none)."},
    AS_OPT_END,
};

/* `min: {"00:00": 1, "08:00": 3}`: times strictly increasing, counts in [lo, hi]. */
static int parse_tod(struct as_node *map, struct as_tod **out, int lo, int hi, const char *what,
                     const char *key, struct as_err *err)
{
    if (map->n == 0 || map->n > AS_TOD_MAX)
        return as_err_at(err, map->file, map->line, map->col,
                         "%s: '%s' schedule needs 1 to %d \"HH:MM\": count entries", what, key,
                         AS_TOD_MAX);
    struct as_tod *tod = calloc(1, sizeof(*tod));
    if (tod == NULL)
        return as_err_set(err, "out of memory");
    *out = tod;
    for (size_t i = 0; i < map->n; i++) {
        const struct as_node *k = map->pairs[i].key, *v = map->pairs[i].value;
        map->pairs[i].used = 1;
        int m;
        long c;
        if (as_tod_parse_time(k->value, &m) < 0)
            return as_err_at(err, k->file, k->line, k->col,
                             "%s: '%s' schedule: '%s' is not a time of day HH:MM (00:00-23:59)",
                             what, key, k->value);
        if (i > 0 && m <= tod->minute[i - 1])
            return as_err_at(err, k->file, k->line, k->col,
                             "%s: '%s' schedule: %s %s; list times in increasing order", what, key,
                             k->value, m == tod->minute[i - 1] ? "is repeated" : "is out of order");
        if (v->kind != AS_NODE_SCALAR || as_parse_long(v->value, &c) < 0 || c < lo || c > hi)
            return as_err_at(err, v->file, v->line, v->col,
                             "%s: '%s' schedule: the count at %s must be an integer between %d "
                             "and %d",
                             what, key, k->value, lo, hi);
        tod->minute[i] = m;
        tod->count[i] = (int)c;
        tod->n = (int)i + 1;
    }
    return 0;
}

static void tod_range(const struct as_tod *tod, int *lowest, int *highest)
{
    *lowest = *highest = tod->count[0];
    for (int i = 1; i < tod->n; i++) {
        *lowest = tod->count[i] < *lowest ? tod->count[i] : *lowest;
        *highest = tod->count[i] > *highest ? tod->count[i] : *highest;
    }
}

/* Position of the entry of a schedule that is in effect at minute m. */
static const struct as_node *tod_node(const struct as_node *map, const struct as_tod *tod, int m)
{
    int idx = tod->n - 1;
    for (int i = 0; i < tod->n && tod->minute[i] <= m; i++)
        idx = i;
    return map->pairs[idx].value;
}

/* min <= max at every time of day: both are steps, so checking each change point suffices. */
static int check_tods(struct as_group_cfg *g, struct as_node *n, const char *what,
                      struct as_err *err)
{
    struct as_tod cmin = {1, {0}, {g->min}}, cmax = {1, {0}, {g->max}};
    const struct as_tod *tmin = g->min_tod ? g->min_tod : &cmin;
    const struct as_tod *tmax = g->max_tod ? g->max_tod : &cmax;
    for (int pass = 0; pass < 2; pass++) {
        const struct as_tod *t = pass ? tmax : tmin;
        for (int i = 0; i < t->n; i++) {
            int m = t->minute[i], lo = as_tod_at_minute(tmin, m), hi = as_tod_at_minute(tmax, m);
            if (lo <= hi)
                continue;
            const char *key = pass ? "max" : "min";
            struct as_node *map = as_node_get(n, key);
            const struct as_node *at =
                map->kind == AS_NODE_MAP ? tod_node(map, pass ? tmax : tmin, m) : map;
            return as_err_at(err, at->file, at->line, at->col,
                             "%s: at %02d:%02d min (%d) is greater than max (%d)", what, m / 60,
                             m % 60, lo, hi);
        }
    }
    return 0;
}

static int load_zone(const char *name, struct as_node *map, const char *key, struct as_tz **tz,
                     const char *what, struct as_err *err)
{
    *tz = NULL;
    if (name == NULL || strcmp(name, "UTC") == 0)
        return 0;
    struct as_err e;
    as_err_clear(&e);
    if (as_tz_load(name, tz, &e) == 0)
        return 0;
    return as_err_key(err, map, key, "%s: %s", what, e.msg);
}

/* keys_ok: the group's own keys parsed, so min and max can be compared. */
int as_config_parse_bounds(struct as_group_cfg *g, struct as_node *n, int keys_ok, const char *what,
                           struct as_err *err)
{
    struct as_node *min = as_node_get(n, "min"), *max = as_node_get(n, "max");
    int bad = 0;
    if (min != NULL && min->kind == AS_NODE_MAP) {
        if (as_cfg_step(parse_tod(min, &g->min_tod, 0, AS_INT_MAX_OPT, what, "min", err), n, &bad,
                        err) < 0)
            return -1;
        int hi;
        if (!bad)
            tod_range(g->min_tod, &g->min, &hi);
    }
    if (max != NULL && max->kind == AS_NODE_MAP) {
        int max_bad = 0;
        if (as_cfg_step(parse_tod(max, &g->max_tod, 1, AS_INT_MAX_OPT, what, "max", err), n,
                        &max_bad, err) < 0)
            return -1;
        int lo;
        if (!max_bad)
            tod_range(g->max_tod, &lo, &g->max);
        bad |= max_bad;
    }
    if (g->timezone != NULL &&
        as_cfg_step(load_zone(g->timezone, n, "timezone", &g->tz, what, err), n, &bad, err) < 0)
        return -1;
    if (bad || !keys_ok)
        return -1;
    if (g->min_tod == NULL && g->max_tod == NULL && g->min > g->max) {
        return as_err_key(err, n, "min", "%s: min (%d) is greater than max (%d)", what, g->min,
                          g->max);
    }
    return check_tods(g, n, what, err);
}

static int parse_cron_at(struct as_node *map, const char *key, const char *text, struct as_cron *c,
                         const char *what, struct as_err *err)
{
    char msg[160];
    int pos = 0;
    if (as_cron_parse(text, c, &pos, msg, sizeof(msg)) == 0)
        return 0;
    struct as_node *v = as_node_get(map, key);
    int col = v->col + pos + (v->quoted ? 1 : 0);
    if (v->from_ref)
        col = v->col;
    return as_err_at(err, v->file, v->line, col, "%s: '%s' \"%s\": %s", what, key,
                     v->from_ref ? "(from a reference)" : text, msg);
}

static int check_schedule(struct as_sched *s, struct as_node *n, const char *what,
                          struct as_err *err)
{
    if ((s->end != NULL) == (s->duration_ms > 0)) {
        return as_err_key(err, n, s->end ? "duration" : "cron",
                          "%s: set exactly one of 'duration' and 'end'", what);
    }
    if (s->min < 0 && s->max < 0 && s->replicas < 0)
        return as_err_at(err, n->file, n->line, n->col,
                         "%s: set at least one of 'min', 'max' and 'replicas'", what);
    if (s->min >= 0 && s->max >= 0 && s->min > s->max) {
        return as_err_key(err, n, "min", "%s: min (%d) is greater than max (%d)", what, s->min,
                          s->max);
    }
    if (s->replicas >= 0 && s->max >= 0 && s->replicas > s->max) {
        return as_err_key(err, n, "replicas", "%s: replicas (%d) is greater than max (%d)", what,
                          s->replicas, s->max);
    }
    return 0;
}

static int parse_schedule(struct as_group_cfg *g, size_t i, struct as_node *n, struct as_err *err)
{
    char what[128];
    snprintf(what, sizeof(what), "group '%s' schedules[%zu]", g->name, i);
    struct as_sched *s = &g->schedules[i];
    int bad = 0;
    const struct as_opt *const tables[] = {as_schedule_opts, NULL};
    if (as_cfg_expect(n, AS_NODE_MAP, what, err) < 0 ||
        as_cfg_step(as_opts_parse(as_schedule_opts, s, n, what, err), n, &bad, err) < 0 ||
        as_cfg_step(as_node_check_keys(n, what, tables, NULL, err), n, &bad, err) < 0)
        return -1;
    if (bad)
        return -1;
    if (as_cfg_step(parse_cron_at(n, "cron", s->cron, &s->start_c, what, err), n, &bad, err) < 0 ||
        (s->end &&
         as_cfg_step(parse_cron_at(n, "end", s->end, &s->end_c, what, err), n, &bad, err) < 0) ||
        as_cfg_step(load_zone(s->timezone, n, "timezone", &s->tz, what, err), n, &bad, err) < 0)
        return -1;
    if (!bad && check_schedule(s, n, what, err) < 0)
        return -1;
    return bad ? -1 : 0;
}

int as_config_parse_schedules(struct as_group_cfg *g, struct as_node *list, struct as_err *err)
{
    char what[96];
    snprintf(what, sizeof(what), "group '%s': 'schedules'", g->name);
    if (list == NULL || list->kind == AS_NODE_NULL)
        return 0;
    if (as_cfg_expect(list, AS_NODE_SEQ, what, err) < 0)
        return -1;
    if (list->n == 0)
        return 0;
    g->schedules = calloc(list->n, sizeof(*g->schedules));
    if (g->schedules == NULL)
        return as_err_set(err, "out of memory");
    g->nschedules = list->n;
    int bad = 0;
    for (size_t i = 0; i < list->n; i++)
        if (as_cfg_step(parse_schedule(g, i, list->items[i], err), list, &bad, err) < 0)
            return -1;
    return bad ? -1 : 0;
}
