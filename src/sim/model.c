/* The service model of the simulator: M/M/c while the replicas keep up, a fluid backlog when
 * they do not (docs/simulation.md, "The model"). Pure functions of their arguments. */
#include <math.h>
#include <string.h>

#include "sim/sim.h"
#include "sim/sim_int.h"

#define NEED_LIMIT AS_SIM_REPLICAS_MAX /* replicas: beyond this a load is unservable */

int as_sim_model_check(const struct as_sim_model *m, struct as_err *err)
{
    if (!(m->capacity > 0) || !isfinite(m->capacity))
        return as_err_set(err, "the model needs a capacity per replica > 0 (requests/s): "
                               "model.capacity or --capacity");
    if (m->concurrency < 1 || m->concurrency > AS_SIM_CONCURRENCY_MAX)
        return as_err_set(err, "the model's concurrency must be from 1 to %d",
                          AS_SIM_CONCURRENCY_MAX);
    if (!(m->slo_pct > 0 && m->slo_pct < 100))
        return as_err_set(err, "the SLO's percentile must be between 0 and 100");
    if (!(m->slo_ms > 0) || !isfinite(m->slo_ms))
        return as_err_set(err, "the SLO's latency must be > 0");
    if (m->startup_ms < 0)
        return as_err_set(err, "the startup delay must be >= 0");
    double floor_ms = -1000 * log(1 - m->slo_pct / 100) * m->concurrency / m->capacity;
    if (floor_ms >= m->slo_ms)
        return as_err_set(err,
                          "the SLO p%g <= %g ms cannot be met: the service time alone (mean %g "
                          "ms = concurrency / capacity) has a p%g of %.4g ms",
                          m->slo_pct, m->slo_ms, 1000.0 * m->concurrency / m->capacity, m->slo_pct,
                          floor_ms);
    return 0;
}

/* Erlang C: the probability that an arrival waits, c servers, offered load a = lambda/mu < c.
 * 1/B(c, a) = sum_{j=0..c} c!/((c-j)! a^j): its terms grow while c - j > a and then fall
 * faster than geometrically, so the sum stops once they no longer count (a few sqrt(a) past
 * the peak) instead of running over every server. Terms past 1e250 mean B below 1e-250:
 * nobody waits. */
static double erlang_c(int c, double a)
{
    if (a <= 0)
        return 0;
    double sum = 1, term = 1, ia = 1 / a;
    for (int j = 0; j < c; j++) {
        term *= (c - j) * ia;
        sum += term;
        if (term > 1e250)
            return 0;
        if (c - j < a && term < 1e-17 * sum)
            break;
    }
    double b = 1 / sum;
    return c * b / (c - a * (1 - b));
}

/* M/M/c: a request's response time T = Wq + S, Wq 0 with probability 1 - C and else
 * Exp(theta = c mu - lambda), S ~ Exp(mu). */
struct mmc {
    double mu, theta, C;
};

/* P(T > t) and the density of T at t, seconds. */
static double tail2(const struct mmc *q, double t, double *dens)
{
    double em = exp(-q->mu * t), d = q->theta - q->mu;
    if (fabs(d) < 1e-9 * q->mu) {
        *dens = (1 - q->C) * q->mu * em + q->C * q->mu * q->mu * t * em;
        return (1 - q->C) * em + q->C * (1 + q->mu * t) * em;
    }
    double et = q->C > 0 ? exp(-q->theta * t) : 0;
    *dens = (1 - q->C) * q->mu * em + q->C * q->mu * q->theta * (em - et) / d;
    return (1 - q->C) * em + q->C * (q->theta * em - q->mu * et) / d;
}

static double tail(const struct mmc *q, double t)
{
    double dens;
    return tail2(q, t, &dens);
}

/* The p-quantile of T (p in (0,1)), seconds. T >= S, so the service's own quantile is below
 * it; Newton steps from there climb to it (the tail is convex past the density's mode), with
 * bisection whenever a step would leave the bracket. */
static double quantile(const struct mmc *q, double p, double hint)
{
    double target = 1 - p, lo = -log(target) / q->mu, hi = INFINITY;
    double t = hint > lo ? hint : lo; /* the last step's answer is usually a step away */
    for (int i = 0; i < 200; i++) {
        double dens, f = tail2(q, t, &dens) - target;
        if (f > 0)
            lo = t;
        else
            hi = t;
        double next = dens > 0 ? t + f / dens : NAN;
        if (!(next > lo && next < hi))
            next = isinf(hi) ? 2 * lo + 1 / q->mu : (lo + hi) / 2;
        if (fabs(next - t) <= 1e-8 * t)
            return next;
        t = next;
    }
    return t;
}

static const double pcts[4] = {0.50, 0.90, 0.95, 0.99};

static double cap_ms(double s)
{
    double ms = s * 1000;
    return ms > AS_SIM_LAT_CAP_MS || !isfinite(ms) ? AS_SIM_LAT_CAP_MS : ms;
}

/* Latencies of M/M/c (lambda < c mu) shifted by `wait` seconds of backlog. theta is taken as
 * serving * capacity - lambda, the very quantity the caller found positive (c * mu may round
 * to less). */
