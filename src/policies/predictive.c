/* Policy `predictive`: forecasts the group's demand `lead` ahead from its own history and
 * provisions for it, over a reactive policy that always stays the floor:
 *   demand   = the unrounded replicas that would put each metric exactly at its target (the
 *              max over the metrics), as target tracking sees it
 *   forecast = the forecaster's demand at now + lead (policies/forecast.h), never below the
 *              demand now
 *   desired  = max(reactive, ceil(forecast x (1 + margin))), unless forecast x (1 + margin) is
 *              within the group's tolerance above the current count (target tracking's rule)
 * The reactive part alone decides while the history is shorter than `history`, while the
 * forecast is not finite, and while its recent mean relative error is above `max_error`. A
 * round with a failed metric is not learned (a gap, not a zero). See
 * docs/policies/predictive.md. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/opt.h"
#include "core/decide.h"
#include "policies/forecast.h"
#include "util/util.h"

#define MIN_CHECKS 8 /* forecasts checked before their error can make the policy step back */

enum { REACTIVE_TARGET = 0 };

struct pred_cfg {
    int64_t lead_ms, history_ms;
    double margin, max_error;
    int daily, weekly, reactive;
};

struct pred_state {
    int version; /* 0: fresh */
    struct as_fc fc;
};

_Static_assert(sizeof(struct pred_state) <= AS_POLICY_STATE_MAX,
               "the predictive policy's state must fit the group's policy state area");

static struct as_fc_params params(const struct pred_cfg *c)
{
    return (struct as_fc_params){.lead_ms = c->lead_ms, .daily = c->daily, .weekly = c->weekly};
}

static void say(struct as_rec *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct as_rec *out, const char *fmt, ...)
{
    size_t len = strlen(out->reason);
    va_list ap;
    va_start(ap, fmt);
    if (len < sizeof(out->reason))
        vsnprintf(out->reason + len, sizeof(out->reason) - len, fmt, ap);
    va_end(ap);
}

/* One metric's demand in replicas: what target tracking would need, unrounded. -1 unknown. */
static double metric_demand(const struct as_metric_cfg *m, const struct as_metric_obs *o,
                            int current)
{
    if (!o->ok || !isfinite(o->value) || o->value < 0)
        return -1;
    if (m->average_value > 0)
        return o->value / m->average_value;
    if (m->target <= 0)
        return -1;
    if (o->nreplicas > 0) { /* the ready replicas' values, each against the target */
        double sum = 0;
        int ready = 0;
        for (size_t i = 0; i < o->nreplicas; i++)
            if (o->replicas[i].ok && o->replicas[i].ready)
                sum += o->replicas[i].value, ready++;
        return ready > 0 ? sum / m->target : -1;
    }
    return o->value / m->target * (current > 0 ? current : 1);
}

/* The group's demand: the largest over its metrics; -1 when any metric is unknown. */
static double demand(const struct as_group_cfg *g, const struct as_obs *obs)
{
    double d = 0;
    if (obs->n == 0 || obs->n < g->nmetrics)
        return -1;
    for (size_t i = 0; i < g->nmetrics; i++) {
        double v = metric_demand(&g->metrics[i], &obs->m[i], obs->current);
        if (v < 0 || !isfinite(v))
            return -1;
        d = fmax(d, v);
    }
    return d;
}

static int to_count(double v)
{
    return v > AS_COUNT_MAX ? AS_COUNT_MAX : v < 0 ? 0 : (int)v;
}

/* Why the forecast is not trusted now, into why; 0 when it is. */
static int distrust(const struct pred_cfg *c, const struct as_fc *fc, double f, char *why,
                    size_t len)
{
    char a[32], b[32];
    if (fc->learned_ms < c->history_ms) {
        snprintf(why, len, "%s of history, needs %s", as_duration_words(fc->learned_ms, a, 32),
                 as_duration_words(c->history_ms, b, 32));
        return 1;
    }
    if (!isfinite(f) || f > AS_COUNT_MAX) {
        snprintf(why, len, "no finite forecast");
        return 1;
    }
    if (fc->nev >= MIN_CHECKS && fc->ef > c->max_error) {
        snprintf(why, len, "recent forecast error %.0f%% > max_error %.0f%% (no change: %.0f%%)",
                 fc->ef * 100, c->max_error * 100, fc->en * 100);
        return 1;
    }
    return 0;
}

