/* The parameter space of `autoscaler tune`: which keys of a group are searched, within which
 * bounds. Every key is found in its option table (the group's, a metric's, the policy's,
 * behavior's), so a range never leaves what `check` accepts; the defaults per policy type are
 * one table (adding a policy's parameters = a few lines of it). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/behavior.h"
#include "core/decide.h"
#include "sim/tune.h"

enum { ABS, REL }; /* a default range in the key's unit, or as factors of its current value */

struct tune_default {
    const char *policy; /* "*": every policy */
    const char *key;    /* a path; "metrics.*.KEY": that key of every metric that sets it */
    int how;
    double lo, hi, step;
};

/* The defaults (docs/tune.md). Durations in ms. */
static const struct tune_default defaults[] = {
    {"target", "metrics.*.target", REL, 0.25, 2, 0},
    {"target", "metrics.*.average_value", REL, 0.25, 2, 0},
    {"target", "behavior.scale_down.stabilization", ABS, 0, 600000, 15000},
    {"target", "behavior.scale_up.stabilization", ABS, 0, 180000, 15000},
    {"panic", "policy.target", REL, 0.25, 2, 0},
    {"panic", "policy.stable_window", ABS, 12000, 300000, 6000}, /* panic window >= 1 s */
    {"panic", "policy.panic_threshold", ABS, 1, 4, 0.1},
    {"panic", "policy.scale_down_delay", ABS, 0, 600000, 15000},
    {"threshold_average", "policy.min", REL, 0.25, 2, 0},
    {"threshold_average", "policy.max", REL, 0.5, 2, 0},
    {"threshold_average", "policy.increment", ABS, 1, 5, 1},
    {"threshold_consecutive", "policy.min", REL, 0.25, 2, 0},
    {"threshold_consecutive", "policy.max", REL, 0.5, 2, 0},
    {"threshold_consecutive", "policy.up_after", ABS, 1, 10, 1},
    {"threshold_consecutive", "policy.down_after", ABS, 1, 20, 1},
    {"decay", "policy.step", ABS, 1, 5, 1},
    {"decay", "policy.unchanged_runs", ABS, 0, 10, 1},
    {"queue", "policy.max_queue_size", REL, 0.25, 4, 0},
    {"queue", "policy.scale_up_step", ABS, 1, 10, 1},
    {"queue", "policy.max_idle_time", ABS, 10000, 600000, 10000},
    {"step", "policy.threshold", REL, 0.5, 1.5, 0},
    {"formula", "policy.target", REL, 0.25, 2, 0},
    {"predictive", "metrics.*.target", REL, 0.25, 2, 0},
    {"predictive", "metrics.*.average_value", REL, 0.25, 2, 0},
    {"predictive", "policy.lead", ABS, 10000, 600000, 10000},
    {"predictive", "policy.margin", ABS, 0, 0.5, 0.01},
    {"*", "interval", ABS, 5000, 60000, 5000},
};

/* Where a key's value lives once parsed, and its option. */
struct where {
    const struct as_opt *opt;
    const void *base; /* the parsed struct the option's offset is into; NULL: opt has none */
};

static int metric_key(const struct as_group_cfg *g, const char *path, struct where *w,
                      struct as_err *err)
{
    const char *rest = path + strlen("metrics."), *dot = strrchr(rest, '.');
    char name[AS_TUNE_PATH_MAX];
    if (dot == NULL || dot == rest)
        return as_err_set(err, "'%s': expected metrics.NAME.KEY", path);
    snprintf(name, sizeof(name), "%.*s", (int)(dot - rest), rest);
    long i = as_group_metric_index(g, name);
    if (i < 0)
        return as_err_set(err, "'%s': group '%s' has no metric '%s'", path, g->name, name);
    w->opt = as_opt_find(as_metric_opts, dot + 1);
    w->base = &g->metrics[i];
    if (w->opt != NULL && strcmp(w->opt->name, "target") == 0 && g->metrics[i].target <= 0)
        return as_err_set(err, "'%s': metric '%s' has no target (it sets average_value)", path,
                          name);
    if (w->opt != NULL && strcmp(w->opt->name, "average_value") == 0 &&
        g->metrics[i].average_value <= 0)
        return as_err_set(err, "'%s': metric '%s' has no average_value", path, name);
    return 0;
}

