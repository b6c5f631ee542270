/* sources/exec: the output parser on canned text, and real commands on a real loop (exit codes,
 * timeouts that kill the process group, bounded output, the environment). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg.h"
#include "core/plugin.h"
#include "sources/exec.h"
#include "util/loop.h"
#include "util/util.h"

extern const struct as_source_ops as_source_exec;
static const struct as_source_ops *ops = &as_source_exec;

/* ---- the parser ---- */

static void want_value(const char *out, const char *pointer, double want)
{
    char why[256] = "";
    double v = -1;
    if (as_source_exec_parse(out, strlen(out), pointer, &v, why, sizeof(why)) < 0)
        fail_msg("'%s' (pointer %s): %s", out, pointer ? pointer : "none", why);
    if (v != want)
        fail_msg("'%s': %g, not %g", out, v, want);
}

static void want_error(const char *out, const char *pointer, const char *why_part)
{
    char why[256] = "";
    double v = -1;
    if (as_source_exec_parse(out, strlen(out), pointer, &v, why, sizeof(why)) == 0)
        fail_msg("'%s' (pointer %s) read as %g", out, pointer ? pointer : "none", v);
    if (strstr(why, why_part) == NULL)
        fail_msg("'%s': \"%s\" does not say \"%s\"", out, why, why_part);
}

