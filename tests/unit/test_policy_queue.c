/* Policy queue (EverAI's simple queue autoscaler): tables of rounds (count, queue length,
 * per-worker idle times -> raw recommendation and the rule in its reason), and option errors
 * at their exact line:column. */
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

#define F NAN       /* a failed measurement */
#define NOSAMPLE -2 /* a replica without a sample (ok = 0) */
#define UNKNOWN -1  /* idle time unknown */
#define BUSY 0

/* Named so the archive member is linked in (the registry's reference is weak). */
extern const struct as_policy_ops as_policy_queue_ops;

/* Lines 1-18; `policy:` is line 19, its mapping starts at 20:7. */
#define HEAD                                                                                       \
    "log_file: ''\n"                                                                               \
    "groups:\n"                                                                                    \
    "  g:\n"                                                                                       \
    "    min: 0\n"                                                                                 \
    "    max: 10\n"                                                                                \
    "    behavior: off\n"                                                                          \
    "    metrics:\n"                                                                               \
    "      - name: queue\n"                                                                        \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /queue\n"                                                                    \
    "      - name: workers\n"                                                                      \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /busy\n"                                                                     \
    "    scaler:\n"                                                                                \
    "      type: http\n"                                                                           \
    "      url: http://127.0.0.1:1/r\n"

#define POLICY "    policy:\n      type: queue\n"

struct step {
    int current;
    double queue;    /* F = failed */
    int on;          /* which metric carries the per-replica data: 0 queue, 1 workers */
    int workers_ok;  /* the `workers` metric's own ok flag */
    size_t n;        /* replicas reported */
    int64_t idle[8]; /* idle_ms per replica, or NOSAMPLE */
    int want, valid;
    const char *reason; /* substring; NULL ends the steps */
};

struct queue_case {
    const char *name;
    const char *policy;
    struct step steps[8];
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
    struct as_replica_obs r[8];
    for (size_t k = 0; k < s->n; k++)
        r[k] = (struct as_replica_obs){.ok = s->idle[k] != NOSAMPLE,
                                       .value = 1,
                                       .ready = 1,
                                       .age_ms = -1,
                                       .idle_ms = s->idle[k]};
    struct as_metric_obs m[2] = {{.ok = !isnan(s->queue), .value = s->queue},
                                 {.ok = s->workers_ok, .value = 1}};
    m[s->on].nreplicas = s->n;
    m[s->on].replicas = r;
    struct as_obs obs = {.now_ms = (int64_t)i * 15000, .current = s->current, .n = 2, .m = m};
    struct as_rec rec;
    memset(&rec, 0x55, sizeof(rec));
    g->policy->recommend(g->policy_cfg, g, &obs, state, &rec);
    if (rec.desired == s->want && rec.valid == s->valid && strstr(rec.reason, s->reason))
        return 0;
    print_error("%s, step %zu: got %d (valid %d) \"%s\", want %d (valid %d) containing \"%s\"\n",
                name, i, rec.desired, rec.valid, rec.reason, s->want, s->valid, s->reason);
    return -1;
}

#define M2 120000 /* EverAI's default max_idle_time, 120 s */

