/* Config loader: good files parse into the right values; every bad file fails at the exact
 * file:line:column with a clear message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

#define HEAD                                                                                       \
    "groups:\n"                                                                                    \
    "  web:\n"

#define METRIC                                                                                     \
    "    metrics:\n"                                                                               \
    "      - name: cpu\n"                                                                          \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/app/status\n"                                                 \
    "        pointer: /cpu/highPriority\n"                                                         \
    "        target: 0.8\n"

#define SCALER                                                                                     \
    "    scaler:\n"                                                                                \
    "      type: http\n"                                                                           \
    "      url: http://127.0.0.1:1/app/replicas\n"

static void test_good(void **state)
{
    (void)state;
    struct as_err err;
    as_err_clear(&err);
    struct as_config *cfg = as_config_parse("good.yaml",
                                            "log_file: ''\n"
                                            "log_level: debug\n" HEAD "    interval: 1m30s\n"
                                            "    max: 12\n" METRIC SCALER "  workers:\n"
                                            "    max: 3\n"
                                            "    min: 0\n"
                                            "    tolerance: 0\n" METRIC SCALER,
                                            &err);
    assert_non_null(cfg);
    assert_int_equal(cfg->ngroups, 2);
    assert_string_equal(cfg->log_file, "");
    assert_int_equal(cfg->log_level, 0);
    struct as_group_cfg *g = as_config_group(cfg, "web");
    assert_non_null(g);
    assert_int_equal(g->interval_ms, 90000);
    assert_int_equal(g->min, 1); /* default, as the HPA's minReplicas */
    assert_int_equal(g->max, 12);
    assert_true(g->tolerance == 0.1);
    assert_int_equal(g->nmetrics, 1);
    assert_string_equal(g->metrics[0].name, "cpu");
    assert_true(g->metrics[0].target == 0.8);
    assert_int_equal(g->metrics[0].timeout_ms, 10000); /* 80% of 90 s, capped at 10 s */
    assert_int_equal(g->scaler.retries, 3);
    assert_non_null(g->scaler.fingerprint);
    g = as_config_group(cfg, "workers");
    assert_int_equal(g->min, 0);
    assert_int_equal(g->interval_ms, 15000);
    assert_int_equal(g->metrics[0].timeout_ms, 10000);
    assert_true(g->tolerance == 0);
    as_config_unref(cfg);
}

struct bad_case {
    const char *text;
    int line, col;
    const char *msg; /* substring */
};

static const struct bad_case bad_cases[] = {
    {HEAD "    intervall: 5s\n    max: 3\n" METRIC SCALER, 3, 5, "unknown key 'intervall'"},
    {HEAD "    max: ten\n" METRIC SCALER, 3, 10, "'max' must be an integer"},
    {HEAD "    max: 3\n    tolerance: 20\n" METRIC SCALER, 4, 16, "between 0 and 10"},
    {HEAD "    min: 5\n    max: 3\n" METRIC SCALER, 3, 10, "min (5) is greater than max (3)"},
    {HEAD "    max: 3\n    interval: soon\n" METRIC SCALER, 4, 15, "must be a duration"},
    {HEAD "    max: 3\n    interval: 50ms\n" METRIC SCALER, 4, 15, "between 100ms and 24h"},
    {HEAD "    max: 3\n" METRIC SCALER "      method: GET\n", 13, 15, "PUT, POST or PATCH"},
    {HEAD "    max: 3\n" METRIC "    scaler:\n      type: ftp\n", 11, 13,
     "unknown scaler type 'ftp'"},
    {HEAD METRIC SCALER, 3, 5, "missing required key 'max'"},
    {HEAD "    max: 3\n" SCALER, 3, 5, "missing required key 'metrics'"},
    {HEAD "    max: 3\n    max: 4\n" METRIC SCALER, 4, 5, "duplicate key 'max'"},
    {HEAD "    max: ${env:AS_TEST_SURELY_UNSET}\n" METRIC SCALER, 3, 10,
     "environment variable AS_TEST_SURELY_UNSET is not set"},
    {HEAD "    max: ${file:/nonexistent/max}\n" METRIC SCALER, 3, 10,
     "cannot open /nonexistent/max"},
    {HEAD "    max: ${vault:x}\n" METRIC SCALER, 3, 10, "unknown reference"},
    {HEAD "    max: [3\n", 4, 1, "YAML syntax error"},
    {HEAD "    max: 3\n    interval: 1s\n" METRIC "        timeout: 1s\n" SCALER, 11, 18,
     "timeout 1s must be below the group interval 1s"},
    {HEAD "    max: 3\n" METRIC "        average_value: 10\n" SCALER, 10, 24,
     "exactly one of 'target' and 'average_value'"},
    {HEAD "    max: 3\n    metrics:\n      - type: http_json\n        url: http://x\n"
          "        pointer: cpu\n        target: 1\n" SCALER,
     7, 18, "must be empty or start with '/'"},
    {HEAD "    max: 3\n    metrics:\n      - type: http_json\n        url: ftp://x\n"
          "        pointer: /cpu\n        target: 1\n" SCALER,
     6, 14, "must start with http:// or https://"},
    {HEAD "    max: 3\n    metrics: []\n" SCALER, 4, 14, "needs at least one metric"},
    {HEAD "    max: 3\n    metrics: {}\n" SCALER, 4, 14, "must be a list"},
    {"groups: {}\n", 1, 9, "needs at least one group"},
    {"log_level: loud\n" HEAD "    max: 3\n" METRIC SCALER, 1, 12, "one of: debug, info"},
    {"group:\n  web: {}\n", 1, 1, "missing required key 'groups'"},
    {"- a\n- b\n", 1, 1, "must be a mapping"},
    {"", 1, 1, "the file is empty"},
    {HEAD "    max: 3\n" METRIC "        targte: 0.9\n" SCALER, 10, 9, "unknown key 'targte'"},
    {HEAD "    max: 3\n" METRIC "    scaler:\n      url: http://x\n", 11, 7,
     "missing required key 'type'"},
    {"groups:\n  \"we b\":\n    max: 1\n", 2, 3, "group name 'we b'"},
    {HEAD "    max: 3\n" METRIC SCALER "      retries: -1\n", 13, 16, "between 0 and 100"},
    {HEAD "    max: 3\n" METRIC "      - name: cpu\n        type: http_json\n"
          "        url: http://x\n        pointer: /a\n        target: 2\n" SCALER,
     10, 15, "two metrics are named 'cpu'"},
    {HEAD "    max: &m 3\n    min: *m\n" METRIC SCALER, 4, 10, "aliases are not supported"},
};

