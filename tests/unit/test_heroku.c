/* scalers/heroku: reading a formation, Heroku's error objects, RateLimit-Remaining and the
 * hold it starts, the options, and the scaler's calls (method, path, headers, body, describe,
 * failures, cancel) against an in-process server (api_server.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <microhttpd.h>

#include "config/cfg.h"
#include "scalers/heroku.h"
#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "core/plugin.h"
#include "util/util.h"

#include "api_server.h"

extern const struct as_scaler_ops as_scaler_heroku;
static const struct as_scaler_ops *ops = &as_scaler_heroku;
#include "api_scaler_fixture.h"

#define ACCEPT "application/vnd.heroku+json; version=3"
#define FORMATION(q)                                                                               \
    "{\"app\":{\"id\":\"01234567-89ab-cdef-0123-456789abcdef\",\"name\":\"example\"},"             \
    "\"command\":\"bundle exec rails server -p $PORT\",\"created_at\":\"2012-01-01T12:00:00Z\","   \
    "\"dyno_size\":{\"id\":\"01234567-89ab-cdef-0123-456789abcdef\",\"name\":\"standard-1X\"},"    \
    "\"id\":\"01234567-89ab-cdef-0123-456789abcdef\",\"quantity\":" q ",\"size\":\"standard-1X\"," \
    "\"type\":\"web\",\"updated_at\":\"2012-01-01T12:00:00Z\"}"

/* ---- the answers ---- */