static int behavior_key(const struct as_group_cfg *g, const char *path, struct where *w,
                        struct as_err *err)
{
    const char *rest = path + strlen("behavior.");
    const struct as_rules *r = strncmp(rest, "scale_up.", 9) == 0      ? &g->behavior.up
                               : strncmp(rest, "scale_down.", 11) == 0 ? &g->behavior.down
                                                                       : NULL;
    if (r == NULL || strcmp(strchr(rest, '.') + 1, "stabilization") != 0)
        return as_err_set(err,
                          "'%s': of behavior, only scale_up.stabilization and "
                          "scale_down.stabilization are tuned",
                          path);
    if (g->behavior.off)
        return as_err_set(err, "'%s': group '%s' has behavior: off", path, g->name);
    static const struct as_opt stab = {"stabilization",
                                       AS_OPT_DURATION,
                                       offsetof(struct as_rules, stabilization_ms),
                                       NULL,
                                       0,
                                       3600000,
                                       0,
                                       NULL,
                                       NULL};
    w->opt = &stab; /* the bounds of as_behavior_rules_opts, the offset into as_rules */
    w->base = r;
    return 0;
}

/* Finds the option of path. Returns 0 or -1 with err. */
static int find_key(const struct as_group_cfg *g, const char *path, struct where *w,
                    struct as_err *err)
{
    *w = (struct where){0};
    int rc = 0;
    if (strncmp(path, "metrics.", 8) == 0)
        rc = metric_key(g, path, w, err);
    else if (strncmp(path, "behavior.", 9) == 0)
        rc = behavior_key(g, path, w, err);
    else if (strncmp(path, "policy.", 7) == 0) {
        w->opt = as_opt_find(g->policy->opts, path + 7);
        w->base = g->policy_cfg;
        if (w->opt == NULL)
            return as_err_set(err, "'%s': policy %s has no key '%s'", path, g->policy->name,
                              path + 7);
    } else if (strchr(path, '.') == NULL) {
        w->opt = as_opt_find(as_group_opts, path);
        w->base = g;
    }
    if (rc < 0)
        return -1;
    if (w->opt == NULL)
        return as_err_set(err, "'%s': not a key that can be tuned (docs/tune.md)", path);
    enum as_opt_type t = w->opt->type;
    if (t != AS_OPT_INT && t != AS_OPT_DOUBLE && t != AS_OPT_DURATION)
        return as_err_set(err, "'%s': not a number or a duration", path);
    return 0;
}

static double current_of(const struct where *w)
{
    const char *p = (const char *)w->base + w->opt->offset;
    switch (w->opt->type) {
    case AS_OPT_INT:
        return *(const int *)(const void *)p;
    case AS_OPT_DURATION:
        return (double)*(const int64_t *)(const void *)p;
    default:
        return *(const double *)(const void *)p;
    }
}

/* The option's own bounds, or none. */
static void opt_bounds(const struct as_opt *o, double *lo, double *hi)
{
    *lo = o->min <= o->max ? o->min : -INFINITY;
    *hi = o->min <= o->max ? o->max : INFINITY;
}

static int parse_value(const struct as_tune_param *p, const char *s, double *out)
{
    int64_t ms;
    long l;
    if (p->type == AS_OPT_DURATION) {
        if (as_duration_parse(s, &ms) < 0)
            return -1;
        *out = (double)ms;
        return 0;
    }
    if (p->type == AS_OPT_INT) {
        if (as_parse_long(s, &l) < 0)
            return -1;
        *out = (double)l;
        return 0;
    }
    return as_parse_double(s, out) < 0 || !isfinite(*out) ? -1 : 0;
}

static int add_param(struct as_tune_space *sp, const char *path, struct as_err *err)
{
    if (sp->n >= AS_TUNE_PARAMS_MAX)
        return as_err_set(err, "at most %d parameters", AS_TUNE_PARAMS_MAX);
    for (size_t i = 0; i < sp->n; i++)
        if (strcmp(sp->p[i].path, path) == 0)
            return as_err_set(err, "'%s' is given twice", path);
    struct as_tune_param *p = &sp->p[sp->n];
    *p = (struct as_tune_param){0};
    if (snprintf(p->path, sizeof(p->path), "%s", path) >= (int)sizeof(p->path))
        return as_err_set(err, "'%.40s...': too long", path);
    return 0;
}

