/* What `autoscaler check` says about a bad file: every error, in file order, each at its
 * line:column; the nearest valid name when one is close ("did you mean"), else the valid ones;
 * and nothing that only follows from another error (the keys of an unknown source type, a
 * min/max comparison with a max that did not parse). Also the suggestion helpers themselves
 * and the error list (sorting, duplicates, the cap). */
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
#include "util/suggest.h"

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

/* One expected error: its position and a part of its message. */
struct want {
    int line, col;
    const char *msg;
};

struct errors_case {
    const char *name;
    const char *text;
    struct want want[10]; /* every error, in file order; ends at line 0 */
};

static const struct errors_case cases[] = {
    {"unknown keys at every level, each with the nearest valid key",
     "log_levl: info\n" HEAD "    intervall: 5s\n    max: 3\n" METRIC "        targte: 1\n" SCALER
     "      methd: PUT\n"
     "    policy:\n      type: threshold_average\n      min: 0.2\n      mxa: 0.9\n"
     "      measurment: 3\n"
     "    behavior:\n      scale-down:\n        stabilisation: 10s\n"
     "    too_rapid: {scales: 3, within: 10m, withn: 1m}\n"
     "    fallback: {after: 3, replica: 2}\n",
     {{1, 1, "unknown key 'log_levl' in the configuration (did you mean 'log_level'?)"},
      {4, 5, "unknown key 'intervall' in group 'web' (did you mean 'interval'?)"},
      {12, 9, "unknown key 'targte' in group 'web' metric 'cpu' (did you mean 'target'?)"},
      {16, 7, "unknown key 'methd' in group 'web' scaler (did you mean 'method'?)"},
      {20, 7, "group 'web' policy: missing required key 'max' (is 'mxa' a misspelling of it?)"},
      {21, 7, "unknown key 'measurment' in group 'web' policy (did you mean 'measurements'?)"},
      {23, 7, "unknown key 'scale-down' in group 'web' behavior (did you mean 'scale_down'?)"},
      {25, 41, "unknown key 'withn' in group 'web' 'too_rapid' (did you mean 'within'?)"},
      {26, 26, "unknown key 'replica' in group 'web' 'fallback' (did you mean 'replicas'?)"}}},
    {"a schedule's key, and a key nothing is near: the valid keys, shortened",
     HEAD "    max: 3\n" METRIC SCALER
          "    schedules:\n      - {cron: '0 8 * * *', duration: 1h, min: 2, timezon: UTC}\n"
          "    colour: blue\n",
     {{14, 51, "unknown key 'timezon' in group 'web' schedules[0] (did you mean 'timezone'?)"},
      {15, 5,
       "unknown key 'colour' in group 'web'; valid keys: interval, min, max, tolerance, "
       "cooldown, on_error, paused, override, timezone, warmup and "}}},
    {"unknown types name the valid ones and the nearest",
     HEAD "    max: 3\n    metrics:\n      - type: http_jsn\n        url: http://x\n"
          "        pointr: /a\n        target: 1\n"
          "    scaler:\n      type: htp\n      url: http://x\n      methd: PUT\n"
          "    policy:\n      type: treshold_average\n      up_threshold: 0.9\n",
     {{5, 15,
       "group 'web' metric: unknown source type 'http_jsn' (did you mean 'http_json'?); one "
       "of: http_json, http_latency,"},
      {10, 13, "unknown scaler type 'htp' (did you mean 'http'?); one of: http, exec, process"},
      {14, 13,
       "unknown policy 'treshold_average' (did you mean 'threshold_average'?); one of: target, "}}},
    {"an unknown type far from every name: the valid ones only",
     HEAD "    max: 3\n    metrics:\n      - type: zzzzzz\n        target: 1\n" SCALER,
     {{5, 15, "unknown source type 'zzzzzz'; one of: http_json,"}}},
    {"an unknown policy: its keys and the metrics' targets are not judged",
     HEAD "    max: 3\n    metrics:\n      - type: cpu\n" SCALER
          "    policy:\n      type: nonesuch\n      whatever: 1\n",
     {{10, 13, "unknown policy 'nonesuch'"}}},
    {"a misspelt required key is one error, at the misspelling",
     "group:\n  web: {}\n",
     {{1, 1, "missing required key 'groups' (is 'group' a misspelling of it?)"}}},
    {"misspelt required keys of a group and of a metric",
     HEAD "    max: 3\n    metric:\n      - tpe: cpu\n        target: 1\n" SCALER
          "  api:\n    max: 3\n    metrics:\n      - tpe: cpu\n        target: 1\n    scalr: {}\n",
     {{4, 5, "group 'web': missing required key 'metrics' (is 'metric' a misspelling of it?)"},
      {13, 9, "group 'api' metric: missing required key 'type' (is 'tpe' a misspelling of it?)"},
      {15, 5, "group 'api': missing required key 'scaler' (is 'scalr' a misspelling of it?)"}}},
    {"a max that does not parse is not compared with min; an interval that does not parse is "
     "not compared with a timeout",
     HEAD "    min: 5\n    max: ten\n    interval: soon\n" METRIC "        timeout: 20s\n" SCALER,
     {{4, 10, "'max' must be an integer"}, {5, 15, "'interval' must be a duration"}}},
    {"a misspelt target is one error, not also 'set exactly one of target and average_value'",
     HEAD "    max: 3\n    metrics:\n      - type: cpu\n        targte: 0.5\n" SCALER,
     {{6, 9, "unknown key 'targte' in group 'web' metric 'cpu' (did you mean 'target'?)"}}},
    {"notifiers: an unknown type and a misspelt key, each notifier checked",
     HEAD "    max: 3\n" METRIC SCALER "notifiers:\n  ops:\n    type: webhok\n"
          "  tty:\n    type: console\n    templte: x\n",
     {{15, 11,
       "notifier 'ops': unknown notifier type 'webhok' (did you mean 'webhook'?); one of: "},
      {18, 5, "unknown key 'templte' in notifier 'tty' (did you mean 'template'?)"}}},
    {"an enum value: the valid ones and the nearest",
     "log_level: warning\n" HEAD "    max: 3\n    on_error: ignor\n" METRIC SCALER,
     {{1, 12, "'log_level' must be one of: debug, info, warn, error, off (did you mean 'warn'?)"},
      {5, 15, "'on_error' must be one of: hpa, ignore, fail (did you mean 'ignore'?)"}}},
    {"failed references are each reported, and nothing more about their values",
     HEAD "    max: ${env:AS_TEST_SURELY_UNSET}\n    metrics:\n      - type: http_json\n"
          "        url: ${env:AS_TEST_SURELY_UNSET_TOO}\n        pointer: /a\n"
          "        target: ${file:/nonexistent/target}\n" SCALER,
     {{3, 10, "environment variable AS_TEST_SURELY_UNSET is not set"},
      {6, 14, "environment variable AS_TEST_SURELY_UNSET_TOO is not set"},
      {8, 17, "cannot open /nonexistent/target"}}},
    {"a reference in a source's type: nothing about the source's keys",
     HEAD "    max: 3\n    metrics:\n      - type: ${env:AS_TEST_SURELY_UNSET}\n"
          "        whatever: 1\n" SCALER,
     {{5, 15, "AS_TEST_SURELY_UNSET is not set"}}},
    {"errors of several groups, in file order, with the second group's options checked",
     HEAD "    max: 3\n    tolerance: 20\n" METRIC SCALER "      retries: -1\n"
          "  api:\n    max: 0\n" METRIC SCALER,
     {{4, 16, "between 0 and 10"}, {14, 16, "between 0 and 100"}, {16, 10, "between 1 and"}}},
    {"a bad group name, and the other group still checked",
     "groups:\n  \"we b\":\n    max: 1\n  ok:\n    max: 3\n    interval: soon\n" METRIC SCALER,
     {{2, 3, "group name 'we b'"}, {6, 15, "must be a duration"}}},
    {"metrics that fail each on their own; the policy's references are not judged then",
     HEAD "    max: 3\n    metrics:\n      - name: q\n        type: http_json\n"
          "        url: ftp://x\n        pointer: /q\n"
          "      - name: c\n        type: http_json\n        url: http://x\n"
          "        pointer: c\n" SCALER "    policy:\n      type: threshold_average\n"
          "      metric: nonesuch\n      min: 0.2\n      max: 0.9\n",
     {{7, 14, "must start with http:// or https://"}, {12, 18, "must be empty or start with '/'"}}},
    {"the same metric name twice, and an unknown key in each",
     HEAD "    max: 3\n    metrics:\n      - {name: a, type: cpu, target: 1, foo: 1}\n"
          "      - {name: a, type: cpu, target: 1, bar: 2}\n" SCALER,
     {{5, 41, "unknown key 'foo'"},
      {6, 16, "two metrics are named 'a'"},
      {6, 41, "unknown key 'bar'"}}},
};

