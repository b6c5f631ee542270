/* The decision core's safety rules: which replica counts are trusted (as_count_judge), scale
 * intents (a scale whose outcome is unknown counts for the cooldown, the rate limits and
 * too-rapid detection until a trusted count settles it), and overflow-safe rate limits over
 * whatever a state file held. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/behavior.h"
#include "core/decide.h"

extern const struct as_policy_ops as_policy_target_ops;

static struct as_metric_cfg cpu = {.name = "cpu", .target = 0.8};

static struct as_group_cfg group(void)
{
    struct as_group_cfg g = {.name = "web",
                             .policy = &as_policy_target_ops,
                             .override = -1,
                             .min = 1,
                             .max = 20,
                             .tolerance = 0.1,
                             .count_confirm = 2,
                             .history = 10,
                             .nmetrics = 1,
                             .metrics = &cpu};
    as_behavior_defaults(&g.behavior);
    return g;
}

static int judge(const struct as_group_cfg *g, struct as_group_state *st, int read, int owned)
{
    char why[AS_REASON_MAX];
    return as_count_judge(g, st, read, owned, why, sizeof(why));
}

static void test_count_implausible(void **unused)
{
    (void)unused;
    struct as_group_cfg g = group();
    struct as_group_state st = {0};
    assert_int_equal(as_count_limit(&g), 200); /* default: ten times max */
    assert_int_equal(judge(&g, &st, 1000000000, 0), AS_COUNT_IMPLAUSIBLE);
    assert_int_equal(judge(&g, &st, 1000000000, 0), AS_COUNT_IMPLAUSIBLE); /* never confirmed */
    assert_int_equal(judge(&g, &st, 201, 1), AS_COUNT_IMPLAUSIBLE);        /* even owned */
    g.count_max = 30;
    assert_int_equal(judge(&g, &st, 31, 0), AS_COUNT_IMPLAUSIBLE);
    assert_false(st.count_known);
}

/* A sudden 0 (or any jump) from a running group is not used until it is read again. */
static void test_count_jump_needs_confirmation(void **unused)
{
    (void)unused;
    struct as_group_cfg g = group();
    struct as_group_state st = {0};
    assert_int_equal(judge(&g, &st, 10, 0), AS_COUNT_UNCONFIRMED); /* nothing known yet */
    assert_int_equal(judge(&g, &st, 10, 0), AS_COUNT_TRUSTED);
    assert_int_equal(st.count, 10);
    assert_int_equal(judge(&g, &st, 10, 0), AS_COUNT_TRUSTED); /* unchanged: at once */
    assert_int_equal(judge(&g, &st, 0, 0), AS_COUNT_UNCONFIRMED);
    assert_int_equal(st.count, 10);
    assert_int_equal(judge(&g, &st, 7, 0), AS_COUNT_UNCONFIRMED); /* jumping: never twice */
    assert_int_equal(judge(&g, &st, 0, 0), AS_COUNT_UNCONFIRMED);
    assert_int_equal(judge(&g, &st, 10, 0), AS_COUNT_TRUSTED); /* back: trusted at once */
    assert_int_equal(judge(&g, &st, 0, 0), AS_COUNT_UNCONFIRMED);
    assert_int_equal(judge(&g, &st, 0, 0), AS_COUNT_TRUSTED); /* seen twice: real */
    assert_int_equal(st.count, 0);
    g.count_confirm = 1; /* trust every read */
    assert_int_equal(judge(&g, &st, 5, 0), AS_COUNT_TRUSTED);
    g.count_confirm = 3;
    assert_int_equal(judge(&g, &st, 6, 0), AS_COUNT_UNCONFIRMED);
    assert_int_equal(judge(&g, &st, 6, 0), AS_COUNT_UNCONFIRMED);
    assert_int_equal(judge(&g, &st, 6, 0), AS_COUNT_TRUSTED);
}

static void test_count_owned_and_intent(void **unused)
{
    (void)unused;
    struct as_group_cfg g = group();
    struct as_group_state st = {0};
    assert_int_equal(judge(&g, &st, 4, 1), AS_COUNT_TRUSTED); /* a process pool's own count */
    as_decide_intent(&st, 1000, 4, 7);
    assert_int_equal(judge(&g, &st, 7, 0), AS_COUNT_TRUSTED); /* the intent's target */
    st.count = 4;
    assert_int_equal(judge(&g, &st, 4, 0), AS_COUNT_TRUSTED); /* its origin */
    assert_int_equal(judge(&g, &st, 9, 0), AS_COUNT_UNCONFIRMED);
}

