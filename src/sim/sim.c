/* as_sim_run: a group's decision code driving the model over a trace (docs/simulation.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/decide.h"
#include "sim/sim.h"
#include "sim/sim_int.h"

#define REPLICAS_MAX 1000000 /* replicas a simulation may hold */

/* ---- the trace as a function of time ---- */

void as_sim_clock_init(struct as_sim_clock *c, const struct as_sim_trace *tr,
                       const struct as_sim_opts *o)
{
    memset(c, 0, sizeof(*c));
    c->tr = tr;
    c->step_ms = o->step_ms > 0 ? o->step_ms : 1000;
    c->warp = o->warp > 0 ? o->warp : 1;
    c->scale = o->scale > 0 ? o->scale : 1;
    double first = tr->t[0], last = tr->t[tr->n - 1] + tr->step_s;
    c->from = o->from_s > first ? o->from_s : first;
    c->to = o->to_s > c->from && o->to_s < last ? o->to_s : last;
    double dur = (c->to - c->from) / c->warp; /* simulated seconds */
    c->steps = c->to > c->from ? (int64_t)ceil(dur * 1000 / (double)c->step_ms - 1e-9) : 0;
    c->x = c->from;
}

/* The integral of the rate from the trace's start to x (x moves forward only), with the
 * cursor k at the row that holds x. Before the first row its rate holds, after the last the
 * last's. */
static double integral(struct as_sim_clock *c, double x)
{
    const struct as_sim_trace *tr = c->tr;
    while (c->k + 1 < tr->n && tr->t[c->k + 1] <= x) {
        c->cum += tr->rps[c->k] * (tr->t[c->k + 1] - tr->t[c->k]);
        c->k++;
    }
    return c->cum + tr->rps[c->k] * (x - tr->t[c->k]);
}

double as_sim_clock_next(struct as_sim_clock *c)
{
    double a = c->x, b = c->x + c->warp * (double)c->step_ms / 1000;
    if (b > c->to)
        b = c->to;
    if (c->i == 0)
        c->fa = integral(c, a);
    double fb = integral(c, b);
    double rate = b > a ? (fb - c->fa) / (b - a) : c->tr->rps[c->k];
    if (!(rate >= 0)) /* rounding of a huge integral */
        rate = 0;
    c->fa = fb;
    c->x = b;
    c->i++;
    return rate * c->scale;
}

double as_sim_trace_peak(const struct as_sim_trace *tr, const struct as_sim_opts *o)
{
    struct as_sim_clock c;
    as_sim_clock_init(&c, tr, o);
    double peak = 0;
    for (int64_t i = 0; i < c.steps; i++) {
        double v = as_sim_clock_next(&c) / c.scale;
        if (v > peak)
            peak = v;
    }
    return peak;
}

/* ---- the replicas ---- */

struct rep {
    int64_t start_ms; /* created */
    int64_t busy_ms;  /* last time it held a request (idle times of `queue`) */
};

struct run {
    const struct as_group_cfg *g;
    const struct as_sim_model *m;
    const struct as_sim_opts *o;
    struct as_group_state st;
    struct rep *reps; /* oldest first */
    size_t n, serving, cap;
    struct as_metric_obs *mobs;
    struct as_replica_obs **per; /* per metric, cap entries (per-replica kinds only) */
    struct as_replica_obs *workers;
    int pcts; /* a metric reads a percentile */
    int desired;
    /* the interval's accumulators, reset at each decision */
    double acc[AS_SIM_NKINDS];
    double acc_n;
    struct as_sim_point last;
};

static int per_replica(enum as_sim_kind k)
{
    return k == AS_SIM_UTILIZATION || k == AS_SIM_RPS_PER_REPLICA ||
           k == AS_SIM_CONCURRENCY_PER_REPLICA;
}

static int reserve(struct run *r, size_t want, struct as_err *err)
{
    if (want <= r->cap)
        return 0;
    if (want > REPLICAS_MAX)
        return as_err_set(err, "more than %d replicas in a simulation", REPLICAS_MAX);
    size_t n = r->cap ? r->cap : 16;
    while (n < want)
        n *= 2;
    struct rep *reps = realloc(r->reps, n * sizeof(*reps));
    if (reps == NULL)
        return as_err_set(err, "out of memory");
    r->reps = reps;
    struct as_replica_obs *w = realloc(r->workers, n * sizeof(*w));
    if (w == NULL)
        return as_err_set(err, "out of memory");
    r->workers = w;
    for (size_t i = 0; i < r->g->nmetrics; i++) {
        if (!per_replica(r->o->kinds[i]))
            continue;
        struct as_replica_obs *p = realloc(r->per[i], n * sizeof(*p));
        if (p == NULL)
            return as_err_set(err, "out of memory");
        r->per[i] = p;
    }
    r->cap = n;
    return 0;
}

