/* The decision flags that become events (docs/events.md): above_max, below_min, too_rapid,
 * fallback and paused, table-driven on the pure decision core. Each scenario is a group (YAML,
 * parsed by the real configuration code: bounds in time, schedules, behavior) and a list of
 * rounds: the time, the current count, the metric's value, and the decision expected with
 * exactly the flags expected (every flag not listed must be off). A round whose decision
 * changes the count is recorded as a scale that landed, as the engine would. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/decide.h"
#include "core/state.h"

#define HEAD "groups:\n  web:\n"
#define OFF "    behavior: off\n"
#define METRIC                                                                                     \
    "    metrics:\n"                                                                               \
    "      - {name: q, type: http_json, url: http://127.0.0.1:1/q, pointer: /q, "                  \
    "average_value: 10}\n"                                                                         \
    "    scaler: {type: http, url: http://127.0.0.1:1/r}\n"
#define H 3600000LL
#define MON 1780272000000LL /* 2026-06-01 00:00 UTC, a Monday */
#define F NAN               /* a failed measurement */

enum {
    A = 1,
    B = 2,
    R = 4,
    FB = 8,
    P = 16
}; /* above_max, below_min, too_rapid, fallback, paused */

struct step {
    int64_t t; /* decision clock and wall clock (ms) */
    int current;
    double q; /* the metric: desired = ceil(q / 10) before bounds */
    int desired;
    int flags;
    int wanted;         /* -2: not checked */
    const char *reason; /* a substring of the reason, or NULL */
};

struct scenario {
    const char *name;
    const char *group; /* the group's keys besides metrics and scaler */
    struct step steps[10];
};

