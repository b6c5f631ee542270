/* The `panic` policy (Knative's KPA) against the cases of knative/serving
 * pkg/autoscaler/scaling/autoscaler_test.go as PEER_VECTORS.md §5 lists them (§5a table, §5b
 * scenarios), plus the other cases of that file, the policy's own windows, state JSON and
 * configuration errors. Rows call the policy directly: its desired count is Knative's
 * DesiredPodCount (the core's bounds and behavior stage are not involved). */
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
#include "policies/panic.h"

#define NOW 1000000  /* ms; the "time.Now()" of the upstream tests */
#define NONE -999999 /* no EBC to check */

/* The upstream harness (newTestAutoscaler): PanicThreshold 2, rates 10/10, stable window 60 s,
 * reachable, TotalValue = target / 0.75. */
#define HARNESS_BASE                                                                               \
    "stable_metric: stable, panic_metric: panic, target_utilization: 0.75, panic_threshold: 2, "   \
    "stable_window: 60s"
#define HARNESS HARNESS_BASE ", max_scale_up_rate: 10, max_scale_down_rate: 10"

/* Its state after creation with readyCount 1: not in panic, maxPanicPods 1. */
static const char harness_state[] =
    "{\"panic\": false, \"panic_time_ms\": 0, \"max_panic_pods\": 1, \"delay\": []}";

static struct as_config *make_cfg(const char *opts, struct as_err *err)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "log_file: ''\n"
             "groups:\n"
             "  kpa:\n"
             "    min: 0\n"
             "    max: 100000\n"
             "    behavior: off\n"
             "    policy: {type: panic, %s}\n"
             "    metrics:\n"
             "      - {name: stable, type: http_json, url: 'http://127.0.0.1:1/m', pointer: /s}\n"
             "      - {name: panic, type: http_json, url: 'http://127.0.0.1:1/m', pointer: /p}\n"
             "    scaler: {type: http, url: 'http://127.0.0.1:1/r'}\n",
             opts);
    as_err_clear(err);
    return as_config_parse("kpa.yaml", text, err);
}

/* A group plus its policy state; the state sits at an odd offset on purpose (the policy must
 * not assume alignment). */
struct kpa {
    struct as_config *cfg;
    const struct as_group_cfg *g;
    unsigned char raw[AS_POLICY_STATE_MAX + 8];
    unsigned char *state;
};

static void kpa_open(struct kpa *k, const char *opts, const char *state_json)
{
    struct as_err err;
    k->cfg = make_cfg(opts, &err);
    if (k->cfg == NULL)
        fail_msg("config: %s:%d:%d: %s", err.file, err.line, err.col, err.msg);
    k->g = as_config_group(k->cfg, "kpa");
    assert_ptr_equal(k->g->policy, &as_policy_panic_ops);
    memset(k->raw, 0, sizeof(k->raw));
    k->state = k->raw + 4;
    if (state_json != NULL) {
        json_t *j = json_loads(state_json, 0, NULL);
        assert_non_null(j);
        assert_int_equal(as_policy_panic_ops.load(k->g->policy_cfg, k->state, j), 0);
        json_decref(j);
    }
}

static void kpa_close(struct kpa *k)
{
    as_config_unref(k->cfg);
}

/* One Scale() call: the stable and panic values (NAN = failed) at t ms with `ready` replicas. */
static struct as_rec kpa_step(struct kpa *k, int64_t t, int ready, double stable, double panic)
{
    struct as_metric_obs m[2] = {{.ok = !isnan(stable), .value = stable},
                                 {.ok = !isnan(panic), .value = panic}};
    struct as_obs obs = {.now_ms = t, .current = ready, .n = 2, .m = m};
    struct as_rec rec;
    k->g->policy->recommend(k->g->policy_cfg, k->g, &obs, k->state, &rec);
    return rec;
}

static json_t *kpa_save(const struct kpa *k)
{
    json_t *j = json_object();
    assert_int_equal(as_policy_panic_ops.save(k->g->policy_cfg, k->state, j), 0);
    return j;
}

