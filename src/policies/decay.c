/* Policy `decay`: the Locust Pod Autoscaler's evaluation (autoscaler/evaluate/evaluate.py).
 *   targets: {metric: limit, ...}; a target is exceeded when its metric's value > limit
 *   any target exceeded                      -> current + step, unchanged-run counter = 0
 *   none exceeded, counter >= unchanged_runs -> current - replicas (the decay), counter = 0
 *   none exceeded, otherwise                 -> keep, counter + 1
 *   so with unchanged_runs = 3 the decay comes on the 4th quiet run, as in Locust, and a
 *   decay counts as a change: the next one is again unchanged_runs + 1 runs away
 *   a failed target metric is unknown: if a valid target is exceeded the group still scales
 *     up; otherwise it holds and the run is not counted (it might have hidden a breach),
 *     as a Locust run that errors out leaves its decay file untouched
 * See docs/policies/decay.md */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/decide.h"
#include "config/opt.h"

#define DECAY_TARGETS_MAX 16

struct decay_cfg {
    char **targets; /* "metric: limit" as written, NULL-terminated (the option parser's form) */
    int step, replicas, unchanged_runs;
    /* resolved by validate */
    size_t ntargets;
    size_t idx[DECAY_TARGETS_MAX];
    double limit[DECAY_TARGETS_MAX];
};

struct decay_state {
    int runs; /* runs since the last change (Locust's runs_since_change) */
};

_Static_assert(sizeof(struct decay_state) <= AS_POLICY_STATE_MAX, "decay_state must fit");

static const struct as_opt opts[] = {
    {"targets", AS_OPT_HEADERS, offsetof(struct decay_cfg, targets), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Latency targets, a mapping of metric name to limit (`{p95_ms: 500}`): any metric above "
     "its limit adds step."},
    {"step", AS_OPT_INT, offsetof(struct decay_cfg, step), "1", 1, 1000000, 0, NULL,
     "Replicas added when a target is exceeded (Locust adds 1)."},
    {"replicas", AS_OPT_INT, offsetof(struct decay_cfg, replicas), "1", 1, 1000000, 0, NULL,
     "Replicas removed by one decay (Locust's decay.replicas)."},
    {"unchanged_runs", AS_OPT_INT, offsetof(struct decay_cfg, unchanged_runs), "3", 0, 1000000, 0,
     NULL,
     "Runs without a change before a decay (Locust's decay.unchangedRuns; the decay "
     "comes on the run after these)."},
    AS_OPT_END,
};

/* Resolves one `name: limit` pair of the targets mapping into slot k. */
static int parse_target(struct decay_cfg *c, const struct as_group_cfg *g, const struct as_pair *p,
                        size_t k, struct as_err *err)
{
    const struct as_node *key = p->key, *val = p->value;
    long i = as_group_metric_index(g, key->value);
    if (i < 0)
        return as_err_at(err, key->file, key->line, key->col,
                         "group '%s' policy: 'targets': no metric named '%s'", g->name, key->value);
    double limit;
    if (as_parse_double(val->value, &limit) < 0 || !isfinite(limit) || limit < 0)
        return as_err_at(err, val->file, val->line, val->col,
                         "group '%s' policy: 'targets': the limit of '%s' must be a number >= 0",
                         g->name, key->value);
    c->idx[k] = (size_t)i;
    c->limit[k] = limit;
    return 0;
}

static int validate(void *cfg, const struct as_group_cfg *g, struct as_node *map,
                    struct as_err *err)
{
    struct decay_cfg *c = cfg;
    /* The option parser has checked the shape (a non-empty mapping of scalars); the node
     * gives the positions for the checks only we can make. */
    const struct as_node *t = as_node_get(map, "targets");
    if (t == NULL || t->kind != AS_NODE_MAP)
        return as_err_set(err, "'targets' must be a mapping of metric names to limits");
    if (t->n > DECAY_TARGETS_MAX)
        return as_err_at(err, t->file, t->line, t->col,
                         "group '%s' policy: 'targets' has %zu entries, at most %d", g->name, t->n,
                         DECAY_TARGETS_MAX);
    for (size_t k = 0; k < t->n; k++)
        if (parse_target(c, g, &t->pairs[k], k, err) < 0)
            return -1;
    c->ntargets = t->n;
    return 0;
}

