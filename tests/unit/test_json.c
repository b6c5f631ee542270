/* RFC 6901 JSON pointers and strict number extraction. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "util/json.h"

static const char doc[] = "{\"cpu\":{\"highPriority\":0.68},\"replicas\":10,"
                          "\"a/b\":1,\"m~n\":2,\"list\":[5,{\"x\":\"7.5\"}],\"\":3,"
                          "\"s\":\"abc\",\"n\":null,\"t\":true,\"big\":1e308,\"neg\":-1}";

static double num(const char *ptr, int *rc)
{
    struct as_err err;
    double v = -999;
    *rc = as_json_parse_number(doc, strlen(doc), ptr, &v, &err);
    return v;
}

static void test_pointers(void **state)
{
    (void)state;
    int rc;
    assert_true(num("/cpu/highPriority", &rc) == 0.68 && rc == 0);
    assert_true(num("/replicas", &rc) == 10 && rc == 0);
    assert_true(num("/a~1b", &rc) == 1 && rc == 0); /* ~1 is '/' */
    assert_true(num("/m~0n", &rc) == 2 && rc == 0); /* ~0 is '~' */
    assert_true(num("/list/0", &rc) == 5 && rc == 0);
    assert_true(num("/list/1/x", &rc) == 7.5 && rc == 0); /* numeric strings, as Prometheus */
    assert_true(num("/", &rc) == 3 && rc == 0);           /* the empty key */
    assert_true(num("/neg", &rc) == -1 && rc == 0);       /* sign is the caller's business */
}

static void test_failures(void **state)
{
    (void)state;
    const char *bad[] = {"/cpu/low", "/list/2", "/list/01", "/list/-", "/s",    "/n",
                         "/t",       "/cpu",    "",         "cpu",     "/a~2b", "/list/x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct as_err err;
        double v;
        as_err_clear(&err);
        if (as_json_parse_number(doc, strlen(doc), bad[i], &v, &err) == 0) {
            print_error("pointer '%s' should fail\n", bad[i]);
            fail();
        }
        assert_true(err.msg[0] != '\0');
    }
    struct as_err err;
    double v;
    assert_int_equal(as_json_parse_number("{\"a\":1", 6, "/a", &v, &err), -1);
    assert_non_null(strstr(err.msg, "invalid JSON"));
    assert_int_equal(as_json_parse_number("{\"a\":1,\"a\":2}", 13, "/a", &v, &err), -1);
    assert_int_equal(as_json_parse_number("<html>", 6, "/a", &v, &err), -1);
    assert_int_equal(as_json_parse_number("{\"a\":\"NaN\"}", 11, "/a", &v, &err), -1);
    assert_int_equal(as_json_parse_number("{\"a\":1e999}", 11, "/a", &v, &err), -1);
    assert_int_equal(as_json_parse_number("{\"a\":\"inf\"}", 11, "/a", &v, &err), -1);
}

static void test_check(void **state)
{
    (void)state;
    struct as_err err;
    assert_int_equal(as_json_pointer_check("", &err), 0);
    assert_int_equal(as_json_pointer_check("/a/~0/~1", &err), 0);
    assert_int_equal(as_json_pointer_check("a", &err), -1);
    assert_int_equal(as_json_pointer_check("/a~", &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pointers),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
