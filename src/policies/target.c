/* Policy `target`: target tracking exactly as the Kubernetes HPA's replica calculator
 * (pkg/controller/podautoscaler/replica_calculator.go) computes it.
 *   ratio = value / target; |1 - ratio| <= tolerance -> keep current, else ceil(ratio * current)
 *   average_value (a total): ratio = value / (average_value * current), else ceil(value / avg)
 *   from zero replicas: ceil(ratio) with no tolerance (the HPA's object/external rule)
 *   per-replica values: missing replicas count as the target on a scale-down and 0 on a
 *     scale-up, not-ready ones are left out on a scale-down and count as 0 on a scale-up; the
 *     ratio is recomputed and the count held if it is within tolerance or flips direction
 *   per-replica weights (requests): the utilization sum(value * weight) / sum(weight), a
 *     missing replica on a scale-down at max(100, target) % of its request; a replica without
 *     a request among weighted ones holds the count (the HPA: "missing request for")
 *   several metrics -> the largest proposal. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/decide.h"
#include "util/numfmt.h"

static int clamp_int(double v)
{
    return v > 1e9 ? 1000000000 : v < 0 ? 0 : (int)v;
}

/* A ratio for a reason: three decimals as the HPA's, or %.4g when that would be long (a
 * metric of 1e308 must not print 300 digits). The reasons are written every round, with
 * util/numfmt's formatters (as_fmt for the rest), which write the same text as snprintf
 * without its general machinery: it was most of a round's user time in bench/scale.py. */
static const char *r3(double v, char *buf)
{
    if (fabs(v) < 1e9)
        as_fmt_f3(buf, v);
    else
        snprintf(buf, 32, "%.4g", v);
    return buf;
}

/* The sums of one per-replica metric: ready replicas with a sample (sum of value x weight,
 * and of weight), missing and not-ready ones (count and weight). Weight 1 without requests. */
struct tally {
    double sum, w;
    int ready, missing, unready;
    double wmissing, wunready;
    int weighted; /* some replica has a weight (a request, or < 0: none where one was asked
                     for): all must have one > 0, else `bad` names the first without */
    long bad;     /* index of a replica without a weight, -1 none */
};

static void count(const struct as_metric_obs *o, struct tally *t)
{
    *t = (struct tally){.bad = -1};
    for (size_t i = 0; i < o->nreplicas; i++)
        if (o->replicas[i].weight != 0)
            t->weighted = 1;
    for (size_t i = 0; i < o->nreplicas; i++) {
        const struct as_replica_obs *r = &o->replicas[i];
        double w = t->weighted ? r->weight : 1.0;
        if (!(w > 0) && t->bad < 0)
            t->bad = (long)i;
        if (!r->ok)
            t->missing++, t->wmissing += w;
        else if (!r->ready)
            t->unready++, t->wunready += w;
        else
            t->sum += r->value * w, t->w += w, t->ready++;
    }
}

/* Holds the count for a metric whose replicas cannot be weighed or have no ready sample (the
 * HPA errors out: "missing request for", "did not receive metrics"). Returns 1 when held. */
static int hold(const struct as_metric_cfg *m, const struct as_metric_obs *o, const struct tally *t,
                int current, char *buf, size_t len)
{
    if (t->weighted && t->bad >= 0) {
        const char *id = o->replicas[t->bad].id;
        char who[80];
        if (id[0] != '\0')
            snprintf(who, sizeof(who), "'%s'", id);
        else /* no name: its position */
            snprintf(who, sizeof(who), "#%ld", t->bad);
        as_fmt(buf, len, "%s: replica %s has no request while others have: keep %d", m->name, who,
               current);
        return 1;
    }
    if (t->ready == 0) {
        as_fmt(buf, len,
               "%s: no ready replica with a sample (%d missing, %d not ready): "
               "keep %d",
               m->name, t->missing, t->unready, current);
        return 1;
    }
    return 0;
}

/* A metric with one value per replica: GetResourceReplicas / GetMetricReplicas. With weights
 * (requests) the utilization is sum(usage) / sum(requests), and a missing replica counts on a
 * scale-down as max(100 %, target) of its request (the HPA's fallbackUtilization). */
