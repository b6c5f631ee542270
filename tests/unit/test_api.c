/* The status API's parsers (src/api/route.c) and the `http:` section (config/server_cfg.c):
 * tables of requests and of configuration files, each with what must come out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/procself.h"
#include "api/route.h"
#include "config/config.h"
#include "config/redact.h"
#include "config/server_cfg.h"
#include "util/log.h"

/* ---- routes ---- */

static void test_routes(void **state)
{
    (void)state;
    static const struct {
        const char *method, *path;
        int code;
        enum as_route_kind kind;
        const char *group;
        int write;
    } rows[] = {
        {"GET", "/", 200, AS_R_DASHBOARD, "", 0},
        {"HEAD", "/", 200, AS_R_DASHBOARD, "", 0},
        {"GET", "/dashboard.js", 200, AS_R_ASSET, "", 0},
        {"GET", "/metrics", 200, AS_R_METRICS, "", 0},
        {"GET", "/metrics/", 200, AS_R_METRICS, "", 0},
        {"POST", "/metrics", 405, AS_R_METRICS, "", 0},
        {"GET", "/healthz", 200, AS_R_HEALTHZ, "", 0},
        {"GET", "/readyz", 200, AS_R_READYZ, "", 0},
        {"GET", "/api/v1", 200, AS_R_INDEX, "", 0},
        {"GET", "/api/v1/status", 200, AS_R_STATUS, "", 0},
        {"GET", "/api/v1/groups", 200, AS_R_GROUPS, "", 0},
        {"GET", "/api/v1/groups/", 200, AS_R_GROUPS, "", 0},
        {"GET", "/api/v1/groups/web", 200, AS_R_GROUP, "web", 0},
        {"GET", "/api/v1/groups/web.v2_a-b/config", 200, AS_R_CONFIG, "web.v2_a-b", 0},
        {"GET", "/api/v1/groups/web/decisions", 200, AS_R_DECISIONS, "web", 0},
        {"GET", "/api/v1/groups/web/rounds", 200, AS_R_ROUNDS, "web", 0},
        {"GET", "/api/v1/groups/jobs/workers", 200, AS_R_WORKERS, "jobs", 0},
        {"GET", "/api/v1/groups/jobs/queue", 200, AS_R_QUEUE, "jobs", 0},
        {"POST", "/api/v1/groups/web/pause", 200, AS_R_PAUSE, "web", 1},
        {"POST", "/api/v1/groups/web/resume", 200, AS_R_RESUME, "web", 1},
        {"POST", "/api/v1/groups/web/override", 200, AS_R_OVERRIDE, "web", 1},
        {"DELETE", "/api/v1/groups/web/override", 200, AS_R_OVERRIDE, "web", 1},
        {"GET", "/api/v1/groups/web/pause", 405, AS_R_PAUSE, "web", 1},
        {"PUT", "/api/v1/groups/web", 405, AS_R_GROUP, "web", 0},
        {"GET", "/api/v1/groups/web/nope", 404, AS_R_NONE, "", 0},
        {"GET", "/api/v1/groups/we b", 400, AS_R_NONE, "", 0},
        {"GET", "/api/v1/groups/../etc", 404, AS_R_NONE, "", 0},
        {"GET", "/api/v1/groups//pause", 404, AS_R_NONE, "", 0},
        {"GET", "/api/v2/groups", 404, AS_R_NONE, "", 0},
        {"GET", "/api/v1/groupsweb", 404, AS_R_NONE, "", 0},
        {"GET", "/index.html", 404, AS_R_NONE, "", 0},
        {"GET", "", 404, AS_R_NONE, "", 0},
        {"GET",
         "/api/v1/groups/"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         404, AS_R_NONE, "", 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct as_route r;
        int code = as_route_parse(rows[i].method, rows[i].path, &r);
        if (code != rows[i].code || r.kind != rows[i].kind || strcmp(r.group, rows[i].group) != 0 ||
            r.write != rows[i].write)
            fail_msg("%s %s: got %d kind %d group '%s' write %d", rows[i].method, rows[i].path,
                     code, r.kind, r.group, r.write);
    }
    char allow[40];
    struct as_route r;
    assert_int_equal(as_route_parse("GET", "/api/v1/groups/web/override", &r), 405);
    assert_string_equal(as_route_allow(r.methods, allow, sizeof(allow)), "POST, DELETE");
}

/* ---- query parameters ---- */

static void test_query(void **state)
{
    (void)state;
    struct as_query q = {0};
    struct as_err err;
    unsigned all = AS_Q_LIMIT | AS_Q_SINCE | AS_Q_METRIC;
    as_err_clear(&err);
    assert_int_equal(as_query_set(&q, all, "limit", "25", &err), 0);
    assert_int_equal(q.limit, 25);
    assert_int_equal(as_query_set(&q, all, "since", "1764000000000", &err), 0);
    assert_true(q.since == 1764000000000LL);
    assert_int_equal(as_query_set(&q, all, "metric", "backlog", &err), 0);
    assert_string_equal(q.metric, "backlog");
    assert_int_equal(as_query_set(&q, all, "limit", "3", &err), -1);
    assert_string_equal(err.msg, "query parameter 'limit' given twice");
    static const struct {
        const char *key, *value, *msg;
    } bad[] = {
        {"limit", "0", "limit must be a whole number from 1 to 100000"},
        {"limit", "100001", "limit must be a whole number from 1 to 100000"},
        {"limit", "-1", "limit must be a whole number from 1 to 100000"},
        {"limit", "1e3", "limit must be a whole number from 1 to 100000"},
        {"limit", "", "limit must be a whole number from 1 to 100000"},
        {"limit", NULL, "limit must be a whole number from 1 to 100000"},
        {"since", "12345678901234567890", "since must be a time in milliseconds since the epoch"},
        {"metric", "a b", "metric must be a metric's name (1-63 of A-Z a-z 0-9 _ . -)"},
        {"limt", "3", "unknown query parameter 'limt' (this endpoint takes: limit, since, metric)"},
        {"x\"\n", "3",
         "unknown query parameter 'x?"
         "?' (this endpoint takes: limit, since, metric)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct as_query fresh = {0};
        as_err_clear(&err);
        assert_int_equal(as_query_set(&fresh, all, bad[i].key, bad[i].value, &err), -1);
        assert_string_equal(err.msg, bad[i].msg);
    }
    struct as_query fresh = {0};
    assert_int_equal(as_query_set(&fresh, 0, "limit", "3", &err), -1);
    assert_string_equal(err.msg, "unknown query parameter 'limit' (this endpoint takes: none)");
    assert_int_equal(as_query_set(&fresh, AS_Q_LIMIT | AS_Q_SINCE, "metric", "x", &err), -1);
    assert_string_equal(err.msg,
                        "unknown query parameter 'metric' (this endpoint takes: limit, since)");
}

/* ---- the override body ---- */

static void test_override_body(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int rc, replicas;
        const char *msg; /* prefix */
    } rows[] = {
        {"{\"replicas\": 4}", 0, 4, ""},
        {"{\"replicas\":0}", 0, 0, ""},
        {"{\"replicas\": 1000000}", 0, 1000000, ""},
        {"{\"replicas\": null}", 0, -1, ""},
        {" {\"replicas\": 3}\n", 0, 3, ""},
        {"{\"replicas\": 1000001}", -1, 0, "replicas must be a whole number from 0 to 1000000"},
        {"{\"replicas\": -1}", -1, 0, "replicas must be a whole number"},
        {"{\"replicas\": 2.5}", -1, 0, "replicas must be a whole number"},
        {"{\"replicas\": \"4\"}", -1, 0, "replicas must be a whole number"},
        {"{\"replicas\": 4, \"x\": 1}", -1, 0, "the body must be {\"replicas\": N}"},
        {"{\"replica\": 4}", -1, 0, "the body must be {\"replicas\": N}"},
        {"{\"replicas\": 4, \"replicas\": 5}", -1, 0, "the body is not JSON"},
        {"[4]", -1, 0, "the body must be {\"replicas\": N}"},
        {"", -1, 0, "the body is not JSON"},
        {"4", -1, 0, "the body is not JSON"},
        {"{\"replicas\": 4", -1, 0, "the body is not JSON"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct as_err err;
        int replicas = -7;
        as_err_clear(&err);
        int rc = as_override_parse(rows[i].body, strlen(rows[i].body), &replicas, &err);
        if (rc != rows[i].rc || (rc == 0 && replicas != rows[i].replicas) ||
            strncmp(err.msg, rows[i].msg, strlen(rows[i].msg)) != 0)
            fail_msg("%s: rc %d replicas %d err '%s'", rows[i].body, rc, replicas, err.msg);
    }
}

/* ---- listen ---- */

static void test_listen(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int rc, loopback;
        const char *shown, *msg;
    } rows[] = {
        {"127.0.0.1:9711", 0, 1, "127.0.0.1:9711", ""},
        {"127.3.2.1:80", 0, 1, "127.3.2.1:80", ""},
        {"localhost:8080", 0, 1, "127.0.0.1:8080", ""},
        {"0.0.0.0:9711", 0, 0, "0.0.0.0:9711", ""},
        {"*:9711", 0, 0, "0.0.0.0:9711", ""},
        {"10.1.2.3:443", 0, 0, "10.1.2.3:443", ""},
        {"[::1]:9711", 0, 1, "[::1]:9711", ""},
        {"[::]:9711", 0, 0, "[::]:9711", ""},
        {"[fe80::1]:1", 0, 0, "[fe80::1]:1", ""},
        {"127.0.0.1", -1, 0, "", "'127.0.0.1' is not HOST:PORT"},
        {":9711", -1, 0, "", "':9711' is not HOST:PORT"},
        {"127.0.0.1:0", -1, 0, "", "'127.0.0.1:0': the port must be a number from 1 to 65535"},
        {"127.0.0.1:65536", -1, 0, "", "'127.0.0.1:65536': the port must be a number"},
        {"127.0.0.1:+80", -1, 0, "", "'127.0.0.1:+80': the port must be a number"},
        {"example.com:80", -1, 0, "", "'example.com:80': 'example.com' is not a numeric IPv4"},
        {"::1:80", -1, 0, "", "'::1:80': '::1' is not a numeric IPv4"},
        {"[::1:80", -1, 0, "", "'[::1:80': an IPv6 address goes in brackets, [::1]:PORT"},
        {"[zz]:80", -1, 0, "", "'[zz]:80': 'zz' is not an IPv6 address"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct sockaddr_storage a;
        socklen_t len;
        int loopback = -1;
        char shown[80] = "";
        struct as_err err;
        as_err_clear(&err);
        int rc = as_listen_parse(rows[i].text, &a, &len, &loopback, &err);
        if (rc == 0)
            as_listen_fmt(&a, shown, sizeof(shown));
        if (rc != rows[i].rc ||
            (rc == 0 && (loopback != rows[i].loopback || strcmp(shown, rows[i].shown) != 0)) ||
            strncmp(err.msg, rows[i].msg, strlen(rows[i].msg)) != 0)
            fail_msg("%s: rc %d loopback %d shown '%s' err '%s'", rows[i].text, rc, loopback, shown,
                     err.msg);
    }
}

/* ---- the http: section ---- */

#define GROUP                                                                                      \
    "groups:\n"                                                                                    \
    "  web:\n"                                                                                     \
    "    max: 3\n"                                                                                 \
    "    metrics:\n"                                                                               \
    "      - {name: q, type: exec, command: [echo, '1'], target: 1}\n"                             \
    "    scaler: {type: exec, command: [/bin/true]}\n"

static struct as_config *parse(const char *text, struct as_err *err)
{
    as_err_clear(err);
    return as_config_parse("api.yaml", text, err);
}

static void test_http_section(void **state)
{
    (void)state;
    struct as_err err;
    setenv("AS_TEST_TOKEN", "0123456789abcdef-token", 1);
    setenv("AS_TEST_SHORT", "short-token", 1);
    struct as_config *cfg = parse(GROUP, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->http->listen, "127.0.0.1:9711");
    assert_false(cfg->http->off);
    assert_false(cfg->http->listen_given);
    assert_true(cfg->http->loopback);
    assert_null(cfg->http->token);
    assert_int_equal(cfg->http->max_connections, 64);
    assert_int_equal(cfg->http->history_rounds, 240);
    as_config_unref(cfg);

    cfg = parse("http: {listen: ''}\n" GROUP, &err);
    assert_non_null(cfg);
    assert_true(cfg->http->off);
    as_config_unref(cfg);

    cfg = parse("http:\n  listen: 0.0.0.0:8080\n  token: ${env:AS_TEST_TOKEN}\n  auth: all\n" GROUP,
                &err);
    assert_non_null(cfg);
    assert_false(cfg->http->loopback);
    assert_string_equal(cfg->http->token, "0123456789abcdef-token");
    assert_int_equal(cfg->http->auth, AS_HTTP_AUTH_ALL);
    assert_true(as_redact_needed(cfg, "0123456789abcdef-token"));
    assert_false(as_redact_needed(cfg, "0.0.0.0:8080"));
    as_config_unref(cfg);

    static const struct {
        const char *text, *error;
    } bad[] = {
        {"http:\n  listen: 0.0.0.0:8080\n" GROUP,
         "api.yaml:2:11: http: 'listen': 0.0.0.0:8080 is not a loopback address, so 'token' is "
         "required (by reference, e.g. token: ${env:AUTOSCALER_TOKEN})"},
        {"http:\n  listen: '[::]:8080'\n" GROUP,
         "api.yaml:2:11: http: 'listen': [::]:8080 is not a loopback address, so 'token' is "
         "required (by reference, e.g. token: ${env:AUTOSCALER_TOKEN})"},
        {"http:\n  token: abcdefghijklmnopqrstuvwxyz\n" GROUP,
         "api.yaml:2:10: http: 'token' must be a reference (${env:NAME} or ${file:PATH}), never "
         "written in the file: anything that shows the file would show it"},
        {"http:\n  token: ${env:AS_TEST_SHORT}\n" GROUP,
         "api.yaml:2:10: http: 'token' (from a reference) is shorter than 16 bytes"},
        {"http:\n  listen: 127.0.0.1\n" GROUP,
         "api.yaml:2:11: http: 'listen': '127.0.0.1' is not HOST:PORT"},
        {"http:\n  tls_cert: /nonexistent/cert.pem\n" GROUP,
         "api.yaml:2:13: http: 'tls_cert' needs 'tls_key' too"},
        {"http:\n  tls_cert: /nonexistent/c.pem\n  tls_key: /nonexistent/k.pem\n" GROUP,
         "api.yaml:2:13: http: 'tls_cert': cannot open /nonexistent/c.pem: No such file or "
         "directory"},
        {"http:\n  max_connections: 0\n" GROUP, "api.yaml:2:20: http: 'max_connections'"},
        {"http:\n  lisen: 127.0.0.1:1\n" GROUP, "api.yaml:2:3: unknown key 'lisen' in http"},
        {"http: [1]\n" GROUP, "api.yaml:1:7: 'http' must be a mapping, not a list"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char buf[AS_ERR_MAX + 300];
        cfg = parse(bad[i].text, &err);
        if (cfg != NULL)
            fail_msg("%s: parsed", bad[i].text);
        as_err_str(&err, buf, sizeof(buf));
        if (strncmp(buf, bad[i].error, strlen(bad[i].error)) != 0)
            fail_msg("%s:\n got  %s\n want %s", bad[i].text, buf, bad[i].error);
    }
}

/* Every value a reference gave is redacted, short ones included (the log masks only values of
 * 4 bytes or more). */
static void test_redact_values(void **state)
{
    (void)state;
    struct as_err err;
    setenv("AS_TEST_MAX", "3", 1);
    struct as_config *cfg = parse("groups:\n"
                                  "  web:\n"
                                  "    max: ${env:AS_TEST_MAX}\n"
                                  "    metrics:\n"
                                  "      - {name: q, type: exec, command: [echo, '1'], target: 1}\n"
                                  "    scaler: {type: exec, command: [/bin/true]}\n",
                                  &err);
    assert_non_null(cfg);
    assert_true(as_redact_needed(cfg, "3"));
    assert_false(as_redact_needed(cfg, "4"));
    as_config_unref(cfg);
}

/* ---- /proc parsers ---- */

static void test_procself(void **state)
{
    (void)state;
    static const char stat[] =
        "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 125 0 0 20 0 3 0 "
        "987654 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    unsigned long long ut, stt, start, vsize, btime;
    long long rss;
    assert_int_equal(as_procself_parse_stat(stat, strlen(stat), &ut, &stt, &start, &vsize, &rss),
                     0);
    assert_true(ut == 250 && stt == 125 && start == 987654 && vsize == 123456789 && rss == 2048);
    assert_int_equal(as_procself_parse_stat("1 (x) S 1 2", 11, &ut, &stt, &start, &vsize, &rss),
                     -1);
    assert_int_equal(as_procself_parse_stat("no paren", 8, &ut, &stt, &start, &vsize, &rss), -1);
    static const char pstat[] = "cpu  1 2 3\nintr 5 6\nbtime 1764000000\nprocesses 9\n";
    assert_int_equal(as_procself_parse_btime(pstat, strlen(pstat), &btime), 0);
    assert_true(btime == 1764000000ULL);
    assert_int_equal(as_procself_parse_btime("cpu 1\n", 6, &btime), -1);
    assert_int_equal(as_procself_parse_btime("btime x\n", 8, &btime), -1);
    struct as_procself p;
    assert_int_equal(as_procself_read(&p), 0);
    assert_true(p.rss_bytes > 0 && p.open_fds > 0 && p.max_fds >= p.open_fds);
    assert_true(p.start_seconds > 1.7e9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),        cmocka_unit_test(test_query),
        cmocka_unit_test(test_override_body), cmocka_unit_test(test_listen),
        cmocka_unit_test(test_http_section),  cmocka_unit_test(test_redact_values),
        cmocka_unit_test(test_procself),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
