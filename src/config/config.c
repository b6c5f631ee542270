#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/notify_cfg.h"
#include "config/redact.h"
#include "config/server_cfg.h"
#include "core/decide.h"
#include "util/log.h"
#include "util/util.h"

#define AS_INT_MAX_OPT 1000000

static const char *const log_levels[] = {"debug", "info", "warn", "error", "off", NULL};
static const char *const on_errors[] = {"hpa", "ignore", "fail", NULL};

const struct as_opt as_global_opts[] = {
    {"log_file", AS_OPT_STR, offsetof(struct as_config, log_file), "autoscaler.log", AS_NO_BOUNDS,
     0, NULL, "Log file, appended to; every line also goes to stderr. Empty: stderr only."},
    {"log_level", AS_OPT_ENUM, offsetof(struct as_config, log_level), "info", AS_NO_BOUNDS, 0,
     log_levels, "Lowest level written."},
    {"state_dir", AS_OPT_STR, offsetof(struct as_config, state_dir), "autoscaler-state",
     AS_NO_BOUNDS, 0, NULL,
     "Directory where each group's state (windows, scale events, the last trusted count, a "
     "scale in flight) is kept across restarts, one file per group (<group>.json), written "
     "atomically off the event loop; process pools keep their pid files there "
     "(<group>.pids). Created if missing; `check` verifies it can be. Empty: not kept."},
    AS_OPT_END,
};

const struct as_opt as_group_opts[] = {
    {"interval", AS_OPT_DURATION, offsetof(struct as_group_cfg, interval_ms), "15s", 100, 86400000,
     0, NULL, "Time between two measure-decide-scale rounds of this group."},
    {"min", AS_OPT_INT, offsetof(struct as_group_cfg, min), "1", 0, AS_INT_MAX_OPT, 0, NULL,
     "Fewest replicas the group is ever scaled to; or a time-of-day schedule "
     "{\"00:00\": 1, \"08:00\": 3} in `timezone`. 0 allows scale to zero (see activation)."},
    {"max", AS_OPT_INT, offsetof(struct as_group_cfg, max), NULL, 1, AS_INT_MAX_OPT,
     AS_OPT_REQUIRED, NULL,
     "Most replicas the group is ever scaled to; or a time-of-day schedule like min's."},
    {"tolerance", AS_OPT_DOUBLE, offsetof(struct as_group_cfg, tolerance), "0.1", 0, 10, 0, NULL,
     "Keep the current count while |1 - value/target| <= tolerance (the HPA's 0.1)."},
    {"cooldown", AS_OPT_DURATION, offsetof(struct as_group_cfg, cooldown_ms), "0s", 0, 86400000, 0,
     NULL, "After a scale, hold for this long before the next one (AWS cooldown)."},
    {"on_error", AS_OPT_ENUM, offsetof(struct as_group_cfg, on_error), "hpa", AS_NO_BOUNDS, 0,
     on_errors,
     "When some metrics fail: hpa (scale up on the valid ones, never down), ignore (decide on "
     "the valid ones, as Nomad's on_error: ignore), fail (hold, as Nomad's on_error: fail)."},
    {"paused", AS_OPT_BOOL, offsetof(struct as_group_cfg, paused), "false", AS_NO_BOUNDS, 0, NULL,
     "Measure, decide and log, but hold the replica count."},
    {"override", AS_OPT_INT, offsetof(struct as_group_cfg, override), "-1", -1, AS_INT_MAX_OPT, 0,
     NULL, "A manual replica count that wins over every decision (-1: none)."},
    {"timezone", AS_OPT_STR, offsetof(struct as_group_cfg, timezone), "UTC", AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "IANA time zone of the min/max time-of-day schedules and of `schedules`, e.g. "
     "Europe/Berlin."},
    {"warmup", AS_OPT_DURATION, offsetof(struct as_group_cfg, warmup_ms), "0s", 0, 86400000, 0,
     NULL,
     "No scale-down while a replica is younger than this (or, without replica ages, while the "
     "last scale-up is this recent)."},
    {"idle_period", AS_OPT_DURATION, offsetof(struct as_group_cfg, idle_period_ms), "5m", 0,
     604800000, 0, NULL,
     "With min 0: every metric at or below its activation for this long before going to zero "
     "(KEDA's cooldownPeriod)."},
    {"history", AS_OPT_INT, offsetof(struct as_group_cfg, history), "100", 0, 10000, 0, NULL,
     "Scale events (time, from, to, reason) kept per group, newest first; older ones are "
     "dropped."},
    {"count_max", AS_OPT_INT, offsetof(struct as_group_cfg, count_max), "0", 0, 1000000000, 0, NULL,
     "A replica count read above this (an endpoint reporting 1000000000) is a failed read, "
     "never clamped to max. 0: ten times max."},
    {"count_confirm", AS_OPT_INT, offsetof(struct as_group_cfg, count_confirm), "2", 1, 100, 0,
     NULL,
     "A count that changed other than by this group's own scale (someone else scaled, or the "
     "endpoint is wrong, e.g. a sudden 0) is used only once it has been read the same this "
     "many rounds in a row; until then the group holds. 1 trusts every read."},
    AS_OPT_END,
};

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