static int kpa_in_panic(const struct kpa *k, int64_t *since)
{
    json_t *j = kpa_save(k);
    int p = json_is_true(json_object_get(j, "panic"));
    if (since)
        *since = json_integer_value(json_object_get(j, "panic_time_ms"));
    json_decref(j);
    return p;
}

static int reason_ebc(const char *reason)
{
    static const char key[] = "excess burst capacity ";
    const char *p = strstr(reason, key);
    assert_non_null(p);
    return atoi(p + sizeof(key) - 1);
}

/* ---- §5a: TestAutoscalerScale (one evaluation) ---- */

struct row {
    const char *label;
    double target, tbc, stable, panic;
    int ready;
    double up, down; /* MaxScaleUpRate, MaxScaleDownRate (prepFunc may change them) */
    int reachable;
    const char *state; /* prepFunc's panic state; NULL: the harness's */
    int want, ebc;
};

static const char prep_panic[] =
    "{\"panic\": true, \"panic_time_ms\": 995000, \"max_panic_pods\": 5, \"delay\": []}";

static const struct row rows[] = {
    /* PEER_VECTORS §5a */
    {"AutoscalerNoDataAtZeroNoAutoscale", 10, 100, 0, 0, 1, 10, 10, 1, NULL, 0, -87},
    {"AutoscalerStableModeUnlimitedTBC", 181, -1, 21, 26, 1, 10, 10, 1, NULL, 1, -1},
    {"AutoscalerStableModeNoChange", 10, 100, 50, 50, 1, 10, 10, 1, NULL, 5, -137},
    {"AutoscalerPanicStableLessThanPanic", 1, 100, 20, 30, 5, 10, 10, 1, prep_panic, 30, -124},
    {"AutoscalerStableModeIncreaseWithSmallScaleUpRate", 1, 1982, 3, 3.1, 2, 1.1, 10, 1, NULL, 3,
     -1983},
    {"AutoscalerStableModeDecreaseNonReachable", 10, 1982, 1, 1, 100, 10, 1.1, 0, NULL, 1, -650},
    /* The same upstream table, rows PEER_VECTORS does not list */
    {"AutoscalerNoDataAtZeroNoAutoscaleWithExplicitEPs", 10, 100, 0, 0, 1, 10, 10, 1, NULL, 0, -87},
    {"Autoscaler0TBC", 10, 0, 50, 49, 1, 10, 10, 1, NULL, 5, 0},
    {"AutoscalerPanicStableLargerThanPanic", 1, 100, 50, 30, 5, 10, 10, 1, prep_panic, 50, -124},
    {"AutoscalerStableModeNoChangeAlreadyScaled", 10, 100, 50, 50, 5, 10, 10, 1, NULL, 5, -84},
    {"AutoscalerStableModeDecreaseWithSmallScaleDownRate", 10, 1982, 1, 1, 100, 10, 1.1, 1, NULL,
     90, -650},
    {"AutoscalerPanicModeDoublePodCount", 10, 84, 50, 100, 1, 10, 10, 1, NULL, 10, -171},
};

static void test_scale_table(void **unused)
{
    (void)unused;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        char opts[512];
        struct kpa k;
        snprintf(opts, sizeof(opts),
                 HARNESS_BASE ", target: %g, target_burst_capacity: %g, max_scale_up_rate: %g, "
                              "max_scale_down_rate: %g, reachable: %s",
                 r->target, r->tbc, r->up, r->down, r->reachable ? "true" : "false");
        kpa_open(&k, opts, r->state ? r->state : harness_state);
        struct as_rec rec = kpa_step(&k, NOW, r->ready, r->stable, r->panic);
        if (rec.desired != r->want || reason_ebc(rec.reason) != r->ebc || !rec.valid)
            fail_msg("%s: desired %d (want %d), reason: %s", r->label, rec.desired, r->want,
                     rec.reason);
        assert_int_equal((int)as_panic_ebc(r->tbc, r->target / 0.75, r->ready, r->panic), r->ebc);
        kpa_close(&k);
    }
}

/* ---- §5b: scenarios (state carries over) ---- */

