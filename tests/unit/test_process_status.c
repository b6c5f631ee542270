/* scalers/process: the status channel (BUSY / FREE lines on descriptor 3), the scale-down order
 * (free workers first, the longest idle first, busy ones last), drain, and the worker list.
 * The parser, the order and the list file as tables; the rest with a real pool of real workers
 * on a real loop. */
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
#include "scalers/process_list.h"
#include "scalers/process_status.h"
#include "util/util.h"

extern const struct as_scaler_ops as_scaler_process;
static const struct as_scaler_ops *ops = &as_scaler_process;

#include "scaler_fixture.h"

/* ---- the parser ---- */

static void test_status_parse(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        int ok;
        enum as_wstate st;
        const char *task;
    } rows[] = {
        {"BUSY", 1, AS_WSTATE_BUSY, ""},
        {"FREE", 1, AS_WSTATE_FREE, ""},
        {"FREE\r", 1, AS_WSTATE_FREE, ""},
        {"BUSY job-17", 1, AS_WSTATE_BUSY, "job-17"},
        {"BUSY report 2024-03 (eu)", 1, AS_WSTATE_BUSY, "report 2024-03 (eu)"},
        {"BUSY x\r", 1, AS_WSTATE_BUSY, "x"},
        {"", 0, 0, NULL},
        {"busy", 0, 0, NULL},
        {"FREE ", 0, 0, NULL},
        {"FREE now", 0, 0, NULL},
        {"BUSYjob", 0, 0, NULL},
        {" BUSY", 0, 0, NULL},
        {"IDLE", 0, 0, NULL},
        {"\r", 0, 0, NULL},
        /* BUSY whatever follows: the id is made to fit, the worker never taken for free */
        {"BUSY ", 1, AS_WSTATE_BUSY, ""},
        {"BUSY  two-spaces", 1, AS_WSTATE_BUSY, " two-spaces"},
        {"BUSY tab\there", 1, AS_WSTATE_BUSY, "tab?here"},
        {"BUSY caf\xc3\xa9", 1, AS_WSTATE_BUSY, "caf??"},
        {"BUSY {\"id\": 7, \"args\": [1, 2]}", 1, AS_WSTATE_BUSY, "{\"id\": 7, \"args\": [1, 2]}"},
        {"BUSY 0123456789012345678901234567890123456789012345678901234567890123", 1, AS_WSTATE_BUSY,
         "012345678901234567890123456789012345678901234567890123456789012"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(rows); i++) {
        struct as_status_line out;
        int rc = as_status_parse(rows[i].line, strlen(rows[i].line), &out);
        if ((rc == 0) != rows[i].ok)
            fail_msg("'%s': %s", rows[i].line, rc == 0 ? "accepted" : "rejected");
        if (rc == 0) {
            assert_int_equal(out.state, rows[i].st);
            assert_string_equal(out.task, rows[i].task);
        }
    }
    /* 63 bytes of task id fit, more are cut (above); a NUL inside an id is replaced; a line of
     * any length is judged. */
    char line[600] = "BUSY ";
    memset(line + 5, 'a', 590);
    struct as_status_line out;
    assert_int_equal(as_status_parse(line, 68, &out), 0);
    assert_int_equal(strlen(out.task), 63);
    assert_int_equal(as_status_parse(line, 595, &out), 0);
    assert_int_equal(out.state, AS_WSTATE_BUSY);
    assert_int_equal(strlen(out.task), 63);
    assert_int_equal(as_status_parse("BUSY a\0b", 8, &out), 0);
    assert_string_equal(out.task, "a?b");
    assert_int_equal(as_status_parse("FREE\0", 5, &out), -1);
}

struct seen {
    int good, garbage;
    enum as_wstate last;
    char task[AS_STATUS_TASK_MAX];
};

static void on_seen(const struct as_status_line *line, const char *raw, size_t len, void *arg)
{
    struct seen *s = arg;
    assert_true(len <= AS_STATUS_LINE_MAX + 1);
    (void)raw;
    if (line == NULL) {
        s->garbage++;
        return;
    }
    s->good++;
    s->last = line->state;
    memcpy(s->task, line->task, sizeof(s->task));
}

