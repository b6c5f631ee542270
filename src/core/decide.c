#include "core/decide.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "core/behavior.h"

static void history_clear(struct as_history *h)
{
    for (size_t i = 0; i < h->cap; i++)
        free(h->v[i].reason);
    free(h->v);
    *h = (struct as_history){0};
}

void as_group_state_free(struct as_group_state *st)
{
    free(st->recs.v);
    free(st->up.v);
    free(st->down.v);
    st->recs = st->up = st->down = (struct as_stamps){0};
    history_clear(&st->history);
    as_policy_state_reset(st);
    free(st->last_reason);
    st->last_reason = NULL;
    free(st->scales);
    st->scales = NULL;
    st->nscales = 0;
}

static void set_last_reason(struct as_group_state *st, const char *reason)
{
    free(st->last_reason);
    st->last_reason = strdup(reason ? reason : "");
}

void *as_policy_state(struct as_group_state *st, const struct as_group_cfg *g)
{
    if (st->policy == NULL && g->policy->state_size > 0)
        st->policy = calloc(1, g->policy->state_size);
    return st->policy;
}

void as_policy_state_reset(struct as_group_state *st)
{
    free(st->policy);
    st->policy = NULL;
}

const struct as_event *as_history_get(const struct as_group_state *st, size_t i)
{
    const struct as_history *h = &st->history;
    if (i >= h->n)
        return NULL;
    return &h->v[(h->head + h->cap - i) % h->cap];
}

/* Keeps the newest min(n, cap) events when `history` changed (a reload). Returns 0 or -1. */
static int history_resize(struct as_history *h, size_t cap)
{
    if (h->cap == cap)
        return 0;
    if (cap == 0) {
        history_clear(h);
        return 0;
    }
    struct as_event *v = calloc(cap, sizeof(*v));
    if (v == NULL)
        return -1;
    size_t keep = h->n < cap ? h->n : cap;
    for (size_t i = 0; i < h->n; i++) { /* newest at keep - 1, oldest kept at 0 */
        struct as_event *e = &h->v[(h->head + h->cap - i) % h->cap];
        if (i < keep)
            v[keep - 1 - i] = *e;
        else
            free(e->reason);
    }
    free(h->v);
    *h = (struct as_history){.v = v, .cap = cap, .n = keep, .head = keep ? keep - 1 : 0};
    return 0;
}

static void history_add(const struct as_group_cfg *g, struct as_group_state *st, int64_t now_ms,
                        int from, int to)
{
    struct as_history *h = &st->history;
    if (history_resize(h, g->history > 0 ? (size_t)g->history : 0) < 0 || h->cap == 0)
        return;
    h->head = (h->head + 1) % h->cap;
    if (h->n == 0)
        h->head = 0;
    struct as_event *e = &h->v[h->head];
    free(e->reason);
    const char *why = st->last_reason ? st->last_reason : "";
    *e = (struct as_event){.t = now_ms, .from = from, .to = to, .reason = strdup(why)};
    if (h->n < h->cap)
        h->n++;
}

void as_history_append(const struct as_group_cfg *g, struct as_group_state *st, int64_t t, int from,
                       int to, const char *reason)
{
    set_last_reason(st, reason);
    history_add(g, st, t, from, to);
}

/* ---- bounds in time ---- */

void as_bounds_get(const struct as_group_cfg *g, int64_t now_ms, struct as_bounds *b)
{
    b->min = g->min_tod ? as_tod_at(g->min_tod, g->tz, now_ms) : g->min;
    b->max = g->max_tod ? as_tod_at(g->max_tod, g->tz, now_ms) : g->max;
    b->replicas = b->schedule = -1;
    int smin = -1, smax = -1;
    for (size_t i = 0; i < g->nschedules; i++) {
        const struct as_sched *s = &g->schedules[i];
        if (!as_sched_active(s, g->tz, now_ms))
            continue;
        if (b->schedule < 0)
            b->schedule = (int)i;
        smin = s->min > smin ? s->min : smin;
        smax = s->max > smax ? s->max : smax;
        b->replicas = s->replicas > b->replicas ? s->replicas : b->replicas;
    }
    if (smax >= 0) {
        b->max = smax;
        b->min = b->min < b->max ? b->min : b->max;
    }
    if (smin >= 0) {
        b->min = smin;
        b->max = b->max > b->min ? b->max : b->min;
    }
    if (b->replicas > b->max)
        b->replicas = b->max;
}