struct step {
    double t; /* seconds after NOW */
    int ready;
    double stable, panic;
    int want;
    int ebc;      /* NONE: not checked */
    int panic_on; /* -1: not checked; else the panic mode after the step */
    double since; /* with panic_on 1: the panic time, seconds after NOW (NAN: not checked) */
};

struct scenario {
    const char *test;
    const char *opts;
    const char *state; /* NULL: the harness's; "": fresh (created with readyCount 0) */
    struct step steps[10];
};

#define END                                                                                        \
    {                                                                                              \
        -1, 0, 0, 0, 0, 0, 0, 0                                                                    \
    }
#define U NAN

static const struct scenario scenarios[] = {
    /* PEER_VECTORS §5b */
    {"TestAutoscalerStableModeIncreaseWithConcurrencyDefault",
     HARNESS ", target: 10, target_burst_capacity: 101",
     NULL,
     {{0, 1, 50, 10, 5, -98, 0, U}, {0, 1, 100, 10, 10, -98, 0, U}, END}},
    {"TestAutoscalerMetricsWithRPS",
     HARNESS ", target: 10, target_burst_capacity: 100",
     NULL,
     {{61, 1, 100, 99, 10, -186, 1, 61}, END}},
    {"TestAutoscalerStableModeNoTrafficScaleToZero",
     HARNESS ", target: 10, target_burst_capacity: 75",
     NULL,
     {{0, 1, 1, 0, 1, -62, 0, U}, {0, 1, 0, 0, 0, -62, 0, U}, END}},
    {"TestAutoscalerRateLimitScaleUp",
     HARNESS ", target: 10, target_burst_capacity: 61",
     NULL,
     {{0, 1, 1000, 1001, 10, -1049, 1, U}, {0, 10, 1000, 1001, 100, -929, 1, U}, END}},
    {"TestAutoscalerUseOnePodAsMinimumIfEndpointsNotFound",
     HARNESS ", target: 10, target_burst_capacity: 81",
     NULL,
     {{0, 0, 1000, 888, 10, -969, -1, U}, END}},
    {"TestAutoscalerPanicThenUnPanicScaleDown",
     HARNESS ", target: 10, target_burst_capacity: 93",
     NULL,
     {{0, 1, 100, 100, 10, -180, 1, 0},
      {0, 10, 100, 1000, 100, -960, 1, 0},
      {30, 10, 1, 1, 100, 39, 1, 0},
      {61, 10, 1, 1, 1, 39, 0, U},
      END}},
    {"TestAutoscalerExtendPanicWindow",
     HARNESS ", target: 1, target_burst_capacity: 98",
     NULL,
     {{0, 10, 11, 25, 25, -110, 1, 0}, {30, 40, 30, 80, 80, -125, 1, 30}, END}},
    {"TestAutoscalerScaleDownDelay (simple, then gradual)",
     "stable_metric: stable, panic_metric: panic, target: 10, max_scale_up_rate: 10, "
     "max_scale_down_rate: 10, panic_threshold: 100, scale_down_delay: 5m, "
     "target_burst_capacity: 0",
     "",
     {{2, 0, 40, 40, 4, 0, 0, U},
      {300, 0, 0, 0, 4, 0, 0, U},
      {302, 0, 0, 0, 0, 0, 0, U},
      {540, 0, 40, 40, 4, 0, 0, U},
      {600, 0, 30, 30, 4, 0, 0, U},
      {660, 0, 0, 0, 4, 0, 0, U},
      {840, 0, 0, 0, 3, 0, 0, U},
      {900, 0, 0, 0, 0, 0, 0, U},
      END}},
    {"TestAutoscalerScaleDownDelayZero",
     "stable_metric: stable, panic_metric: panic, target: 10, max_scale_up_rate: 10, "
     "max_scale_down_rate: 10, panic_threshold: 100, target_burst_capacity: 0",
     "",
     {{0, 0, 40, 40, 4, 0, 0, U}, {0.5, 0, 20, 20, 2, 0, 0, U}, END}},
    /* The same upstream file, scenarios PEER_VECTORS does not list */
    {"TestAutoscalerStableModeIncreaseWithRPS",
     HARNESS ", target: 10, target_burst_capacity: 101",
     NULL,
     {{0, 1, 50, 50, 5, -138, 1, U}, {0, 1, 100, 99, 10, -187, 1, U}, END}},
    {"TestAutoscalerUnpanicAfterSlowIncrease",
     HARNESS ", target: 1, target_burst_capacity: 98",
     NULL,
     {{0, 10, 11, 25, 25, -110, 1, 0},
      {30, 40, 30, 41, 41, -86, 1, 0},
      {62, 55, 50, 56, 50, -81, 0, U},
      END}},
    {"TestAutoscalerStableModeDecrease",
     HARNESS ", target: 10, target_burst_capacity: 98",
     NULL,
     {{0, 8, 100, 100, 10, -92, 0, U}, {0, 8, 50, 50, 5, -42, 0, U}, END}},
    {"TestAutoscalerActivationScale",
     HARNESS ", target: 10, target_burst_capacity: 75, activation_scale: 2",
     NULL,
     {{0, 1, 0, 0, 0, -62, 0, U}, {0, 1, 1, 0, 2, -62, 0, U}, END}},
    {"TestAutoscalerPanicModeExponentialTrackAndStabilize",
     HARNESS ", target: 1, target_burst_capacity: 101",
     NULL,
     {{0, 1, 6, 6, 6, -106, 1, 0},
      {0, 6, 36, 36, 36, -129, 1, 0},
      {1, 36, 216, 216, 216, -269, 1, 1},
      {1, 216, 1296, 1296, 1296, -1109, 1, 1},
      {2, 1296, 1296, 1296, 1296, 331, 1, U},
      END}},
    {"TestAutoscalerRateLimitScaleDown",
     HARNESS ", target: 10, target_burst_capacity: 61",
     NULL,
     {{0, 100, 1, 1, 10, 1271, 0, U}, {0, 10, 1, 1, 1, 71, 0, U}, END}},
    /* Edge of the un-panic rule: panic time + stable window must be strictly before now. */
    {"un-panic edge (exactly 60 s stays in panic)",
     HARNESS ", target: 10, target_burst_capacity: 93",
     NULL,
     {{0, 10, 100, 1000, 100, NONE, 1, 0},
      {60, 10, 1, 1, 100, NONE, 1, 0},
      {60.001, 10, 1, 1, 1, NONE, 0, U},
      END}},
};

