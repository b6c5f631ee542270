/* Policy `queue`: EverAI's `simple` queue autoscaler (everai-autoscaler/builtin,
 * SimpleAutoScaler with its scale-up and idle-time scale-down helpers).
 *   fewer workers than min_workers            -> min_workers
 *   more workers than max_workers             -> max_workers (our own rule, see the doc)
 *   queue > max_queue_size                    -> current + scale_up_step, at most max_workers
 *   otherwise, workers idle >= max_idle_time  -> release them, but not below min_workers
 *   otherwise (nothing idle, or no idle data) -> keep
 * The queue length is the metric `metric` (default: the group's first); the idle times are
 * the per-replica data (idle_ms) of `workers_metric` (default: the same metric). A failed
 * queue measurement decides nothing; failed or missing idle data releases nothing.
 * Stateless: everything it needs is in the round's observations. See docs/policies/queue.md */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/decide.h"
#include "config/opt.h"
#include "util/util.h"

struct queue_cfg {
    char *metric, *workers_metric;
    int min_workers, max_workers, scale_up_step;
    double max_queue_size;
    int64_t max_idle_ms;
    size_t qi, wi; /* indexes of the two metrics in the group, resolved by validate */
};

static const struct as_opt opts[] = {
    {"metric", AS_OPT_STR, offsetof(struct queue_cfg, metric), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL, "The queue length metric (default: the group's first metric)."},
    {"workers_metric", AS_OPT_STR, offsetof(struct queue_cfg, workers_metric), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "The metric whose per-replica data carries each worker's idle time (default: `metric`)."},
    {"min_workers", AS_OPT_INT, offsetof(struct queue_cfg, min_workers), "1", 0, 1000000, 0, NULL,
     "Idle workers are never released below this; fewer workers are raised to it."},
    {"max_workers", AS_OPT_INT, offsetof(struct queue_cfg, max_workers), NULL, 1, 1000000, 0, NULL,
     "A scale-up never goes above this (default: the group's max)."},
    {"max_queue_size", AS_OPT_DOUBLE, offsetof(struct queue_cfg, max_queue_size), "1", 0, 1e15, 0,
     NULL, "A queue longer than this adds scale_up_step workers."},
    {"scale_up_step", AS_OPT_INT, offsetof(struct queue_cfg, scale_up_step), "1", 1, 1000000, 0,
     NULL, "Workers added per decision while the queue is too long."},
    {"max_idle_time", AS_OPT_DURATION, offsetof(struct queue_cfg, max_idle_ms), "120s", 1,
     86400000.0 * 7, 0, NULL, "A worker idle at least this long is released."},
    AS_OPT_END,
};

/* Resolves a metric option to its index; an absent option means `def`. */
static int validate(void *cfg, const struct as_group_cfg *g, struct as_node *map,
                    struct as_err *err)
{
    struct queue_cfg *c = cfg;
    if (c->max_workers > 0 && c->min_workers > c->max_workers) {
        const char *file;
        int line, col;
        as_node_pos(map, "min_workers", &file, &line, &col);
        return as_err_at(err, file, line, col,
                         "group '%s' policy: min_workers (%d) is greater than max_workers (%d)",
                         g->name, c->min_workers, c->max_workers);
    }
    if (as_group_metric(g, map, "metric", c->metric, 0, &c->qi, err) < 0)
        return -1;
    return as_group_metric(g, map, "workers_metric", c->workers_metric, c->qi, &c->wi, err);
}

/* Workers idle at least max_idle_time; -1 when there is no idle data to judge by. */
static int idle_workers(const struct queue_cfg *c, const struct as_obs *obs)
{
    const struct as_replica_obs *reps;
    size_t n;
    if (c->wi < obs->n && obs->m[c->wi].ok && obs->m[c->wi].nreplicas > 0) {
        reps = obs->m[c->wi].replicas; /* the source knows its workers */
        n = obs->m[c->wi].nreplicas;
    } else if (obs->nworkers > 0) {
        reps = obs->workers; /* else the scaler does (a process pool samples their CPU) */
        n = obs->nworkers;
    } else {
        return -1;
    }
    int idle = 0;
    for (size_t k = 0; k < n; k++) {
        const struct as_replica_obs *r = &reps[k];
        /* idle_ms 0 is busy and -1 unknown: neither is ever released */
        if (r->ok && r->idle_ms > 0 && r->idle_ms >= c->max_idle_ms)
            idle++;
    }
    return idle;
}