void as_bounds_at(const struct as_group_cfg *g, int64_t now_ms, int *min, int *max)
{
    struct as_bounds b;
    as_bounds_get(g, now_ms, &b);
    *min = b.min;
    *max = b.max;
}

/* Appends to a reason; truncation is acceptable for a human-readable reason. */
static void addf(struct as_decision *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void addf(struct as_decision *out, const char *fmt, ...)
{
    size_t len = strlen(out->reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason + len, sizeof(out->reason) - len, fmt, ap);
    va_end(ap);
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
                      const struct as_bounds *b, const struct as_obs *obs, const char *failed,
                      struct as_decision *out)
{
    st->failures++;
    const struct as_fallback *f = &g->fallback;
    if (f->after > 0 && st->failures >= f->after && f->replicas >= 0) {
        out->desired = clamp(f->replicas, b->min, b->max);
        out->fallback = 1;
        snprintf(out->reason, sizeof(out->reason),
                 "no valid metric for %d rounds (failed: %s): fallback to %d", st->failures, failed,
                 out->desired);
        return;
    }
    out->desired = obs->current;
    snprintf(out->reason, sizeof(out->reason), "no valid metric (failed: %s): hold %d", failed,
             obs->current);
}

/* The policy's recommendation with the failure rules applied. Returns 0 when out is final. */
static int recommend(const struct as_group_cfg *g, struct as_group_state *st,
                     const struct as_bounds *b, const struct as_obs *obs, struct as_decision *out)
{
    char failed[128];
    size_t nfailed = failed_names(g, obs, failed, sizeof(failed));
    if (nfailed == obs->n && obs->n > 0) {
        no_metric(g, st, b, obs, failed, out);
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
    void *ps = as_policy_state(st, g);
    if (ps == NULL && g->policy->state_size > 0) {
        out->desired = obs->current;
        snprintf(out->reason, sizeof(out->reason),
                 "out of memory for the policy's state: hold %d", obs->current);
        return 0;
    }
    g->policy->recommend(g->policy_cfg, g, obs, ps, &rec);
    out->desired = rec.desired;
    _Static_assert(sizeof(out->reason) == sizeof(rec.reason), "the policy's reason fits");
    memcpy(out->reason, rec.reason, strlen(rec.reason) + 1);
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
                 "held at %d: metric %s failed and might want more (the others want %d)",
                 obs->current, failed, rec.desired);
    } else if (rec.desired < obs->current && rec.no_scale_down) {
        out->desired = obs->current;
        addf(out, "; held at %d: the policy allows no scale-down now", obs->current);
    }
    return 1;
}

