/* scalers/process: what the pool knows of a worker when the status channel says little, with a
 * real pool of real workers on a real loop:
 *   - a worker that never reports is busy when its CPU time moved at the last sample, for the
 *     scale-down order and for drain, as the queue policy saw it (idle 0);
 *   - a scale-down reads what the status pipes hold before choosing;
 *   - a worker that closes its channel is judged by its CPU time from then on.
 * (test_process_status.c has the parser, the order as a table, drain and the list file.) */
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
#include <time.h>
#include <unistd.h>

#include "config/cfg.h"
#include "util/log.h"
#include "util/loop.h"
#include "core/plugin.h"
#include "util/util.h"

extern const struct as_scaler_ops as_scaler_process;
static const struct as_scaler_ops *ops = &as_scaler_process;

#include "scaler_fixture.h"

static void *configure(struct fixture *f, const char *yaml)
{
    const char *keys[] = {"dir"};
    const char *values[] = {f->dir};
    char *text = as_template(yaml, keys, values, 1);
    struct as_err err;
    as_err_clear(&err);
    struct as_doc *doc = as_doc_parse("test", text, strlen(text), &err);
    if (doc == NULL)
        fail_msg("yaml: %s", err.msg);
    void *state = calloc(1, ops->state_size);
    assert_non_null(state);
    if (as_opts_parse(ops->opts, state, doc->root, "test", &err) < 0 ||
        ops->validate(state, doc->root, &err) < 0)
        fail_msg("options: %s", err.msg);
    struct as_ctx ctx = {.loop = f->loop, .group = "g", .name = "process", .timeout_ms = 1000};
    assert_int_equal(ops->start(state, &ctx, &err), 0);
    as_doc_free(doc);
    free(text);
    return state;
}

