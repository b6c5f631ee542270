/* The status API's rings of rounds and decisions, the reason classes of /metrics and the round
 * histogram (src/drivers/timeline.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "drivers/timeline.h"

static struct as_metric_cfg metrics[2] = {{.name = "cpu"}, {.name = "lat"}};
static struct as_group_cfg group = {.name = "web", .nmetrics = 2, .metrics = metrics};

static struct as_decision decision(int desired, const char *reason)
{
    struct as_decision d = {.desired = desired, .wanted = desired, .min = 1, .max = 10};
    snprintf(d.reason, sizeof(d.reason), "%s", reason);
    return d;
}

static void test_rings(void **state)
{
    (void)state;
    struct as_timeline *tl = as_timeline_new(3, 2, &group);
    assert_non_null(tl);
    assert_true(as_timeline_fits(tl, &group, 3, 2));
    assert_false(as_timeline_fits(tl, &group, 4, 2));
    assert_int_equal(as_timeline_rounds(tl), 0);
    struct as_round_point p;
    struct as_decision_rec r;
    assert_int_equal(as_timeline_round(tl, 0, &p), -1);
    assert_int_equal(as_timeline_decision(tl, 0, &r), -1);
    for (int i = 0; i < 5; i++) {
        double v[2] = {i * 0.1, i == 3 ? NAN : i};
        char why[32];
        snprintf(why, sizeof(why), "round %d", i);
        struct as_decision d = decision(i + 1, why);
        if (i == 2)
            as_timeline_held(tl, 1000 * i, v);
        else
            as_timeline_decided(tl, 1000 * i, i, &d, AS_RC_POLICY, AS_OUT_UP, v);
    }
    /* rounds: the newest 3 (2 held, 3, 4); decisions: the newest 2 (3, 4) */
    assert_int_equal(as_timeline_rounds(tl), 3);
    assert_int_equal(as_timeline_round(tl, 0, &p), 0);
    assert_true(p.t == 4000 && p.current == 4 && p.desired == 5 && p.values[1] == 4);
    assert_int_equal(as_timeline_round(tl, 1, &p), 0);
    assert_true(p.t == 3000 && isnan(p.values[1]));
    assert_int_equal(as_timeline_round(tl, 2, &p), 0);
    assert_true(p.t == 2000 && p.current == -1 && p.desired == -1 && p.min == -1);
    assert_int_equal(as_timeline_round(tl, 3, &p), -1);
    assert_int_equal(as_timeline_decisions(tl), 2);
    assert_int_equal(as_timeline_decision(tl, 0, &r), 0);
    assert_string_equal(r.reason, "round 4");
    assert_int_equal(as_timeline_decision(tl, 1, &r), 0);
    assert_string_equal(r.reason, "round 3");
    assert_int_equal(as_timeline_nmetrics(tl), 2);
    assert_string_equal(as_timeline_metric(tl, 1), "lat");
    struct as_metric_cfg renamed[2] = {{.name = "cpu"}, {.name = "p99"}};
    struct as_group_cfg other = {.name = "web", .nmetrics = 2, .metrics = renamed};
    assert_false(as_timeline_fits(tl, &other, 3, 2));
    as_timeline_free(tl);
    assert_null(as_timeline_new(0, 0, &group));
    assert_true(as_timeline_fits(NULL, &group, 0, 0));
}

static void test_repeats_are_one_record(void **state)
{
    (void)state;
    double v[2] = {0.5, 1};
    struct as_timeline *tl = as_timeline_new(2, 3, &group);
    assert_non_null(tl);
    struct as_decision_rec r;
    /* 100 rounds alike: one record, the newest round's time and reason */
    for (int i = 0; i < 100; i++) {
        char why[64];
        snprintf(why, sizeof(why), "%s %d", i % 2 ? "a longer reason than before, round" : "r", i);
        struct as_decision d = decision(3, why);
        as_timeline_decided(tl, 1000 + i, 3, &d, AS_RC_POLICY, AS_OUT_HOLD, v);
    }
    assert_int_equal(as_timeline_decisions(tl), 1);
    assert_int_equal(as_timeline_decision(tl, 0, &r), 0);
    assert_true(r.t == 1099 && r.first == 1000 && r.rounds == 100);
    assert_string_equal(r.reason, "a longer reason than before, round 99");
    /* another class or count starts a record; seven changes keep the newest three */
    for (int i = 0; i < 7; i++) {
        char why[32];
        snprintf(why, sizeof(why), "change %d", i);
        struct as_decision d = decision(4 + i % 2, why);
        as_timeline_decided(tl, 2000 + i, 3, &d, AS_RC_POLICY, AS_OUT_UP, v);
        as_timeline_decided(tl, 2000 + i, 3, &d, AS_RC_POLICY, AS_OUT_UP, v);
    }
    assert_int_equal(as_timeline_decisions(tl), 3);
    for (int i = 0; i < 3; i++) {
        char want[32];
        snprintf(want, sizeof(want), "change %d", 6 - i);
        assert_int_equal(as_timeline_decision(tl, (size_t)i, &r), 0);
        assert_string_equal(r.reason, want);
        assert_true(r.t == 2006 - i && r.first == 2006 - i && r.rounds == 2);
    }
    assert_int_equal(as_timeline_decision(tl, 3, &r), -1);
    as_timeline_free(tl);
}