static void test_parse_plain(void **state)
{
    (void)state;
    want_value("42\n", NULL, 42);
    want_value("  0.5 \r\n", NULL, 0.5);
    want_value("1e3", NULL, 1000);
    want_value("+3", NULL, 3);
    want_value("-0", NULL, 0);
    want_value("7.", NULL, 7);
    want_value(".25", NULL, 0.25);
    want_value("1e-400", NULL, 0); /* an underflow is ~0, not garbage */
    want_error("", NULL, "printed nothing");
    want_error(" \n\t\n", NULL, "printed nothing");
    want_error("-1\n", NULL, "negative");
    want_error("1e999", NULL, "not a finite number");
    want_error("0x10", NULL, "printed \"0x10\", not a number");
    want_error("inf", NULL, "not a number");
    want_error("nan", NULL, "not a number");
    want_error("5 jobs", NULL, "not a number");
    want_error("1\n2\n", NULL, "printed \"1.2\", not a number");
    want_error("1,5", NULL, "not a number");
    want_error(".", NULL, "not a number");
    want_error("1e", NULL, "not a number");
    want_error("--1", NULL, "not a number");
    want_error("\"3\"", NULL, "not a number");
    char longer[200];
    memset(longer, '1', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    want_error(longer, NULL, "...\", not a number"); /* too long to be one */
}

static void test_parse_json(void **state)
{
    (void)state;
    want_value("{\"queue\": {\"depth\": 17}}\n", "/queue/depth", 17);
    want_value("[1, 2.5]", "/1", 2.5);
    want_value("  3  ", "", 3);
    want_error("{\"queue\": {\"depth\": \"17\"}}", "/queue/depth", "a string");
    want_error("{\"queue\": {}}", "/queue/depth", "not found");
    want_error("{\"d\": -2}", "/d", "negative");
    want_error("{\"d\": null}", "/d", "null");
    want_error("depth=3", "/d", "output is not JSON");
    want_error("{\"d\": 1}{\"d\": 2}", "/d", "not JSON");
    want_error("", "/d", "printed nothing");
}

/* ---- real commands ---- */

struct fixture {
    struct as_loop *loop;
    void *state;
    char dir[64];
    int calls;
    struct as_measurement m;
};

static void on_measured(const struct as_measurement *m, void *arg)
{
    struct fixture *f = arg;
    f->calls++;
    f->m = *m;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->loop = as_loop_new();
    snprintf(f->dir, sizeof(f->dir), "/tmp/as-test-source-exec-XXXXXX");
    if (f->loop == NULL || mkdtemp(f->dir) == NULL)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->state) {
        ops->stop(f->state);
        as_opts_free(ops->opts, f->state);
        free(f->state);
    }
    /* let the loop reap what the stop killed */
    int64_t end = as_mono_ms() + 200;
    while (as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    int rc = system(cmd) == 0 ? 0 : -1;
    as_loop_free(f->loop);
    free(f);
    return rc;
}

/* Parses yaml ("{{dir}}" replaced by the fixture's directory), validates; starts unless the
 * validation fails, in which case it returns -1 with the message in err. */
static int configure(struct fixture *f, const char *yaml, int64_t timeout_ms, struct as_err *err)
{
    const char *keys[] = {"dir"};
    const char *values[] = {f->dir};
    char *text = as_template(yaml, keys, values, 1);
    as_err_clear(err);
    struct as_doc *doc = as_doc_parse("test", text, strlen(text), err);
    if (doc == NULL)
        fail_msg("yaml: %s", err->msg);
    f->state = calloc(1, ops->state_size);
    assert_non_null(f->state);
    int rc = as_opts_parse(ops->opts, f->state, doc->root, "test", err);
    if (rc == 0)
        rc = ops->validate(f->state, doc->root, err);
    struct as_ctx ctx = {
        .loop = f->loop, .group = "web", .name = "queue", .timeout_ms = timeout_ms};
    if (rc == 0)
        assert_int_equal(ops->start(f->state, &ctx, err), 0);
    as_doc_free(doc);
    free(text);
    return rc;
}

static void start(struct fixture *f, const char *yaml, int64_t timeout_ms)
{
    struct as_err err;
    if (configure(f, yaml, timeout_ms, &err) < 0)
        fail_msg("options: %s", err.msg);
}

static int64_t measure(struct fixture *f, int64_t max_ms)
{
    int64_t t0 = as_mono_ms();
    f->calls = 0;
    ops->measure(f->state, on_measured, f);
    assert_int_equal(f->calls, 0); /* never from inside measure() */
    while (f->calls == 0 && as_mono_ms() - t0 < max_ms)
        as_loop_once(f->loop, 20);
    assert_int_equal(f->calls, 1);
    return as_mono_ms() - t0;
}

static void expect_failure(struct fixture *f, const char *part)
{
    assert_false(f->m.ok);
    if (strstr(f->m.error, part) == NULL)
        fail_msg("\"%s\" does not say \"%s\"", f->m.error, part);
}

static void test_number_and_environment(void **state)
{
    struct fixture *f = *state;
    start(f,
          "command: [sh, -c, 'echo \"$1 $AUTOSCALER_GROUP $AUTOSCALER_METRIC $EXTRA\" > env; "
          "pwd > cwd; echo 12', x, '{{group}}/{{metric}}']\n"
          "env: {EXTRA: 'e-{{group}}'}\n"
          "working_dir: '{{dir}}'\n",
          5000);
    measure(f, 5000);
    assert_true(f->m.ok);
    assert_true(f->m.value == 12);
    assert_int_equal(f->m.replicas, -1);
    char path[128], buf[128] = "";
    snprintf(path, sizeof(path), "%s/env", f->dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(buf, sizeof(buf), fp));
    fclose(fp);
    assert_string_equal(buf, "web/queue web queue e-web\n");
    /* a second measurement runs it again */
    measure(f, 5000);
    assert_true(f->m.ok);
}

static void test_json_pointer_and_shell(void **state)
{
    struct fixture *f = *state;
    start(f,
          "command: ['printf ''{\"q\":{\"n\":%s}}'' \"$(echo 3 | tr 3 4)\"']\n"
          "shell: true\n"
          "pointer: /q/n\n",
          5000);
    measure(f, 5000);
    if (!f->m.ok)
        fail_msg("%s", f->m.error);
    assert_true(f->m.value == 4);
}

static void test_exit_code_and_stderr(void **state)
{
    struct fixture *f = *state;
    start(f, "command: [sh, -c, 'echo 5; echo first >&2; echo \"queue gone\" >&2; exit 3']\n",
          5000);
    measure(f, 5000);
    expect_failure(f, "exit 3 (stderr: queue gone)");
}

static void test_garbage_and_signal(void **state)
{
    struct fixture *f = *state;
    start(f, "command: [sh, -c, 'echo \"depth: 5\"; echo warn >&2']\n", 5000);
    measure(f, 5000);
    expect_failure(f, "printed \"depth: 5\", not a number (stderr: warn)");
    ops->stop(f->state);
    as_opts_free(ops->opts, f->state);
    free(f->state);
    start(f, "command: [sh, -c, 'kill -9 $$']\n", 5000);
    measure(f, 5000);
    expect_failure(f, "signal 9");
}

static int alive(pid_t pid)
{
    char path[64], st[512] = "";
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return 0;
    size_t n = fread(st, 1, sizeof(st) - 1, fp);
    fclose(fp);
    st[n] = '\0';
    const char *close = strrchr(st, ')');
    return close != NULL && close[2] != 'Z';
}

static pid_t read_pid(const char *dir, const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "r");
    int pid = 0;
    if (fp != NULL) {
        if (fscanf(fp, "%d", &pid) != 1)
            pid = 0;
        fclose(fp);
    }
    return (pid_t)pid;
}