/* Lines split across reads at every byte, CRLF, overlong lines dropped up to their newline. */
static void test_status_feed(void **state)
{
    (void)state;
    char overlong[400];
    memset(overlong, 'B', sizeof(overlong));
    overlong[sizeof(overlong) - 1] = '\n';
    static const char text[] = "BUSY a\nFREE\r\nnonsense\nBUSY job-9\n";
    for (size_t cut = 1; cut < sizeof(text) - 1; cut++) {
        struct as_status_reader r = {0};
        struct seen s = {0};
        as_status_feed(&r, text, cut, on_seen, &s);
        as_status_feed(&r, text + cut, sizeof(text) - 1 - cut, on_seen, &s);
        assert_int_equal(s.good, 3);
        assert_int_equal(s.garbage, 1);
        assert_int_equal(s.last, AS_WSTATE_BUSY);
        assert_string_equal(s.task, "job-9");
    }
    struct as_status_reader r = {0};
    struct seen s = {0};
    as_status_feed(&r, overlong, sizeof(overlong), on_seen, &s);
    as_status_feed(&r, "FREE\nBUSY", 9, on_seen, &s); /* "BUSY" waits for its newline */
    assert_int_equal(s.garbage, 1);
    assert_int_equal(s.good, 1);
    assert_int_equal(s.last, AS_WSTATE_FREE);
    as_status_feed(&r, "\n", 1, on_seen, &s);
    assert_int_equal(s.good, 2);
    assert_int_equal(s.last, AS_WSTATE_BUSY);
    /* An overlong BUSY line (a task id of 400 bytes) is BUSY, its id cut. */
    memcpy(overlong, "FREE\nBUSY ", 10);
    as_status_feed(&r, overlong, 5, on_seen, &s);
    assert_int_equal(s.last, AS_WSTATE_FREE);
    as_status_feed(&r, overlong + 5, sizeof(overlong) - 5, on_seen, &s);
    assert_int_equal(s.good, 4);
    assert_int_equal(s.garbage, 1);
    assert_int_equal(s.last, AS_WSTATE_BUSY);
    assert_int_equal(strlen(s.task), AS_STATUS_TASK_MAX - 1);
}

/* ---- the scale-down order ---- */

#define NORUN(slot)                                                                                \
    {                                                                                              \
        slot, 0, AS_WSTATE_UNKNOWN, 0, 0                                                           \
    }
#define FREE(slot, idle)                                                                           \
    {                                                                                              \
        slot, 1, AS_WSTATE_FREE, idle, 0                                                           \
    }
#define CPU(slot, idle)                                                                            \
    {                                                                                              \
        slot, 1, AS_WSTATE_UNKNOWN, idle, 0                                                        \
    }
#define BUSY(slot, busy)                                                                           \
    {                                                                                              \
        slot, 1, AS_WSTATE_BUSY, 0, busy                                                           \
    }

static void test_release_order(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        struct as_release_cand c[8];
        size_t n;
        int want[8]; /* slots in release order */
    } rows[] = {
        /* The bug: slots 2 and 3 are BUSY; the highest slots used to go first. */
        {"free before busy",
         {FREE(0, 5000), FREE(1, 9000), BUSY(2, 100), BUSY(3, 200)},
         4,
         {1, 0, 2, 3}},
        {"longest idle first",
         {FREE(0, 1000), FREE(1, 300000), FREE(2, 60000), FREE(3, 1)},
         4,
         {1, 2, 0, 3}},
        /* Reported FREE and CPU-judged idle share one idle time: the policy's. */
        {"by idle time, however known", {FREE(0, 30000), CPU(1, 600000), CPU(2, 0)}, 3, {1, 0, 2}},
        {"never sampled ties go from the top", {CPU(0, 0), CPU(1, 0), CPU(2, 0)}, 3, {2, 1, 0}},
        {"nothing running goes first", {BUSY(0, 10), FREE(1, 10), NORUN(2)}, 3, {2, 1, 0}},
        {"busy last, the least work lost first",
         {BUSY(0, 60000), BUSY(1, 1000), CPU(2, 0), BUSY(3, 1000)},
         4,
         {2, 3, 1, 0}},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(rows); i++) {
        struct as_release_cand c[8];
        memcpy(c, rows[i].c, sizeof(c));
        as_release_order(c, rows[i].n);
        for (size_t k = 0; k < rows[i].n; k++)
            if (c[k].slot != rows[i].want[k])
                fail_msg("%s: position %zu is slot %d, expected %d", rows[i].name, k, c[k].slot,
                         rows[i].want[k]);
    }
}

/* ---- the worker list file ---- */