static void check_case(const struct errors_case *c)
{
    struct as_errs errs = {0};
    struct as_err err;
    struct as_config *cfg = as_config_parse_all("bad.yaml", c->text, &errs, &err);
    size_t nwant = 0;
    while (nwant < AS_ARRAY_LEN(c->want) && c->want[nwant].line != 0)
        nwant++;
    int ok = cfg == NULL && errs.n == nwant;
    for (size_t i = 0; ok && i < nwant; i++)
        ok = errs.v[i].line == c->want[i].line && errs.v[i].col == c->want[i].col &&
             strcmp(errs.v[i].file, "bad.yaml") == 0 &&
             strstr(errs.v[i].msg, c->want[i].msg) != NULL;
    /* err is the first error in file order */
    ok = ok && err.line == c->want[0].line && err.col == c->want[0].col;
    if (!ok) {
        print_error("case '%s': got %zu error(s):\n", c->name, errs.n);
        for (size_t i = 0; i < errs.n; i++)
            print_error("  %d:%d: %s\n", errs.v[i].line, errs.v[i].col, errs.v[i].msg);
        print_error("want %zu:\n", nwant);
        for (size_t i = 0; i < nwant; i++)
            print_error("  %d:%d: ...%s...\n", c->want[i].line, c->want[i].col, c->want[i].msg);
    }
    as_config_unref(cfg);
    as_errs_free(&errs);
    if (!ok)
        fail();
}

