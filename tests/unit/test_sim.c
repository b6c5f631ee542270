/* The simulator (src/sim): the model against the closed form of M/M/c computed here from the
 * formulas (Erlang C from its factorial sum, the mean wait, the response-time percentiles by
 * bisection on the tail), the fluid backlog, the oracle (never violates; no cheaper
 * non-violating schedule exists on a tiny case searched exhaustively), the HPA baseline against
 * a hand-computed sequence, the trace parser and the metric kinds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "sim/sim.h"

/* ---- the closed form, independently ---- */

/* Erlang C from its definition: (a^c/c! * c/(c-a)) / (sum_{k<c} a^k/k! + a^c/c! * c/(c-a)). */
static double erlang_c_ref(int c, double a)
{
    double sum = 0, term = 1; /* a^k / k! */
    for (int k = 0; k < c; k++) {
        sum += term;
        term *= a / (k + 1);
    }
    double top = term * c / (c - a);
    return top / (sum + top);
}

/* P(T > t) of the response time: with probability 1-C only the service Exp(mu); else the
 * wait Exp(theta = c mu - lambda) plus the service, whose sum has the tail
 * (theta e^{-mu t} - mu e^{-theta t}) / (theta - mu). */
static double tail_ref(int c, double mu, double lambda, double t)
{
    double C = erlang_c_ref(c, lambda / mu), th = c * mu - lambda;
    return (1 - C) * exp(-mu * t) + C * (th * exp(-mu * t) - mu * exp(-th * t)) / (th - mu);
}