static int per_replica(const struct as_group_cfg *g, const struct as_metric_cfg *m,
                       const struct as_metric_obs *o, int current, char *buf, size_t len)
{
    struct tally t;
    char b0[32], b1[32];
    count(o, &t);
    if (hold(m, o, &t, current, buf, len))
        return current;
    const char *avg = t.weighted ? "utilization" : "avg";
    double ratio = t.sum / t.w / m->target;
    int rebalance = t.unready > 0 && ratio > 1.0;
    if (!rebalance && t.missing == 0) {
        if (fabs(1.0 - ratio) <= g->tolerance) {
            as_fmt(buf, len,
                   "%s %s=%g over %d ready target=%g ratio=%s within tolerance %g:"
                   " keep %d",
                   m->name, avg, t.sum / t.w, t.ready, m->target, r3(ratio, b0), g->tolerance,
                   current);
            return current;
        }
        int want = clamp_int(ceil(ratio * t.ready));
        const char *rs = r3(ratio, b0);
        as_fmt(buf, len, "%s %s=%g over %d ready target=%g ratio=%s: ceil(%s*%d)=%d", m->name, avg,
               t.sum / t.w, t.ready, m->target, rs, rs, t.ready, want);
        return want;
    }
    /* Fill in: missing at the target on a scale-down (weighted: at max(100 %, target) of its
     * own request), 0 on a scale-up; unready as 0 when scaling up (rebalance, with its
     * request), left out otherwise. */
    double nsum = t.sum, nw = t.w;
    int n = t.ready;
    double fill = t.weighted ? fmax(100.0, m->target) : m->target;
    if (ratio < 1.0 && t.missing > 0)
        nsum += fill * t.wmissing, nw += t.wmissing, n += t.missing;
    else if (ratio > 1.0 && t.missing > 0)
        nw += t.wmissing, n += t.missing;
    if (rebalance)
        nw += t.wunready, n += t.unready;
    double nratio = nsum / nw / m->target;
    if (fabs(1.0 - nratio) <= g->tolerance || (ratio < 1.0 && nratio > 1.0) ||
        (ratio > 1.0 && nratio < 1.0)) {
        as_fmt(buf, len,
               "%s ratio=%s (%s with %d missing, %d not ready): within tolerance or "
               "reversed: keep %d",
               m->name, r3(ratio, b0), r3(nratio, b1), t.missing, t.unready, current);
        return current;
    }
    int want = clamp_int(ceil(nratio * n));
    if ((nratio < 1.0 && want > current) || (nratio > 1.0 && want < current)) {
        as_fmt(buf, len,
               "%s ratio=%s (with %d missing, %d not ready): ceil(%s*%d)=%d goes against the "
               "ratio: keep %d",
               m->name, r3(ratio, b0), t.missing, t.unready, r3(nratio, b1), n, want, current);
        return current;
    }
    const char *nrs = r3(nratio, b1);
    as_fmt(buf, len, "%s ratio=%s (%s with %d missing, %d not ready): ceil(%s*%d)=%d", m->name,
           r3(ratio, b0), nrs, t.missing, t.unready, nrs, n, want);
    return want;
}

/* Proposal of one metric, with its explanation in buf. */
static int propose(const struct as_group_cfg *g, const struct as_metric_cfg *m,
                   const struct as_metric_obs *o, int current, char *buf, size_t len)
{
    double value = o->value, ratio;
    int desired;
    char b0[32];
    if (m->target > 0 && o->nreplicas > 0)
        return per_replica(g, m, o, current, buf, len);
    if (m->average_value > 0) {
        desired = clamp_int(ceil(value / m->average_value));
        if (current == 0) {
            as_fmt(buf, len, "%s=%g average_value=%g: ceil(%g/%g)=%d from zero", m->name, value,
                   m->average_value, value, m->average_value, desired);
            return desired;
        }
        ratio = value / (m->average_value * current);
        if (fabs(1.0 - ratio) <= g->tolerance) {
            as_fmt(buf, len, "%s=%g average_value=%g ratio=%s within tolerance %g: keep %d",
                   m->name, value, m->average_value, r3(ratio, b0), g->tolerance, current);
            return current;
        }
        as_fmt(buf, len, "%s=%g average_value=%g: ceil(%g/%g)=%d", m->name, value, m->average_value,
               value, m->average_value, desired);
        return desired;
    }
    ratio = value / m->target;
    if (current == 0) {
        desired = clamp_int(ceil(ratio));
        as_fmt(buf, len, "%s=%g target=%g: ceil(%s)=%d from zero", m->name, value, m->target,
               r3(ratio, b0), desired);
        return desired;
    }
    if (fabs(1.0 - ratio) <= g->tolerance) {
        as_fmt(buf, len, "%s=%g target=%g ratio=%s within tolerance %g: keep %d", m->name, value,
               m->target, r3(ratio, b0), g->tolerance, current);
        return current;
    }
    desired = clamp_int(ceil(ratio * current));
    const char *rs = r3(ratio, b0);
    as_fmt(buf, len, "%s=%g target=%g ratio=%s: ceil(%s*%d)=%d", m->name, value, m->target, rs, rs,
           current, desired);
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
            _Static_assert(sizeof(buf) == sizeof(rec->reason), "a proposal's reason fits");
            memcpy(rec->reason, buf, strlen(buf) + 1);
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