static const struct queue_case cases[] = {
    {"defaults: a queue longer than 1 adds 1, up to the group's max",
     POLICY,
     {{3, 2, 0, 1, 0, {0}, 4, 1, "queue=2 > max_queue_size 1: 3+1=4"},
      {9, 50, 0, 1, 0, {0}, 10, 1, "9+1=10"},
      {10, 50, 0, 1, 0, {0}, 10, 1, "queue=50 > max_queue_size 1, at max_workers 10: keep 10"},
      {0}}},
    {"a short queue without idle data holds",
     POLICY,
     {{4, 1, 0, 1, 0, {0}, 4, 1, "queue=1 <= max_queue_size 1, no idle data: keep 4"},
      {4, 0, 0, 1, 0, {0}, 4, 1, "queue=0 <= max_queue_size 1, no idle data: keep 4"},
      {0}}},
    {"workers idle at least max_idle_time are released (EverAI compares with >=)",
     POLICY,
     {{6,
       0,
       0,
       1,
       6,
       {BUSY, M2 + 10000, 200000, UNKNOWN, M2 - 1, M2},
       3,
       1,
       "queue=0 <= max_queue_size 1, 3 worker(s) idle >= 2m: release 3 (min_workers 1): 6-3=3"},
      {3, 0, 0, 1, 3, {BUSY, M2 - 1, UNKNOWN}, 3, 1, "no worker idle >= 2m: keep 3"},
      {3, 0, 0, 1, 2, {NOSAMPLE, 500000}, 2, 1, "1 worker(s) idle >= 2m: release 1"},
      {0}}},
    {"releases stop at min_workers",
     POLICY "      min_workers: 3\n",
     {{4,
       0,
       0,
       1,
       4,
       {M2, M2, M2, BUSY},
       3,
       1,
       "3 worker(s) idle >= 2m: release 1 (min_workers "
       "3): 4-1=3"},
      {3, 0, 0, 1, 3, {M2, M2, M2}, 3, 1, "3 worker(s) idle >= 2m but at min_workers 3: keep 3"},
      {2, 5, 0, 1, 0, {0}, 3, 1, "2 workers below min_workers 3: 3"}, /* before the queue */
      {0}}},
    {"scale_up_step is capped at max_workers; above max_workers goes down to it",
     POLICY "      max_workers: 6\n      scale_up_step: 3\n      max_queue_size: 20\n",
     {{2, 21, 0, 1, 0, {0}, 5, 1, "queue=21 > max_queue_size 20: 2+3=5"},
      {5, 21, 0, 1, 0, {0}, 6, 1, "5+1=6 (capped at max_workers 6)"},
      {5, 20, 0, 1, 0, {0}, 5, 1, "queue=20 <= max_queue_size 20, no idle data"},
      {8, 0, 0, 1, 0, {0}, 6, 1, "8 workers above max_workers 6: 6"},
      {0}}},
    {"a failed queue measurement decides nothing",
     POLICY,
     {{4, F, 0, 1, 2, {M2, M2}, 4, 0, "queue metric queue failed"}, {0}}},
    {"workers_metric: idle data from the other metric, and only from it",
     POLICY "      workers_metric: workers\n      max_idle_time: 30s\n",
     {{5, 0, 1, 1, 3, {30000, 29999, 45000}, 3, 1, "2 worker(s) idle >= 30s: release 2"},
      {5, 0, 0, 1, 3, {30000, 30000, 30000}, 5, 1, "no idle data: keep 5"},
      {5, 0, 1, 0, 3, {30000, 30000, 30000}, 5, 1, "no idle data: keep 5"}, /* it failed */
      {0}}},
    {"metric: the queue is read from the named metric",
     POLICY "      metric: workers\n      workers_metric: workers\n      max_queue_size: 0\n",
     {{2, 0, 0, 1, 0, {0}, 3, 1, "workers=1 > max_queue_size"}, {0}}},
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
        /* Stateless: it declares no state and runs on none (NULL: a write would crash). */
        assert_int_equal(cfg->groups[0].policy->state_size, 0);
        for (size_t i = 0; cases[c].steps[i].reason; i++)
            failures += round_ok(cases[c].name, i, &cfg->groups[0], NULL, &cases[c].steps[i]) < 0;
        as_config_unref(cfg);
    }
    assert_int_equal(failures, 0);
}

struct bad_case {
    const char *policy;
    const char *want; /* "line:col: message" substring */
};

static const struct bad_case bad[] = {
    {POLICY "      min_workers: 5\n      max_workers: 3\n",
     "21:20: group 'g' policy: min_workers (5) is greater than max_workers (3)"},
    {POLICY "      metric: backlog\n", "21:15: group 'g' policy: 'metric': no metric named "
                                       "'backlog'"},
    {POLICY "      workers_metric: pool\n", "21:23: group 'g' policy: 'workers_metric': no "
                                            "metric named 'pool'"},
    {POLICY "      max_idle_time: 2x\n", "21:22: group 'g' policy: 'max_idle_time' must be a "
                                         "duration"},
    {POLICY "      scale_up_step: 0\n", "21:22: group 'g' policy: 'scale_up_step' must be "
                                        "between 1 and"},
    {POLICY "      max_workers: 0\n", "21:20: group 'g' policy: 'max_workers' must be between 1"},
    {POLICY "      max_queue_size: -1\n", "21:23: group 'g' policy: 'max_queue_size' must be "
                                          "between 0 and"},
    {POLICY "      min_worker: 1\n", "21:7: unknown key 'min_worker' in group 'g' policy"},
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

/* Through the whole decision: the group's min applies after the policy's own release. */
static void test_through_decide(void **state)
{
    (void)state;
    struct as_err err;
    struct as_config *cfg = parse(POLICY "      min_workers: 0\n", &err);
    assert_non_null(cfg);
    struct as_group_cfg *g = &cfg->groups[0];
    g->min = 2;
    struct as_replica_obs r[4] = {{.ok = 1, .idle_ms = M2},
                                  {.ok = 1, .idle_ms = M2},
                                  {.ok = 1, .idle_ms = M2},
                                  {.ok = 1, .idle_ms = M2}};
    struct as_metric_obs m[2] = {{.ok = 1, .value = 0, .nreplicas = 4, .replicas = r}, {.ok = 1}};
    struct as_obs obs = {.current = 4, .n = 2, .m = m};
    struct as_group_state st = {0};
    struct as_decision d;
    as_decide(g, &st, &obs, &d);
    assert_int_equal(d.desired, 2);
    assert_non_null(
        strstr(d.reason, "release 4 (min_workers 0): 4-4=0; raised to min 2 (wanted 0)"));
    /* a failed metric (here `workers`) never lets the group scale down */
    m[1].ok = 0;
    as_decide(g, &st, &obs, &d);
    assert_int_equal(d.desired, 4);
    assert_non_null(strstr(d.reason, "metric workers failed and might want more"));
    as_group_state_free(&st);
    as_config_unref(cfg);
}

static void test_registered(void **state)
{
    (void)state;
    assert_ptr_equal(as_policy_find("queue"), &as_policy_queue_ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_through_decide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