static void check_step(const struct scenario *s, size_t i, struct kpa *k)
{
    const struct step *st = &s->steps[i];
    int64_t t = NOW + (int64_t)llround(st->t * 1000), since;
    struct as_rec rec = kpa_step(k, t, st->ready, st->stable, st->panic);
    int in_panic = kpa_in_panic(k, &since);
    if (!rec.valid || rec.desired != st->want ||
        (st->ebc != NONE && reason_ebc(rec.reason) != st->ebc))
        fail_msg("%s step %zu: desired %d (want %d): %s", s->test, i + 1, rec.desired, st->want,
                 rec.reason);
    if (st->panic_on >= 0 && in_panic != st->panic_on)
        fail_msg("%s step %zu: panic %d, want %d: %s", s->test, i + 1, in_panic, st->panic_on,
                 rec.reason);
    if (st->panic_on == 1 && !isnan(st->since) && since != NOW + llround(st->since * 1000))
        fail_msg("%s step %zu: panic time %lld, want +%gs", s->test, i + 1, (long long)since,
                 st->since);
    assert_int_equal(rec.no_scale_down, in_panic);
}

static void test_scenarios(void **unused)
{
    (void)unused;
    for (size_t n = 0; n < sizeof(scenarios) / sizeof(scenarios[0]); n++) {
        const struct scenario *s = &scenarios[n];
        struct kpa k;
        kpa_open(&k, s->opts, s->state == NULL ? harness_state : s->state[0] ? s->state : NULL);
        for (size_t i = 0; s->steps[i].t >= 0; i++)
            check_step(s, i, &k);
        kpa_close(&k);
    }
}

