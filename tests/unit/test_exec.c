/* scalers/exec: real commands on a real loop. */
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
#include "util/loop.h"
#include "core/plugin.h"
#include "util/util.h"

extern const struct as_scaler_ops as_scaler_exec;
static const struct as_scaler_ops *ops = &as_scaler_exec;

#include "scaler_fixture.h"

/* Parses yaml ("{{dir}}" replaced by the fixture's directory), validates and starts. */
static void configure(struct fixture *f, const char *yaml, int64_t timeout_ms)
{
    const char *keys[] = {"dir"};
    const char *values[] = {f->dir};
    char *text = as_template(yaml, keys, values, 1);
    struct as_err err;
    as_err_clear(&err);
    struct as_doc *doc = as_doc_parse("test", text, strlen(text), &err);
    if (doc == NULL)
        fail_msg("yaml: %s", err.msg);
    f->state = calloc(1, ops->state_size);
    assert_non_null(f->state);
    if (as_opts_parse(ops->opts, f->state, doc->root, "test", &err) < 0 ||
        ops->validate(f->state, doc->root, &err) < 0)
        fail_msg("options: %s", err.msg);
    struct as_ctx ctx = {.loop = f->loop, .group = "g", .name = "exec", .timeout_ms = timeout_ms};
    assert_int_equal(ops->start(f->state, &ctx, &err), 0);
    as_doc_free(doc);
    free(text);
}

