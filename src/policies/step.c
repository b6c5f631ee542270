/* Policy `step`: AWS step scaling (EC2 Auto Scaling and Application Auto Scaling
 * StepAdjustments) on one metric.
 *
 * Each step is a band of offsets from `threshold` (AWS: MetricIntervalLowerBound/UpperBound
 * relative to the alarm's breach threshold) with an adjustment. With d = value - threshold:
 *   d > 0: a band matches when lower <= d < upper (AWS: above the threshold the lower bound is
 *          inclusive and the upper bound exclusive);
 *   d < 0: a band matches when lower < d <= upper (below: lower exclusive, upper inclusive);
 *   d = 0: the first rule, then the second (a scale-out band starting at 0 wins over a
 *          scale-in band ending at 0).
 * An absent bound is unbounded. No matching band: no change.
 *   change  (ChangeInCapacity):        current + adjustment
 *   exact   (ExactCapacity):           adjustment
 *   percent (PercentChangeInCapacity): current + current * adjustment / 100 rounded as AWS
 *           does: toward zero, except that a change between 0 and 1 is 1 and one between -1 and
 *           0 is -1; then at least `min_adjustment_magnitude` in size (percent only).
 * Unlike one AWS policy, bands may leave gaps (a gap is "no change"), so one policy can hold
 * both the scale-out and the scale-in steps; they may not overlap. A failed metric: nothing
 * usable (valid = 0). Stateless: cooldown, behavior and bounds are the core's. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/decide.h"
#include "config/opt.h"

#define STEP_MAX 16
#define STEP_ADJ_MAX 1000000

enum { ADJ_CHANGE, ADJ_EXACT, ADJ_PERCENT };

static const char *const adj_types[] = {"change", "exact", "percent", NULL};
static const char *const aws_names[] = {"ChangeInCapacity", "ExactCapacity",
                                        "PercentChangeInCapacity"};

struct band {
    double lower, upper; /* offsets from the threshold; -inf / +inf when absent */
    int adjustment;
};

struct step_cfg {
    char *metric;
    double threshold;
    int adjustment_type;
    int min_adjustment_magnitude;
    size_t metric_index; /* resolved by validate */
    size_t nsteps;
    struct band steps[STEP_MAX];
};

static const struct as_opt opts[] = {
    {"metric", AS_OPT_STR, offsetof(struct step_cfg, metric), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL, "The metric the steps apply to; may be left out when the group has one metric."},
    {"threshold", AS_OPT_DOUBLE, offsetof(struct step_cfg, threshold), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED, NULL,
     "The breach threshold; every step's `lower` and `upper` are offsets from it. The steps "
     "themselves are a list under `steps` (see docs/policies/step.md)."},
    {"adjustment_type", AS_OPT_ENUM, offsetof(struct step_cfg, adjustment_type), "change",
     AS_NO_BOUNDS, 0, adj_types,
     "change (ChangeInCapacity), exact (ExactCapacity) or percent (PercentChangeInCapacity)."},
    {"min_adjustment_magnitude", AS_OPT_INT, offsetof(struct step_cfg, min_adjustment_magnitude),
     "0", 0, STEP_ADJ_MAX, 0, NULL,
     "With percent: a change is at least this many replicas (AWS MinAdjustmentMagnitude)."},
    AS_OPT_END,
};

/* Resolves `metric` to an index into the group's metrics. */
static int find_metric(struct step_cfg *c, const struct as_group_cfg *g, struct as_node *map,
                       struct as_err *err)
{
    const char *file;
    int line, col;
    as_node_pos(map, "metric", &file, &line, &col);
    if (c->metric == NULL) {
        if (g->nmetrics == 1)
            return 0;
        return as_err_at(err, file, line, col,
                         "group '%s' policy: the group has %zu metrics: set 'metric'", g->name,
                         g->nmetrics);
    }
    return as_group_metric(g, map, "metric", c->metric, 0, &c->metric_index, err);
}

/* One bound: absent or null is unbounded. */
static int parse_bound(struct as_node *item, const char *key, double unbounded, double *out,
                       const char *what, struct as_err *err)
{
    struct as_node *n = as_node_get(item, key);
    *out = unbounded;
    if (n == NULL || n->kind == AS_NODE_NULL)
        return 0;
    if (n->kind != AS_NODE_SCALAR || as_parse_double(n->value, out) < 0)
        return as_err_at(err, n->file, n->line, n->col, "%s: '%s' must be a number", what, key);
    return 0;
}

