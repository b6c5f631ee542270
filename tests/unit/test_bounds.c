/* Bounds in time and the safety rules around zero: config errors at exact positions, then
 * scenarios of rounds (time, current, value, ages) with the expected decision. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/decide.h"

#define HEAD "groups:\n  web:\n    behavior: off\n"
#define METRIC(extra)                                                                              \
    "    metrics:\n"                                                                               \
    "      - name: q\n"                                                                            \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/q\n"                                                          \
    "        pointer: /q\n"                                                                        \
    "        average_value: 10\n" extra
#define SCALER "    scaler:\n      type: http\n      url: http://127.0.0.1:1/r\n"
#define H 3600000LL
#define DAY (24 * H)
#define MON 1780272000000LL    /* 2026-06-01 00:00 UTC, Monday, in ms */
#define SPRING 1774742400000LL /* 2026-03-29 00:00 UTC: Berlin springs forward at 01:00 UTC */
#define F NAN

static struct as_config *parse(const char *text)
{
    struct as_err err;
    as_err_clear(&err);
    struct as_config *cfg = as_config_parse("b.yaml", text, &err);
    if (cfg == NULL) {
        print_error("%s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
        fail();
    }
    return cfg;
}

static void test_good(void **state)
{
    (void)state;
    struct as_config *cfg =
        parse(HEAD "    timezone: Europe/Berlin\n"
                   "    min: {\"00:00\": 1, 08:00: 3, \"18:00\": 2}\n"
                   "    max: {\"00:00\": 4, \"08:00\": 12}\n"
                   "    schedules:\n"
                   "      - cron: \"0 8 * * 1-5\"\n"
                   "        duration: 10h\n"
                   "        min: 5\n"
                   "      - {cron: \"0 22 * * *\", end: \"0 6 * * *\", "
                   "max: 2, timezone: UTC}\n"
                   "    warmup: 1m\n    history: 3\n" METRIC("        activation: 0.5\n") SCALER);
    struct as_group_cfg *g = as_config_group(cfg, "web");
    assert_int_equal(g->min, 1); /* the widest bounds */
    assert_int_equal(g->max, 12);
    assert_non_null(g->min_tod);
    assert_int_equal(g->min_tod->n, 3);
    assert_int_equal(g->min_tod->minute[1], 480);
    assert_string_equal(as_tz_name(g->tz), "Europe/Berlin");
    assert_int_equal(g->nschedules, 2);
    assert_int_equal(g->schedules[0].duration_ms, 10 * H);
    assert_int_equal(g->schedules[0].max, -1);
    assert_null(g->schedules[1].tz); /* UTC */
    assert_int_equal(g->warmup_ms, 60000);
    assert_int_equal(g->idle_period_ms, 300000);
    assert_int_equal(g->history, 3);
    assert_true(g->metrics[0].has_activation);
    assert_true(g->metrics[0].activation == 0.5);
    int lo, hi;
    as_bounds_at(g, MON + 5 * H, &lo, &hi); /* 07:00 CEST */
    assert_int_equal(lo, 1);
    assert_int_equal(hi, 4);
    as_bounds_at(g, MON + 6 * H, &lo, &hi); /* 08:00 CEST, Monday: the schedule's min 5 */
    assert_int_equal(lo, 5);
    assert_int_equal(hi, 12);
    as_bounds_at(g, MON + 23 * H, &lo, &hi); /* 01:00 CEST, 23:00 UTC: max 2 wins over min 1 */
    assert_int_equal(lo, 1);
    assert_int_equal(hi, 2);
    as_config_unref(cfg);

    cfg = parse(HEAD "    max: 3\n" METRIC("") SCALER);
    g = as_config_group(cfg, "web");
    assert_null(g->tz);
    assert_null(g->min_tod);
    assert_false(g->metrics[0].has_activation);
    assert_int_equal(g->history, 100);
    as_config_unref(cfg);
}

struct bad_case {
    const char *text;
    int line, col;
    const char *msg;
};

static const struct bad_case bad_cases[] = {
    {HEAD "    max: {\"8:00\": 3}\n" METRIC("") SCALER, 4, 11, "'8:00' is not a time of day"},
    {HEAD "    max: {\"24:00\": 3}\n" METRIC("") SCALER, 4, 11, "not a time of day"},
    {HEAD "    max: {\"08:00\": 3, \"06:00\": 4}\n" METRIC("") SCALER, 4, 23, "out of order"},
    {HEAD "    max: {\"08:00\": 3, \"08:00\": 4}\n" METRIC("") SCALER, 4, 23, "duplicate key"},
    {HEAD "    max: {\"08:00\": 0}\n" METRIC("") SCALER, 4, 20, "between 1 and 1000000"},
    {HEAD "    max: 3\n    min: {\"08:00\": -1}\n" METRIC("") SCALER, 5, 20, "between 0 and"},
    {HEAD "    max: 3\n    min: {\"08:00\": x}\n" METRIC("") SCALER, 5, 20, "must be an integer"},
    {HEAD "    max: {}\n" METRIC("") SCALER, 4, 10, "needs 1 to 48"},
    {HEAD "    max: 3\n    min: {\"00:00\": 1, \"08:00\": 5}\n" METRIC("") SCALER, 5, 32,
     "at 08:00 min (5) is greater than max (3)"},
    {HEAD "    min: {\"00:00\": 1, \"08:00\": 5}\n    max: {\"00:00\": 10, \"09:00\": 4}\n" METRIC(
         "") SCALER,
     5, 33, "at 09:00 min (5) is greater than max (4)"},
    {HEAD "    min: 5\n    max: 3\n" METRIC("") SCALER, 4, 10, "min (5) is greater than max (3)"},
    {HEAD "    max: 3\n    timezone: Mars/Olympus\n" METRIC("") SCALER, 5, 15,
     "unknown time zone 'Mars/Olympus'"},
    {HEAD "    max: 3\n    timezone: ../../etc/passwd\n" METRIC("") SCALER, 5, 15,
     "not a time zone name"},
    {HEAD
     "    max: 3\n    schedules:\n      - {cron: \"0 25 * * *\", duration: 1h, min: 2}\n" METRIC("")
         SCALER,
     6, 19, "'cron' \"0 25 * * *\": hour: out of range (0-23)"},
    {HEAD "    max: 3\n    schedules:\n      - cron: 0 8 * *\n        duration: 1h\n"
          "        min: 2\n" METRIC("") SCALER,
     6, 22, "expected 5 fields"},
    {HEAD "    max: 3\n    schedules:\n      - {cron: \"@daily\", end: \"0 8 * * 1-9\", min: "
          "2}\n" METRIC("") SCALER,
     6, 42, "day of week: out of range"},
    {HEAD "    max: 3\n    schedules:\n      - {cron: \"@daily\", end: \"@daily\", duration: 1h, "
          "min: 2}\n" METRIC("") SCALER,
     6, 51, "exactly one of 'duration' and 'end'"},
    {HEAD "    max: 3\n    schedules:\n      - {cron: \"@daily\", min: 2}\n" METRIC("") SCALER, 6,
     16, "exactly one of 'duration' and 'end'"},
    {HEAD "    max: 3\n    schedules:\n      - {cron: \"@daily\", duration: 1h}\n" METRIC("")
         SCALER,
     6, 9, "at least one of 'min', 'max' and 'replicas'"},
    {HEAD "    max: 3\n    schedules:\n      - {cron: \"@daily\", duration: 1h, min: 4, max: "
          "2}\n" METRIC("") SCALER,
     6, 45, "min (4) is greater than max (2)"},
    {HEAD "    max: 3\n    schedules:\n      - {cron: \"@daily\", duration: 10s, min: 1}\n" METRIC(
         "") SCALER,
     6, 36, "between 1m and 840h"},
    {HEAD "    max: 3\n    schedules:\n      - {cron: \"@daily\", duration: 1h, min: 1, "
          "timezone: Nowhere/Land}\n" METRIC("") SCALER,
     6, 58, "unknown time zone"},
    {HEAD "    max: 3\n    schedules: {cron: x}\n" METRIC("") SCALER, 5, 16, "must be a list"},
    {HEAD "    max: 3\n" METRIC("        activation: -1\n") SCALER, 11, 21, "between 0 and"},
    {HEAD "    max: 3\n    warmup: 2d\n" METRIC("") SCALER, 5, 13, "between 0s and"},
    {HEAD "    max: 3\n    history: -1\n" METRIC("") SCALER, 5, 14, "between 0 and 10000"},
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
            print_error("case %zu: got %d:%d: %s\nwant %d:%d containing '%s'\n", i, err.line,
                        err.col, err.msg, c->line, c->col, c->msg);
            as_config_unref(cfg);
            fail();
        }
    }
}

