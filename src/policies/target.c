/* Policy `target`: target tracking exactly as the Kubernetes HPA's replica calculator
 * (pkg/controller/podautoscaler/replica_calculator.go) computes it.
 *   ratio = value / target; |1 - ratio| <= tolerance -> keep current, else ceil(ratio * current)
 *   average_value (a total): ratio = value / (average_value * current), else ceil(value / avg)
 *   from zero replicas: ceil(ratio) with no tolerance (the HPA's object/external rule)
 *   per-replica values: missing replicas count as the target on a scale-down and 0 on a
 *     scale-up, not-ready ones are left out on a scale-down and count as 0 on a scale-up; the
 *     ratio is recomputed and the count held if it is within tolerance or flips direction
 *   several metrics -> the largest proposal. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/decide.h"

static int clamp_int(double v)
{
    return v > 1e9 ? 1000000000 : v < 0 ? 0 : (int)v;
}

/* A ratio for a reason: three decimals as the HPA's, or %g when that would be long (a metric
 * of 1e308 must not print 300 digits). */
static const char *r3(double v, char *buf)
{
    snprintf(buf, 32, fabs(v) < 1e9 ? "%.3f" : "%.4g", v);
    return buf;
}

/* A metric with one value per replica: GetResourceReplicas / GetMetricReplicas. */
static int per_replica(const struct as_group_cfg *g, const struct as_metric_cfg *m,
                       const struct as_metric_obs *o, int current, char *buf, size_t len)
{
    double sum = 0;
    int ready = 0, missing = 0, unready = 0;
    char b0[32], b1[32], b2[32];
    for (size_t i = 0; i < o->nreplicas; i++) {
        const struct as_replica_obs *r = &o->replicas[i];
        if (!r->ok)
            missing++;
        else if (!r->ready)
            unready++;
        else
            sum += r->value, ready++;
    }
    if (ready == 0) { /* the HPA errors out here ("did not receive metrics"): hold */
        snprintf(buf, len,
                 "%s: no ready replica with a sample (%d missing, %d not ready): "
                 "keep %d",
                 m->name, missing, unready, current);
        return current;
    }
    double ratio = ready ? sum / ready / m->target : 0;
    int rebalance = unready > 0 && ratio > 1.0;
    if (!rebalance && missing == 0) {
        if (fabs(1.0 - ratio) <= g->tolerance) {
            snprintf(buf, len,
                     "%s avg=%g over %d ready target=%g ratio=%s within tolerance %g:"
                     " keep %d",
                     m->name, ready ? sum / ready : 0, ready, m->target, r3(ratio, b0),
                     g->tolerance, current);
            return current;
        }
        int want = clamp_int(ceil(ratio * ready));
        snprintf(buf, len, "%s avg=%g over %d ready target=%g ratio=%s: ceil(%s*%d)=%d", m->name,
                 sum / ready, ready, m->target, r3(ratio, b0), r3(ratio, b1), ready, want);
        return want;
    }
    /* Fill in: missing as 100 % of target on a scale-down, 0 on a scale-up; unready as 0
     * when scaling up (rebalance), left out otherwise. */
    double nsum = sum;
    int n = ready;
    if (ratio < 1.0 && missing > 0)
        nsum += m->target * missing, n += missing;
    else if (ratio > 1.0 && missing > 0)
        n += missing;
    if (rebalance)
        n += unready;
    double nratio = n ? nsum / n / m->target : 0;
    if (fabs(1.0 - nratio) <= g->tolerance || (ratio < 1.0 && nratio > 1.0) ||
        (ratio > 1.0 && nratio < 1.0)) {
        snprintf(buf, len,
                 "%s ratio=%s (%s with %d missing, %d not ready): within tolerance or "
                 "reversed: keep %d",
                 m->name, r3(ratio, b0), r3(nratio, b1), missing, unready, current);
        return current;
    }
    int want = clamp_int(ceil(nratio * n));
    if ((nratio < 1.0 && want > current) || (nratio > 1.0 && want < current)) {
        snprintf(buf, len,
                 "%s ratio=%s (with %d missing, %d not ready): ceil(%s*%d)=%d goes against the "
                 "ratio: keep %d",
                 m->name, r3(ratio, b0), missing, unready, r3(nratio, b1), n, want, current);
        return current;
    }
    snprintf(buf, len, "%s ratio=%s (%s with %d missing, %d not ready): ceil(%s*%d)=%d", m->name,
             r3(ratio, b0), r3(nratio, b1), missing, unready, r3(nratio, b2), n, want);
    return want;
}