static void test_every_error(void **state)
{
    (void)state;
    unsetenv("AS_TEST_SURELY_UNSET");
    unsetenv("AS_TEST_SURELY_UNSET_TOO");
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++)
        check_case(&cases[i]);
}

/* as_config_parse (and load, as `run` and a reload use it) gives the first error in file
 * order, not the first one found: an unknown key at the top of a group is found last. */
static void test_first_in_file_order(void **state)
{
    (void)state;
    struct as_err err;
    assert_null(as_config_parse(
        "bad.yaml", HEAD "    maxx: 3\n    max: 3\n" METRIC "        targte: 1\n" SCALER, &err));
    assert_int_equal(err.line, 3);
    assert_int_equal(err.col, 5);
    assert_non_null(strstr(err.msg, "did you mean 'max'"));
}

/* A file that cannot be read says why, at the file alone: "FILE: why". */
static void test_unreadable_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/as-cfgerr-XXXXXX", path[512], buf[AS_ERR_MAX + 300];
    assert_non_null(mkdtemp(dir));
    struct as_err err;
    assert_null(as_config_load(dir, &err));
    snprintf(path, sizeof(path), "%s: is a directory, not a configuration file", dir);
    assert_string_equal(as_err_str(&err, buf, sizeof(buf)), path);
    snprintf(path, sizeof(path), "%s/missing.yaml", dir);
    assert_null(as_config_load(path, &err));
    assert_int_equal(err.line, 0);
    assert_string_equal(err.msg, "no such file");
    static const struct {
        const char *text;
        int line, col;
        const char *msg;
    } texts[] = {
        {"groups:\n  a: \xff\xfe\n", 2, 6, "not UTF-8 text: byte 0xFF"},
        {"groups:\n  web:\n    x: caf\xc3\xa9 \xe9t\xe9\n", 3, 13, "not UTF-8 text: byte 0xE9"},
        {"groups:\n  a:\x01\n", 2, 5, "not a text file: control character 0x01"},
    };
    snprintf(path, sizeof(path), "%s/bad.yaml", dir);
    for (size_t i = 0; i < AS_ARRAY_LEN(texts); i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(texts[i].text, f);
        fclose(f);
        assert_null(as_config_load(path, &err));
        if (err.line != texts[i].line || err.col != texts[i].col ||
            strstr(err.msg, texts[i].msg) == NULL) {
            print_error("text %zu: got %d:%d: %s\n", i, err.line, err.col, err.msg);
            fail();
        }
    }
    unlink(path);
    rmdir(dir);
}

/* A relative log_file and state_dir are taken from the configuration file's directory (as a
 * ${file:} reference is), absolute ones and "" are kept as they are. */
static void test_relative_paths(void **state)
{
    (void)state;
    struct as_err err;
    struct as_config *cfg = as_config_parse(
        "/etc/as/autoscaler.yaml",
        "log_file: log/as.log\nstate_dir: state\n" HEAD "    max: 3\n" METRIC SCALER, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->log_file, "/etc/as/log/as.log");
    assert_string_equal(cfg->state_dir, "/etc/as/state");
    as_config_unref(cfg);
    cfg = as_config_parse("conf/a.yaml", HEAD "    max: 3\n" METRIC SCALER, &err);
    assert_non_null(cfg); /* the defaults are relative too */
    assert_string_equal(cfg->log_file, "conf/autoscaler.log");
    assert_string_equal(cfg->state_dir, "conf/autoscaler-state");
    as_config_unref(cfg);
    cfg = as_config_parse(
        "a.yaml", "log_file: ''\nstate_dir: /var/lib/as\n" HEAD "    max: 3\n" METRIC SCALER, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->log_file, "");
    assert_string_equal(cfg->state_dir, "/var/lib/as");
    as_config_unref(cfg);
    cfg = as_config_parse("a.yaml", "log_file: x.log\n" HEAD "    max: 3\n" METRIC SCALER, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->log_file, "./x.log");
    as_config_unref(cfg);
}

