/* Policies threshold_consecutive and threshold_average (autoscalebot): tables of rounds
 * (count, value -> raw recommendation and the rule named in its reason), option errors at
 * their exact line:column, and state that survives a save/load. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/decide.h"

#define F NAN /* a failed measurement */

/* The registry refers to the policies weakly, and a static library contributes only the
 * members something refers to strongly: test_registered names them, which links them in. */
extern const struct as_policy_ops as_policy_threshold_consecutive_ops;
extern const struct as_policy_ops as_policy_threshold_average_ops;

/* Lines 1-18; `policy:` is line 19, its mapping starts at 20:7. */
#define HEAD                                                                                       \
    "log_file: ''\n"                                                                               \
    "groups:\n"                                                                                    \
    "  g:\n"                                                                                       \
    "    min: 0\n"                                                                                 \
    "    max: 100\n"                                                                               \
    "    behavior: off\n"                                                                          \
    "    metrics:\n"                                                                               \
    "      - name: lat\n"                                                                          \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /lat\n"                                                                      \
    "      - name: errors\n"                                                                       \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /errors\n"                                                                   \
    "    scaler:\n"                                                                                \
    "      type: http\n"                                                                           \
    "      url: http://127.0.0.1:1/r\n"

struct step {
    int current;
    double value; /* of `lat`; F = failed (`errors` is always valid) */
    int want;
    const char *reason; /* substring of the reason; NULL ends the steps */
};

struct policy_case {
    const char *name;
    const char *policy; /* the `policy:` block */
    struct step steps[12];
};

static struct as_config *parse(const char *policy, struct as_err *err)
{
    char text[4096];
    snprintf(text, sizeof(text), "%s%s", HEAD, policy);
    as_err_clear(err);
    return as_config_parse("p.yaml", text, err);
}

/* One round straight through the policy (its raw recommendation). Returns 0 on a match. */
static int round_ok(const char *name, size_t i, const struct as_group_cfg *g, void *state,
                    const struct step *s)
{
    struct as_metric_obs m[2] = {{.ok = !isnan(s->value), .value = s->value}, {.ok = 1}};
    struct as_obs obs = {.now_ms = (int64_t)i * 30000, .current = s->current, .n = 2, .m = m};
    struct as_rec rec;
    memset(&rec, 0x55, sizeof(rec)); /* the policy must fill every field */
    g->policy->recommend(g->policy_cfg, g, &obs, state, &rec);
    int valid_want = !isnan(s->value);
    if (rec.desired == s->want && rec.valid == valid_want && strstr(rec.reason, s->reason))
        return 0;
    print_error("%s, step %zu: got %d (valid %d) \"%s\", want %d (valid %d) containing \"%s\"\n",
                name, i, rec.desired, rec.valid, rec.reason, s->want, valid_want, s->reason);
    return -1;
}

static void run_cases(const struct policy_case *cases, size_t n)
{
    int failures = 0;
    for (size_t c = 0; c < n; c++) {
        struct as_err err;
        struct as_config *cfg = parse(cases[c].policy, &err);
        if (cfg == NULL)
            fail_msg("%s: %s", cases[c].name, err.msg);
        struct as_group_state st = {0}; /* the real area, as the engine allocates it */
        void *area = as_policy_state(&st, &cfg->groups[0]);
        assert_non_null(area);
        for (size_t i = 0; cases[c].steps[i].reason; i++)
            failures += round_ok(cases[c].name, i, &cfg->groups[0], area, &cases[c].steps[i]) < 0;
        as_group_state_free(&st);
        as_config_unref(cfg);
    }
    assert_int_equal(failures, 0);
}

#define TC "    policy:\n      type: threshold_consecutive\n"
#define TC_DEF TC "      min: 400\n      max: 1200\n"

