#include "core/decide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policies/behavior.h"

void as_group_state_free(struct as_group_state *st)
{
    free(st->recs.v);
    free(st->up.v);
    free(st->down.v);
    st->recs = st->up = st->down = (struct as_stamps){0};
}

/* Appends to a reason; truncation is acceptable for a human-readable reason. */
static void note(struct as_decision *out, const char *fmt, int a, int b)
{
    size_t len = strlen(out->reason);
    snprintf(out->reason + len, sizeof(out->reason) - len, fmt, a, b);
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

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Rounds with no valid metric: hold, or after `fallback.after` of them, the fallback count. */
static void no_metric(const struct as_group_cfg *g, struct as_group_state *st,
                      const struct as_obs *obs, const char *failed, struct as_decision *out)
{
    st->failures++;
    const struct as_fallback *f = &g->fallback;
    if (f->after > 0 && st->failures >= f->after && f->replicas >= 0) {
        out->desired = clamp(f->replicas, g->min, g->max);
        snprintf(out->reason, sizeof(out->reason),
                 "no valid metric for %d rounds (failed: %s): fallback to %d", st->failures,
                 failed, out->desired);
        return;
    }
    out->desired = obs->current;
    snprintf(out->reason, sizeof(out->reason), "no valid metric (failed: %s): hold %d", failed,
             obs->current);
}

/* The policy's recommendation with the failure rules applied. Returns 0 when out is final. */
static int recommend(const struct as_group_cfg *g, struct as_group_state *st,
                     const struct as_obs *obs, struct as_decision *out)
{
    char failed[128];
    size_t nfailed = failed_names(g, obs, failed, sizeof(failed));
    if (nfailed == obs->n && obs->n > 0) {
        no_metric(g, st, obs, failed, out);
        return 0;
    }
    st->failures = 0;
    if (nfailed > 0 && g->on_error == AS_ON_ERROR_FAIL) {
        out->desired = obs->current;
        snprintf(out->reason, sizeof(out->reason), "metric %s failed (on_error: fail): hold %d",
                 failed, obs->current);
        return 0;
    }
    struct as_rec rec = {0};
    g->policy->recommend(g->policy_cfg, g, obs, st->policy, &rec);
    out->desired = rec.desired;
    snprintf(out->reason, sizeof(out->reason), "%s", rec.reason);
    if (rec.valid == 0) {
        out->desired = obs->current;
        snprintf(out->reason, sizeof(out->reason), "%s: hold %d",
                 rec.reason[0] ? rec.reason : "no usable measurement", obs->current);
        return 0;
    }
    if (rec.desired < obs->current && nfailed > 0 && g->on_error == AS_ON_ERROR_HPA) {
        /* The HPA's rule: a metric we could not read might have wanted more replicas. */
        out->desired = obs->current;
        snprintf(out->reason, sizeof(out->reason),
                 "metric %s failed: no scale-down (valid metrics propose %d): hold %d", failed,
                 rec.desired, obs->current);
    } else if (rec.desired < obs->current && rec.no_scale_down) {
        out->desired = obs->current;
        note(out, "; no scale-down now: hold %d", obs->current, 0);
    }
    return 1;
}

/* Stabilization windows, rate policies and bounds, as the HPA's normalization. */
static void normalize(const struct as_group_cfg *g, struct as_group_state *st,
                      const struct as_obs *obs, struct as_decision *out)
{
    const struct as_behavior *b = &g->behavior;
    int current = obs->current, raw = out->desired;
    if (!b->off) {
        int limited;
        if (!st->seeded) { /* recordInitialRecommendation: no scale-down on an empty history */
            struct as_stamps *r = &st->recs;
            int dummy;
            as_behavior_stabilize(b, r, obs->now_ms, current, current, &dummy);
            st->seeded = 1;
        }
        out->desired = as_behavior_stabilize(b, &st->recs, obs->now_ms, current, raw, &limited);
        if (limited)
            note(out, "; stabilized to %d (from %d)", out->desired, raw);
    }
    const char *why;
    int want = out->desired;
    out->desired = as_behavior_rate_limit(b, &st->up, &st->down, obs->now_ms, current, want,
                                          g->min, g->max, &why);
    if (out->desired == want)
        return;
    if (strcmp(why, "TooManyReplicas") == 0)
        note(out, "; capped at max %d (from %d)", out->desired, want);
    else if (strcmp(why, "TooFewReplicas") == 0)
        note(out, "; raised to min %d (from %d)", out->desired, want);
    else if (strcmp(why, "ScaleUpLimit") == 0)
        note(out, "; limited to %d by the scale-up policies (from %d)", out->desired, want);
    else
        note(out, "; limited to %d by the scale-down policies (from %d)", out->desired, want);
}

static int scales_within(const struct as_group_state *st, int64_t now, int64_t window)
{
    int n = 0;
    for (int i = 0; i < st->nscales && i < 32; i++)
        if (st->scales[i] > now - window)
            n++;
    return n;
}

/* Holds that come after the decision: cooldown, pause, too-rapid reporting. */
static void finish(const struct as_group_cfg *g, struct as_group_state *st,
                   const struct as_obs *obs, struct as_decision *out)
{
    int current = obs->current, want = out->desired;
    if (want != current && g->cooldown_ms > 0 && st->last_scale_ms > 0 &&
        obs->now_ms - st->last_scale_ms < g->cooldown_ms) {
        out->desired = current;
        note(out, "; cooldown: %ds left, hold %d",
             (int)((g->cooldown_ms - (obs->now_ms - st->last_scale_ms) + 999) / 1000), current);
    }
    if (out->desired != current && g->paused) {
        note(out, "; paused: hold %d (would be %d)", current, out->desired);
        out->desired = current;
    }
    const struct as_too_rapid *tr = &g->too_rapid;
    if (tr->scales > 0 && out->desired != current &&
        scales_within(st, obs->now_ms, tr->within_ms) + 1 > tr->scales) {
        out->too_rapid = 1;
        note(out, "; too rapid: %d scale events within the window (limit %d)",
             scales_within(st, obs->now_ms, tr->within_ms) + 1, tr->scales);
    }
}

void as_decide(const struct as_group_cfg *g, struct as_group_state *st, const struct as_obs *obs,
               struct as_decision *out)
{
    st->rounds++;
    out->too_rapid = 0;
    out->reason[0] = '\0';
    if (g->override >= 0) {
        out->desired = g->override;
        snprintf(out->reason, sizeof(out->reason), "manual override: %d", g->override);
        return;
    }
    if (obs->current > g->max || obs->current < g->min) {
        /* The HPA clamps a count outside the bounds before it looks at any metric. */
        out->desired = clamp(obs->current, g->min, g->max);
        snprintf(out->reason, sizeof(out->reason), "current %d is %s %s %d: set to %d",
                 obs->current, obs->current > g->max ? "above" : "below",
                 obs->current > g->max ? "max" : "min", obs->current > g->max ? g->max : g->min,
                 out->desired);
    } else if (recommend(g, st, obs, out)) {
        normalize(g, st, obs, out);
    }
    out->desired = clamp(out->desired, g->min, g->max);
    finish(g, st, obs, out);
}

void as_decide_scaled(const struct as_group_cfg *g, struct as_group_state *st, int64_t now_ms,
                      int from, int to)
{
    if (from == to)
        return;
    st->last_scale_ms = now_ms;
    memmove(st->scales + 1, st->scales, sizeof(st->scales) - sizeof(st->scales[0]));
    st->scales[0] = now_ms;
    if (st->nscales < 32)
        st->nscales++;
    as_behavior_store_event(&g->behavior, &st->up, &st->down, now_ms, from, to);
}
