/* scalers/process: a real pool of real workers on a real loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg.h"
#include "util/log.h"
#include "util/loop.h"
#include "core/plugin.h"
#include "util/util.h"

extern const struct as_scaler_ops as_scaler_process;
static const struct as_scaler_ops *ops = &as_scaler_process;

#include "scaler_fixture.h"

/* Parses yaml ("{{dir}}" replaced by the fixture's directory), validates and starts. */
static void configure(struct fixture *f, const char *yaml)
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
    struct as_ctx ctx = {.loop = f->loop, .group = "g", .name = "process", .timeout_ms = 1000};
    assert_int_equal(ops->start(f->state, &ctx, &err), 0);
    as_doc_free(doc);
    free(text);
}

static void set(struct fixture *f, int want)
{
    f->calls = 0;
    ops->set(f->state, want, on_result, f);
    assert_int_equal(f->calls, 0); /* never re-entrant */
    int64_t end = as_mono_ms() + 2000;
    while (f->calls == 0 && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_int_equal(f->calls, 1);
}

static int get(struct fixture *f)
{
    f->calls = 0;
    ops->get(f->state, on_result, f);
    assert_int_equal(f->calls, 0);
    int64_t end = as_mono_ms() + 2000;
    while (f->calls == 0 && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_int_equal(f->calls, 1);
    assert_true(f->r.ok);
    return f->r.replicas;
}

static const char *slurp(const struct fixture *f, const char *name, char *buf, size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "r");
    buf[0] = '\0';
    if (fp == NULL)
        return buf;
    size_t n = fread(buf, 1, len - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* Waits for the file a worker writes its pid into and returns that pid (0 on timeout). */
static pid_t wait_pid_file(struct fixture *f, const char *name, int64_t max_ms)
{
    char buf[32];
    long pid = 0;
    int64_t end = as_mono_ms() + max_ms;
    while (as_mono_ms() < end) {
        slurp(f, name, buf, sizeof(buf));
        char *nl = strchr(buf, '\n');
        if (nl != NULL) {
            *nl = '\0';
            if (as_parse_long(buf, &pid) == 0)
                return (pid_t)pid;
        }
        as_loop_once(f->loop, 10);
    }
    return 0;
}

/* Our children are reaped by the loop, so a gone worker no longer exists at all. */
static int wait_gone(struct fixture *f, pid_t pid, int64_t max_ms)
{
    int64_t end = as_mono_ms() + max_ms;
    while (kill(pid, 0) == 0 && as_mono_ms() < end)
        as_loop_once(f->loop, 10);
    return kill(pid, 0) < 0 && errno == ESRCH;
}

static void run_for(struct fixture *f, int64_t ms)
{
    int64_t end = as_mono_ms() + ms;
    while (as_mono_ms() < end)
        as_loop_once(f->loop, 10);
}

/* A worker that records its pid in p<slot>, and t<slot> when it gets SIGTERM. */
#define TRAPPING_WORKER                                                                            \
    "command: [sh, -c, 'trap \"echo $AUTOSCALER_REPLICAS > t$AUTOSCALER_WORKER; exit 0\" TERM; "   \
    "echo $$ > p{{worker}}.tmp; mv p{{worker}}.tmp p{{worker}}; sleep 30 & wait']\n"               \
    "working_dir: '{{dir}}'\n"                                                                     \
    "grace: 2s\n"

static void test_grow_and_shrink(void **state)
{
    struct fixture *f = *state;
    configure(f, TRAPPING_WORKER);
    assert_int_equal(get(f), 0);
    set(f, 3);
    assert_true(f->r.ok);
    assert_int_equal(f->r.replicas, 3);
    assert_int_equal(get(f), 3);
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "p%d", i);
        pids[i] = wait_pid_file(f, name, 3000);
        assert_true(pids[i] > 0);
        assert_int_equal(getpgid(pids[i]), pids[i]);
    }
    set(f, 1);
    assert_true(f->r.ok);
    assert_int_equal(f->r.replicas, 1);
    assert_int_equal(get(f), 1);
    /* SIGTERM reached the highest slots, their trap ran, and they were reaped. */
    assert_true(wait_gone(f, pids[1], 3000));
    assert_true(wait_gone(f, pids[2], 3000));
    char buf[16];
    assert_string_equal(slurp(f, "t1", buf, sizeof(buf)), "3\n");
    assert_string_equal(slurp(f, "t2", buf, sizeof(buf)), "3\n");
    assert_string_equal(slurp(f, "t0", buf, sizeof(buf)), "");
    assert_int_equal(kill(pids[0], 0), 0);
    run_for(f, 100);
    assert_int_equal(kill(pids[0], 0), 0); /* the survivor was not restarted or touched */
    assert_int_equal(wait_pid_file(f, "p0", 100), pids[0]);
}

static void test_stop_reaps_everything(void **state)
{
    struct fixture *f = *state;
    configure(f, "command: [sh, -c, \"trap '' TERM; echo $$ > p{{worker}}.tmp; "
                 "mv p{{worker}}.tmp p{{worker}}; sleep 30\"]\n"
                 "working_dir: '{{dir}}'\n"
                 "grace: 200ms\n");
    set(f, 3);
    assert_true(f->r.ok);
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "p%d", i);
        pids[i] = wait_pid_file(f, name, 3000);
        assert_true(pids[i] > 0);
    }
    int64_t t0 = as_mono_ms();
    ops->stop(f->state, on_stopped, f);
    assert_int_equal(f->stopped, 0); /* they ignore SIGTERM: done waits for SIGKILL */
    run_until_stopped(f, 3000);
    assert_int_equal(f->stopped, 1);
    assert_true(as_mono_ms() - t0 >= 200);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kill(pids[i], 0), -1);
        assert_int_equal(errno, ESRCH);
    }
    as_opts_free(ops->opts, f->state);
    free(f->state);
    f->state = NULL;
}