/* Proposal of one metric, with its explanation in buf. */
static int propose(const struct as_group_cfg *g, const struct as_metric_cfg *m,
                   const struct as_metric_obs *o, int current, char *buf, size_t len)
{
    double value = o->value, ratio;
    int desired;
    char b0[32], b1[32];
    if (m->target > 0 && o->nreplicas > 0)
        return per_replica(g, m, o, current, buf, len);
    if (m->average_value > 0) {
        desired = clamp_int(ceil(value / m->average_value));
        if (current == 0) {
            snprintf(buf, len, "%s=%g average_value=%g: ceil(%g/%g)=%d from zero", m->name, value,
                     m->average_value, value, m->average_value, desired);
            return desired;
        }
        ratio = value / (m->average_value * current);
        if (fabs(1.0 - ratio) <= g->tolerance) {
            snprintf(buf, len, "%s=%g average_value=%g ratio=%s within tolerance %g: keep %d",
                     m->name, value, m->average_value, r3(ratio, b0), g->tolerance, current);
            return current;
        }
        snprintf(buf, len, "%s=%g average_value=%g: ceil(%g/%g)=%d", m->name, value,
                 m->average_value, value, m->average_value, desired);
        return desired;
    }
    ratio = value / m->target;
    if (current == 0) {
        desired = clamp_int(ceil(ratio));
        snprintf(buf, len, "%s=%g target=%g: ceil(%s)=%d from zero", m->name, value, m->target,
                 r3(ratio, b0), desired);
        return desired;
    }
    if (fabs(1.0 - ratio) <= g->tolerance) {
        snprintf(buf, len, "%s=%g target=%g ratio=%s within tolerance %g: keep %d", m->name, value,
                 m->target, r3(ratio, b0), g->tolerance, current);
        return current;
    }
    desired = clamp_int(ceil(ratio * current));
    snprintf(buf, len, "%s=%g target=%g ratio=%s: ceil(%s*%d)=%d", m->name, value, m->target,
             r3(ratio, b0), r3(ratio, b1), current, desired);
    return desired;
}

void as_policy_target(const struct as_group_cfg *g, const struct as_obs *obs, struct as_rec *rec)
{
    rec->desired = obs->current;
    rec->valid = 0;
    rec->no_scale_down = 0;
    rec->reason[0] = '\0';
    for (size_t i = 0; i < obs->n && i < g->nmetrics; i++) {
        if (!obs->m[i].ok)
            continue;
        char buf[AS_REASON_MAX];
        int p = propose(g, &g->metrics[i], &obs->m[i], obs->current, buf, sizeof(buf));
        if (rec->valid == 0 || p > rec->desired) {
            rec->desired = p;
            snprintf(rec->reason, sizeof(rec->reason), "%s", buf);
        }
        rec->valid++;
    }
    if (rec->valid > 1) {
        size_t len = strlen(rec->reason);
        snprintf(rec->reason + len, sizeof(rec->reason) - len, " (largest of %d metrics)",
                 rec->valid);
    }
}

static void recommend(const void *cfg, const struct as_group_cfg *g, const struct as_obs *obs,
                      void *state, struct as_rec *out)
{
    (void)cfg;
    (void)state;
    as_policy_target(g, obs, out);
}

static const struct as_opt opts[] = {AS_OPT_END};

const struct as_policy_ops as_policy_target_ops = {
    .name = "target",
    .opts = opts,
    .cfg_size = 0,
    .summary = "Target tracking as the Kubernetes HPA computes it (the default): each metric's "
               "target or average_value, the largest proposal wins.",
    .metric_targets = 1,
    .recommend = recommend,
};
