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
#include <sys/wait.h>
#include <unistd.h>

#include "config/cfg.h"
#include "util/log.h"
#include "util/loop.h"
#include "core/plugin.h"
#include "util/proc.h"
#include "util/util.h"

extern const struct as_scaler_ops as_scaler_process;
static const struct as_scaler_ops *ops = &as_scaler_process;

#include "scaler_fixture.h"

/* Parses yaml ("{{dir}}" replaced by the fixture's directory), validates and starts with
 * state_dir (NULL: none). Returns the new state. */
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

static void configure(struct fixture *f, const char *yaml)
{
    f->state = configure_state(f, yaml, NULL);
}

static void set_state(struct fixture *f, void *state, int want)
{
    f->calls = 0;
    ops->set(state, want, on_result, f);
    assert_int_equal(f->calls, 0); /* never re-entrant */
    int64_t end = as_mono_ms() + 2000;
    while (f->calls == 0 && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_int_equal(f->calls, 1);
}

static void set(struct fixture *f, int want)
{
    set_state(f, f->state, want);
}

/* get on state; f->r holds the result (ok or not). */
static void try_get(struct fixture *f, void *state)
{
    f->calls = 0;
    ops->get(state, on_result, f);
    assert_int_equal(f->calls, 0);
    int64_t end = as_mono_ms() + 2000;
    while (f->calls == 0 && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_int_equal(f->calls, 1);
}

static int get(struct fixture *f)
{
    try_get(f, f->state);
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

/* A worker still stopping keeps its slot: a scale-up takes the next free one at once (ids stay
 * unique among running workers), and the slot is free again once that worker has gone. */
static void test_regrow_takes_a_free_slot(void **state)
{
    struct fixture *f = *state;
    /* The worker takes 300 ms to shut down. */
    configure(f, "command: [sh, -c, 'trap \"sleep 0.3; exit 0\" TERM; "
                 "echo $$ > p{{worker}}.tmp; mv p{{worker}}.tmp p{{worker}}; sleep 30 & wait']\n"
                 "working_dir: '{{dir}}'\n");
    set(f, 2);
    pid_t old = wait_pid_file(f, "p1", 3000);
    assert_true(old > 0);
    set(f, 1);
    set(f, 2);
    assert_true(f->r.ok);
    assert_int_equal(get(f), 2);
    pid_t fresh = wait_pid_file(f, "p2", 3000); /* at once, in slot 2 */
    assert_true(fresh > 0);
    assert_int_equal(kill(old, 0), 0); /* slot 1 is still stopping: not doubled up */
    assert_true(wait_gone(f, old, 3000));
    char path[128];
    snprintf(path, sizeof(path), "%s/p1", f->dir);
    unlink(path);
    set(f, 3); /* slot 1 is free again: the lowest free slot comes first */
    pid_t again = wait_pid_file(f, "p1", 3000);
    assert_true(again > 0 && again != old && again != fresh);
    assert_int_equal(kill(fresh, 0), 0);
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

/* ---- the pid file and what an earlier instance left ---- */

static unsigned long long start_ticks(pid_t pid)
{
    struct as_proc_stat st;
    return as_proc_stat(pid, &st) == 0 ? st.start_ticks : 0;
}

/* Gone: no such process, or a zombie (an orphan left to an init that may not reap it). */
static int gone(pid_t pid)
{
    struct as_proc_stat st;
    return as_proc_stat(pid, &st) < 0 || st.state == 'Z';
}

static int wait_gone_any(struct fixture *f, pid_t pid, int64_t max_ms)
{
    int64_t end = as_mono_ms() + max_ms;
    while (!gone(pid) && as_mono_ms() < end)
        as_loop_once(f->loop, 10);
    return gone(pid);
}

/* The pid of a process that has exited: the owner of a pid file whose daemon died. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return pid;
}

/* Writes g.pids as a daemon that died would have left it. */
static void write_pid_file(struct fixture *f, const char *entries)
{
    char boot[64] = "-", path[128];
    FILE *b = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (b != NULL && fscanf(b, "%63s", boot) != 1)
        boot[0] = '\0';
    if (b != NULL)
        fclose(b);
    snprintf(path, sizeof(path), "%s/g.pids", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "autoscaler process pool\nboot %s\nowner %ld 1 1\n%s", boot, (long)dead_pid(),
            entries);
    fclose(fp);
}

/* sh -c script in a process group of its own, in the fixture's directory: a worker of an
 * earlier daemon. */
static pid_t start_group(struct fixture *f, const char *script)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sigset_t none; /* the test's loop blocks SIGTERM, and exec would keep it blocked */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (setpgid(0, 0) == 0 && chdir(f->dir) == 0)
            execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* The entries of g.pids (at most max), after checking that its header names this process. */
static int pid_file_entries(struct fixture *f, long pid[], unsigned long long start[], int slot[],
                            long sid[], int max)
{
    char buf[4096];
    slurp(f, "g.pids", buf, sizeof(buf));
    char *line = strtok(buf, "\n");
    assert_non_null(line);
    assert_string_equal(line, "autoscaler process pool");
    line = strtok(NULL, "\n");
    assert_true(line != NULL && strncmp(line, "boot ", 5) == 0);
    long owner = 0;
    unsigned long long owner_start = 0;
    line = strtok(NULL, "\n");
    assert_true(line != NULL && sscanf(line, "owner %ld %llu", &owner, &owner_start) == 2);
    assert_int_equal(owner, getpid());
    assert_true(owner_start == start_ticks(getpid()));
    int n = 0;
    while ((line = strtok(NULL, "\n")) != NULL && n < max) {
        assert_int_equal(sscanf(line, "%ld %llu %d %ld", &pid[n], &start[n], &slot[n], &sid[n]), 4);
        n++;
    }
    return n;
}

static void test_pid_file_lists_workers(void **state)
{
    struct fixture *f = *state;
    f->state = configure_state(f, TRAPPING_WORKER, f->dir);
    set(f, 3);
    assert_true(f->r.ok);
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "p%d", i);
        pids[i] = wait_pid_file(f, name, 3000);
        assert_true(pids[i] > 0);
    }
    long pid[8], sid[8];
    unsigned long long start[8];
    int slot[8];
    assert_int_equal(pid_file_entries(f, pid, start, slot, sid, 8), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(slot[i], i);
        assert_int_equal(pid[i], pids[i]);
        assert_true(start[i] == start_ticks(pids[i]) && start[i] > 0);
        assert_int_equal(sid[i], getsid(0));
    }
    set(f, 1); /* rewritten when the stopped workers are gone */
    assert_true(wait_gone(f, pids[1], 3000));
    assert_true(wait_gone(f, pids[2], 3000));
    assert_int_equal(pid_file_entries(f, pid, start, slot, sid, 8), 1);
    assert_int_equal(pid[0], pids[0]);
    ops->stop(f->state, on_stopped, f); /* nothing left running: no pid file */
    run_until_stopped(f, 3000);
    assert_int_equal(f->stopped, 1);
    char path[128];
    snprintf(path, sizeof(path), "%s/g.pids", f->dir);
    assert_int_equal(access(path, F_OK), -1);
    as_opts_free(ops->opts, f->state);
    free(f->state);
    f->state = NULL;
}

static void test_stale_pid_file_is_ignored(void **state)
{
    struct fixture *f = *state;
    /* The pid now names another process (another start time): it is not ours. */
    pid_t other = start_group(f, "exec sleep 30");
    char entries[128];
    snprintf(entries, sizeof(entries), "%ld %llu 0 %ld\n", (long)other, start_ticks(other) + 1,
             (long)getsid(0));
    write_pid_file(f, entries);
    f->state = configure_state(f, "command: [sleep, '30']\ngrace: 200ms\n", f->dir);
    assert_int_equal(get(f), 0); /* nothing to wait for */
    set(f, 1);
    assert_true(f->r.ok);
    run_for(f, 300);
    assert_false(gone(other)); /* never signalled: sleep dies of SIGTERM */
    kill(other, SIGKILL);
    waitpid(other, NULL, 0);
}

/* An earlier daemon left three process groups: a worker that stops on SIGTERM; one that
 * ignores it and has a grandchild (ignoring it too); a group whose leader is gone but whose
 * grandchild lives on. The pool holds until all are gone, SIGKILL after grace included. */
static void test_previous_groups_are_swept(void **state)
{
    struct fixture *f = *state;
    pid_t a = start_group(f, "exec sleep 30");
    pid_t b = start_group(f, "trap '' TERM; sleep 30 & echo $! > b.tmp; mv b.tmp b; wait");
    pid_t c = start_group(f, "sleep 30 & echo $! > c.tmp; mv c.tmp c; exec sleep 0.2");
    unsigned long long sa = start_ticks(a), sb = start_ticks(b), sc = start_ticks(c);
    pid_t b_child = wait_pid_file(f, "b", 3000), c_child = wait_pid_file(f, "c", 3000);
    assert_true(b_child > 0 && c_child > 0);
    assert_int_equal(waitpid(c, NULL, 0), c); /* c's leader is gone, its grandchild is not */
    char entries[256];
    long sid = getsid(0);
    snprintf(entries, sizeof(entries), "%ld %llu 0 %ld\n%ld %llu 1 %ld\n%ld %llu 2 %ld\n", (long)a,
             sa, sid, (long)b, sb, sid, (long)c, sc, sid);
    write_pid_file(f, entries);

    int64_t t0 = as_mono_ms();
    f->state = configure_state(f, "command: [sleep, '30']\ngrace: 1s\n", f->dir);
    try_get(f, f->state);
    assert_false(f->r.ok);
    assert_false(f->r.permanent);
    assert_string_equal(f->r.error, "stopping 3 workers left by a previous instance");
    set(f, 2);
    assert_false(f->r.ok);
    assert_false(f->r.permanent);
    assert_non_null(strstr(f->r.error, "left by a previous instance"));

    /* SIGTERM: a and c's grandchild go at once; b and its grandchild ignore it. */
    assert_true(wait_gone_any(f, a, 800));
    assert_true(wait_gone_any(f, c_child, 800));
    if (as_mono_ms() - t0 < 900) { /* still inside the grace (unless the machine is slow) */
        assert_false(gone(b));
        assert_false(gone(b_child));
    }
    /* SIGKILL after the grace: b and its grandchild. */
    assert_true(wait_gone_any(f, b, 4000));
    assert_true(wait_gone_any(f, b_child, 4000));
    assert_true(as_mono_ms() - t0 >= 1000);

    int64_t end = as_mono_ms() + 2000;
    do
        try_get(f, f->state);
    while (!f->r.ok && as_mono_ms() < end);
    assert_true(f->r.ok);
    assert_int_equal(f->r.replicas, 0);
    set(f, 2);
    assert_true(f->r.ok);
    long pid[8], sids[8];
    unsigned long long start[8];
    int slot[8];
    assert_int_equal(pid_file_entries(f, pid, start, slot, sids, 8), 2);
    for (int i = 0; i < 2; i++)
        assert_true(pid[i] != a && pid[i] != b && pid[i] != c);
}

/* A reload replaces the pool: the new one holds until the old one has stopped its workers
 * (without signalling them itself), and the old one leaves the pid file to the new. */
static void test_reload_hands_the_pid_file_over(void **state)
{
    struct fixture *f = *state;
    static const char yaml[] =
        "command: [sh, -c, 'trap \"sleep 0.3; exit 0\" TERM; "
        "echo $$ > p{{worker}}.tmp; mv p{{worker}}.tmp p{{worker}}; sleep 30 & wait']\n"
        "working_dir: '{{dir}}'\n"
        "grace: 2s\n";
    void *old = configure_state(f, yaml, f->dir);
    f->state = old;
    set(f, 2);
    pid_t p0 = wait_pid_file(f, "p0", 3000), p1 = wait_pid_file(f, "p1", 3000);
    assert_true(p0 > 0 && p1 > 0);
    ops->stop(old, on_stopped, f);
    void *fresh = configure_state(f, yaml, f->dir);
    try_get(f, fresh);
    assert_false(f->r.ok);
    assert_string_equal(f->r.error, "stopping 2 workers left by a previous instance");
    run_until_stopped(f, 3000);
    assert_int_equal(f->stopped, 1);
    assert_true(gone(p0) && gone(p1));
    as_opts_free(ops->opts, old);
    free(old);
    f->state = fresh;
    f->stopped = 0;
    char path[128];
    snprintf(path, sizeof(path), "%s/g.pids", f->dir);
    assert_int_equal(access(path, F_OK), 0); /* the old pool did not remove it */
    int64_t end = as_mono_ms() + 2000;
    do
        try_get(f, f->state);
    while (!f->r.ok && as_mono_ms() < end);
    assert_true(f->r.ok);
    set(f, 1);
    assert_true(f->r.ok);
    long pid[8], sid[8];
    unsigned long long start[8];
    int slot[8];
    assert_int_equal(pid_file_entries(f, pid, start, slot, sid, 8), 1);
    assert_true(pid[0] != p0 && pid[0] != p1);
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
        cmocka_unit_test_setup_teardown(test_regrow_takes_a_free_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_log, setup, teardown),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test_setup_teardown(test_pid_file_lists_workers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_pid_file_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_previous_groups_are_swept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_hands_the_pid_file_over, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
