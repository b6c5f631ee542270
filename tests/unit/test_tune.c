/* The search of `autoscaler tune` (src/sim/tune.c): the optimum of a case computed by hand,
 * the same result for the same seed whatever the threads, the budget, a space where nothing
 * meets the SLO; the parameter space (defaults, --param, errors); the YAML a candidate is
 * written as. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "sim/tune.h"

/* The case computed by hand. One replica serves 100 requests/s (concurrency 1: 10 ms a
 * request), no startup, SLO p95 <= 1 s; the load is a constant 250 requests/s for 600 s.
 *   2 replicas: 250 > 200, overloaded: the SLO is violated all the time.
 *   3 replicas: M/M/3 at utilization 250/300 = 0.833, p95 far below 1 s: the fewest that meet
 *     it, so the oracle runs 3 and costs 3 x 600 = 1800 replica-seconds.
 * The group tracks utilization at target t with tolerance 0.1 and starts with the oracle's 3:
 *   the ratio 0.833 / t is within [0.9, 1.1] for t in [0.758, 0.926]: it keeps 3;
 *   for t above 0.926 the ratio is below 0.9 but ceil(3 x 0.833 / t) = ceil(2.5 / t) = 3 for
 *   any t < 1.25: it keeps 3 too;
 *   for t below 0.758, ceil(2.5 / t) >= 4: more replicas, more cost.
 * So the cheapest settings that meet the SLO hold 3 replicas: cost 1800 with target >= 0.76
 * on the grid 0.3, 0.35, ..., 0.95 (and no setting reaches 2, which would violate it). The
 * current target, 0.5, runs ceil(2.5 / 0.5) = 5 after the first decision. */
static const char conf[] = "groups:\n"
                           "  g:\n"
                           "    max: %d\n"
                           "    metrics:\n"
                           "      - {name: c, type: cpu, target: 0.5}\n"
                           "    scaler: {type: exec, command: [\"true\"]}\n";

struct fixture {
    char text[512];
    struct as_doc *doc;
    struct as_config *cfg;
    struct as_sim_trace tr;
    double t[1], rps[1];
    enum as_sim_kind kinds[1];
    struct as_tune_space sp;
    struct as_tune_problem p;
};

static const struct as_node *group_node(const struct as_doc *doc)
{
    long i = as_node_find(doc->root, "groups");
    const struct as_node *groups = doc->root->pairs[i].value;
    return groups->pairs[as_node_find(groups, "g")].value;
}

static void setup_case(struct fixture *f, int max, const char *const *specs)
{
    struct as_err err;
    snprintf(f->text, sizeof(f->text), conf, max);
    f->doc = as_doc_parse("t.yaml", f->text, strlen(f->text), &err);
    f->cfg = as_config_parse("t.yaml", f->text, &err);
    assert_non_null(f->doc);
    assert_non_null(f->cfg);
    f->t[0] = 0;
    f->rps[0] = 250;
    f->tr = (struct as_sim_trace){.t = f->t, .rps = f->rps, .n = 1, .step_s = 600};
    assert_int_equal(as_sim_kinds(&f->cfg->groups[0], NULL, f->kinds, &err), 0);
    assert_int_equal(f->kinds[0], AS_SIM_UTILIZATION);
    assert_int_equal(
        as_tune_space_build(&f->cfg->groups[0], group_node(f->doc), specs, &f->sp, &err), 0);
    f->p = (struct as_tune_problem){
        .file = "t.yaml",
        .group = "g",
        .node = group_node(f->doc),
        .space = &f->sp,
        .trace = &f->tr,
        .model = {.capacity = 100, .concurrency = 1, .slo_pct = 95, .slo_ms = 1000},
        .sim = {.step_ms = 1000, .warp = 1, .scale = 1, .initial = -1, .kinds = f->kinds},
        .max_violation = 0.01,
        .budget = 300,
        .seed = 1,
        .threads = 1,
    };
}

static void teardown_case(struct fixture *f)
{
    as_doc_free(f->doc);
    as_config_unref(f->cfg);
}

static const char *const target_only[] = {"metrics.c.target=0.3:0.95:0.05", NULL};

