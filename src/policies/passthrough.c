/* Policy `passthrough`: the metric is the desired replica count, as Nomad's pass-through
 * strategy (plugins/builtin/strategy/pass-through: `Count = int64(metric.Value)`), for
 * deciders that live elsewhere (an edge router, a queue's "one worker per item") and for
 * testing the rest of the pipeline with exact counts.
 *   desired = rounding(value): floor by default (Go's int64() truncation, the same for the
 *             non-negative values a source delivers), or ceil, or nearest (halves away from
 *             zero)
 *   several metrics, or the one named by `metric`: the largest proposal wins (Nomad's
 *             PreemptScalingAction gives the highest count)
 *   a failed metric is skipped; none usable: valid = 0 (hold). Stateless. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/decide.h"
#include "config/opt.h"

enum { ROUND_FLOOR, ROUND_CEIL, ROUND_NEAREST };

static const char *const roundings[] = {"floor", "ceil", "nearest", NULL};

struct passthrough_cfg {
    char *metric;
    int rounding;
    size_t only; /* resolved by validate: 1 + the metric's index; 0: every metric */
};

static const struct as_opt opts[] = {
    {"metric", AS_OPT_STR, offsetof(struct passthrough_cfg, metric), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "Use only this metric; absent: every metric proposes a count and the largest wins."},
    {"rounding", AS_OPT_ENUM, offsetof(struct passthrough_cfg, rounding), "floor", AS_NO_BOUNDS, 0,
     roundings, "How a fractional value becomes a count: floor (as Nomad), ceil or nearest."},
    AS_OPT_END,
};

static int validate(void *cfg, const struct as_group_cfg *g, struct as_node *map,
                    struct as_err *err)
{
    struct passthrough_cfg *c = cfg;
    c->only = 0;
    if (c->metric == NULL)
        return 0;
    size_t i;
    if (as_group_metric(g, map, "metric", c->metric, 0, &i, err) < 0)
        return -1;
    c->only = i + 1;
    return 0;
}

static int to_count(int rounding, double v)
{
    double r = rounding == ROUND_CEIL ? ceil(v) : rounding == ROUND_NEAREST ? round(v) : floor(v);
    if (!(r >= 0)) /* a source never delivers NaN or a negative value; be safe anyway */
        return 0;
    return r > 1e9 ? 1000000000 : (int)r;
}

static void recommend(const void *cfg, const struct as_group_cfg *g, const struct as_obs *obs,
                      void *state, struct as_rec *out)
{
    const struct passthrough_cfg *c = cfg;
    (void)state;
    out->desired = obs->current;
    out->valid = 0;
    out->no_scale_down = 0;
    out->reason[0] = '\0';
    for (size_t i = 0; i < obs->n && i < g->nmetrics; i++) {
        if ((c->only > 0 && c->only != i + 1) || !obs->m[i].ok)
            continue;
        int want = to_count(c->rounding, obs->m[i].value);
        if (out->valid == 0 || want > out->desired) {
            out->desired = want;
            snprintf(out->reason, sizeof(out->reason), "%s=%g passed through (%s): %d",
                     g->metrics[i].name, obs->m[i].value, roundings[c->rounding], want);
        }
        out->valid++;
    }
    if (out->valid > 1) {
        size_t len = strlen(out->reason);
        snprintf(out->reason + len, sizeof(out->reason) - len, " (largest of %d metrics)",
                 out->valid);
    } else if (out->valid == 0 && c->only > 0 && c->only <= g->nmetrics) {
        snprintf(out->reason, sizeof(out->reason), "metric %s failed",
                 g->metrics[c->only - 1].name);
    }
}

const struct as_policy_ops as_policy_passthrough_ops = {
    .name = "passthrough",
    .opts = opts,
    .cfg_size = sizeof(struct passthrough_cfg),
    .summary = "Nomad's pass-through: the metric's value is the replica count (the largest of "
               "several metrics).",
    .metric_targets = 0,
    .validate = validate,
    .recommend = recommend,
};