const struct as_opt as_fallback_opts[] = {
    {"after", AS_OPT_INT, offsetof(struct as_fallback, after), NULL, 1, 1000000, AS_OPT_REQUIRED,
     NULL, "Consecutive rounds without any valid metric before the fallback applies."},
    {"replicas", AS_OPT_INT, offsetof(struct as_fallback, replicas), "-1", -1, AS_INT_MAX_OPT, 0,
     NULL, "The count to go to (within min and max); -1 holds the current count."},
    AS_OPT_END,
};

const struct as_opt as_too_rapid_opts[] = {
    {"scales", AS_OPT_INT, offsetof(struct as_too_rapid, scales), NULL, 1, 32, 0, NULL,
     "More than this many scale events in one direction (scale-ups, or scale-downs) within "
     "`within` is too rapid. At least one of scales and replicas."},
    {"replicas", AS_OPT_INT, offsetof(struct as_too_rapid, replicas), NULL, 1, AS_INT_MAX_OPT, 0,
     NULL,
     "More than this many replicas added (or removed) within `within` is too rapid "
     "(autoscalebot's NOTIFY_IF_SCALE_DIFF_EXCEEDS_THRESHOLD)."},
    {"within", AS_OPT_DURATION, offsetof(struct as_too_rapid, within_ms), NULL, 1000, 86400000,
     AS_OPT_REQUIRED, NULL,
     "The period (autoscalebot's NOTIFY_IF_SCALE_DIFF_EXCEEDS_PERIOD_IN_MINUTES)."},
    AS_OPT_END,
};

const struct as_opt as_metric_opts[] = {
    {"name", AS_OPT_STR, offsetof(struct as_metric_cfg, name), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL, "Name in logs and replay columns; unique in the group. Default: the source type."},
    {"type", AS_OPT_STR, offsetof(struct as_metric_cfg, type), NULL, AS_NO_BOUNDS, AS_OPT_REQUIRED,
     NULL, "Source type, e.g. http_json."},
    {"target", AS_OPT_DOUBLE, offsetof(struct as_metric_cfg, target), NULL, 1e-12, 1e15, 0, NULL,
     "Target value per replica (utilization form): desired = ceil(current * value / target)."},
    {"average_value", AS_OPT_DOUBLE, offsetof(struct as_metric_cfg, average_value), NULL, 1e-12,
     1e15, 0, NULL,
     "Target share of a total per replica: desired = ceil(value / average_value). "
     "Exactly one of target and average_value."},
    {"timeout", AS_OPT_DURATION, offsetof(struct as_metric_cfg, timeout_ms), NULL, 10, 3600000, 0,
     NULL,
     "Longest a measurement may take; must be below the interval. "
     "Default: 80% of the interval, at most 10s."},
    {"activation", AS_OPT_DOUBLE, offsetof(struct as_metric_cfg, activation), NULL, 0, 1e15, 0,
     NULL,
     "Scale to zero (with min 0): the group leaves zero only when value > activation and goes "
     "to zero after idle_period at or below it (KEDA's activationThreshold; 0 is KEDA's "
     "default). Unset: this metric takes no part; with no metric taking part, min 0 is a plain "
     "bound."},
    {"backoff_max", AS_OPT_DURATION, offsetof(struct as_metric_cfg, backoff_max_ms), NULL, 100,
     86400000, 0, NULL,
     "A source that keeps failing is measured less often: after k failures in a row, again "
     "after interval * 2^(k-1), at most this long (a success resets it; the rounds between count "
     "as failed measurements). Default: 4 times the interval; the interval itself: no backoff."},
    AS_OPT_END,
};