/* The node at path below n (a list's item by its `name`), or NULL when a key is absent. */
static const struct as_node *node_at(const struct as_node *n, const char *path)
{
    while (n != NULL && *path) {
        const struct as_node *next = NULL;
        size_t len = strcspn(path, ".");
        for (size_t i = 0; n->kind == AS_NODE_MAP && i < n->n && !next; i++)
            if (strlen(n->pairs[i].key->value) == len &&
                strncmp(n->pairs[i].key->value, path, len) == 0)
                next = n->pairs[i].value;
        for (size_t i = 0; n->kind == AS_NODE_SEQ && i < n->n && !next; i++) {
            const struct as_node *it = n->items[i];
            long k = it->kind == AS_NODE_MAP ? as_node_find(it, "name") : -1;
            const char *name = k >= 0 ? it->pairs[k].value->value : NULL;
            if (name && strncmp(path, name, strlen(name)) == 0 &&
                (path[strlen(name)] == '.' || path[strlen(name)] == '\0')) {
                next = it;
                len = strlen(name);
            }
        }
        n = next;
        path += len + (path[len] == '.');
    }
    return n;
}

/* A key written as a mapping or a list (a min with a schedule) is not a number to search. */
static int plain_key(const struct as_node *group, const char *path, struct as_err *err)
{
    const struct as_node *n = node_at(group, path);
    if (n != NULL && n->kind != AS_NODE_SCALAR)
        return as_err_set(err, "'%s' is written as %s in the group, not a number", path,
                          as_node_kind_name(n->kind));
    return 0;
}

/* KEY=LO:HI[:STEP]. */
static int parse_spec(const struct as_group_cfg *g, const struct as_node *node, const char *spec,
                      struct as_tune_space *sp, struct as_err *err)
{
    char buf[AS_TUNE_PATH_MAX + 96], *f[3] = {0};
    const char *eq = strchr(spec, '=');
    if (eq == NULL || snprintf(buf, sizeof(buf), "%s", eq + 1) >= (int)sizeof(buf))
        return as_err_set(err, "--param '%s': expected KEY=LO:HI[:STEP]", spec);
    char key[AS_TUNE_PATH_MAX];
    snprintf(key, sizeof(key), "%.*s", (int)(eq - spec), spec);
    struct where w;
    if (find_key(g, key, &w, err) < 0 || plain_key(node, key, err) < 0 ||
        add_param(sp, key, err) < 0)
        return -1;
    struct as_tune_param *p = &sp->p[sp->n];
    p->type = w.opt->type;
    p->current = current_of(&w);
    size_t nf = 0;
    for (char *save = NULL, *t = strtok_r(buf, ":", &save); t && nf < 3;
         t = strtok_r(NULL, ":", &save))
        f[nf++] = t;
    double lo, hi;
    opt_bounds(w.opt, &lo, &hi);
    if (nf < 2 || parse_value(p, f[0], &p->lo) < 0 || parse_value(p, f[1], &p->hi) < 0 ||
        (nf == 3 && (parse_value(p, f[2], &p->step) < 0 || p->step <= 0)) || p->lo > p->hi)
        return as_err_set(err, "--param '%s': expected KEY=LO:HI[:STEP] with LO <= HI and STEP > 0",
                          spec);
    if (p->lo < lo || p->hi > hi)
        return as_err_set(err, "--param '%s': '%s' accepts %g to %g%s", spec, key,
                          p->type == AS_OPT_DURATION ? lo / 1000 : lo,
                          p->type == AS_OPT_DURATION ? hi / 1000 : hi,
                          p->type == AS_OPT_DURATION ? " s" : "");
    sp->n++;
    return 0;
}

/* A round grid near x: 1, 2 or 5 times a power of ten, at most x. */
static double nice_step(double x)
{
    double p = pow(10, floor(log10(x)));
    return x >= 5 * p ? 5 * p : x >= 2 * p ? 2 * p : p;
}