/* Sets the count at now: new replicas start now, the youngest go first. */
static int set_count(struct run *r, int want, int64_t now, struct as_err *err)
{
    if (want < 0)
        want = 0;
    if (reserve(r, (size_t)want, err) < 0)
        return -1;
    while (r->n < (size_t)want) {
        r->reps[r->n] = (struct rep){.start_ms = now, .busy_ms = now + r->m->startup_ms};
        r->n++;
    }
    r->n = (size_t)want;
    if (r->serving > r->n)
        r->serving = r->n;
    return 0;
}

static void advance_serving(struct run *r, int64_t now)
{
    while (r->serving < r->n && r->reps[r->serving].start_ms + r->m->startup_ms <= now)
        r->serving++;
}

/* ---- observations ---- */

static void accumulate(struct run *r, double load, const struct as_sim_point *p)
{
    double s = r->serving > 0 ? (double)r->serving : 1;
    r->acc[AS_SIM_UTILIZATION] += r->serving > 0 ? p->util : (load > 0);
    r->acc[AS_SIM_LATENCY_MEAN] += p->lat_mean;
    for (int i = 0; r->pcts && i < 4; i++)
        r->acc[AS_SIM_LATENCY_P50 + i] += p->lat_p[i];
    r->acc[AS_SIM_RPS] += load;
    r->acc[AS_SIM_RPS_PER_REPLICA] += load / s;
    r->acc[AS_SIM_CONCURRENCY_PER_REPLICA] += p->inflight / s;
    r->acc_n++;
    r->last = *p;
}

/* A metric's value: the interval's mean; queue and concurrency (gauges) as they are now. */
static double value_of(const struct run *r, enum as_sim_kind k)
{
    if (k == AS_SIM_QUEUE)
        return r->last.queue;
    if (k == AS_SIM_CONCURRENCY)
        return r->last.inflight;
    return r->acc_n > 0 ? r->acc[k] / r->acc_n : 0;
}

static void fill_per_replica(struct run *r, size_t i, double v, int64_t now)
{
    struct as_replica_obs *p = r->per[i];
    for (size_t j = 0; j < r->n; j++) {
        int ready = j < r->serving;
        p[j] = (struct as_replica_obs){.ok = 1,
                                       .value = ready ? v : 0,
                                       .ready = ready,
                                       .age_ms = now - r->reps[j].start_ms,
                                       .idle_ms = -1};
    }
    r->mobs[i].nreplicas = r->n;
    r->mobs[i].replicas = p;
}

/* The workers as a process pool reports them: the interval's requests in flight fill the oldest
 * serving replicas, `concurrency` each; a replica holding none is idle since it last held one. */
static void fill_workers(struct run *r, int64_t now)
{
    double inflight = value_of(r, AS_SIM_CONCURRENCY_PER_REPLICA) * (double)r->serving;
    size_t busy = (size_t)ceil(inflight / r->m->concurrency - 1e-9);
    for (size_t j = 0; j < r->n; j++) {
        int ready = j < r->serving;
        if (ready && j < busy)
            r->reps[j].busy_ms = now;
        int64_t idle = now - r->reps[j].busy_ms;
        r->workers[j] = (struct as_replica_obs){.ok = 1,
                                                .ready = ready,
                                                .pending = !ready,
                                                .age_ms = now - r->reps[j].start_ms,
                                                .idle_ms = ready && idle > 0 ? idle : 0};
    }
}

static void observe(struct run *r, int64_t now)
{
    for (size_t i = 0; i < r->g->nmetrics; i++) {
        enum as_sim_kind k = r->o->kinds[i];
        double v = value_of(r, k);
        r->mobs[i] = (struct as_metric_obs){.ok = isfinite(v) && v >= 0, .value = v};
        if (per_replica(k))
            fill_per_replica(r, i, v, now);
    }
    fill_workers(r, now);
    memset(r->acc, 0, sizeof(r->acc));
    r->acc_n = 0;
}

/* One decision at now; the scale lands at once. */
static int decide(struct run *r, int64_t now, struct as_sim_result *res, struct as_err *err)
{
    observe(r, now);
    struct as_obs obs = {.now_ms = r->o->start_ms + now,
                         .current = (int)r->n,
                         .n = r->g->nmetrics,
                         .m = r->mobs,
                         .nworkers = r->n,
                         .workers = r->workers};
    struct as_decision d;
    as_decide(r->g, &r->st, &obs, &d);
    as_decide_scaled(r->g, &r->st, obs.now_ms, obs.current, d.desired);
    r->desired = d.desired;
    if (d.desired != obs.current)
        res->scale_events++;
    return set_count(r, d.desired, now, err);
}

/* ---- the run ---- */

static void tally(struct as_sim_result *res, const struct as_sim_point *p, double dt, double load,
                  size_t n)
{
    res->cost_rs += (double)n * dt;
    res->violating_s += p->violating ? dt : 0;
    res->lat_mean_ms += p->lat_mean * dt;
    res->slo_lat_mean_ms += p->lat_slo * dt;
    if (p->lat_mean > res->lat_max_ms)
        res->lat_max_ms = p->lat_mean;
    if (p->lat_slo > res->slo_lat_max_ms)
        res->slo_lat_max_ms = p->lat_slo;
    res->offered += load * dt;
    res->served += p->throughput * dt;
    if ((int)n > res->max_replicas)
        res->max_replicas = (int)n;
    res->steps++;
}