static const struct scenario scenarios[] = {
    {"above_max: at the maximum, a scale-up is called for",
     OFF "    max: 5\n",
     {{MON, 5, 80, 5, A, 8, "capped at max 5 (wanted 8)"},
      {MON + 1000, 5, 50, 5, 0, 5, NULL},
      {MON + 2000, 5, 40, 4, 0, 4, NULL},
      {0}}},
    {"above_max: the maximum stops a scale-up short",
     OFF "    max: 5\n",
     {{MON, 3, 80, 5, A, 8, NULL}, {MON + 1000, 5, 49, 5, 0, 5, NULL}, {0}}},
    {"above_max follows a time-of-day max",
     OFF "    max: {\"00:00\": 4, \"08:00\": 10}\n",
     {{MON + 7 * H, 4, 60, 4, A, 6, NULL}, {MON + 8 * H, 4, 60, 6, 0, 6, NULL}, {0}}},
    {"above_max follows a scheduled max",
     OFF "    max: 10\n    schedules:\n      - {cron: \"0 8 * * *\", duration: 1h, max: 3}\n",
     {{MON + 8 * H, 3, 50, 3, A, 5, NULL}, {MON + 9 * H, 3, 50, 5, 0, 5, NULL}, {0}}},
    {"a count outside the bounds is brought inside without a flag",
     OFF "    min: 2\n    max: 10\n"
         "    schedules:\n      - {cron: \"0 8 * * *\", duration: 1h, max: 5}\n",
     {{MON + 8 * H, 7, 100, 5, 0, -1, "current 7 is above max 5"},
      {MON + 9 * H, 1, 0, 2, 0, -1, "current 1 is below min 2"},
      {0}}},
    {"below_min: at the minimum, a scale-down is called for",
     OFF "    min: 3\n    max: 10\n",
     {{MON, 3, 10, 3, B, 1, "raised to min 3 (wanted 1)"},
      {MON + 1000, 3, 30, 3, 0, 3, NULL},
      {MON + 2000, 3, 40, 4, 0, 4, NULL},
      {0}}},
    {"below_min: the minimum stops a scale-down short",
     OFF "    min: 3\n    max: 10\n",
     {{MON, 6, 10, 3, B, 1, NULL}, {MON + 1000, 3, 21, 3, 0, 3, NULL}, {0}}},
    {"below_min never fires at a minimum of 1 (autoscalebot's rule)",
     OFF "    min: 1\n    max: 10\n",
     {{MON, 1, 0, 1, 0, 0, "raised to min 1"}, {MON + 1000, 4, 0, 1, 0, 0, NULL}, {0}}},
    {"below_min at a minimum of 2",
     OFF "    min: 2\n    max: 10\n",
     {{MON, 2, 0, 2, B, 0, NULL}, {0}}},
    {"below_min follows a time-of-day min",
     OFF "    min: {\"00:00\": 1, \"08:00\": 4}\n    max: 10\n",
     {{MON + 8 * H, 4, 10, 4, B, 1, NULL}, {MON + 7 * H + 24 * H, 4, 10, 1, 0, 1, NULL}, {0}}},
    {"below_min with min 0 and scale to zero: never",
     OFF "    min: 0\n    max: 10\n",
     {{MON, 1, 0, 0, 0, 0, NULL}, {0}}},
    {"below_min waits for the scale-down stabilization window",
     "    min: 3\n    max: 10\n", /* the HPA's defaults: 5m down window */
     {{MON, 3, 10, 3, 0, 3, NULL},
      {MON + 150000, 3, 10, 3, 0, 3, NULL},
      {MON + 300000, 3, 10, 3, B, 1, NULL},
      {0}}},
    {"above_max waits for the scale-up stabilization window",
     "    max: 5\n    behavior: {scale_up: {stabilization: 1m}}\n",
     {{MON, 5, 80, 5, 0, 5, NULL},
      {MON + 30000, 5, 80, 5, 0, 5, NULL},
      {MON + 60000, 5, 80, 5, A, 8, NULL},
      {0}}},
    {"above_max whatever the rate limits allow",
     "    max: 5\n    behavior: {scale_up: {policies: [{replicas: 1, period: 15s}]}}\n",
     {{MON, 3, 80, 4, A, 8, "limited to 4 by the scale-up rate limit"},
      {MON + 15000, 4, 80, 5, A, 8, NULL},
      {0}}},
    {"paused: the hold, and the flags of what was called for",
     OFF "    max: 5\n    paused: true\n",
     {{MON, 3, 80, 3, A | P, 8, "paused: held at 3 (wanted 5)"},
      {MON + 1000, 3, 30, 3, 0, 3, NULL},
      {MON + 2000, 3, 40, 3, P, 4, NULL},
      {0}}},
    {"no flags without a recommendation: failures, fallback, override",
     OFF "    min: 2\n    max: 5\n    fallback: {after: 2, replicas: 9}\n",
     {{MON, 5, F, 5, 0, -1, "no valid metric"},
      {MON + 1000, 4, F, 5, FB, -1, "fallback to 5"},
      {MON + 2000, 5, F, 5, FB, -1, NULL},
      {MON + 3000, 5, 80, 5, A, 8, NULL},
      {0}}},
    {"too_rapid: more scale-ups than allowed within the window",
     OFF "    max: 20\n    too_rapid: {scales: 2, within: 1m}\n",
     {{MON, 1, 20, 2, 0, 2, NULL},
      {MON + 10000, 2, 30, 3, 0, 3, NULL},
      {MON + 20000, 3, 40, 4, R, 4, "too rapid: 3 scale-ups within 1 min (more than 2)"},
      {MON + 30000, 4, 10, 1, 0, 1, NULL}, /* the first scale-down */
      {MON + 80001, 1, 20, 2, 0, 2, NULL}, /* two scale-ups left the window */
      {0}}},
    {"too_rapid: directions never add up",
     OFF "    max: 20\n    too_rapid: {scales: 1, within: 10m}\n",
     {{MON, 1, 30, 3, 0, 3, NULL},
      {MON + 1000, 3, 10, 1, 0, 1, NULL},
      {MON + 2000, 1, 30, 3, R, 3, "2 scale-ups"},
      {MON + 3000, 3, 10, 1, R, 1, "2 scale-downs within 10 min (more than 1)"},
      {0}}},
    {"too_rapid by replicas changed (autoscalebot's scale differential)",
     OFF "    max: 20\n    too_rapid: {replicas: 5, within: 30m}\n",
     {{MON, 1, 40, 4, 0, 4, NULL},
      {MON + 60000, 4, 70, 7, R, 7, "too rapid: 6 replicas added within 30 min (more than 5)"},
      {MON + 120000, 7, 10, 1, R, 1, "6 replicas removed"},
      {MON + 31 * 60000, 1, 60, 6, 0, 6, NULL},
      {0}}},
    {"too_rapid: holds never count, and a paused group never scales",
     OFF "    max: 20\n    too_rapid: {scales: 1, within: 1m}\n    paused: true\n",
     {{MON, 1, 30, 1, P, 3, NULL}, {MON + 1000, 1, 30, 1, P, 3, NULL}, {0}}},
    {"too_rapid is off by default (autoscalebot: None)",
     OFF "    max: 20\n",
     {{MON, 1, 30, 3, 0, 3, NULL},
      {MON + 1000, 3, 50, 5, 0, 5, NULL},
      {MON + 2000, 5, 70, 7, 0, 7, NULL},
      {0}}},
};