static void test_known_optimum(void **unused)
{
    (void)unused;
    struct fixture f;
    struct as_tune_result r;
    struct as_err err;
    setup_case(&f, 10, target_only);
    assert_int_equal(as_tune_run(&f.p, &r, &err), 0);
    struct as_sim_result oracle;
    assert_int_equal(as_sim_oracle(&f.tr, &f.p.model, &f.p.sim, 1, &oracle, &err), 0);
    assert_true(oracle.cost_rs > 1800 - 1e-6 && oracle.cost_rs < 1800 + 1e-6);
    assert_true(r.feasible);
    assert_true(r.best.res.cost_rs > 1800 - 1e-6 && r.best.res.cost_rs < 1800 + 1e-6);
    assert_true(r.best.v[0] >= 0.76 - 1e-9);
    assert_true(r.best.violation == 0);
    assert_true(r.current.res.cost_rs > 1800 + 600); /* 5 replicas after the first decision */
    assert_true(r.evals <= 14 + 1);                  /* the grid and the current settings */
    assert_int_equal(r.stop, AS_TUNE_CONVERGED);
    teardown_case(&f);
}

static void test_same_seed_same_result(void **unused)
{
    (void)unused;
    struct fixture f;
    struct as_tune_result a, b, c;
    struct as_err err;
    setup_case(&f, 10, NULL); /* the defaults: target, both stabilizations, interval */
    assert_int_equal(f.sp.n, 4);
    f.p.budget = 60;
    f.p.seed = 7;
    assert_int_equal(as_tune_run(&f.p, &a, &err), 0);
    f.p.threads = 2;
    assert_int_equal(as_tune_run(&f.p, &b, &err), 0);
    f.p.seed = 8;
    assert_int_equal(as_tune_run(&f.p, &c, &err), 0);
    assert_int_equal(a.evals, b.evals);
    assert_memory_equal(a.best.v, b.best.v, sizeof(a.best.v));
    assert_memory_equal(&a.best.res, &b.best.res, sizeof(a.best.res));
    assert_true(a.feasible && c.feasible);
    teardown_case(&f);
}

static void test_budget(void **unused)
{
    (void)unused;
    struct fixture f;
    struct as_tune_result r;
    struct as_err err;
    setup_case(&f, 10, NULL);
    for (int budget = 1; budget <= 9; budget += 4) {
        f.p.budget = budget;
        assert_int_equal(as_tune_run(&f.p, &r, &err), 0);
        assert_int_equal(r.evals, budget);
        assert_int_equal(r.stop, AS_TUNE_BUDGET);
    }
    teardown_case(&f);
}

/* max 2: every setting is overloaded (250 requests/s, 200 served), none meets the SLO. */
static void test_infeasible(void **unused)
{
    (void)unused;
    struct fixture f;
    struct as_tune_result r;
    struct as_err err;
    setup_case(&f, 2, target_only);
    assert_int_equal(as_tune_run(&f.p, &r, &err), 0);
    assert_false(r.feasible);
    assert_true(r.best.ok);
    assert_true(r.best.violation > 0.5);
    assert_false(as_tune_feasible(&f.p, &r.best));
    teardown_case(&f);
}

static void test_space_errors(void **unused)
{
    (void)unused;
    struct fixture f;
    struct as_err err;
    setup_case(&f, 10, target_only);
    const struct as_group_cfg *g = &f.cfg->groups[0];
    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"nope=1:2", "not a key that can be tuned"},
        {"metrics.x.target=0.1:0.5", "no metric 'x'"},
        {"metrics.c.average_value=1:2", "no average_value"},
        {"interval=10ms:1m", "accepts 0.1 to 86400 s"},
        {"interval=1m:10s", "LO <= HI"},
        {"min=1", "KEY=LO:HI"},
        {"policy.stable_window=6s:1m", "policy target has no key"},
        {"timezone=1:2", "not a number"},
        {"behavior.scale_up.select=1:2", "only scale_up.stabilization"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *specs[] = {bad[i].spec, NULL};
        assert_int_equal(as_tune_space_build(g, group_node(f.doc), specs, &f.sp, &err), -1);
        if (strstr(err.msg, bad[i].msg) == NULL)
            fprintf(stderr, "%s: %s\n", bad[i].spec, err.msg);
        assert_non_null(strstr(err.msg, bad[i].msg));
    }
    /* min written as a schedule is not a number: refused, and left out of the defaults */
    const char sched[] = "groups:\n  g:\n    max: 10\n    min: {\"00:00\": 1, \"08:00\": 3}\n"
                         "    metrics:\n      - {name: c, type: cpu, target: 0.5}\n"
                         "    scaler: {type: exec, command: [\"true\"]}\n";
    struct as_doc *sdoc = as_doc_parse("s.yaml", sched, strlen(sched), &err);
    struct as_config *scfg = as_config_parse("s.yaml", sched, &err);
    assert_non_null(sdoc);
    assert_non_null(scfg);
    const char *min_spec[] = {"min=1:4", NULL};
    assert_int_equal(as_tune_space_build(&scfg->groups[0], group_node(sdoc), min_spec, &f.sp, &err),
                     -1);
    assert_non_null(strstr(err.msg, "'min' is written as a mapping"));
    as_doc_free(sdoc);
    as_config_unref(scfg);
    const char *ok[] = {"interval=5s:1m:5s", "min=1:4", NULL};
    assert_int_equal(as_tune_space_build(g, group_node(f.doc), ok, &f.sp, &err), 0);
    assert_int_equal(f.sp.n, 2);
    assert_true(f.sp.p[0].lo == 5000 && f.sp.p[0].hi == 60000 && f.sp.p[0].current == 15000);
    assert_true(as_tune_quantize(&f.sp.p[0], 12600) == 15000);
    assert_true(as_tune_quantize(&f.sp.p[1], 9) == 4);
    teardown_case(&f);
}