static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct as_err err;
        as_err_clear(&err);
        struct as_config *cfg = as_config_parse("bad.yaml", c->text, &err);
        if (cfg != NULL || err.line != c->line || err.col != c->col ||
            strstr(err.msg, c->msg) == NULL || strcmp(err.file, "bad.yaml") != 0) {
            print_error("case %zu: got %s:%d:%d: %s\nwant line %d col %d containing '%s'\n", i,
                        err.file, err.line, err.col, err.msg, c->line, c->col, c->msg);
            as_config_unref(cfg);
            fail();
        }
    }
}

/* A ConfigMap mounted as files (one key per file, trailing newline) feeds min/max/target. */
static void test_file_references(void **state)
{
    (void)state;
    char dir[] = "/tmp/as-cfgmap-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], yaml[256];
    const char *files[][2] = {{"min", "2\n"}, {"max", "9\n"}, {"target", "0.75\n"}};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(files[i][1], f);
        fclose(f);
    }
    snprintf(yaml, sizeof(yaml), "%s/autoscaler.yaml", dir);
    FILE *f = fopen(yaml, "w");
    assert_non_null(f);
    fprintf(f,
            HEAD "    min: ${file:%s/min}\n    max: ${file:max}\n"
                 "    metrics:\n      - type: http_json\n        url: http://x\n"
                 "        pointer: /cpu\n        target: ${file:target}\n" SCALER,
            dir);
    fclose(f);
    struct as_err err;
    as_err_clear(&err);
    struct as_config *cfg = as_config_load(yaml, &err);
    if (cfg == NULL)
        print_error("%s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
    assert_non_null(cfg);
    assert_int_equal(cfg->groups[0].min, 2);
    assert_int_equal(cfg->groups[0].max, 9); /* relative to the config file's directory */
    assert_true(cfg->groups[0].metrics[0].target == 0.75);
    assert_string_equal(cfg->groups[0].metrics[0].name, "http_json");
    as_config_unref(cfg);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
        unlink(path);
    }
    unlink(yaml);
    rmdir(dir);
}

/* Scaler fingerprints tell a reload whether the scaler changed. */
static void test_fingerprint(void **state)
{
    (void)state;
    struct as_err err;
    const char *a = HEAD "    max: 3\n" METRIC SCALER;
    const char *b = HEAD "    max: 5\n" METRIC SCALER;
    const char *c = HEAD "    max: 3\n" METRIC SCALER "      method: POST\n";
    const char *d = HEAD "    max: 3\n" METRIC SCALER "      retries: 1\n";
    const char *e = HEAD "    max: 3\n    interval: 5s\n" METRIC SCALER;
    struct as_config *ca = as_config_parse("a", a, &err), *cb = as_config_parse("b", b, &err),
                     *cc = as_config_parse("c", c, &err);
    assert_non_null(ca);
    assert_non_null(cb);
    assert_non_null(cc);
    assert_string_equal(ca->groups[0].scaler.fingerprint, cb->groups[0].scaler.fingerprint);
    assert_string_not_equal(ca->groups[0].scaler.fingerprint, cc->groups[0].scaler.fingerprint);
    /* Retry settings do not restart a scaler; a changed (effective) timeout does. */
    struct as_config *cd = as_config_parse("d", d, &err), *ce = as_config_parse("e", e, &err);
    assert_non_null(cd);
    assert_non_null(ce);
    assert_string_equal(ca->groups[0].scaler.fingerprint, cd->groups[0].scaler.fingerprint);
    assert_string_not_equal(ca->groups[0].scaler.fingerprint, ce->groups[0].scaler.fingerprint);
    as_config_unref(cd);
    as_config_unref(ce);
    as_config_unref(ca);
    as_config_unref(cb);
    as_config_unref(cc);
}

static void test_reference_doc(void **state)
{
    (void)state;
    struct as_sb sb = {0};
    assert_int_equal(as_config_reference(&sb), 0);
    assert_non_null(strstr(sb.buf, "| `interval` | duration | `15s` |"));
    assert_non_null(strstr(sb.buf, "### Source `http_json`"));
    assert_non_null(strstr(sb.buf, "### Scaler `process`"));
    as_sb_free(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_file_references),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_reference_doc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