/* Stabilization windows, rate policies and bounds, as the HPA's normalization. */
static void normalize(const struct as_group_cfg *g, struct as_group_state *st,
                      const struct as_obs *obs, int lo, int hi, struct as_decision *out)
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
        if (limited) {
            out->held = 1;
            int down = out->desired > raw; /* the down window keeps the count up, and v.v. */
            char w[32];
            as_duration_words(down ? b->down.stabilization_ms : b->up.stabilization_ms, w,
                              sizeof(w));
            addf(out, "; held at %d by the %s scale-%s window (wanted %d)", out->desired, w,
                 down ? "down" : "up", raw);
        }
    }
    const char *why;
    int want = out->desired;
    out->wanted = want;
    /* A pending intent counts as a scale event for the rate limits, for this round only. */
    struct as_stamps *ev = st->pending && st->intent.to > st->intent.from ? &st->up : &st->down;
    int pushed = st->pending && st->intent.to != st->intent.from &&
                 as_behavior_push_event(ev, st->intent.t, st->intent.from, st->intent.to) == 0;
    out->desired =
        as_behavior_rate_limit(b, &st->up, &st->down, obs->now_ms, current, want, lo, hi, &why);
    if (pushed)
        ev->n--;
    if (out->desired == want)
        return;
    if (strcmp(why, "TooManyReplicas") == 0)
        addf(out, "; capped at max %d (wanted %d)", out->desired, want);
    else if (strcmp(why, "TooFewReplicas") == 0)
        addf(out, "; raised to min %d (wanted %d)", out->desired, want);
    else {
        out->held = 1;
        addf(out, "; limited to %d by the scale-%s rate limit (wanted %d)", out->desired,
             strcmp(why, "ScaleUpLimit") == 0 ? "up" : "down", want);
    }
}

/* The scale events in the direction of dir (> 0 up, < 0 down) within window before now, a
 * pending intent included, into *events, and the replicas they changed into *replicas. */
static void scales_within(const struct as_group_state *st, int64_t now, int64_t window, int dir,
                          int *events, int64_t *replicas)
{
    *events = 0;
    *replicas = 0;
    int delta = st->intent.to - st->intent.from;
    if (st->pending && st->intent.t > now - window && (int64_t)delta * dir > 0) {
        (*events)++;
        *replicas += delta > 0 ? delta : -(int64_t)delta;
    }
    for (int i = 0; st->scales && i < st->nscales && i < AS_SCALES_KEPT; i++) {
        int d = st->scales->delta[i];
        if (st->scales->t[i] > now - window && (int64_t)d * dir > 0) {
            (*events)++;
            *replicas += d > 0 ? d : -(int64_t)d;
        }
    }
}

/* too_rapid: more scale events, or more replicas changed, in the decision's direction within
 * the window than allowed (this change included). */
static void too_rapid(const struct as_group_cfg *g, const struct as_group_state *st,
                      const struct as_obs *obs, struct as_decision *out)
{
    const struct as_too_rapid *tr = &g->too_rapid;
    int dir = out->desired > obs->current ? 1 : -1, events;
    int64_t replicas;
    if ((tr->scales == 0 && tr->replicas == 0) || out->desired == obs->current)
        return;
    scales_within(st, obs->now_ms, tr->within_ms, dir, &events, &replicas);
    events++;
    replicas += dir > 0 ? out->desired - obs->current : obs->current - out->desired;
    replicas = replicas > AS_COUNT_MAX ? AS_COUNT_MAX : replicas;
    out->too_rapid_events = events;
    out->too_rapid_replicas = (int)replicas;
    char w[32];
    as_duration_words(tr->within_ms, w, sizeof(w));
    if (tr->scales > 0 && events > tr->scales) {
        out->too_rapid = 1;
        addf(out, "; too rapid: %d scale-%s within %s (more than %d)", events,
             dir > 0 ? "ups" : "downs", w, tr->scales);
    } else if (tr->replicas > 0 && replicas > tr->replicas) {
        out->too_rapid = 1;
        addf(out, "; too rapid: %d replicas %s within %s (more than %d)", (int)replicas,
             dir > 0 ? "added" : "removed", w, tr->replicas);
    }
}

/* The last scale, counting a pending intent as one. Returns 0 when there was none. */
static int last_scale(const struct as_group_state *st, int64_t *t)
{
    *t = st->last_scale_ms;
    if (st->pending && (st->last_scale_ms == 0 || st->intent.t > *t))
        *t = st->intent.t;
    return st->last_scale_ms > 0 || st->pending;
}