/* Set keys replace theirs, absent ones are added with their parents, a quoted scalar stays
 * quoted, a reference prints as written (raw) or as it resolved (to parse). */
static void test_emit(void **unused)
{
    (void)unused;
    setenv("AS_TUNE_TEST_CMD", "tr\"ue", 1);
    const char text[] = "groups:\n"
                        "  g:\n"
                        "    max: 10\n"
                        "    metrics:\n"
                        "      - {name: c, type: cpu, target: 0.5}\n"
                        "    scaler: {type: exec, command: [\"${env:AS_TUNE_TEST_CMD}\", 'a b']}\n"
                        "    too_rapid: {scales: 3, within: 1m}\n";
    struct as_err err;
    struct as_doc *doc = as_doc_parse("t.yaml", text, strlen(text), &err);
    struct as_config *cfg = as_config_parse("t.yaml", text, &err);
    assert_non_null(doc);
    assert_non_null(cfg);
    struct as_tune_space sp;
    const char *specs[] = {"metrics.c.target=0.1:1", "behavior.scale_down.stabilization=0s:10m",
                           "behavior.scale_up.stabilization=0s:1m", NULL};
    assert_int_equal(as_tune_space_build(&cfg->groups[0], group_node(doc), specs, &sp, &err), 0);
    double v[] = {0.62, 90000, 0};
    struct as_sb raw = {0}, resolved = {0};
    assert_int_equal(as_tune_emit(&raw, "g", group_node(doc), &sp, v, 1, 0), 0);
    assert_string_equal(raw.buf, "g:\n"
                                 "  max: 10\n"
                                 "  metrics:\n"
                                 "    - name: c\n"
                                 "      type: cpu\n"
                                 "      target: 0.62\n"
                                 "  scaler:\n"
                                 "    type: exec\n"
                                 "    command:\n"
                                 "      - \"${env:AS_TUNE_TEST_CMD}\"\n"
                                 "      - \"a b\"\n"
                                 "  too_rapid:\n"
                                 "    scales: 3\n"
                                 "    within: 1m\n"
                                 "  behavior:\n"
                                 "    scale_down:\n"
                                 "      stabilization: 90s\n"
                                 "    scale_up:\n"
                                 "      stabilization: 0s\n");
    assert_int_equal(as_tune_emit(&resolved, "g", group_node(doc), &sp, v, 0, 0), 0);
    assert_non_null(strstr(resolved.buf, "      - \"tr\\\"ue\"\n"));
    struct as_tune_problem p = {
        .file = "t.yaml", .group = "g", .node = group_node(doc), .space = &sp};
    struct as_config *c = as_tune_config(&p, v, &err);
    assert_non_null(c);
    assert_true(c->groups[0].metrics[0].target == 0.62);
    assert_int_equal(c->groups[0].behavior.down.stabilization_ms, 90000);
    assert_int_equal(c->groups[0].too_rapid.scales, 3);
    v[0] = 2e15; /* out of the option's bounds: the loader refuses it, at its position */
    assert_null(as_tune_config(&p, v, &err));
    assert_string_equal(err.file, "t.yaml");
    assert_true(err.line > 0);
    as_config_unref(c);
    as_sb_free(&raw);
    as_sb_free(&resolved);
    as_doc_free(doc);
    as_config_unref(cfg);
}

