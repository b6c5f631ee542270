#include "config/config.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/notify_cfg.h"
#include "config/parse.h"
#include "config/redact.h"
#include "config/server_cfg.h"
#include "core/decide.h"
#include "util/log.h"
#include "util/suggest.h"
#include "util/util.h"

static const char *const log_levels[] = {"debug", "info", "warn", "error", "off", NULL};
static const char *const on_errors[] = {"hpa", "ignore", "fail", NULL};

const struct as_opt as_global_opts[] = {
    {"log_file", AS_OPT_STR, offsetof(struct as_config, log_file), "autoscaler.log", AS_NO_BOUNDS,
     0, NULL,
     "Log file, appended to; every line also goes to stderr. A relative path is taken from the "
     "configuration file's directory. Empty: stderr only."},
    {"log_level", AS_OPT_ENUM, offsetof(struct as_config, log_level), "info", AS_NO_BOUNDS, 0,
     log_levels, "Lowest level written."},
    {"state_dir", AS_OPT_STR, offsetof(struct as_config, state_dir), "autoscaler-state",
     AS_NO_BOUNDS, 0, NULL,
     "Directory where each group's state (windows, scale events, the last trusted count, a "
     "scale in flight) is kept across restarts, one file per group (<group>.json), written "
     "atomically off the event loop; process pools keep their pid files there "
     "(<group>.pids). A relative path is taken from the configuration file's directory. "
     "Created if missing; `check` verifies it can be. Empty: not kept."},
    {"rounds_in_flight", AS_OPT_INT, offsetof(struct as_config, rounds_in_flight), "1024", 1,
     1000000, 0, NULL,
     "Rounds that measure at once, across all groups: a group that falls due while every slot is "
     "taken waits its turn (no deadline runs while it waits) and its ticks meanwhile are "
     "coalesced, so an overloaded daemon stretches every group's interval alike instead of "
     "piling up calls; the overload is logged once (docs/performance.md). Applied at reload."},
    {"calls_per_host", AS_OPT_INT, offsetof(struct as_config, calls_per_host), "256", 1, 100000, 0,
     NULL,
     "HTTP calls in flight to one scheme://host:port, all groups together: a call beyond it "
     "waits, its timeout running, and the groups waiting for that host take its free slots in "
     "turn, one call each (docs/performance.md). Applied at reload."},
    {"plain_http", AS_OPT_BOOL, offsetof(struct as_config, plain_http), "true", AS_NO_BOUNDS, 0,
     NULL,
     "Plain http:// GETs (the polls of http_json, prometheus and most sources) go over the "
     "daemon's own keep-alive HTTP/1.1 connections instead of libcurl, at under half the CPU; "
     "https, bodies, other methods, proxies and answers it does not decode stay with libcurl, "
     "and errors read alike (docs/design.md#dependencies-debian-12-packages-and-why-each). false: "
     "every call through libcurl. Applied at reload."},
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
    {"model", AS_OPT_STR, offsetof(struct as_metric_cfg, model_name), "auto", AS_NO_BOUNDS, 0, NULL,
     "Simulation only (`run` ignores it): the model quantity `autoscaler simulate` reports as "
     "this metric: auto (inferred from the source), utilization, latency_mean, latency_p50, "
     "latency_p90, latency_p95, latency_p99, rps, rps_per_replica, queue, concurrency or "
     "concurrency_per_replica (docs/simulation.md)."},
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
     NULL, "Scaler type: one of the scalers below (`autoscaler check` names them all)."},
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
    as_behavior_free(&g->behavior);
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
    return as_err_key(err, map, key, "group '%s' policy: '%s': no metric named '%s'", g->name, key,
                      name);
}

struct as_group_cfg *as_config_group(const struct as_config *cfg, const char *name)
{
    long i = as_index_get(&cfg->by_name, name);
    return i < 0 ? NULL : &cfg->groups[i];
}