static void test_list_file_round_trip(void **state)
{
    (void)state;
    char dir[] = "/tmp/as-test-list-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/g.workers", dir);
    struct as_worker_entry w[2] = {
        {.id = 0,
         .pid = 42,
         .state = AS_WSTATE_BUSY,
         .task = "job \"7\"\\",
         .started_ms = 1000,
         .since_ms = 2000},
        {.id = 3,
         .pid = 0,
         .state = AS_WSTATE_UNKNOWN,
         .cpu = AS_CPU_BUSY,
         .stopping = 1,
         .garbage = 12},
    };
    struct as_worker_list l = {.group = "g",
                               .daemon_pid = (long)getpid(),
                               .daemon_start = 77,
                               .instance = 2,
                               .updated_ms = 3000,
                               .n = 2,
                               .w = w};
    assert_int_equal(as_worker_list_write(path, &l), 0);
    struct as_worker_list back;
    struct as_err err;
    as_err_clear(&err);
    assert_int_equal(as_worker_list_read(path, &back, &err), 0);
    assert_string_equal(back.group, "g");
    assert_int_equal(back.daemon_pid, getpid());
    assert_int_equal(back.instance, 2);
    assert_int_equal(back.n, 2);
    assert_int_equal(back.w[0].pid, 42);
    assert_int_equal(back.w[0].state, AS_WSTATE_BUSY);
    assert_string_equal(back.w[0].task, "job \"7\"\\");
    assert_int_equal(back.w[0].since_ms, 2000);
    assert_int_equal(back.w[1].id, 3);
    assert_true(back.w[1].stopping);
    assert_int_equal(back.w[1].garbage, 12);
    assert_int_equal(back.w[1].cpu, AS_CPU_BUSY);
    assert_int_equal(back.w[0].cpu, AS_CPU_UNSAMPLED);
    assert_false(as_worker_list_live(&back)); /* our start time is not 77 */
    as_worker_list_free(&back);

    static const char *const bad[] = {
        "",
        "[]",
        "{\"format\": \"autoscaler workers 2\"}",
        "{\"format\": \"autoscaler workers 1\", \"group\": \"g\", \"daemon\": {\"pid\": 1, "
        "\"start\": 1, \"instance\": 1}, \"updated\": 1, \"workers\": [{\"id\": -1}]}",
        "{\"format\": \"autoscaler workers 1\", \"group\": \"g\", \"daemon\": {\"pid\": 1, "
        "\"start\": 1, \"instance\": 1}, \"updated\": 1, \"workers\": [{\"id\": 0, \"pid\": 1, "
        "\"status\": \"unknown\", \"task\": \"\", \"started\": 1, \"since\": 1, \"cpu\": \"hot\", "
        "\"stopping\": false, \"garbage\": 0}]}",
    };
    /* A list without "cpu" (the first writer's) reads, as not sampled. */
    static const char old_list[] =
        "{\"format\": \"autoscaler workers 1\", \"group\": \"g\", \"daemon\": {\"pid\": 1, "
        "\"start\": 1, \"instance\": 1}, \"updated\": 1, \"workers\": [{\"id\": 0, \"pid\": 1, "
        "\"status\": \"unknown\", \"task\": \"\", \"started\": 1, \"since\": 0, "
        "\"stopping\": false, \"garbage\": 0}]}";
    as_err_clear(&err);
    assert_int_equal(as_worker_list_parse(old_list, strlen(old_list), &back, &err), 0);
    assert_int_equal(back.n, 1);
    assert_int_equal(back.w[0].cpu, AS_CPU_UNSAMPLED);
    as_worker_list_free(&back);
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++) {
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(bad[i], fp);
        fclose(fp);
        as_err_clear(&err);
        assert_int_equal(as_worker_list_read(path, &back, &err), -1);
        assert_int_equal(errno, EINVAL);
        assert_true(err.msg[0] != '\0');
    }
    unlink(path);
    assert_int_equal(as_worker_list_read(path, &back, &err), -1);
    assert_int_equal(errno, ENOENT);
    rmdir(dir);
}

/* ---- a real pool ---- */

static void *configure_state(struct fixture *f, const char *yaml, const char *state_dir)
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
    struct as_ctx ctx = {.loop = f->loop,
                         .group = "g",
                         .name = "process",
                         .timeout_ms = 1000,
                         .state_dir = state_dir};
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

/* The pid in file `name` (written once the worker has said its status), 0 on timeout. */
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

