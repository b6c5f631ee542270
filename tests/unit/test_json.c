/* RFC 6901 JSON pointers and strict number extraction. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
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
    assert_true(num("/", &rc) == 3 && rc == 0);     /* the empty key */
    assert_true(num("/neg", &rc) == -1 && rc == 0); /* sign is the caller's business */
}

static void test_failures(void **state)
{
    (void)state;
    const char *bad[] = {"/cpu/low", "/list/2", "/list/01", "/list/-", "/s",      "/n",       "/t",
                         "/cpu",     "",        "cpu",      "/a~2b",   "/list/x", "/list/1/x"};
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
    assert_non_null(strstr(err.msg, "not JSON (line 1 column"));
    assert_int_equal(as_json_parse_number("{\"a\":1,\"a\":2}", 13, "/a", &v, &err), -1);
    assert_int_equal(as_json_parse_number("<html>", 6, "/a", &v, &err), -1);
    assert_int_equal(as_json_parse_number("{\"a\":\"NaN\"}", 11, "/a", &v, &err), -1);
    assert_int_equal(as_json_parse_number("{\"a\":1e999}", 11, "/a", &v, &err), -1);
    assert_int_equal(as_json_parse_number("{\"a\":\"inf\"}", 11, "/a", &v, &err), -1);
}

/* The value of {"v": <json>} read with flags: 0 and *out, or -1 and err. */
static int value_of(const char *json, unsigned flags, double *out, struct as_err *err)
{
    char text[256];
    snprintf(text, sizeof(text), "{\"v\":%s}", json);
    as_err_clear(err);
    json_t *d = as_json_load(text, strlen(text), err);
    assert_non_null(d);
    int rc = as_json_number_at(d, "/v", flags, out, err);
    json_decref(d);
    return rc;
}

/* A string is a number only when the caller allows numeric strings, and then only in decimal:
 * strtod's hex, inf, nan and leading spaces are not numbers ("0x0" once read as 0). */
static void test_numeric_strings(void **state)
{
    (void)state;
    struct {
        const char *json;
        int ok;
        double value;
    } cases[] = {
        {"\"0x0\"", 0, 0},       {"\"0x10\"", 0, 0},   {"\" 1\"", 0, 0},     {"\"1 \"", 0, 0},
        {"\"inf\"", 0, 0},       {"\"nan\"", 0, 0},    {"\"NaN\"", 0, 0},    {"\"-inf\"", 0, 0},
        {"\"\"", 0, 0},          {"\"1_000\"", 0, 0},  {"\"1.\"", 0, 0},     {"\".5\"", 0, 0},
        {"\"1e\"", 0, 0},        {"\"1e+\"", 0, 0},    {"\"+\"", 0, 0},      {"\"1,5\"", 0, 0},
        {"\"1e999\"", 0, 0},     {"\"\\n1\"", 0, 0},   {"\"1e3\"", 1, 1000}, {"\"-0\"", 1, 0},
        {"\"0.5\"", 1, 0.5},     {"\"+1.5\"", 1, 1.5}, {"\"-2\"", 1, -2},    {"\"007\"", 1, 7},
        {"\"2.5E-1\"", 1, 0.25},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct as_err err;
        double v = -999;
        int rc = value_of(cases[i].json, AS_JSON_NUMERIC_STRINGS, &v, &err);
        if ((rc == 0) != cases[i].ok || (rc == 0 && v != cases[i].value))
            fail_msg("%s: rc=%d v=%g err='%s'", cases[i].json, rc, v, err.msg);
        if (rc < 0 && strstr(err.msg, "not a decimal number") == NULL &&
            strstr(err.msg, "not finite") == NULL)
            fail_msg("%s: err='%s'", cases[i].json, err.msg);
        /* Without the flag no string is a number, not even a decimal one. */
        assert_int_equal(value_of(cases[i].json, AS_JSON_NUMBERS_ONLY, &v, &err), -1);
        assert_non_null(strstr(err.msg, "is a string, not a number"));
    }
    struct as_err err;
    double v;
    assert_int_equal(value_of("1e3", AS_JSON_NUMBERS_ONLY, &v, &err), 0);
    assert_true(v == 1000);
    assert_int_equal(value_of("-0", AS_JSON_NUMBERS_ONLY, &v, &err), 0);
    assert_true(v == 0);
}

/* Replica counts: whole numbers 0..INT_MAX; the error says which rule the value broke and
 * shows it in full. */