/* ---- scenarios: rounds in order on one state; every decision "lands" ---- */

struct step {
    int64_t t;      /* ms */
    int current;    /* -1: the previous decision */
    double value;   /* F: failed */
    int64_t age_ms; /* one replica's age: -2 no per-replica data */
    int want;
    const char *reason;
};

struct scenario {
    const char *name;
    const char *keys;   /* group keys */
    const char *metric; /* extra metric keys */
    struct step steps[8];
};

static const struct scenario scenarios[] = {
    {"min schedule across midnight",
     "    min: {\"06:00\": 1, \"22:00\": 5}\n    max: 10\n",
     "",
     {{MON + 21 * H, 2, 20, -2, 2, "keep 2"},
      {MON + 22 * H, 2, 20, -2, 5, "current 2 is below min 5: brought to 5"},
      {MON + DAY + 5 * H, 5, 1, -2, 5, "raised to min 5"},
      {MON + DAY + 6 * H, 5, 1, -2, 1, "ceil(1/10)=1"},
      {0}}},
    {"Berlin spring forward: 02:30 takes effect at 03:30 CEST",
     "    timezone: Europe/Berlin\n    min: {\"00:00\": 1, \"02:30\": 4}\n    max: 10\n",
     "",
     {{SPRING + H, 1, 10, -2, 1, "keep 1"},
      {SPRING + H + 1799000, 1, 10, -2, 1, "keep 1"},
      {SPRING + H + 1800000, 1, 10, -2, 4, "below min 4"},
      {0}}},
    {"scheduled min on weekdays",
     "    max: 10\n    schedules:\n      - {cron: \"0 8 * * 1-5\", duration: 10h, min: 5}\n",
     "",
     {{MON + 8 * H - 1000, 2, 20, -2, 2, "keep 2"},
      {MON + 8 * H, 2, 20, -2, 5, "below min 5: brought to 5 (schedules[0] in effect)"},
      {MON + 18 * H - 1000, 5, 1, -2, 5, "raised to min 5"},
      {MON + 18 * H, 5, 1, -2, 1, "ceil(1/10)=1"},
      {MON + 5 * DAY + 9 * H, 1, 10, -2, 1, "keep 1"},
      {0}}},
    {"scheduled desired capacity is a floor",
     "    max: 10\n    schedules:\n      - {cron: \"0 8 * * *\", duration: 1h, replicas: 4}\n",
     "",
     {{MON + 8 * H, 1, 10, -2, 4, "raised to 4 by the capacity of schedules[0] (wanted 1)"},
      {MON + 8 * H + 60000, 4, 70, -2, 7, "ceil(70/10)=7"},
      {MON + 8 * H + 60000, 7, F, -2, 7, "no valid metric"},
      {MON + 9 * H, 7, 10, -2, 1, "ceil(10/10)=1"},
      {0}}},
    {"shutdown window: scheduled max 0 overrides min",
     "    max: 10\n    schedules:\n      - {cron: \"0 0 * * *\", duration: 6h, max: 0}\n",
     "",
     {{MON + H, 3, 30, -2, 0, "current 3 is above max 0: brought to 0"},
      {MON + 2 * H, 0, 30, -2, 0, "capped at max 0 (wanted 3)"},
      {MON + 6 * H, 0, 30, -2, 1, "current 0 is below min 1: brought to 1"},
      {0}}},
    {"warmup with replica ages",
     "    max: 10\n    warmup: 60s\n",
     "",
     {{MON, 3, 10, 30000, 3, "held at 3 by the 1 min warmup: a replica is 30 s old"},
      {MON + 1000, 3, 50, 30000, 5, "ceil(50/10)=5"},
      {MON + 2000, 5, 10, 60000, 1, "ceil(10/10)=1"},
      {MON + 3000, 1, 10, -1, 1, "keep 1"},
      {0}}},
    {"warmup without ages: the last scale-up",
     "    max: 10\n    warmup: 60s\n",
     "",
     {{MON, 1, 30, -2, 3, "ceil(30/10)=3"},
      {MON + 59999, 3, 10, -2, 3, "warmup: a replica is 59.999 s old"},
      {MON + 60000, 3, 10, -2, 1, "ceil(10/10)=1"},
      {0}}},
    {"scale to zero: activation and idle_period",
     "    min: 0\n    max: 10\n",
     "        activation: 0\n",
     {{MON, 0, 0, -2, 0, "at zero: no metric above its activation: hold 0"},
      {MON + 1000, 0, 5, -2, 1, "ceil(5/10)=1 from zero; activated from zero"},
      {MON + 2000, 1, 0, -2, 1, "idle for 0 ms of the 5 min idle_period"},
      {MON + 2000 + 299999, 1, 0, -2, 1, "idle for 4 min 59.999 s"},
      {MON + 2000 + 300000, 1, 0, -2, 0, "activation for 5 min (idle_period 5 min): scale to 0"},
      {MON + 400000, 0, F, -2, 0, "a metric with an activation failed: hold 0"},
      {MON + 500000, 0, 25, -2, 3, "activated from zero"},
      {0}}},
    {"scale to zero: activity and failures reset or block",
     "    min: 0\n    max: 10\n    idle_period: 1m\n",
     "        activation: 3\n",
     {{MON, 0, 3, -2, 0, "hold 0"},
      {MON + 1000, 0, 3.5, -2, 1, "activated from zero"},
      {MON + 2000, 1, 2, -2, 1, "idle for 0 ms"},
      {MON + 32000, 1, 4, -2, 1, "ceil(4/10)=1"},
      {MON + 62000, 1, 2, -2, 1, "idle for 0 ms"},
      {MON + 122000, 1, F, -2, 1, "no valid metric"},
      {MON + 123000, 1, 2, -2, 0, "scale to 0"},
      {0}}},
    {"min 0 without activation: a plain bound",
     "    min: 0\n    max: 10\n",
     "",
     {{MON, 2, 0, -2, 0, "ceil(0/10)=0"}, {MON + 1000, 0, 0, -2, 0, "from zero"}, {0}}},
};

