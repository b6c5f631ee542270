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
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "util/log.h"

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
    /* A "\0" escape would cut a name or a URL short where C reads it. */
    {HEAD "    max: 3\n" METRIC SCALER "      method: \"PUT\\0evil\"\n", 13, 15, "NUL byte"},
    {HEAD "    max: 3\n    metrics:\n      - name: \"cpu\\0evil\"\n", 5, 15, "NUL byte"},
    {HEAD "    max: 3\n    metrics:\n      - type: http_json\n        url: \"http://x\\0.y\"\n", 6,
     14, "NUL byte"},
    {"groups:\n  \"web\\0evil\":\n    max: 3\n", 2, 3, "NUL byte"},
    {HEAD "    \"max\\0\": 3\n", 3, 5, "NUL byte"},
    /* A reference's errors point at the reference itself. */
    {HEAD "    max: 3\n    metrics:\n      - type: http_json\n"
          "        url: \"http://x/${env:AS_TEST_SURELY_UNSET}\"\n"
          "        pointer: /a\n        target: 1\n" SCALER,
     6, 24, "AS_TEST_SURELY_UNSET is not set"},
    {HEAD "    max: 3\n    metrics:\n      - type: http_json\n"
          "        url: http://x/?${file:/nonexistent/token}\n"
          "        pointer: /a\n        target: 1\n" SCALER,
     6, 24, "cannot open /nonexistent/token"},
    /* A duplicate among many keys (found through the map's index) at its exact position. */
    {"groups:\n  g0: {}\n  g1: {}\n  g2: {}\n  g3: {}\n  g4: {}\n  g5: {}\n  g6: {}\n"
     "  g7: {}\n  g8: {}\n  g9: {}\n  g10: {}\n  g11: {}\n  g12: {}\n  g13: {}\n"
     "  g14: {}\n  g15: {}\n  g16: {}\n  g17: {}\n  g3: {}\n",
     20, 3, "duplicate key 'g3'"},
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

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* Loads `yaml` (with "%s" standing for dir) from dir/autoscaler.yaml. */
static struct as_config *load_in(const char *dir, const char *yaml, struct as_err *err)
{
    char path[512], text[2048];
    snprintf(text, sizeof(text), yaml, dir);
    write_file(dir, "autoscaler.yaml", text, strlen(text));
    snprintf(path, sizeof(path), "%s/autoscaler.yaml", dir);
    as_err_clear(err);
    return as_config_load(path, err);
}

static void remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A reference to a FIFO, a device or a directory fails at once, at the reference, instead of
 * blocking the loader (and the daemon's loop on SIGHUP); a symlink to a file is fine; a file
 * holding a NUL byte is an error. */
static void test_file_reference_kinds(void **state)
{
    (void)state;
    char dir[] = "/tmp/as-cfgref-XXXXXX", path[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    write_file(dir, "max", "7\n", 2);
    write_file(dir, "nul", "ab\0cd\n", 6);
    snprintf(path, sizeof(path), "%s/link", dir);
    assert_int_equal(symlink("max", path), 0);
    static const struct {
        const char *ref;
        const char *msg;
    } cases[] = {
        {"${file:fifo}", "fifo: not a regular file"},
        {"${file:/dev/zero}", "/dev/zero: not a regular file"},
        {"${file:.}", "not a regular file"},
        {"${file:nul}", "nul holds a NUL byte"},
    };
    alarm(20); /* a loader that blocks fails here instead of hanging the suite */
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml),
                 HEAD
                 "    max: 3\n    metrics:\n      - type: http_json\n"
                 "        url: \"http://x/%s\"\n        pointer: /a\n        target: 1\n" SCALER,
                 cases[i].ref);
        struct as_err err;
        struct as_config *cfg = load_in(dir, yaml, &err);
        if (cfg != NULL || err.line != 6 || err.col != 24 ||
            strstr(err.msg, cases[i].msg) == NULL) {
            print_error("case %zu: %s:%d:%d: %s\n", i, err.file, err.line, err.col, err.msg);
            fail();
        }
    }
    alarm(0);
    struct as_err err;
    struct as_config *cfg = load_in(dir, HEAD "    max: ${file:link}\n" METRIC SCALER, &err);
    assert_non_null(cfg);
    assert_int_equal(cfg->groups[0].max, 7);
    as_config_unref(cfg);
    remove_dir(dir);
}

/* Every value a reference resolved to is registered as a secret for the log, except values
 * too short to be one. */
