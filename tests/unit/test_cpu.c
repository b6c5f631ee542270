/* sources/cpu: the /proc/stat and /proc/loadavg parsers on canned text, and the source on a
 * real loop (the first measurement takes two samples a window apart). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "core/plugin.h"
#include "sources/cpu.h"
#include "util/loop.h"
#include "util/util.h"

extern const struct as_source_ops as_source_cpu;

static int stat_of(const char *text, struct as_cpu_sample *s)
{
    char why[128];
    return as_cpu_parse_stat(text, strlen(text), s, why, sizeof(why));
}

static void test_parse_stat(void **state)
{
    (void)state;
    struct as_cpu_sample s;
    /* a 5.x kernel: user nice system idle iowait irq softirq steal guest guest_nice */
    assert_int_equal(stat_of("cpu  2255 34 2290 22625563 6290 127 456 7 100 3\n"
                             "cpu0 1132 34 1441 11311718 3675 127 438 0 0 0\n"
                             "intr 114930548 113199788 3 0 5 263 0 4 [... 200 more]\n",
                             &s),
                     0);
    assert_int_equal(s.total, 2255u + 34 + 2290 + 22625563 + 6290 + 127 + 456 + 7);
    assert_int_equal(s.idle, 22625563u + 6290);
    /* the minimum: four fields (2.4 kernels), no newline, tabs */
    assert_int_equal(stat_of("cpu\t10 0 5 85", &s), 0);
    assert_int_equal(s.total, 100);
    assert_int_equal(s.idle, 85);
    /* a read cut short after the first line is fine; the rest is never looked at */
    assert_int_equal(stat_of("cpu  1 2 3 4 5 6 7 8\ncpu0 1 2", &s), 0);
    assert_int_equal(s.total, 36);
}