static void test_counts(void **state)
{
    (void)state;
    struct {
        const char *json;
        int value;
        const char *error;
    } cases[] = {
        {"10", 10, NULL},
        {"0", 0, NULL},
        {"-0", 0, NULL},
        {"1000000001", 1000000001, NULL},
        {"2147483647", 2147483647, NULL},
        {"4.0", 4, NULL},
        {"2147483648", 0, "replica count 2147483648 is out of range (0..2147483647)"},
        {"3000000000", 0, "replica count 3000000000 is out of range (0..2147483647)"},
        {"1e20", 0, "replica count 1e+20 is out of range (0..2147483647)"},
        {"99999999999999999999999", 0, "is out of range (0..2147483647)"},
        {"2.5", 0, "replica count 2.5 is not a whole number"},
        {"1000000000.5", 0, "replica count 1e+09 is not a whole number"},
        {"-2", 0, "replica count -2 is negative"},
        {"-0.5", 0, "replica count -0.5 is negative"},
        {"\"5\"", 0, "value at /v is a string, not a number"},
        {"null", 0, "value at /v is null, not a number"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "{\"v\":%s}", cases[i].json);
        struct as_err err;
        as_err_clear(&err);
        json_t *d = as_json_load(text, strlen(text), &err);
        assert_non_null(d);
        int n = -1;
        int rc = as_json_count_at(d, "/v", AS_JSON_NUMBERS_ONLY, &n, &err);
        json_decref(d);
        if (cases[i].error == NULL ? rc != 0 || n != cases[i].value
                                   : rc == 0 || strstr(err.msg, cases[i].error) == NULL)
            fail_msg("%s: rc=%d n=%d err='%s'", cases[i].json, rc, n, err.msg);
    }
}

/* A huge integer elsewhere in the document (a 64-bit byte counter) does not make the whole
 * document invalid. */