/* Many errors: all are counted, AS_ERRS_KEEP kept, in file order. */
static void test_many_errors(void **state)
{
    (void)state;
    struct as_sb sb = {0};
    assert_int_equal(as_sb_puts(&sb, "groups:\n"), 0);
    for (int i = 0; i < 1200; i++)
        assert_int_equal(as_sb_printf(&sb, "  g%d:\n    max: 3\n    mxa: 3\n" METRIC SCALER, i), 0);
    struct as_errs errs = {0};
    struct as_err err;
    assert_null(as_config_parse_all("many.yaml", sb.buf, &errs, &err));
    as_sb_free(&sb);
    assert_int_equal(errs.n, AS_ERRS_KEEP);
    assert_int_equal(errs.n + errs.dropped, 1200);
    for (size_t i = 1; i < errs.n; i++)
        assert_true(errs.v[i].line > errs.v[i - 1].line);
    as_errs_free(&errs);
}

static void test_errs_sort(void **state)
{
    (void)state;
    struct as_errs l = {0};
    struct as_err e;
    as_err_at(&e, "f", 9, 1, "nine");
    assert_int_equal(as_errs_add(&l, &e), 0);
    assert_int_equal(as_errs_add(&l, &e), 0); /* the same again: once */
    as_err_at(&e, "f", 2, 5, "two-b");
    assert_int_equal(as_errs_add(&l, &e), 0);
    as_err_at(&e, "f", 2, 5, "two-c"); /* same position: the order found */
    assert_int_equal(as_errs_add(&l, &e), 0);
    as_err_at(&e, "f", 9, 1, "nine"); /* a duplicate that is not the last one */
    assert_int_equal(as_errs_add(&l, &e), 0);
    as_err_at(&e, "f", 2, 1, "two-a");
    assert_int_equal(as_errs_add(&l, &e), 0);
    assert_int_equal(l.n, 5);
    as_errs_sort(&l);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.v[0].msg, "two-a");
    assert_string_equal(l.v[1].msg, "two-b");
    assert_string_equal(l.v[2].msg, "two-c");
    assert_string_equal(l.v[3].msg, "nine");
    as_errs_free(&l);
    char buf[600];
    as_err_at(&e, "x.yaml", 0, 0, "no such file");
    assert_string_equal(as_err_str(&e, buf, sizeof(buf)), "x.yaml: no such file");
}

static void test_suggest(void **state)
{
    (void)state;
    assert_int_equal(as_edit_distance("interval", "interval"), 0);
    assert_int_equal(as_edit_distance("intervall", "interval"), 1);
    assert_int_equal(as_edit_distance("mni", "min"), 1); /* a transposition */
    assert_int_equal(as_edit_distance("Scale-Down", "scale_down"), 0);
    assert_int_equal(as_edit_distance("", "abc"), 3);
    assert_int_equal(as_edit_distance("kitten", "sitting"), 3);
    static const char *const keys[] = {"interval", "min", "max", "timeout", "type", NULL};
    const size_t n = AS_ARRAY_LEN(keys);
    assert_string_equal(as_suggest("intervall", keys, n), "interval");
    assert_string_equal(as_suggest("mxa", keys, n), "max");
    assert_string_equal(as_suggest("timout", keys, n), "timeout");
    assert_string_equal(as_suggest("inter", keys, n), "interval"); /* an abbreviation */
    assert_null(as_suggest("foo", keys, n));
    assert_null(as_suggest("mix", keys, 0));
    assert_null(as_suggest("min", keys, n));                /* itself is no suggestion */
    assert_string_equal(as_suggest("mix", keys, n), "min"); /* the first of two equals */
    char lng[200];
    memset(lng, 'a', sizeof(lng) - 1);
    lng[sizeof(lng) - 1] = '\0';
    assert_null(as_suggest(lng, keys, n));
    struct as_sb sb = {0};
    assert_int_equal(as_names_list(&sb, keys, n, 3), 0);
    assert_string_equal(sb.buf, "interval, min, max and 2 more");
    as_sb_free(&sb);
    assert_int_equal(as_names_list(&sb, keys, n, 10), 0);
    assert_string_equal(sb.buf, "interval, min, max, timeout, type");
    as_sb_free(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suggest),         cmocka_unit_test(test_errs_sort),
        cmocka_unit_test(test_every_error),     cmocka_unit_test(test_first_in_file_order),
        cmocka_unit_test(test_unreadable_file), cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_many_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