static void run_scenario(const struct scenario *s)
{
    char text[2048];
    snprintf(text, sizeof(text), HEAD "%s" METRIC("%s") SCALER, s->keys, s->metric);
    struct as_config *cfg = parse(text);
    struct as_group_cfg *g = as_config_group(cfg, "web");
    struct as_group_state st = {0};
    int previous = 1;
    for (int i = 0; s->steps[i].reason; i++) {
        const struct step *p = &s->steps[i];
        struct as_replica_obs r = {.ok = 1, .value = p->value, .ready = 1, .age_ms = p->age_ms};
        struct as_metric_obs m = {.ok = !isnan(p->value),
                                  .value = p->value,
                                  .nreplicas = p->age_ms >= -1,
                                  .replicas = &r};
        int current = p->current >= 0 ? p->current : previous;
        struct as_obs obs = {.now_ms = p->t, .current = current, .n = 1, .m = &m};
        struct as_decision d;
        as_decide(g, &st, &obs, &d);
        if (d.desired != p->want || strstr(d.reason, p->reason) == NULL) {
            print_error("%s, step %d: got %d (%s), want %d (reason containing '%s')\n", s->name, i,
                        d.desired, d.reason, p->want, p->reason);
            fail();
        }
        as_decide_scaled(g, &st, p->t, current, d.desired);
        previous = d.desired;
    }
    as_group_state_free(&st);
    as_config_unref(cfg);
}