/* Fields of as_scaler_cfg; `timeout` lives in the backend context. */
struct scaler_common {
    char *type;
    int retries;
    int64_t backoff_ms, backoff_max_ms, timeout_ms;
};

const struct as_opt as_scaler_common_opts[] = {
    {"type", AS_OPT_STR, offsetof(struct scaler_common, type), NULL, AS_NO_BOUNDS, AS_OPT_REQUIRED,
     NULL, "Scaler type: http, exec or process."},
    {"retries", AS_OPT_INT, offsetof(struct scaler_common, retries), "3", 0, 100, 0, NULL,
     "Retries of a failed scale call (5xx, timeout, non-zero exit) before giving up until the "
     "next round."},
    {"backoff", AS_OPT_DURATION, offsetof(struct scaler_common, backoff_ms), "1s", 10, 3600000, 0,
     NULL, "First retry delay; doubles on each retry."},
    {"backoff_max", AS_OPT_DURATION, offsetof(struct scaler_common, backoff_max_ms), "30s", 10,
     86400000, 0, NULL, "Longest retry delay."},
    {"timeout", AS_OPT_DURATION, offsetof(struct scaler_common, timeout_ms), NULL, 10, 3600000, 0,
     NULL,
     "Longest one scale call may take; must be below the interval. "
     "Default: 80% of the interval, at most 10s."},
    AS_OPT_END,
};

static void metric_free(struct as_metric_cfg *m)
{
    if (m->ops != NULL && m->state != NULL)
        as_opts_free(m->ops->opts, m->state);
    free(m->state);
    as_opts_free(as_metric_opts, m);
}

static void scaler_free(struct as_scaler_cfg *s)
{
    if (s->ops != NULL && s->state != NULL)
        as_opts_free(s->ops->opts, s->state);
    free(s->state);
    free(s->type);
    free(s->fingerprint);
}

static void group_free(struct as_group_cfg *g)
{
    if (g->policy != NULL && g->policy_cfg != NULL)
        as_opts_free(g->policy->opts, g->policy_cfg);
    free(g->policy_cfg);
    for (size_t i = 0; i < g->nmetrics; i++)
        metric_free(&g->metrics[i]);
    free(g->metrics);
    for (size_t i = 0; i < g->nschedules; i++) {
        as_opts_free(as_schedule_opts, &g->schedules[i]);
        as_tz_free(g->schedules[i].tz);
    }
    free(g->schedules);
    free(g->min_tod);
    free(g->max_tod);
    as_tz_free(g->tz);
    scaler_free(&g->scaler);
    as_opts_free(as_group_opts, g);
    free(g->name);
}

void as_config_ref(struct as_config *cfg)
{
    cfg->refs++;
}

void as_config_unref(struct as_config *cfg)
{
    if (cfg == NULL || --cfg->refs > 0)
        return;
    for (size_t i = 0; i < cfg->ngroups; i++)
        group_free(&cfg->groups[i]);
    free(cfg->groups);
    as_notifiers_free(cfg);
    as_server_cfg_free(cfg->http);
    as_strv_free(cfg->ref_values);
    as_index_free(&cfg->by_name);
    as_opts_free(as_global_opts, cfg);
    free(cfg->file);
    free(cfg);
}

