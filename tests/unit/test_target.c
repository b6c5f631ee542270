/* The HPA target policy and the decision's safety rules, as a table of rows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/decide.h"

#define F NAN /* a failed measurement */

struct row {
    const char *name;
    int min, max;
    double tolerance;
    double target[3], avg[3]; /* per metric: one of them > 0; a row uses n metrics */
    int n;
    int current;
    double value[3];
    int want;
    const char *reason; /* substring of the reason */
};

static const struct row rows[] = {
    /* A huge metric: capped at max, and the reason prints the ratio short, not 300 digits. */
    {"1e308: capped, ratio printed short", 1, 10, 0.1, {0.8}, {0}, 1, 3, {1e308}, 10,
     "ratio=1.25e+308: ceil(1.25e+308*3)=1000000000"},
    {"scale up: ceil(1.1375*3)", 1, 10, 0.1, {0.8}, {0}, 1, 3, {0.91}, 4, "ceil(1.137*3)=4"},
    {"scale down", 1, 10, 0.1, {0.8}, {0}, 1, 10, {0.2}, 3, "ceil(0.250*10)=3"},
    {"hold inside tolerance", 1, 10, 0.1, {0.8}, {0}, 1, 4, {0.85}, 4, "within tolerance"},
    {"tolerance edge, exactly 0.25 above: hold",
     1,
     10,
     0.25,
     {1},
     {0},
     1,
     4,
     {1.25},
     4,
     "within tolerance"},
    {"tolerance edge, exactly 0.25 below: hold",
     1,
     10,
     0.25,
     {1},
     {0},
     1,
     4,
     {0.75},
     4,
     "within tolerance"},
    {"tolerance edge, just above: scale",
     1,
     10,
     0.25,
     {1},
     {0},
     1,
     4,
     {1.2500001},
     6,
     "ceil(1.250*4)=6"},
    {"tolerance edge, just below: scale",
     1,
     10,
     0.25,
     {1},
     {0},
     1,
     4,
     {0.7499999},
     3,
     "ceil(0.750*4)=3"},
    {"tolerance 0: any change scales", 1, 10, 0, {1}, {0}, 1, 4, {1.01}, 5, "ceil(1.010*4)=5"},
    {"clamped to max", 1, 5, 0.1, {0.5}, {0}, 1, 4, {1.0}, 5, "capped at max 5 (wanted 8)"},
    {"raised to min", 3, 10, 0.1, {0.8}, {0}, 1, 4, {0.1}, 3, "raised to min 3 (wanted 1)"},
    {"several metrics: the largest wins",
     1,
     20,
     0.1,
     {0.8, 10, 100},
     {0},
     3,
     4,
     {0.4, 30, 150},
     12,
     "(largest of 3 metrics)"},
    {"several metrics: largest is the second",
     1,
     20,
     0.1,
     {0.8, 10},
     {0},
     2,
     4,
     {0.4, 30},
     12,
     "m1=30 target=10"},
    {"failed metric blocks a scale-down",
     1,
     20,
     0.1,
     {0.8, 10},
     {0},
     2,
     6,
     {0.2, F},
     6,
     "held at 6: metric m1 failed and might want more (the others want 2)"},
    {"failed metric does not block a scale-up",
     1,
     20,
     0.1,
     {0.8, 10},
     {0},
     2,
     6,
     {1.6, F},
     12,
     "ceil(2.000*6)=12"},
    {"all metrics failed: hold",
     1,
     20,
     0.1,
     {0.8, 10},
     {0},
     2,
     6,
     {F, F},
     6,
     "no valid metric (failed: m0,m1): hold 6"},
    {"all failed, current above max: back to max",
     1,
     4,
     0.1,
     {0.8},
     {0},
     1,
     6,
     {F},
     4,
     "current 6 is above max 4: brought to 4"},
    {"all failed, current below min: up to min",
     2,
     4,
     0.1,
     {0.8},
     {0},
     1,
     1,
     {F},
     2,
     "current 1 is below min 2: brought to 2"},
    {"from zero: ceil(ratio), no tolerance",
     0,
     6,
     0.1,
     {15},
     {0},
     1,
     0,
     {20},
     2,
     "ceil(1.333)=2 from zero"},
    {"from zero with zero load stays at zero", 0, 6, 0.1, {15}, {0}, 1, 0, {0}, 0, "from zero"},
    {"average_value: ceil(total/avg)", 1, 20, 0.1, {0}, {10}, 1, 5, {100}, 10, "ceil(100/10)=10"},
    {"average_value: within tolerance", 1, 20, 0.1, {0}, {10}, 1, 5, {52}, 5, "within tolerance"},
    {"average_value: scale down", 1, 20, 0.1, {0}, {10}, 1, 5, {12}, 2, "ceil(12/10)=2"},
    {"average_value from zero", 0, 20, 0.1, {0}, {10}, 1, 0, {35}, 4, "from zero"},
    {"zero value scales to min", 1, 20, 0.1, {0.8}, {0}, 1, 5, {0}, 1, "raised to min 1"},
    /* HPA replica_calculator_test.go cases, in milli-units (PEER_VECTORS.md section 2b). */
    {"HPA TestReplicaCalcScaleUpCM", 1, 100, 0.1, {15000}, {0}, 1, 3, {20000}, 4, ""},
    {"HPA TestReplicaCalcToleranceCM", 1, 100, 0.1, {20000}, {0}, 1, 3, {20666}, 3, "within"},
    {"HPA TestReplicaCalcScaleUpCMExternalNoLabels", 1, 100, 0.1, {4400}, {0}, 1, 1, {8600}, 2, ""},
    {"HPA TestReplicaCalcToleranceCMObject", 1, 100, 0.1, {20000}, {0}, 1, 3, {20666}, 3, ""},
    {"HPA TestReplicaCalcScaleDownPerPodCMObject", 1, 100, 0.1, {0}, {2000}, 1, 5, {6000}, 3, ""},
    {"HPA TestReplicaCalcToleranceCMExternal", 1, 100, 0.1, {8888}, {0}, 1, 3, {8600}, 3, ""},
    {"HPA TestReplicaCalcScaleDownPerPodCMExternal", 1, 100, 0.1, {0}, {2867}, 1, 5, {8600}, 3, ""},
    {"HPA TestScaleUpFromZeroCMObject", 0, 6, 0.1, {15000}, {0}, 1, 0, {20000}, 2, ""},
    {"HPA TestScaleUpPerPodCMObject", 1, 100, 0.1, {0}, {10000}, 1, 3, {40000}, 4, ""},
    {"HPA TestScaleUpPerPodCMExternal", 1, 100, 0.1, {0}, {2222}, 1, 3, {8600}, 4, ""},
    {"HPA TestScaleDownToZeroCMExternal", 0, 6, 0.1, {14400}, {0}, 1, 5, {0}, 0, ""},
    {"HPA TestToleranceCMExternal", 2, 6, 0.1, {8666}, {0}, 1, 4, {8600}, 4, ""},
    {"HPA TestTolerancePerPodCMExternal", 1, 100, 0.1, {0}, {2200}, 1, 4, {8600}, 4, ""},
    {"HPA TestSuperfluousMetrics (raw 24, max 6)",
     2,
     6,
     0.1,
     {100},
     {0},
     1,
     4,
     {587},
     6,
     "capped at max 6 (wanted 24)"},
};

