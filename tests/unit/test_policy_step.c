/* Policy `step` (AWS step scaling): bands and their inclusivity on each side of the threshold,
 * the three adjustment types with AWS's percent rounding and MinAdjustmentMagnitude, and every
 * configuration error at its exact line:column. Configurations go through as_config_parse and
 * decisions through as_decide (behavior off), as `run` and `replay` drive them. */
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

extern const struct as_policy_ops as_policy_step_ops;

#define F NAN /* a failed measurement */

/* Line 1-6; the policy's own lines start at line 7. */
#define HEAD                                                                                       \
    "log_file: ''\n"                                                                               \
    "groups:\n"                                                                                    \
    "  web:\n"                                                                                     \
    "    min: 1\n"                                                                                 \
    "    max: 1000\n"                                                                              \
    "    behavior: off\n"

#define METRICS                                                                                    \
    "    metrics:\n"                                                                               \
    "      - name: lat\n"                                                                          \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /lat\n"                                                                      \
    "      - name: cpu\n"                                                                          \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /cpu\n"                                                                      \
    "    scaler: {type: http, url: http://127.0.0.1:1/r}\n"

/* Threshold 50; a gap (-10, 0) between the scale-in and the scale-out bands. */
static const char *const change_cfg = HEAD "    policy:\n"
                                           "      type: step\n"
                                           "      metric: lat\n"
                                           "      threshold: 50\n"
                                           "      steps:\n"
                                           "        - {upper: -20, adjustment: -2}\n"
                                           "        - {lower: -20, upper: -10, adjustment: -1}\n"
                                           "        - {lower: 0, upper: 10, adjustment: 1}\n"
                                           "        - {lower: 10, upper: 30, adjustment: 2}\n"
                                           "        - {lower: 30, adjustment: 4}\n" METRICS;

static const char *const exact_cfg = HEAD "    policy:\n"
                                          "      type: step\n"
                                          "      metric: lat\n"
                                          "      threshold: 100\n"
                                          "      adjustment_type: exact\n"
                                          "      steps:\n"
                                          "        - {upper: 0, adjustment: 2}\n"
                                          "        - {lower: 0, upper: 50, adjustment: 3}\n"
                                          "        - {lower: 50, adjustment: 8}\n" METRICS;

static const char *const percent_cfg = HEAD "    policy:\n"
                                            "      type: step\n"
                                            "      metric: lat\n"
                                            "      threshold: 0\n"
                                            "      adjustment_type: percent\n"
                                            "      steps:\n"
                                            "        - {upper: 10, adjustment: -22}\n"
                                            "        - {lower: 10, upper: 20, adjustment: 10}\n"
                                            "        - {lower: 20, upper: 30, adjustment: -50}\n"
                                            "        - {lower: 30, adjustment: 25}\n" METRICS;

static const char *const percent_min_cfg = HEAD "    policy:\n"
                                                "      type: step\n"
                                                "      metric: lat\n"
                                                "      threshold: 0\n"
                                                "      adjustment_type: percent\n"
                                                "      min_adjustment_magnitude: 2\n"
                                                "      steps:\n"
                                                "        - {upper: 20, adjustment: -50}\n"
                                                "        - {lower: 20, adjustment: 25}\n" METRICS;

/* Only a scale-in band ending at the threshold, and a pair that touch at it. */
static const char *const touch_in_cfg =
    HEAD "    policy:\n"
         "      type: step\n"
         "      metric: lat\n"
         "      threshold: 50\n"
         "      steps:\n"
         "        - {lower: -10, upper: 0, adjustment: -1}\n" METRICS;

static const char *const touch_both_cfg =
    HEAD "    policy:\n"
         "      type: step\n"
         "      metric: lat\n"
         "      threshold: 50\n"
         "      steps:\n"
         "        - {lower: -10, upper: 0, adjustment: -1}\n"
         "        - {lower: 0, upper: 10, adjustment: 1}\n" METRICS;

struct row {
    const char *name;
    const char *const *cfg;
    int current;
    double lat, cpu;
    int want;
    const char *reason; /* substring of the decision's reason */
    int raw;            /* 1: the policy's own recommendation, not the decision */
};