long as_group_metric_index(const struct as_group_cfg *g, const char *name)
{
    for (size_t i = 0; i < g->nmetrics; i++)
        if (strcmp(g->metrics[i].name, name) == 0)
            return (long)i;
    return -1;
}

int as_group_metric(const struct as_group_cfg *g, struct as_node *map, const char *key,
                    const char *name, size_t def, size_t *out, struct as_err *err)
{
    *out = def;
    if (name == NULL)
        return 0;
    long i = as_group_metric_index(g, name);
    if (i >= 0) {
        *out = (size_t)i;
        return 0;
    }
    const char *file;
    int line, col;
    as_node_pos(map, key, &file, &line, &col);
    return as_err_at(err, file, line, col, "group '%s' policy: '%s': no metric named '%s'", g->name,
                     key, name);
}

struct as_group_cfg *as_config_group(const struct as_config *cfg, const char *name)
{
    long i = as_index_get(&cfg->by_name, name);
    return i < 0 ? NULL : &cfg->groups[i];
}

static int expect(const struct as_node *n, enum as_node_kind kind, const char *what,
                  struct as_err *err)
{
    if (n->kind == kind)
        return 0;
    return as_err_at(err, n->file, n->line, n->col, "%s must be %s, not %s", what,
                     as_node_kind_name(kind), as_node_kind_name(n->kind));
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

/* An unset timeout becomes 80% of the interval (at most 10 s); a set one must be below it. */
static int check_timeout(const struct as_group_cfg *g, struct as_node *n, int64_t *timeout_ms,
                         const char *what, struct as_err *err)
{
    if (*timeout_ms == 0) {
        *timeout_ms = g->interval_ms * 8 / 10;
        if (*timeout_ms > 10000)
            *timeout_ms = 10000;
        return 0;
    }
    if (*timeout_ms < g->interval_ms)
        return 0;
    const char *file;
    int line, col;
    char a[32], b[32];
    as_node_pos(n, "timeout", &file, &line, &col);
    return as_err_at(err, file, line, col, "%s: timeout %s must be below the group interval %s",
                     what, as_duration_fmt(*timeout_ms, a, sizeof(a)),
                     as_duration_fmt(g->interval_ms, b, sizeof(b)));
}

static int parse_metric(struct as_group_cfg *g, struct as_metric_cfg *m, struct as_node *n,
                        struct as_err *err)
{
    char what[160];
    snprintf(what, sizeof(what), "group '%s' metric", g->name);
    if (expect(n, AS_NODE_MAP, what, err) < 0 || as_opts_parse(as_metric_opts, m, n, what, err) < 0)
        return -1;
    m->ops = as_source_find(m->type);
    if (m->ops == NULL) {
        struct as_node *t = as_node_get(n, "type");
        return as_err_at(err, t->file, t->line, t->col, "%s: unknown source type '%s'", what,
                         m->type);
    }
    if (m->name == NULL && (m->name = strdup(m->type)) == NULL)
        return as_err_set(err, "out of memory");
    snprintf(what, sizeof(what), "group '%s' metric '%s'", g->name, m->name);
    if (g->policy->metric_targets && (m->target > 0) == (m->average_value > 0)) {
        const char *file;
        int line, col;
        as_node_pos(n, m->target > 0 ? "average_value" : "type", &file, &line, &col);
        return as_err_at(err, file, line, col,
                         "%s: set exactly one of 'target' and 'average_value' (policy %s)", what,
                         g->policy->name);
    }
    if (check_timeout(g, n, &m->timeout_ms, what, err) < 0)
        return -1;
    if (m->backoff_max_ms == 0)
        m->backoff_max_ms = g->interval_ms * 4;
    if (m->backoff_max_ms < g->interval_ms)
        m->backoff_max_ms = g->interval_ms;
    struct as_node *act = as_node_get(n, "activation");
    m->has_activation = act != NULL && act->kind != AS_NODE_NULL;
    m->state = calloc(1, m->ops->state_size ? m->ops->state_size : 1);
    if (m->state == NULL)
        return as_err_set(err, "out of memory");
    if (as_opts_parse(m->ops->opts, m->state, n, what, err) < 0)
        return -1;
    if (m->ops->validate && m->ops->validate(m->state, n, err) < 0) {
        if (err->file[0] == '\0')
            as_err_at(err, n->file, n->line, n->col, "%s: %s", what, err->msg);
        return -1;
    }
    return as_node_check_unused(n, what, err);
}

static int parse_metrics(struct as_group_cfg *g, struct as_node *list, struct as_err *err)
{
    char what[96];
    snprintf(what, sizeof(what), "group '%s': 'metrics'", g->name);
    if (expect(list, AS_NODE_SEQ, what, err) < 0)
        return -1;
    if (list->n == 0)
        return as_err_at(err, list->file, list->line, list->col, "%s needs at least one metric",
                         what);
    g->metrics = calloc(list->n, sizeof(*g->metrics));
    if (g->metrics == NULL)
        return as_err_set(err, "out of memory");
    struct as_index names = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < list->n; i++) {
        g->nmetrics = i + 1;
        if ((rc = parse_metric(g, &g->metrics[i], list->items[i], err)) < 0)
            break;
        if ((rc = as_index_put(&names, g->metrics[i].name, i)) < 0)
            as_err_set(err, "out of memory");
        if (rc > 0) {
            const char *file;
            int line, col;
            as_node_pos(list->items[i], "name", &file, &line, &col);
            rc = as_err_at(err, file, line, col,
                           "group '%s': two metrics are named '%s'; give each a 'name'", g->name,
                           g->metrics[i].name);
        }
    }
    as_index_free(&names);
    return rc;
}

