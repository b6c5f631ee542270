#include "core/behavior.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/decide.h"
#include "config/opt.h"
#include "util/util.h"

static const struct as_rate_policy up_default[] = {{0, 4, 15000}, {1, 100, 15000}};
static const struct as_rate_policy down_default[] = {{1, 100, 15000}};

void as_behavior_defaults(struct as_behavior *b)
{
    memset(b, 0, sizeof(*b));
    b->up.stabilization_ms = 0;
    b->up.select = AS_SELECT_MAX;
    b->up.npolicies = (int)AS_ARRAY_LEN(up_default);
    b->up.policies = up_default;
    b->down.stabilization_ms = 300000;
    b->down.select = AS_SELECT_MAX;
    b->down.npolicies = (int)AS_ARRAY_LEN(down_default);
    b->down.policies = down_default;
}

static void rules_free(struct as_rules *r)
{
    if (r->policies != up_default && r->policies != down_default)
        free((void *)r->policies);
    r->policies = NULL;
    r->npolicies = 0;
}

void as_behavior_free(struct as_behavior *b)
{
    rules_free(&b->up);
    rules_free(&b->down);
}

/* ---- parsing ---- */

struct rules_opts {
    int64_t stabilization_ms;
    int select;
};

static const char *const selects[] = {"max", "min", "disabled", NULL};

const struct as_opt as_behavior_rules_opts[] = {
    {"stabilization", AS_OPT_DURATION, offsetof(struct rules_opts, stabilization_ms), NULL, 0,
     3600000, 0, NULL,
     "Window of past recommendations: up uses their minimum, down their maximum. "
     "Default: 0s up, 5m down."},
    {"select", AS_OPT_ENUM, offsetof(struct rules_opts, select), "max", AS_NO_BOUNDS, 0, selects,
     "Which policy wins: max (the largest change), min (the smallest), or disabled (no "
     "scaling in this direction)."},
    AS_OPT_END,
};

struct rate_opts {
    int replicas, percent;
    int64_t period_ms;
};

const struct as_opt as_behavior_rate_opts[] = {
    {"replicas", AS_OPT_INT, offsetof(struct rate_opts, replicas), NULL, 1, 1000000, 0, NULL,
     "At most this many replicas added (removed) per period."},
    {"percent", AS_OPT_INT, offsetof(struct rate_opts, percent), NULL, 1, 100000, 0, NULL,
     "At most this percentage of the count at the period's start added (removed) per period."},
    {"period", AS_OPT_DURATION, offsetof(struct rate_opts, period_ms), NULL, 1000, 1800000,
     AS_OPT_REQUIRED, NULL, "The period the limit applies to (1s to 30m, as the HPA)."},
    AS_OPT_END,
};

static int parse_rate(struct as_rate_policy *p, struct as_node *n, const char *what,
                      struct as_err *err)
{
    struct rate_opts o = {0};
    if (n->kind != AS_NODE_MAP)
        return as_err_at(err, n->file, n->line, n->col, "%s: each policy must be a mapping", what);
    if (as_opts_parse(as_behavior_rate_opts, &o, n, what, err) < 0)
        return -1;
    if ((o.replicas > 0) == (o.percent > 0))
        return as_err_at(err, n->file, n->line, n->col,
                         "%s: a policy has exactly one of 'replicas' and 'percent'", what);
    *p =
        (struct as_rate_policy){o.percent > 0, o.percent > 0 ? o.percent : o.replicas, o.period_ms};
    const struct as_opt *const tables[] = {as_behavior_rate_opts, NULL};
    return as_node_check_keys(n, what, tables, NULL, err);
}

static int parse_rules(struct as_rules *r, struct as_node *n, const char *what, struct as_err *err)
{
    struct rules_opts o = {.stabilization_ms = r->stabilization_ms};
    if (n->kind != AS_NODE_MAP)
        return as_err_at(err, n->file, n->line, n->col, "%s must be a mapping", what);
    int64_t def = r->stabilization_ms;
    if (as_opts_parse(as_behavior_rules_opts, &o, n, what, err) < 0)
        return -1;
    r->stabilization_ms = as_node_get(n, "stabilization") ? o.stabilization_ms : def;
    r->select = (enum as_select)o.select;
    struct as_node *list = as_node_get(n, "policies");
    if (list != NULL) {
        if (list->kind != AS_NODE_SEQ || list->n == 0 || list->n > AS_RATE_POLICIES_MAX)
            return as_err_at(err, list->file, list->line, list->col,
                             "%s: 'policies' must be a list of 1 to %d policies", what,
                             AS_RATE_POLICIES_MAX);
        struct as_rate_policy *p = calloc(list->n, sizeof(*p));
        if (p == NULL)
            return as_err_set(err, "out of memory"); /* no position: the load stops */
        r->policies = p; /* owned from now on, whatever follows (as_behavior_free) */
        r->npolicies = (int)list->n;
        for (size_t i = 0; i < list->n; i++)
            if (parse_rate(&p[i], list->items[i], what, err) < 0)
                return -1;
    }
    const struct as_opt *const tables[] = {as_behavior_rules_opts, NULL};
    return as_node_check_keys(n, what, tables, NULL, err);
}

