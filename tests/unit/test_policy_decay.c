/* Policy decay (the Locust Pod Autoscaler): tables of rounds (count, latencies -> raw
 * recommendation and the rule in its reason), option errors at their exact line:column, and
 * the unchanged-run counter across a save/load. */
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

/* Named so the archive member is linked in (the registry's reference is weak). */
extern const struct as_policy_ops as_policy_decay_ops;

/* Lines 1-22; `policy:` is line 23, its mapping starts at 24:7. */
#define HEAD                                                                                       \
    "log_file: ''\n"                                                                               \
    "groups:\n"                                                                                    \
    "  g:\n"                                                                                       \
    "    min: 0\n"                                                                                 \
    "    max: 100\n"                                                                               \
    "    behavior: off\n"                                                                          \
    "    metrics:\n"                                                                               \
    "      - name: p95_ms\n"                                                                       \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /p95\n"                                                                      \
    "      - name: avg_ms\n"                                                                       \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /avg\n"                                                                      \
    "      - name: cpu\n"                                                                          \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /cpu\n"                                                                      \
    "    scaler:\n"                                                                                \
    "      type: http\n"                                                                           \
    "      url: http://127.0.0.1:1/r\n"

#define POLICY "    policy:\n      type: decay\n"
#define TARGETS POLICY "      targets: {p95_ms: 500, avg_ms: 200}\n"

struct step {
    int current;
    double p95, avg; /* F = failed; cpu, not a target, is always 99 */
    int want, valid;
    const char *reason; /* substring; NULL ends the steps */
};

struct decay_case {
    const char *name;
    const char *policy;
    struct step steps[12];
};

static struct as_config *parse(const char *policy, struct as_err *err)
{
    char text[4096];
    snprintf(text, sizeof(text), "%s%s", HEAD, policy);
    as_err_clear(err);
    return as_config_parse("p.yaml", text, err);
}

static int round_ok(const char *name, size_t i, const struct as_group_cfg *g, void *state,
                    const struct step *s)
{
    struct as_metric_obs m[3] = {{.ok = !isnan(s->p95), .value = s->p95},
                                 {.ok = !isnan(s->avg), .value = s->avg},
                                 {.ok = 1, .value = 99}};
    struct as_obs obs = {.now_ms = (int64_t)i * 60000, .current = s->current, .n = 3, .m = m};
    struct as_rec rec;
    memset(&rec, 0x55, sizeof(rec));
    g->policy->recommend(g->policy_cfg, g, &obs, state, &rec);
    if (rec.desired == s->want && rec.valid == s->valid && strstr(rec.reason, s->reason))
        return 0;
    print_error("%s, step %zu: got %d (valid %d) \"%s\", want %d (valid %d) containing \"%s\"\n",
                name, i, rec.desired, rec.valid, rec.reason, s->want, s->valid, s->reason);
    return -1;
}