/* TestStartInPanicMode: created with 0 or 1 ready: no panic, maxPanicPods = ready; with 2:
 * panic, maxPanicPods 2. Here "created" is the first round with a fresh state. */
static void test_start_in_panic(void **unused)
{
    (void)unused;
    for (int ready = 0; ready <= 3; ready++) {
        struct kpa k;
        kpa_open(&k, HARNESS ", target: 100", NULL);
        struct as_rec rec = kpa_step(&k, NOW, ready, 0, 0);
        json_t *j = kpa_save(&k);
        assert_int_equal(json_is_true(json_object_get(j, "panic")), ready > 1);
        assert_int_equal(json_integer_value(json_object_get(j, "max_panic_pods")), ready);
        /* Nothing wanted, but a restart in panic keeps the current scale. */
        assert_int_equal(rec.desired, ready > 1 ? ready : 0);
        assert_int_equal(rec.no_scale_down, ready > 1);
        if (ready > 1)
            assert_non_null(strstr(rec.reason, "started in panic"));
        json_decref(j);
        kpa_close(&k);
    }
}

/* TestAutoscalerNoDataNoAutoscale (and the nearest we have to TestCantCountPods): a failed
 * measurement gives no decision and leaves the panic state alone. */
static void test_failed_metric(void **unused)
{
    (void)unused;
    struct kpa k;
    kpa_open(&k, HARNESS ", target: 10, target_burst_capacity: 100", harness_state);
    struct as_rec rec = kpa_step(&k, NOW, 1, NAN, 50);
    assert_int_equal(rec.valid, 0);
    assert_non_null(strstr(rec.reason, "stable failed"));
    rec = kpa_step(&k, NOW, 1, 50, NAN);
    assert_int_equal(rec.valid, 0);
    assert_false(kpa_in_panic(&k, NULL));
    kpa_close(&k);
}

/* The reason names the rule (the brief's example: panic with stable 20, panic 30). */
static void test_reason(void **unused)
{
    (void)unused;
    struct kpa k;
    kpa_open(&k, HARNESS ", target: 1, target_burst_capacity: 100", prep_panic);
    struct as_rec rec = kpa_step(&k, NOW, 5, 20, 30);
    assert_string_equal(rec.reason,
                        "stable window ceil(20/1)=20, panic window ceil(30/1)=30, within [0,50], "
                        "5 ready: the panic window wants 6x the ready >= threshold 2: panic "
                        "extended: desired max(stable 20, panic 30)=30; excess burst capacity "
                        "-124");
    kpa_close(&k);
}

/* ---- the policy's own windows (`metric:`) ---- */

static struct as_rec own_step(struct kpa *k, int64_t t, int ready, double v)
{
    struct as_metric_obs m[2] = {{.ok = !isnan(v), .value = v}, {.ok = 0}};
    struct as_obs obs = {.now_ms = t, .current = ready, .n = 2, .m = m};
    struct as_rec rec;
    k->g->policy->recommend(k->g->policy_cfg, k->g, &obs, k->state, &rec);
    return rec;
}

