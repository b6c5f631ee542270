/* Policy `threshold_average`: autoscalebot's AverageThresholdBackend.
 *   keep the last `measurements` (default 3) valid values; once there are that many:
 *   mean > max -> current + increment,  mean < min -> current - increment,  else keep
 *   fewer values than `measurements` -> keep (autoscalebot's _meets_minimum_measurements)
 *   the window restarts when the replica count changes, as autoscalebot clears its results
 *     after a successful scale; a scale that did not happen leaves the window as it is
 *   a failed measurement is unknown: it is not added and nothing is decided from it
 * Reads one metric: `metric`, default the group's first. See docs/policies/threshold_average.md */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/decide.h"
#include "config/opt.h"

#define TA_WINDOW_MAX 256

struct ta_cfg {
    char *metric;
    double min, max;
    int measurements, increment;
    size_t mi; /* index of `metric` in the group, resolved by validate */
};

struct ta_state {
    int seen;         /* last_current is meaningful */
    int last_current; /* the count of the previous round: a change restarts the window */
    int n;            /* values in v, oldest first */
    double v[TA_WINDOW_MAX];
};

_Static_assert(sizeof(struct ta_state) <= AS_POLICY_STATE_MAX, "ta_state must fit");

static const struct as_opt opts[] = {
    {"metric", AS_OPT_STR, offsetof(struct ta_cfg, metric), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL, "The metric averaged (default: the group's first metric)."},
    {"min", AS_OPT_DOUBLE, offsetof(struct ta_cfg, min), NULL, AS_NO_BOUNDS, AS_OPT_REQUIRED, NULL,
     "A mean below this removes increment."},
    {"max", AS_OPT_DOUBLE, offsetof(struct ta_cfg, max), NULL, AS_NO_BOUNDS, AS_OPT_REQUIRED, NULL,
     "A mean above this adds increment."},
    {"measurements", AS_OPT_INT, offsetof(struct ta_cfg, measurements), "3", 1, TA_WINDOW_MAX, 0,
     NULL,
     "How many of the latest valid measurements are averaged (autoscalebot's "
     "NUMBER_OF_MEASUREMENTS_TO_AVERAGE)."},
    {"increment", AS_OPT_INT, offsetof(struct ta_cfg, increment), "1", 1, 1000000, 0, NULL,
     "Replicas added or removed per decision."},
    AS_OPT_END,
};

static int validate(void *cfg, const struct as_group_cfg *g, struct as_node *map,
                    struct as_err *err)
{
    struct ta_cfg *c = cfg;
    const char *file;
    int line, col;
    if (c->min > c->max) {
        as_node_pos(map, "min", &file, &line, &col);
        return as_err_at(err, file, line, col,
                         "group '%s' policy: min (%g) is greater than max (%g)", g->name, c->min,
                         c->max);
    }
    return as_group_metric(g, map, "metric", c->metric, 0, &c->mi, err);
}

/* Appends v, keeping at most `keep` values (the window may have shrunk on a reload). */
static void push(struct ta_state *s, int keep, double v)
{
    while (s->n >= keep && s->n > 0) {
        memmove(s->v, s->v + 1, (size_t)(s->n - 1) * sizeof(s->v[0]));
        s->n--;
    }
    s->v[s->n++] = v;
}

static double mean(const struct ta_state *s)
{
    double sum = 0;
    for (int i = 0; i < s->n; i++)
        sum += s->v[i];
    return sum / s->n;
}

static void decide(const struct ta_cfg *c, const struct ta_state *s, const char *name, int cur,
                   struct as_rec *out)
{
    double m = mean(s);
    if (m > c->max) {
        out->desired = cur + c->increment;
        snprintf(out->reason, sizeof(out->reason), "%s mean of last %d = %g above max %g: %d+%d=%d",
                 name, s->n, m, c->max, cur, c->increment, out->desired);
    } else if (m < c->min) {
        out->desired = cur > c->increment ? cur - c->increment : 0;
        snprintf(out->reason, sizeof(out->reason), "%s mean of last %d = %g below min %g: %d-%d=%d",
                 name, s->n, m, c->min, cur, c->increment, out->desired);
    } else {
        snprintf(out->reason, sizeof(out->reason),
                 "%s mean of last %d = %g within [%g, %g]: keep %d", name, s->n, m, c->min, c->max,
                 cur);
    }
}

static void recommend(const void *cfg, const struct as_group_cfg *g, const struct as_obs *obs,
                      void *state, struct as_rec *out)
{
    const struct ta_cfg *c = cfg;
    struct ta_state *s = state;
    int cur = obs->current;
    *out = (struct as_rec){.desired = cur};
    if (s->seen && cur != s->last_current)
        s->n = 0; /* a scale happened: autoscalebot clears its results */
    s->seen = 1;
    s->last_current = cur;
    const char *name = c->mi < g->nmetrics ? g->metrics[c->mi].name : "?";
    if (c->mi >= obs->n || !obs->m[c->mi].ok) {
        snprintf(out->reason, sizeof(out->reason), "%s failed: not added (%d of %d in the window)",
                 name, s->n, c->measurements);
        return;
    }
    out->valid = 1;
    push(s, c->measurements, obs->m[c->mi].value);
    if (s->n < c->measurements) {
        snprintf(out->reason, sizeof(out->reason), "%s=%g: %d of %d measurements: keep %d", name,
                 obs->m[c->mi].value, s->n, c->measurements, cur);
        return;
    }
    decide(c, s, name, cur, out);
}

static int save(const void *cfg, const void *state, json_t *obj)
{
    (void)cfg;
    const struct ta_state *s = state;
    json_t *w = json_array();
    if (w == NULL || json_object_set_new(obj, "window", w) < 0)
        return -1;
    for (int i = 0; i < s->n && i < TA_WINDOW_MAX; i++)
        if (json_array_append_new(w, json_real(s->v[i])) < 0)
            return -1;
    if (json_object_set_new(obj, "seen", json_boolean(s->seen)) < 0 ||
        json_object_set_new(obj, "last_current", json_integer(s->last_current)) < 0)
        return -1;
    return 0;
}

static int load(const void *cfg, void *state, const json_t *obj)
{
    (void)cfg;
    struct ta_state s = {0};
    const json_t *seen = json_object_get(obj, "seen");
    const json_t *cur = json_object_get(obj, "last_current");
    const json_t *w = json_object_get(obj, "window");
    if (!json_is_object(obj) || !json_is_boolean(seen) || !json_is_integer(cur) ||
        json_integer_value(cur) < 0 || json_integer_value(cur) > 1000000000 || !json_is_array(w) ||
        json_array_size(w) > TA_WINDOW_MAX)
        return -1;
    for (size_t i = 0; i < json_array_size(w); i++) {
        const json_t *e = json_array_get(w, i);
        /* jansson writes a whole-valued real as 3.0, but a hand-edited file may say 3 */
        if (!json_is_number(e) || !isfinite(json_number_value(e)))
            return -1;
        s.v[s.n++] = json_number_value(e);
    }
    s.seen = json_is_true(seen);
    s.last_current = (int)json_integer_value(cur);
    memcpy(state, &s, sizeof(s));
    return 0;
}

const struct as_policy_ops as_policy_threshold_average_ops = {
    .name = "threshold_average",
    .opts = opts,
    .cfg_size = sizeof(struct ta_cfg),
    .summary = "autoscalebot's average thresholds: the mean of the last `measurements` values "
               "above max adds increment, below min removes it.",
    .state_size = sizeof(struct ta_state),
    .metric_targets = 0,
    .validate = validate,
    .recommend = recommend,
    .save = save,
    .load = load,
};