static int parse_scaler(struct as_group_cfg *g, struct as_node *n, struct as_err *err)
{
    char what[96];
    snprintf(what, sizeof(what), "group '%s' scaler", g->name);
    struct scaler_common c = {0};
    struct as_scaler_cfg *s = &g->scaler;
    if (expect(n, AS_NODE_MAP, what, err) < 0)
        return -1;
    int rc = as_opts_parse(as_scaler_common_opts, &c, n, what, err);
    s->type = c.type;
    if (rc < 0)
        return -1;
    s->retries = c.retries;
    s->backoff_ms = c.backoff_ms;
    s->backoff_max_ms = c.backoff_max_ms;
    if (check_timeout(g, n, &c.timeout_ms, what, err) < 0)
        return -1;
    s->timeout_ms = c.timeout_ms;
    s->ops = as_scaler_find(s->type);
    if (s->ops == NULL) {
        struct as_node *t = as_node_get(n, "type");
        return as_err_at(err, t->file, t->line, t->col, "%s: unknown scaler type '%s'", what,
                         s->type);
    }
    s->state = calloc(1, s->ops->state_size ? s->ops->state_size : 1);
    if (s->state == NULL)
        return as_err_set(err, "out of memory");
    if (as_opts_parse(s->ops->opts, s->state, n, what, err) < 0)
        return -1;
    if (s->ops->validate && s->ops->validate(s->state, n, err) < 0) {
        if (err->file[0] == '\0')
            as_err_at(err, n->file, n->line, n->col, "%s: %s", what, err->msg);
        return -1;
    }
    /* Retry settings are read per call; the timeout counts as its effective value. */
    static const char *const engine_keys[] = {"retries", "backoff", "backoff_max", "timeout", NULL};
    struct as_sb fp = {0};
    if (as_node_fingerprint(n, engine_keys, &fp) < 0 ||
        as_sb_printf(&fp, "t%lld", (long long)s->timeout_ms) < 0) {
        as_sb_free(&fp);
        return as_err_set(err, "out of memory");
    }
    s->fingerprint = fp.buf;
    return as_node_check_unused(n, what, err);
}

/* The policy's type from `policy: {type: ...}` (absent: target), before the metrics are
 * parsed: whether they need targets depends on it. */