/* A clock that moves one second each time it is read. */
static double fake_clock(void *arg)
{
    double *now = arg;
    return (*now)++;
}

static void test_time_limit(void **unused)
{
    (void)unused;
    struct fixture f;
    struct as_tune_result r;
    struct as_err err;
    double now = 0;
    setup_case(&f, 10, NULL);
    f.p.clock_s = fake_clock;
    f.p.clock_arg = &now;
    f.p.time_limit_s = 3;
    assert_int_equal(as_tune_run(&f.p, &r, &err), 0);
    assert_int_equal(r.stop, AS_TUNE_TIME);
    assert_true(r.evals < f.p.budget);
    assert_true(now <= 5); /* read at the start, then once per batch until 3 s had passed */
    teardown_case(&f);
}

/* Every policy type's defaults: the parameters named in docs/tune.md, and the candidates at
 * the low and the high corner of the space are configurations the loader accepts. */
static void test_policy_defaults(void **unused)
{
    (void)unused;
    static const struct {
        const char *policy, *metrics, *want;
    } cases[] = {
        {"", "{name: c, type: cpu, target: 0.5}",
         "metrics.c.target behavior.scale_down.stabilization behavior.scale_up.stabilization "
         "interval"},
        {"{type: panic, target: 10}", "{name: c, type: cpu, target: 1}",
         "policy.target policy.stable_window policy.panic_threshold policy.scale_down_delay "
         "interval"},
        {"{type: threshold_average, min: 400, max: 1200}", "{name: c, type: cpu}",
         "policy.min policy.max policy.increment interval"},
        {"{type: threshold_consecutive, min: 400, max: 1200}", "{name: c, type: cpu}",
         "policy.min policy.max policy.up_after policy.down_after interval"},
        {"{type: decay, targets: {c: 500}}", "{name: c, type: cpu}",
         "policy.step policy.unchanged_runs interval"},
        {"{type: queue, max_workers: 6, max_queue_size: 10}", "{name: c, type: cpu}",
         "policy.max_queue_size policy.scale_up_step policy.max_idle_time interval"},
        {"{type: step, threshold: 500, steps: [{lower: 0, adjustment: 1}]}", "{name: c, type: cpu}",
         "policy.threshold interval"},
        {"{type: formula, formula: c, target: 0.7}", "{name: c, type: cpu}",
         "policy.target interval"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        struct as_err err;
        snprintf(text, sizeof(text),
                 "groups:\n  g:\n    max: 10\n    metrics:\n      - %s\n"
                 "    scaler: {type: exec, command: [\"true\"]}\n%s%s\n",
                 cases[i].metrics, cases[i].policy[0] ? "    policy: " : "", cases[i].policy);
        struct as_doc *doc = as_doc_parse("t.yaml", text, strlen(text), &err);
        struct as_config *cfg = as_config_parse("t.yaml", text, &err);
        if (cfg == NULL)
            fprintf(stderr, "%s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
        assert_non_null(doc);
        assert_non_null(cfg);
        struct as_tune_space sp;
        assert_int_equal(as_tune_space_build(&cfg->groups[0], group_node(doc), NULL, &sp, &err), 0);
        char got[512] = "";
        for (size_t k = 0; k < sp.n; k++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? " " : "",
                     sp.p[k].path);
        assert_string_equal(got, cases[i].want);
        struct as_tune_problem p = {
            .file = "t.yaml", .group = "g", .node = group_node(doc), .space = &sp};
        for (int hi = 0; hi <= 1; hi++) {
            double v[AS_TUNE_PARAMS_MAX];
            for (size_t k = 0; k < sp.n; k++)
                v[k] = as_tune_quantize(&sp.p[k], hi ? sp.p[k].hi : sp.p[k].lo);
            struct as_config *c = as_tune_config(&p, v, &err);
            if (c == NULL)
                fprintf(stderr, "%s, %s corner: %s:%d:%d: %s\n", cases[i].want, hi ? "high" : "low",
                        err.file, err.line, err.col, err.msg);
            assert_non_null(c);
            as_config_unref(c);
        }
        as_doc_free(doc);
        as_config_unref(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_optimum), cmocka_unit_test(test_same_seed_same_result),
        cmocka_unit_test(test_budget),        cmocka_unit_test(test_infeasible),
        cmocka_unit_test(test_space_errors),  cmocka_unit_test(test_emit),
        cmocka_unit_test(test_time_limit),    cmocka_unit_test(test_policy_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