static int wait_gone(struct fixture *f, pid_t pid, int64_t max_ms)
{
    int64_t end = as_mono_ms() + max_ms;
    while (kill(pid, 0) == 0 && as_mono_ms() < end)
        as_loop_once(f->loop, 10);
    return kill(pid, 0) < 0 && errno == ESRCH;
}

/* Starts n workers and waits until each has said its status (then the pool has read it). */
static void start_pool(struct fixture *f, int n, pid_t *pids)
{
    set(f, n);
    for (int i = 0; i < n; i++) {
        char name[8];
        snprintf(name, sizeof(name), "p%d", i);
        pids[i] = wait_pid_file(f, name, 3000);
        assert_true(pids[i] > 0);
    }
    run_for(f, 100);
}

/* Each worker says what its slot's line in `plan` says (one status line each, "-" for none,
 * "G" for garbage), records its pid in p<slot> and a stop signal in t<slot>. */
#define STATUS_WORKER(extra)                                                                       \
    "command: [sh, -c, 'trap \"echo $AUTOSCALER_WORKER >> t{{worker}}; exit 0\" TERM USR1; "       \
    "line=$(sed -n \"$(($AUTOSCALER_WORKER + 1))p\" plan); "                                       \
    "case $line in -) ;; G) printf \"hello\\\\nbusy\\\\n%0300d\\\\n\" 0 >&3;; "                    \
    "*) echo \"$line\" >&3;; esac; "                                                               \
    "echo $$ > p{{worker}}.tmp; mv p{{worker}}.tmp p{{worker}}; sleep 30 & wait']\n"               \
    "working_dir: '{{dir}}'\n" extra

static void write_plan(struct fixture *f, const char *plan)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/plan", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(plan, fp);
    fclose(fp);
}

static int got_signal(struct fixture *f, int slot)
{
    char name[8], buf[64];
    snprintf(name, sizeof(name), "t%d", slot);
    return slurp(f, name, buf, sizeof(buf))[0] != '\0';
}

/* The bug of issue 8: two BUSY workers in the highest slots, two FREE ones below; a scale-down
 * by two must stop the FREE ones (the pool used to stop the highest slots). */
static void test_scale_down_stops_free_workers_first(void **state)
{
    struct fixture *f = *state;
    write_plan(f, "FREE\nFREE\nBUSY job-2\nBUSY job-3\n");
    f->state = configure_state(f, STATUS_WORKER("grace: 2s\n"), NULL);
    pid_t pids[4];
    start_pool(f, 4, pids);
    set(f, 2);
    assert_int_equal(f->r.replicas, 2);
    assert_true(wait_gone(f, pids[0], 3000));
    assert_true(wait_gone(f, pids[1], 3000));
    assert_true(got_signal(f, 0) && got_signal(f, 1));
    run_for(f, 100);
    assert_false(got_signal(f, 2) || got_signal(f, 3));
    assert_int_equal(kill(pids[2], 0), 0);
    assert_int_equal(kill(pids[3], 0), 0);
    /* More than the FREE ones: BUSY ones go too, when nothing else is left. */
    set(f, 1);
    run_for(f, 200);
    assert_int_equal(got_signal(f, 2) + got_signal(f, 3), 1);
}

/* workers(): BUSY is idle 0, FREE idle since its line; a worker that never reported is judged
 * by its CPU time; garbage changes nothing and is counted. */
static void test_workers_report_status(void **state)
{
    struct fixture *f = *state;
    write_plan(f, "BUSY job-0\nFREE\n-\nG\n");
    f->state = configure_state(f, STATUS_WORKER("grace: 1s\n"), NULL);
    pid_t pids[4];
    start_pool(f, 4, pids);
    run_for(f, 300);
    struct as_worker_info w[8];
    assert_int_equal(ops->workers(f->state, w, 8), 4);
    assert_int_equal(w[0].idle_ms, 0);
    assert_true(w[1].idle_ms >= 300);
    run_for(f, 300);
    assert_int_equal(ops->workers(f->state, w, 8), 4);
    assert_int_equal(w[0].idle_ms, 0);
    assert_true(w[1].idle_ms >= 600);
    assert_true(w[2].idle_ms >= 250); /* asleep: no CPU since the first sample */
    assert_true(w[3].idle_ms >= 250); /* garbage only: judged like one that never wrote */
}

