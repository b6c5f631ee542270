/* The `predictive` policy and its forecaster (src/policies/predictive.c, forecast.c):
 * forecasts of synthetic seasonal series with trend and noise within error bounds, the
 * fallback to the reactive policy (no history, a forecast that does not help), failed rounds
 * as gaps, a flash crowd not learned as a level, the state's size, its JSON round trip and a
 * corrupt state rejected, `restored`, and configuration errors at file:line:column. */
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
#include "policies/forecast.h"

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL

extern const struct as_policy_ops as_policy_predictive_ops;

_Static_assert(sizeof(struct as_fc) + 16 <= AS_POLICY_STATE_MAX,
               "the forecaster's state fits the policy state area with room to spare");

/* ---- deterministic noise ---- */

static uint64_t rng = 88172645463325252ULL;

static double uniform(void) /* [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* A day-and-week seasonal demand in replicas, with an optional trend per day. */
static double seasonal(int64_t t_ms, double trend_per_day)
{
    double day = 2 * M_PI * (double)(t_ms % DAY_MS) / DAY_MS;
    int dow = (int)((t_ms / DAY_MS) % 7);
    double weekend = dow >= 5 ? 0.7 : 1.0;
    return (20 + 12 * sin(day) + trend_per_day * (double)t_ms / DAY_MS) * weekend;
}

/* ---- the forecaster alone ---- */

struct errs {
    double fc, naive; /* mean relative errors */
};

/* Feeds `days` of one-minute rounds, then scores the forecast `lead_ms` ahead over one more
 * day against no change. */
static struct errs run_series(struct as_fc *s, const struct as_fc_params *p, int days, double trend,
                              double noise)
{
    struct errs e = {0, 0};
    int n = 0;
    int64_t end = (int64_t)days * DAY_MS, h = p->lead_ms / MIN_MS;
    for (int64_t t = 0; t < end + DAY_MS; t += MIN_MS) {
        double d = seasonal(t, trend) * (1 + noise * (uniform() * 2 - 1));
        as_fc_learn(s, p, t, t, d);
        if (t < end)
            continue;
        double f = as_fc_forecast(s, p, t), actual = seasonal(t + h * MIN_MS, trend);
        e.fc += fabs(f - actual) / actual;
        e.naive += fabs(d - actual) / actual;
        n++;
    }
    e.fc /= n;
    e.naive /= n;
    return e;
}

static void test_seasonal_forecast(void **unused)
{
    (void)unused;
    static struct as_fc s;
    memset(&s, 0, sizeof(s));
    struct as_fc_params p = {.lead_ms = 30 * MIN_MS, .daily = 1, .weekly = 1};
    struct errs e = run_series(&s, &p, 15, 0, 0.05);
    print_message("seasonal, 30 min ahead: forecast %.2f%%, no change %.2f%%\n", e.fc * 100,
                  e.naive * 100);
    assert_true(e.fc < 0.04);
    assert_true(e.fc < e.naive * 0.6); /* the season sees the next half hour */
    /* The learned daily shape: the index at the peak (06:00) over the one at the trough. */
    double peak = as_fc_season(&s, &p, 15 * DAY_MS + 6 * HOUR_MS);
    double trough = as_fc_season(&s, &p, 15 * DAY_MS + 18 * HOUR_MS);
    assert_true(peak / trough > 3.2 && peak / trough < 4.8); /* (20 + 12) / (20 - 12) = 4 */
}

static void test_trend_forecast(void **unused)
{
    (void)unused;
    static struct as_fc s;
    memset(&s, 0, sizeof(s));
    struct as_fc_params p = {.lead_ms = 10 * MIN_MS, .daily = 0, .weekly = 0};
    /* A steady ramp: +1 replica every 10 minutes, with 3 % noise. */
    double f = NAN, last = 0;
    for (int64_t t = 0; t <= 6 * HOUR_MS; t += MIN_MS) {
        last = 10 + (double)t / (10 * MIN_MS);
        as_fc_learn(&s, &p, t, t, last * (1 + 0.03 * (uniform() * 2 - 1)));
        f = as_fc_forecast(&s, &p, t);
    }
    print_message("ramp: now %.1f, forecast in 10 min %.2f (truth %.1f)\n", last, f, last + 1);
    assert_true(fabs(f - (last + 1)) < 0.6);
}