static int parse_band(const struct step_cfg *c, struct as_node *item, struct band *b,
                      const char *what, struct as_err *err)
{
    if (item->kind != AS_NODE_MAP)
        return as_err_at(err, item->file, item->line, item->col,
                         "%s must be a mapping with lower, upper and adjustment", what);
    struct as_node *adj = as_node_get(item, "adjustment");
    long l;
    if (parse_bound(item, "lower", -INFINITY, &b->lower, what, err) < 0 ||
        parse_bound(item, "upper", INFINITY, &b->upper, what, err) < 0)
        return -1;
    if (adj == NULL)
        return as_err_at(err, item->file, item->line, item->col,
                         "%s: missing required key 'adjustment'", what);
    if (adj->kind != AS_NODE_SCALAR || as_parse_long(adj->value, &l) < 0 || l < -STEP_ADJ_MAX ||
        l > STEP_ADJ_MAX)
        return as_err_at(err, adj->file, adj->line, adj->col,
                         "%s: 'adjustment' must be an integer between -%d and %d", what,
                         STEP_ADJ_MAX, STEP_ADJ_MAX);
    if (c->adjustment_type == ADJ_EXACT && l < 0)
        return as_err_at(err, adj->file, adj->line, adj->col,
                         "%s: an exact adjustment is a replica count and may not be negative",
                         what);
    b->adjustment = (int)l;
    if (isinf(b->lower) && isinf(b->upper))
        return as_err_at(err, item->file, item->line, item->col,
                         "%s: set 'lower', 'upper' or both (AWS: not both null)", what);
    if (b->upper <= b->lower) {
        return as_err_key(err, item, "upper", "%s: 'upper' must be greater than 'lower'", what);
    }
    static const char *const keys[] = {"lower", "upper", "adjustment", NULL};
    return as_node_check_keys(item, what, NULL, keys, err);
}

static int parse_steps(struct step_cfg *c, const struct as_group_cfg *g, struct as_node *map,
                       struct as_err *err)
{
    struct as_node *list = as_node_get(map, "steps");
    if (list == NULL)
        return as_err_at(err, map->file, map->line, map->col,
                         "group '%s' policy: missing required key 'steps'", g->name);
    if (list->kind != AS_NODE_SEQ || list->n == 0 || list->n > STEP_MAX)
        return as_err_at(err, list->file, list->line, list->col,
                         "group '%s' policy: 'steps' must be a list of 1 to %d steps", g->name,
                         STEP_MAX);
    for (size_t i = 0; i < list->n; i++) {
        char what[128];
        struct band *b = &c->steps[i];
        snprintf(what, sizeof(what), "group '%s' policy step %zu", g->name, i + 1);
        if (parse_band(c, list->items[i], b, what, err) < 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            const struct band *o = &c->steps[j];
            if (fmax(b->lower, o->lower) < fmin(b->upper, o->upper))
                return as_err_at(err, list->items[i]->file, list->items[i]->line,
                                 list->items[i]->col, "%s overlaps step %zu", what, j + 1);
        }
        c->nsteps = i + 1;
    }
    return 0;
}

static int validate(void *cfg, const struct as_group_cfg *g, struct as_node *map,
                    struct as_err *err)
{
    struct step_cfg *c = cfg;
    if (c->min_adjustment_magnitude > 0 && c->adjustment_type != ADJ_PERCENT) {
        const char *file;
        int line, col;
        as_node_pos(map, "min_adjustment_magnitude", &file, &line, &col);
        return as_err_at(err, file, line, col,
                         "group '%s' policy: 'min_adjustment_magnitude' applies only to "
                         "adjustment_type: percent",
                         g->name);
    }
    c->metric_index = 0;
    if (find_metric(c, g, map, err) < 0)
        return -1;
    return parse_steps(c, g, map, err);
}

static int in_band(const struct band *b, double d, int above)
{
    return above ? b->lower <= d && d < b->upper : b->lower < d && d <= b->upper;
}

/* The band d falls in, NULL if none; *above says which inclusivity rule matched. */
static const struct band *find_band(const struct step_cfg *c, double d, int *above)
{
    for (int pass = 0; pass < 2; pass++) {
        *above = pass == 0;
        if ((*above && d < 0) || (!*above && d > 0))
            continue;
        for (size_t i = 0; i < c->nsteps; i++)
            if (in_band(&c->steps[i], d, *above))
                return &c->steps[i];
    }
    return NULL;
}