static const struct policy_case consecutive[] = {
    {"defaults: 3 above max scale up by 1",
     TC_DEF,
     {{2, 1300, 2, "lat=1300 above max 1200 1 of 3 times in a row: keep 2"},
      {2, 1250, 2, "2 of 3"},
      {2, 1300, 3, "lat=1300 above max 1200 3 times in a row (up_after 3): 2+1=3"},
      {3, 1300, 3, "1 of 3"}, /* the count changed: autoscalebot cleared its history */
      {3, 1300, 3, "2 of 3"},
      {3, 1300, 4, "3 times in a row"},
      {0}}},
    {"defaults: 5 below min scale down by 1",
     TC_DEF,
     {{4, 100, 4, "lat=100 below min 400 1 of 5 times in a row: keep 4"},
      {4, 100, 4, "2 of 5"},
      {4, 399, 4, "3 of 5"},
      {4, 0, 4, "4 of 5"},
      {4, 100, 3, "lat=100 below min 400 5 times in a row (down_after 5): 4-1=3"},
      {3, 100, 3, "1 of 5"},
      {0}}},
    {"a value within the band breaks a streak",
     TC_DEF,
     {{2, 1300, 2, "1 of 3"},
      {2, 1300, 2, "2 of 3"},
      {2, 800, 2, "lat=800 within [400, 1200]: keep 2"},
      {2, 1300, 2, "1 of 3"},
      {0}}},
    {"the band's edges are inside: exactly max and exactly min count as within",
     TC_DEF "      up_after: 1\n      down_after: 1\n",
     {{2, 1200, 2, "within"},
      {2, 400, 2, "within"},
      {2, 1200.001, 3, "up_after 1"},
      {3, 399.999, 2, "down_after 1"},
      {0}}},
    {"above then below: the streaks replace each other",
     TC_DEF,
     {{2, 1300, 2, "above max 1200 1 of 3"},
      {2, 1300, 2, "2 of 3"},
      {2, 100, 2, "below min 400 1 of 5"},
      {2, 1300, 2, "above max 1200 1 of 3"},
      {0}}},
    {"a failed measurement neither counts nor breaks the streak",
     TC_DEF,
     {{2, 1300, 2, "1 of 3"},
      {2, F, 2, "lat failed: not counted, streaks kept (above 1, below 0)"},
      {2, 1300, 2, "2 of 3"},
      {2, F, 2, "not counted"},
      {2, 1300, 3, "3 times in a row"},
      {0}}},
    {"a scale that did not happen (count unchanged) is asked for again",
     TC_DEF,
     {{4, 1300, 4, "1 of 3"},
      {4, 1300, 4, "2 of 3"},
      {4, 1300, 5, "3 times in a row"},
      {4, 1300, 5, "4 times in a row"},
      {4, 800, 4, "within"},
      {0}}},
    {"a change of count by anyone restarts the streak",
     TC_DEF,
     {{2, 100, 2, "1 of 5"}, {2, 100, 2, "2 of 5"}, {6, 100, 6, "1 of 5"}, {0}}},
    {"increment and thresholds from the config",
     TC "      min: 0.2\n      max: 0.8\n      up_after: 2\n      down_after: 1\n"
        "      increment: 3\n",
     {{5, 0.9, 5, "1 of 2"},
      {5, 0.95, 8, "(up_after 2): 5+3=8"},
      {8, 0.1, 5, "(down_after 1): 8-3=5"},
      {5, 0.1, 2, "5-3=2"},
      {2, 0.1, 0, "2-3=0"}, /* never below zero; the group's min applies after */
      {0}}},
    {"metric: reads the named metric, not the first",
     TC_DEF "      metric: errors\n",
     {{2, 5000, 2, "errors=0 below min 400 1 of 5"}, {0}}},
};

static void test_consecutive_rows(void **state)
{
    (void)state;
    run_cases(consecutive, sizeof(consecutive) / sizeof(consecutive[0]));
}

#define TA "    policy:\n      type: threshold_average\n"
#define TA_DEF TA "      min: 0\n      max: 20\n"