static void test_flash_crowd_not_learned(void **unused)
{
    (void)unused;
    static struct as_fc s;
    memset(&s, 0, sizeof(s));
    struct as_fc_params p = {.lead_ms = MIN_MS, .daily = 1, .weekly = 0};
    int64_t t = 0, crowd = 3 * DAY_MS + 12 * HOUR_MS;
    for (; t < crowd; t += MIN_MS)
        as_fc_learn(&s, &p, t, t, seasonal(t, 0) * (1 + 0.05 * (uniform() * 2 - 1)));
    double level = s.level, idx = as_fc_season(&s, &p, crowd + 10 * MIN_MS);
    for (; t < crowd + 30 * MIN_MS; t += MIN_MS) /* 30 minutes at ten times the demand */
        as_fc_learn(&s, &p, t, t, 10 * seasonal(t, 0));
    for (; t < crowd + 60 * MIN_MS; t += MIN_MS)
        as_fc_learn(&s, &p, t, t, seasonal(t, 0));
    double f = as_fc_forecast(&s, &p, t), truth = seasonal(t + MIN_MS, 0);
    print_message("after the crowd: level %.2f (was %.2f), index %.2f (was %.2f), forecast "
                  "%.1f (truth %.1f)\n",
                  s.level, level, as_fc_season(&s, &p, crowd + 10 * MIN_MS), idx, f, truth);
    assert_true(fabs(s.level - level) / level < 0.15);
    assert_true(as_fc_season(&s, &p, crowd + 10 * MIN_MS) / idx < 1.4);
    assert_true(fabs(f - truth) / truth < 0.2); /* the crowd is gone 30 min later */
    /* The next day at that time forecasts the usual demand, not the crowd. */
    for (; t < crowd + DAY_MS; t += MIN_MS)
        as_fc_learn(&s, &p, t, t, seasonal(t, 0));
    f = as_fc_forecast(&s, &p, t);
    assert_true(fabs(f - seasonal(t + MIN_MS, 0)) / seasonal(t + MIN_MS, 0) < 0.2);
}

/* ---- the policy ---- */

struct grp {
    struct as_config *cfg;
    const struct as_group_cfg *g;
    unsigned char raw[AS_POLICY_STATE_MAX + 8];
    unsigned char *state;
};

static struct as_config *make_cfg(const char *opts, struct as_err *err)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "log_file: ''\n"
             "groups:\n"
             "  web:\n"
             "    interval: 60s\n"
             "    min: 1\n"
             "    max: 1000\n"
             "    policy: {type: predictive, %s}\n"
             "    metrics:\n"
             "      - {name: rps, type: http_json, url: 'http://127.0.0.1:1/m', pointer: /r, "
             "average_value: 10}\n"
             "    scaler: {type: http, url: 'http://127.0.0.1:1/r'}\n",
             opts);
    as_err_clear(err);
    return as_config_parse("pred.yaml", text, err);
}

static void grp_open(struct grp *k, const char *opts)
{
    struct as_err err;
    k->cfg = make_cfg(opts, &err);
    if (k->cfg == NULL)
        fail_msg("config: %s:%d:%d: %s", err.file, err.line, err.col, err.msg);
    k->g = as_config_group(k->cfg, "web");
    assert_ptr_equal(k->g->policy, &as_policy_predictive_ops);
    memset(k->raw, 0, sizeof(k->raw));
    k->state = k->raw + 4; /* not aligned on purpose */
}

static void grp_close(struct grp *k)
{
    as_config_unref(k->cfg);
}

/* One round: rps (NAN: a failed measurement) with `current` replicas at t_ms. */
static struct as_rec grp_round(struct grp *k, int64_t t_ms, double rps, int current)
{
    struct as_metric_obs m = {.ok = !isnan(rps), .value = isnan(rps) ? 0 : rps};
    struct as_obs obs = {.now_ms = t_ms, .wall_ms = t_ms, .current = current, .n = 1, .m = &m};
    struct as_rec rec = {0};
    k->g->policy->recommend(k->g->policy_cfg, k->g, &obs, k->state, &rec);
    return rec;
}

