/* Policy `passthrough` (Nomad's pass-through strategy): the value is the count, rounded as
 * configured; several metrics, the largest; a named metric only; failures; and configuration
 * errors at their exact line:column. Through as_config_parse and as_decide (behavior off). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/decide.h"

extern const struct as_policy_ops as_policy_passthrough_ops;

#define F NAN /* a failed measurement */

#define HEAD                                                                                       \
    "log_file: ''\n"                                                                               \
    "groups:\n"                                                                                    \
    "  web:\n"                                                                                     \
    "    min: 1\n"                                                                                 \
    "    max: 50\n"                                                                                \
    "    behavior: off\n"

#define METRICS                                                                                    \
    "    metrics:\n"                                                                               \
    "      - name: wanted\n"                                                                       \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /wanted\n"                                                                   \
    "      - name: queue\n"                                                                        \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /queue\n"                                                                    \
    "    scaler: {type: http, url: http://127.0.0.1:1/r}\n"

static const char *const floor_cfg = HEAD "    policy: {type: passthrough}\n" METRICS;
static const char *const ceil_cfg =
    HEAD "    policy: {type: passthrough, rounding: ceil}\n" METRICS;
static const char *const nearest_cfg =
    HEAD "    policy: {type: passthrough, rounding: nearest}\n" METRICS;
static const char *const only_cfg =
    HEAD "    policy: {type: passthrough, metric: wanted}\n" METRICS;

struct row {
    const char *name;
    const char *const *cfg;
    int current;
    double wanted, queue;
    int want;
    const char *reason;
    int raw; /* 1: the policy's own recommendation, not the decision */
};

static const struct row rows[] = {
    {"floor, as Nomad's int64()", &floor_cfg, 3, 5.7, 0, 5,
     "wanted=5.7 passed through (floor): 5 (largest of 2 metrics)", 0},
    {"ceil", &ceil_cfg, 3, 5.2, 0, 6, "wanted=5.2 passed through (ceil): 6", 0},
    {"ceil of a whole number", &ceil_cfg, 3, 5, 0, 5, "(ceil): 5", 0},
    {"nearest rounds half up", &nearest_cfg, 3, 5.5, 0, 6, "(nearest): 6", 0},
    {"nearest rounds down", &nearest_cfg, 3, 5.49, 0, 5, "(nearest): 5", 0},
    {"scale down to the value", &floor_cfg, 9, 2, 1, 2, "wanted=2 passed through (floor): 2", 0},
    {"zero", &floor_cfg, 4, 0.4, 0, 0, "wanted=0.4 passed through (floor): 0", 1},
    {"zero, raised to min 1", &floor_cfg, 4, 0.4, 0, 1,
     "(floor): 0 (largest of 2 metrics); raised to min 1", 0},
    {"the largest of two metrics", &floor_cfg, 3, 4, 12.9, 12,
     "queue=12.9 passed through (floor): 12 (largest of 2 metrics)", 0},
    {"capped at max", &floor_cfg, 3, 1e12, 0, 50, "passed through (floor): 1000000000", 0},
    {"one failed: the other scales up", &floor_cfg, 3, F, 8, 8, "queue=8 passed through", 0},
    {"one failed: no scale-down", &floor_cfg, 8, F, 3, 8, "might want more", 0},
    {"metric: only that one", &only_cfg, 3, 4, 20, 4, "wanted=4 passed through (floor): 4", 0},
    {"metric: that one failed", &only_cfg, 3, F, 20, 3, "metric wanted failed: hold 3", 0},
    {"metric: the other failed", &only_cfg, 6, 2, F, 6, "might want more", 0},
    {"every metric failed: hold", &floor_cfg, 3, F, F, 3, "no valid metric", 0},
};

/* The policy's raw recommendation, before the core's rules (for counts of zero, which the
 * core's scale-to-zero rules would otherwise decide). */