static const struct policy_case average[] = {
    {"defaults: hold until 3 measurements, then the mean decides",
     TA_DEF,
     {{2, 30, 2, "lat=30: 1 of 3 measurements: keep 2"},
      {2, 30, 2, "2 of 3"},
      {2, 30, 3, "lat mean of last 3 = 30 above max 20: 2+1=3"},
      {3, 30, 3, "1 of 3"}, /* the count changed: the window restarted */
      {0}}},
    {"the window slides over the last 3 values",
     TA "      min: 5\n      max: 20\n",
     {{2, 30, 2, "1 of 3"},
      {2, 30, 2, "2 of 3"},
      {2, 0, 2, "mean of last 3 = 20 within [5, 20]: keep 2"}, /* exactly max is within */
      {2, 0, 2, "mean of last 3 = 10 within"},                 /* (30 + 0 + 0) / 3 */
      {2, 0, 1, "mean of last 3 = 0 below min 5: 2-1=1"},
      {0}}},
    {"a failed measurement is not added",
     TA_DEF,
     {{2, 30, 2, "1 of 3"},
      {2, F, 2, "lat failed: not added (1 of 3 in the window)"},
      {2, 24, 2, "2 of 3"},
      {2, 12, 3, "mean of last 3 = 22 above max 20"},
      {0}}},
    {"measurements 1 and increment 2",
     TA "      min: 0.3\n      max: 0.7\n      measurements: 1\n      increment: 2\n",
     {{4, 0.8, 6, "mean of last 1 = 0.8 above max 0.7: 4+2=6"},
      {6, 0.5, 6, "within"},
      {6, 0.1, 4, "below min 0.3: 6-2=4"},
      {4, 0.1, 2, "4-2=2"},
      {0}}},
    {"a scale that did not happen keeps the window, and asks again",
     TA_DEF "      measurements: 2\n",
     {{5, 40, 5, "1 of 2"}, {5, 40, 6, "above max"}, {5, 40, 6, "above max"}, {0}}},
};

static void test_average_rows(void **state)
{
    (void)state;
    run_cases(average, sizeof(average) / sizeof(average[0]));
}

/* ---- option errors at their exact position ---- */

struct bad_case {
    const char *policy;
    const char *want; /* "line:col: message" substring */
};

static const struct bad_case bad[] = {
    {TC "      min: 400\n", "20:7: group 'g' policy: missing required key 'max'"},
    {TC "      min: 500\n      max: 400\n",
     "21:12: group 'g' policy: min (500) is greater than max (400)"},
    {TC_DEF "      metric: nope\n", "23:15: group 'g' policy: 'metric': no metric named 'nope'"},
    {TC_DEF "      up_after: 0\n",
     "23:17: group 'g' policy: 'up_after' must be between 1 and 1000"},
    {TC_DEF "      down_after: x\n", "23:19: group 'g' policy: 'down_after' must be an integer"},
    {TC_DEF "      increment: 0\n", "23:18: group 'g' policy: 'increment' must be between"},
    {TC_DEF "      up_afterr: 3\n", "23:7: unknown key 'up_afterr' in group 'g' policy"},
    {TA "      max: 20\n", "20:7: group 'g' policy: missing required key 'min'"},
    {TA "      min: 30\n      max: 20\n", "21:12: group 'g' policy: min (30) is greater than max"},
    {TA_DEF "      measurements: 257\n", "23:21: group 'g' policy: 'measurements' must be between "
                                         "1 and 256"},
    {TA_DEF "      metric: latency\n",
     "23:15: group 'g' policy: 'metric': no metric named 'latency'"},
};