/* Appends one item to a comma-separated list; truncation is acceptable in a reason. */
static void list_add(char *buf, size_t len, const char *item)
{
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, "%s%s", used ? ", " : "", item);
}

/* Reads every target: returns how many were exceeded, counts the failed ones, and lists both
 * in buf ("p95_ms=620 > 500, avg_ms failed"). */
static int breaches(const struct decay_cfg *c, const struct as_group_cfg *g,
                    const struct as_obs *obs, int *valid, int *failed, char *buf, size_t len)
{
    int exceeded = 0;
    char item[128];
    buf[0] = '\0';
    for (size_t k = 0; k < c->ntargets; k++) {
        size_t i = c->idx[k];
        const char *name = i < g->nmetrics ? g->metrics[i].name : "?";
        if (i >= obs->n || !obs->m[i].ok) {
            (*failed)++;
            snprintf(item, sizeof(item), "%s failed", name);
            list_add(buf, len, item);
            continue;
        }
        (*valid)++;
        if (obs->m[i].value > c->limit[k]) {
            exceeded++;
            snprintf(item, sizeof(item), "%s=%g > %g", name, obs->m[i].value, c->limit[k]);
            list_add(buf, len, item);
        }
    }
    return exceeded;
}

static void recommend(const void *cfg, const struct as_group_cfg *g, const struct as_obs *obs,
                      void *state, struct as_rec *out)
{
    const struct decay_cfg *c = cfg;
    struct decay_state *s = state;
    int cur = obs->current, failed = 0;
    char seen[AS_REASON_MAX / 2];
    *out = (struct as_rec){.desired = cur};
    int exceeded = breaches(c, g, obs, &out->valid, &failed, seen, sizeof(seen));
    if (exceeded > 0) {
        out->desired = cur + c->step;
        s->runs = 0;
        snprintf(out->reason, sizeof(out->reason), "%s: target exceeded: %d+%d=%d", seen, cur,
                 c->step, out->desired);
    } else if (failed > 0) {
        /* Without valid metrics the core appends its own "hold". */
        snprintf(out->reason, sizeof(out->reason),
                 "%s: no valid target exceeded, run not counted (%d of %d unchanged)%s", seen,
                 s->runs, c->unchanged_runs, out->valid ? ": keep" : "");
        if (out->valid) {
            size_t used = strlen(out->reason);
            snprintf(out->reason + used, sizeof(out->reason) - used, " %d", cur);
        }
    } else if (s->runs >= c->unchanged_runs) {
        out->desired = cur > c->replicas ? cur - c->replicas : 0;
        snprintf(out->reason, sizeof(out->reason),
                 "no target exceeded after %d unchanged runs (unchanged_runs %d): decay %d-%d=%d",
                 s->runs, c->unchanged_runs, cur, c->replicas, out->desired);
        s->runs = 0;
    } else {
        s->runs++;
        snprintf(out->reason, sizeof(out->reason),
                 "no target exceeded: unchanged run %d of %d: keep %d", s->runs, c->unchanged_runs,
                 cur);
    }
}

static int save(const void *cfg, const void *state, json_t *obj)
{
    (void)cfg;
    const struct decay_state *s = state;
    return json_object_set_new(obj, "runs_since_change", json_integer(s->runs));
}

static int load(const void *cfg, void *state, const json_t *obj)
{
    (void)cfg;
    const json_t *r = json_object_get(obj, "runs_since_change");
    if (!json_is_object(obj) || !json_is_integer(r) || json_integer_value(r) < 0 ||
        json_integer_value(r) > 1000000000)
        return -1;
    ((struct decay_state *)state)->runs = (int)json_integer_value(r);
    return 0;
}

const struct as_policy_ops as_policy_decay_ops = {
    .name = "decay",
    .opts = opts,
    .cfg_size = sizeof(struct decay_cfg),
    .summary = "The Locust Pod Autoscaler's latency targets with decay: any target exceeded adds "
               "step; after unchanged_runs runs without a change, a decay removes replicas.",
    .state_size = sizeof(struct decay_state),
    .metric_targets = 0,
    .validate = validate,
    .recommend = recommend,
    .save = save,
    .load = load,
};