/* Holds that come after the decision: cooldown, pause, too-rapid reporting. */
static void finish(const struct as_group_cfg *g, struct as_group_state *st,
                   const struct as_obs *obs, struct as_decision *out)
{
    int current = obs->current, want = out->desired;
    int64_t last;
    if (want != current && g->cooldown_ms > 0 && last_scale(st, &last) &&
        obs->now_ms - last < g->cooldown_ms) {
        char left[32];
        out->desired = current;
        out->held = 1;
        addf(out, "; held at %d by the cooldown, %s left%s (wanted %d)", current,
             as_duration_words((g->cooldown_ms - (obs->now_ms - last) + 999) / 1000 * 1000, left,
                               sizeof(left)),
             st->pending && last == st->intent.t ? " after an unconfirmed scale" : "", want);
    }
    if (out->desired != current && g->paused) {
        addf(out, "; paused: held at %d (wanted %d)", current, out->desired);
        out->paused = 1;
        out->paused_to = out->desired;
        out->desired = current;
    }
    too_rapid(g, st, obs, out);
}

/* Scale to zero (KEDA's rules) is on with min 0 in effect and a metric with an activation. */
static int zero_rules(const struct as_group_cfg *g, const struct as_bounds *b)
{
    for (size_t i = 0; b->min == 0 && b->max > 0 && i < g->nmetrics; i++)
        if (g->metrics[i].has_activation)
            return 1;
    return 0;
}

/* Whether the group is active (a metric above its activation, or a scheduled desired count),
 * and the idle clock. *quiet: every metric with an activation valid and at or below it. */
static int track_idle(const struct as_group_cfg *g, struct as_group_state *st,
                      const struct as_bounds *b, const struct as_obs *obs, int *quiet)
{
    int active = b->replicas > 0, all_ok = 0;
    for (size_t i = 0; i < obs->n && i < g->nmetrics; i++) {
        if (!g->metrics[i].has_activation)
            continue;
        if (!obs->m[i].ok) {
            all_ok = -1;
            continue;
        }
        all_ok += all_ok >= 0;
        if (obs->m[i].value > g->metrics[i].activation)
            active = 1;
    }
    *quiet = !active && all_ok > 0;
    if (active) {
        st->idle = 0;
        st->idle_since_ms = 0;
    } else if (*quiet && !st->idle) {
        st->idle = 1;
        st->idle_since_ms = obs->now_ms;
    }
    return active;
}

/* A count outside the bounds in effect is brought inside first, as the HPA does. */
static void outside(const struct as_bounds *b, const struct as_obs *obs, struct as_decision *out)
{
    int above = obs->current > b->max;
    out->desired = clamp(obs->current, b->min, b->max);
    snprintf(out->reason, sizeof(out->reason), "current %d is %s %s %d: brought to %d",
             obs->current, above ? "above" : "below", above ? "max" : "min",
             above ? b->max : b->min, out->desired);
    if (b->schedule >= 0)
        addf(out, " (schedules[%d] in effect)", b->schedule);
}

/* A scheduled desired count raises the recommendation (KEDA's cron trigger). Returns 1 if
 * it did. */
static int scheduled_floor(const struct as_bounds *b, struct as_decision *out)
{
    if (b->replicas < 0 || out->desired >= b->replicas)
        return 0;
    addf(out, "; raised to %d by the capacity of schedules[%d] (wanted %d)", b->replicas,
         b->schedule, out->desired);
    out->desired = b->replicas;
    return 1;
}

/* Whether one of n replicas is younger than warmup (its age in *age); *known is set when any
 * of them reports an age. */
static int young(const struct as_replica_obs *r, size_t n, int64_t warmup, int *known, int64_t *age)
{
    for (size_t i = 0; r != NULL && i < n; i++) {
        if (r[i].age_ms < 0)
            continue;
        *known = 1;
        if (r[i].age_ms < warmup) {
            *age = r[i].age_ms;
            return 1;
        }
    }
    return 0;
}

/* A replica younger than warmup, by the sources' or the scaler's ages (or, with no ages at
 * all, a scale-up that recent). */