static void test_references_are_secrets(void **state)
{
    (void)state;
    as_log_secrets_clear();
    setenv("AS_TEST_TOKEN", "tok-9f8e7d6c", 1);
    setenv("AS_TEST_SHORT", "abc", 1);
    struct as_err err;
    struct as_config *cfg =
        as_config_parse("s.yaml",
                        HEAD "    max: 3\n    metrics:\n      - type: http_json\n"
                             "        url: http://x/${env:AS_TEST_TOKEN}?${env:AS_TEST_SHORT}\n"
                             "        pointer: /cpu\n        target: 1\n" SCALER,
                        &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->groups[0].metrics[0].name, "http_json");
    assert_int_equal(as_log_secret_count(), 1);
    char line[] = "GET http://x/tok-9f8e7d6c?abc failed";
    as_log_mask(line, strlen(line));
    assert_string_equal(line, "GET http://x/***?abc failed");
    as_config_unref(cfg);
    as_log_secrets_clear();
}

/* Many groups: every one is found by name (through the config's index), keys of a big mapping
 * are found and marked used, and an unknown name is not found. */
static void test_many_groups(void **state)
{
    (void)state;
    struct as_sb sb = {0};
    assert_int_equal(as_sb_puts(&sb, "groups:\n"), 0);
    for (int i = 0; i < 300; i++)
        assert_int_equal(as_sb_printf(&sb,
                                      "  g%d:\n    max: %d\n" METRIC
                                      "    scaler:\n      type: http\n      url: http://x/%d\n",
                                      i, i + 1, i),
                         0);
    struct as_err err;
    as_err_clear(&err);
    struct as_config *cfg = as_config_parse("many.yaml", sb.buf, &err);
    as_sb_free(&sb);
    assert_non_null(cfg);
    assert_int_equal(cfg->ngroups, 300);
    for (int i = 0; i < 300; i++) {
        char name[16];
        snprintf(name, sizeof(name), "g%d", i);
        struct as_group_cfg *g = as_config_group(cfg, name);
        assert_non_null(g);
        assert_string_equal(g->name, name);
        assert_int_equal(g->max, i + 1);
    }
    assert_null(as_config_group(cfg, "g300"));
    assert_null(as_config_group(cfg, ""));
    as_config_unref(cfg);

    static const char big[] = "{k0: 0, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5, k6: 6, k7: 7, k8: 8, "
                              "k9: 9, k10: 10, k11: 11, k12: 12, k13: 13, k14: 14, k15: 15, "
                              "k16: 16, k17: 17, k18: 18, k19: 19}";
    struct as_doc *doc = as_doc_parse("big.yaml", big, strlen(big), &err);
    assert_non_null(doc);
    assert_non_null(doc->root->index);
    for (int i = 19; i >= 0; i--) {
        char key[8];
        snprintf(key, sizeof(key), "k%d", i);
        struct as_node *v = as_node_get(doc->root, key);
        assert_non_null(v);
        assert_int_equal(atoi(v->value), i);
    }
    assert_null(as_node_get(doc->root, "k20"));
    assert_int_equal(as_node_check_unused(doc->root, "big", &err), 0);
    as_doc_free(doc);
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

/* Two groups on one exclusive resource (an agents port): an error at the second group;
 * two metrics of one group may share it. */
static void test_exclusive_across_groups(void **state)
{
    (void)state;
    setenv("AS_TEST_AGENT_KEY", "0123456789abcdef0123", 1);
    static const char *const two =
        "groups:\n"
        "  a:\n"
        "    max: 3\n"
        "    metrics: [{type: agents, secret: '${env:AS_TEST_AGENT_KEY}', target: 0.5}]\n"
        "    scaler: {type: process, command: [x]}\n"
        "  b:\n"
        "    max: 3\n"
        "    metrics: [{type: agents, listen: '127.0.0.2:7070', secret: "
        "'${env:AS_TEST_AGENT_KEY}', target: 0.5}]\n"
        "    scaler: {type: process, command: [x]}\n";
    struct as_err err;
    as_err_clear(&err);
    assert_null(as_config_parse("two.yaml", two, &err));
    assert_int_equal(err.line, 6);
    assert_int_equal(err.col, 3);
    assert_non_null(strstr(err.msg, "TCP port 7070"));
    static const char *const shared =
        "groups:\n"
        "  a:\n"
        "    max: 3\n"
        "    metrics:\n"
        "      - {name: c, type: agents, secret: '${env:AS_TEST_AGENT_KEY}', target: 0.5}\n"
        "      - {name: q, type: agents, field: queue, secret: '${env:AS_TEST_AGENT_KEY}',\n"
        "         average_value: 10}\n"
        "    scaler: {type: process, command: [x]}\n";
    struct as_config *cfg = as_config_parse("shared.yaml", shared, &err);
    assert_non_null(cfg);
    as_config_unref(cfg);
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
        cmocka_unit_test(test_file_reference_kinds),
        cmocka_unit_test(test_references_are_secrets),
        cmocka_unit_test(test_many_groups),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_reference_doc),
        cmocka_unit_test(test_exclusive_across_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