/* The worker list names each worker's status, task and pid; garbage is counted there. */
static void test_worker_list(void **state)
{
    struct fixture *f = *state;
    write_plan(f, "BUSY job-0\nFREE\n-\nG\n");
    f->state = configure_state(f, STATUS_WORKER("grace: 1s\n"), f->dir);
    pid_t pids[4];
    start_pool(f, 4, pids);
    run_for(f, 1100); /* at most a write a second */
    char path[128];
    snprintf(path, sizeof(path), "%s/g.workers", f->dir);
    struct as_worker_list l;
    struct as_err err;
    as_err_clear(&err);
    assert_int_equal(as_worker_list_read(path, &l, &err), 0);
    assert_true(as_worker_list_live(&l));
    assert_int_equal(l.n, 4);
    static const enum as_wstate want[4] = {AS_WSTATE_BUSY, AS_WSTATE_FREE, AS_WSTATE_UNKNOWN,
                                           AS_WSTATE_UNKNOWN};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(l.w[i].id, i);
        assert_int_equal(l.w[i].pid, pids[i]);
        assert_int_equal(l.w[i].state, want[i]);
        assert_false(l.w[i].stopping);
        assert_true(l.w[i].started_ms > 0);
    }
    assert_string_equal(l.w[0].task, "job-0");
    assert_true(l.w[0].since_ms >= l.w[0].started_ms);
    assert_int_equal(l.w[2].since_ms, 0); /* never sampled */
    assert_int_equal(l.w[2].cpu, AS_CPU_UNSAMPLED);
    assert_int_equal(l.w[3].garbage, 3);
    as_worker_list_free(&l);
    ops->stop(f->state, on_stopped, f); /* the list goes with the pool */
    run_until_stopped(f, 3000);
    assert_int_equal(f->stopped, 1);
    assert_int_equal(access(path, F_OK), -1);
    as_opts_free(ops->opts, f->state);
    free(f->state);
    f->state = NULL;
}

/* A worker that ignores the stop signal. With drain, a BUSY one gets drain_grace, or grace from
 * its FREE line; a FREE one grace. Each records the signal in t<slot>, then after `after` s
 * (its task ending) says FREE when its plan line is "BUSY ... FREE". */
#define STUBBORN_WORKER(extra)                                                                     \
    "command: [sh, -c, 'line=$(sed -n \"$(($AUTOSCALER_WORKER + 1))p\" plan); "                    \
    "case $line in *FREE) fin=1;; *) fin=0;; esac; "                                               \
    "trap \"date +%s%N > t{{worker}}; [ $fin = 1 ] && (sleep 0.4; echo FREE >&3) &\" TERM; "       \
    "echo \"$line\" | sed \"s/ FREE$//\" >&3; "                                                    \
    "echo $$ > p{{worker}}.tmp; mv p{{worker}}.tmp p{{worker}}; "                                  \
    "while :; do sleep 0.05; done']\n"                                                             \
    "working_dir: '{{dir}}'\n" extra

static long long stop_time_ms(struct fixture *f, int slot)
{
    char name[8], buf[64];
    snprintf(name, sizeof(name), "t%d", slot);
    return strtoll(slurp(f, name, buf, sizeof(buf)), NULL, 10) / 1000000;
}

static void test_drain_gives_busy_workers_time(void **state)
{
    struct fixture *f = *state;
    /* 0: FREE; 1: BUSY and never done; 2: BUSY, done 0.4 s after the signal */
    write_plan(f, "FREE\nBUSY job-1\nBUSY job-2 FREE\n");
    f->state = configure_state(
        f, STUBBORN_WORKER("grace: 300ms\ndrain: true\ndrain_grace: 1500ms\n"), NULL);
    pid_t pids[3];
    start_pool(f, 3, pids);
    set(f, 0);
    int64_t t0 = as_mono_ms();
    assert_true(wait_gone(f, pids[0], 3000)); /* FREE: grace */
    int64_t free_gone = as_mono_ms() - t0;
    assert_true(wait_gone(f, pids[2], 3000)); /* FREE 0.4 s after the signal, then grace */
    int64_t done_gone = as_mono_ms() - t0;
    assert_int_equal(kill(pids[1], 0), 0); /* still BUSY: inside drain_grace */
    assert_true(wait_gone(f, pids[1], 3000));
    int64_t busy_gone = as_mono_ms() - t0;
    if (free_gone < 250 || free_gone > 800 || done_gone < 650 || done_gone > 1300 ||
        busy_gone < 1450 || busy_gone > 2500)
        fail_msg("killed after %lld, %lld and %lld ms", (long long)free_gone, (long long)done_gone,
                 (long long)busy_gone);
    for (int i = 0; i < 3; i++)
        assert_true(stop_time_ms(f, i) > 0); /* each was asked first */
}