static int warming(const struct as_group_cfg *g, const struct as_group_state *st,
                   const struct as_obs *obs, int64_t *age)
{
    int known = 0;
    for (size_t i = 0; i < obs->n; i++)
        if (young(obs->m[i].replicas, obs->m[i].nreplicas, g->warmup_ms, &known, age))
            return 1;
    if (young(obs->workers, obs->nworkers, g->warmup_ms, &known, age))
        return 1;
    int up = st->scaled_up;
    int64_t last_up = st->last_up_ms;
    if (st->pending && st->intent.to > st->intent.from && (!up || st->intent.t > last_up))
        up = 1, last_up = st->intent.t;
    *age = obs->now_ms - last_up;
    return !known && up && *age < g->warmup_ms;
}

/* After the policy and the bounds: scale to zero once idle long enough and the policy needs
 * at most one replica, and no scale-down while warming up. */
static void idle_and_warmup(const struct as_group_cfg *g, const struct as_group_state *st,
                            const struct as_obs *obs, int zero, int quiet, int proposal,
                            struct as_decision *out)
{
    char x[32], y[32];
    int64_t idle = obs->now_ms - st->idle_since_ms;
    if (zero && obs->current > 0 && st->idle && idle >= g->idle_period_ms && proposal <= 1 &&
        quiet) {
        snprintf(out->reason, sizeof(out->reason),
                 "every metric at or below its activation for %s (idle_period %s): scale to 0",
                 as_duration_words(idle, x, sizeof(x)),
                 as_duration_words(g->idle_period_ms, y, sizeof(y)));
        out->desired = 0;
    } else if (zero && obs->current > 0 && out->desired == 1 && st->idle && quiet) {
        addf(out, "; idle for %s of the %s idle_period", as_duration_words(idle, x, sizeof(x)),
             as_duration_words(g->idle_period_ms, y, sizeof(y)));
    }
    int64_t age;
    if (g->warmup_ms > 0 && out->desired < obs->current && warming(g, st, obs, &age)) {
        addf(out, "; held at %d by the %s warmup: a replica is %s old (wanted %d)", obs->current,
             as_duration_words(g->warmup_ms, y, sizeof(y)), as_duration_words(age, x, sizeof(x)),
             out->desired);
        out->desired = obs->current;
        out->held = 1;
    }
}

/* The policy path: recommendation, scheduled capacity, behavior, bounds, idle and warmup. */
static void decide_policy(const struct as_group_cfg *g, struct as_group_state *st,
                          const struct as_bounds *b, const struct as_obs *obs, int zero, int quiet,
                          struct as_decision *out)
{
    /* Under the zero rules a policy never goes below 1: only idle_period reaches zero. */
    int lo = zero ? 1 : b->min;
    int called = recommend(g, st, b, obs, out), more = called;
    more |= scheduled_floor(b, out);
    int proposal = out->desired;
    if (more)
        normalize(g, st, obs, lo, b->max, out);
    if (called) { /* the bounds clipped what the policy called for (docs/events.md) */
        out->above_max = out->wanted > b->max;
        out->below_min = out->wanted < b->min && b->min > 1;
    } else {
        out->wanted = -1;
    }
    out->desired = clamp(out->desired, lo, b->max);
    if (zero && obs->current == 0)
        addf(out, "; activated from zero");
    idle_and_warmup(g, st, obs, zero, quiet, proposal, out);
}

void as_decide(const struct as_group_cfg *g, struct as_group_state *st, const struct as_obs *obs,
               struct as_decision *out)
{
    st->rounds++;
    *out = (struct as_decision){.wanted = -1, .min = -1, .max = -1};
    if (g->override >= 0) {
        out->desired = g->override;
        snprintf(out->reason, sizeof(out->reason), "manual override: %d", g->override);
        goto out;
    }
    struct as_bounds b;
    as_bounds_get(g, obs->wall_ms ? obs->wall_ms : obs->now_ms, &b);
    out->min = b.min;
    out->max = b.max;
    int quiet, active = track_idle(g, st, &b, obs, &quiet), zero = zero_rules(g, &b);
    if (obs->current > b.max || obs->current < b.min) {
        outside(&b, obs, out);
    } else if (zero && obs->current == 0 && !active) {
        out->desired = 0;
        snprintf(out->reason, sizeof(out->reason), "at zero: %s: hold 0",
                 quiet ? "no metric above its activation" : "a metric with an activation failed");
    } else {
        decide_policy(g, st, &b, obs, zero, quiet, out);
    }
    finish(g, st, obs, out);
out:
    if (out->desired != obs->current) /* a scale may follow: its history keeps this reason */
        set_last_reason(st, out->reason);
}