static void test_grace_then_kill_on_shrink(void **state)
{
    struct fixture *f = *state;
    configure(f, "command: [sh, -c, \"trap '' TERM; echo $$ > p{{worker}}.tmp; "
                 "mv p{{worker}}.tmp p{{worker}}; sleep 30\"]\n"
                 "working_dir: '{{dir}}'\n"
                 "grace: 300ms\n");
    set(f, 2);
    pid_t p1 = wait_pid_file(f, "p1", 3000);
    assert_true(p1 > 0);
    int64_t t0 = as_mono_ms();
    set(f, 1);
    assert_true(f->r.ok);
    run_for(f, 100);
    assert_int_equal(kill(p1, 0), 0); /* SIGTERM is ignored: still there inside the grace */
    assert_true(wait_gone(f, p1, 3000));
    assert_true(as_mono_ms() - t0 >= 300);
}

static void test_crash_restarts_with_backoff(void **state)
{
    struct fixture *f = *state;
    configure(f, "command: [sh, -c, 'date +%s%N >> starts; exit 1']\n"
                 "working_dir: '{{dir}}'\n"
                 "restart_backoff: 50ms\n"
                 "restart_backoff_max: 400ms\n"
                 "output: null\n");
    as_log_min = AS_OFF;
    set(f, 1);
    as_log_min = AS_INFO;
    assert_true(f->r.ok);
    as_log_min = AS_OFF;
    run_for(f, 1000);
    as_log_min = AS_INFO;
    assert_int_equal(get(f), 1); /* a crashed worker awaiting restart is still wanted */
    char buf[1024];
    slurp(f, "starts", buf, sizeof(buf));
    long long t[16];
    int n = 0;
    for (char *tok = strtok(buf, "\n"); tok && n < 16; tok = strtok(NULL, "\n"))
        t[n++] = strtoll(tok, NULL, 10) / 1000000;
    /* Starts near 0, 50, 150, 350, 750 ms: the delay doubles up to the cap. */
    if (n < 4 || n > 6)
        fail_msg("%d starts in 1 s", n);
    assert_true(t[1] - t[0] >= 45);
    assert_true(t[2] - t[1] >= 95);
    assert_true(t[3] - t[2] >= 195);
    assert_true(t[3] - t[2] < 800);
    if (n > 4)
        assert_true(t[4] - t[3] >= 395);
}

static void test_spawn_failure_is_permanent(void **state)
{
    struct fixture *f = *state;
    configure(f, "command: [/nonexistent/worker]\n");
    set(f, 2);
    assert_false(f->r.ok);
    assert_true(f->r.permanent);
    assert_int_equal(f->r.replicas, 0);
    assert_string_equal(f->r.error, "cannot run /nonexistent/worker: No such file or directory");
    assert_int_equal(get(f), 0);
}