static void test_timeout_kills_the_group(void **state)
{
    struct fixture *f = *state;
    /* the command and a grandchild both ignore nothing and sleep far past the timeout */
    start(f,
          "command: [sh, -c, 'sleep 30 & echo $! > grandchild; echo $$ > child; wait']\n"
          "working_dir: '{{dir}}'\n",
          300);
    int64_t took = measure(f, 3000);
    expect_failure(f, "timeout after 300 ms");
    assert_true(took >= 290 && took < 1500);
    pid_t child = read_pid(f->dir, "child"), grandchild = read_pid(f->dir, "grandchild");
    assert_true(child > 0 && grandchild > 0);
    int64_t end = as_mono_ms() + 2000;
    while ((alive(child) || alive(grandchild)) && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_false(alive(child));
    assert_false(alive(grandchild));
}

static void test_huge_output_is_bounded(void **state)
{
    struct fixture *f = *state;
    start(f, "command: [sh, -c, 'head -c 3000000 /dev/zero | tr \"\\\\0\" 1']\n", 10000);
    measure(f, 10000);
    expect_failure(f, "printed more than 65536 bytes");
}

static void test_cannot_start(void **state)
{
    struct fixture *f = *state;
    start(f, "command: [/nonexistent/queue-depth]\n", 5000);
    measure(f, 5000); /* reported from the loop, not from measure() */
    expect_failure(f, "/nonexistent/queue-depth");
}

static void test_cancel_kills_and_stays_silent(void **state)
{
    struct fixture *f = *state;
    start(f, "command: [sh, -c, 'echo $$ > child; exec sleep 30']\nworking_dir: '{{dir}}'\n", 5000);
    f->calls = 0;
    ops->measure(f->state, on_measured, f);
    pid_t child = 0;
    int64_t end = as_mono_ms() + 2000;
    while ((child = read_pid(f->dir, "child")) == 0 && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_true(child > 0);
    ops->cancel(f->state);
    end = as_mono_ms() + 1000;
    while (alive(child) && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_false(alive(child));
    assert_int_equal(f->calls, 0);
}

static void test_validate(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"command: ['echo 1', 'x']\nshell: true\n", "one string"},
        {"command: ['']\n", "its first entry is empty"},
        {"command: [echo]\npointer: 'a/b'\n", "pointer"},
        {"command: [echo]\nenv: {AUTOSCALER_X: '1'}\n", "'env' names"},
        {"command: [echo]\nenv: {'1A': '1'}\n", "'env' names"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++) {
        struct as_err err;
        assert_int_equal(configure(f, bad[i].yaml, 1000, &err), -1);
        if (strstr(err.msg, bad[i].msg) == NULL)
            fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].yaml, err.msg, bad[i].msg);
        assert_true(err.line > 0);
        ops->stop(f->state); /* never started: tolerated */
        as_opts_free(ops->opts, f->state);
        free(f->state);
        f->state = NULL;
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_plain),
        cmocka_unit_test(test_parse_json),
        cmocka_unit_test_setup_teardown(test_number_and_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_pointer_and_shell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_code_and_stderr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_and_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_kills_the_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_output_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cannot_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_kills_and_stays_silent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