static struct as_config *parse(const char *group)
{
    char text[2048];
    snprintf(text, sizeof(text), HEAD "%s" METRIC, group);
    struct as_err err;
    as_err_clear(&err);
    struct as_config *cfg = as_config_parse("e.yaml", text, &err);
    if (cfg == NULL) {
        print_error("%s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
        fail();
    }
    return cfg;
}

static void flags_are(const char *name, int i, const struct as_decision *d, int want)
{
    int got = (d->above_max ? A : 0) | (d->below_min ? B : 0) | (d->too_rapid ? R : 0) |
              (d->fallback ? FB : 0) | (d->paused ? P : 0);
    if (got != want) {
        print_error("%s: round %d: flags %#x, want %#x (reason \"%s\")\n", name, i, (unsigned)got,
                    (unsigned)want, d->reason);
        fail();
    }
}

static void run(const struct scenario *sc)
{
    struct as_config *cfg = parse(sc->group);
    const struct as_group_cfg *g = &cfg->groups[0];
    struct as_group_state st = {0};
    for (int i = 0; sc->steps[i].t != 0; i++) {
        const struct step *s = &sc->steps[i];
        struct as_metric_obs m = {.ok = !isnan(s->q), .value = isnan(s->q) ? 0 : s->q};
        struct as_obs obs = {
            .now_ms = s->t, .wall_ms = s->t, .current = s->current, .n = 1, .m = &m};
        struct as_decision d;
        as_decide(g, &st, &obs, &d);
        if (d.desired != s->desired || (s->wanted != -2 && d.wanted != s->wanted) ||
            (s->reason && strstr(d.reason, s->reason) == NULL)) {
            print_error("%s: round %d: desired %d wanted %d \"%s\"; want %d, %d, \"%s\"\n",
                        sc->name, i, d.desired, d.wanted, d.reason, s->desired, s->wanted,
                        s->reason ? s->reason : "");
            fail();
        }
        flags_are(sc->name, i, &d, s->flags);
        if (d.paused)
            assert_int_not_equal(d.paused_to, d.desired);
        if (d.desired != s->current)
            as_decide_scaled(g, &st, s->t, s->current, d.desired);
    }
    as_group_state_free(&st);
    as_config_unref(cfg);
}

static void test_scenarios(void **unused)
{
    (void)unused;
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        run(&scenarios[i]);
}

/* The bounds in effect travel with every decision. */
static void test_bounds_in_decision(void **unused)
{
    (void)unused;
    struct as_config *cfg = parse(OFF "    min: {\"00:00\": 1, \"08:00\": 4}\n    max: 9\n");
    struct as_group_state st = {0};
    struct as_metric_obs m = {.ok = 1, .value = 50};
    struct as_obs obs = {.now_ms = MON + 9 * H, .current = 4, .n = 1, .m = &m};
    struct as_decision d;
    as_decide(&cfg->groups[0], &st, &obs, &d);
    assert_int_equal(d.min, 4);
    assert_int_equal(d.max, 9);
    as_group_state_free(&st);
    as_config_unref(cfg);
}

/* Each scale's direction survives a restart; a state file written before it was kept counts
 * its scales in no direction. */
static void test_directions_persist(void **unused)
{
    (void)unused;
    struct as_config *cfg = parse(OFF "    max: 20\n    too_rapid: {scales: 1, within: 10m}\n");
    const struct as_group_cfg *g = &cfg->groups[0];
    struct as_group_state st = {0}, back = {0}, old = {0};
    as_decide_scaled(g, &st, MON, 1, 3);
    as_decide_scaled(g, &st, MON + 1000, 3, 2);
    json_t *doc = as_state_to_json(g, &st, MON + 2000, MON + 2000);
    assert_non_null(doc);
    struct as_restore r = {.now_ms = MON + 2000, .wall_ms = MON + 2000};
    struct as_err err;
    assert_int_equal(as_state_from_json(g, doc, &back, &r, &err), 0);
    assert_int_equal(back.scales->delta[0], -1);
    assert_int_equal(back.scales->delta[1], 2);
    struct as_metric_obs m = {.ok = 1, .value = 50};
    struct as_obs obs = {
        .now_ms = MON + 3000, .wall_ms = MON + 3000, .current = 2, .n = 1, .m = &m};
    struct as_decision d;
    as_decide(g, &back, &obs, &d);
    assert_true(d.too_rapid); /* the restored 1->3 and this 2->5: 2 scale-ups */
    json_object_del(doc, "scale_deltas");
    assert_int_equal(as_state_from_json(g, doc, &old, &r, &err), 0);
    as_decide(g, &old, &obs, &d);
    assert_false(d.too_rapid);
    json_object_set_new(doc, "scale_deltas", json_pack("[i]", 1)); /* not one per scale */
    struct as_group_state bad = {0};
    assert_int_equal(as_state_from_json(g, doc, &bad, &r, &err), -1);
    json_decref(doc);
    as_group_state_free(&st);
    as_group_state_free(&back);
    as_group_state_free(&old);
    as_group_state_free(&bad);
    as_config_unref(cfg);
}

/* `too_rapid` needs scales or replicas. */
static void test_too_rapid_config(void **unused)
{
    (void)unused;
    struct as_err err;
    as_err_clear(&err);
    struct as_config *cfg =
        as_config_parse("e.yaml", HEAD "    max: 3\n    too_rapid: {within: 1m}\n" METRIC, &err);
    assert_null(cfg);
    assert_int_equal(err.line, 4);
    assert_int_equal(err.col, 16);
    assert_non_null(strstr(err.msg, "at least one of 'scales' and 'replicas'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_bounds_in_decision),
        cmocka_unit_test(test_directions_persist),
        cmocka_unit_test(test_too_rapid_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