static void test_regrow_waits_for_stopping_slot(void **state)
{
    struct fixture *f = *state;
    /* The worker takes 300 ms to shut down. */
    configure(f, "command: [sh, -c, 'trap \"sleep 0.3; exit 0\" TERM; "
                 "echo $$ > p{{worker}}.tmp; mv p{{worker}}.tmp p{{worker}}; sleep 30 & wait']\n"
                 "working_dir: '{{dir}}'\n");
    set(f, 2);
    pid_t old = wait_pid_file(f, "p1", 3000);
    assert_true(old > 0);
    char path[128];
    snprintf(path, sizeof(path), "%s/p1", f->dir);
    set(f, 1);
    unlink(path);
    set(f, 2);
    assert_true(f->r.ok);
    assert_int_equal(get(f), 2);
    assert_int_equal(kill(old, 0), 0); /* still stopping: slot 1 is not doubled up */
    char buf[32];
    assert_string_equal(slurp(f, "p1", buf, sizeof(buf)), "");
    /* Slot 1 comes back as a new process once the old one has gone. */
    pid_t fresh = wait_pid_file(f, "p1", 3000);
    assert_true(fresh > 0);
    assert_true(fresh != old);
    assert_int_equal(kill(old, 0), -1);
}

static void test_output_log(void **state)
{
    struct fixture *f = *state;
    char log[128];
    snprintf(log, sizeof(log), "%s/log", f->dir);
    configure(f, "command: [sh, -c, 'echo hello {{worker}}; echo oops >&2; sleep 30']\n"
                 "output: log\n"
                 "grace: 1s\n");
    assert_int_equal(as_log_open(log), 0);
    as_log_stderr(0);
    set(f, 1);
    int found = 0;
    int64_t end = as_mono_ms() + 3000;
    while (!found && as_mono_ms() < end) {
        as_loop_once(f->loop, 20);
        char buf[4096];
        slurp(f, "log", buf, sizeof(buf));
        found = strstr(buf, "scaler/process[g]: worker 0 stdout: hello 0") != NULL &&
                strstr(buf, "scaler/process[g]: worker 0 stderr: oops") != NULL;
    }
    as_log_close();
    as_log_stderr(1);
    assert_true(found);
}

static void test_bad_options(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "grace: 1s\n",
        "command: []\n",
        "command: [x]\noutput: file\n",
        "command: [x]\nrestart_backoff: 10s\nrestart_backoff_max: 1s\n",
        "command: [x]\ngrace: forever\n",
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
        as_opts_free(ops->opts, s);
        free(s);
        as_doc_free(doc);
    }
}

/* workers(): each worker's age, and idle time from its CPU use between two samples. Worker 0
 * burns CPU for a while, worker 1 sleeps. */
static void test_workers_idle_and_age(void **state)
{
    struct fixture *f = *state;
    configure(f, "command: [/bin/sh, -c, 'if [ \"$AUTOSCALER_WORKER\" = 0 ]; then "
                 "end=$(($(date +%s) + 3)); while [ $(date +%s) -lt $end ]; do :; done; fi; "
                 "exec sleep 30']\n"
                 "grace: 200ms\n");
    set(f, 2);
    struct as_worker_info w[4];
    int64_t end = as_mono_ms() + 300;
    while (as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_int_equal(ops->workers(f->state, w, 4), 2); /* first sample */
    end = as_mono_ms() + 600;
    while (as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_int_equal(ops->workers(f->state, w, 4), 2);
    assert_true(w[0].pid > 0 && w[1].pid > 0);
    assert_true(w[0].age_ms >= 800 && w[1].age_ms >= 800);
    assert_int_equal(w[0].idle_ms, 0);                 /* burning CPU: busy */
    assert_true(w[1].idle_ms >= 500);                  /* asleep since the first sample */
    assert_int_equal(ops->workers(f->state, w, 1), 1); /* bounded by max */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_workers_idle_and_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grow_and_shrink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_reaps_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grace_then_kill_on_shrink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_restarts_with_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spawn_failure_is_permanent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regrow_waits_for_stopping_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_log, setup, teardown),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