static void test_classes(void **state)
{
    (void)state;
    static const struct {
        int current;
        struct as_decision d;
        int override;
        unsigned cls, outcome;
    } rows[] = {
        {3, {.desired = 4, .wanted = 4, .min = 1, .max = 10}, 0, AS_RC_POLICY, AS_OUT_UP},
        {3, {.desired = 3, .wanted = 3, .min = 1, .max = 10}, 0, AS_RC_POLICY, AS_OUT_HOLD},
        {3, {.desired = 2, .wanted = 2, .min = 1, .max = 10}, 0, AS_RC_POLICY, AS_OUT_DOWN},
        {5,
         {.desired = 5, .wanted = 8, .min = 1, .max = 5, .above_max = 1},
         0,
         AS_RC_MAX,
         AS_OUT_HOLD},
        {3,
         {.desired = 2, .wanted = 1, .min = 2, .max = 5, .below_min = 1},
         0,
         AS_RC_MIN,
         AS_OUT_DOWN},
        {0, {.desired = 1, .wanted = -1, .min = 1, .max = 5}, 0, AS_RC_BOUNDS, AS_OUT_UP},
        {9,
         {.desired = 5, .wanted = -1, .min = 1, .max = 5, .above_max = 0},
         0,
         AS_RC_BOUNDS,
         AS_OUT_DOWN},
        {3,
         {.desired = 3, .wanted = -1, .min = 1, .max = 5},
         0,
         AS_RC_NO_RECOMMENDATION,
         AS_OUT_HOLD},
        {3,
         {.desired = 2, .wanted = -1, .min = 1, .max = 5, .fallback = 1},
         0,
         AS_RC_FALLBACK,
         AS_OUT_DOWN},
        {3,
         {.desired = 3, .wanted = 6, .min = 1, .max = 5, .paused = 1, .above_max = 1},
         0,
         AS_RC_PAUSED,
         AS_OUT_HOLD},
        {3, {.desired = 7, .wanted = -1, .min = -1, .max = -1}, 1, AS_RC_OVERRIDE, AS_OUT_UP},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        unsigned cls, outcome;
        as_decision_classify(rows[i].current, &rows[i].d, rows[i].override, &cls, &outcome);
        if (cls != rows[i].cls || outcome != rows[i].outcome)
            fail_msg("row %zu: class %s outcome %s", i, as_reason_class_name(cls),
                     as_outcome_name(outcome));
    }
    assert_string_equal(as_reason_class_name(AS_RC_NO_RECOMMENDATION), "no_recommendation");
    assert_string_equal(as_outcome_name(AS_OUT_DOWN), "down");
}

static void test_histogram(void **state)
{
    (void)state;
    struct as_round_hist h = {0};
    as_round_hist_add(&h, 0.004);
    as_round_hist_add(&h, 0.3);
    as_round_hist_add(&h, 60);
    assert_int_equal(h.count, 3);
    assert_int_equal(h.le[0], 1);                    /* <= 5 ms */
    assert_int_equal(h.le[5], 1);                    /* <= 250 ms */
    assert_int_equal(h.le[6], 2);                    /* <= 500 ms: cumulative */
    assert_int_equal(h.le[AS_ROUND_BUCKETS - 1], 2); /* <= 30 s; 60 s only in +Inf */
    assert_true(fabs(h.sum - 60.304) < 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rings),
        cmocka_unit_test(test_repeats_are_one_record),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_histogram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
