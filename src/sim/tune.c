/* The search of `autoscaler tune` (docs/tune.md, "The search"): the current settings, a Latin
 * hypercube sample of the space, then compass search (poll both neighbours of the centre on
 * every axis, move to the best if it beats the centre, else halve the step) from the best
 * points, each new point rounded to its parameter's grid, none simulated twice. A batch of
 * candidates is built one after the other (the configuration loader is not meant for threads)
 * and simulated on p->threads threads (as_sim_run is re-entrant); results land in fixed slots,
 * so the outcome depends on the seed only. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sim/tune.h"

#define STEP_FIRST 0.25 /* compass step, as a fraction of each range */
#define STEP_LAST (1.0 / 256)
#define RESTARTS 3 /* compass searches from the best distinct points, at most */
#define THREADS_MAX 16

struct tuner {
    const struct as_tune_problem *p;
    struct as_tune_result *r;
    struct as_tune_eval *ev; /* every point tried, in order (the cache) */
    size_t n, cap;
    uint64_t rng;
    double t0;
    int stop; /* a reason to stop, once the budget or the time is out */
};

/* ---- ordering ---- */

int as_tune_feasible(const struct as_tune_problem *p, const struct as_tune_eval *e)
{
    return e->ok && e->violation <= p->max_violation + 1e-12;
}

/* Whether a ranks strictly before b: built ones first, then feasible by cost, infeasible by
 * violation then cost, then fewer scale events. */
static int better(const struct as_tune_problem *p, const struct as_tune_eval *a,
                  const struct as_tune_eval *b)
{
    if (a->ok != b->ok)
        return a->ok;
    int fa = as_tune_feasible(p, a), fb = as_tune_feasible(p, b);
    if (fa != fb)
        return fa;
    if (!fa && a->violation != b->violation)
        return a->violation < b->violation;
    if (a->res.cost_rs != b->res.cost_rs)
        return a->res.cost_rs < b->res.cost_rs;
    return a->res.scale_events < b->res.scale_events;
}

/* ---- the unit cube and the grid ---- */