static struct as_decision decide(const struct as_group_cfg *g, struct as_group_state *st,
                                 int64_t now, int current, double value)
{
    struct as_metric_obs m = {.ok = 1, .value = value};
    struct as_obs o = {.now_ms = now, .current = current, .n = 1, .m = &m};
    struct as_decision d;
    as_decide(g, st, &o, &d);
    return d;
}

/* A scale in flight when the daemon died counts for the cooldown: the restart does not scale
 * again at once (the finding: 5->7 answered slowly, kill -9, the restart set 9 at once). */
static void test_intent_holds_cooldown(void **unused)
{
    (void)unused;
    struct as_group_cfg g = group();
    g.cooldown_ms = 60000;
    g.behavior.off = 1;
    struct as_group_state st = {0};
    as_decide_intent(&st, 100000, 5, 7);
    struct as_decision d = decide(&g, &st, 110000, 7, 1.0); /* wants ceil(1.25*7) = 9 */
    assert_int_equal(d.desired, 7);
    assert_non_null(
        strstr(d.reason, "held at 7 by the cooldown, 50 s left after an unconfirmed scale"));
    d = decide(&g, &st, 161000, 7, 1.0);
    assert_int_equal(d.desired, 9);
    /* Settled as landed: recorded at the intent's time, the count trusted. */
    assert_int_equal(as_decide_resolve(&g, &st, 7), AS_INTENT_LANDED);
    assert_false(st.pending);
    assert_int_equal(st.last_scale_ms, 100000);
    assert_int_equal(st.count, 7);
    assert_int_equal(as_history_get(&st, 0)->to, 7);
    assert_int_equal(as_decide_resolve(&g, &st, 7), AS_INTENT_NONE);
    /* One that did not land is dropped: no cooldown from it. */
    as_decide_intent(&st, 200000, 7, 9);
    assert_int_equal(as_decide_resolve(&g, &st, 7), AS_INTENT_MISSED);
    assert_false(st.pending);
    assert_int_equal(st.last_scale_ms, 100000);
    as_group_state_free(&st);
}

/* The rate limits count a pending scale-up: 4 replicas per 15 s (HPA default) were used by
 * the intent 2->6, so nothing more may be added within the period. */
static void test_intent_counts_for_rate_limits(void **unused)
{
    (void)unused;
    static const struct as_rate_policy pods4[] = {{0, 4, 15000}};
    struct as_group_cfg g = group();
    g.behavior.up.npolicies = 1;
    g.behavior.up.policies = pods4;
    struct as_group_state st = {0};
    st.seeded = 1;
    as_decide_intent(&st, 100000, 2, 6);
    struct as_decision d = decide(&g, &st, 105000, 6, 2.0); /* wants 15 */
    assert_int_equal(d.desired, 6);
    assert_int_equal(st.up.n, 0); /* the pending event was only borrowed */
    d = decide(&g, &st, 116000, 6, 2.0);
    assert_int_equal(d.desired, 10);
    /* too_rapid counts it too: the pending 6->10 and this one make 2 within a minute */
    g.too_rapid = (struct as_too_rapid){.scales = 1, .within_ms = 60000};
    as_decide_intent(&st, 117000, 6, 10);
    d = decide(&g, &st, 140000, 10, 4.0);
    assert_true(d.desired > 10);
    assert_true(d.too_rapid);
    as_group_state_free(&st);
}

/* Events a state file may hold: sums saturate, casts never overflow. */
static void test_rate_limits_overflow_safe(void **unused)
{
    (void)unused;
    struct as_behavior b;
    as_behavior_defaults(&b);
    struct as_stamp big[3] = {{1000, INT_MAX, 0}, {1001, INT_MAX, 0}, {1002, INT_MAX, 0}};
    struct as_stamps up = {big, 3, 3}, down = {0};
    assert_int_equal(as_behavior_changes(&up, 2000, 15000), AS_COUNT_MAX);
    const char *why;
    int r = as_behavior_rate_limit(&b, &up, &down, 2000, 5, 10, 1, 20, &why);
    assert_true(r >= 5 && r <= 20);
    static const struct as_rate_policy huge[] = {{1, 100000, 15000}}; /* -99900 % */
    b.down.policies = huge;
    r = as_behavior_rate_limit(&b, &down, &up, 2000, 5, 1, 1, 20, &why);
    assert_true(r >= 1 && r <= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_implausible),
        cmocka_unit_test(test_count_jump_needs_confirmation),
        cmocka_unit_test(test_count_owned_and_intent),
        cmocka_unit_test(test_intent_holds_cooldown),
        cmocka_unit_test(test_intent_counts_for_rate_limits),
        cmocka_unit_test(test_rate_limits_overflow_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