static int policy_type(struct as_group_cfg *g, struct as_node *n, struct as_err *err)
{
    char what[96];
    snprintf(what, sizeof(what), "group '%s' policy", g->name);
    const char *type = "target";
    struct as_node *t = NULL;
    if (n != NULL) {
        if (expect(n, AS_NODE_MAP, what, err) < 0)
            return -1;
        t = as_node_get(n, "type");
        if (t == NULL || t->kind != AS_NODE_SCALAR)
            return as_err_at(err, n->file, n->line, n->col, "%s: missing required key 'type'",
                             what);
        type = t->value;
    }
    g->policy = as_policy_find(type);
    if (g->policy == NULL)
        return as_err_at(err, t->file, t->line, t->col, "%s: unknown policy '%s'", what, type);
    return 0;
}

/* The policy's own keys sit beside `type` in the mapping. */
static int parse_policy(struct as_group_cfg *g, struct as_node *n, struct as_node *group,
                        struct as_err *err)
{
    char what[96];
    snprintf(what, sizeof(what), "group '%s' policy", g->name);
    g->policy_cfg = calloc(1, g->policy->cfg_size ? g->policy->cfg_size : 1);
    if (g->policy_cfg == NULL)
        return as_err_set(err, "out of memory");
    struct as_node empty = {
        .kind = AS_NODE_MAP, .file = group->file, .line = group->line, .col = group->col};
    struct as_node *map = n ? n : &empty;
    if (as_opts_parse(g->policy->opts, g->policy_cfg, map, what, err) < 0)
        return -1;
    if (g->policy->validate && g->policy->validate(g->policy_cfg, g, map, err) < 0) {
        if (err->file[0] == '\0')
            as_err_at(err, map->file, map->line, map->col, "%s: %s", what, err->msg);
        return -1;
    }
    return n ? as_node_check_unused(n, what, err) : 0;
}

/* An optional nested mapping parsed by its own option table; absent = zeroed. */
static int parse_sub(const struct as_opt *opts, void *dst, struct as_node *n, const char *what,
                     const char *key, struct as_err *err)
{
    char sub[128];
    if (n == NULL || n->kind == AS_NODE_NULL)
        return 0;
    snprintf(sub, sizeof(sub), "%s '%s'", what, key);
    if (expect(n, AS_NODE_MAP, sub, err) < 0 || as_opts_parse(opts, dst, n, sub, err) < 0)
        return -1;
    return as_node_check_unused(n, sub, err);
}

/* ---- bounds in time: min/max schedules, timezone, scheduled capacity ---- */

/* The group's own keys; `min` and `max` given as mappings are left to parse_tod. */
static int parse_group_keys(struct as_group_cfg *g, struct as_node *n, const char *what,
                            struct as_err *err)
{
    struct as_opt opts[AS_ARRAY_LEN(as_group_opts)];
    size_t k = 0;
    for (const struct as_opt *o = as_group_opts; o->name; o++) {
        int is_bound = strcmp(o->name, "min") == 0 || strcmp(o->name, "max") == 0;
        struct as_node *v = is_bound ? as_node_get(n, o->name) : NULL;
        if (v == NULL || v->kind != AS_NODE_MAP)
            opts[k++] = *o;
    }
    memset(&opts[k], 0, sizeof(opts[k]));
    return as_opts_parse(opts, g, n, what, err);
}

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
    const char *file;
    int line, col;
    as_node_pos(map, key, &file, &line, &col);
    return as_err_at(err, file, line, col, "%s: %s", what, e.msg);
}