int as_behavior_parse(struct as_behavior *b, struct as_node *node, const char *what,
                      struct as_err *err)
{
    as_behavior_defaults(b);
    if (node == NULL || node->kind == AS_NODE_NULL)
        return 0;
    if (node->kind == AS_NODE_SCALAR && strcmp(node->value, "off") == 0) {
        b->off = 1;
        return 0;
    }
    if (node->kind != AS_NODE_MAP)
        return as_err_at(err, node->file, node->line, node->col,
                         "%s: 'behavior' must be a mapping (scale_up, scale_down) or off", what);
    char sub[160];
    struct as_node *up = as_node_get(node, "scale_up");
    struct as_node *down = as_node_get(node, "scale_down");
    int rc = 0; /* scale_up, scale_down and the keys beside them are checked each */
    snprintf(sub, sizeof(sub), "%s behavior.scale_up", what);
    if (up != NULL && parse_rules(&b->up, up, sub, err) < 0) {
        if (as_node_keep(node, err) < 0)
            return -1;
        rc = -1;
    }
    snprintf(sub, sizeof(sub), "%s behavior.scale_down", what);
    if (down != NULL && parse_rules(&b->down, down, sub, err) < 0) {
        if (as_node_keep(node, err) < 0)
            return -1;
        rc = -1;
    }
    static const char *const keys[] = {"scale_up", "scale_down", NULL};
    snprintf(sub, sizeof(sub), "%s behavior", what);
    if (as_node_check_keys(node, sub, NULL, keys, err) < 0)
        return -1;
    return rc;
}

/* ---- stamps ---- */

static int stamps_push(struct as_stamps *s, struct as_stamp v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 2; /* a steady group keeps one or two */
        struct as_stamp *nv = realloc(s->v, cap * sizeof(*nv));
        if (nv == NULL)
            return -1;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return 0;
}

/* ---- stabilization ---- */

int as_behavior_stabilize(const struct as_behavior *b, struct as_stamps *recs, int64_t now,
                          int current, int desired, int *limited)
{
    int64_t up_cut = now - b->up.stabilization_ms, down_cut = now - b->down.stabilization_ms;
    int up_rec = desired, down_rec = desired, old = -1, same = -1;
    for (size_t i = 0; i < recs->n; i++) {
        const struct as_stamp *r = &recs->v[i];
        if (r->t > up_cut && r->value < up_rec)
            up_rec = r->value;
        if (r->t > down_cut && r->value > down_rec)
            down_rec = r->value;
        if (r->t < up_cut && r->t < down_cut)
            old = (int)i; /* the last entry outside both windows is reused */
        if (r->value == desired)
            same = (int)i;
    }
    int result = current;
    if (result < up_rec)
        result = up_rec;
    if (result > down_rec)
        result = down_rec;
    struct as_stamp entry = {now, desired, 0};
    /* Both windows end now, so of two entries with one value the older is inside a window
     * only when the newer is too: it never decides anything. Renewing the entry of the same
     * value keeps the log at the number of distinct recent recommendations (one or two in a
     * steady group) instead of one per round (300 at a 1 s interval and the default 5 min
     * scale-down window, 4.8 KB a group). */
    if (same >= 0) {
        if (recs->v[same].t < now)
            recs->v[same].t = now;
    } else if (old >= 0)
        recs->v[old] = entry;
    else if (stamps_push(recs, entry) < 0 && recs->n > 0)
        recs->v[0] = entry; /* out of memory: keep the window bounded, lose the oldest */
    *limited = result != desired;
    return result;
}

/* ---- rate limits ---- */

int as_behavior_push_event(struct as_stamps *events, int64_t now, int from, int to)
{
    return stamps_push(events, (struct as_stamp){now, to > from ? to - from : from - to, 0});
}

