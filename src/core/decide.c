#include "core/decide.h"

#include <stdio.h>
#include <string.h>

/* Appends to a reason buffer; truncation is acceptable for a human-readable reason. */
static void reason_add(char *buf, const char *fmt, int a, int b)
{
    size_t len = strlen(buf);
    snprintf(buf + len, AS_REASON_MAX - len, fmt, a, b);
}

static size_t failed_names(const struct as_group_cfg *g, const struct as_obs *obs, char *buf,
                           size_t len)
{
    size_t failed = 0, o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < obs->n && i < g->nmetrics; i++) {
        if (obs->m[i].ok)
            continue;
        failed++;
        int n = snprintf(buf + o, len - o, "%s%s", failed > 1 ? "," : "", g->metrics[i].name);
        if (n < 0 || (size_t)n >= len - o)
            break;
        o += (size_t)n;
    }
    return failed;
}

void as_decide(const struct as_group_cfg *g, struct as_group_state *st, const struct as_obs *obs,
               struct as_decision *out)
{
    struct as_rec rec;
    char failed[128];
    st->rounds++;
    as_policy_target(g, obs, &rec);
    size_t nfailed = failed_names(g, obs, failed, sizeof(failed));

    out->desired = rec.desired;
    snprintf(out->reason, sizeof(out->reason), "%s", rec.reason);
    if (rec.valid == 0) {
        out->desired = obs->current;
        snprintf(out->reason, sizeof(out->reason), "no valid metric (failed: %s): hold %d", failed,
                 obs->current);
    } else if (nfailed > 0 && rec.desired < obs->current) {
        /* The HPA's rule: a metric we could not read might have wanted more replicas. */
        out->desired = obs->current;
        snprintf(out->reason, sizeof(out->reason),
                 "metric %s failed: no scale-down (valid metrics propose %d): hold %d", failed,
                 rec.desired, obs->current);
    }
    if (out->desired < g->min) {
        reason_add(out->reason, "; raised to min %d (from %d)", g->min, out->desired);
        out->desired = g->min;
    } else if (out->desired > g->max) {
        reason_add(out->reason, "; capped at max %d (from %d)", g->max, out->desired);
        out->desired = g->max;
    }
}