static json_t *grp_save(const struct grp *k)
{
    json_t *j = json_object();
    assert_non_null(j);
    assert_int_equal(k->g->policy->save(k->g->policy_cfg, k->state, j), 0);
    return j;
}

static double saved_num(const struct grp *k, const char *key)
{
    json_t *j = grp_save(k);
    double v = json_number_value(json_object_get(j, key));
    json_decref(j);
    return v;
}

static void test_reactive_without_history(void **unused)
{
    (void)unused;
    struct grp k;
    grp_open(&k, "history: 3h");
    struct as_rec r = {0};
    for (int i = 0; i <= 60; i++)
        r = grp_round(&k, i * MIN_MS, 45 + i, 5); /* rising: the forecast would want more */
    assert_int_equal(r.valid, 1);
    assert_int_equal(r.desired, 11); /* ceil(105 / 10): exactly the reactive count */
    if (strstr(r.reason, "predictive: 1 h of history, needs 3 h: reactive only; rps=105") == NULL)
        fail_msg("reason: %s", r.reason);
    grp_close(&k);
}

static void test_forecast_wins_on_a_rise(void **unused)
{
    (void)unused;
    struct grp k;
    grp_open(&k, "history: 30m, lead: 5m, margin: 0.1");
    struct as_rec r = {0};
    int cur = 5;
    for (int i = 0; i <= 90; i++) { /* +1 rps a minute: +0.5 replica in the 5 minutes ahead */
        r = grp_round(&k, i * MIN_MS, 50 + i, cur);
        cur = r.desired;
    }
    /* demand now 14.0; 5 min ahead with the damped trend 14.0 + 0.1 x 10 x (1 - e^-0.5) =
     * 14.4; x 1.1 = 15.8 -> 16 > reactive ceil(140 / 10) = 14 */
    print_message("%s\n", r.reason);
    assert_int_equal(r.desired, 16);
    assert_non_null(
        strstr(r.reason, "predictive: forecast 14.4 in 5 min (+10%) -> 16 > reactive 14"));
    /* Going down, the reactive count wins and scales down: the forecast is no floor below it. */
    for (int i = 91; i <= 150; i++)
        r = grp_round(&k, i * MIN_MS, 140 - 2 * (i - 90), cur), cur = r.desired;
    print_message("%s\n", r.reason);
    assert_true(r.desired <= 3);
    grp_close(&k);
}

static void test_forecast_within_tolerance(void **unused)
{
    (void)unused;
    struct grp k;
    grp_open(&k, "history: 10m, margin: 0");
    struct as_rec r = {0};
    for (int i = 0; i <= 30; i++) /* 10.3 replicas' worth at 10: target tracking keeps 10 */
        r = grp_round(&k, i * MIN_MS, 103, 10);
    assert_int_equal(r.desired, 10);
    if (strstr(r.reason, "predictive: forecast 10.3 in 1 min (+0%) within tolerance 0.1 of 10; "
                         "rps=103") == NULL)
        fail_msg("reason: %s", r.reason);
    for (int i = 31; i <= 40; i++) /* 11.5: beyond the tolerance, the forecast leads */
        r = grp_round(&k, i * MIN_MS, 115, 10);
    assert_int_equal(r.desired, 12);
    grp_close(&k);
}

static void test_noise_steps_back(void **unused)
{
    (void)unused;
    struct grp k;
    grp_open(&k, "history: 10m");
    struct as_rec r = {0};
    for (int i = 0; i <= 120; i++) /* 1 to 20 replicas at random each minute */
        r = grp_round(&k, i * MIN_MS, 10 + 190 * uniform(), 10);
    print_message("%s\n", r.reason);
    assert_non_null(strstr(r.reason, "recent forecast error"));
    assert_non_null(strstr(r.reason, "reactive only"));
    grp_close(&k);
}

