/* scalers/nomad: the job URLs (percent-encoding, namespace, region), the Scale Task Group body,
 * reading the count from the job's scale status and from the job, Nomad's plain-text errors
 * and which are permanent, the options, and the scaler's calls (method, path, query, headers,
 * body, describe, failures, cancel) against an in-process server (api_server.h). */
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
#include "scalers/nomad.h"
#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "core/plugin.h"
#include "util/util.h"

#include "api_server.h"

extern const struct as_scaler_ops as_scaler_nomad;
static const struct as_scaler_ops *ops = &as_scaler_nomad;
#define SC_GROUP "api"
#include "api_scaler_fixture.h"

/* Read Job Scale Status and Read Job, as the Jobs HTTP API's samples show them. */
#define SCALE_STATUS(stopped, web)                                                                 \
    "{\"JobCreateIndex\":10,\"JobID\":\"example\",\"Namespace\":\"default\","                      \
    "\"JobModifyIndex\":18,\"JobStopped\":" stopped ",\"TaskGroups\":{\"cache\":{\"Desired\":1,"   \
    "\"Events\":null,\"Healthy\":1,\"Placed\":1,\"Running\":0,\"Unhealthy\":0},\"web\":" web "}}"
#define JOB(stop, web)                                                                             \
    "{\"Region\":\"global\",\"Namespace\":\"apps\",\"ID\":\"example\",\"Type\":\"service\","       \
    "\"Stop\":" stop ",\"TaskGroups\":[{\"Name\":\"cache\",\"Count\":1,\"Tasks\":[]}," web "],"    \
    "\"Status\":\"running\",\"CreateIndex\":7,\"ModifyIndex\":7,\"JobModifyIndex\":7}"

/* ---- requests and answers ---- */

