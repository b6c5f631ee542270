/* The oracle: the cheapest provisioning that never violates the SLO (docs/simulation.md,
 * "The oracle", with the proof). With s(i) the fewest serving replicas that meet the SLO at
 * step i (at least min) and S the startup in steps, it keeps
 *     E(i) = max { s(j) : i <= j <= i + S }
 * replicas in existence: the k-th replica exists exactly while some step of the next S + 1
 * needs k, so it starts one startup ahead and is kept through any gap shorter than that. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"
#include "sim/sim_int.h"

/* A monotonic deque over a ring of w slots: the max (or min) of a sliding window. */
struct window {
    int64_t *idx;
    int *val;
    size_t w, head, n;
    int want_max;
};

static int window_init(struct window *q, size_t w, int want_max)
{
    q->idx = calloc(w, sizeof(*q->idx));
    q->val = calloc(w, sizeof(*q->val));
    q->w = w;
    q->head = q->n = 0;
    q->want_max = want_max;
    return q->idx && q->val ? 0 : -1;
}

static void window_free(struct window *q)
{
    free(q->idx);
    free(q->val);
}

static int beats(const struct window *q, int a, int b)
{
    return q->want_max ? a >= b : a <= b;
}

static void window_push(struct window *q, int64_t i, int v)
{
    while (q->n > 0 && beats(q, v, q->val[(q->head + q->n - 1) % q->w]))
        q->n--;
    size_t pos = (q->head + q->n) % q->w;
    q->idx[pos] = i;
    q->val[pos] = v;
    q->n++;
}

/* Drops entries before index lo; returns the best of what is left. */
static int window_best(struct window *q, int64_t lo)
{
    while (q->n > 0 && q->idx[q->head] < lo) {
        q->head = (q->head + 1) % q->w;
        q->n--;
    }
    return q->val[q->head];
}

struct need_cache {
    double load;
    int need, valid;
};

static int need_at(struct need_cache *nc, const struct as_sim_model *m, double load, int min)
{
    if (!nc->valid || nc->load != load) {
        nc->need = as_sim_need(m, load, 10000000);
        nc->load = load;
        nc->valid = 1;
    }
    return nc->need < min ? min : nc->need;
}

struct oracle {
    const struct as_sim_model *m;
    const struct as_sim_opts *o;
    struct as_sim_clock ahead; /* S steps ahead of the step being tallied */
    struct window up, back;    /* max of s over [i, i+S]; min of E over [i-S, i] */
    double *loads;             /* ring of the S + 1 loads between */
    int64_t S;
    int min;
    struct need_cache nc;
};

static void push_ahead(struct oracle *q, int64_t j, int64_t steps)
{
    double load = j < steps ? as_sim_clock_next(&q->ahead) : 0;
    q->loads[j % (q->S + 1)] = load;
    window_push(&q->up, j, j < steps ? need_at(&q->nc, q->m, load, q->min) : 0);
}

static int oracle_loop(struct oracle *q, struct as_sim_result *res)
{
    int64_t steps = q->ahead.steps, step_ms = q->ahead.step_ms;
    double dt = (double)step_ms / 1000, backlog = 0;
    struct as_sim_cache cache = {0};
    struct as_sim_point pt;
    for (int64_t j = 0; j <= q->S && j < steps; j++)
        push_ahead(q, j, steps);
    int prev = -1;
    for (int64_t i = 0; i < steps; i++) {
        int e = window_best(&q->up, i);
        res->scale_events += prev >= 0 && e != prev;
        prev = e;
        window_push(&q->back, i, e);
        /* serving: the replicas that existed through [i - S, i]; those at 0 are warm */
        int serving = window_best(&q->back, i - q->S);
        double load = q->loads[i % (q->S + 1)];
        as_sim_cached_step(&cache, q->m, serving, load, dt, &backlog, q->o->percentiles, &pt);
        res->cost_rs += e * dt;
        res->violating_s += pt.violating ? dt : 0;
        res->lat_mean_ms += pt.lat_mean * dt;
        res->slo_lat_mean_ms += pt.lat_slo * dt;
        res->lat_max_ms = pt.lat_mean > res->lat_max_ms ? pt.lat_mean : res->lat_max_ms;
        res->slo_lat_max_ms = pt.lat_slo > res->slo_lat_max_ms ? pt.lat_slo : res->slo_lat_max_ms;
        res->offered += load * dt;
        res->served += pt.throughput * dt;
        res->max_replicas = e > res->max_replicas ? e : res->max_replicas;
        res->steps++;
        if (q->o->on_step) {
            struct as_sim_step s = {.t_s = (double)i * dt,
                                    .load = load,
                                    .replicas = e,
                                    .serving = serving,
                                    .desired = e,
                                    .decided = 1,
                                    .pt = &pt};
            q->o->on_step(&s, q->o->arg);
        }
        if (i + q->S + 1 < steps)
            push_ahead(q, i + q->S + 1, steps);
    }
    as_sim_result_finish(res, (double)steps * dt);
    return 0;
}

int as_sim_oracle(const struct as_sim_trace *tr, const struct as_sim_model *m,
                  const struct as_sim_opts *o, int min_replicas, struct as_sim_result *res,
                  struct as_err *err)
{
    memset(res, 0, sizeof(*res));
    if (as_sim_model_check(m, err) < 0)
        return -1;
    if (tr->n == 0)
        return as_err_set(err, "an empty trace");
    struct oracle q = {.m = m, .o = o, .min = min_replicas > 0 ? min_replicas : 0};
    as_sim_clock_init(&q.ahead, tr, o);
    q.S = (m->startup_ms + q.ahead.step_ms - 1) / q.ahead.step_ms;
    if (q.S > 100000000)
        return as_err_set(err, "the startup is too long for the step");
    int rc = -1;
    q.loads = calloc((size_t)q.S + 1, sizeof(*q.loads));
    if (q.loads == NULL || window_init(&q.up, (size_t)q.S + 2, 1) < 0 ||
        window_init(&q.back, (size_t)q.S + 2, 0) < 0) {
        as_err_set(err, "out of memory");
        goto out;
    }
    rc = oracle_loop(&q, res);
out:
    free(q.loads);
    window_free(&q.up);
    window_free(&q.back);
    return rc;
}