static void test_scenarios(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        run_scenario(&scenarios[i]);
}

/* The history keeps the newest `history` scale events with their reasons. */
static void test_history(void **state)
{
    (void)state;
    struct as_config *cfg = parse(HEAD "    max: 10\n    history: 2\n" METRIC("") SCALER);
    struct as_group_cfg *g = as_config_group(cfg, "web");
    struct as_group_state st = {0};
    static const double values[] = {20, 20, 40, 90};
    int current = 1;
    for (int i = 0; i < 4; i++) {
        struct as_metric_obs m = {.ok = 1, .value = values[i]};
        struct as_obs obs = {.now_ms = MON + i * 1000, .current = current, .n = 1, .m = &m};
        struct as_decision d;
        as_decide(g, &st, &obs, &d);
        as_decide_scaled(g, &st, obs.now_ms, current, d.desired);
        current = d.desired;
    }
    const struct as_event *e = as_history_get(&st, 0);
    assert_non_null(e);
    assert_int_equal(e->t, MON + 3000);
    assert_int_equal(e->from, 4);
    assert_int_equal(e->to, 9);
    assert_non_null(strstr(e->reason, "ceil(90/10)=9"));
    e = as_history_get(&st, 1);
    assert_int_equal(e->from, 2);
    assert_int_equal(e->to, 4);
    assert_null(as_history_get(&st, 2));
    g->history = 1; /* a reload that shortens it keeps the newest */
    as_decide_scaled(g, &st, MON + 5000, 9, 3);
    assert_int_equal(st.history.n, 1);
    assert_int_equal(as_history_get(&st, 0)->to, 3);
    g->history = 0;
    as_decide_scaled(g, &st, MON + 6000, 3, 4);
    assert_null(as_history_get(&st, 0));
    as_group_state_free(&st);
    as_config_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_history),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