static void combine(const struct pred_cfg *c, const struct as_group_cfg *g, int current,
                    const struct as_fc *fc, double f, const struct as_rec *reactive,
                    struct as_rec *out)
{
    char why[128], d[32];
    *out = *reactive;
    out->reason[0] = '\0';
    if (distrust(c, fc, f, why, sizeof(why))) {
        say(out, "predictive: %s: reactive only; %s", why, reactive->reason);
        return;
    }
    double need = f * (1 + c->margin);
    int want = to_count(ceil(need - 1e-9));
    const char *lead = as_duration_words(c->lead_ms, d, sizeof(d));
    if (want > current && current > 0 && need <= current * (1 + g->tolerance)) {
        /* Within the group's tolerance of the count now, as target tracking would keep it. */
        say(out, "predictive: forecast %.1f in %s (+%.0f%%) within tolerance %g of %d; %s", f, lead,
            c->margin * 100, g->tolerance, current, reactive->reason);
        return;
    }
    if (want > reactive->desired) {
        out->desired = want;
        say(out, "predictive: forecast %.1f in %s (+%.0f%%) -> %d > reactive %d", f, lead,
            c->margin * 100, want, reactive->desired);
        return;
    }
    say(out, "predictive: reactive %d >= forecast %.1f in %s (+%.0f%%) -> %d; %s",
        reactive->desired, f, lead, c->margin * 100, want, reactive->reason);
}

/* The demand to provision for at now + lead: the forecast, never below the demand now (a fall
 * is the reactive part's to follow; measured in docs/policies/predictive.md). NaN when there
 * is no forecast. */
static double forecast(const struct as_fc *fc, const struct as_fc_params *p, int64_t wall, double d)
{
    double f = as_fc_forecast(fc, p, wall);
    return isfinite(f) ? fmax(f, d) : f;
}

static void recommend(const void *cfg, const struct as_group_cfg *g, const struct as_obs *obs,
                      void *state, struct as_rec *out)
{
    const struct pred_cfg *c = cfg;
    struct pred_state s; /* copied: the state area need not be aligned for int64_t */
    struct as_rec reactive = {0};
    struct as_fc_params p = params(c);
    int64_t wall = obs->wall_ms ? obs->wall_ms : obs->now_ms;
    memcpy(&s, state, sizeof(s));
    s.version = 1;
    as_policy_target(g, obs, &reactive);
    double d = demand(g, obs);
    if (d >= 0)
        as_fc_learn(&s.fc, &p, obs->now_ms, wall, d);
    if (reactive.valid == 0)
        *out = reactive;
    else
        combine(c, g, obs->current, &s.fc, forecast(&s.fc, &p, wall, d), &reactive, out);
    memcpy(state, &s, sizeof(s));
}

/* ---- state as JSON ---- */