static void test_option_errors(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct as_err err;
        struct as_config *cfg = parse(bad[i].policy, &err);
        char buf[AS_ERR_MAX + 300];
        as_err_str(&err, buf, sizeof(buf));
        if (cfg == NULL && strstr(buf, bad[i].want))
            continue;
        print_error("case %zu: got \"%s\", want \"%s\"\n", i, cfg ? "(parsed)" : buf, bad[i].want);
        failures++;
        as_config_unref(cfg);
    }
    assert_int_equal(failures, 0);
}

/* ---- restarts ---- */

/* Runs values through two lives of a policy: steps before `cut` in the first, then save, load
 * into a fresh area, and the rest in the second. The decisions must equal one life's. */
static void two_lives(const char *policy, const struct step *steps, size_t cut)
{
    struct as_err err;
    struct as_config *cfg = parse(policy, &err);
    assert_non_null(cfg);
    const struct as_group_cfg *g = &cfg->groups[0];
    struct as_group_state a = {0}, b = {0};
    assert_non_null(as_policy_state(&a, g));
    assert_non_null(as_policy_state(&b, g));
    int failures = 0;
    for (size_t i = 0; i < cut; i++)
        failures += round_ok("first life", i, g, a.policy, &steps[i]) < 0;
    json_t *obj = json_object();
    assert_int_equal(g->policy->save(g->policy_cfg, a.policy, obj), 0);
    char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *back = json_loads(text, 0, NULL); /* through text, as on disk */
    assert_int_equal(g->policy->load(g->policy_cfg, b.policy, back), 0);
    for (size_t i = cut; steps[i].reason; i++)
        failures += round_ok("second life", i, g, b.policy, &steps[i]) < 0;
    as_group_state_free(&a);
    as_group_state_free(&b);
    free(text);
    json_decref(obj);
    json_decref(back);
    as_config_unref(cfg);
    assert_int_equal(failures, 0);
}

static void test_restart_keeps_streak(void **state)
{
    (void)state;
    static const struct step steps[] = {
        {2, 1300, 2, "1 of 3"}, {2, 1300, 2, "2 of 3"}, {2, 1300, 3, "3 times"}, {0}};
    two_lives(TC_DEF, steps, 2);
    static const struct step down[] = {{2, 100, 2, "1 of 5"},
                                       {2, 100, 2, "2 of 5"},
                                       {3, 100, 3, "1 of 5"},
                                       {0}}; /* last_current survives */
    two_lives(TC_DEF, down, 2);
}

static void test_restart_keeps_window(void **state)
{
    (void)state;
    static const struct step steps[] = {
        {2, 10, 2, "1 of 3"}, {2, 31.5, 2, "2 of 3"}, {2, 30, 3, "mean of last 3 = 23.8333"}, {0}};
    two_lives(TA_DEF, steps, 2);
}

/* load must refuse what it cannot trust, and leave the area alone. */
static void check_loads(const char *policy, const char *const *docs, size_t n, int want)
{
    struct as_err err;
    struct as_config *cfg = parse(policy, &err);
    assert_non_null(cfg);
    const struct as_group_cfg *g = &cfg->groups[0];
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        struct as_group_state st = {0};
        unsigned char *area = as_policy_state(&st, g);
        assert_non_null(area);
        memset(area, 0x7f, g->policy->state_size);
        json_t *doc = json_loads(docs[i], JSON_DECODE_ANY, NULL);
        int rc = g->policy->load(g->policy_cfg, area, doc);
        if (rc != want || (rc < 0 && area[0] != 0x7f)) {
            print_error("%s: load(%s) = %d, want %d\n", g->policy->name, docs[i], rc, want);
            failures++;
        }
        json_decref(doc);
        as_group_state_free(&st);
    }
    as_config_unref(cfg);
    assert_int_equal(failures, 0);
}