void as_sim_result_finish(struct as_sim_result *res, double duration_s)
{
    res->duration_s = duration_s;
    if (duration_s > 0) {
        res->lat_mean_ms /= duration_s;
        res->slo_lat_mean_ms /= duration_s;
    }
}

/* The model step, reusing the last one when nothing changed (a held trace row). */
void as_sim_cached_step(struct as_sim_cache *c, const struct as_sim_model *m, int serving,
                        double load, double dt, double *backlog, int pcts, struct as_sim_point *out)
{
    if (c->valid && *backlog <= 0 && c->serving == serving && c->load == load && c->dt == dt &&
        c->pcts >= pcts) {
        *out = c->pt;
        return;
    }
    int was_clear = *backlog <= 0;
    as_sim_model_step_hint(m, serving, load, dt, backlog, pcts, c->pt.lat_slo, out);
    c->valid = was_clear && *backlog <= 0;
    c->serving = serving;
    c->load = load;
    c->dt = dt;
    c->pcts = pcts;
    c->pt = *out;
}

static int initial_count(const struct as_group_cfg *g, const struct as_sim_model *m,
                         const struct as_sim_opts *o, const struct as_sim_trace *tr)
{
    if (o->initial >= 0)
        return o->initial;
    struct as_sim_clock c;
    as_sim_clock_init(&c, tr, o);
    int n = as_sim_need(m, c.steps > 0 ? as_sim_clock_next(&c) : 0, g->max);
    return n < g->min ? g->min : n > g->max ? g->max : n;
}

static int loop(struct run *r, const struct as_sim_trace *tr, struct as_sim_result *res,
                struct as_err *err)
{
    struct as_sim_clock c;
    as_sim_clock_init(&c, tr, r->o);
    double dt = (double)c.step_ms / 1000, backlog = 0;
    int64_t interval = r->g->interval_ms > 0 ? r->g->interval_ms : 15000, next = interval;
    struct as_sim_cache cache = {0};
    struct as_sim_point pt;
    for (int64_t i = 0; i < c.steps; i++) {
        int64_t now = i * c.step_ms;
        advance_serving(r, now);
        double load = as_sim_clock_next(&c);
        size_t n = r->n;
        as_sim_cached_step(&cache, r->m, (int)r->serving, load, dt, &backlog,
                           r->pcts || r->o->percentiles, &pt);
        accumulate(r, load, &pt);
        tally(res, &pt, dt, load, n);
        int decided = 0;
        if (now + c.step_ms >= next) {
            if (decide(r, now + c.step_ms, res, err) < 0)
                return -1;
            next += interval;
            decided = 1;
        }
        if (r->o->on_step != NULL) {
            struct as_sim_step s = {.t_s = (double)now / 1000,
                                    .load = load,
                                    .replicas = (int)n,
                                    .serving = (int)r->serving,
                                    .desired = r->desired,
                                    .decided = decided,
                                    .pt = &pt};
            r->o->on_step(&s, r->o->arg);
        }
    }
    as_sim_result_finish(res, (double)c.steps * dt);
    return 0;
}

static void run_free(struct run *r)
{
    for (size_t i = 0; r->per != NULL && i < r->g->nmetrics; i++)
        free(r->per[i]);
    free(r->per);
    free(r->mobs);
    free(r->reps);
    free(r->workers);
    as_group_state_free(&r->st);
}

int as_sim_run(const struct as_group_cfg *g, const struct as_sim_trace *tr,
               const struct as_sim_model *m, const struct as_sim_opts *o, struct as_sim_result *res,
               struct as_err *err)
{
    memset(res, 0, sizeof(*res));
    if (as_sim_model_check(m, err) < 0)
        return -1;
    if (tr->n == 0 || o->kinds == NULL)
        return as_err_set(err, "no trace or no metric kinds");
    struct run r = {.g = g, .m = m, .o = o};
    int rc = -1;
    size_t nm = g->nmetrics ? g->nmetrics : 1;
    r.mobs = calloc(nm, sizeof(*r.mobs));
    r.per = calloc(nm, sizeof(*r.per));
    if (r.mobs == NULL || r.per == NULL) {
        as_err_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < g->nmetrics; i++)
        r.pcts |= o->kinds[i] >= AS_SIM_LATENCY_P50 && o->kinds[i] <= AS_SIM_LATENCY_P99;
    r.desired = initial_count(g, m, o, tr);
    if (set_count(&r, r.desired, -m->startup_ms, err) < 0)
        goto out;
    r.st.count_known = 1;
    r.st.count = r.desired;
    rc = loop(&r, tr, res, err);
out:
    run_free(&r);
    return rc;
}