static void test_own_windows(void **unused)
{
    (void)unused;
    struct kpa k;
    kpa_open(&k, "metric: stable, target: 10, max_scale_up_rate: 10", NULL);
    struct as_rec rec;
    for (int t = 0; t < 60; t += 2) { /* 30 samples of 10 */
        rec = own_step(&k, t * 1000, 1, 10);
        assert_int_equal(rec.desired, 1);
    }
    /* A failed round records nothing and decides nothing. */
    rec = own_step(&k, 59000, 1, NAN);
    assert_int_equal(rec.valid, 0);
    /* At 60 s: stable = buckets (0,60] = 29 x 10 + 100 over 30 = 13, panic = (56,60] =
     * (10 + 10 + 100) / 3 = 40: the panic window wants 4 over 1 ready >= 2 -> panic, max(2, 4) = 4.
     */
    rec = own_step(&k, 60000, 1, 100);
    assert_non_null(strstr(rec.reason, "stable window ceil(13/10)=2, panic window ceil(40/10)=4"));
    assert_int_equal(rec.desired, 4);
    assert_true(kpa_in_panic(&k, NULL));
    /* Saved and loaded, the history gives the same next decision. */
    json_t *j = kpa_save(&k);
    struct kpa k2;
    kpa_open(&k2, "metric: stable, target: 10, max_scale_up_rate: 10", NULL);
    assert_int_equal(as_policy_panic_ops.load(k2.g->policy_cfg, k2.state, j), 0);
    struct as_rec a = own_step(&k, 62000, 4, 10), b = own_step(&k2, 62000, 4, 10);
    assert_int_equal(a.desired, b.desired);
    assert_string_equal(a.reason, b.reason);
    json_t *j2 = kpa_save(&k), *j3 = kpa_save(&k2);
    assert_true(json_equal(j2, j3));
    json_decref(j);
    json_decref(j2);
    json_decref(j3);
    kpa_close(&k);
    kpa_close(&k2);
}

/* A delay window with more distinct values than the state keeps never lowers the maximum. */
static void test_delay_overflow(void **unused)
{
    (void)unused;
    struct kpa k;
    kpa_open(&k,
             "stable_metric: stable, panic_metric: panic, target: 1, panic_threshold: 1e6, "
             "max_scale_down_rate: 1000, scale_down_delay: 1h",
             NULL);
    for (int i = 0; i < 300; i++) { /* 300, 299, ... 1 every 2 s: the max stays 300 */
        struct as_rec rec = kpa_step(&k, (int64_t)i * 2000, 1, 300 - i, 0);
        assert_int_equal(rec.desired, 300);
    }
    json_t *j = kpa_save(&k);
    assert_true(json_array_size(json_object_get(j, "delay")) <= 96);
    json_decref(j);
    /* Past the hour the maximum falls, never below what is really in the window. */
    for (int i = 300; i < 2200; i++) {
        struct as_rec rec = kpa_step(&k, (int64_t)i * 2000, 1, 0, 0);
        int first = i - 1799; /* oldest bucket still in the window */
        int truth = first <= 0 ? 300 : first < 300 ? 300 - first : 0;
        assert_true(rec.desired >= truth);
        if (i >= 2100)
            assert_int_equal(rec.desired, 0);
    }
    kpa_close(&k);
}