static double quantile_ref(int c, double mu, double lambda, double p)
{
    double lo = 0, hi = 1000;
    for (int i = 0; i < 200; i++) {
        double mid = (lo + hi) / 2;
        if (tail_ref(c, mu, lambda, mid) > 1 - p)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2;
}

static void near(double got, double want, double rel)
{
    if (fabs(got - want) > rel * fabs(want)) {
        fprintf(stderr, "got %.10g, want %.10g (within %g)\n", got, want, rel);
        fail();
    }
}

static void test_mmc_closed_form(void **unused)
{
    (void)unused;
    /* c = replicas * concurrency servers of mu = capacity / concurrency each */
    static const struct {
        int replicas, conc;
        double capacity, lambda;
    } cases[] = {{1, 1, 10, 5},     {1, 1, 10, 9},      {3, 4, 40, 100}, {5, 2, 20, 95},
                 {2, 10, 100, 150}, {20, 8, 100, 1900}, {7, 1, 3, 1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct as_sim_model m = {.capacity = cases[i].capacity,
                                 .concurrency = cases[i].conc,
                                 .slo_pct = 95,
                                 .slo_ms = 1000};
        int c = cases[i].replicas * cases[i].conc;
        double mu = m.capacity / m.concurrency, lambda = cases[i].lambda, a = lambda / mu;
        double C = erlang_c_ref(c, a), wq = C / (c * mu - lambda);
        struct as_sim_point p;
        double backlog = 0;
        as_sim_model_step(&m, cases[i].replicas, lambda, 1, &backlog, 1, &p);
        assert_true(backlog == 0);
        near(p.lat_mean, 1000 * (wq + 1 / mu), 0.01);
        near(p.queue, lambda * wq, 0.01);        /* Lq = lambda Wq */
        near(p.inflight, lambda * wq + a, 0.01); /* L = Lq + a */
        near(p.util, lambda / (c * mu), 1e-9);
        near(p.lat_p[0], 1000 * quantile_ref(c, mu, lambda, 0.50), 0.01);
        near(p.lat_p[1], 1000 * quantile_ref(c, mu, lambda, 0.90), 0.01);
        near(p.lat_p[2], 1000 * quantile_ref(c, mu, lambda, 0.95), 0.01);
        near(p.lat_p[3], 1000 * quantile_ref(c, mu, lambda, 0.99), 0.01);
        near(p.lat_slo, p.lat_p[2], 1e-9);
        assert_int_equal(p.violating, p.lat_slo > 1000);
    }
}

/* One replica of 10 requests/s: 20/s for 2 s leaves 20 waiting; then 5/s drains them at 5/s
 * for 4 s. The wait is the backlog's drain time on top of the service. */
static void test_backlog(void **unused)
{
    (void)unused;
    struct as_sim_model m = {.capacity = 10, .concurrency = 1, .slo_pct = 95, .slo_ms = 1000};
    struct as_sim_point p;
    double b = 0;
    as_sim_model_step(&m, 1, 20, 1, &b, 0, &p);
    near(b, 10, 1e-12);
    near(p.throughput, 10, 1e-12);
    near(p.util, 1, 1e-12);
    near(p.lat_mean, 1000 * (5.0 / 10 + 0.1), 1e-9); /* mean backlog 5, drained at 10/s */
    assert_true(p.lat_slo < 1000 && p.violating);    /* overloaded: violating, whatever the wait */
    as_sim_model_step(&m, 1, 20, 1, &b, 0, &p);
    near(b, 20, 1e-12);
    for (int i = 0; i < 4; i++) {
        as_sim_model_step(&m, 1, 5, 1, &b, 0, &p);
        near(b, 20 - 5.0 * (i + 1), 1e-12);
        near(p.throughput, 10, 1e-12);
    }
    as_sim_model_step(&m, 1, 5, 1, &b, 0, &p); /* drained: M/M/1 again */
    assert_true(b == 0);
    near(p.lat_mean, 1000 * (1 / (10.0 - 5)), 1e-9);
    /* arrivals exactly at capacity, nothing carried: nothing piles up, and every number is
     * one (found by fuzz_sim_trace: 0/0 for the drain time) */
    b = 0;
    as_sim_model_step(&m, 1, 10, 1, &b, 1, &p);
    assert_true(b == 0);
    assert_true(isfinite(p.queue) && isfinite(p.inflight) && isfinite(p.lat_slo));
    near(p.lat_mean, 100, 1e-9);
    /* no replica: everything waits, nothing is served, the SLO is violated */
    b = 0;
    as_sim_model_step(&m, 0, 3, 1, &b, 0, &p);
    near(b, 3, 1e-12);
    assert_true(p.violating);
    assert_true(p.throughput == 0);
}

/* Arrivals at or above the serving capacity violate the SLO even when the backlog's wait and
 * the service time stay within it (the service is unstable); a step that drains a backlog
 * keeps the rule of the wait plus the tail. */
static void test_overload_violates(void **unused)
{
    (void)unused;
    struct as_sim_model m = {.capacity = 10, .concurrency = 1, .slo_pct = 95, .slo_ms = 1000};
    struct as_sim_point p;
    double b = 0;
    /* 11/s on 10/s: 1 request left, a mean wait of 50 ms, p95 = 50 + 300 ms */
    as_sim_model_step(&m, 1, 11, 1, &b, 1, &p);
    near(b, 1, 1e-12);
    near(p.lat_slo, 50 - 1000 * log(0.05) / 10, 1e-9);
    assert_true(p.lat_slo < 1000);
    assert_true(p.violating);
    /* exactly at capacity, nothing carried: nothing piles up, still no steady state */
    b = 0;
    as_sim_model_step(&m, 1, 10, 1, &b, 1, &p);
    assert_true(b == 0 && p.lat_slo < 1000 && p.violating);
    /* draining 1 request at 10 - 5 = 5/s: a 10 ms wait on M/M/1's tail, within the SLO */
    b = 1;
    as_sim_model_step(&m, 1, 5, 1, &b, 1, &p);
    assert_true(b == 0 && !p.violating);
    /* the oracle's proof: a step that does not violate has at least as_sim_need serving */
    static const double loads[] = {0, 3, 9.9, 10, 11, 19, 25, 40};
    static const double backlogs[] = {0, 0.5, 3, 30};
    for (int n = 0; n <= 4; n++)
        for (size_t i = 0; i < sizeof(loads) / sizeof(loads[0]); i++)
            for (size_t j = 0; j < sizeof(backlogs) / sizeof(backlogs[0]); j++) {
                b = backlogs[j];
                as_sim_model_step(&m, n, loads[i], 1, &b, 0, &p);
                if (!p.violating && as_sim_need(&m, loads[i], 100) > n) {
                    fprintf(stderr, "n %d, load %g, backlog %g: not violating\n", n, loads[i],
                            backlogs[j]);
                    fail();
                }
            }
}

/* A load no count can carry: the search stops at AS_SIM_REPLICAS_MAX, and the servers
 * (replicas x concurrency) never overflow an int on the way (UBSan) nor loop for long. */
static void test_need_unservable(void **unused)
{
    (void)unused;
    struct as_sim_model m = {
        .capacity = 1e6, .concurrency = AS_SIM_CONCURRENCY_MAX, .slo_pct = 95, .slo_ms = 60000};
    struct as_err err;
    assert_int_equal(as_sim_model_check(&m, &err), 0);
    assert_int_equal(as_sim_need(&m, 1e15, 2000000000), AS_SIM_REPLICAS_MAX + 1);
    assert_int_equal(as_sim_need(&m, 5e11, 2000000000), 500001);
    m.concurrency = AS_SIM_CONCURRENCY_MAX + 1;
    assert_int_equal(as_sim_model_check(&m, &err), -1);
}

/* ---- the oracle ---- */

static struct as_sim_model tiny = {
    .capacity = 10, .concurrency = 1, .startup_ms = 2000, .slo_pct = 95, .slo_ms = 2000};

static void trace_of(struct as_sim_trace *tr, const double *rps, size_t n)
{
    tr->t = calloc(n, sizeof(double));
    tr->rps = calloc(n, sizeof(double));
    assert_non_null(tr->t);
    assert_non_null(tr->rps);
    for (size_t i = 0; i < n; i++) {
        tr->t[i] = (double)i;
        tr->rps[i] = rps[i];
    }
    tr->n = n;
    tr->step_s = 1;
}

/* The cheapest schedule by exhaustive search: every sequence E of existing counts in
 * [0, K]^n; with the youngest removed first (the best any schedule can do) the replicas
 * serving at step j are min E over [j - S, j] (those at 0 started warm), which must cover the
 * need. */
static double brute_force(const int *need, int n, int S, int K)
{
    int e[16];
    double best = INFINITY;
    long total = 1;
    for (int i = 0; i < n; i++)
        total *= K + 1;
    for (long code = 0; code < total; code++) {
        long x = code;
        double cost = 0;
        for (int i = 0; i < n; i++, x /= K + 1) {
            e[i] = (int)(x % (K + 1));
            cost += e[i];
        }
        int ok = 1;
        for (int j = 0; j < n && ok; j++) {
            int serving = e[j];
            for (int i = j - S < 0 ? 0 : j - S; i <= j; i++)
                serving = e[i] < serving ? e[i] : serving;
            ok = serving >= need[j];
        }
        if (ok && cost < best)
            best = cost;
    }
    return best;
}

static void test_oracle_is_cheapest(void **unused)
{
    (void)unused;
    static const int patterns[][7] = {{1, 3, 0, 2, 0, 0, 1},
                                      {0, 0, 0, 3, 0, 0, 0},
                                      {2, 0, 0, 0, 2, 1, 3},
                                      {3, 1, 1, 1, 1, 3, 0},
                                      {0, 2, 2, 0, 2, 2, 0}};
    double level[4] = {0};
    for (int k = 1; k <= 3; k++)
        level[k] = as_sim_max_load(&tiny, k) * 0.999; /* a load that needs exactly k */
    for (int S = 0; S <= 3; S++) {
        struct as_sim_model m = tiny;
        m.startup_ms = S * 1000;
        for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
            double rps[7];
            for (int i = 0; i < 7; i++) {
                rps[i] = level[patterns[p][i]];
                assert_int_equal(as_sim_need(&m, rps[i], 100), patterns[p][i]);
            }
            struct as_sim_trace tr;
            trace_of(&tr, rps, 7);
            struct as_sim_opts o = {.step_ms = 1000, .initial = -1};
            struct as_sim_result res;
            struct as_err err;
            assert_int_equal(as_sim_oracle(&tr, &m, &o, 0, &res, &err), 0);
            assert_true(res.violating_s == 0);
            near(res.cost_rs, brute_force(patterns[p], 7, S, 4), 1e-12);
            as_sim_trace_free(&tr);
        }
    }
}

/* On a real trace the oracle never violates, and a policy that never violates costs more. */
static void test_oracle_never_violates(void **unused)
{
    (void)unused;
    struct as_sim_trace tr;
    struct as_err err;
    char path[512];
    /* the repository's traces/, from this file's own path */
    snprintf(path, sizeof(path), "%s", __FILE__);
    assert_non_null(strstr(path, "tests/unit/test_sim.c"));
    strcpy(strstr(path, "tests/unit/test_sim.c"),
           "traces/azure_functions_2019_500fn_aggregate_1min.csv");
    assert_int_equal(as_sim_trace_load(path, &tr, &err), 0);
    struct as_sim_model m = {
        .capacity = 50, .concurrency = 4, .startup_ms = 45000, .slo_pct = 99, .slo_ms = 500};
    /* an SLO the service time alone misses (its p99 is 368 ms) is refused */
    struct as_sim_model bad = m;
    bad.slo_ms = 150;
    assert_int_equal(as_sim_model_check(&bad, &err), -1);
    struct as_sim_opts o = {.step_ms = 1000, .initial = -1, .scale = 3};
    struct as_sim_result res;
    assert_int_equal(as_sim_oracle(&tr, &m, &o, 1, &res, &err), 0);
    if (res.violating_s != 0)
        fprintf(stderr, "violating %g s, slo max %g ms\n", res.violating_s, res.slo_lat_max_ms);
    assert_true(res.violating_s == 0);
    assert_true(res.cost_rs > 0);
    as_sim_trace_free(&tr);
}

/* ---- the HPA baseline, by hand ---- */

static int hpa_counts[64];
static int nhpa;

static void record(const struct as_sim_step *s, void *arg)
{
    (void)arg;
    if (s->decided && nhpa < 64)
        hpa_counts[nhpa++] = s->desired;
}

/* 100 requests/s per replica, concurrency 1, startup 0, 2 replicas at t = 0, utilization
 * target 0.5, 150 requests/s until t = 60 s and 450 after. A decision every 15 s on the mean
 * utilization of the 15 s before it:
 *   t=15  150/200 = 0.75, ratio 1.5: ceil(1.5*2) = 3 (up limit max(2+4, 2*2) = 6)
 *   t=30..60  150/300 = 0.5: ratio 1, within 0.1: keep 3
 *   t=75  450 > 300: overloaded, utilization 1 (2250 requests pile up), ratio 2: ceil(2*3) = 6
 *         (limit max(3+4, 6) = 7)
 *   t=90  the 2250 drain at 600-450 = 150/s for all 15 s: utilization 1, ratio 2: 12
 *         (limit max(6+4, 12) = 12)
 *   t=105..375  450/1200 = 0.375, ratio 0.75: ceil(0.75*12) = 9, but the 300 s scale-down
 *         window still holds t=90's 12: keep 12
 *   t=390  t=90's recommendation is out of the window (it holds t > 90): 9 (down limit 100 %)
 *   t=405  450/900 = 0.5: keep 9 */
static void test_hpa_by_hand(void **unused)
{
    (void)unused;
    struct as_sim_model m = {
        .capacity = 100, .concurrency = 1, .startup_ms = 0, .slo_pct = 95, .slo_ms = 1000};
    enum as_sim_kind kinds[1];
    struct as_err err;
    struct as_config *cfg = as_sim_baseline("hpa", &m, 0.5, 1, 20, kinds, &err);
    assert_non_null(cfg);
    assert_int_equal(kinds[0], AS_SIM_UTILIZATION);
    double rps[2] = {150, 450};
    struct as_sim_trace tr;
    trace_of(&tr, rps, 2);
    tr.t[1] = 60;
    tr.step_s = 360; /* the last row holds to t = 420 */
    struct as_sim_opts o = {
        .step_ms = 1000, .initial = 2, .to_s = 420, .kinds = kinds, .on_step = record};
    struct as_sim_result res;
    nhpa = 0;
    assert_int_equal(as_sim_run(&cfg->groups[0], &tr, &m, &o, &res, &err), 0);
    int want[28] = {3, 3, 3, 3, 6, 12};
    for (int i = 6; i < 25; i++)
        want[i] = 12;
    want[25] = want[26] = 9;
    assert_int_equal(nhpa, 28);
    for (int i = 0; i < 27; i++) {
        if (hpa_counts[i] != want[i])
            fprintf(stderr, "decision %d (t=%d): %d, want %d\n", i, 15 * (i + 1), hpa_counts[i],
                    want[i]);
        assert_int_equal(hpa_counts[i], want[i]);
    }
    assert_int_equal(res.scale_events, 4);
    as_sim_trace_free(&tr);
    as_config_unref(cfg);
}

/* ---- the trace parser, the kinds ---- */

static void test_trace_parse(void **unused)
{
    (void)unused;
    struct as_sim_trace tr;
    struct as_err err;
    const char ok[] = "t_seconds,requests_per_second\n0,1.5\r\n\n# note\n60, 2\n120,0\n";
    assert_int_equal(as_sim_trace_parse(ok, strlen(ok), "x.csv", &tr, &err), 0);
    assert_int_equal(tr.n, 3);
    near(tr.rps[1], 2, 0);
    near(tr.step_s, 60, 0);
    as_sim_trace_free(&tr);
    static const struct {
        const char *text;
        int line;
    } bad[] = {{"t,r\n0,1\n0,2\n", 3}, {"t,r\n0,1\n1,-2\n", 3}, {"t,r\n0,1\n1,x\n", 3},
               {"t,r\n", 1},           {"t,r\n0,1,2\n", 2},     {"t,r\n0,nan\n", 2},
               {"t,r\n5,1\n2,1\n", 3}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(as_sim_trace_parse(bad[i].text, strlen(bad[i].text), "x.csv", &tr, &err),
                         -1);
        assert_int_equal(err.line, bad[i].line);
        assert_string_equal(err.file, "x.csv");
    }
}

static void test_kinds(void **unused)
{
    (void)unused;
    const char *text =
        "groups:\n"
        "  g:\n"
        "    max: 5\n"
        "    metrics:\n"
        "      - {name: c, type: cpu, target: 0.5}\n"
        "      - {name: lat, type: http_latency, url: 'http://127.0.0.1:1/', "
        "stat: p90, target: 100}\n"
        "      - {name: q, type: redis, url: 'redis://127.0.0.1:1', target: 10, key: k}\n"
        "      - {name: x, type: cpu, target: 1, model: rps}\n"
        "      - {name: mystery, type: exec, command: [\"true\"], target: 1}\n"
        "    scaler: {type: exec, command: [\"true\"]}\n";
    struct as_err err;
    struct as_config *cfg = as_config_parse("k.yaml", text, &err);
    if (cfg == NULL)
        fprintf(stderr, "%s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
    assert_non_null(cfg);
    enum as_sim_kind k[5];
    assert_int_equal(as_sim_kinds(&cfg->groups[0], NULL, k, &err), -1);
    assert_non_null(strstr(err.msg, "'mystery'"));
    assert_non_null(strstr(err.msg, "concurrency_per_replica"));
    const char *ov[] = {"mystery=queue", "c=latency_p99", NULL};
    assert_int_equal(as_sim_kinds(&cfg->groups[0], ov, k, &err), 0);
    assert_int_equal(k[0], AS_SIM_LATENCY_P99);
    assert_int_equal(k[1], AS_SIM_LATENCY_P90);
    assert_int_equal(k[2], AS_SIM_QUEUE);
    assert_int_equal(k[3], AS_SIM_RPS);
    assert_int_equal(k[4], AS_SIM_QUEUE);
    const char *bad[] = {"nope=queue", NULL};
    assert_int_equal(as_sim_kinds(&cfg->groups[0], bad, k, &err), -1);
    const char *badkind[] = {"c=queu", NULL};
    assert_int_equal(as_sim_kinds(&cfg->groups[0], badkind, k, &err), -1);
    as_config_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mmc_closed_form),       cmocka_unit_test(test_backlog),
        cmocka_unit_test(test_need_unservable),       cmocka_unit_test(test_oracle_is_cheapest),
        cmocka_unit_test(test_oracle_never_violates), cmocka_unit_test(test_hpa_by_hand),
        cmocka_unit_test(test_trace_parse),           cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_overload_violates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
