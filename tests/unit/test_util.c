/* Durations, templates, log URL redaction, error formatting, backoff. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util/backoff.h"
#include "util/err.h"
#include "util/log.h"
#include "util/util.h"

static void test_durations(void **state)
{
    (void)state;
    struct {
        const char *s;
        int64_t ms;
    } good[] = {{"15s", 15000},     {"5m", 300000},    {"1h", 3600000}, {"250ms", 250},
                {"1h30m", 5400000}, {"1.5s", 1500},    {"30", 30000},   {"0s", 0},
                {"2d", 172800000},  {"1m1s1ms", 61001}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t ms = -1;
        assert_int_equal(as_duration_parse(good[i].s, &ms), 0);
        assert_int_equal(ms, good[i].ms);
    }
    const char *bad[] = {"",     "s",     "15 s", "-5s", "5x",    "1.5ms",
                         "5sec", "1e99h", "3 ",   "m5",  "0x10s", "5s5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms;
        if (as_duration_parse(bad[i], &ms) == 0) {
            print_error("'%s' parsed as %lld\n", bad[i], (long long)ms);
            fail();
        }
    }
    char buf[32];
    assert_string_equal(as_age_fmt(-5, buf, sizeof(buf)), "0s");
    assert_string_equal(as_age_fmt(12999, buf, sizeof(buf)), "12s");
    assert_string_equal(as_age_fmt(245000, buf, sizeof(buf)), "4m05s");
    assert_string_equal(as_age_fmt(3600000 * 3 + 720000, buf, sizeof(buf)), "3h12m");
    assert_string_equal(as_age_fmt(86400000LL * 2 + 3600000 * 3, buf, sizeof(buf)), "2d03h");
    assert_string_equal(as_duration_fmt(15000, buf, sizeof(buf)), "15s");
    assert_string_equal(as_duration_fmt(300000, buf, sizeof(buf)), "5m");
    assert_string_equal(as_duration_fmt(1500, buf, sizeof(buf)), "1500ms");
    assert_string_equal(as_duration_words(30000, buf, sizeof(buf)), "30 s");
    assert_string_equal(as_duration_words(300000, buf, sizeof(buf)), "5 min");
    assert_string_equal(as_duration_words(1500, buf, sizeof(buf)), "1.5 s");
    assert_string_equal(as_duration_words(250, buf, sizeof(buf)), "250 ms");
    assert_string_equal(as_duration_words(0, buf, sizeof(buf)), "0 ms");
    assert_string_equal(as_duration_words(5400000, buf, sizeof(buf)), "1 h 30 min");
    assert_string_equal(as_duration_words(7200000, buf, sizeof(buf)), "2 h");
    assert_string_equal(as_duration_words(120500, buf, sizeof(buf)), "2 min 0.5 s");
    assert_string_equal(as_duration_words(20027, buf, sizeof(buf)), "20.027 s");
    assert_string_equal(as_duration_fmt(7200000, buf, sizeof(buf)), "2h");
}

static void test_template(void **state)
{
    (void)state;
    const char *keys[] = {"replicas", "group"};
    const char *vals[] = {"7", "web"};
    char *s = as_template("{\"replicas\":{{replicas}},\"g\":\"{{group}}\",\"x\":\"{{x}}\"}", keys,
                          vals, 2);
    assert_string_equal(s, "{\"replicas\":7,\"g\":\"web\",\"x\":\"{{x}}\"}");
    free(s);
    s = as_template("", keys, vals, 2);
    assert_string_equal(s, "");
    free(s);
    s = as_template("{{replicas", keys, vals, 2);
    assert_string_equal(s, "{{replicas");
    free(s);
}

static void test_log_url(void **state)
{
    (void)state;
    char buf[256];
    assert_string_equal(as_log_url("https://user:pw@h:8/p?token=abc&x=1#f", buf, sizeof(buf)),
                        "https://h:8/p?token=***&x=***");
    assert_string_equal(as_log_url("http://127.0.0.1:80/app/status", buf, sizeof(buf)),
                        "http://127.0.0.1:80/app/status");
    assert_string_equal(as_log_url("http://h/a@b", buf, sizeof(buf)), "http://h/a@b");
    char small[8];
    as_log_url("http://127.0.0.1/long/path", small, sizeof(small));
    assert_true(strlen(small) < sizeof(small));
}

static void test_err(void **state)
{
    (void)state;
    struct as_err err;
    char buf[600];
    as_err_at(&err, "f.yaml", 3, 7, "bad %s", "thing");
    assert_string_equal(as_err_str(&err, buf, sizeof(buf)), "f.yaml:3:7: bad thing");
    as_err_set(&err, "plain");
    assert_string_equal(as_err_str(&err, buf, sizeof(buf)), "plain");
    assert_int_equal(as_err_set(NULL, "x"), -1);
}

static void test_backoff(void **state)
{
    (void)state;
    struct as_backoff b;
    as_backoff_init(&b, 100, 1000, 42);
    int64_t ceilings[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (size_t i = 0; i < sizeof(ceilings) / sizeof(ceilings[0]); i++) {
        assert_int_equal(as_backoff_ceiling(&b, (unsigned)i), ceilings[i]);
        int64_t d = as_backoff_next(&b);
        assert_true(d >= ceilings[i] / 2 && d <= ceilings[i]); /* equal jitter */
    }
    as_backoff_reset(&b);
    int64_t d = as_backoff_next(&b);
    assert_true(d >= 50 && d <= 100);
    /* Same seed, same sequence; different seeds spread out. */
    struct as_backoff x, y;
    as_backoff_init(&x, 1000, 60000, 7);
    as_backoff_init(&y, 1000, 60000, 7);
    int same = 1, differ = 0;
    struct as_backoff z;
    as_backoff_init(&z, 1000, 60000, 8);
    for (int i = 0; i < 6; i++) {
        int64_t a = as_backoff_next(&x), c = as_backoff_next(&z);
        same &= a == as_backoff_next(&y);
        differ |= a != c;
    }
    assert_true(same);
    assert_true(differ);
    /* Huge attempt counts saturate at the cap instead of overflowing. */
    as_backoff_init(&b, 1, 5000, 1);
    for (int i = 0; i < 200; i++)
        d = as_backoff_next(&b);
    assert_true(d >= 2500 && d <= 5000);
}

static void test_has_control(void **state)
{
    (void)state;
    assert_false(as_has_control(NULL));
    assert_false(as_has_control(""));
    assert_false(as_has_control("Bearer abc-123 ~\xc3\xa9")); /* UTF-8 is no control */
    assert_true(as_has_control("abc\n"));
    assert_true(as_has_control("a\rb"));
    assert_true(as_has_control("\tx"));
    assert_true(as_has_control("x\x7f"));
    assert_true(as_has_control("\x1f"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations), cmocka_unit_test(test_template),
        cmocka_unit_test(test_log_url),   cmocka_unit_test(test_err),
        cmocka_unit_test(test_backoff),   cmocka_unit_test(test_has_control),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