static void test_failed_rounds_are_gaps(void **unused)
{
    (void)unused;
    struct grp k;
    grp_open(&k, "history: 1h");
    struct as_rec r = {0};
    for (int i = 0; i < 30; i++)
        grp_round(&k, i * MIN_MS, 100, 10);
    double learned = saved_num(&k, "learned_ms"), fast = saved_num(&k, "fast");
    for (int i = 30; i < 50; i++) { /* 20 failed rounds: nothing learned, nothing zero */
        r = grp_round(&k, i * MIN_MS, NAN, 10);
        assert_int_equal(r.valid, 0);
    }
    assert_true(saved_num(&k, "learned_ms") == learned);
    assert_true(saved_num(&k, "fast") == fast);
    /* Back after 20 minutes (beyond the 10-minute gap rule): the level restarts at the demand
     * and the gap is not counted as history. */
    grp_round(&k, 50 * MIN_MS, 100, 10);
    assert_true(saved_num(&k, "learned_ms") == learned);
    assert_true(fabs(saved_num(&k, "fast") - 10) < 0.01);
    r = grp_round(&k, 51 * MIN_MS, 100, 10);
    assert_non_null(strstr(r.reason, "30 min of history, needs 1 h"));
    grp_close(&k);
}

static void test_save_load_round_trip(void **unused)
{
    (void)unused;
    struct grp a, b;
    grp_open(&a, "history: 1h, lead: 2m");
    grp_open(&b, "history: 1h, lead: 2m");
    for (int64_t t = 0; t < 2 * DAY_MS; t += MIN_MS)
        grp_round(&a, t, 10 * seasonal(t, 0), 20);
    json_t *j = grp_save(&a);
    char *text = json_dumps(j, JSON_COMPACT);
    print_message("saved state: %zu bytes of JSON\n", strlen(text));
    free(text);
    assert_int_equal(b.g->policy->load(b.g->policy_cfg, b.state, j), 0);
    json_t *j2 = grp_save(&b);
    assert_true(json_equal(j, j2));
    /* Both decide the same from there on (float indices round-trip exactly through JSON). */
    for (int64_t t = 2 * DAY_MS; t < 2 * DAY_MS + HOUR_MS; t += MIN_MS) {
        struct as_rec ra = grp_round(&a, t, 10 * seasonal(t, 0), 20);
        struct as_rec rb = grp_round(&b, t, 10 * seasonal(t, 0), 20);
        assert_int_equal(ra.desired, rb.desired);
        assert_string_equal(ra.reason, rb.reason);
    }
    json_decref(j);
    json_decref(j2);
    grp_close(&a);
    grp_close(&b);
}

static void test_corrupt_state_rejected(void **unused)
{
    (void)unused;
    struct grp k;
    grp_open(&k, "history: 1h");
    for (int64_t t = 0; t < 3 * HOUR_MS; t += MIN_MS)
        grp_round(&k, t, 10 * seasonal(t, 0), 20);
    json_t *good = grp_save(&k);
    static const char *const edits[] = {
        "version=2",   "daily=short", "daily[3]=-1", "weekly[0]=9", "fast=-1",    "slope=1e300",
        "level=1e200", "extra",       "missing",     "pending=bad", "last_ms=-5", "init=str",
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        json_t *j = json_deep_copy(good);
        const char *e = edits[i];
        if (strcmp(e, "version=2") == 0)
            json_object_set_new(j, "version", json_integer(2));
        else if (strcmp(e, "daily=short") == 0)
            json_array_remove(json_object_get(j, "daily"), 0);
        else if (strcmp(e, "daily[3]=-1") == 0)
            json_array_set_new(json_object_get(j, "daily"), 3, json_real(-1));
        else if (strcmp(e, "weekly[0]=9") == 0)
            json_array_set_new(json_object_get(j, "weekly"), 0, json_real(9));
        else if (strcmp(e, "fast=-1") == 0)
            json_object_set_new(j, "fast", json_real(-1));
        else if (strcmp(e, "slope=1e300") == 0) /* would overflow the short-term level */
            json_object_set_new(j, "slope", json_real(1e300));
        else if (strcmp(e, "level=1e200") == 0)
            json_object_set_new(j, "level", json_real(1e200));
        else if (strcmp(e, "extra") == 0)
            json_object_set_new(j, "surprise", json_true());
        else if (strcmp(e, "missing") == 0)
            json_object_del(j, "level");
        else if (strcmp(e, "pending=bad") == 0)
            json_object_set_new(j, "pending", json_pack("[[s]]", "x"));
        else if (strcmp(e, "last_ms=-5") == 0)
            json_object_set_new(j, "last_ms", json_integer(-5));
        else
            json_object_set_new(j, "init", json_string("yes"));
        if (k.g->policy->load(k.g->policy_cfg, k.state, j) != -1)
            fail_msg("a state with %s was accepted", e);
        json_decref(j);
    }
    assert_int_equal(k.g->policy->load(k.g->policy_cfg, k.state, good), 0);
    json_decref(good);
    grp_close(&k);
}

