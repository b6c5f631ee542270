/* util/stats (exact percentiles by nearest rank, the histogram's bounded error) and
 * util/svctime (the response-time header parser). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/stats.h"
#include "util/svctime.h"
#include "util/util.h"

/* The reference, by definition and the slow way: the smallest sample x with at least p % of
 * the samples at or below it. */
static double ref_percentile(const double *v, size_t n, double p)
{
    double best = INFINITY;
    for (size_t i = 0; i < n; i++) {
        size_t at_or_below = 0;
        for (size_t j = 0; j < n; j++)
            at_or_below += v[j] <= v[i];
        if ((double)at_or_below * 100 >= p * (double)n && v[i] < best)
            best = v[i];
    }
    return best;
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_exact_percentiles(void **state)
{
    (void)state;
    double one[] = {7};
    assert_true(as_stats_percentile(one, 1, 50) == 7);
    assert_true(as_stats_percentile(one, 1, 99) == 7);
    double ten[] = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
    as_stats_sort(ten, 10);
    assert_true(ten[0] == 1 && ten[9] == 10);
    assert_true(as_stats_of(ten, 10, AS_STAT_MEAN) == 5.5);
    assert_true(as_stats_of(ten, 10, AS_STAT_MEDIAN) == 5);
    assert_true(as_stats_of(ten, 10, AS_STAT_P90) == 9);
    assert_true(as_stats_of(ten, 10, AS_STAT_P95) == 10);
    assert_true(as_stats_of(ten, 10, AS_STAT_MAX) == 10);
    double twenty[20]; /* 95 % of 20 is rank 19 exactly, not 20 */
    for (int i = 0; i < 20; i++)
        twenty[i] = i + 1;
    assert_true(as_stats_of(twenty, 20, AS_STAT_P95) == 19);
    assert_true(as_stats_of(twenty, 20, AS_STAT_P99) == 20);
    /* random samples with ties against the counting reference */
    static const double ps[] = {1, 10, 33.3, 50, 66.7, 90, 95, 99, 99.9, 100};
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + next() % 60;
        double v[60], sorted[60];
        for (size_t i = 0; i < n; i++)
            v[i] = sorted[i] = (double)(next() % 25);
        as_stats_sort(sorted, n);
        for (size_t k = 0; k < AS_ARRAY_LEN(ps); k++) {
            double got = as_stats_percentile(sorted, n, ps[k]), want = ref_percentile(v, n, ps[k]);
            if (got != want)
                fail_msg("n=%zu p=%g: %g, want %g", n, ps[k], got, want);
        }
    }
}

static void test_hist_layout(void **state)
{
    (void)state;
    assert_int_equal(as_hist_bucket(0), 0);
    assert_int_equal(as_hist_bucket(255), 255);
    assert_int_equal(as_hist_bucket(256), 256);
    assert_int_equal(as_hist_bucket(257), 256);
    assert_int_equal(as_hist_bucket(258), 257);
    assert_int_equal(as_hist_bucket(UINT64_MAX), AS_HIST_BUCKETS - 1);
    assert_int_equal(as_hist_bucket((1ull << AS_HIST_MAX_BITS) - 1), AS_HIST_BUCKETS - 1);
    /* buckets tile the range with no gap, each at most 1/128 of its values wide */
    for (size_t b = 0; b + 1 < AS_HIST_BUCKETS; b++) {
        uint64_t lo = as_hist_bucket_low(b), hi = as_hist_bucket_high(b);
        assert_int_equal(as_hist_bucket_low(b + 1), hi + 1);
        assert_int_equal(as_hist_bucket(lo), b);
        assert_int_equal(as_hist_bucket(hi), b);
        assert_true((double)(hi - lo) <= (double)lo / 128.0);
    }
}

/* Random samples (spread over 1 us .. 10 s) against exact percentiles: within 0.4 %. */
static void test_hist_error(void **state)
{
    (void)state;
    struct as_hist h, half;
    assert_int_equal(as_hist_init(&h), 0);
    assert_int_equal(as_hist_init(&half), 0);
    assert_true(as_hist_stat(&h, AS_STAT_P99) == 0);
    enum { N = 20000 };
    double *v = malloc(N * sizeof(double));
    assert_non_null(v);
    uint64_t sum = 0;
    for (int i = 0; i < N; i++) {
        uint64_t us = (uint64_t)exp((double)(next() % 1000000) / 1000000.0 * log(1e7));
        v[i] = (double)us;
        sum += us;
        as_hist_add(i % 2 ? &h : &half, us);
    }
    as_hist_merge(&h, &half);
    as_stats_sort(v, N);
    assert_int_equal(h.count, N);
    assert_true(as_hist_stat(&h, AS_STAT_MEAN) == (double)sum / N);
    assert_true(as_hist_stat(&h, AS_STAT_MAX) == v[N - 1]);
    assert_true((double)h.min_us == v[0]);
    static const double ps[] = {0.1, 1, 50, 90, 95, 99, 99.9, 99.99, 100};
    for (size_t k = 0; k < AS_ARRAY_LEN(ps); k++) {
        double got = as_hist_percentile(&h, ps[k]), want = as_stats_percentile(v, N, ps[k]);
        if (fabs(got - want) > want / 256.0 + 1e-9)
            fail_msg("p%g: %g, want %g", ps[k], got, want);
    }
    as_hist_reset(&h);
    assert_int_equal(h.count, 0);
    as_hist_add(&h, 1000);
    assert_true(as_hist_percentile(&h, 50) == 1000); /* clamped into [min, max]: exact */
    free(v);
    as_hist_fini(&h);
    as_hist_fini(&half);
    as_hist_fini(&half); /* twice is fine */
}