static void test_quantity(void **state)
{
    (void)state;
    struct {
        const char *body;
        int quantity; /* -1: an error containing `error` */
        const char *error;
    } cases[] = {
        {FORMATION("1"), 1, NULL},
        {FORMATION("0"), 0, NULL},
        {"{\"quantity\":2147483647}", 2147483647, NULL},
        {"{\"quantity\":4.0}", 4, NULL},
        {"{\"quantity\":2147483648}", -1, "replica count 2147483648 is out of range"},
        {"{\"quantity\":2.5}", -1, "response is not a formation: replica count 2.5 is not a whole"},
        {"{\"quantity\":-3}", -1, "replica count -3 is negative"},
        {"{\"quantity\":\"3\"}", -1, "value at /quantity is a string, not a number"},
        {"{\"quantity\":null}", -1, "value at /quantity is null"},
        {"{\"quantity\":true}", -1, "value at /quantity is"},
        {"{\"quantity\":[3]}", -1, "value at /quantity is"},
        {"{\"size\":\"eco\"}", -1, "response is not a formation: JSON pointer /quantity not found"},
        {"[" FORMATION("1") "]", -1, "response is not a formation: not a JSON object"},
        {"3", -1, "response is not a formation: not a JSON object"},
        {"{\"quantity\":1,\"quantity\":2}", -1, "response is not JSON"},
        {"", -1, "response is not JSON"},
        {"<html>502 Bad Gateway</html>", -1, "response is not JSON (line 1"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct as_err err;
        as_err_clear(&err);
        int q = -7;
        int rc = as_heroku_quantity(cases[i].body, strlen(cases[i].body), &q, &err);
        if (cases[i].quantity >= 0 ? rc != 0 || q != cases[i].quantity
                                   : rc == 0 || strstr(err.msg, cases[i].error) == NULL)
            fail_msg("case %zu (%s): rc=%d q=%d err='%s'", i, cases[i].body, rc, q, err.msg);
    }
}

static void test_reason_and_permanent(void **state)
{
    (void)state;
    struct {
        long status;
        const char *body;
        const char *reason;
        int permanent;
    } cases[] = {
        {422,
         "{\"id\":\"invalid_params\",\"message\":\"Cannot update to more than 1 Eco size dynos "
         "per process type.\",\"url\":\"https://devcenter.heroku.com\"}",
         "HTTP 422 invalid_params: Cannot update to more than 1 Eco size dynos per process type.",
         1},
        {401, "{\"id\":\"unauthorized\",\"message\":\"Invalid credentials provided.\"}",
         "HTTP 401 unauthorized: Invalid credentials provided.", 1},
        {403, "{\"id\":\"suspended\",\"message\":\"This account has been suspended.\"}",
         "HTTP 403 suspended: This account has been suspended.", 1},
        {404, "{\"id\":\"not_found\",\"message\":\"Couldn't find that formation.\"}",
         "HTTP 404 not_found: Couldn't find that formation.", 1},
        {402, "{\"id\":\"delinquent\",\"message\":\"Please verify your account.\"}",
         "HTTP 402 delinquent: Please verify your account.", 1},
        {429,
         "{\"id\":\"rate_limit\",\"message\":\"Your account reached the API rate limit\\nPlease "
         "wait\"}",
         "HTTP 429 rate_limit: Your account reached the API rate limit.Please wait", 0},
        {409, "{\"id\":\"conflict\",\"message\":\"A release is in progress.\"}",
         "HTTP 409 conflict: A release is in progress.", 0},
        {503, "{\"id\":\"service_unavailable\",\"message\":\"API is unavailable\"}",
         "HTTP 503 service_unavailable: API is unavailable", 0},
        {500, "Internal Server Error", "HTTP 500: Internal Server Error", 0},
        {502, "", "HTTP 502: ", 0},
        {408, "{\"id\":1,\"message\":\"x\"}", "HTTP 408: {\"id\":1,\"message\":\"x\"}", 0},
        {404, "{\"message\":\"no id\"}", "HTTP 404: {\"message\":\"no id\"}", 1},
        {301, "moved", "HTTP 301: moved", 1},
        {400, "{\"id\":\"bad_request\",\"message\":\"a\\tb\\rc\"}", "HTTP 400 bad_request: a.b.c",
         1},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        char buf[AS_MSG_MAX];
        as_heroku_reason(cases[i].status, cases[i].body, strlen(cases[i].body), buf, sizeof(buf));
        if (strcmp(buf, cases[i].reason) != 0 ||
            as_heroku_permanent(cases[i].status) != cases[i].permanent)
            fail_msg("case %zu: '%s' permanent=%d", i, buf, as_heroku_permanent(cases[i].status));
    }
    /* A long message is cut, never overflows; the id is bounded too. */
    char body[2048], buf[AS_MSG_MAX];
    snprintf(body, sizeof(body), "{\"id\":\"%0300d\",\"message\":\"%01500d\"}", 0, 0);
    as_heroku_reason(422, body, strlen(body), buf, sizeof(buf));
    assert_true(strlen(buf) < sizeof(buf) && strncmp(buf, "HTTP 422 0000", 13) == 0);
    assert_true(as_heroku_permanent(200) == 0 && as_heroku_permanent(599) == 0);
}

static void test_rate_limit(void **state)
{
    (void)state;
    assert_int_equal(as_heroku_remaining("4500"), 4500);
    assert_int_equal(as_heroku_remaining("0"), 0);
    const char *bad[] = {NULL, "",   "-1",   " 5",  "5 ",
                         "5x", "+5", "0x10", "1e3", "99999999999999999999"};
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
        if (as_heroku_remaining(bad[i]) != -1)
            fail_msg("'%s' read as %ld", bad[i] ? bad[i] : "(null)", as_heroku_remaining(bad[i]));
    struct {
        long remaining;
        int limited, reserve;
        int64_t hold;
    } rows[] = {
        {-1, 0, 10, 0},    {4500, 0, 10, 0},   {10, 0, 10, 0},  {9, 0, 10, 800},
        {0, 0, 10, 8000},  {0, 0, 0, 800},     {1, 0, 0, 0},    {0, 1, 0, 800},
        {-1, 1, 10, 8000}, {300, 1, 10, 8000}, {2, 0, 5, 2400}, {0, 0, 4500, 3600000},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(rows); i++)
        if (as_heroku_hold_ms(rows[i].remaining, rows[i].limited, rows[i].reserve) != rows[i].hold)
            fail_msg(
                "row %zu: %lld", i,
                (long long)as_heroku_hold_ms(rows[i].remaining, rows[i].limited, rows[i].reserve));
}

/* ---- the scaler ---- */

static void test_options(void **state)
{
    (void)state;
    struct {
        const char *yaml;
        const char *error; /* NULL: valid */
    } cases[] = {
        {"app: my-app\ntoken: t\n", NULL},
        {"app: 01234567-89ab-cdef-0123-456789abcdef\nprocess_type: worker_2\ntoken: t\n"
         "size: Performance-L\napi_url: http://127.0.0.1:1/\nrate_limit_reserve: 0\n",
         NULL},
        {"token: t\n", "'app'"},
        {"app: a\n", "'token'"},
        {"app: my/app\ntoken: t\n", "t.yaml:1:6: 'app' must be an app's name or id"},
        {"app: a\nprocess_type: \"web?x=1\"\ntoken: t\n", "t.yaml:2:15: 'process_type' must be"},
        {"app: a\ntoken: t\nsize: \"standard 1X\"\n", "t.yaml:3:7: 'size' must be"},
        {"app: a\ntoken: \"t\\r\\nX-Evil: 1\"\n", "t.yaml:2:8: 'token' holds a control character"},
        {"app: a\ntoken: t\napi_url: api.heroku.com\n", "t.yaml:3:10: 'api_url' must start"},
        {"app: a\ntoken: t\nrate_limit_reserve: 4501\n", "rate_limit_reserve"},
        {"app: a\ntoken: t\nsize: \"\"\n", "size"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct sc s;
        struct as_err err;
        int rc = configure(&s, cases[i].yaml, &err);
        char msg[AS_ERR_MAX + 300];
        as_err_str(&err, msg, sizeof(msg));
        if (cases[i].error ? rc == 0 || strstr(msg, cases[i].error) == NULL : rc != 0)
            fail_msg("case %zu: rc=%d err='%s'", i, rc, msg);
        finish(&s);
    }
}

static void test_calls(void **state)
{
    (void)state;
    struct sc s;
    start(&s, "app: example\ntoken: hrku-0123456789\napi_url: http://127.0.0.1:%d/\n"
              "rate_limit_reserve: 2\n");
    api_serve(200, FORMATION("3"), "RateLimit-Remaining: 4499", 0);
    struct as_scale_result r = call(&s, -1);
    assert_true(r.ok);
    assert_int_equal(r.replicas, 3);
    assert_string_equal(api.method, "GET");
    assert_string_equal(api.path, "/apps/example/formation/web");
    assert_string_equal(api.accept, ACCEPT);
    assert_string_equal(api.auth, "Bearer hrku-0123456789");
    api_serve(200, FORMATION("5"), "RateLimit-Remaining: 4498", 0);
    r = call(&s, 5);
    assert_true(r.ok);
    assert_int_equal(r.replicas, 5);
    assert_string_equal(api.method, "PATCH");
    assert_string_equal(api.path, "/apps/example/formation/web");
    assert_string_equal(api.req_body, "{\"quantity\":5}");
    assert_string_equal(api.ctype, "application/json");
    assert_string_equal(api.accept, ACCEPT);
    assert_string_equal(api.auth, "Bearer hrku-0123456789");
    /* A 200 whose body is not a formation still set the count: the engine reads it back. */
    api_serve(200, "OK", NULL, 0);
    r = call(&s, 6);
    assert_true(r.ok);
    assert_int_equal(r.replicas, -1);
    char line[512];
    ops->describe(s.state, 7, line, sizeof(line));
    char want[512];
    snprintf(want, sizeof(want),
             "PATCH http://127.0.0.1:%d/apps/example/formation/web {\"quantity\":7} (Accept: "
             "%s, Authorization: Bearer ***)",
             api_port, ACCEPT);
    assert_string_equal(line, want);
    finish(&s);
}

static void test_failures(void **state)
{
    (void)state;
    struct sc s;
    start(&s, "app: example\nprocess_type: worker\ntoken: hrku-0123456789\n"
              "api_url: http://127.0.0.1:%d\nsize: Eco\n");
    api_serve(422,
              "{\"id\":\"invalid_params\",\"message\":\"Cannot update to more than 1 Eco size "
              "dynos per process type.\"}",
              "RateLimit-Remaining: 4000", 0);
    struct as_scale_result r = call(&s, 2);
    assert_false(r.ok);
    assert_true(r.permanent);
    assert_string_equal(r.error, "HTTP 422 invalid_params: Cannot update to more than 1 Eco size "
                                 "dynos per process type.");
    assert_string_equal(api.req_body, "{\"quantity\":2,\"size\":\"Eco\"}");
    assert_string_equal(api.path, "/apps/example/formation/worker");
    api_serve(503, "{\"id\":\"service_unavailable\",\"message\":\"API is unavailable\"}", NULL, 0);
    r = call(&s, -1);
    assert_false(r.ok || r.permanent);
    assert_string_equal(r.error, "HTTP 503 service_unavailable: API is unavailable");
    api_serve(200, "{\"quantity\":\"3\"}", NULL, 0);
    r = call(&s, -1);
    assert_false(r.ok);
    assert_int_equal(r.replicas, -1);
    assert_string_equal(
        r.error, "response is not a formation: value at /quantity is a string, not a number");
    api_serve(200, FORMATION("1"), NULL, 900);
    r = call(&s, -1);
    assert_false(r.ok || r.permanent);
    assert_non_null(strstr(r.error, "timeout after 5"));
    /* Cancelled in flight: no callback. */
    usleep(500000);
    s.calls = 0;
    ops->get(s.state, on_result, &s);
    as_loop_once(s.loop, 20);
    ops->cancel(s.state);
    for (int i = 0; i < 10; i++)
        as_loop_once(s.loop, 20);
    assert_int_equal(s.calls, 0);
    finish(&s);
}

/* RateLimit-Remaining below the reserve (and a 429) hold calls: they fail at once, transient,
 * without a request, until the pool has had time to refill. */
static void test_hold(void **state)
{
    (void)state;
    struct sc s;
    start(&s, "app: example\ntoken: hrku-0123456789\napi_url: http://127.0.0.1:%d\n"
              "rate_limit_reserve: 2\n");
    api_serve(200, FORMATION("3"), "RateLimit-Remaining: 1", 0);
    struct as_scale_result r = call(&s, -1);
    assert_true(r.ok); /* the answer counts; the calls after it wait */
    int before = api_requests();
    int64_t t0 = as_mono_ms();
    r = call(&s, 4);
    assert_false(r.ok || r.permanent);
    assert_string_equal(r.error, "rate limit: calls held 800ms for the pool to refill "
                                 "(RateLimit-Remaining 1, reserve 2)");
    assert_int_equal(api_requests(), before);
    assert_true(as_mono_ms() - t0 < 200);
    usleep(850000);
    api_serve(429,
              "{\"id\":\"rate_limit\",\"message\":\"Your account reached the API rate limit\"}",
              NULL, 0);
    r = call(&s, 4);
    assert_int_equal(api_requests(), before + 1);
    assert_false(r.ok || r.permanent);
    assert_string_equal(r.error, "HTTP 429 rate_limit: Your account reached the API rate limit");
    r = call(&s, -1);
    assert_string_equal(r.error, "rate limit: calls held 1600ms for the pool to refill "
                                 "(RateLimit-Remaining 0, reserve 2)");
    assert_int_equal(api_requests(), before + 1);
    usleep(1650000);
    api_serve(200, FORMATION("4"), "RateLimit-Remaining: 2", 0);
    r = call(&s, -1);
    if (!r.ok)
        fail_msg("%s", r.error);
    r = call(&s, -1); /* 2 left, reserve 2: no hold */
    if (!r.ok)
        fail_msg("%s", r.error);
    assert_int_equal(api_requests(), before + 3);
    finish(&s);
}

static int group_setup(void **state)
{
    (void)state;
    as_log_min = AS_OFF;
    return api_start();
}

static int group_teardown(void **state)
{
    (void)state;
    api_stop();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantity),   cmocka_unit_test(test_reason_and_permanent),
        cmocka_unit_test(test_rate_limit), cmocka_unit_test(test_options),
        cmocka_unit_test(test_calls),      cmocka_unit_test(test_failures),
        cmocka_unit_test(test_hold),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