int as_behavior_changes(const struct as_stamps *events, int64_t now, int64_t period_ms)
{
    int64_t cut = now - period_ms, sum = 0;
    for (size_t i = 0; i < events->n && sum < AS_COUNT_MAX; i++)
        if (events->v[i].t > cut && events->v[i].value > 0)
            sum += events->v[i].value;
    return sum > AS_COUNT_MAX ? AS_COUNT_MAX : (int)sum;
}

/* A double as an int count, saturated: the cast of an out-of-range double is undefined. */
static int to_count(double v)
{
    return v >= INT_MAX ? INT_MAX : v <= INT_MIN ? INT_MIN : (int)v;
}

/* The count at the start of a policy period: current minus the changes within it. */
static int64_t period_start(const struct as_stamps *up, const struct as_stamps *down, int64_t now,
                            int current, int64_t period_ms)
{
    return (int64_t)current - as_behavior_changes(up, now, period_ms) +
           as_behavior_changes(down, now, period_ms);
}

static int up_limit(const struct as_rules *r, const struct as_stamps *up,
                    const struct as_stamps *down, int64_t now, int current)
{
    if (r->select == AS_SELECT_DISABLED)
        return current;
    int result = r->select == AS_SELECT_MIN ? INT_MAX : INT_MIN;
    for (int i = 0; i < r->npolicies; i++) {
        const struct as_rate_policy *p = &r->policies[i];
        int64_t start = period_start(up, down, now, current, p->period_ms);
        double v =
            p->percent ? ceil((double)start * (1.0 + p->value / 100.0)) : (double)start + p->value;
        int proposed = to_count(v);
        if (r->select == AS_SELECT_MIN ? proposed < result : proposed > result)
            result = proposed;
    }
    return result;
}

static int down_limit(const struct as_rules *r, const struct as_stamps *up,
                      const struct as_stamps *down, int64_t now, int current)
{
    if (r->select == AS_SELECT_DISABLED)
        return current;
    int result = r->select == AS_SELECT_MIN ? INT_MIN : INT_MAX;
    for (int i = 0; i < r->npolicies; i++) {
        const struct as_rate_policy *p = &r->policies[i];
        int64_t start = period_start(up, down, now, current, p->period_ms);
        /* Go's int32(float64) truncates toward zero: so does the C cast */
        int proposed = to_count(p->percent ? (double)start * (1.0 - p->value / 100.0)
                                           : (double)start - p->value);
        if (r->select == AS_SELECT_MIN ? proposed > result : proposed < result)
            result = proposed;
    }
    return result;
}

int as_behavior_rate_limit(const struct as_behavior *b, const struct as_stamps *up,
                           const struct as_stamps *down, int64_t now, int current, int desired,
                           int min, int max, const char **reason)
{
    if (desired > current) {
        int limit = b->off ? INT_MAX : up_limit(&b->up, up, down, now, current);
        if (limit < current)
            limit = current;
        int allowed = max;
        *reason = "TooManyReplicas";
        if (allowed > limit) {
            allowed = limit;
            *reason = "ScaleUpLimit";
        }
        if (desired > allowed)
            return allowed;
    } else if (desired < current) {
        int limit = b->off ? INT_MIN : down_limit(&b->down, up, down, now, current);
        if (limit > current)
            limit = current;
        int allowed = min;
        *reason = "TooFewReplicas";
        if (allowed < limit) {
            allowed = limit;
            *reason = "ScaleDownLimit";
        }
        if (desired < allowed)
            return allowed;
    }
    *reason = "DesiredWithinRange";
    return desired;
}

/* ---- events ---- */

static int64_t longest_period(const struct as_rules *r)
{
    int64_t p = 0;
    for (int i = 0; i < r->npolicies; i++)
        if (r->policies[i].period_ms > p)
            p = r->policies[i].period_ms;
    return p;
}

int as_behavior_store_event(const struct as_behavior *b, struct as_stamps *up,
                            struct as_stamps *down, int64_t now, int from, int to)
{
    if (b->off || from == to)
        return 0;
    struct as_stamps *ev = to > from ? up : down;
    int64_t cut = now - longest_period(to > from ? &b->up : &b->down);
    int old = -1;
    for (size_t i = 0; i < ev->n; i++) {
        if (ev->v[i].t < cut)
            ev->v[i].outdated = 1;
        if (ev->v[i].outdated)
            old = (int)i;
    }
    struct as_stamp e = {now, to > from ? to - from : from - to, 0};
    if (old >= 0) {
        ev->v[old] = e;
        return 0;
    }
    return stamps_push(ev, e);
}