static void test_url(void **state)
{
    (void)state;
    struct {
        const char *address, *job, *suffix, *ns, *region, *url;
    } cases[] = {
        {"http://127.0.0.1:4646", "example", "/scale", NULL, NULL,
         "http://127.0.0.1:4646/v1/job/example/scale"},
        {"https://nomad.example.com:4646//", "example", "", "apps", NULL,
         "https://nomad.example.com:4646/v1/job/example?namespace=apps"},
        {"http://n:4646/", "example", "/scale", NULL, "eu-west",
         "http://n:4646/v1/job/example/scale?region=eu-west"},
        {"http://n:4646", "example", "/scale", "team a&b=c", "r/1",
         "http://n:4646/v1/job/example/scale?namespace=team%20a%26b%3Dc&region=r%2F1"},
        {"http://n:4646", "a b/../c?d#e%~_.-Z9", "", NULL, NULL,
         "http://n:4646/v1/job/a%20b%2F..%2Fc%3Fd%23e%25~_.-Z9"},
        {"http://n:4646", "caf\xc3\xa9", "/scale", NULL, NULL,
         "http://n:4646/v1/job/caf%C3%A9/scale"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        char *url = as_nomad_url(cases[i].address, cases[i].job, cases[i].suffix, cases[i].ns,
                                 cases[i].region);
        assert_non_null(url);
        if (strcmp(url, cases[i].url) != 0)
            fail_msg("case %zu: %s", i, url);
        free(url);
    }
}

static void test_body(void **state)
{
    (void)state;
    char *b = as_nomad_scale_body(5, "cache", "metric did not satisfy SLA", 0);
    assert_string_equal(b, "{\"Count\":5,\"Target\":{\"Group\":\"cache\"},\"Message\":\"metric did "
                           "not satisfy SLA\"}");
    free(b);
    b = as_nomad_scale_body(0, "we\"b\\", "a\nb\x01", 1);
    assert_string_equal(b, "{\"Count\":0,\"Target\":{\"Group\":\"we\\\"b\\\\\"},\"Message\":"
                           "\"a\\nb\\u0001\",\"PolicyOverride\":true}");
    free(b);
    b = as_nomad_scale_body(2147483647, "g", "", 0);
    assert_string_equal(b, "{\"Count\":2147483647,\"Target\":{\"Group\":\"g\"},\"Message\":\"\"}");
    free(b);
}

static void test_count(void **state)
{
    (void)state;
    struct {
        enum as_nomad_read read;
        const char *body, *group;
        int count; /* -1: an error containing `error` */
        int permanent;
        const char *error;
    } cases[] = {
        {AS_NOMAD_READ_SCALE, SCALE_STATUS("false", "{\"Desired\":4}"), "web", 4, 0, NULL},
        {AS_NOMAD_READ_SCALE, SCALE_STATUS("false", "{\"Desired\":0}"), "web", 0, 0, NULL},
        {AS_NOMAD_READ_SCALE, SCALE_STATUS("false", "{\"Desired\":4}"), "cache", 1, 0, NULL},
        {AS_NOMAD_READ_SCALE, "{\"TaskGroups\":{\"a/b~c\":{\"Desired\":3}}}", "a/b~c", 3, 0, NULL},
        {AS_NOMAD_READ_SCALE, SCALE_STATUS("true", "{\"Desired\":4}"), "web", -1, 0,
         "job is stopped"},
        {AS_NOMAD_READ_SCALE, SCALE_STATUS("false", "{\"Desired\":4}"), "db", -1, 1,
         "task group 'db' is not in the job"},
        {AS_NOMAD_READ_SCALE, SCALE_STATUS("false", "{\"Desired\":\"4\"}"), "web", -1, 0,
         "value at /TaskGroups/web/Desired is a string, not a number"},
        {AS_NOMAD_READ_SCALE, SCALE_STATUS("false", "{\"Desired\":1.5}"), "web", -1, 0,
         "replica count 1.5 is not a whole number"},
        {AS_NOMAD_READ_SCALE, SCALE_STATUS("false", "{\"Desired\":-1}"), "web", -1, 0,
         "replica count -1 is negative"},
        {AS_NOMAD_READ_SCALE, SCALE_STATUS("false", "{\"Desired\":1e12}"), "web", -1, 0,
         "out of range"},
        {AS_NOMAD_READ_SCALE, SCALE_STATUS("false", "{\"Running\":4}"), "web", -1, 0,
         "JSON pointer /TaskGroups/web/Desired not found"},
        {AS_NOMAD_READ_SCALE, SCALE_STATUS("false", "4"), "web", -1, 0, "/TaskGroups/web/Desired"},
        {AS_NOMAD_READ_SCALE, "{\"TaskGroups\":[]}", "web", -1, 0,
         "response is not a job's scale status: no TaskGroups object"},
        {AS_NOMAD_READ_SCALE, "[]", "web", -1, 0, "response is not a job: not a JSON object"},
        {AS_NOMAD_READ_SCALE, "job not found", "web", -1, 0, "response is not JSON (line 1"},
        {AS_NOMAD_READ_SCALE, "", "web", -1, 0, "response is not JSON"},
        {AS_NOMAD_READ_JOB, JOB("false", "{\"Name\":\"web\",\"Count\":6}"), "web", 6, 0, NULL},
        {AS_NOMAD_READ_JOB, JOB("false", "{\"Name\":\"web\",\"Count\":6}"), "cache", 1, 0, NULL},
        {AS_NOMAD_READ_JOB, JOB("true", "{\"Name\":\"web\",\"Count\":6}"), "web", -1, 0,
         "job is stopped"},
        {AS_NOMAD_READ_JOB, JOB("false", "{\"Name\":\"web\",\"Count\":6}"), "db", -1, 1,
         "task group 'db' is not in the job"},
        {AS_NOMAD_READ_JOB, JOB("false", "{\"Name\":\"web\",\"Count\":null}"), "web", -1, 0,
         "value at /TaskGroups/1/Count is null"},
        {AS_NOMAD_READ_JOB, JOB("false", "{\"Name\":\"web\"}"), "web", -1, 0,
         "/TaskGroups/1/Count not found"},
        {AS_NOMAD_READ_JOB, JOB("false", "7"), "web", -1, 1, "task group 'web' is not in the job"},
        {AS_NOMAD_READ_JOB, SCALE_STATUS("false", "{\"Desired\":4}"), "web", -1, 0,
         "response is not a job: no TaskGroups array"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct as_err err;
        as_err_clear(&err);
        int n = -7, permanent = -1;
        int rc = as_nomad_count(cases[i].read, cases[i].body, strlen(cases[i].body), cases[i].group,
                                &n, &permanent, &err);
        int bad = cases[i].count >= 0 ? rc != 0 || n != cases[i].count
                                      : rc == 0 || strstr(err.msg, cases[i].error) == NULL;
        if (bad || permanent != cases[i].permanent)
            fail_msg("case %zu: rc=%d n=%d permanent=%d err='%s'", i, rc, n, permanent, err.msg);
    }
}

static void test_reason_and_permanent(void **state)
{
    (void)state;
    struct {
        long status;
        const char *body, *reason;
        int permanent;
    } cases[] = {
        {403, "Permission denied", "HTTP 403: Permission denied", 1},
        {403, "ACL token not found\n", "HTTP 403: ACL token not found", 1},
        {404, "job not found", "HTTP 404: job not found", 1},
        {400, "group count was greater than scaling policy maximum: 12 > 10",
         "HTTP 400: group count was greater than scaling policy maximum: 12 > 10", 1},
        {400, "task group \"x\" specified for scaling does not exist in job",
         "HTTP 400: task group \"x\" specified for scaling does not exist in job", 1},
        {400, "job scaling blocked due to active deployment",
         "HTTP 400: job scaling blocked due to active deployment", 0},
        {500, "rpc error: No cluster leader", "HTTP 500: rpc error: No cluster leader", 0},
        {500, "No path to region", "HTTP 500: No path to region", 0},
        {429, "rate limit exceeded", "HTTP 429: rate limit exceeded", 0},
        {409, "conflict", "HTTP 409: conflict", 0},
        {408, "", "HTTP 408: ", 0},
        {307, "", "HTTP 307: ", 1},
        {400, "line\r\nbreak\x01", "HTTP 400: line..break.", 1},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        char buf[AS_MSG_MAX];
        size_t n = strlen(cases[i].body);
        as_nomad_reason(cases[i].status, cases[i].body, n, buf, sizeof(buf));
        int p = as_nomad_permanent(cases[i].status, cases[i].body, n);
        if (strcmp(buf, cases[i].reason) != 0 || p != cases[i].permanent)
            fail_msg("case %zu: '%s' permanent=%d", i, buf, p);
    }
    /* The deployment's words must be in the body's bytes, not past its length. */
    assert_int_equal(as_nomad_permanent(400, "job scaling blocked due to active deployment", 20),
                     1);
    char big[4096];
    memset(big, 'x', sizeof(big));
    char buf[64];
    as_nomad_reason(502, big, sizeof(big), buf, sizeof(buf));
    assert_int_equal(strlen(buf), sizeof(buf) - 1);
}

/* One stub of List Job Allocations, as the Jobs HTTP API's sample shows it (trimmed). */
#define ALLOC(id, tg, desired, client, created)                                                    \
    "{\"ID\":\"" id "\",\"EvalID\":\"a9c5effc-2242-51b2-f1fe-054ee11ab189\",\"Name\":"             \
    "\"example." tg "[0]\",\"JobID\":\"example\",\"TaskGroup\":\"" tg "\","                        \
    "\"DesiredStatus\":\"" desired "\",\"DesiredDescription\":\"\",\"ClientStatus\":\"" client     \
    "\",\"ClientDescription\":\"\",\"TaskStates\":{\"redis\":{\"State\":\"running\","              \
    "\"Failed\":false}},\"CreateIndex\":9,\"ModifyIndex\":13,\"CreateTime\":" created              \
    ",\"ModifyTime\":1495755675944527600}"

/* clang-format off */
static const char allocs_body[] = "["
    ALLOC("ed344e0a-7290-d117-41d3-a64f853ca3c2", "web", "run", "running", "1495755675944527600")
    "," ALLOC("a1", "web", "run", "pending", "1495755676000000000")
    "," ALLOC("a2", "cache", "run", "running", "1")
    "," ALLOC("a3", "web", "stop", "running", "1")
    "," ALLOC("a4", "web", "run", "complete", "1")
    "," ALLOC("a5", "web", "run", "failed", "1")
    "," ALLOC("a6", "web", "run", "lost", "1")
    "," ALLOC("a7", "web", "evict", "pending", "1")
    "," ALLOC("a8", "web", "run", "unknown", "null")
    "," ALLOC("a9", "web", "run", "running", "-5") "]";
static const char allocs_two[] = "["
    ALLOC("b1", "web", "run", "running", "1")
    "," ALLOC("0123456789012345678901234567890123456789012345678901234567890123", "web", "run",
              "running", "1")
    "," ALLOC("b3", "web", "run", "running", "1") "]";
/* clang-format on */

static void test_allocs(void **state)
{
    (void)state;
    const char *body = allocs_body;
    struct as_nomad_allocs a = {0};
    struct as_err err;
    as_err_clear(&err);
    assert_int_equal(as_nomad_allocs(body, strlen(body), "web", 100, &a, &err), 0);
    assert_int_equal(a.n, 4);
    assert_string_equal(a.v[0].id, "ed344e0a-7290-d117-41d3-a64f853ca3c2");
    assert_int_equal(a.v[0].created_ms, 1495755675944);
    assert_int_equal(a.v[0].not_ready, 0);
    assert_string_equal(a.v[1].id, "a1");
    assert_int_equal(a.v[1].created_ms, 1495755676000);
    assert_int_equal(a.v[1].not_ready, 1);
    assert_string_equal(a.v[2].id, "a8"); /* a client out of touch: there, not ready */
    assert_int_equal(a.v[2].created_ms, -1);
    assert_int_equal(a.v[2].not_ready, 1);
    assert_int_equal(a.v[3].created_ms, -1);
    assert_int_equal(a.dropped + a.long_id, 0);
    /* At most max; an ID too long for a replica id is left out and counted. */
    const char *two = allocs_two;
    assert_int_equal(as_nomad_allocs(two, strlen(two), "web", 1, &a, &err), 0);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.v[0].id, "b1");
    assert_int_equal(a.dropped, 1);
    assert_int_equal(a.long_id, 1);
    assert_int_equal(as_nomad_allocs("[]", 2, "web", 10, &a, &err), 0);
    assert_int_equal(a.n, 0);
    struct {
        const char *body, *error;
    } bad[] = {
        {"{\"ID\":\"x\"}", "response is not a list of allocations: not a JSON array"},
        {"[1]", "allocation 0 has no string ID"},
        {"[" ALLOC("a", "web", "run", "running",
                   "1") ",{\"ID\":\"b\",\"TaskGroup\":\"web\","
                        "\"DesiredStatus\":\"run\",\"ClientStatus\":3}]",
         "allocation 1 has no string"},
        {"Permission denied", "response is not JSON (line 1"},
        {"", "response is not JSON"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++) {
        assert_int_equal(as_nomad_allocs(body, strlen(body), "web", 100, &a, &err), 0);
        as_err_clear(&err);
        int rc = as_nomad_allocs(bad[i].body, strlen(bad[i].body), "web", 100, &a, &err);
        if (rc == 0 || strstr(err.msg, bad[i].error) == NULL || a.n != 0 || a.v != NULL)
            fail_msg("case %zu: rc=%d n=%zu err='%s'", i, rc, a.n, err.msg);
    }
    as_nomad_allocs_free(&a);
    as_nomad_allocs_free(&a);
}

/* ---- the scaler ---- */

static void test_options(void **state)
{
    (void)state;
    struct {
        const char *yaml, *error; /* NULL: valid */
    } cases[] = {
        {"job: example\ngroup: cache\n", NULL},
        {"address: https://n:4646\njob: a b\ngroup: g\nnamespace: apps\nregion: eu\n"
         "token: x\nread: job\npolicy_override: true\nmessage: m\n",
         NULL},
        {"group: cache\n", "'job'"},
        {"job: example\n", "'group'"},
        {"job: e\ngroup: g\naddress: 127.0.0.1:4646\n", "t.yaml:3:10: 'address' must start"},
        {"job: \"e\\nx\"\ngroup: g\n", "t.yaml:1:6: 'job' holds a control character"},
        {"job: e\ngroup: g\ntoken: \"a\\r\\nX-Evil: 1\"\n", "t.yaml:3:8: 'token' holds a control"},
        {"job: e\ngroup: \"g\\t\"\n", "t.yaml:2:8: 'group' holds a control"},
        {"job: e\ngroup: g\nread: status\n", "read"},
        {"job: e\ngroup: g\nnamespace: \"\"\n", "namespace"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct sc s;
        char msg[1024];
        struct as_err err;
        int rc = configure(&s, cases[i].yaml, &err);
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
    start(&s, "address: http://127.0.0.1:%d/\njob: my job\ngroup: web\nnamespace: apps\n"
              "region: global\ntoken: 3f4a-acl-secret\n");
    api_serve(200, SCALE_STATUS("false", "{\"Desired\":3}"), NULL, 0);
    struct as_scale_result r = call(&s, -1);
    assert_true(r.ok);
    assert_int_equal(r.replicas, 3);
    assert_string_equal(api.method, "GET");
    assert_string_equal(api.path, "/v1/job/my job/scale"); /* MHD decodes the path */
    assert_string_equal(api.query, "namespace=apps&region=global");
    assert_string_equal(api.token, "3f4a-acl-secret");
    api_serve(200,
              "{\"EvalCreateIndex\":45,\"EvalID\":\"116f3ede-f6a5-f6e7-2d0e-1fda136390f0\","
              "\"Index\":45,\"JobModifyIndex\":44,\"KnownLeader\":false,\"LastContact\":0,"
              "\"Warnings\":\"\"}",
              NULL, 0);
    r = call(&s, 5);
    assert_true(r.ok);
    assert_int_equal(r.replicas, 5);
    assert_string_equal(api.method, "POST");
    assert_string_equal(api.path, "/v1/job/my job/scale");
    assert_string_equal(api.query, "namespace=apps&region=global");
    assert_string_equal(api.req_body, "{\"Count\":5,\"Target\":{\"Group\":\"web\"},\"Message\":"
                                      "\"scaled to 5 by autoscaler (group api)\"}");
    assert_string_equal(api.ctype, "application/json");
    assert_string_equal(api.token, "3f4a-acl-secret");
    char line[512], want[512];
    ops->describe(s.state, 7, line, sizeof(line));
    snprintf(want, sizeof(want),
             "POST http://127.0.0.1:%d/v1/job/my%%20job/scale?namespace=apps&region=global "
             "{\"Count\":7,\"Target\":{\"Group\":\"web\"},\"Message\":\"scaled to 7 by "
             "autoscaler (group api)\"} (X-Nomad-Token: ***)",
             api_port);
    assert_string_equal(line, want);
    finish(&s);
    /* read: job, no token, no namespace: GET /v1/job/:job_id without the header. */
    start(&s, "address: http://127.0.0.1:%d\njob: example\ngroup: web\nread: job\n"
              "message: \"{{group}}: {{replicas}}\"\npolicy_override: true\n");
    api_serve(200, JOB("false", "{\"Name\":\"web\",\"Count\":6}"), NULL, 0);
    r = call(&s, -1);
    assert_true(r.ok);
    assert_int_equal(r.replicas, 6);
    assert_string_equal(api.path, "/v1/job/example");
    assert_string_equal(api.query, "");
    assert_string_equal(api.token, "");
    api_serve(200, "{}", NULL, 0);
    r = call(&s, 2);
    assert_true(r.ok);
    assert_string_equal(api.req_body, "{\"Count\":2,\"Target\":{\"Group\":\"web\"},\"Message\":"
                                      "\"api: 2\",\"PolicyOverride\":true}");
    ops->describe(s.state, 3, line, sizeof(line));
    assert_null(strstr(line, "X-Nomad-Token"));
    finish(&s);
}

static void test_failures(void **state)
{
    (void)state;
    struct sc s;
    start(&s, "address: http://127.0.0.1:%d\njob: example\ngroup: web\n");
    api_serve(403, "Permission denied", NULL, 0);
    struct as_scale_result r = call(&s, -1);
    assert_false(r.ok);
    assert_true(r.permanent);
    assert_string_equal(r.error, "HTTP 403: Permission denied");
    api_serve(400, "job scaling blocked due to active deployment", NULL, 0);
    r = call(&s, 4);
    assert_false(r.ok || r.permanent);
    assert_string_equal(r.error, "HTTP 400: job scaling blocked due to active deployment");
    api_serve(400, "group count was less than scaling policy minimum: 0 < 1", NULL, 0);
    r = call(&s, 0);
    assert_false(r.ok);
    assert_true(r.permanent);
    api_serve(503, "", NULL, 0);
    r = call(&s, -1);
    assert_false(r.ok || r.permanent);
    api_serve(200, SCALE_STATUS("false", "{\"Desired\":3}"), NULL, 0);
    finish(&s);
    start(&s, "address: http://127.0.0.1:%d\njob: example\ngroup: db\n");
    r = call(&s, -1);
    assert_false(r.ok);
    assert_true(r.permanent);
    assert_string_equal(r.error, "task group 'db' is not in the job");
    api_serve(200, SCALE_STATUS("false", "{\"Desired\":3}"), NULL, 900);
    r = call(&s, -1);
    assert_false(r.ok || r.permanent);
    assert_non_null(strstr(r.error, "timeout after 5"));
    usleep(500000);
    s.calls = 0;
    ops->set(s.state, 2, on_result, &s);
    as_loop_once(s.loop, 20);
    ops->cancel(s.state);
    for (int i = 0; i < 10; i++)
        as_loop_once(s.loop, 20);
    assert_int_equal(s.calls, 0);
    finish(&s);
}

/* allocations: true: after the count, GET /v1/job/:job_id/allocations with the same query and
 * token; an answer that is not a list of allocations fails the read. (The server answers every
 * request alike, so the list itself is read in test_allocs and end to end in
 * test_scaler_nomad.py.) */
static void test_allocations_call(void **state)
{
    (void)state;
    struct sc s;
    start(&s, "address: http://127.0.0.1:%d\njob: my job\ngroup: web\nnamespace: apps\n"
              "token: 3f4a-acl-secret\nallocations: true\n");
    api_serve(200, SCALE_STATUS("false", "{\"Desired\":3}"), NULL, 0);
    int before = api_requests();
    struct as_scale_result r = call(&s, -1);
    assert_false(r.ok || r.permanent);
    assert_string_equal(r.error, "listing allocations: response is not a list of allocations: "
                                 "not a JSON array");
    assert_int_equal(api_requests(), before + 2);
    assert_string_equal(api.method, "GET");
    assert_string_equal(api.path, "/v1/job/my job/allocations");
    assert_string_equal(api.query, "namespace=apps");
    assert_string_equal(api.token, "3f4a-acl-secret");
    struct as_worker_info w[4];
    assert_int_equal(ops->workers(s.state, w, 4), 0);
    api_serve(403, "Permission denied", NULL, 0);
    r = call(&s, -1);
    assert_false(r.ok);
    assert_true(r.permanent);
    assert_string_equal(r.error, "HTTP 403: Permission denied");
    /* A set is one call: no listing. */
    api_serve(200, "{}", NULL, 0);
    before = api_requests();
    r = call(&s, 4);
    assert_true(r.ok);
    assert_int_equal(api_requests(), before + 1);
    assert_string_equal(api.path, "/v1/job/my job/scale");
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
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_reason_and_permanent),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_allocs),
        cmocka_unit_test(test_allocations_call),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