static const struct decay_case cases[] = {
    {"Locust's example (replicas 1, unchangedRuns 3): the decay comes on the 4th quiet run",
     TARGETS,
     {{3, 400, 100, 3, 2, "no target exceeded: unchanged run 1 of 3: keep 3"},
      {3, 400, 100, 3, 2, "unchanged run 2 of 3"},
      {3, 400, 100, 3, 2, "unchanged run 3 of 3"},
      {3, 400, 100, 2, 2,
       "no target exceeded after 3 unchanged runs (unchanged_runs 3): decay "
       "3-1=2"},
      {2, 400, 100, 2, 2, "unchanged run 1 of 3"}, /* a decay is a change */
      {0}}},
    {"any target exceeded adds 1 and restarts the count",
     TARGETS,
     {{3, 400, 100, 3, 2, "unchanged run 1 of 3"},
      {3, 400, 100, 3, 2, "unchanged run 2 of 3"},
      {3, 600, 100, 4, 2, "p95_ms=600 > 500: target exceeded: 3+1=4"},
      {4, 400, 100, 4, 2, "unchanged run 1 of 3"},
      {4, 400, 250, 5, 2, "avg_ms=250 > 200: target exceeded: 4+1=5"},
      {0}}},
    {"two targets exceeded still add one step",
     TARGETS,
     {{3, 600, 300, 4, 2, "p95_ms=600 > 500, avg_ms=300 > 200: target exceeded: 3+1=4"}, {0}}},
    {"exactly at the limit is not exceeded (Locust compares with >)",
     TARGETS "      unchanged_runs: 1\n",
     {{3, 500, 200, 3, 2, "unchanged run 1 of 1"},
      {3, 500, 200, 2, 2, "decay 3-1=2"},
      {2, 500.5, 200, 3, 2, "p95_ms=500.5 > 500"},
      {0}}},
    {"a failed target metric: no decay count, but a valid breach still scales up",
     TARGETS,
     {{3, 400, 100, 3, 2, "unchanged run 1 of 3"},
      {3, F, 100, 3, 1,
       "p95_ms failed: no valid target exceeded, run not counted (1 of 3 "
       "unchanged): keep 3"},
      {3, 400, 100, 3, 2, "unchanged run 2 of 3"},
      {3, F, F, 3, 0, "p95_ms failed, avg_ms failed: no valid target exceeded, run not counted"},
      {3, 400, 100, 3, 2, "unchanged run 3 of 3"},
      {3, F, 300, 4, 1, "p95_ms failed, avg_ms=300 > 200: target exceeded: 3+1=4"},
      {4, 400, 100, 4, 2, "unchanged run 1 of 3"},
      {0}}},
    {"step, replicas and unchanged_runs 0 (decay on every quiet run)",
     POLICY "      targets: {avg_ms: 200}\n      step: 2\n      replicas: 3\n"
            "      unchanged_runs: 0\n",
     {{5, F, 100, 2, 1, "after 0 unchanged runs (unchanged_runs 0): decay 5-3=2"},
      {2, 9999, 100, 0, 1, "decay 2-3=0"}, /* p95 is not a target; never below zero */
      {0, F, 201, 2, 1, "avg_ms=201 > 200: target exceeded: 0+2=2"},
      {0}}},
    {"a decay that the bounds undo still counts as a change, as in Locust",
     TARGETS "      unchanged_runs: 1\n",
     {{1, 1, 1, 1, 2, "unchanged run 1 of 1"},
      {1, 1, 1, 0, 2, "decay 1-1=0"}, /* with a min of 1 the core would keep 1 */
      {1, 1, 1, 1, 2, "unchanged run 1 of 1"},
      {0}}},
};

static void test_rows(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct as_err err;
        struct as_config *cfg = parse(cases[c].policy, &err);
        if (cfg == NULL)
            fail_msg("%s: %s", cases[c].name, err.msg);
        struct as_group_state st = {0};
        void *area = as_policy_state(&st, &cfg->groups[0]);
        assert_non_null(area);
        for (size_t i = 0; cases[c].steps[i].reason; i++)
            failures += round_ok(cases[c].name, i, &cfg->groups[0], area, &cases[c].steps[i]) < 0;
        as_group_state_free(&st);
        as_config_unref(cfg);
    }
    assert_int_equal(failures, 0);
}

struct bad_case {
    const char *policy;
    const char *want; /* "line:col: message" substring */
};