/* One default parameter at path; a relative range needs a current value above 0. */
static int add_default(const struct as_group_cfg *g, const struct as_node *node,
                       const struct tune_default *d, const char *path, struct as_tune_space *sp,
                       struct as_err *err)
{
    struct where w;
    struct as_err ignored;
    if (find_key(g, path, &w, &ignored) < 0 || plain_key(node, path, &ignored) < 0)
        return 0; /* not set for this metric, behavior off, min on a schedule... */
    double cur = current_of(&w), lo, hi;
    if (d->how == REL && !(cur > 0))
        return 0;
    if (add_param(sp, path, err) < 0)
        return -1;
    struct as_tune_param *p = &sp->p[sp->n];
    opt_bounds(w.opt, &lo, &hi);
    p->type = w.opt->type;
    p->current = cur;
    p->step = d->how == REL && d->step == 0 ? nice_step(cur / 100) : d->step;
    p->lo = d->how == REL ? cur * d->lo : d->lo;
    p->hi = d->how == REL ? cur * d->hi : d->hi;
    if (d->how == REL && strncmp(path, "metrics.", 8) == 0 && cur <= 1 && p->hi > 1)
        p->hi = 1; /* a target of at most 1 is a utilization: it stays one */
    p->lo = fmax(fmin(p->lo, cur), lo);
    p->hi = fmin(fmax(p->hi, cur), hi);
    if (p->type == AS_OPT_INT) {
        p->lo = ceil(p->lo);
        p->hi = floor(p->hi);
    }
    if (p->lo < p->hi)
        sp->n++;
    return 0;
}

static int defaults_of(const struct as_group_cfg *g, const struct as_node *node,
                       struct as_tune_space *sp, struct as_err *err)
{
    for (size_t i = 0; i < AS_ARRAY_LEN(defaults); i++) {
        const struct tune_default *d = &defaults[i];
        if (strcmp(d->policy, "*") != 0 && strcmp(d->policy, g->policy->name) != 0)
            continue;
        if (strncmp(d->key, "metrics.*.", 10) != 0) {
            if (add_default(g, node, d, d->key, sp, err) < 0)
                return -1;
            continue;
        }
        for (size_t m = 0; m < g->nmetrics; m++) {
            char path[AS_TUNE_PATH_MAX];
            snprintf(path, sizeof(path), "metrics.%s.%s", g->metrics[m].name, d->key + 10);
            if (add_default(g, node, d, path, sp, err) < 0)
                return -1;
        }
    }
    if (sp->n == 0)
        return as_err_set(err, "no parameter of policy %s to tune by default; choose with --param",
                          g->policy->name);
    return 0;
}

int as_tune_space_build(const struct as_group_cfg *g, const struct as_node *node,
                        const char *const *specs, struct as_tune_space *sp, struct as_err *err)
{
    sp->n = 0;
    if (node == NULL || node->kind != AS_NODE_MAP)
        return as_err_set(err, "group '%s' is not a mapping", g->name);
    if (specs == NULL || specs[0] == NULL)
        return defaults_of(g, node, sp, err);
    for (size_t i = 0; specs[i] != NULL; i++)
        if (parse_spec(g, node, specs[i], sp, err) < 0)
            return -1;
    return 0;
}

double as_tune_quantize(const struct as_tune_param *p, double v)
{
    double step = p->step;
    if (step <= 0 && p->type == AS_OPT_INT)
        step = 1;
    if (step <= 0 && p->type == AS_OPT_DURATION)
        step = p->hi - p->lo >= 10000 ? 1000 : 100;
    if (step > 0)
        v = round(v / step) * step; /* multiples of the step: 10s, 15s, not 12s, 17s */
    else if (v != 0) {              /* 4 significant digits, as the text is written */
        char buf[32];
        snprintf(buf, sizeof(buf), "%.4g", v);
        v = strtod(buf, NULL);
    }
    if (v > p->hi)
        v = p->hi;
    if (v < p->lo)
        v = p->lo;
    if (p->type != AS_OPT_DOUBLE)
        return round(v);
    char buf[32]; /* exactly the value its text reads as */
    snprintf(buf, sizeof(buf), "%.10g", v);
    return strtod(buf, NULL);
}

const char *as_tune_value_text(const struct as_tune_param *p, double v, char *buf, size_t len)
{
    if (p->type == AS_OPT_DURATION)
        return as_duration_fmt((int64_t)llround(v), buf, len);
    if (p->type == AS_OPT_INT)
        snprintf(buf, len, "%lld", (long long)llround(v));
    else
        snprintf(buf, len, "%.10g", v);
    return buf;
}