/* Without drain every worker asked to stop gets grace, BUSY or not. */
static void test_no_drain_busy_gets_grace(void **state)
{
    struct fixture *f = *state;
    write_plan(f, "BUSY job-0\n");
    f->state = configure_state(f, STUBBORN_WORKER("grace: 300ms\ndrain_grace: 5s\n"), NULL);
    pid_t pids[1];
    start_pool(f, 1, pids);
    int64_t t0 = as_mono_ms();
    set(f, 0);
    assert_true(wait_gone(f, pids[0], 3000));
    int64_t took = as_mono_ms() - t0;
    if (took < 250 || took > 1200)
        fail_msg("killed after %lld ms", (long long)took);
}

/* stop_signal: the worker gets SIGUSR1 instead of SIGTERM. */
static void test_stop_signal(void **state)
{
    struct fixture *f = *state;
    write_plan(f, "FREE\n");
    f->state = configure_state(
        f,
        "command: [sh, -c, 'trap \"echo usr1 > t0; exit 0\" USR1; trap \"echo term > t0\" TERM; "
        "echo FREE >&3; echo $$ > p0.tmp; mv p0.tmp p0; sleep 30 & wait']\n"
        "working_dir: '{{dir}}'\nstop_signal: SIGUSR1\ngrace: 2s\n",
        NULL);
    pid_t pids[1];
    start_pool(f, 1, pids);
    set(f, 0);
    assert_true(wait_gone(f, pids[0], 1500));
    char buf[16];
    assert_string_equal(slurp(f, "t0", buf, sizeof(buf)), "usr1\n");
}

/* The worker inherits descriptor 3 and its variable, and nothing else beyond stdio; with
 * status_channel: false, neither. (Descriptors 10 and up are the shell's own.) */
static void test_descriptors(void **state)
{
    struct fixture *f = *state;
    static const char yaml[] =
        "command: [sh, -c, 'ls /proc/$$/fd > fds.raw; grep -x \"[0-9]\" fds.raw | sort | "
        "tr \"\\\\n\" \" \" > fds.tmp; "
        "echo \"$AUTOSCALER_STATUS_FD\" | sed s/^$/none/ >> fds.tmp; mv fds.tmp fds; sleep 30']\n"
        "working_dir: '{{dir}}'\noutput: null\ngrace: 1s\n%s";
    char yaml_on[512], yaml_off[512], buf[128];
    snprintf(yaml_on, sizeof(yaml_on), yaml, "");
    snprintf(yaml_off, sizeof(yaml_off), yaml, "status_channel: false\n");
    f->state = configure_state(f, yaml_on, NULL);
    set(f, 1);
    int64_t end = as_mono_ms() + 3000;
    while (slurp(f, "fds", buf, sizeof(buf))[0] == '\0' && as_mono_ms() < end)
        as_loop_once(f->loop, 10);
    assert_string_equal(buf, "0 1 2 3 3\n");
    ops->stop(f->state, on_stopped, f);
    run_until_stopped(f, 3000);
    as_opts_free(ops->opts, f->state);
    free(f->state);
    f->stopped = 0;
    char path[128];
    snprintf(path, sizeof(path), "%s/fds", f->dir);
    unlink(path);
    f->state = configure_state(f, yaml_off, NULL);
    set(f, 1);
    end = as_mono_ms() + 3000;
    while (slurp(f, "fds", buf, sizeof(buf))[0] == '\0' && as_mono_ms() < end)
        as_loop_once(f->loop, 10);
    assert_string_equal(buf, "0 1 2 none\n");
}

static void test_bad_options(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "command: [x]\nstop_signal: SIGKILL\n",
        "command: [x]\nstop_signal: TERM\n",
        "command: [x]\ndrain: yes please\n",
        "command: [x]\ndrain: true\ngrace: 10s\ndrain_grace: 5s\n",
        "command: [x]\nstatus_channel: 3\n",
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_parse),
        cmocka_unit_test(test_status_feed),
        cmocka_unit_test(test_release_order),
        cmocka_unit_test(test_list_file_round_trip),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test_setup_teardown(test_scale_down_stops_free_workers_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workers_report_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_gives_busy_workers_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_drain_busy_gets_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_descriptors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
