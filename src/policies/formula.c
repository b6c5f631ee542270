/* Policy `formula`: KEDA's scaling modifiers. Several metrics are combined by one expression
 * (policies/expr.h: numbers, metric names, + - * /, comparisons, && ||, c ? a : b, min, max,
 * abs, ceil, floor) into one value, which is then tracked against `target` exactly as the
 * `target` policy (the HPA) tracks one metric:
 *   metric_type: average_value (KEDA's default AverageValue): ceil(value / target), held while
 *                |1 - value / (target * current)| <= tolerance
 *   metric_type: value (KEDA's Value):                 ceil(current * value / target), held while
 *                |1 - value / target| <= tolerance
 * The formula is compiled once at configuration time; a name that is not one of the group's
 * metrics is an error at the `formula` key. Any metric the formula uses that failed makes the
 * formula fail (valid = 0, hold), as KEDA applies the formula only when every trigger is
 * healthy; a division by zero or an overflow does the same. `activation_target` is accepted
 * for KEDA parity and recorded, but scale to and from zero is not this policy's business. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/decide.h"
#include "config/opt.h"
#include "policies/expr.h"

enum { TYPE_AVERAGE_VALUE, TYPE_VALUE };

struct formula_cfg {
    char *formula;
    double target;
    double activation_target;
    int metric_type;
    struct as_expr expr; /* compiled by validate */
};

static const char *const metric_types[] = {"average_value", "value", NULL};

static const struct as_opt opts[] = {
    {"formula", AS_OPT_STR, offsetof(struct formula_cfg, formula), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Expression over the group's metric names (KEDA scalingModifiers.formula): numbers, "
     "+ - * /, < <= > >= == !=, && ||, c ? a : b, min, max, abs, ceil, floor."},
    {"target", AS_OPT_DOUBLE, offsetof(struct formula_cfg, target), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED, NULL, "Target for the formula's value (> 0), as the HPA tracks a metric."},
    {"metric_type", AS_OPT_ENUM, offsetof(struct formula_cfg, metric_type), "average_value",
     AS_NO_BOUNDS, 0, metric_types,
     "average_value: the value is a total, desired = ceil(value / target); value: desired = "
     "ceil(current * value / target)."},
    {"activation_target", AS_OPT_DOUBLE, offsetof(struct formula_cfg, activation_target), "0", 0,
     1e300, 0, NULL,
     "KEDA's activationTarget, accepted for parity; scaling to and from zero is not done by "
     "this policy."},
    AS_OPT_END,
};

/* "cpu, queue": the group's metric names, for an error message. */
static void list_names(const struct as_group_cfg *g, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < g->nmetrics && o < len; i++) {
        int n = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", g->metrics[i].name);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

static int validate(void *cfg, const struct as_group_cfg *g, struct as_node *map,
                    struct as_err *err)
{
    struct formula_cfg *c = cfg;
    const char *file;
    int line, col;
    if (!(c->target > 0)) {
        return as_err_key(err, map, "target", "group '%s' policy: 'target' must be above 0",
                          g->name);
    }
    as_node_pos(map, "formula", &file, &line, &col);
    if (g->nmetrics > AS_EXPR_MAX_VARS)
        return as_err_at(err, file, line, col,
                         "group '%s' policy: a formula can use at most %d "
                         "metrics",
                         g->name, AS_EXPR_MAX_VARS);
    const char *names[AS_EXPR_MAX_VARS];
    for (size_t i = 0; i < g->nmetrics; i++)
        names[i] = g->metrics[i].name;
    char msg[160], known[192] = "";
    size_t at = 0;
    if (as_expr_parse(&c->expr, c->formula, names, g->nmetrics, msg, sizeof(msg), &at) == 0)
        return 0;
    if (strncmp(msg, "unknown metric", 14) == 0) {
        char list[160];
        list_names(g, list, sizeof(list));
        snprintf(known, sizeof(known), " (metrics: %s)", list);
    }
    return as_err_at(err, file, line, col, "group '%s' policy: formula: %s at character %zu%s",
                     g->name, msg, at + 1, known);
}

/* Appends "name=value" for each metric the formula uses, for the reason. */
static void describe_inputs(const struct formula_cfg *c, const struct as_group_cfg *g,
                            const struct as_obs *obs, char *buf, size_t len)
{
    size_t o = 0, k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < g->nmetrics && i < obs->n && o < len; i++) {
        if (!as_expr_uses(&c->expr, i))
            continue;
        int n = obs->m[i].ok
                    ? snprintf(buf + o, len - o, "%s%s=%g", k ? ", " : "", g->metrics[i].name,
                               obs->m[i].value)
                    : snprintf(buf + o, len - o, "%s%s failed", k ? ", " : "", g->metrics[i].name);
        if (n < 0)
            break;
        o += (size_t)n;
        k++;
    }
}

/* The formula's inputs in vals; the index of the first used metric that failed, or -1. */
static long gather(const struct formula_cfg *c, const struct as_group_cfg *g,
                   const struct as_obs *obs, double *vals, size_t *n)
{
    *n = g->nmetrics < AS_EXPR_MAX_VARS ? g->nmetrics : AS_EXPR_MAX_VARS;
    for (size_t i = 0; i < *n; i++) {
        vals[i] = 0;
        if (!as_expr_uses(&c->expr, i))
            continue;
        if (i >= obs->n || !obs->m[i].ok)
            return (long)i;
        vals[i] = obs->m[i].value;
    }
    return -1;
}

static void recommend(const void *cfg, const struct as_group_cfg *g, const struct as_obs *obs,
                      void *state, struct as_rec *out)
{
    const struct formula_cfg *c = cfg;
    (void)state;
    out->desired = obs->current;
    out->valid = 0;
    out->no_scale_down = 0;
    double vals[AS_EXPR_MAX_VARS], value;
    char inputs[192];
    size_t n;
    long failed = gather(c, g, obs, vals, &n);
    describe_inputs(c, g, obs, inputs, sizeof(inputs));
    if (failed >= 0) {
        snprintf(out->reason, sizeof(out->reason), "formula: metric %s failed",
                 g->metrics[failed].name);
        return;
    }
    if (as_expr_eval(&c->expr, vals, n, &value) < 0) {
        snprintf(out->reason, sizeof(out->reason),
                 "formula undefined (division by zero or overflow) with %s", inputs);
        return;
    }
    /* Track the value as one metric of the HPA's: the same code, the same rounding. */
    struct as_metric_cfg m = {.name = "formula"};
    if (c->metric_type == TYPE_VALUE)
        m.target = c->target;
    else
        m.average_value = c->target;
    struct as_group_cfg fg = *g;
    fg.nmetrics = 1;
    fg.metrics = &m;
    struct as_metric_obs mo = {.ok = 1, .value = value};
    struct as_obs fo = *obs;
    fo.n = 1;
    fo.m = &mo;
    as_policy_target(&fg, &fo, out);
    if (inputs[0] != '\0') {
        size_t len = strlen(out->reason);
        snprintf(out->reason + len, sizeof(out->reason) - len, " (%s)", inputs);
    }
}

const struct as_policy_ops as_policy_formula_ops = {
    .name = "formula",
    .opts = opts,
    .cfg_size = sizeof(struct formula_cfg),
    .summary = "KEDA scaling modifiers: one expression combines the metrics into a value that "
               "is tracked against a target as the HPA does.",
    .metric_targets = 0,
    .validate = validate,
    .recommend = recommend,
};