static void test_svctime(void **state)
{
    (void)state;
    struct {
        const char *value, *key;
        enum as_time_unit bare;
        double ms; /* < 0: an error containing `why` */
        const char *why;
    } cases[] = {
        {"350ms", NULL, AS_UNIT_NONE, 350, NULL},
        {" 350ms\t", NULL, AS_UNIT_NONE, 350, NULL},
        {"12.345ms", NULL, AS_UNIT_NONE, 12.345, NULL},
        {"350 ms", NULL, AS_UNIT_NONE, 350, NULL},
        {"1.5s", NULL, AS_UNIT_NONE, 1500, NULL},
        {"250us", NULL, AS_UNIT_NONE, 0.25, NULL},
        {"0ms", NULL, AS_UNIT_NONE, 0, NULL},
        {"0.35", NULL, AS_UNIT_S, 350, NULL},
        {"42", NULL, AS_UNIT_MS, 42, NULL},
        {"42", NULL, AS_UNIT_NONE, -1, "no unit"},
        {"", NULL, AS_UNIT_MS, -1, "empty"},
        {"  ", NULL, AS_UNIT_MS, -1, "empty"},
        {"-5ms", NULL, AS_UNIT_NONE, -1, "not a number"},
        {"+5ms", NULL, AS_UNIT_NONE, -1, "not a number"},
        {".5ms", NULL, AS_UNIT_NONE, -1, "not a number"},
        {"5.ms", NULL, AS_UNIT_NONE, -1, "no digit after"},
        {"1e3ms", NULL, AS_UNIT_NONE, -1, "unit is not"},
        {"0x10ms", NULL, AS_UNIT_NONE, -1, "unit is not"},
        {"infms", NULL, AS_UNIT_NONE, -1, "not a number"},
        {"nan", NULL, AS_UNIT_MS, -1, "not a number"},
        {"5MS", NULL, AS_UNIT_NONE, -1, "unit is not"},
        {"5 m s", NULL, AS_UNIT_NONE, -1, "unit is not"},
        {"5ms 6ms", NULL, AS_UNIT_NONE, -1, "unit is not"},
        {"5ms,6ms", NULL, AS_UNIT_NONE, -1, "unit is not"},
        {"5min", NULL, AS_UNIT_NONE, -1, "unit is not"},
        {"5ns", NULL, AS_UNIT_NONE, -1, "unit is not"},
        {"1234567890123456ms", NULL, AS_UNIT_NONE, -1, "too many digits"},
        {"123456789012345ms", NULL, AS_UNIT_NONE, 123456789012345.0, NULL},
        {"1.1234567891ms", NULL, AS_UNIT_NONE, -1, "too many decimals"},
        {"5ms\r", NULL, AS_UNIT_NONE, -1, "control character"},
        /* key=value lists */
        {"at=info method=GET path=\"/a b\" connect=1ms service=350ms status=200", "service",
         AS_UNIT_NONE, 350, NULL},
        {"service=350ms", "service", AS_UNIT_NONE, 350, NULL},
        {"db;dur=53, app;dur=47.2", "app", AS_UNIT_MS, -1, "no plain value"},
        {"connect=1ms; service=2s", "service", AS_UNIT_NONE, 2000, NULL},
        {"service=0.35", "service", AS_UNIT_S, 350, NULL},
        {"service=350", "service", AS_UNIT_NONE, -1, "no unit"},
        {"connect=1ms", "service", AS_UNIT_NONE, -1, "not found"},
        {"Service=350ms", "service", AS_UNIT_NONE, -1, "not found"},
        {"service=1ms service=2ms", "service", AS_UNIT_NONE, -1, "more than once"},
        {"service", "service", AS_UNIT_NONE, -1, "no plain value"},
        {"service=", "service", AS_UNIT_NONE, -1, "no plain value"},
        {"service=\"350ms\"", "service", AS_UNIT_NONE, -1, "no plain value"},
        {"path=\"x=\\\"service=1ms\\\"\" service=2ms", "service", AS_UNIT_NONE, 2, NULL},
        {"path=\"unterminated service=1ms", "service", AS_UNIT_NONE, -1, "unterminated"},
        {"a=b=c service=1ms", "service", AS_UNIT_NONE, -1, "stray"},
        {"=1ms", "service", AS_UNIT_NONE, -1, "empty key"},
        {"se\"rvice=1ms", "service", AS_UNIT_NONE, -1, "quote inside a key"},
        {"service=1ms\x01", "service", AS_UNIT_NONE, -1, "control character"},
        {"", "service", AS_UNIT_NONE, -1, "not found"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        double ms = -1;
        const char *why = "";
        int rc = as_svctime_parse(cases[i].value, strlen(cases[i].value), cases[i].key,
                                  cases[i].bare, &ms, &why);
        if (cases[i].ms >= 0 ? rc != 0 || fabs(ms - cases[i].ms) > 1e-9
                             : rc == 0 || strstr(why, cases[i].why) == NULL)
            fail_msg("'%s' key %s: rc=%d ms=%g why='%s'", cases[i].value,
                     cases[i].key ? cases[i].key : "-", rc, ms, rc ? why : "");
    }
    /* a NUL byte inside the given length is a control character, not the end */
    double ms;
    const char *why;
    assert_int_equal(as_svctime_parse("5ms\0x", 5, NULL, AS_UNIT_NONE, &ms, &why), -1);
    /* only len bytes are read */
    assert_int_equal(as_svctime_parse("5msXX", 3, NULL, AS_UNIT_NONE, &ms, &why), 0);
    assert_true(ms == 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_percentiles),
        cmocka_unit_test(test_hist_layout),
        cmocka_unit_test(test_hist_error),
        cmocka_unit_test(test_svctime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
