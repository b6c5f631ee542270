/* Target tracking exactly as the Kubernetes HPA's replica calculator computes it:
 *   ratio = value / target; |1 - ratio| <= tolerance -> keep current, else ceil(ratio * current)
 *   average_value (a total): ratio = value / (average_value * current), else ceil(value / avg)
 *   from zero replicas: ceil(ratio) with no tolerance (the HPA's object/external rule)
 *   several metrics -> the largest proposal. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/decide.h"

/* Proposal of one metric, with its explanation in buf. */
static int propose(const struct as_group_cfg *g, const struct as_metric_cfg *m, double value,
                   int current, char *buf, size_t len)
{
    double ratio;
    int desired;
    if (m->average_value > 0) {
        double want = ceil(value / m->average_value);
        desired = want > 1e9 ? 1000000000 : (int)want;
        if (current == 0) {
            snprintf(buf, len, "%s=%g average_value=%g: ceil(%g/%g)=%d from zero", m->name, value,
                     m->average_value, value, m->average_value, desired);
            return desired;
        }
        ratio = value / (m->average_value * current);
        if (fabs(1.0 - ratio) <= g->tolerance) {
            snprintf(buf, len, "%s=%g average_value=%g ratio=%.3f within tolerance %g: keep %d",
                     m->name, value, m->average_value, ratio, g->tolerance, current);
            return current;
        }
        snprintf(buf, len, "%s=%g average_value=%g: ceil(%g/%g)=%d", m->name, value,
                 m->average_value, value, m->average_value, desired);
        return desired;
    }
    ratio = value / m->target;
    if (current == 0) {
        double want = ceil(ratio);
        desired = want > 1e9 ? 1000000000 : (int)want;
        snprintf(buf, len, "%s=%g target=%g: ceil(%.3f)=%d from zero", m->name, value, m->target,
                 ratio, desired);
        return desired;
    }
    if (fabs(1.0 - ratio) <= g->tolerance) {
        snprintf(buf, len, "%s=%g target=%g ratio=%.3f within tolerance %g: keep %d", m->name,
                 value, m->target, ratio, g->tolerance, current);
        return current;
    }
    double want = ceil(ratio * current);
    desired = want > 1e9 ? 1000000000 : (int)want;
    snprintf(buf, len, "%s=%g target=%g ratio=%.3f: ceil(%.3f*%d)=%d", m->name, value, m->target,
             ratio, ratio, current, desired);
    return desired;
}

void as_policy_target(const struct as_group_cfg *g, const struct as_obs *obs, struct as_rec *rec)
{
    rec->desired = obs->current;
    rec->valid = 0;
    rec->reason[0] = '\0';
    for (size_t i = 0; i < obs->n && i < g->nmetrics; i++) {
        if (!obs->m[i].ok)
            continue;
        char buf[AS_REASON_MAX];
        int p = propose(g, &g->metrics[i], obs->m[i].value, obs->current, buf, sizeof(buf));
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