int as_cfg_expect(const struct as_node *n, enum as_node_kind kind, const char *what,
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

int as_cfg_step(int rc, const struct as_node *n, int *bad, struct as_err *err)
{
    if (rc >= 0)
        return 0;
    *bad = 1;
    if (err->msg[0] == '\0' && n->errs != NULL)
        return 0; /* a failed reference, kept where it was found */
    return as_node_keep(n, err);
}

/* "WHAT: unknown KIND 'x' (did you mean 'y'?); one of: a, b, c" at t. */
static int unknown_name(const struct as_node *t, const char *what, const char *kind,
                        const char *const *names, size_t n, struct as_err *err)
{
    struct as_sb list = {0};
    if (as_names_list(&list, names, n, n) < 0)
        return as_err_set(err, "out of memory");
    const char *near = as_suggest(t->value, names, n);
    as_err_at(err, t->file, t->line, t->col, "%s: unknown %s '%s'%s%s%s; one of: %s", what, kind,
              t->from_ref ? "(from a reference)" : t->value, near ? " (did you mean '" : "",
              near ? near : "", near ? "'?)" : "", list.buf);
    as_sb_free(&list);
    return -1;
}

#define AS_BACKENDS_MAX 64

static const struct as_source_ops *find_source(const struct as_node *t, const char *what,
                                               struct as_err *err)
{
    const struct as_source_ops *ops = as_source_find(t->value);
    const char *names[AS_BACKENDS_MAX];
    size_t n = 0;
    for (; ops == NULL && as_sources[n] && n < AS_BACKENDS_MAX; n++)
        names[n] = as_sources[n]->name;
    if (ops == NULL)
        unknown_name(t, what, "source type", names, n, err);
    return ops;
}

static const struct as_scaler_ops *find_scaler(const struct as_node *t, const char *what,
                                               struct as_err *err)
{
    const struct as_scaler_ops *ops = as_scaler_find(t->value);
    const char *names[AS_BACKENDS_MAX];
    size_t n = 0;
    for (; ops == NULL && as_scalers[n] && n < AS_BACKENDS_MAX; n++)
        names[n] = as_scalers[n]->name;
    if (ops == NULL)
        unknown_name(t, what, "scaler type", names, n, err);
    return ops;
}

static const struct as_policy_ops *find_policy(const struct as_node *t, const char *what,
                                               struct as_err *err)
{
    const struct as_policy_ops *ops = as_policy_find(t->value);
    const char *names[AS_BACKENDS_MAX];
    size_t n = 0;
    for (; ops == NULL && as_policies[n] && n < AS_BACKENDS_MAX; n++)
        names[n] = as_policies[n]->name;
    if (ops == NULL)
        unknown_name(t, what, "policy", names, n, err);
    return ops;
}

/* An unset timeout becomes 80% of the interval (at most 10 s); a set one must be below it.
 * An interval of 0 is one that failed to parse: nothing to compare with. */
static int check_timeout(const struct as_group_cfg *g, struct as_node *n, int64_t *timeout_ms,
                         const char *what, struct as_err *err)
{
    if (g->interval_ms == 0)
        return 0;
    if (*timeout_ms == 0) {
        *timeout_ms = g->interval_ms * 8 / 10;
        if (*timeout_ms > 10000)
            *timeout_ms = 10000;
        return 0;
    }
    if (*timeout_ms < g->interval_ms)
        return 0;
    char a[32], b[32];
    return as_err_key(err, n, "timeout", "%s: timeout %s must be below the group interval %s", what,
                      as_duration_fmt(*timeout_ms, a, sizeof(a)),
                      as_duration_fmt(g->interval_ms, b, sizeof(b)));
}

/* The source's own keys, its validation and the unknown keys, once its type is known. */
static int parse_source(struct as_metric_cfg *m, struct as_node *n, const char *what,
                        struct as_err *err)
{
    int bad = 0;
    m->state = calloc(1, m->ops->state_size ? m->ops->state_size : 1);
    if (m->state == NULL)
        return as_err_set(err, "out of memory");
    if (as_cfg_step(as_opts_parse(m->ops->opts, m->state, n, what, err), n, &bad, err) < 0)
        return -1;
    if (!bad && m->ops->validate && m->ops->validate(m->state, n, err) < 0) {
        if (err->file[0] == '\0')
            as_err_at(err, n->file, n->line, n->col, "%s: %s", what, err->msg);
        if (as_cfg_step(-1, n, &bad, err) < 0)
            return -1;
    }
    const struct as_opt *const tables[] = {as_metric_opts, m->ops->opts, NULL};
    return as_cfg_step(as_node_check_keys(n, what, tables, NULL, err), n, &bad, err) < 0 || bad ? -1
                                                                                                : 0;
}

/* Neither target nor average_value, but a key that looks like one of them ("targte") and is
 * not the source's: the unknown-key check reports it, and that is the one error to show. */
static int target_misspelt(const struct as_metric_cfg *m, const struct as_node *n)
{
    static const char *const names[] = {"target", "average_value"};
    for (size_t i = 0; m->target == 0 && m->average_value == 0 && i < n->n; i++) {
        const char *k = n->pairs[i].key->value;
        if (!n->pairs[i].used && as_suggest(k, names, 2) != NULL &&
            as_opt_find(m->ops->opts, k) == NULL)
            return 1;
    }
    return 0;
}

static int parse_metric(struct as_group_cfg *g, struct as_metric_cfg *m, struct as_node *n,
                        struct as_err *err)
{
    char what[160];
    int bad = 0;
    snprintf(what, sizeof(what), "group '%s' metric", g->name);
    if (as_cfg_expect(n, AS_NODE_MAP, what, err) < 0 ||
        as_cfg_step(as_opts_parse(as_metric_opts, m, n, what, err), n, &bad, err) < 0)
        return -1;
    struct as_node *t = as_node_get(n, "type");
    if (m->type == NULL || t == NULL || t->bad) /* reported: the source's keys are unknowable */
        return -1;
    if ((m->ops = find_source(t, what, err)) == NULL)
        return -1;
    if (m->name == NULL && (m->name = strdup(m->type)) == NULL)
        return as_err_set(err, "out of memory");
    snprintf(what, sizeof(what), "group '%s' metric '%s'", g->name, m->name);
    if (!bad && g->policy && g->policy->metric_targets &&
        (m->target > 0) == (m->average_value > 0) && !target_misspelt(m, n)) {
        const char *file;
        int line, col;
        as_node_pos(n, m->target > 0 ? "average_value" : "type", &file, &line, &col);
        as_err_at(err, file, line, col,
                  "%s: set exactly one of 'target' and 'average_value' (policy %s)", what,
                  g->policy->name);
        if (as_cfg_step(-1, n, &bad, err) < 0)
            return -1;
    }
    if (as_cfg_step(check_timeout(g, n, &m->timeout_ms, what, err), n, &bad, err) < 0)
        return -1;
    if (m->backoff_max_ms == 0)
        m->backoff_max_ms = g->interval_ms * 4;
    if (m->backoff_max_ms < g->interval_ms)
        m->backoff_max_ms = g->interval_ms;
    if (as_cfg_step(as_model_kind_resolve(m, n, what, err), n, &bad, err) < 0)
        return -1;
    struct as_node *act = as_node_get(n, "activation");
    m->has_activation = act != NULL && act->kind != AS_NODE_NULL;
    return parse_source(m, n, what, err) < 0 || bad ? -1 : 0;
}

static int parse_metrics(struct as_group_cfg *g, struct as_node *list, struct as_err *err)
{
    char what[96];
    snprintf(what, sizeof(what), "group '%s': 'metrics'", g->name);
    if (as_cfg_expect(list, AS_NODE_SEQ, what, err) < 0)
        return -1;
    if (list->n == 0)
        return as_err_at(err, list->file, list->line, list->col, "%s needs at least one metric",
                         what);
    g->metrics = calloc(list->n, sizeof(*g->metrics));
    if (g->metrics == NULL)
        return as_err_set(err, "out of memory");
    g->nmetrics = list->n;
    struct as_index names = {0};
    int bad = 0, rc = 0;
    for (size_t i = 0; rc == 0 && i < list->n; i++) {
        if (parse_metric(g, &g->metrics[i], list->items[i], err) < 0 &&
            (rc = as_cfg_step(-1, list, &bad, err)) < 0)
            break;
        if (g->metrics[i].name == NULL) /* its type failed: no name to compare */
            continue;
        int dup = as_index_put(&names, g->metrics[i].name, i);
        if (dup < 0)
            rc = as_err_set(err, "out of memory");
        if (dup > 0) {
            const char *file;
            int line, col;
            as_node_pos(list->items[i], "name", &file, &line, &col);
            as_err_at(err, file, line, col,
                      "group '%s': two metrics are named '%s'; give each a 'name'", g->name,
                      g->metrics[i].name);
            rc = as_cfg_step(-1, list, &bad, err);
        }
    }
    as_index_free(&names);
    return rc < 0 || bad ? -1 : 0;
}

static int parse_scaler(struct as_group_cfg *g, struct as_node *n, struct as_err *err)
{
    char what[96];
    snprintf(what, sizeof(what), "group '%s' scaler", g->name);
    struct scaler_common c = {0};
    struct as_scaler_cfg *s = &g->scaler;
    int bad = 0;
    if (as_cfg_expect(n, AS_NODE_MAP, what, err) < 0)
        return -1;
    int rc = as_cfg_step(as_opts_parse(as_scaler_common_opts, &c, n, what, err), n, &bad, err);
    s->type = c.type;
    struct as_node *t = as_node_get(n, "type");
    if (rc < 0 || s->type == NULL || t == NULL || t->bad) /* the scaler's keys are unknowable */
        return -1;
    s->retries = c.retries;
    s->backoff_ms = c.backoff_ms;
    s->backoff_max_ms = c.backoff_max_ms;
    if (as_cfg_step(check_timeout(g, n, &c.timeout_ms, what, err), n, &bad, err) < 0)
        return -1;
    s->timeout_ms = c.timeout_ms;
    if ((s->ops = find_scaler(t, what, err)) == NULL)
        return -1;
    s->state = calloc(1, s->ops->state_size ? s->ops->state_size : 1);
    if (s->state == NULL)
        return as_err_set(err, "out of memory");
    int opts_bad = 0;
    if (as_cfg_step(as_opts_parse(s->ops->opts, s->state, n, what, err), n, &opts_bad, err) < 0)
        return -1;
    if (!opts_bad && s->ops->validate && s->ops->validate(s->state, n, err) < 0) {
        if (err->file[0] == '\0')
            as_err_at(err, n->file, n->line, n->col, "%s: %s", what, err->msg);
        if (as_cfg_step(-1, n, &bad, err) < 0)
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
    const struct as_opt *const tables[] = {as_scaler_common_opts, s->ops->opts, NULL};
    rc = as_cfg_step(as_node_check_keys(n, what, tables, NULL, err), n, &bad, err);
    return rc < 0 || bad || opts_bad ? -1 : 0;
}

/* The policy's type from `policy: {type: ...}` (absent: target), before the metrics are
 * parsed: whether they need targets depends on it. An unknown one leaves g->policy NULL. */
static int policy_type(struct as_group_cfg *g, struct as_node *n, struct as_err *err)
{
    char what[96];
    snprintf(what, sizeof(what), "group '%s' policy", g->name);
    if (n == NULL) {
        g->policy = as_policy_find("target");
        return 0;
    }
    if (as_cfg_expect(n, AS_NODE_MAP, what, err) < 0)
        return -1;
    struct as_node *t = as_node_get(n, "type");
    if (t == NULL)
        return as_node_missing(n, "type", what, err);
    if (t->kind != AS_NODE_SCALAR)
        return as_err_at(err, t->file, t->line, t->col, "%s: 'type' must be a string, not %s", what,
                         as_node_kind_name(t->kind));
    if (t->bad)
        return -1; /* reported */
    g->policy = find_policy(t, what, err);
    return g->policy ? 0 : -1;
}

/* The policy's own keys sit beside `type` in the mapping. Its validation (which resolves the
 * metric names it refers to) runs only when the metrics parsed: else it would only repeat
 * their errors. */
static int parse_policy(struct as_group_cfg *g, struct as_node *n, struct as_node *group,
                        int metrics_ok, struct as_err *err)
{
    char what[96];
    int bad = 0;
    snprintf(what, sizeof(what), "group '%s' policy", g->name);
    g->policy_cfg = calloc(1, g->policy->cfg_size ? g->policy->cfg_size : 1);
    if (g->policy_cfg == NULL)
        return as_err_set(err, "out of memory");
    struct as_node empty = {
        .kind = AS_NODE_MAP, .file = group->file, .line = group->line, .col = group->col};
    struct as_node *map = n ? n : &empty;
    empty.errs = group->errs;
    if (as_cfg_step(as_opts_parse(g->policy->opts, g->policy_cfg, map, what, err), map, &bad, err) <
        0)
        return -1;
    if (!bad && metrics_ok && g->policy->validate &&
        g->policy->validate(g->policy_cfg, g, map, err) < 0) {
        if (err->file[0] == '\0')
            as_err_at(err, map->file, map->line, map->col, "%s: %s", what, err->msg);
        if (as_cfg_step(-1, map, &bad, err) < 0)
            return -1;
    }
    static const char *const type_key[] = {"type", NULL};
    const struct as_opt *const tables[] = {g->policy->opts, NULL};
    if (n != NULL &&
        as_cfg_step(as_node_check_keys(n, what, tables, type_key, err), n, &bad, err) < 0)
        return -1;
    return bad ? -1 : 0;
}

/* An optional nested mapping parsed by its own option table; absent = zeroed. */
static int parse_sub(const struct as_opt *opts, void *dst, struct as_node *n, const char *what,
                     const char *key, struct as_err *err)
{
    char sub[128];
    int bad = 0;
    if (n == NULL || n->kind == AS_NODE_NULL)
        return 0;
    snprintf(sub, sizeof(sub), "%s '%s'", what, key);
    const struct as_opt *const tables[] = {opts, NULL};
    if (as_cfg_expect(n, AS_NODE_MAP, sub, err) < 0 ||
        as_cfg_step(as_opts_parse(opts, dst, n, sub, err), n, &bad, err) < 0 ||
        as_cfg_step(as_node_check_keys(n, sub, tables, NULL, err), n, &bad, err) < 0)
        return -1;
    return bad ? -1 : 0;
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

/* `too_rapid`: its keys, and at least one of scales and replicas. */
static int parse_too_rapid(struct as_group_cfg *g, struct as_node *tr, const char *what,
                           struct as_err *err)
{
    if (parse_sub(as_too_rapid_opts, &g->too_rapid, tr, what, "too_rapid", err) < 0)
        return -1;
    if (tr != NULL && tr->kind == AS_NODE_MAP && g->too_rapid.scales == 0 &&
        g->too_rapid.replicas == 0)
        return as_err_at(err, tr->file, tr->line, tr->col,
                         "%s 'too_rapid': set at least one of 'scales' and 'replicas'", what);
    return 0;
}

/* `model:` (simulation only): defaults when absent. */
static int parse_model(struct as_group_cfg *g, struct as_node *n, const char *what,
                       struct as_err *err)
{
    if (as_opts_defaults(as_model_opts, &g->model, err) < 0)
        return -1;
    return parse_sub(as_model_opts, &g->model, n, what, "model", err);
}

/* The keys of a group beside its options. */
static const char *const group_sections[] = {
    "metrics", "scaler", "policy", "behavior", "fallback", "too_rapid", "schedules", "model", NULL};

/* metrics, scaler, policy: what a group does. */
static int parse_parts(struct as_group_cfg *g, struct as_node *n, const char *what, int *bad,
                       struct as_err *err)
{
    struct as_node *metrics = as_node_get(n, "metrics");
    struct as_node *scaler = as_node_get(n, "scaler");
    struct as_node *policy = as_node_get(n, "policy");
    int metrics_bad = metrics == NULL;
    if ((metrics == NULL &&
         as_cfg_step(as_node_missing(n, "metrics", what, err), n, bad, err) < 0) ||
        (scaler == NULL && as_cfg_step(as_node_missing(n, "scaler", what, err), n, bad, err) < 0) ||
        as_cfg_step(policy_type(g, policy, err), n, bad, err) < 0 ||
        (metrics && as_cfg_step(parse_metrics(g, metrics, err), n, &metrics_bad, err) < 0) ||
        (scaler && as_cfg_step(parse_scaler(g, scaler, err), n, bad, err) < 0) ||
        (g->policy && as_cfg_step(parse_policy(g, policy, n, !metrics_bad, err), n, bad, err) < 0))
        return -1;
    *bad |= metrics_bad;
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
    if (as_cfg_expect(n, AS_NODE_MAP, what, err) < 0)
        return -1;
    int bad = 0, keys_bad = 0;
    if (as_cfg_step(parse_group_keys(g, n, what, err), n, &keys_bad, err) < 0)
        return -1;
    if (keys_bad) /* the interval may be the one that failed: no timeout is compared with it */
        g->interval_ms = 0;
    const struct as_opt *const tables[] = {as_group_opts, NULL};
    if (as_cfg_step(as_config_parse_bounds(g, n, !keys_bad, what, err), n, &bad, err) < 0 ||
        as_cfg_step(as_config_parse_schedules(g, as_node_get(n, "schedules"), err), n, &bad, err) <
            0 ||
        parse_parts(g, n, what, &bad, err) < 0 ||
        as_cfg_step(as_behavior_parse(&g->behavior, as_node_get(n, "behavior"), what, err), n, &bad,
                    err) < 0 ||
        as_cfg_step(parse_sub(as_fallback_opts, &g->fallback, as_node_get(n, "fallback"), what,
                              "fallback", err),
                    n, &bad, err) < 0 ||
        as_cfg_step(parse_too_rapid(g, as_node_get(n, "too_rapid"), what, err), n, &bad, err) < 0 ||
        as_cfg_step(parse_model(g, as_node_get(n, "model"), what, err), n, &bad, err) < 0 ||
        as_cfg_step(as_node_check_keys(n, what, tables, group_sections, err), n, &bad, err) < 0)
        return -1;
    if (bad || keys_bad)
        return -1;
    struct as_sb fp = {0};
    if (as_node_fingerprint(n, NULL, &fp) < 0) {
        as_sb_free(&fp);
        return as_err_set(err, "out of memory");
    }
    g->digest = as_fnv1a(as_fnv1a(AS_FNV_BASIS, g->name, strlen(g->name)), fp.buf, fp.len);
    as_sb_free(&fp);
    return 0;
}

/* A relative log_file or state_dir is taken from the configuration file's directory, as a
 * ${file:} reference is: the daemon's working directory does not matter. */
static int resolve_path(char **path, const char *cfg_file, struct as_err *err)
{
    if (*path == NULL || (*path)[0] == '\0' || (*path)[0] == '/')
        return 0;
    char *copy = strdup(cfg_file);
    struct as_sb sb = {0};
    if (copy == NULL || as_sb_printf(&sb, "%s/%s", dirname(copy), *path) < 0) {
        free(copy);
        as_sb_free(&sb);
        return as_err_set(err, "out of memory");
    }
    free(copy);
    free(*path);
    *path = sb.buf;
    return 0;
}

static int parse_groups(struct as_config *cfg, struct as_node *root, struct as_node *groups,
                        int *bad, struct as_err *err)
{
    if (groups == NULL)
        return as_cfg_step(as_node_missing(root, "groups", "the configuration", err), root, bad,
                           err);
    if (as_cfg_expect(groups, AS_NODE_MAP, "'groups'", err) < 0)
        return as_cfg_step(-1, root, bad, err);
    if (groups->n == 0) {
        as_err_at(err, groups->file, groups->line, groups->col,
                  "'groups' needs at least one group");
        return as_cfg_step(-1, root, bad, err);
    }
    cfg->groups = calloc(groups->n, sizeof(*cfg->groups));
    if (cfg->groups == NULL)
        return as_err_set(err, "out of memory");
    cfg->ngroups = groups->n;
    for (size_t i = 0; i < groups->n; i++) {
        groups->pairs[i].used = 1;
        if (as_cfg_step(
                parse_group(&cfg->groups[i], groups->pairs[i].key, groups->pairs[i].value, err),
                groups, bad, err) < 0)
            return -1;
        if (cfg->groups[i].name != NULL &&
            as_index_put(&cfg->by_name, cfg->groups[i].name, i) < 0) /* names are map keys */
            return as_err_set(err, "out of memory");
    }
    return 0;
}

static int parse_root(struct as_config *cfg, struct as_node *root, struct as_err *err)
{
    int bad = 0;
    if (as_cfg_expect(root, AS_NODE_MAP, "the configuration", err) < 0 ||
        as_cfg_step(as_opts_parse(as_global_opts, cfg, root, "configuration", err), root, &bad,
                    err) < 0)
        return -1;
    if (resolve_path(&cfg->log_file, root->file, err) < 0 ||
        resolve_path(&cfg->state_dir, root->file, err) < 0)
        return -1;
    const char *file;
    as_node_pos(root, "state_dir", &file, &cfg->state_dir_line, &cfg->state_dir_col);
    static const char *const root_keys[] = {"groups", "notifiers", "http", NULL};
    const struct as_opt *const tables[] = {as_global_opts, NULL};
    if (parse_groups(cfg, root, as_node_get(root, "groups"), &bad, err) < 0)
        return -1;
    if (!bad && as_config_check_exclusive(cfg, root->file, err) < 0)
        return -1;
    if (as_cfg_step(as_notifiers_parse(cfg, as_node_get(root, "notifiers"), err), root, &bad, err) <
            0 ||
        as_cfg_step(as_server_cfg_parse(as_node_get(root, "http"), root, &cfg->http, err), root,
                    &bad, err) < 0 ||
        as_cfg_step(as_node_check_keys(root, "the configuration", tables, root_keys, err), root,
                    &bad, err) < 0 ||
        (!bad && as_redact_collect(root, &cfg->ref_values, err) < 0))
        return -1;
    return bad ? -1 : 0;
}

/* err becomes the first error in file order; every error is in errs. */
static void sort_errors(struct as_errs *errs, struct as_err *err)
{
    if (err->msg[0] != '\0' && as_errs_add(errs, err) < 0)
        return; /* out of memory: err stands alone */
    as_errs_sort(errs);
    if (errs->n > 0)
        *err = errs->v[0];
}

static struct as_config *build(struct as_doc *doc, struct as_errs *errs, struct as_err *err)
{
    struct as_config *cfg = NULL;
    if (doc == NULL)
        goto fail;
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL || (cfg->file = strdup(doc->file)) == NULL) {
        as_err_set(err, "out of memory");
        goto fail;
    }
    cfg->refs = 1;
    int rc = parse_root(cfg, doc->root, err);
    if (rc == 0 && errs->n == 0 && errs->dropped == 0) {
        as_doc_free(doc);
        return cfg;
    }
fail:
    as_doc_free(doc);
    as_config_unref(cfg); /* refs 0 (half made) frees it too */
    sort_errors(errs, err);
    return NULL;
}

struct as_config *as_config_load_all(const char *path, struct as_errs *errs, struct as_err *err)
{
    as_err_clear(err);
    return build(as_doc_load(path, errs, err), errs, err);
}

struct as_config *as_config_load(const char *path, struct as_err *err)
{
    struct as_errs errs = {0};
    struct as_config *cfg = as_config_load_all(path, &errs, err);
    as_errs_free(&errs);
    return cfg;
}

struct as_config *as_config_parse_all(const char *name, const char *text, struct as_errs *errs,
                                      struct as_err *err)
{
    as_err_clear(err);
    return build(as_doc_parse_all(name, text, strlen(text), errs, err), errs, err);
}

struct as_config *as_config_parse(const char *name, const char *text, struct as_err *err)
{
    struct as_errs errs = {0};
    struct as_config *cfg = as_config_parse_all(name, text, &errs, err);
    as_errs_free(&errs);
    return cfg;
}