static void set(struct fixture *f, int want)
{
    f->calls = 0;
    ops->set(f->state, want, on_result, f);
    int64_t end = as_mono_ms() + 2000;
    while (f->calls == 0 && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_int_equal(f->calls, 1);
    assert_true(f->r.ok);
}

static void run_for(struct fixture *f, int64_t ms)
{
    int64_t end = as_mono_ms() + ms;
    while (as_mono_ms() < end)
        as_loop_once(f->loop, 10);
}

static int exists(const struct fixture *f, const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    return access(path, F_OK) == 0;
}

/* The pid in file `name`, 0 after max_ms; the loop turns meanwhile unless `quiet`. */
static pid_t wait_pid(struct fixture *f, const char *name, int64_t max_ms, int quiet)
{
    char path[128], buf[32] = "";
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    int64_t end = as_mono_ms() + max_ms;
    while (as_mono_ms() < end) {
        FILE *fp = fopen(path, "r");
        if (fp != NULL) {
            size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
            fclose(fp);
            buf[n] = '\0';
            if (n > 0 && buf[n - 1] == '\n')
                return (pid_t)atol(buf);
        }
        if (quiet)
            usleep(10000);
        else
            as_loop_once(f->loop, 10);
    }
    return 0;
}

static int wait_gone(struct fixture *f, pid_t pid, int64_t max_ms)
{
    int64_t end = as_mono_ms() + max_ms;
    while (kill(pid, 0) == 0 && as_mono_ms() < end)
        as_loop_once(f->loop, 10);
    return kill(pid, 0) < 0 && errno == ESRCH;
}

static void sample(struct fixture *f, struct as_worker_info *w, size_t n)
{
    assert_int_equal(ops->workers(f->state, w, 8), n);
}

/* Slot 0 never reports and burns CPU; slot 1 reports FREE 0.5 s after it starts, after the
 * pool has sampled slot 0 busy. A scale-down by one stops slot 1: the queue policy saw slot 0
 * busy (idle 0), and the pool used to take "idle since the last sample" for it instead, longer
 * than slot 1's fresh FREE. */
static void test_cpu_busy_worker_is_busy_in_the_order(void **state)
{
    struct fixture *f = *state;
    f->state = configure(
        f, "command: [sh, -c, 'trap \"echo $AUTOSCALER_WORKER > t{{worker}}; exit 0\" TERM; "
           "echo $$ > p{{worker}}; if [ {{worker}} = 0 ]; then while :; do :; done; fi; "
           "sleep 0.5; echo FREE >&3; touch f1; sleep 30 & wait']\n"
           "working_dir: '{{dir}}'\ngrace: 2s\n");
    set(f, 2);
    pid_t p0 = wait_pid(f, "p0", 3000, 0), p1 = wait_pid(f, "p1", 3000, 0);
    assert_true(p0 > 0 && p1 > 0);
    struct as_worker_info w[8];
    run_for(f, 100);
    sample(f, w, 2);
    run_for(f, 150);
    sample(f, w, 2);
    assert_int_equal(w[0].idle_ms, 0); /* what the policy sees: busy */
    int64_t end = as_mono_ms() + 3000;
    while (!exists(f, "f1") && as_mono_ms() < end)
        run_for(f, 10);
    run_for(f, 50);
    set(f, 1);
    assert_true(wait_gone(f, p1, 3000));
    assert_false(exists(f, "t0"));
    assert_int_equal(kill(p0, 0), 0);
}

/* Slot 0 reported FREE long ago, then took a task: its BUSY line is in the pipe, the loop has
 * not turned since. Slot 1 has been FREE for a shorter time. A scale-down by one must read the
 * pipe and stop slot 1, not the slot that was FREE the longest a moment ago. */
static void test_scale_down_reads_the_pipes_first(void **state)
{
    struct fixture *f = *state;
    f->state = configure(
        f, "command: [sh, -c, 'trap \"echo $AUTOSCALER_WORKER > t{{worker}}; exit 0\" TERM; "
           "if [ {{worker}} = 1 ]; then sleep 0.3; fi; echo FREE >&3; echo $$ > p{{worker}}; "
           "if [ {{worker}} = 0 ]; then while [ ! -f go ]; do sleep 0.02; done; "
           "echo BUSY job-0 >&3; echo $$ > b0; fi; sleep 30 & wait']\n"
           "working_dir: '{{dir}}'\ngrace: 2s\n");
    set(f, 2);
    pid_t p0 = wait_pid(f, "p0", 3000, 0), p1 = wait_pid(f, "p1", 3000, 0);
    assert_true(p0 > 0 && p1 > 0);
    run_for(f, 200); /* both FREE lines read */
    char path[128];
    snprintf(path, sizeof(path), "%s/go", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(wait_pid(f, "b0", 3000, 1), p0); /* BUSY written; the loop has not run */
    set(f, 1);
    assert_true(wait_gone(f, p1, 3000));
    assert_false(exists(f, "t0"));
    assert_int_equal(kill(p0, 0), 0);
}

/* With drain, a worker that never reports and whose CPU time moved at the last sample is busy:
 * it gets drain_grace, as a BUSY one does; one whose CPU sat still gets grace. Both ignore the
 * stop signal. */
static void test_drain_cpu_busy_worker(void **state)
{
    struct fixture *f = *state;
    f->state = configure(f, "command: [sh, -c, 'trap \"echo x > t{{worker}}\" TERM; "
                            "echo $$ > p{{worker}}; if [ {{worker}} = 0 ]; then "
                            "while :; do :; done; fi; while :; do sleep 30 & wait; done']\n"
                            "working_dir: '{{dir}}'\noutput: null\n"
                            "grace: 300ms\ndrain: true\ndrain_grace: 1500ms\n");
    set(f, 2);
    pid_t p0 = wait_pid(f, "p0", 3000, 0), p1 = wait_pid(f, "p1", 3000, 0);
    assert_true(p0 > 0 && p1 > 0);
    struct as_worker_info w[8];
    int64_t end = as_mono_ms() + 3000; /* the first sample counts the start-up's CPU time */
    do {
        run_for(f, 150);
        sample(f, w, 2);
    } while (w[1].idle_ms == 0 && as_mono_ms() < end);
    assert_int_equal(w[0].idle_ms, 0);
    assert_true(w[1].idle_ms > 0);
    int64_t t0 = as_mono_ms();
    set(f, 0);
    assert_true(wait_gone(f, p1, 3000));
    int64_t idle_gone = as_mono_ms() - t0;
    assert_true(wait_gone(f, p0, 3000));
    int64_t busy_gone = as_mono_ms() - t0;
    if (idle_gone < 250 || idle_gone > 900 || busy_gone < 1400 || busy_gone > 2500)
        fail_msg("killed after %lld and %lld ms", (long long)idle_gone, (long long)busy_gone);
    assert_true(exists(f, "t0") && exists(f, "t1")); /* each was asked first */
}

/* A worker that said BUSY and closed its channel can never say FREE: it is judged by its CPU
 * time from then on, not held BUSY forever. */
static void test_closed_channel_falls_back_to_cpu(void **state)
{
    struct fixture *f = *state;
    f->state = configure(f, "command: [sh, -c, 'echo BUSY job-0 >&3; exec 3>&-; "
                            "echo $$ > p0; sleep 30 & wait']\n"
                            "working_dir: '{{dir}}'\ngrace: 1s\n");
    set(f, 1);
    assert_true(wait_pid(f, "p0", 3000, 0) > 0);
    struct as_worker_info w[8];
    int64_t end = as_mono_ms() + 3000;
    do {
        run_for(f, 150);
        sample(f, w, 1);
    } while (w[0].idle_ms < 100 && as_mono_ms() < end);
    if (w[0].idle_ms < 100)
        fail_msg("idle %lld ms: still held BUSY", (long long)w[0].idle_ms);
}

/* The SIGKILL comes grace after the stop signal was sent, not grace after the loop last read
 * the clock: a scale-down called late in an iteration (here 250 ms after the loop turned) still
 * gives a worker that ignores SIGTERM its whole grace. */
static void test_grace_counts_from_the_signal(void **state)
{
    struct fixture *f = *state;
    f->state = configure(f, "command: [sh, -c, \"trap '' TERM; echo $$ > p0; sleep 30\"]\n"
                            "working_dir: '{{dir}}'\ngrace: 300ms\n");
    set(f, 1);
    pid_t p0 = wait_pid(f, "p0", 3000, 0);
    assert_true(p0 > 0);
    as_loop_once(f->loop, 0);
    usleep(250 * 1000); /* the loop's clock is 250 ms old */
    int64_t t0 = as_mono_ms();
    set(f, 0);
    assert_true(wait_gone(f, p0, 3000));
    int64_t took = as_mono_ms() - t0;
    if (took < 295 || took > 1000)
        fail_msg("SIGKILL %lld ms after SIGTERM (grace 300 ms)", (long long)took);
}

/* With drain, a worker that was FREE when asked to stop and then reports BUSY (it took a task
 * in the race between the choice and the signal) gets drain_grace from the signal. */
static void test_busy_after_the_signal_gets_drain_grace(void **state)
{
    struct fixture *f = *state;
    f->state = configure(f, "command: [sh, -c, 'trap \"echo BUSY late >&3\" TERM; echo FREE >&3; "
                            "echo $$ > p0; while :; do sleep 30 & wait; done']\n"
                            "working_dir: '{{dir}}'\ngrace: 300ms\ndrain: true\n"
                            "drain_grace: 1200ms\n");
    set(f, 1);
    pid_t p0 = wait_pid(f, "p0", 3000, 0);
    assert_true(p0 > 0);
    run_for(f, 100);
    int64_t t0 = as_mono_ms();
    set(f, 0);
    assert_true(wait_gone(f, p0, 3000));
    int64_t took = as_mono_ms() - t0;
    if (took < 1150 || took > 2000)
        fail_msg("SIGKILL %lld ms after SIGTERM (drain_grace 1200 ms)", (long long)took);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cpu_busy_worker_is_busy_in_the_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scale_down_reads_the_pipes_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_cpu_busy_worker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_channel_falls_back_to_cpu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grace_counts_from_the_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_after_the_signal_gets_drain_grace, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