void as_decide_scaled(const struct as_group_cfg *g, struct as_group_state *st, int64_t now_ms,
                      int from, int to)
{
    st->pending = 0;
    st->count_known = 1;
    st->count = to;
    if (from == to)
        return;
    st->last_scale_ms = now_ms;
    if (to > from) {
        st->last_up_ms = now_ms;
        st->scaled_up = 1;
    }
    if (st->scales == NULL)
        st->scales = calloc(1, sizeof(*st->scales));
    if (st->scales != NULL) { /* out of memory: too_rapid sees this scale in no window */
        struct as_scales *s = st->scales;
        memmove(s->t + 1, s->t, sizeof(s->t) - sizeof(s->t[0]));
        memmove(s->delta + 1, s->delta, sizeof(s->delta) - sizeof(s->delta[0]));
        s->t[0] = now_ms;
        s->delta[0] = to - from;
        if (st->nscales < AS_SCALES_KEPT)
            st->nscales++;
    }
    as_behavior_store_event(&g->behavior, &st->up, &st->down, now_ms, from, to);
    history_add(g, st, now_ms, from, to);
}

void as_decide_intent(struct as_group_state *st, int64_t now_ms, int from, int to)
{
    st->pending = 1;
    st->intent = (struct as_intent){now_ms, from, to};
}

enum as_resolved as_decide_resolve(const struct as_group_cfg *g, struct as_group_state *st,
                                   int count)
{
    if (!st->pending)
        return AS_INTENT_NONE;
    struct as_intent in = st->intent;
    if (count == in.from) {
        st->pending = 0;
        return AS_INTENT_MISSED;
    }
    as_decide_scaled(g, st, in.t, in.from, count);
    return AS_INTENT_LANDED;
}

int as_count_limit(const struct as_group_cfg *g)
{
    if (g->count_max > 0)
        return g->count_max;
    int64_t limit = (int64_t)g->max * 10;
    return limit > AS_COUNT_MAX ? AS_COUNT_MAX : (int)limit;
}

enum as_count_verdict as_count_judge(const struct as_group_cfg *g, struct as_group_state *st,
                                     int read, int owned, char *why, size_t len)
{
    int limit = as_count_limit(g);
    if (read < 0 || read > limit) {
        st->same_reads = 0;
        snprintf(why, len, "count %d is implausible (above count_max %d): a failed read", read,
                 limit);
        return AS_COUNT_IMPLAUSIBLE;
    }
    if (read == st->last_read && st->same_reads > 0) {
        if (st->same_reads < INT32_MAX)
            st->same_reads++;
    } else {
        st->last_read = read;
        st->same_reads = 1;
    }
    int confirm = g->count_confirm > 0 ? g->count_confirm : 1;
    if (owned || (st->count_known && read == st->count) || st->same_reads >= confirm ||
        (st->pending && (read == st->intent.from || read == st->intent.to))) {
        st->count_known = 1;
        st->count = read;
        return AS_COUNT_TRUSTED;
    }
    if (st->count_known)
        snprintf(why, len, "count %d differs from the last trusted %d: unconfirmed (read %d of %d)",
                 read, st->count, st->same_reads, confirm);
    else
        snprintf(why, len, "count %d is not confirmed yet (read %d of %d)", read, st->same_reads,
                 confirm);
    return AS_COUNT_UNCONFIRMED;
}
