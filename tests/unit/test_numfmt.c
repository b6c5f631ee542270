/* Fast number formatting (util/numfmt): the same text as the snprintf each replaces. */
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

/* as_fmt_g and as_fmt_f3 against the snprintf they replace, on v and its neighbours. */
static void check_g_f3(double v)
{
    for (int step = -2; step <= 2; step++) {
        double w = v;
        for (int i = 0; i < abs(step); i++)
            w = nextafter(w, step < 0 ? -INFINITY : INFINITY);
        char want[512], got[AS_NUMFMT_MAX];
        snprintf(want, sizeof(want), "%g", w);
        size_t n = as_fmt_g(got, w);
        if (strcmp(want, got) != 0 || n != strlen(got))
            fail_msg("%%g of %.17g: want '%s', got '%s'", w, want, got);
        if (isfinite(w) && fabs(w) >= 1e20)
            continue; /* %.3f of 1e300 is 300 digits: the caller's own rule (r3) avoids it */
        snprintf(want, sizeof(want), "%.3f", w);
        n = as_fmt_f3(got, w);
        if (strcmp(want, got) != 0 || n != strlen(got))
            fail_msg("%%.3f of %.17g: want '%s', got '%s'", w, want, got);
    }
}

static void test_g_f3_edges(void **state)
{
    (void)state;
    const double v[] = {0.0, -0.0, 1.0, -1.0, 0.1, 0.8, 0.72 / 0.8, 0.9, 10, 0.5, 1.5, 2.5,
                        /* exact ties of %.3f (62.5, 1062.5 thousandths) and of %g's 6 digits */
                        0.0625, 1.0625, -0.0625, 100000.5, 999999.5, 123456.5, 0.0001220703125,
                        /* the rounding carries into the next power of ten */
                        9.999995, 9.9999951, 99999.95, 999999.4, 0.000999999999, 9.99995e-5,
                        0.00999999, 0.0999999951, 1e-4, 1e-5, 9.9999e-5, 1e6, 1e6 - 1e-10, 1e5,
                        1e5 - 0.01, 123456.789, 3.14159265, -2.718281828, 1.0 / 3, 2.0 / 3,
                        0.1 + 0.2, 999.9995, 0.0005, 0.0015, 0.0025, 1.0005, 2.0005, 12.3456789,
                        1e9, 1e15, 1e21, 1e300, 5e-324, HUGE_VAL, -HUGE_VAL, NAN, 1e-300,
                        1.7976931348623157e308};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        check_g_f3(v[i]);
    char buf[AS_NUMFMT_MAX];
    as_fmt_g(buf, 0.72 / 0.8);
    assert_string_equal(buf, "0.9");
    as_fmt_f3(buf, 0.0625); /* a tie: to even, as printf */
    assert_string_equal(buf, "0.062");
    as_fmt_g(buf, 9.999995e5 + 0.1);
    assert_string_equal(buf, "1e+06");
}

/* Random readings, ratios of them, decimals next to a tie, and random bit patterns. */
static void test_g_f3_sweep(void **state)
{
    (void)state;
    srand(12);
    for (int i = 0; i < 100000; i++) {
        double a = (double)(rand() % 2000000) / pow(10, rand() % 9);
        double b = (double)(rand() % 20000 + 1) / pow(10, rand() % 5);
        check_g_f3(a);
        check_g_f3(a / b);
        check_g_f3(-a / b);
        /* n + 0.5 units of the 6th significant digit or of the 3rd decimal */
        double tie = ((double)(rand() % 900000 + 100000) + 0.5) / pow(10, rand() % 12);
        check_g_f3(tie);
        check_g_f3((double)(rand() % 1000000) / 1000 + 0.0005);
        uint64_t bits = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
        double d;
        memcpy(&d, &bits, sizeof(d));
        check_g_f3(d);
    }
}

/* as_fmt against snprintf: the text at every buffer length (truncated alike, NUL-terminated)
 * and the returned length, for the conversions it writes and for one it hands on. */
#define CHECK_FMT(...)                                                                             \
    do {                                                                                           \
        char want[256], got[256];                                                                  \
        int wn = snprintf(want, sizeof(want), __VA_ARGS__);                                        \
        for (size_t len = 0; len <= (size_t)wn + 2; len++) {                                       \
            char w[256], g[256];                                                                   \
            memset(w, 'x', sizeof(w));                                                             \
            memset(g, 'x', sizeof(g));                                                             \
            int a = snprintf(w, len, __VA_ARGS__), b = as_fmt(g, len, __VA_ARGS__);                \
            assert_int_equal(a, b);                                                                \
            if (memcmp(w, g, sizeof(w)) != 0)                                                      \
                fail_msg("'%s' at %zu bytes: want '%.*s', got '%.*s'", want, len, (int)len, w,     \
                         (int)len, g);                                                             \
        }                                                                                          \
        assert_int_equal(as_fmt(got, sizeof(got), __VA_ARGS__), wn);                               \
        assert_string_equal(got, want);                                                            \
    } while (0)

static void test_fmt(void **state)
{
    (void)state;
    CHECK_FMT("%s", "");
    CHECK_FMT("plain text, no conversion");
    CHECK_FMT("%s=%g target=%g ratio=%s: ceil(%s*%d)=%d", "cpu", 0.72, 0.8, "0.900", "0.900", 3, 3);
    CHECK_FMT("%d%%", -2147483647 - 1);
    CHECK_FMT("%g %g %g %g %g", 0.0, -0.0, 1e-300, NAN, -HUGE_VAL);
    CHECK_FMT("100%% of %s", "x");
    CHECK_FMT("%.3f and %5d: handed to vsnprintf", 2.0 / 3, 42);
    srand(13);
    for (int i = 0; i < 20000; i++) { /* the macro evaluates its arguments many times */
        double q = (double)rand() / (rand() % 1000 + 1), avg = (double)(rand() % 100000) / 100;
        double big = (double)rand(), small = 1.0 / (rand() % 97 + 1);
        int n = rand() - RAND_MAX / 2;
        CHECK_FMT("q=%g avg=%g: ceil(%g/%g)=%d %s", q, avg, big, small, n,
                  i % 2 ? "from zero" : "");
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
        cmocka_unit_test(test_double_edges), cmocka_unit_test(test_double_sweep),
        cmocka_unit_test(test_g_f3_edges),   cmocka_unit_test(test_g_f3_sweep),
        cmocka_unit_test(test_fmt),          cmocka_unit_test(test_i64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