static json_t *floats(const float *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < n; i++) {
        if (json_array_append_new(a, json_real(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *pending(const struct as_fc *fc)
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < fc->npend; i++) {
        const struct as_fc_pending *q = &fc->pend[i];
        if (json_array_append_new(a, json_pack("[I,f,f]", (json_int_t)q->due_ms, (double)q->f,
                                               (double)q->naive)) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static int save(const void *cfg, const void *state, json_t *obj)
{
    (void)cfg;
    struct pred_state s;
    memcpy(&s, state, sizeof(s));
    const struct as_fc *f = &s.fc;
    json_t *v = json_pack("{s:i,s:b,s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f}",
                          "version", 1, "init", f->init, "seasons_on", f->on, "buckets", f->nclose,
                          "checks", f->nev, "last_ms", (json_int_t)f->last_ms, "learned_ms",
                          (json_int_t)f->learned_ms, "push_ms", (json_int_t)f->push_ms, "bucket",
                          (json_int_t)f->bucket, "bucket_rounds", (int)f->bcnt, "bucket_sum",
                          f->bsum, "level", f->level, "dev", f->dev, "fast", f->fast, "slope",
                          f->slope, "error", f->ef, "error_no_change", f->en);
    if (v == NULL)
        return -1;
    int rc = json_object_update(obj, v);
    json_decref(v);
    if (rc < 0 || json_object_set_new(obj, "daily", floats(f->daily, AS_FC_DAY)) < 0 ||
        json_object_set_new(obj, "weekly", floats(f->weekly, AS_FC_WEEK)) < 0 ||
        json_object_set_new(obj, "pending", pending(f)) < 0)
        return -1;
    return 0;
}

static int load_floats(const json_t *a, float *v, int n)
{
    size_t i;
    json_t *e;
    if (!json_is_array(a) || json_array_size(a) != (size_t)n)
        return -1;
    json_array_foreach(a, i, e)
    {
        if (!json_is_number(e))
            return -1;
        v[i] = (float)json_number_value(e);
    }
    return 0;
}

static int load_pending(const json_t *a, struct as_fc *fc)
{
    size_t i;
    json_t *e;
    if (!json_is_array(a) || json_array_size(a) > AS_FC_PENDING)
        return -1;
    json_array_foreach(a, i, e)
    {
        json_int_t due;
        double f, naive;
        if (json_unpack(e, "[IFF!]", &due, &f, &naive) < 0 || due < 0 || due > AS_TIME_MAX ||
            (i > 0 && due < fc->pend[i - 1].due_ms))
            return -1;
        fc->pend[i] = (struct as_fc_pending){due, (float)f, (float)naive};
        fc->npend = (int)i + 1;
    }
    return 0;
}

static int load(const void *cfg, void *state, const json_t *obj)
{
    (void)cfg;
    struct pred_state s = {.version = 1};
    struct as_fc *f = &s.fc;
    json_int_t last, learned, push, bucket;
    int version, bcnt;
    json_t *daily, *weekly, *pend;
    if (json_unpack((json_t *)obj,
                    "{s:i,s:b,s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:i,s:F,s:F,s:F,s:F,s:F,s:F,s:F,s:o,s:o,"
                    "s:o!}",
                    "version", &version, "init", &f->init, "seasons_on", &f->on, "buckets",
                    &f->nclose, "checks", &f->nev, "last_ms", &last, "learned_ms", &learned,
                    "push_ms", &push, "bucket", &bucket, "bucket_rounds", &bcnt, "bucket_sum",
                    &f->bsum, "level", &f->level, "dev", &f->dev, "fast", &f->fast, "slope",
                    &f->slope, "error", &f->ef, "error_no_change", &f->en, "daily", &daily,
                    "weekly", &weekly, "pending", &pend) < 0 ||
        version != 1 || last < 0 || last > AS_TIME_MAX || learned < 0 || learned > AS_TIME_MAX ||
        push < 0 || push > AS_TIME_MAX || bucket < -AS_TIME_MAX || bucket > AS_TIME_MAX)
        return -1;
    f->last_ms = last;
    f->learned_ms = learned;
    f->push_ms = push;
    f->bucket = bucket;
    f->bcnt = bcnt;
    if (load_floats(daily, f->daily, AS_FC_DAY) < 0 ||
        load_floats(weekly, f->weekly, AS_FC_WEEK) < 0 || load_pending(pend, f) < 0 ||
        as_fc_valid(f) < 0)
        return -1;
    memcpy(state, &s, sizeof(s));
    return 0;
}

/* The decision-clock stamps move by shift_ms; the seasons and the open bucket are on the wall
 * clock and stay. Nothing may lie after now. */
static void restored(const void *cfg, void *state, int64_t shift_ms, int64_t now_ms)
{
    (void)cfg;
    struct pred_state s;
    memcpy(&s, state, sizeof(s));
    struct as_fc *f = &s.fc;
    f->last_ms = f->last_ms + shift_ms > now_ms ? now_ms : f->last_ms + shift_ms;
    f->push_ms = f->push_ms + shift_ms > now_ms ? now_ms : f->push_ms + shift_ms;
    for (int i = 0; i < f->npend; i++)
        f->pend[i].due_ms += shift_ms;
    memcpy(state, &s, sizeof(s));
}

/* ---- configuration ---- */

static int validate(void *cfg, const struct as_group_cfg *g, struct as_node *map,
                    struct as_err *err)
{
    struct pred_cfg *c = cfg;
    const char *file;
    int line, col;
    if (c->lead_ms >= g->interval_ms || g->interval_ms <= 0)
        return 0;
    as_node_pos(map, "lead", &file, &line, &col);
    char a[32], b[32];
    return as_err_at(err, file, line, col,
                     "group '%s' policy: 'lead' (%s) must be at least the group's interval (%s)",
                     g->name, as_duration_fmt(c->lead_ms, a, 32),
                     as_duration_fmt(g->interval_ms, b, 32));
}

#define OFF(f) offsetof(struct pred_cfg, f)

static const char *const reactive_names[] = {"target", NULL};

static const struct as_opt opts[] = {
    {"lead", AS_OPT_DURATION, OFF(lead_ms), "60s", 1000, 3600000, 0, NULL,
     "How far ahead to provision: a new replica's startup delay (at least the interval)."},
    {"margin", AS_OPT_DOUBLE, OFF(margin), "0", 0, 10, 0, NULL,
     "Headroom over the forecast: ceil(forecast x (1 + margin))."},
    {"daily", AS_OPT_BOOL, OFF(daily), "true", AS_NO_BOUNDS, 0, NULL,
     "Learn a daily season (288 five-minute indices)."},
    {"weekly", AS_OPT_BOOL, OFF(weekly), "true", AS_NO_BOUNDS, 0, NULL,
     "Learn a weekly season (168 hourly indices)."},
    {"history", AS_OPT_DURATION, OFF(history_ms), "1h", 0, 2592000000.0, 0, NULL,
     "History learned (gaps left out) before the forecast is used; reactive only until then."},
    {"max_error", AS_OPT_DOUBLE, OFF(max_error), "0.5", 0.01, 100, 0, NULL,
     "Reactive only while the recent mean relative forecast error is above this."},
    {"reactive", AS_OPT_ENUM, OFF(reactive), "target", AS_NO_BOUNDS, 0, reactive_names,
     "The reactive policy that is always the floor: target (the HPA's target tracking)."},
    AS_OPT_END,
};

const struct as_policy_ops as_policy_predictive_ops = {
    .name = "predictive",
    .opts = opts,
    .cfg_size = sizeof(struct pred_cfg),
    .summary = "Forecasts the demand `lead` ahead from the group's own history (Holt-Winters, "
               "daily and weekly seasons) over target tracking, which stays the floor.",
    .state_size = sizeof(struct pred_state),
    .metric_targets = 1,
    .validate = validate,
    .recommend = recommend,
    .save = save,
    .load = load,
    .restored = restored,
};