static uint64_t next_rand(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unit_rand(uint64_t *s)
{
    return (double)(next_rand(s) >> 11) / 9007199254740992.0;
}

static void to_values(const struct as_tune_space *sp, const double *u, double *v)
{
    for (size_t i = 0; i < sp->n; i++) {
        const struct as_tune_param *q = &sp->p[i];
        v[i] = as_tune_quantize(q, q->lo + u[i] * (q->hi - q->lo));
    }
}

static void to_unit(const struct as_tune_space *sp, const double *v, double *u)
{
    for (size_t i = 0; i < sp->n; i++) {
        const struct as_tune_param *q = &sp->p[i];
        double x = q->hi > q->lo ? (v[i] - q->lo) / (q->hi - q->lo) : 0;
        u[i] = x < 0 ? 0 : x > 1 ? 1 : x;
    }
}

static long cached(const struct tuner *t, const double *v)
{
    for (size_t i = 0; i < t->n; i++)
        if (memcmp(t->ev[i].v, v, sizeof(double) * t->p->space->n) == 0)
            return (long)i;
    return -1;
}

/* ---- evaluating a batch ---- */

struct job {
    const struct as_tune_problem *p;
    struct as_config **cfg;
    struct as_tune_eval *ev;
    size_t n, first, stride;
};

static void *run_jobs(void *arg)
{
    struct job *j = arg;
    for (size_t i = j->first; i < j->n; i += j->stride) {
        struct as_err err;
        if (j->cfg[i] == NULL)
            continue;
        struct as_tune_eval *e = &j->ev[i];
        e->ok = as_sim_run(&j->cfg[i]->groups[0], j->p->trace, &j->p->model, &j->p->sim, &e->res,
                           &err) == 0;
        e->violation = e->ok && e->res.duration_s > 0 ? e->res.violating_s / e->res.duration_s : 1;
    }
    return NULL;
}

/* Simulates n built candidates on the problem's threads (the calling one among them). */
static void simulate(const struct as_tune_problem *p, struct as_config **cfg,
                     struct as_tune_eval *ev, size_t n)
{
    size_t nt = p->threads < 1 ? 1 : p->threads > THREADS_MAX ? THREADS_MAX : (size_t)p->threads;
    if (n == 0)
        return;
    if (nt > n)
        nt = n;
    struct job jobs[THREADS_MAX];
    pthread_t th[THREADS_MAX];
    size_t started = 1;
    for (size_t k = 0; k < nt; k++)
        jobs[k] = (struct job){.p = p, .cfg = cfg, .ev = ev, .n = n, .first = k, .stride = nt};
    for (size_t k = 1; k < nt; k++) {
        if (pthread_create(&th[k], NULL, run_jobs, &jobs[k]) != 0)
            break;
        started++;
    }
    /* what a thread that could not start would have run, this one runs */
    for (size_t k = started; k < nt; k++)
        run_jobs(&jobs[k]);
    run_jobs(&jobs[0]);
    for (size_t k = 1; k < started; k++)
        pthread_join(th[k], NULL);
}

static int grow(struct tuner *t, size_t more)
{
    if (t->n + more <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 64;
    while (cap < t->n + more)
        cap *= 2;
    struct as_tune_eval *ev = realloc(t->ev, cap * sizeof(*ev));
    if (ev == NULL)
        return -1;
    t->ev = ev;
    t->cap = cap;
    return 0;
}

static int out_of_time(struct tuner *t)
{
    const struct as_tune_problem *p = t->p;
    if (t->r->evals >= p->budget)
        t->stop = AS_TUNE_BUDGET;
    else if (p->time_limit_s > 0 && p->clock_s != NULL &&
             p->clock_s(p->clock_arg) - t->t0 >= p->time_limit_s)
        t->stop = AS_TUNE_TIME;
    return t->stop != AS_TUNE_CONVERGED;
}

/* Evaluates the points v[0..n) (rows of AS_TUNE_PARAMS_MAX), those not tried before, within
 * the budget; idx[k] gets the index in t->ev of point k (-1: not tried, the budget is out).
 * Returns 0 or -1 on ENOMEM. */
static int eval_batch(struct tuner *t, const double (*v)[AS_TUNE_PARAMS_MAX], size_t n, long *idx)
{
    const struct as_tune_problem *p = t->p;
    size_t first = t->n;
    int fresh = 0;
    struct as_config **slot = calloc(n ? n : 1, sizeof(*slot)); /* per new point; NULL: refused */
    if (slot == NULL || grow(t, n) < 0) {
        free(slot);
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        idx[k] = cached(t, v[k]);
        if (idx[k] >= 0 || t->r->evals + fresh >= p->budget)
            continue;
        struct as_tune_eval *e = &t->ev[t->n];
        memset(e, 0, sizeof(*e));
        memcpy(e->v, v[k], sizeof(e->v));
        e->violation = 1; /* refused: ranks last, never simulated */
        struct as_err err;
        struct as_config *cfg = as_tune_config(p, v[k], &err);
        if (cfg == NULL && t->r->invalid++ == 0) {
            t->r->first_invalid = err;
            memcpy(t->r->first_invalid_v, v[k], sizeof(t->r->first_invalid_v));
        }
        fresh += cfg != NULL;
        slot[t->n - first] = cfg;
        idx[k] = (long)t->n++;
    }
    simulate(p, slot, &t->ev[first], t->n - first);
    t->r->evals += fresh;
    for (size_t i = first; i < t->n; i++) {
        as_config_unref(slot[i - first]);
        if (better(p, &t->ev[i], &t->r->best))
            t->r->best = t->ev[i];
    }
    free(slot);
    return 0;
}

/* ---- the phases ---- */

static int latin_hypercube(struct tuner *t, size_t m)
{
    size_t d = t->p->space->n;
    double(*v)[AS_TUNE_PARAMS_MAX] = calloc(m, sizeof(*v));
    double(*u)[AS_TUNE_PARAMS_MAX] = calloc(m, sizeof(*u));
    size_t *perm = calloc(m, sizeof(*perm));
    long *idx = calloc(m, sizeof(*idx));
    int rc = -1;
    if (v == NULL || u == NULL || perm == NULL || idx == NULL)
        goto out;
    for (size_t i = 0; i < d; i++) {
        for (size_t k = 0; k < m; k++)
            perm[k] = k;
        for (size_t k = m; k > 1; k--) { /* Fisher-Yates */
            size_t j = (size_t)(next_rand(&t->rng) % k), x = perm[k - 1];
            perm[k - 1] = perm[j];
            perm[j] = x;
        }
        for (size_t k = 0; k < m; k++)
            u[k][i] = ((double)perm[k] + unit_rand(&t->rng)) / (double)m;
    }
    for (size_t k = 0; k < m; k++)
        to_values(t->p->space, u[k], v[k]);
    size_t chunk = 4 * (size_t)(t->p->threads > 0 ? t->p->threads : 1);
    rc = 0;
    for (size_t k = 0; k < m && rc == 0 && !out_of_time(t); k += chunk)
        rc = eval_batch(t, (const double(*)[AS_TUNE_PARAMS_MAX])v + k,
                        m - k < chunk ? m - k : chunk, idx + k);
out:
    free(v);
    free(u);
    free(perm);
    free(idx);
    return rc;
}

/* Compass search from t->ev[start]. Returns 0 or -1 on ENOMEM. */
static int compass(struct tuner *t, size_t start, double h)
{
    const struct as_tune_space *sp = t->p->space;
    double v[2 * AS_TUNE_PARAMS_MAX][AS_TUNE_PARAMS_MAX], c[AS_TUNE_PARAMS_MAX];
    long idx[2 * AS_TUNE_PARAMS_MAX];
    size_t centre = start;
    while (h >= STEP_LAST && !out_of_time(t)) {
        size_t n = 0;
        to_unit(sp, t->ev[centre].v, c);
        for (size_t i = 0; i < sp->n; i++)
            for (int dir = -1; dir <= 1; dir += 2) {
                double u[AS_TUNE_PARAMS_MAX];
                memcpy(u, c, sizeof(u));
                u[i] = fmin(1, fmax(0, c[i] + dir * h));
                to_values(sp, u, v[n]);
                for (size_t k = 0; k < sp->n; k++) /* the other axes exactly as the centre */
                    if (k != i)
                        v[n][k] = t->ev[centre].v[k];
                if (v[n][i] != t->ev[centre].v[i])
                    n++;
            }
        if (eval_batch(t, (const double(*)[AS_TUNE_PARAMS_MAX])v, n, idx) < 0)
            return -1;
        long best = -1;
        for (size_t k = 0; k < n; k++)
            if (idx[k] >= 0 &&
                better(t->p, &t->ev[idx[k]], &t->ev[best >= 0 ? (size_t)best : centre]))
                best = idx[k];
        if (best >= 0)
            centre = (size_t)best;
        else
            h /= 2;
    }
    return 0;
}

/* Indices of the tried points, best first (insertion sort: a few thousand at most). */
static size_t *ranked(const struct tuner *t)
{
    size_t *o = calloc(t->n ? t->n : 1, sizeof(*o));
    for (size_t i = 0; o != NULL && i < t->n; i++) {
        size_t j = i;
        for (; j > 0 && better(t->p, &t->ev[i], &t->ev[o[j - 1]]); j--)
            o[j] = o[j - 1];
        o[j] = i;
    }
    return o;
}

static int searches(struct tuner *t)
{
    size_t *o = ranked(t);
    if (o == NULL)
        return -1;
    size_t starts[RESTARTS], ns = 0, ntried = t->n;
    for (size_t k = 0; k < ntried && ns < RESTARTS; k++)
        if (t->ev[o[k]].ok)
            starts[ns++] = o[k];
    free(o);
    int rc = 0;
    for (size_t s = 0; s < ns && rc == 0 && !out_of_time(t); s++)
        rc = compass(t, starts[s], s == 0 ? STEP_FIRST : STEP_FIRST / 2);
    return rc;
}

static size_t sample_size(const struct as_tune_problem *p)
{
    size_t d = p->space->n, m = 10 * d + 10, cap = (size_t)(p->budget / 3);
    if (m > cap)
        m = cap > 2 * d ? cap : 2 * d;
    return m;
}

int as_tune_run(const struct as_tune_problem *p, struct as_tune_result *r, struct as_err *err)
{
    struct tuner t = {.p = p, .r = r, .rng = p->seed ^ 0x5eed5eedull};
    memset(r, 0, sizeof(*r));
    t.t0 = p->clock_s != NULL ? p->clock_s(p->clock_arg) : 0;
    struct as_config *cur = as_tune_config(p, NULL, err);
    if (cur == NULL || grow(&t, 1) < 0) {
        if (cur != NULL)
            as_err_set(err, "out of memory");
        as_config_unref(cur);
        return -1;
    }
    struct as_tune_eval *e = &t.ev[t.n++];
    memset(e, 0, sizeof(*e));
    for (size_t i = 0; i < p->space->n; i++)
        e->v[i] = p->space->p[i].current;
    int rc = as_sim_run(&cur->groups[0], p->trace, &p->model, &p->sim, &e->res, err);
    as_config_unref(cur);
    if (rc < 0)
        goto out;
    e->ok = 1;
    e->violation = e->res.duration_s > 0 ? e->res.violating_s / e->res.duration_s : 1;
    r->current = r->best = *e;
    r->evals = 1;
    rc = latin_hypercube(&t, sample_size(p));
    if (rc == 0)
        rc = searches(&t);
    if (rc < 0)
        as_err_set(err, "out of memory");
    r->stop = t.stop;
    r->feasible = as_tune_feasible(p, &r->best);
out:
    free(t.ev);
    return rc;
}
