/* Fast number formatting (util/numfmt): the same text as the snprintf it replaces. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/numfmt.h"

/* What replay wrote before: the shortest of %.15g, %.16g, %.17g that reads back. */
static void reference(char *buf, size_t len, double v)
{
    snprintf(buf, len, "%.15g", v);
    if (strtod(buf, NULL) != v && !isnan(v))
        snprintf(buf, len, "%.16g", v);
    if (strtod(buf, NULL) != v && !isnan(v))
        snprintf(buf, len, "%.17g", v);
}

static void check_double(double v)
{
    char want[64], got[AS_NUMFMT_MAX];
    reference(want, sizeof(want), v);
    size_t n = as_fmt_double(got, v);
    if (strcmp(want, got) != 0)
        fail_msg("%.17g: want '%s', got '%s'", v, want, got);
    assert_int_equal(n, strlen(got));
}

static void test_double_edges(void **state)
{
    (void)state;
    const double v[] = {0.0,
                        -0.0,
                        1.0,
                        -1.0,
                        0.1,
                        0.5,
                        1.5,
                        2.25,
                        1e-4,
                        9.9999e-5,
                        1e-5,
                        123456.789,
                        1e14,
                        1e15,
                        999999999999999.0,
                        1e15 - 0.5,
                        1e16,
                        1e21,
                        1e300,
                        -1e-300,
                        5e-324,
                        1.7976931348623157e308,
                        0.1 + 0.2,
                        1.0 / 3,
                        2.0 / 3,
                        1234567.125,
                        86400.001,
                        1.0e-4 * 3,
                        0.000123,
                        4503599627370496.5,
                        9007199254740993.0,
                        HUGE_VAL,
                        -HUGE_VAL,
                        NAN,
                        1700000000.5,
                        1700000000123.0};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        check_double(v[i]);
    char buf[AS_NUMFMT_MAX];
    as_fmt_double(buf, 12.5);
    assert_string_equal(buf, "12.5");
    as_fmt_double(buf, 0.1 + 0.2); /* needs 17 digits to read back */
    assert_string_equal(buf, "0.30000000000000004");
    as_fmt_double(buf, 0.1 + 0.7); /* 16 digits read back: shorter than %.17g */
    assert_string_equal(buf, "0.7999999999999999");
}

/* Decimals of up to 8 places (the fast path takes up to 6) and random bit patterns. */
static void test_double_sweep(void **state)
{
    (void)state;
    srand(11);
    for (int i = 0; i < 200000; i++) {
        int64_t m = ((int64_t)rand() << 20) ^ rand();
        int places = rand() % 9;
        check_double((double)m / pow(10, places) * (i % 2 ? 1 : -1));
        uint64_t bits = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
        double d;
        memcpy(&d, &bits, sizeof(d));
        check_double(d);
    }
}

static void test_i64(void **state)
{
    (void)state;
    const int64_t v[] = {0,         1,         -1,        9,         10,       -10,
                         123456789, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char want[32], got[AS_NUMFMT_MAX];
        snprintf(want, sizeof(want), "%" PRId64, v[i]);
        assert_int_equal(as_fmt_i64(got, v[i]), strlen(want));
        assert_string_equal(got, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_double_edges),
        cmocka_unit_test(test_double_sweep),
        cmocka_unit_test(test_i64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