/* The scale-down half: the queue is short, release the workers that have idled too long. */
static void release(const struct queue_cfg *c, const struct as_obs *obs, const char *head,
                    struct as_rec *out)
{
    int cur = obs->current, idle = idle_workers(c, obs);
    char t[32];
    as_duration_fmt(c->max_idle_ms, t, sizeof(t));
    if (idle < 0) {
        snprintf(out->reason, sizeof(out->reason), "%s, no idle data: keep %d", head, cur);
        return;
    }
    int room = cur > c->min_workers ? cur - c->min_workers : 0;
    int n = idle < room ? idle : room;
    out->desired = cur - n;
    if (n > 0)
        snprintf(out->reason, sizeof(out->reason),
                 "%s, %d worker(s) idle >= %s: release %d (min_workers %d): %d-%d=%d", head, idle,
                 t, n, c->min_workers, cur, n, out->desired);
    else if (idle > 0)
        snprintf(out->reason, sizeof(out->reason),
                 "%s, %d worker(s) idle >= %s but at min_workers %d: keep %d", head, idle, t,
                 c->min_workers, cur);
    else
        snprintf(out->reason, sizeof(out->reason), "%s, no worker idle >= %s: keep %d", head, t,
                 cur);
}

/* The scale-up half: the queue is too long, add a step without passing max_workers. */
static void grow(const struct queue_cfg *c, int cur, int max, const char *head, struct as_rec *out)
{
    int add = max - cur < c->scale_up_step ? max - cur : c->scale_up_step;
    out->desired = cur + add;
    if (add == 0)
        snprintf(out->reason, sizeof(out->reason), "%s, at max_workers %d: keep %d", head, max,
                 cur);
    else if (add < c->scale_up_step)
        snprintf(out->reason, sizeof(out->reason), "%s: %d+%d=%d (capped at max_workers %d)", head,
                 cur, add, out->desired, max);
    else
        snprintf(out->reason, sizeof(out->reason), "%s: %d+%d=%d", head, cur, add, out->desired);
}

static void recommend(const void *cfg, const struct as_group_cfg *g, const struct as_obs *obs,
                      void *state, struct as_rec *out)
{
    (void)state;
    const struct queue_cfg *c = cfg;
    int cur = obs->current;
    int max = c->max_workers > 0 ? c->max_workers : g->max;
    const char *name = c->qi < g->nmetrics ? g->metrics[c->qi].name : "?";
    *out = (struct as_rec){.desired = cur};
    if (c->qi >= obs->n || !obs->m[c->qi].ok) {
        snprintf(out->reason, sizeof(out->reason), "queue metric %s failed", name);
        return;
    }
    double q = obs->m[c->qi].value;
    out->valid = 1;
    char head[160];
    snprintf(head, sizeof(head), "%s=%g %s max_queue_size %g", name, q,
             q > c->max_queue_size ? ">" : "<=", c->max_queue_size);
    if (cur < c->min_workers) {
        out->desired = c->min_workers;
        snprintf(out->reason, sizeof(out->reason), "%d workers below min_workers %d: %d", cur,
                 c->min_workers, out->desired);
    } else if (cur > max) {
        out->desired = max;
        snprintf(out->reason, sizeof(out->reason), "%d workers above max_workers %d: %d", cur, max,
                 out->desired);
    } else if (q > c->max_queue_size) {
        grow(c, cur, max, head, out);
    } else {
        release(c, obs, head, out);
    }
}

const struct as_policy_ops as_policy_queue_ops = {
    .name = "queue",
    .opts = opts,
    .cfg_size = sizeof(struct queue_cfg),
    .summary = "A work queue (EverAI's simple queue autoscaler): a queue longer than "
               "max_queue_size adds scale_up_step workers; workers idle for max_idle_time are "
               "released down to min_workers.",
    .metric_targets = 0,
    .validate = validate,
    .recommend = recommend,
};