static void run_row(const struct row *r)
{
    static char names[3][4] = {"m0", "m1", "m2"};
    struct as_metric_cfg metrics[3];
    struct as_metric_obs obs[3];
    memset(obs, 0, sizeof(obs));
    memset(metrics, 0, sizeof(metrics));
    for (int i = 0; i < r->n; i++) {
        metrics[i].name = r->n == 1 && r->target[0] == 0.8 ? "cpu" : names[i];
        metrics[i].target = r->target[i];
        metrics[i].average_value = r->avg[i];
        obs[i].ok = !isnan(r->value[i]);
        obs[i].value = obs[i].ok ? r->value[i] : 0;
    }
    extern const struct as_policy_ops as_policy_target_ops;
    struct as_group_cfg g = {.name = "t",
                             .policy = &as_policy_target_ops,
                             .behavior = {.off = 1},
                             .override = -1,
                             .min = r->min,
                             .max = r->max,
                             .tolerance = r->tolerance,
                             .nmetrics = (size_t)r->n,
                             .metrics = metrics};
    struct as_group_state st = {0};
    struct as_obs o = {.now_ms = 0, .current = r->current, .n = (size_t)r->n, .m = obs};
    struct as_decision d;
    as_decide(&g, &st, &o, &d);
    as_group_state_free(&st);
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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rows)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