static void wait_result(struct fixture *f, int64_t max_ms)
{
    int64_t end = as_mono_ms() + max_ms;
    while (f->calls == 0 && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_int_equal(f->calls, 1);
}

static char *slurp(const char *dir, const char *name, char *buf, size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "r");
    buf[0] = '\0';
    if (fp == NULL)
        return buf;
    size_t n = fread(buf, 1, len - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void test_set_substitutes(void **state)
{
    struct fixture *f = *state;
    configure(f,
              "command: [sh, -c, 'echo \"$1 $2 $AUTOSCALER_REPLICAS $AUTOSCALER_GROUP $EXTRA\" "
              "> out', x, '{{replicas}}', 'n={{group}}']\n"
              "env: {EXTRA: 'e{{replicas}}'}\n"
              "working_dir: '{{dir}}'\n",
              5000);
    ops->set(f->state, 5, on_result, f);
    assert_int_equal(f->calls, 0);
    wait_result(f, 5000);
    assert_true(f->r.ok);
    assert_int_equal(f->r.replicas, 5);
    char buf[128];
    assert_string_equal(slurp(f->dir, "out", buf, sizeof(buf)), "5 n=g 5 g e5\n");
    assert_int_equal(ops->can_get(f->state), 0);
}

static void test_set_failure_carries_stderr(void **state)
{
    struct fixture *f = *state;
    configure(f,
              "command: [sh, -c, 'echo noise >&2; "
              "printf \"first\\nkubectl: \\033[1mboom\\n\\n\" >&2; exit 3']\n",
              5000);
    ops->set(f->state, 2, on_result, f);
    wait_result(f, 5000);
    assert_false(f->r.ok);
    assert_false(f->r.permanent);
    assert_int_equal(f->r.replicas, -1);
    assert_string_equal(f->r.error, "exit 3: kubectl: .[1mboom");
}

static void test_exit_127_is_permanent(void **state)
{
    struct fixture *f = *state;
    configure(f, "command: [sh, -c, 'exit 127']\n", 5000);
    ops->set(f->state, 1, on_result, f);
    wait_result(f, 5000);
    assert_false(f->r.ok);
    assert_true(f->r.permanent);
    assert_string_equal(f->r.error, "exit 127");
}

static void test_missing_program_is_permanent(void **state)
{
    struct fixture *f = *state;
    configure(f, "command: [/nonexistent/scale, '{{replicas}}']\n", 5000);
    ops->set(f->state, 1, on_result, f);
    assert_int_equal(f->calls, 0); /* reported from the loop, not from set() */
    wait_result(f, 1000);
    assert_false(f->r.ok);
    assert_true(f->r.permanent);
    assert_string_equal(f->r.error, "cannot run /nonexistent/scale: No such file or directory");
}

static void test_timeout_kills(void **state)
{
    struct fixture *f = *state;
    configure(f,
              "command: [sh, -c, \"trap '' TERM; echo started >&2; sleep 10\"]\n"
              "grace: 200ms\n",
              200);
    int64_t t0 = as_mono_ms();
    ops->set(f->state, 1, on_result, f);
    wait_result(f, 5000);
    int64_t took = as_mono_ms() - t0;
    assert_false(f->r.ok);
    assert_false(f->r.permanent);
    assert_string_equal(f->r.error, "timeout after 200 ms: started");
    assert_true(took >= 400);
    assert_true(took < 3000);
}

static void test_get(void **state)
{
    struct fixture *f = *state;
    configure(f,
              "command: ['true']\n"
              "get: [sh, -c, 'cat count', '{{group}}']\n"
              "working_dir: '{{dir}}'\n",
              5000);
    assert_int_equal(ops->can_get(f->state), 1);
    static const struct {
        const char *content;
        int ok, replicas;
    } cases[] = {
        {"  7 \n", 1, 7}, {"0", 1, 0}, {"-1\n", 0, -1},  {"abc\n", 0, -1},
        {"3.5\n", 0, -1}, {"", 0, -1}, {"1 2\n", 0, -1}, {"99999999999999\n", 0, -1},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/count", f->dir);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(cases[i].content, fp);
        fclose(fp);
        f->calls = 0;
        ops->get(f->state, on_result, f);
        wait_result(f, 5000);
        if (f->r.ok != cases[i].ok || f->r.replicas != cases[i].replicas)
            fail_msg("case %zu '%s': ok=%d replicas=%d error=%s", i, cases[i].content, f->r.ok,
                     f->r.replicas, f->r.error);
        if (!f->r.ok)
            assert_non_null(strstr(f->r.error, "not a whole number >= 0"));
    }
}

static void test_get_failure(void **state)
{
    struct fixture *f = *state;
    configure(f, "command: ['true']\nget: [sh, -c, 'echo 4; echo nope >&2; exit 1']\n", 5000);
    ops->get(f->state, on_result, f);
    wait_result(f, 5000);
    assert_false(f->r.ok);
    assert_string_equal(f->r.error, "exit 1: nope");
}

static void test_cancel_kills_without_done(void **state)
{
    struct fixture *f = *state;
    configure(f, "command: [sh, -c, 'echo $$ > pid; exec sleep 10']\nworking_dir: '{{dir}}'\n",
              5000);
    ops->set(f->state, 1, on_result, f);
    char buf[32];
    int64_t end = as_mono_ms() + 3000;
    while (slurp(f->dir, "pid", buf, sizeof(buf))[0] == '\0' && as_mono_ms() < end)
        as_loop_once(f->loop, 10);
    long pid = 0;
    assert_int_equal(as_parse_long(strtok(buf, "\n"), &pid), 0);
    ops->cancel(f->state);
    end = as_mono_ms() + 3000;
    while (kill((pid_t)pid, 0) == 0 && as_mono_ms() < end)
        as_loop_once(f->loop, 10);
    assert_int_equal(kill((pid_t)pid, 0), -1);
    assert_int_equal(f->calls, 0);
    /* The scaler is usable again after a cancel. */
    ops->stop(f->state, on_stopped, f);
    assert_int_equal(f->stopped, 1);
    as_opts_free(ops->opts, f->state);
    free(f->state);
    f->state = NULL;
}

static void test_stop_cancels_and_calls_done(void **state)
{
    struct fixture *f = *state;
    configure(f, "command: [sleep, '10']\n", 5000);
    ops->set(f->state, 1, on_result, f);
    ops->stop(f->state, on_stopped, f);
    assert_int_equal(f->stopped, 1);
    int64_t end = as_mono_ms() + 200;
    while (as_mono_ms() < end)
        as_loop_once(f->loop, 10);
    assert_int_equal(f->calls, 0);
    as_opts_free(ops->opts, f->state);
    free(f->state);
    f->state = NULL;
}

static void test_bad_options(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "command: []\n",
        "get: [x]\n",
        "command: [x]\nenv: {'1BAD': x}\n",
        "command: [x]\nenv: {AUTOSCALER_REPLICAS: '3'}\n",
        "command: [x]\ngrace: 0s\n",
        "command: x\n",
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++) {
        struct as_err err;
        as_err_clear(&err);
        struct as_doc *doc = as_doc_parse("test", bad[i], strlen(bad[i]), &err);
        assert_non_null(doc);
        void *s = calloc(1, ops->state_size);
        assert_non_null(s);
        int rc = as_opts_parse(ops->opts, s, doc->root, "test", &err);
        if (rc == 0)
            rc = ops->validate(s, doc->root, &err);
        if (rc == 0)
            fail_msg("accepted: %s", bad[i]);
        assert_true(err.line > 0);
        as_opts_free(ops->opts, s);
        free(s);
        as_doc_free(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_substitutes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_failure_carries_stderr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_127_is_permanent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_program_is_permanent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_kills, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_kills_without_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_cancels_and_calls_done, setup, teardown),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
