/* util/resolve: host names resolved on a thread, answered through the loop; a cancelled
 * resolution never calls back and frees itself when its thread ends. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/loop.h"
#include "util/resolve.h"
#include "util/util.h"

struct answer {
    int calls;
    char addr[AS_RESOLVE_ADDR_MAX];
    char error[128];
};

static void on_answer(const char *addr, const char *error, void *arg)
{
    struct answer *a = arg;
    a->calls++;
    snprintf(a->addr, sizeof(a->addr), "%s", addr ? addr : "");
    snprintf(a->error, sizeof(a->error), "%s", error ? error : "");
}

static void run(struct as_loop *loop, const int *calls, int n, int64_t max_ms)
{
    int64_t end = as_mono_ms() + max_ms;
    while (*calls < n && as_mono_ms() < end)
        as_loop_once(loop, 20);
}

static void test_numeric(void **state)
{
    (void)state;
    assert_true(as_resolve_is_numeric("127.0.0.1"));
    assert_true(as_resolve_is_numeric("::1"));
    assert_true(as_resolve_is_numeric("::ffff:10.0.0.1"));
    assert_false(as_resolve_is_numeric("localhost"));
    assert_false(as_resolve_is_numeric("127.0.0"));
    assert_false(as_resolve_is_numeric("[::1]"));
    assert_false(as_resolve_is_numeric(""));
}

static void test_localhost_prefers_ipv4(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    struct answer a = {0};
    struct as_resolve *r = as_resolve_start(loop, "localhost", on_answer, &a);
    assert_non_null(r);
    assert_int_equal(a.calls, 0); /* never at once */
    run(loop, &a.calls, 1, 5000);
    assert_int_equal(a.calls, 1);
    assert_string_equal(a.addr, "127.0.0.1");
    assert_string_equal(a.error, "");
    as_loop_free(loop);
}

static void test_unknown_host(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    struct answer a = {0};
    assert_non_null(as_resolve_start(loop, "no-such-host.invalid", on_answer, &a));
    run(loop, &a.calls, 1, 10000);
    assert_int_equal(a.calls, 1);
    assert_string_equal(a.addr, "");
    assert_true(strlen(a.error) > 0);
    as_loop_free(loop);
}

static void test_cancel_and_many(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    struct answer cancelled = {0}, many[20];
    memset(many, 0, sizeof(many));
    as_resolve_cancel(as_resolve_start(loop, "localhost", on_answer, &cancelled));
    as_resolve_cancel(NULL);
    int total = 0;
    for (int i = 0; i < 20; i++)
        assert_non_null(
            as_resolve_start(loop, i % 2 ? "localhost" : "127.0.0.1", on_answer, &many[i]));
    int64_t end = as_mono_ms() + 5000;
    while (total < 20 && as_mono_ms() < end) {
        as_loop_once(loop, 20);
        total = 0;
        for (int i = 0; i < 20; i++)
            total += many[i].calls;
    }
    assert_int_equal(total, 20);
    for (int i = 0; i < 20; i++)
        assert_string_equal(many[i].addr, "127.0.0.1");
    assert_int_equal(cancelled.calls, 0);
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_null(as_resolve_start(loop, longname, on_answer, &cancelled));
    as_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numeric),
        cmocka_unit_test(test_localhost_prefers_ipv4),
        cmocka_unit_test(test_unknown_host),
        cmocka_unit_test(test_cancel_and_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