static void raw_recommend(const struct as_group_cfg *g, const struct as_obs *obs,
                          struct as_decision *d)
{
    static unsigned char st[AS_POLICY_STATE_MAX];
    struct as_rec rec = {0};
    memset(st, 0, sizeof(st));
    g->policy->recommend(g->policy_cfg, g, obs, st, &rec);
    assert_true(rec.valid > 0);
    d->desired = rec.desired;
    snprintf(d->reason, sizeof(d->reason), "%s", rec.reason);
}

static void run_row(const struct row *r)
{
    struct as_err err;
    as_err_clear(&err);
    struct as_config *cfg = as_config_parse("pt.yaml", *r->cfg, &err);
    if (cfg == NULL) {
        char buf[AS_ERR_MAX + 300];
        print_error("%s: config: %s\n", r->name, as_err_str(&err, buf, sizeof(buf)));
        fail();
    }
    const struct as_group_cfg *g = &cfg->groups[0];
    assert_ptr_equal(g->policy, &as_policy_passthrough_ops);
    struct as_metric_obs m[2] = {
        {.ok = !isnan(r->wanted), .value = isnan(r->wanted) ? 0 : r->wanted},
        {.ok = !isnan(r->queue), .value = isnan(r->queue) ? 0 : r->queue}};
    struct as_obs obs = {.now_ms = 1000, .current = r->current, .n = 2, .m = m};
    struct as_group_state st = {0};
    struct as_decision d;
    if (r->raw)
        raw_recommend(g, &obs, &d);
    else
        as_decide(g, &st, &obs, &d);
    as_group_state_free(&st);
    as_config_unref(cfg);
    if (d.desired != r->want || strstr(d.reason, r->reason) == NULL) {
        print_error("%s: got %d (%s), want %d (reason containing '%s')\n", r->name, d.desired,
                    d.reason, r->want, r->reason);
        fail();
    }
}

static void test_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        run_row(&rows[i]);
}

/* Without validate (a zeroed configuration), every metric counts. */
static void test_zeroed_cfg(void **state)
{
    (void)state;
    struct as_metric_cfg metrics[2] = {{.name = "a"}, {.name = "b"}};
    unsigned char cfg[64] = {0};
    assert_true(as_policy_passthrough_ops.cfg_size <= sizeof(cfg));
    struct as_group_cfg g = {.name = "t",
                             .min = 1,
                             .max = 10,
                             .nmetrics = 2,
                             .metrics = metrics,
                             .policy = &as_policy_passthrough_ops,
                             .policy_cfg = cfg,
                             .behavior = {.off = 1},
                             .override = -1};
    struct as_metric_obs m[2] = {{.ok = 1, .value = 3}, {.ok = 1, .value = 7}};
    struct as_obs obs = {.now_ms = 0, .current = 2, .n = 2, .m = m};
    struct as_rec rec;
    as_policy_passthrough_ops.recommend(cfg, &g, &obs, NULL, &rec);
    assert_int_equal(rec.desired, 7);
    assert_int_equal(rec.valid, 2);
    assert_int_equal(rec.no_scale_down, 0);
}

struct bad_case {
    const char *text;
    int line, col;
    const char *msg;
};

static const struct bad_case bad_cases[] = {
    {HEAD "    policy: {type: passthrough, metric: nope}\n" METRICS, 7, 41,
     "no metric named 'nope'"},
    {HEAD "    policy: {type: passthrough, rounding: up}\n" METRICS, 7, 43,
     "must be one of: floor, ceil, nearest"},
    {HEAD "    policy: {type: passthrough, metric: ''}\n" METRICS, 7, 41, "may not be empty"},
    {HEAD "    policy: {type: passthrough, target: 3}\n" METRICS, 7, 33, "unknown key 'target'"},
};

static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct as_err err;
        as_err_clear(&err);
        struct as_config *cfg = as_config_parse("bad.yaml", c->text, &err);
        if (cfg != NULL || err.line != c->line || err.col != c->col ||
            strstr(err.msg, c->msg) == NULL) {
            print_error("case %zu: got %s:%d:%d: %s\nwant line %d col %d containing '%s'\n", i,
                        err.file, err.line, err.col, err.msg, c->line, c->col, c->msg);
            as_config_unref(cfg);
            fail();
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_zeroed_cfg),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