static const struct row rows[] = {
    {"at the threshold: [0,10)", &change_cfg, 5, 50, 1, 6,
     "lat=50 is at the threshold: step [0,10): ChangeInCapacity +1: 5->6", 0},
    {"lower bound inclusive above", &change_cfg, 5, 60, 1, 7, "step [10,30): ChangeInCapacity +2",
     0},
    {"upper bound exclusive above", &change_cfg, 5, 59.999, 1, 6, "step [0,10)", 0},
    {"open upper band", &change_cfg, 5, 80, 1, 9, "step [30,+inf): ChangeInCapacity +4: 5->9", 0},
    {"gap: no step matches", &change_cfg, 5, 45, 1, 5,
     "lat=45 is 5 under the threshold 50: no step matches: keep 5", 0},
    {"upper bound inclusive below", &change_cfg, 5, 40, 1, 4, "step (-20,-10]: ChangeInCapacity -1",
     0},
    {"lower bound exclusive below", &change_cfg, 5, 30, 1, 3,
     "step (-inf,-20]: ChangeInCapacity -2", 0},
    {"far below", &change_cfg, 5, 0, 1, 3, "step (-inf,-20]", 0},
    {"change below zero is 0", &change_cfg, 1, 0, 1, 0, "ChangeInCapacity -2: 1->0", 1},
    {"the step's metric failed: hold", &change_cfg, 5, F, 1, 5, "metric lat failed: hold 5", 0},
    {"other metric failed: scale-up still allowed", &change_cfg, 5, 80, F, 9, "5->9", 0},
    {"other metric failed: no scale-down", &change_cfg, 5, 30, F, 5, "might want more", 0},
    {"exact below the threshold", &exact_cfg, 5, 90, 1, 2, "step (-inf,0]: ExactCapacity 2: 5->2",
     0},
    {"exact at the threshold", &exact_cfg, 5, 100, 1, 3, "step [0,50): ExactCapacity 3: 5->3", 0},
    {"exact far above", &exact_cfg, 5, 1000, 1, 8, "ExactCapacity 8: 5->8", 0},
    /* AWS's own examples: 10 % of 10 is 1; 12.7 -> 12; .67 -> 1; -.58 -> -1; -6.67 -> -6. */
    {"percent: 10% of 10 = 1", &percent_cfg, 10, 15, 1, 11, "+10% of 10 = 1 -> +1: 10->11", 0},
    {"percent: 12.7 rounds down to 12", &percent_cfg, 127, 15, 1, 139, "= 12.7 -> +12", 0},
    {"percent: 0.3 rounds to 1", &percent_cfg, 3, 15, 1, 4, "= 0.3 -> +1: 3->4", 0},
    {"percent: -0.66 rounds to -1", &percent_cfg, 3, 5, 1, 2, "-22% of 3 = -0.66 -> -1: 3->2", 0},
    {"percent: -6.6 rounds up to -6", &percent_cfg, 30, 5, 1, 24, "= -6.6 -> -6: 30->24", 0},
    {"percent: -50% of 10", &percent_cfg, 10, 25, 1, 5, "-50% of 10 = -5 -> -5: 10->5", 0},
    {"percent of 0 is 0", &percent_cfg, 0, 40, 1, 0, "+25% of 0 = 0 -> +0: 0->0", 1},
    /* AWS's MinAdjustmentMagnitude example: 25 % of 4 is 1, at least 2: 4 -> 6. */
    {"min magnitude raises 1 to 2", &percent_min_cfg, 4, 25, 1, 6,
     "+25% of 4 = 1 -> +2 (min magnitude 2): 4->6", 0},
    {"min magnitude: 2.5 -> 2 is enough", &percent_min_cfg, 10, 25, 1, 12, "-> +2", 0},
    {"min magnitude on a scale-in", &percent_min_cfg, 3, 5, 1, 1, "-50% of 3 = -1.5 -> -2", 0},
    {"min magnitude from zero", &percent_min_cfg, 0, 25, 1, 2,
     "+25% of 0 = 0 -> +2 (min magnitude 2): 0->2", 1},
    {"at the threshold, a scale-in band ending there", &touch_in_cfg, 5, 50, 1, 4,
     "step (-10,0]: ChangeInCapacity -1", 0},
    {"at the threshold, the scale-out band wins", &touch_both_cfg, 5, 50, 1, 6, "step [0,10)", 0},
    {"just below the threshold", &touch_both_cfg, 5, 49.5, 1, 4, "step (-10,0]", 0},
};

static struct as_config *load(const char *text)
{
    struct as_err err;
    as_err_clear(&err);
    struct as_config *cfg = as_config_parse("step.yaml", text, &err);
    if (cfg == NULL) {
        char buf[AS_ERR_MAX + 300];
        print_error("config: %s\n", as_err_str(&err, buf, sizeof(buf)));
        fail();
    }
    return cfg;
}

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
    struct as_config *cfg = load(*r->cfg);
    const struct as_group_cfg *g = &cfg->groups[0];
    assert_ptr_equal(g->policy, &as_policy_step_ops);
    struct as_metric_obs m[2] = {{.ok = !isnan(r->lat), .value = isnan(r->lat) ? 0 : r->lat},
                                 {.ok = !isnan(r->cpu), .value = isnan(r->cpu) ? 0 : r->cpu}};
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