static int parse_bounds(struct as_group_cfg *g, struct as_node *n, const char *what,
                        struct as_err *err)
{
    struct as_node *min = as_node_get(n, "min"), *max = as_node_get(n, "max");
    if (min != NULL && min->kind == AS_NODE_MAP) {
        if (parse_tod(min, &g->min_tod, 0, AS_INT_MAX_OPT, what, "min", err) < 0)
            return -1;
        int hi;
        tod_range(g->min_tod, &g->min, &hi);
    }
    if (max != NULL && max->kind == AS_NODE_MAP) {
        if (parse_tod(max, &g->max_tod, 1, AS_INT_MAX_OPT, what, "max", err) < 0)
            return -1;
        int lo;
        tod_range(g->max_tod, &lo, &g->max);
    }
    if (load_zone(g->timezone, n, "timezone", &g->tz, what, err) < 0)
        return -1;
    if (g->min_tod == NULL && g->max_tod == NULL && g->min > g->max) {
        const char *file;
        int line, col;
        as_node_pos(n, "min", &file, &line, &col);
        return as_err_at(err, file, line, col, "%s: min (%d) is greater than max (%d)", what,
                         g->min, g->max);
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
    const char *file;
    int line, col;
    if ((s->end != NULL) == (s->duration_ms > 0)) {
        as_node_pos(n, s->end ? "duration" : "cron", &file, &line, &col);
        return as_err_at(err, file, line, col, "%s: set exactly one of 'duration' and 'end'", what);
    }
    if (s->min < 0 && s->max < 0 && s->replicas < 0)
        return as_err_at(err, n->file, n->line, n->col,
                         "%s: set at least one of 'min', 'max' and 'replicas'", what);
    if (s->min >= 0 && s->max >= 0 && s->min > s->max) {
        as_node_pos(n, "min", &file, &line, &col);
        return as_err_at(err, file, line, col, "%s: min (%d) is greater than max (%d)", what,
                         s->min, s->max);
    }
    if (s->replicas >= 0 && s->max >= 0 && s->replicas > s->max) {
        as_node_pos(n, "replicas", &file, &line, &col);
        return as_err_at(err, file, line, col, "%s: replicas (%d) is greater than max (%d)", what,
                         s->replicas, s->max);
    }
    return 0;
}

static int parse_schedule(struct as_group_cfg *g, size_t i, struct as_node *n, struct as_err *err)
{
    char what[128];
    snprintf(what, sizeof(what), "group '%s' schedules[%zu]", g->name, i);
    struct as_sched *s = &g->schedules[i];
    if (expect(n, AS_NODE_MAP, what, err) < 0 ||
        as_opts_parse(as_schedule_opts, s, n, what, err) < 0)
        return -1;
    if (parse_cron_at(n, "cron", s->cron, &s->start_c, what, err) < 0 ||
        (s->end && parse_cron_at(n, "end", s->end, &s->end_c, what, err) < 0) ||
        check_schedule(s, n, what, err) < 0 ||
        load_zone(s->timezone, n, "timezone", &s->tz, what, err) < 0)
        return -1;
    return as_node_check_unused(n, what, err);
}

static int parse_schedules(struct as_group_cfg *g, struct as_node *list, struct as_err *err)
{
    char what[96];
    snprintf(what, sizeof(what), "group '%s': 'schedules'", g->name);
    if (list == NULL || list->kind == AS_NODE_NULL)
        return 0;
    if (expect(list, AS_NODE_SEQ, what, err) < 0)
        return -1;
    if (list->n == 0)
        return 0;
    g->schedules = calloc(list->n, sizeof(*g->schedules));
    if (g->schedules == NULL)
        return as_err_set(err, "out of memory");
    for (size_t i = 0; i < list->n; i++) {
        g->nschedules = i + 1;
        if (parse_schedule(g, i, list->items[i], err) < 0)
            return -1;
    }
    return 0;
}

static int parse_group(struct as_group_cfg *g, struct as_node *key, struct as_node *n,
                       struct as_err *err)
{
    g->line = key->line;
    g->col = key->col;
    if ((g->name = strdup(key->value)) == NULL)
        return as_err_set(err, "out of memory");
    if (!valid_name(g->name))
        return as_err_at(err, key->file, key->line, key->col,
                         "group name '%s' must be 1-63 characters of A-Z a-z 0-9 _ . -", g->name);
    char what[96];
    snprintf(what, sizeof(what), "group '%s'", g->name);
    if (expect(n, AS_NODE_MAP, what, err) < 0 || parse_group_keys(g, n, what, err) < 0 ||
        parse_bounds(g, n, what, err) < 0 ||
        parse_schedules(g, as_node_get(n, "schedules"), err) < 0)
        return -1;
    struct as_node *metrics = as_node_get(n, "metrics");
    struct as_node *scaler = as_node_get(n, "scaler");
    if (metrics == NULL || scaler == NULL)
        return as_err_at(err, n->file, n->line, n->col, "%s: missing required key '%s'", what,
                         metrics == NULL ? "metrics" : "scaler");
    if (policy_type(g, as_node_get(n, "policy"), err) < 0 || parse_metrics(g, metrics, err) < 0 ||
        parse_scaler(g, scaler, err) < 0 || parse_policy(g, as_node_get(n, "policy"), n, err) < 0 ||
        as_behavior_parse(&g->behavior, as_node_get(n, "behavior"), what, err) < 0 ||
        parse_sub(as_fallback_opts, &g->fallback, as_node_get(n, "fallback"), what, "fallback",
                  err) < 0 ||
        parse_sub(as_too_rapid_opts, &g->too_rapid, as_node_get(n, "too_rapid"), what, "too_rapid",
                  err) < 0)
        return -1;
    struct as_node *tr = as_node_get(n, "too_rapid");
    if (tr != NULL && tr->kind == AS_NODE_MAP && g->too_rapid.scales == 0 &&
        g->too_rapid.replicas == 0)
        return as_err_at(err, tr->file, tr->line, tr->col,
                         "%s 'too_rapid': set at least one of 'scales' and 'replicas'", what);
    return as_node_check_unused(n, what, err);
}

static int parse_root(struct as_config *cfg, struct as_node *root, struct as_err *err)
{
    if (expect(root, AS_NODE_MAP, "the configuration", err) < 0 ||
        as_opts_parse(as_global_opts, cfg, root, "configuration", err) < 0)
        return -1;
    const char *file;
    as_node_pos(root, "state_dir", &file, &cfg->state_dir_line, &cfg->state_dir_col);
    struct as_node *groups = as_node_get(root, "groups");
    if (groups == NULL)
        return as_err_at(err, root->file, root->line, root->col, "missing required key 'groups'");
    if (expect(groups, AS_NODE_MAP, "'groups'", err) < 0)
        return -1;
    if (groups->n == 0)
        return as_err_at(err, groups->file, groups->line, groups->col,
                         "'groups' needs at least one group");
    cfg->groups = calloc(groups->n, sizeof(*cfg->groups));
    if (cfg->groups == NULL)
        return as_err_set(err, "out of memory");
    for (size_t i = 0; i < groups->n; i++) {
        groups->pairs[i].used = 1;
        cfg->ngroups = i + 1;
        if (parse_group(&cfg->groups[i], groups->pairs[i].key, groups->pairs[i].value, err) < 0)
            return -1;
        if (as_index_put(&cfg->by_name, cfg->groups[i].name, i) < 0) /* names are map keys */
            return as_err_set(err, "out of memory");
    }
    if (as_config_check_exclusive(cfg, root->file, err) < 0)
        return -1;
    if (as_notifiers_parse(cfg, as_node_get(root, "notifiers"), err) < 0 ||
        as_server_cfg_parse(as_node_get(root, "http"), root, &cfg->http, err) < 0 ||
        as_redact_collect(root, &cfg->ref_values, err) < 0)
        return -1;
    return as_node_check_unused(root, "the configuration", err);
}

static struct as_config *build(struct as_doc *doc, struct as_err *err)
{
    if (doc == NULL)
        return NULL;
    struct as_config *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL || (cfg->file = strdup(doc->file)) == NULL) {
        free(cfg);
        as_doc_free(doc);
        as_err_set(err, "out of memory");
        return NULL;
    }
    cfg->refs = 1;
    int rc = parse_root(cfg, doc->root, err);
    as_doc_free(doc);
    if (rc < 0) {
        as_config_unref(cfg);
        return NULL;
    }
    return cfg;
}

struct as_config *as_config_load(const char *path, struct as_err *err)
{
    return build(as_doc_load(path, err), err);
}

struct as_config *as_config_parse(const char *name, const char *text, struct as_err *err)
{
    return build(as_doc_parse(name, text, strlen(text), err), err);
}