static void test_load_rejects_malformed(void **state)
{
    (void)state;
    static const char *const tc_bad[] = {
        "[]",
        "{}",
        "{\"seen\":true,\"last_current\":2,\"above\":1}",
        "{\"seen\":1,\"last_current\":2,\"above\":1,\"below\":0}",
        "{\"seen\":true,\"last_current\":-1,\"above\":1,\"below\":0}",
        "{\"seen\":true,\"last_current\":2,\"above\":\"1\",\"below\":0}",
        "{\"seen\":true,\"last_current\":2,\"above\":1.5,\"below\":0}",
        "{\"seen\":true,\"last_current\":2,\"above\":1,\"below\":2}",
    };
    static const char *const tc_good[] = {
        "{\"seen\":true,\"last_current\":2,\"above\":1,\"below\":0}",
        "{\"seen\":false,\"last_current\":0,\"above\":0,\"below\":0,\"extra\":1}",
    };
    check_loads(TC_DEF, tc_bad, sizeof(tc_bad) / sizeof(tc_bad[0]), -1);
    check_loads(TC_DEF, tc_good, sizeof(tc_good) / sizeof(tc_good[0]), 0);
    static const char *const ta_bad[] = {
        "null",
        "{\"seen\":true,\"last_current\":2}",
        "{\"seen\":true,\"last_current\":2,\"window\":{}}",
        "{\"seen\":true,\"last_current\":2,\"window\":[1,\"2\"]}",
        "{\"seen\":true,\"last_current\":2.5,\"window\":[1]}",
        "{\"seen\":\"yes\",\"last_current\":2,\"window\":[1]}",
    };
    static const char *const ta_good[] = {
        "{\"seen\":true,\"last_current\":2,\"window\":[1,2.5]}",
        "{\"seen\":false,\"last_current\":0,\"window\":[]}",
    };
    check_loads(TA_DEF, ta_bad, sizeof(ta_bad) / sizeof(ta_bad[0]), -1);
    check_loads(TA_DEF, ta_good, sizeof(ta_good) / sizeof(ta_good[0]), 0);
    /* a window longer than the area holds */
    char big[4096] = "{\"seen\":true,\"last_current\":2,\"window\":[0";
    for (int i = 0; i < 256; i++)
        strcat(big, ",1");
    strcat(big, "]}");
    const char *const too_long[] = {big};
    check_loads(TA_DEF, too_long, 1, -1);
}

/* Through the whole decision: the core's bounds and its failure rule come after the policy. */
static void test_through_decide(void **state)
{
    (void)state;
    struct as_err err;
    char policy[256];
    snprintf(policy, sizeof(policy), "%s      up_after: 1\n", TC_DEF);
    struct as_config *cfg = parse(policy, &err);
    assert_non_null(cfg);
    struct as_group_cfg *g = &cfg->groups[0];
    g->max = 4;
    struct as_group_state st = {0};
    struct as_metric_obs m[2] = {{.ok = 1, .value = 5000}, {.ok = 1}};
    struct as_obs obs = {.current = 4, .n = 2, .m = m};
    struct as_decision d;
    as_decide(g, &st, &obs, &d);
    assert_int_equal(d.desired, 4);
    assert_non_null(strstr(d.reason, "4+1=5; capped at max 4 (wanted 5)"));
    /* every metric failed: the core holds without asking the policy */
    m[0].ok = m[1].ok = 0;
    as_decide(g, &st, &obs, &d);
    assert_int_equal(d.desired, 4);
    assert_non_null(strstr(d.reason, "no valid metric"));
    as_group_state_free(&st);
    as_config_unref(cfg);
}

static void test_registered(void **state)
{
    (void)state;
    assert_ptr_equal(as_policy_find("threshold_consecutive"), &as_policy_threshold_consecutive_ops);
    assert_ptr_equal(as_policy_find("threshold_average"), &as_policy_threshold_average_ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered),
        cmocka_unit_test(test_consecutive_rows),
        cmocka_unit_test(test_average_rows),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_restart_keeps_streak),
        cmocka_unit_test(test_restart_keeps_window),
        cmocka_unit_test(test_load_rejects_malformed),
        cmocka_unit_test(test_through_decide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