/* The policy is pure: the same observation gives the same decision, round after round. */
static void test_pure(void **state)
{
    (void)state;
    struct as_config *cfg = load(change_cfg);
    struct as_metric_obs m[2] = {{.ok = 1, .value = 61}, {.ok = 1, .value = 1}};
    struct as_obs obs = {.now_ms = 0, .current = 5, .n = 2, .m = m};
    struct as_group_state st = {0};
    for (int i = 0; i < 5; i++) {
        struct as_decision d;
        obs.now_ms = i * 15000;
        as_decide(&cfg->groups[0], &st, &obs, &d);
        assert_int_equal(d.desired, 7);
    }
    as_group_state_free(&st);
    as_config_unref(cfg);
}

#define POLICY HEAD "    policy:\n      type: step\n"

struct bad_case {
    const char *text;
    int line, col;
    const char *msg;
};

static const struct bad_case bad_cases[] = {
    {POLICY "      metric: lat\n      threshold: 1\n" METRICS, 8, 7,
     "missing required key 'steps'"},
    {POLICY "      metric: lat\n      steps: [{lower: 0, adjustment: 1}]\n" METRICS, 8, 7,
     "missing required key 'threshold'"},
    {POLICY "      metric: lat\n      threshold: 1\n      steps: []\n" METRICS, 11, 14,
     "'steps' must be a list of 1 to 16 steps"},
    {POLICY "      metric: lat\n      threshold: 1\n      steps: {lower: 0}\n" METRICS, 11, 14,
     "must be a list"},
    {POLICY "      threshold: 1\n      steps: [{lower: 0, adjustment: 1}]\n" METRICS, 8, 7,
     "the group has 2 metrics: set 'metric'"},
    {POLICY "      metric: latency\n      threshold: 1\n"
            "      steps: [{lower: 0, adjustment: 1}]\n" METRICS,
     9, 15, "no metric named 'latency'"},
    {POLICY "      metric: lat\n      threshold: 1\n      steps:\n"
            "        - {lower: 0, upper: 10, adjustment: 1}\n"
            "        - {lower: 5, adjustment: 2}\n" METRICS,
     13, 11, "step 2 overlaps step 1"},
    {POLICY "      metric: lat\n      threshold: 1\n      steps:\n"
            "        - {upper: 0, adjustment: -1}\n"
            "        - {upper: -5, adjustment: -2}\n" METRICS,
     13, 11, "step 2 overlaps step 1"},
    {POLICY "      metric: lat\n      threshold: 1\n      steps:\n"
            "        - {lower: 10, upper: 10, adjustment: 1}\n" METRICS,
     12, 30, "'upper' must be greater than 'lower'"},
    {POLICY "      metric: lat\n      threshold: 1\n      steps:\n"
            "        - {adjustment: 1}\n" METRICS,
     12, 11, "set 'lower', 'upper' or both"},
    {POLICY "      metric: lat\n      threshold: 1\n      steps:\n"
            "        - {lower: 0}\n" METRICS,
     12, 11, "missing required key 'adjustment'"},
    {POLICY "      metric: lat\n      threshold: 1\n      steps:\n"
            "        - {lower: 0, adjustment: 1.5}\n" METRICS,
     12, 34, "'adjustment' must be an integer"},
    {POLICY "      metric: lat\n      threshold: 1\n      steps:\n"
            "        - {lower: zero, adjustment: 1}\n" METRICS,
     12, 19, "'lower' must be a number"},
    {POLICY "      metric: lat\n      threshold: 1\n      steps:\n"
            "        - {lower: 0, adjustmnet: 1, adjustment: 1}\n" METRICS,
     12, 22, "unknown key 'adjustmnet'"},
    {POLICY "      metric: lat\n      threshold: 1\n      steps:\n"
            "        - 5\n" METRICS,
     12, 11, "must be a mapping"},
    {POLICY "      metric: lat\n      threshold: 1\n      adjustment_type: exact\n      steps:\n"
            "        - {lower: 0, adjustment: -1}\n" METRICS,
     13, 34, "may not be negative"},
    {POLICY "      metric: lat\n      threshold: 1\n      min_adjustment_magnitude: 2\n"
            "      steps: [{lower: 0, adjustment: 1}]\n" METRICS,
     11, 33, "applies only to adjustment_type: percent"},
    {POLICY "      metric: lat\n      threshold: 1\n      adjustment_type: ChangeInCapacity\n"
            "      steps: [{lower: 0, adjustment: 1}]\n" METRICS,
     11, 24, "must be one of: change, exact, percent"},
    {POLICY "      metric: lat\n      threshold: 1\n      cooldown: 5s\n"
            "      steps: [{lower: 0, adjustment: 1}]\n" METRICS,
     11, 7, "unknown key 'cooldown'"},
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
        cmocka_unit_test(test_pure),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