static void stable(const struct as_sim_model *m, int serving, double lambda, double wait, int want,
                   double hint, struct as_sim_point *out)
{
    double mu = m->capacity / m->concurrency;
    int c = serving * m->concurrency;
    double C = erlang_c(c, lambda / mu);
    struct mmc q = {.mu = mu,
                    .theta = (double)serving * m->capacity - lambda,
                    .C = C < 0   ? 0
                         : C > 1 ? 1
                                 : C};
    double wq = q.C / q.theta;
    out->lat_mean = cap_ms(wait + wq + 1 / mu);
    out->lat_slo = cap_ms(wait + quantile(&q, m->slo_pct / 100, hint / 1000 - wait));
    for (int i = 0; want && i < 4; i++)
        out->lat_p[i] = cap_ms(wait + quantile(&q, pcts[i], 0));
    out->queue += lambda * wq;
    out->inflight += lambda * wq + lambda / mu;
    /* on the tail itself, as as_sim_need decides, not on the solved percentile */
    double left = m->slo_ms / 1000 - wait;
    out->violating = left < 0 || tail(&q, left) > 1 - m->slo_pct / 100;
}

/* Every server busy: the wait is the backlog's, the service time Exp(mu). Arrivals at or above
 * the capacity violate the SLO whatever the wait: the service is unstable (a real queue at
 * utilization >= 1 grows without bound; the fluid wait within one step is an artefact of the
 * step's length), and it is what makes the oracle a lower bound (docs/simulation.md). */
static void saturated(const struct as_sim_model *m, double wait, int want, struct as_sim_point *out)
{
    double mu = m->capacity / m->concurrency;
    out->lat_mean = cap_ms(wait + 1 / mu);
    out->lat_slo = cap_ms(wait - log(1 - m->slo_pct / 100) / mu);
    for (int i = 0; want && i < 4; i++)
        out->lat_p[i] = cap_ms(wait - log(1 - pcts[i]) / mu);
    out->violating = 1;
}

static void unserved(double b0, double b1, struct as_sim_point *out)
{
    int any = b0 > 0 || b1 > 0;
    out->queue = out->inflight = (b0 + b1) / 2;
    double lat = any ? AS_SIM_LAT_CAP_MS : 0;
    out->lat_mean = out->lat_slo = lat;
    for (int i = 0; i < 4; i++)
        out->lat_p[i] = lat;
    out->violating = any;
}

void as_sim_model_step(const struct as_sim_model *m, int serving, double lambda, double dt_s,
                       double *backlog, int pcts_wanted, struct as_sim_point *out)
{
    as_sim_model_step_hint(m, serving, lambda, dt_s, backlog, pcts_wanted, 0, out);
}

void as_sim_model_step_hint(const struct as_sim_model *m, int serving, double lambda, double dt_s,
                            double *backlog, int pcts_wanted, double hint_ms,
                            struct as_sim_point *out)
{
    memset(out, 0, sizeof(*out));
    double b0 = *backlog > 0 ? *backlog : 0, cap = (double)serving * m->capacity;
    lambda = lambda > 0 ? lambda : 0;
    if (serving <= 0) {
        *backlog = b0 + lambda * dt_s;
        unserved(b0, *backlog, out);
        return;
    }
    if (b0 <= 0 && lambda < cap) {
        *backlog = 0;
        out->throughput = lambda;
        out->util = lambda / cap;
        stable(m, serving, lambda, 0, pcts_wanted, hint_ms, out);
    } else {
        /* The fluid backlog: it grows at lambda - cap, or drains at cap - lambda until gone. */
        double b1 = b0 + (lambda - cap) * dt_s, bavg;
        if (b1 > 0) {
            bavg = (b0 + b1) / 2;
        } else if (b0 <= 0) { /* lambda == cap exactly: nothing piles up */
            bavg = b1 = 0;
        } else {
            double drain = b0 / (cap - lambda);
            bavg = b0 * drain / (2 * dt_s);
            b1 = 0;
        }
        *backlog = b1;
        out->throughput = (lambda * dt_s + b0 - b1) / dt_s;
        out->util = out->throughput / cap > 1 ? 1 : out->throughput / cap;
        out->queue = bavg;
        out->inflight = bavg + out->util * serving * m->concurrency;
        if (lambda < cap)
            stable(m, serving, lambda, bavg / cap, pcts_wanted, hint_ms, out);
        else
            saturated(m, bavg / cap, pcts_wanted, out);
    }
}

/* Whether n serving replicas meet the SLO at a steady lambda. */
static int meets(const struct as_sim_model *m, int n, double lambda)
{
    if (lambda <= 0)
        return 1;
    double mu = m->capacity / m->concurrency;
    int c = n * m->concurrency;
    if (n <= 0 || lambda >= c * mu)
        return 0;
    struct mmc q = {.mu = mu, .theta = c * mu - lambda, .C = erlang_c(c, lambda / mu)};
    return tail(&q, m->slo_ms / 1000) <= 1 - m->slo_pct / 100;
}

int as_sim_need(const struct as_sim_model *m, double lambda, int limit)
{
    if (lambda <= 0)
        return 0;
    if (limit > NEED_LIMIT)
        limit = NEED_LIMIT;
    double lo_d = floor(lambda / m->capacity);
    int lo = lo_d > limit ? limit : (int)lo_d; /* lo replicas cannot carry it */
    if (lo >= limit)
        return limit + 1;
    int step = 1, hi = lo + 1;
    while (!meets(m, hi, lambda)) { /* gallop, then bisect (lo fails, hi meets) */
        if (hi >= limit)
            return limit + 1;
        lo = hi;
        hi = limit - hi > step ? hi + step : limit;
        step *= 2;
    }
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (meets(m, mid, lambda))
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

double as_sim_max_load(const struct as_sim_model *m, int n)
{
    double lo = 0, hi = n * m->capacity;
    if (n <= 0)
        return 0;
    for (int i = 0; i < 100 && hi - lo > 1e-12 * hi; i++) {
        double mid = (lo + hi) / 2;
        if (meets(m, n, mid))
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}