/* AWS PercentChangeInCapacity: current * pct / 100 in whole replicas, in integers so that
 * 10 % of 10 is exactly 1. */
static long long percent_change(int current, int pct, int min_magnitude)
{
    long long hundredths = (long long)current * pct;
    long long q = hundredths / 100; /* toward zero: 12.7 -> 12, -6.67 -> -6 */
    if (q == 0 && hundredths != 0)
        q = hundredths > 0 ? 1 : -1; /* 0.67 -> 1, -0.58 -> -1 */
    if (min_magnitude > 0 && pct != 0 && llabs(q) < min_magnitude)
        q = pct > 0 ? min_magnitude : -min_magnitude;
    return q;
}

static void fmt_band(const struct band *b, int above, char *buf, size_t len)
{
    char lo[32] = "-inf", hi[32] = "+inf";
    if (!isinf(b->lower))
        snprintf(lo, sizeof(lo), "%g", b->lower);
    if (!isinf(b->upper))
        snprintf(hi, sizeof(hi), "%g", b->upper);
    snprintf(buf, len, "%s%s,%s%s", above ? "[" : "(", lo, hi, above ? ")" : "]");
}

/* The new count for band b, and the rule in words. */
static long long adjust(const struct step_cfg *c, const struct band *b, int current, char *buf,
                        size_t len)
{
    const char *type = aws_names[c->adjustment_type];
    if (c->adjustment_type == ADJ_EXACT) {
        snprintf(buf, len, "%s %d", type, b->adjustment);
        return b->adjustment;
    }
    if (c->adjustment_type == ADJ_CHANGE) {
        snprintf(buf, len, "%s %+d", type, b->adjustment);
        return (long long)current + b->adjustment;
    }
    long long q = percent_change(current, b->adjustment, c->min_adjustment_magnitude);
    int n = snprintf(buf, len, "%s %+d%% of %d = %g -> %+lld", type, b->adjustment, current,
                     (double)current * b->adjustment / 100.0, q);
    if (c->min_adjustment_magnitude > 0 && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " (min magnitude %d)", c->min_adjustment_magnitude);
    return (long long)current + q;
}

static void recommend(const void *cfg, const struct as_group_cfg *g, const struct as_obs *obs,
                      void *state, struct as_rec *out)
{
    const struct step_cfg *c = cfg;
    size_t i = c->metric_index;
    (void)state;
    out->desired = obs->current;
    out->valid = 0;
    out->no_scale_down = 0;
    if (i >= obs->n || i >= g->nmetrics || !obs->m[i].ok) {
        snprintf(out->reason, sizeof(out->reason), "metric %s failed",
                 i < g->nmetrics ? g->metrics[i].name : "?");
        return;
    }
    out->valid = 1;
    double v = obs->m[i].value;
    int above;
    const struct band *b = find_band(c, v - c->threshold, &above);
    /* "lat=730 is 230 over the threshold 500" */
    char seen[160];
    double off = v - c->threshold;
    if (off == 0)
        snprintf(seen, sizeof(seen), "%s=%g is at the threshold", g->metrics[i].name, v);
    else
        snprintf(seen, sizeof(seen), "%s=%g is %g %s the threshold %g", g->metrics[i].name, v,
                 fabs(off), off < 0 ? "under" : "over", c->threshold);
    if (b == NULL) {
        snprintf(out->reason, sizeof(out->reason), "%s: no step matches: keep %d", seen,
                 obs->current);
        return;
    }
    char band[80], rule[160];
    fmt_band(b, above, band, sizeof(band));
    long long want = adjust(c, b, obs->current, rule, sizeof(rule));
    out->desired = want < 0 ? 0 : want > 1000000000 ? 1000000000 : (int)want;
    snprintf(out->reason, sizeof(out->reason), "%s: step %s: %s: %d->%d", seen, band, rule,
             obs->current, out->desired);
}

const struct as_policy_ops as_policy_step_ops = {
    .name = "step",
    .opts = opts,
    .cfg_size = sizeof(struct step_cfg),
    .summary = "AWS step scaling: bands of offsets from a breach threshold, each with a "
               "ChangeInCapacity, ExactCapacity or PercentChangeInCapacity adjustment.",
    .metric_targets = 0,
    .validate = validate,
    .recommend = recommend,
};