static void test_huge_integer_elsewhere(void **state)
{
    (void)state;
    const char text[] = "{\"bytes\":18446744073709551615123,\"v\":0.5}";
    struct as_err err;
    double v;
    assert_int_equal(as_json_parse_number(text, strlen(text), "/v", &v, &err), 0);
    assert_true(v == 0.5);
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

/* The jansson path as_json_scan_numbers stands for: each pointer's number, or -1. */
static int by_jansson(const char *text, size_t len, const char *const *ptrs, size_t n, double *out)
{
    struct as_err err;
    json_t *root = as_json_load(text, len, &err);
    if (root == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = as_json_number_at(root, ptrs[i], AS_JSON_NUMBERS_ONLY, &out[i], &err);
    json_decref(root);
    return rc;
}

/* The scan's answer (1 or 0) for text; when 1, jansson must give the same numbers, bit for
 * bit. */
static int scan_agrees(const char *text, size_t len, const char *const *ptrs, size_t n)
{
    double got[AS_JSON_SCAN_MAX], want[AS_JSON_SCAN_MAX];
    int rc = as_json_scan_numbers(text, len, ptrs, n, got);
    if (rc == 1) {
        if (by_jansson(text, len, ptrs, n, want) < 0)
            fail_msg("scanned what jansson refuses: %.*s", (int)len, text);
        for (size_t i = 0; i < n; i++)
            if (memcmp(&got[i], &want[i], sizeof(double)) != 0)
                fail_msg("%s in %.*s: scanned %.17g, jansson %.17g", ptrs[i], (int)len, text,
                         got[i], want[i]);
    }
    return rc;
}

static void test_scan(void **state)
{
    (void)state;
    const char *two[] = {"/cpu/highPriority", "/replicas"};
    const char *status = "{\"cpu\":{\"highPriority\":0.5},\"replicas\":2,\"name\":\"web1\"}\n";
    double v[2];
    assert_int_equal(as_json_scan_numbers(status, strlen(status), two, 2, v), 1);
    assert_true(v[0] == 0.5 && v[1] == 2);
    /* 1: read by the scan, any shape, the answer as jansson's; 0: left to jansson (what it
     * refuses, what the scan does not read, no number there). */
    static const struct {
        const char *ptr, *text;
        int want;
    } cases[] = {
        {"", "42", 1},
        {"", " -0 ", 1},
        {"", "1e-400", 1},
        {"", "123456789012345678901234567890", 1},
        {"/a", "{\"a\":1.5e3,\"b\":[true,false,null,\"x\\n\\u00e9\\\"\",{}],\"c\":{}}", 1},
        {"/1/0", "[0,[7,8],9]", 1},
        {"/a~1b/~0", "{\"a/b\":{\"~\":3}}", 1},
        {"/", "{\"\":4}", 1},
        {"/name", "{\"név\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\",\"name\":6}", 1},
        {"/10", "[0,1,2,3,4,5,6,7,8,9,10.25]", 1},
        {"/x", "\t\r\n {\"x\" : 0.000001 } \n", 1},
        {"", "", 0},
        {"", "   ", 0},
        {"", "01", 0},
        {"", "-", 0},
        {"", "1.", 0},
        {"", "1e", 0},
        {"", ".5", 0},
        {"", "+1", 0},
        {"", "1e400", 0},
        {"", "-1e400", 0},
        {"/a", "{\"a\":1,\"b\":[2,-1e999]}", 0},
        {"/a", "{\"a\":1,\"b\":[{\"c\":1,\"c\":1}]}", 0},
        {"/a", "[01]", 0},
        {"", "NaN", 0},
        {"", "1 2", 0},
        {"",
         "\xef\xbb\xbf"
         "1",
         0},
        {"/a", "{\"a\":1,\"a\":2}", 0},
        {"/a", "{\"a\":1,\"b\":2,\"b\":3}", 0},
        {"/a", "{\"a\":1,\"\\u0062\":2}", 0},
        {"/a", "{\"a\":1}x", 0},
        {"/a", "{\"a\":1,}", 0},
        {"/a", "[1,]", 0},
        {"/a", "{\"a\":\"1\"}", 0},
        {"/a", "{\"a\":null}", 0},
        {"/a", "{\"a\":{}}", 0},
        {"/b", "{\"a\":1}", 0},
        {"/a/b", "{\"a\":1}", 0},
        {"/01", "[0,1]", 0},
        {"/2", "[0,1]", 0},
        {"/a", "{\"a\":1,\"s\":\"\\u0000\"}", 0},
        {"/a", "{\"a\":1,\"s\":\"\\ud83d\\ude00\"}", 0},
        {"/a", "{\"a\":1,\"s\":\"\\x\"}", 0},
        {"/a", "{\"a\":1,\"s\":\"tab\there\"}", 0},
        {"/a", "{\"a\":1,\"s\":\"\xc0\xaf\"}", 0},
        {"/a", "{\"a\":1,\"s\":\"\xed\xa0\x80\"}", 0},
        {"/a", "{\"a\":1,\"s\":\"\xf4\x90\x80\x80\"}", 0},
        {"/a", "{\"a\":1,\"s\":\"\xe2\x82\"}", 0},
        {"/a", "{\"a\":1,\"s\":\"open", 0},
        {"/a", "{\"a\":tru}", 0},
        {"a", "{\"a\":1}", 0},
        {"/a~2", "{\"a~2\":1}", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (scan_agrees(cases[i].text, strlen(cases[i].text), &cases[i].ptr, 1) != cases[i].want)
            fail_msg("%s in %s: want %d", cases[i].ptr, cases[i].text, cases[i].want);
    /* A NUL after the document: jansson refuses it. */
    const char *a = "/a";
    assert_int_equal(scan_agrees("{\"a\":1}\0", 7, &a, 1), 1);
    assert_int_equal(scan_agrees("{\"a\":1}\0", 8, &a, 1), 0);
    /* As deep as the scan goes, and one level more; as many keys as it tracks, and one more:
     * the last two are jansson's. */
    for (int levels = AS_JSON_SCAN_DEPTH - 1; levels <= AS_JSON_SCAN_DEPTH; levels++) {
        char deep[2 * AS_JSON_SCAN_DEPTH + 8], ptr[2 * AS_JSON_SCAN_DEPTH + 1];
        char *d = deep, *q = ptr;
        for (int i = 0; i < levels; i++)
            *d++ = '[', *q++ = '/', *q++ = '0';
        *d++ = '1';
        for (int i = 0; i < levels; i++)
            *d++ = ']';
        *q = '\0';
        const char *bottom = ptr;
        assert_int_equal(scan_agrees(deep, (size_t)(d - deep), &bottom, 1),
                         levels < AS_JSON_SCAN_DEPTH);
    }
    for (int keys = AS_JSON_SCAN_KEYS; keys <= AS_JSON_SCAN_KEYS + 1; keys++) {
        char wide[16 * (AS_JSON_SCAN_KEYS + 1) + 8];
        int o = snprintf(wide, sizeof(wide), "{");
        for (int i = 0; i < keys; i++)
            o += snprintf(wide + o, sizeof(wide) - (size_t)o, "%s\"k%d\":%d", i ? "," : "", i, i);
        snprintf(wide + o, sizeof(wide) - (size_t)o, "}");
        const char *k0 = "/k0";
        assert_int_equal(scan_agrees(wide, strlen(wide), &k0, 1), keys <= AS_JSON_SCAN_KEYS);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pointers),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_numeric_strings),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_huge_integer_elsewhere),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