static void test_restored_shifts_stamps(void **unused)
{
    (void)unused;
    struct grp k;
    grp_open(&k, "history: 1h");
    for (int64_t t = 0; t <= 10 * MIN_MS; t += MIN_MS)
        grp_round(&k, t, 100, 10);
    double last = saved_num(&k, "last_ms");
    json_t *j = grp_save(&k);
    double due =
        json_number_value(json_array_get(json_array_get(json_object_get(j, "pending"), 0), 0));
    json_decref(j);
    k.g->policy->restored(k.g->policy_cfg, k.state, -5 * MIN_MS, 100 * MIN_MS);
    assert_true(saved_num(&k, "last_ms") == last - 5 * MIN_MS);
    j = grp_save(&k);
    assert_true(json_number_value(json_array_get(json_array_get(json_object_get(j, "pending"), 0),
                                                 0)) == due - 5 * MIN_MS);
    json_decref(j);
    /* A stamp after now is brought back to now. */
    k.g->policy->restored(k.g->policy_cfg, k.state, HOUR_MS, 6 * MIN_MS);
    assert_true(saved_num(&k, "last_ms") == 6 * MIN_MS);
    grp_close(&k);
}

struct bad_cfg {
    const char *opts;
    const char *key; /* the error is at this key's value */
    const char *msg;
};

/* Column of key's value on the policy line: "    policy: {type: predictive, " is 31. */
static int value_col(const char *opts, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "%s: ", key);
    const char *p = strstr(opts, pat);
    assert_non_null(p);
    return 32 + (int)(p - opts) + (int)strlen(pat);
}

static void test_config_errors(void **unused)
{
    (void)unused;
    static const struct bad_cfg bad[] = {
        {"lead: 30s", "lead", "must be at least the group's interval (1m)"},
        {"margin: -0.1", "margin", "margin"},
        {"max_error: 0", "max_error", "max_error"},
        {"reactive: panic", "reactive", "reactive"},
        {"history: soon", "history", "history"},
        {"daily: maybe", "daily", "daily"},
        {"seasons: daily", "seasons", "seasons"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct as_err err;
        struct as_config *cfg = make_cfg(bad[i].opts, &err);
        int col = value_col(bad[i].opts, bad[i].key);
        if (strcmp(bad[i].key, "seasons") == 0)
            col -= (int)strlen("seasons: "); /* an unknown key is reported at the key */
        if (cfg != NULL || strstr(err.msg, bad[i].msg) == NULL || err.line != 7 || err.col != col)
            fail_msg("'%s': got %s:%d:%d: %s (column %d expected)", bad[i].opts, err.file, err.line,
                     err.col, err.msg, col);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seasonal_forecast),
        cmocka_unit_test(test_trend_forecast),
        cmocka_unit_test(test_flash_crowd_not_learned),
        cmocka_unit_test(test_reactive_without_history),
        cmocka_unit_test(test_forecast_wins_on_a_rise),
        cmocka_unit_test(test_forecast_within_tolerance),
        cmocka_unit_test(test_noise_steps_back),
        cmocka_unit_test(test_failed_rounds_are_gaps),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_corrupt_state_rejected),
        cmocka_unit_test(test_restored_shifts_stamps),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
