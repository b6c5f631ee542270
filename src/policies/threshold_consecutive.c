/* Policy `threshold_consecutive`: autoscalebot's ConsecutiveThresholdBackend.
 *   value > max   counts as "too high", value < min as "too low", anything else resets both
 *   up_after (default 3) consecutive "too high"   -> current + increment
 *   down_after (default 5) consecutive "too low"  -> current - increment
 *   the streaks restart when the replica count changes, as autoscalebot clears its history
 *     after a successful scale: a scale that did not happen (at a bound, in a cooldown, a
 *     failed call) leaves the streak standing, so the next round asks again
 *   a failed measurement is unknown: it neither extends nor breaks a streak (the core does
 *     not call the policy at all when every metric failed, so this is the only rule that
 *     behaves the same with one metric or several)
 * Reads one metric: `metric`, default the group's first. See docs/policies/threshold_consecutive.md
 */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/decide.h"
#include "config/opt.h"

struct tc_cfg {
    char *metric;
    double min, max;
    int up_after, down_after, increment;
    size_t mi; /* index of `metric` in the group, resolved by validate */
};

struct tc_state {
    int seen;         /* last_current is meaningful */
    int last_current; /* the count of the previous round: a change restarts the streaks */
    int above, below; /* consecutive measurements above max / below min */
};

_Static_assert(sizeof(struct tc_state) <= AS_POLICY_STATE_MAX, "tc_state must fit");

static const struct as_opt opts[] = {
    {"metric", AS_OPT_STR, offsetof(struct tc_cfg, metric), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL, "The metric compared with min and max (default: the group's first metric)."},
    {"min", AS_OPT_DOUBLE, offsetof(struct tc_cfg, min), NULL, AS_NO_BOUNDS, AS_OPT_REQUIRED, NULL,
     "A measurement below this counts toward a scale-down."},
    {"max", AS_OPT_DOUBLE, offsetof(struct tc_cfg, max), NULL, AS_NO_BOUNDS, AS_OPT_REQUIRED, NULL,
     "A measurement above this counts toward a scale-up."},
    {"up_after", AS_OPT_INT, offsetof(struct tc_cfg, up_after), "3", 1, 1000, 0, NULL,
     "Consecutive measurements above max before adding increment (autoscalebot's "
     "NUMBER_OF_FAILS_TO_SCALE_UP_AFTER)."},
    {"down_after", AS_OPT_INT, offsetof(struct tc_cfg, down_after), "5", 1, 1000, 0, NULL,
     "Consecutive measurements below min before removing increment (autoscalebot's "
     "NUMBER_OF_PASSES_TO_SCALE_DOWN_AFTER)."},
    {"increment", AS_OPT_INT, offsetof(struct tc_cfg, increment), "1", 1, 1000000, 0, NULL,
     "Replicas added or removed per decision."},
    AS_OPT_END,
};

static int validate(void *cfg, const struct as_group_cfg *g, struct as_node *map,
                    struct as_err *err)
{
    struct tc_cfg *c = cfg;
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

/* Updates the streaks with one valid measurement. */
static void count(const struct tc_cfg *c, struct tc_state *s, double v)
{
    if (v > c->max) {
        s->above++;
        s->below = 0;
    } else if (v < c->min) {
        s->below++;
        s->above = 0;
    } else {
        s->above = s->below = 0;
    }
}

static void recommend(const void *cfg, const struct as_group_cfg *g, const struct as_obs *obs,
                      void *state, struct as_rec *out)
{
    const struct tc_cfg *c = cfg;
    struct tc_state *s = state;
    int cur = obs->current;
    *out = (struct as_rec){.desired = cur};
    if (s->seen && cur != s->last_current)
        s->above = s->below = 0; /* a scale happened: autoscalebot clears its history */
    s->seen = 1;
    s->last_current = cur;
    const char *name = c->mi < g->nmetrics ? g->metrics[c->mi].name : "?";
    if (c->mi >= obs->n || !obs->m[c->mi].ok) {
        snprintf(out->reason, sizeof(out->reason),
                 "%s failed: not counted, streaks kept (above %d, below %d)", name, s->above,
                 s->below);
        return;
    }
    double v = obs->m[c->mi].value;
    out->valid = 1;
    count(c, s, v);
    if (s->above >= c->up_after) {
        out->desired = cur + c->increment;
        snprintf(out->reason, sizeof(out->reason),
                 "%s=%g above max %g %d times in a row (up_after %d): %d+%d=%d", name, v, c->max,
                 s->above, c->up_after, cur, c->increment, out->desired);
    } else if (s->below >= c->down_after) {
        out->desired = cur > c->increment ? cur - c->increment : 0;
        snprintf(out->reason, sizeof(out->reason),
                 "%s=%g below min %g %d times in a row (down_after %d): %d-%d=%d", name, v, c->min,
                 s->below, c->down_after, cur, c->increment, out->desired);
    } else if (s->above > 0) {
        snprintf(out->reason, sizeof(out->reason),
                 "%s=%g above max %g %d of %d times in a row: keep %d", name, v, c->max, s->above,
                 c->up_after, cur);
    } else if (s->below > 0) {
        snprintf(out->reason, sizeof(out->reason),
                 "%s=%g below min %g %d of %d times in a row: keep %d", name, v, c->min, s->below,
                 c->down_after, cur);
    } else {
        snprintf(out->reason, sizeof(out->reason), "%s=%g within [%g, %g]: keep %d", name, v,
                 c->min, c->max, cur);
    }
}

static int save(const void *cfg, const void *state, json_t *obj)
{
    (void)cfg;
    const struct tc_state *s = state;
    if (json_object_set_new(obj, "seen", json_boolean(s->seen)) < 0 ||
        json_object_set_new(obj, "last_current", json_integer(s->last_current)) < 0 ||
        json_object_set_new(obj, "above", json_integer(s->above)) < 0 ||
        json_object_set_new(obj, "below", json_integer(s->below)) < 0)
        return -1;
    return 0;
}

/* Reads a non-negative int member; -1 if absent, of another type or out of range. */
static int get_count(const json_t *obj, const char *key, int *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000000)
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

static int load(const void *cfg, void *state, const json_t *obj)
{
    (void)cfg;
    struct tc_state s = {0};
    const json_t *seen = json_object_get(obj, "seen");
    if (!json_is_object(obj) || !json_is_boolean(seen) ||
        get_count(obj, "last_current", &s.last_current) < 0 ||
        get_count(obj, "above", &s.above) < 0 || get_count(obj, "below", &s.below) < 0 ||
        (s.above > 0 && s.below > 0))
        return -1;
    s.seen = json_is_true(seen);
    memcpy(state, &s, sizeof(s));
    return 0;
}

const struct as_policy_ops as_policy_threshold_consecutive_ops = {
    .name = "threshold_consecutive",
    .opts = opts,
    .cfg_size = sizeof(struct tc_cfg),
    .summary = "autoscalebot's consecutive thresholds: up_after measurements in a row above max "
               "add increment, down_after in a row below min remove it.",
    .state_size = sizeof(struct tc_state),
    .metric_targets = 0,
    .validate = validate,
    .recommend = recommend,
    .save = save,
    .load = load,
};