static const struct bad_case bad[] = {
    {POLICY, "24:7: group 'g' policy: missing required key 'targets'"},
    {POLICY "      targets: {p95_ms: 500, p99_ms: 900}\n",
     "25:30: group 'g' policy: 'targets': no metric named 'p99_ms'"},
    {POLICY "      targets:\n        p95_ms: fast\n",
     "26:17: group 'g' policy: 'targets': the limit of 'p95_ms' must be a number >= 0"},
    {POLICY "      targets: {p95_ms: -1}\n", "25:25: group 'g' policy: 'targets': the limit of"},
    {POLICY "      targets: {}\n", "25:16: group 'g' policy: 'targets' may not be empty"},
    {POLICY "      targets: [p95_ms]\n", "25:16: group 'g' policy: 'targets' must be a mapping"},
    {TARGETS "      unchanged_runs: -1\n", "26:23: group 'g' policy: 'unchanged_runs' must be "
                                           "between 0 and"},
    {TARGETS "      step: 0\n", "26:13: group 'g' policy: 'step' must be between 1 and"},
    {TARGETS "      replicas: two\n", "26:17: group 'g' policy: 'replicas' must be an integer"},
    {TARGETS "      decay: 1\n", "26:7: unknown key 'decay' in group 'g' policy"},
    {POLICY "      targets: {a1: 1, a2: 1, a3: 1, a4: 1, a5: 1, a6: 1, a7: 1, a8: 1, a9: 1, "
            "a10: 1, a11: 1, a12: 1, a13: 1, a14: 1, a15: 1, a16: 1, a17: 1}\n",
     "25:16: group 'g' policy: 'targets' has 17 entries, at most 16"},
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

/* Two quiet runs, a restart, two more: the decay still comes on the 4th. */
static void test_restart_keeps_counter(void **state)
{
    (void)state;
    static const struct step steps[] = {{3, 1, 1, 3, 2, "unchanged run 1 of 3"},
                                        {3, 1, 1, 3, 2, "unchanged run 2 of 3"},
                                        {3, 1, 1, 3, 2, "unchanged run 3 of 3"},
                                        {3, 1, 1, 2, 2, "decay 3-1=2"},
                                        {0}};
    struct as_err err;
    struct as_config *cfg = parse(TARGETS, &err);
    assert_non_null(cfg);
    const struct as_group_cfg *g = &cfg->groups[0];
    struct as_group_state a = {0}, b = {0};
    assert_non_null(as_policy_state(&a, g));
    assert_non_null(as_policy_state(&b, g));
    int failures = 0;
    for (size_t i = 0; i < 2; i++)
        failures += round_ok("first life", i, g, a.policy, &steps[i]) < 0;
    json_t *obj = json_object();
    assert_int_equal(g->policy->save(g->policy_cfg, a.policy, obj), 0);
    char *text = json_dumps(obj, JSON_COMPACT);
    assert_string_equal(text, "{\"runs_since_change\":2}"); /* Locust's decay file, too */
    json_t *back = json_loads(text, 0, NULL);
    assert_int_equal(g->policy->load(g->policy_cfg, b.policy, back), 0);
    for (size_t i = 2; steps[i].reason; i++)
        failures += round_ok("second life", i, g, b.policy, &steps[i]) < 0;
    as_group_state_free(&a);
    as_group_state_free(&b);
    free(text);
    json_decref(obj);
    json_decref(back);
    as_config_unref(cfg);
    assert_int_equal(failures, 0);
}

static void test_load_rejects_malformed(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "[]",
        "7",
        "{}",
        "{\"runs_since_change\":-1}",
        "{\"runs_since_change\":\"2\"}",
        "{\"runs_since_change\":2.5}",
        "{\"runs_since_change\":null}",
    };
    struct as_err err;
    struct as_config *cfg = parse(TARGETS, &err);
    assert_non_null(cfg);
    const struct as_group_cfg *g = &cfg->groups[0];
    int failures = 0;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct as_group_state st = {0};
        unsigned char *area = as_policy_state(&st, g);
        assert_non_null(area);
        memset(area, 0x7f, g->policy->state_size);
        json_t *doc = json_loads(docs[i], JSON_DECODE_ANY, NULL);
        if (g->policy->load(g->policy_cfg, area, doc) != -1 || area[0] != 0x7f) {
            print_error("load(%s) accepted or wrote\n", docs[i]);
            failures++;
        }
        json_decref(doc);
        as_group_state_free(&st);
    }
    as_config_unref(cfg);
    assert_int_equal(failures, 0);
}

/* Through the whole decision: a decay below the group's min is raised back to it. */
static void test_through_decide(void **state)
{
    (void)state;
    struct as_err err;
    struct as_config *cfg = parse(TARGETS "      unchanged_runs: 0\n", &err);
    assert_non_null(cfg);
    struct as_group_cfg *g = &cfg->groups[0];
    g->min = 2;
    struct as_group_state st = {0};
    struct as_metric_obs m[3] = {{.ok = 1, .value = 1}, {.ok = 1, .value = 1}, {.ok = 1}};
    struct as_obs obs = {.current = 2, .n = 3, .m = m};
    struct as_decision d;
    as_decide(g, &st, &obs, &d);
    assert_int_equal(d.desired, 2);
    assert_non_null(strstr(d.reason, "decay 2-1=1; raised to min 2 (wanted 1)"));
    as_group_state_free(&st);
    as_config_unref(cfg);
}

static void test_registered(void **state)
{
    (void)state;
    assert_ptr_equal(as_policy_find("decay"), &as_policy_decay_ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_restart_keeps_counter),
        cmocka_unit_test(test_load_rejects_malformed),
        cmocka_unit_test(test_through_decide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