static void test_parse_stat_rejects(void **state)
{
    (void)state;
    struct as_cpu_sample s;
    const char *bad[] = {
        "",
        "\n",
        "cpu0 1 2 3 4\n",                    /* a per-CPU line first */
        "cpu 1 2 3\n",                       /* too few fields */
        "cpu  1 2 x 4\n",                    /* not a number */
        "cpu  1 2 -3 4\n",                   /* no sign */
        "cpu  1 2 3 4a\n",                   /* trailing junk */
        "cpu  99999999999999999999 1 1 1\n", /* overflows 64 bits */
        "cpu  18446744073709551615 1 1 1\n", /* the sum overflows */
        "intr 1 2 3 4\ncpu  1 2 3 4\n",      /* not the first line */
        "cpux 1 2 3 4\n",
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
        if (stat_of(bad[i], &s) == 0)
            fail_msg("accepted %s", bad[i]);
}

static void test_utilization(void **state)
{
    (void)state;
    char why[128];
    double v = -1;
    struct as_cpu_sample a = {.total = 1000, .idle = 800}, b = {.total = 1400, .idle = 900};
    assert_int_equal(as_cpu_utilization(&a, &b, &v, why, sizeof(why)), 0);
    assert_true(v > 0.7499 && v < 0.7501); /* 400 ticks, 100 idle */
    b = (struct as_cpu_sample){.total = 1400, .idle = 1200};
    assert_int_equal(as_cpu_utilization(&a, &b, &v, why, sizeof(why)), 0);
    assert_true(v == 0.0);
    b = (struct as_cpu_sample){.total = 1400, .idle = 800};
    assert_int_equal(as_cpu_utilization(&a, &b, &v, why, sizeof(why)), 0);
    assert_true(v == 1.0);
    /* iowait went backwards (tickless kernels): no idle time, not a negative one */
    b = (struct as_cpu_sample){.total = 1400, .idle = 700};
    assert_int_equal(as_cpu_utilization(&a, &b, &v, why, sizeof(why)), 0);
    assert_true(v == 1.0);
    /* more idle than ticks cannot be: clamped to 0 */
    b = (struct as_cpu_sample){.total = 1100, .idle = 1000};
    assert_int_equal(as_cpu_utilization(&a, &b, &v, why, sizeof(why)), 0);
    assert_true(v == 0.0);
    /* no tick, counters backwards */
    assert_int_equal(as_cpu_utilization(&a, &a, &v, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "no clock tick"));
    b = (struct as_cpu_sample){.total = 999, .idle = 800};
    assert_int_equal(as_cpu_utilization(&a, &b, &v, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "backwards"));
}

static void test_parse_loadavg(void **state)
{
    (void)state;
    char why[128];
    double v = -1;
    const char *text = "0.52 1.58 12.59 1/467 12345\n";
    assert_int_equal(as_cpu_parse_loadavg(text, strlen(text), 0, &v, why, sizeof(why)), 0);
    assert_true(v == 0.52);
    assert_int_equal(as_cpu_parse_loadavg(text, strlen(text), 1, &v, why, sizeof(why)), 0);
    assert_true(v == 1.58);
    assert_int_equal(as_cpu_parse_loadavg(text, strlen(text), 2, &v, why, sizeof(why)), 0);
    assert_true(v == 12.59);
    const char *bad[] = {"",       "0.52",         "0.52 1.58", "-1 2 3 1/2 3", "1..2 3 4",
                         ".5 1 1", "1 2 3x 1/2 3", "0x1 2 3",   "5. 1 1"};
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
        if (as_cpu_parse_loadavg(bad[i], strlen(bad[i]), 2, &v, why, sizeof(why)) == 0)
            fail_msg("accepted %s", bad[i]);
    assert_int_equal(as_cpu_parse_loadavg(text, strlen(text), 3, &v, why, sizeof(why)), -1);
}

/* ---- the source on a real loop ---- */

struct run {
    int calls;
    struct as_measurement m;
};

static void on_measured(const struct as_measurement *m, void *arg)
{
    struct run *r = arg;
    r->calls++;
    r->m = *m;
}

static void *start_source(struct as_loop *loop, const char *yaml, int64_t timeout_ms)
{
    struct as_err err;
    as_err_clear(&err);
    struct as_doc *doc = as_doc_parse("test", yaml, strlen(yaml), &err);
    assert_non_null(doc);
    void *st = calloc(1, as_source_cpu.state_size);
    assert_non_null(st);
    if (as_opts_parse(as_source_cpu.opts, st, doc->root, "test", &err) < 0 ||
        as_source_cpu.validate(st, doc->root, &err) < 0)
        fail_msg("options: %s", err.msg);
    struct as_ctx ctx = {.loop = loop, .group = "g", .name = "cpu", .timeout_ms = timeout_ms};
    assert_int_equal(as_source_cpu.start(st, &ctx, &err), 0);
    as_doc_free(doc);
    return st;
}

static void stop_source(void *st)
{
    as_source_cpu.stop(st);
    as_opts_free(as_source_cpu.opts, st);
    free(st);
}

static int64_t measure_once(struct as_loop *loop, void *st, struct run *r)
{
    int64_t t0 = as_mono_ms();
    r->calls = 0;
    as_source_cpu.measure(st, on_measured, r);
    assert_int_equal(r->calls, 0); /* never from inside measure() */
    while (r->calls == 0 && as_mono_ms() - t0 < 5000)
        as_loop_once(loop, 20);
    assert_int_equal(r->calls, 1);
    return as_mono_ms() - t0;
}

static void test_source_utilization(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    void *st = start_source(loop, "stat: utilization\n", 1000);
    struct run r;
    /* first: two samples 250 ms apart */
    int64_t took = measure_once(loop, st, &r);
    assert_true(r.m.ok);
    assert_true(r.m.value >= 0 && r.m.value <= 1);
    assert_true(took >= 240);
    /* then: since the previous sample, at once */
    int64_t end = as_mono_ms() + 100;
    while (as_mono_ms() < end)
        as_loop_once(loop, 20);
    took = measure_once(loop, st, &r);
    assert_true(r.m.ok);
    assert_true(took < 200);
    /* a cancelled window delivers nothing */
    r.calls = 0;
    stop_source(st);
    st = start_source(loop, "{}\n", 1000);
    as_source_cpu.measure(st, on_measured, &r);
    as_source_cpu.cancel(st);
    end = as_mono_ms() + 400;
    while (as_mono_ms() < end)
        as_loop_once(loop, 20);
    assert_int_equal(r.calls, 0);
    stop_source(st);
    as_loop_free(loop);
}

static void test_source_load(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    void *st = start_source(loop, "stat: load15\n", 1000);
    struct run r;
    measure_once(loop, st, &r);
    assert_true(r.m.ok);
    assert_true(r.m.value >= 0);
    double whole = r.m.value;
    stop_source(st);
    st = start_source(loop, "stat: load15\nper_cpu: true\n", 1000);
    measure_once(loop, st, &r);
    assert_true(r.m.ok);
    assert_true(r.m.value <= whole + 0.01);
    stop_source(st);
    as_loop_free(loop);
}

static void test_validate(void **state)
{
    (void)state;
    const char *yaml = "stat: utilization\nper_cpu: true\n";
    struct as_err err;
    as_err_clear(&err);
    struct as_doc *doc = as_doc_parse("test", yaml, strlen(yaml), &err);
    void *st = calloc(1, as_source_cpu.state_size);
    assert_int_equal(as_opts_parse(as_source_cpu.opts, st, doc->root, "test", &err), 0);
    assert_int_equal(as_source_cpu.validate(st, doc->root, &err), -1);
    assert_non_null(strstr(err.msg, "per_cpu"));
    assert_int_equal(err.line, 2);
    as_source_cpu.stop(st); /* never started: tolerated */
    as_opts_free(as_source_cpu.opts, st);
    free(st);
    as_doc_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stat),         cmocka_unit_test(test_parse_stat_rejects),
        cmocka_unit_test(test_utilization),        cmocka_unit_test(test_parse_loadavg),
        cmocka_unit_test(test_source_utilization), cmocka_unit_test(test_source_load),
        cmocka_unit_test(test_validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