static void test_load_rejects(void **unused)
{
    (void)unused;
    static const char *const bad[] = {
        "[]",
        "{}",
        "{\"panic\": 1, \"panic_time_ms\": 0, \"max_panic_pods\": 1, \"delay\": []}",
        "{\"panic\": true, \"panic_time_ms\": 0, \"max_panic_pods\": -1, \"delay\": []}",
        "{\"panic\": true, \"panic_time_ms\": 0, \"max_panic_pods\": 1, \"delay\": {}}",
        "{\"panic\": true, \"panic_time_ms\": 0, \"max_panic_pods\": 1, \"delay\": [[1, 2], [0, "
        "1]]}",
        "{\"panic\": true, \"panic_time_ms\": 0, \"max_panic_pods\": 1, \"delay\": [[1, 2], [2, "
        "3]]}",
        "{\"panic\": true, \"panic_time_ms\": 0, \"max_panic_pods\": 1, \"delay\": [[1, 2, 3]]}",
        "{\"panic\": true, \"panic_time_ms\": 0, \"max_panic_pods\": 1, \"delay\": [], \"x\": 1}",
        "{\"panic\": true, \"panic_time_ms\": 0, \"max_panic_pods\": 1, \"delay\": [], "
        "\"history\": {\"width_ms\": 2000, \"last\": 10, \"buckets\": [[11, 1.0, 1]]}}",
        "{\"panic\": true, \"panic_time_ms\": 0, \"max_panic_pods\": 1, \"delay\": [], "
        "\"history\": {\"width_ms\": 2000, \"last\": 300, \"buckets\": [[10, 1.0, 1]]}}",
        "{\"panic\": true, \"panic_time_ms\": 0, \"max_panic_pods\": 1, \"delay\": [], "
        "\"history\": {\"width_ms\": 2000, \"last\": 10, \"buckets\": [[10, 1.0, 0]]}}",
    };
    struct kpa k;
    kpa_open(&k, "metric: stable, target: 10", NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_loads(bad[i], 0, NULL);
        assert_non_null(j);
        if (as_policy_panic_ops.load(k.g->policy_cfg, k.state, j) != -1)
            fail_msg("accepted: %s", bad[i]);
        json_decref(j);
    }
    /* Too many delay entries. */
    json_t *many = json_array();
    for (int i = 0; i < 97; i++)
        json_array_append_new(many, json_pack("[ii]", i, 1000 - i));
    json_t *obj = json_pack("{s:b,s:i,s:i,s:o}", "panic", 0, "panic_time_ms", 0, "max_panic_pods",
                            0, "delay", many);
    assert_int_equal(as_policy_panic_ops.load(k.g->policy_cfg, k.state, obj), -1);
    json_decref(obj);
    /* History of another bucket width is dropped, the rest kept. */
    json_t *j = json_loads("{\"panic\": true, \"panic_time_ms\": 5, \"max_panic_pods\": 7, "
                           "\"delay\": [], \"history\": {\"width_ms\": 4000, \"last\": 10, "
                           "\"buckets\": [[10, 1.0, 1]]}}",
                           0, NULL);
    assert_int_equal(as_policy_panic_ops.load(k.g->policy_cfg, k.state, j), 0);
    json_decref(j);
    j = kpa_save(&k);
    assert_null(json_object_get(j, "history"));
    assert_int_equal(json_integer_value(json_object_get(j, "max_panic_pods")), 7);
    json_decref(j);
    kpa_close(&k);
}

struct bad_cfg {
    const char *opts;
    const char *key; /* the error is at this key's value; NULL: at column col */
    int col;
    const char *msg;
};

/* Column of key's value on the policy line: "    policy: {type: panic, " is 26 characters. */
static int value_col(const char *opts, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "%s: ", key);
    const char *p = strstr(opts, pat);
    assert_non_null(p);
    return 27 + (int)(p - opts) + (int)strlen(pat);
}

static void test_config_errors(void **unused)
{
    (void)unused;
    static const struct bad_cfg bad[] = {
        {"target: 10", NULL, 20, "the group has 2 metrics"},
        {"metric: nope, target: 10", "metric", 0, "no metric named 'nope'"},
        {"metric: stable, stable_metric: stable, panic_metric: panic, target: 10", "stable_metric",
         0, "not both"},
        {"stable_metric: stable, target: 10", "stable_metric", 0, "go together"},
        {"metric: stable, target: 10, target_burst_capacity: -0.5", "target_burst_capacity", 0,
         "-1 (unlimited)"},
        {"metric: stable, target: 10, max_scale_up_rate: 1", "max_scale_up_rate", 0,
         "must exceed 1"},
        {"metric: stable, target: 10, max_scale_down_rate: 1", "max_scale_down_rate", 0,
         "must exceed 1"},
        {"metric: stable, target: 10, panic_window: 2m", "panic_window", 0, "longer than"},
        {"metric: stable, target: 10, panic_window: 5s, panic_window_percentage: 20",
         "panic_window_percentage", 0, "not both"},
        {"metric: stable", NULL, 13, "'target'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct as_err err;
        struct as_config *cfg = make_cfg(bad[i].opts, &err);
        int col = bad[i].key ? value_col(bad[i].opts, bad[i].key) : bad[i].col;
        if (cfg != NULL || strstr(err.msg, bad[i].msg) == NULL || err.line != 7 || err.col != col)
            fail_msg("'%s': got %s:%d:%d: %s", bad[i].opts, err.file, err.line, err.col, err.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_table),    cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_start_in_panic), cmocka_unit_test(test_failed_metric),
        cmocka_unit_test(test_reason),         cmocka_unit_test(test_own_windows),
        cmocka_unit_test(test_delay_overflow), cmocka_unit_test(test_load_rejects),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
