/* core/proc: real children on a real loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/guard.h"
#include "util/loop.h"
#include "util/proc.h"
#include "util/util.h"

struct outcome {
    int calls;
    struct as_proc_result r;
    char out[128 * 1024], err[4096];
    char lines[16][64];
    int nlines;
    int64_t done_at;
};

static void on_done(const struct as_proc_result *r, void *arg)
{
    struct outcome *o = arg;
    o->calls++;
    o->r = *r;
    snprintf(o->out, sizeof(o->out), "%s", r->out);
    snprintf(o->err, sizeof(o->err), "%s", r->err);
    o->r.out = o->out;
    o->r.err = o->err;
    o->done_at = as_mono_ms();
}

static void on_line(int stream, const char *line, size_t len, void *arg)
{
    struct outcome *o = arg;
    assert_int_equal(strlen(line), len);
    if (o->nlines < 16)
        snprintf(o->lines[o->nlines++], sizeof(o->lines[0]), "%d:%s", stream, line);
}

/* Runs the loop until o->calls becomes non-zero or max_ms pass. */
static void run_until_done(struct as_loop *loop, struct outcome *o, int64_t max_ms)
{
    int64_t end = as_mono_ms() + max_ms;
    while (o->calls == 0 && as_mono_ms() < end)
        as_loop_once(loop, 20);
}

static void run_for(struct as_loop *loop, int64_t ms)
{
    int64_t end = as_mono_ms() + ms;
    while (as_mono_ms() < end)
        as_loop_once(loop, 10);
}

/* A pid is gone when it does not exist or is a zombie left to an init that does not reap. */
static int gone(pid_t pid)
{
    char path[64], buf[256];
    if (kill(pid, 0) < 0)
        return errno == ESRCH;
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren != NULL && paren[1] == ' ' && paren[2] == 'Z';
}

static int wait_gone(struct as_loop *loop, pid_t pid, int64_t max_ms)
{
    int64_t end = as_mono_ms() + max_ms;
    while (!gone(pid) && as_mono_ms() < end)
        as_loop_once(loop, 10);
    return gone(pid);
}

static struct as_proc *spawn(struct as_loop *loop, const struct as_proc_opts *o,
                             struct outcome *out)
{
    struct as_err err;
    as_err_clear(&err);
    struct as_proc *p = as_proc_spawn(loop, o, on_done, out, &err);
    if (p == NULL)
        fail_msg("spawn failed: %s", err.msg);
    return p;
}

static void test_exit_code_and_capture(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    static struct outcome o;
    memset(&o, 0, sizeof(o));
    const char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    struct as_proc_opts opts = {.argv = argv};
    spawn(loop, &opts, &o);
    assert_int_equal(o.calls, 0); /* never from inside spawn */
    run_until_done(loop, &o, 5000);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.r.exit_code, 3);
    assert_int_equal(o.r.signo, 0);
    assert_false(o.r.timed_out);
    assert_string_equal(o.out, "out\n");
    assert_string_equal(o.err, "err\n");
    assert_int_equal(o.r.out_len, 4);
    assert_false(o.r.out_truncated);
    char how[64];
    assert_string_equal(as_proc_describe(&o.r, how, sizeof(how)), "exit 3");
    run_for(loop, 50);
    assert_int_equal(o.calls, 1);
    as_loop_free(loop);
}

/* stdin_fd: the child reads that descriptor as its standard input (the exec notifier's JSON);
 * without it, /dev/null; a descriptor below 3 cannot be passed. */
static void test_stdin_fd(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    static struct outcome o;
    memset(&o, 0, sizeof(o));
    char path[] = "/tmp/as-test-stdin-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 3);
    unlink(path);
    assert_int_equal(write(fd, "{\"kind\":\"scale\"}\n", 17), 17);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    const char *argv[] = {"cat", NULL};
    struct as_proc_opts opts = {.argv = argv, .stdin_fd = fd};
    spawn(loop, &opts, &o);
    close(fd);
    run_until_done(loop, &o, 5000);
    assert_int_equal(o.r.exit_code, 0);
    assert_string_equal(o.out, "{\"kind\":\"scale\"}\n");
    memset(&o, 0, sizeof(o));
    opts.stdin_fd = 0;
    spawn(loop, &opts, &o);
    run_until_done(loop, &o, 5000);
    assert_string_equal(o.out, "");
    struct as_err err;
    opts.stdin_fd = 1;
    assert_null(as_proc_spawn(loop, &opts, on_done, &o, &err));
    assert_int_equal(errno, EINVAL);
    as_loop_free(loop);
}

static void test_truncation(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    static struct outcome o;
    memset(&o, 0, sizeof(o));
    /* 200 KB on stdout: the child must not block on a full pipe once the buffer is full. */
    const char *argv[] = {"sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a; echo e >&2", NULL};
    struct as_proc_opts opts = {.argv = argv};
    spawn(loop, &opts, &o);
    run_until_done(loop, &o, 5000);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.r.exit_code, 0);
    assert_int_equal(o.r.out_len, AS_PROC_CAPTURE_MAX);
    assert_true(o.r.out_truncated);
    assert_int_equal(strlen(o.out), AS_PROC_CAPTURE_MAX);
    assert_int_equal(o.out[0], 'a');
    assert_string_equal(o.err, "e\n");
    assert_false(o.r.err_truncated);

    memset(&o, 0, sizeof(o));
    const char *argv2[] = {"sh", "-c", "echo 0123456789abcdef >&2", NULL};
    struct as_proc_opts small = {.argv = argv2, .capture_max = 10};
    spawn(loop, &small, &o);
    run_until_done(loop, &o, 5000);
    assert_int_equal(o.calls, 1);
    assert_string_equal(o.err, "0123456789");
    assert_true(o.r.err_truncated);
    as_loop_free(loop);
}

static void test_missing_program(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    struct outcome o = {0};
    struct as_err err;
    as_err_clear(&err);
    const char *argv[] = {"as-no-such-program-xyz", "x", NULL};
    struct as_proc_opts opts = {.argv = argv};
    errno = 0;
    assert_null(as_proc_spawn(loop, &opts, on_done, &o, &err));
    assert_int_equal(errno, ENOENT);
    assert_string_equal(err.msg, "cannot run as-no-such-program-xyz: No such file or directory");

    const char *abs[] = {"/nonexistent/prog", NULL};
    opts.argv = abs;
    assert_null(as_proc_spawn(loop, &opts, on_done, &o, &err));
    assert_int_equal(errno, ENOENT);

    char path[] = "/tmp/as-test-proc-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    chmod(path, 0644);
    const char *noexec[] = {path, NULL};
    opts.argv = noexec;
    assert_null(as_proc_spawn(loop, &opts, on_done, &o, &err));
    assert_int_equal(errno, EACCES);
    assert_non_null(strstr(err.msg, "Permission denied"));
    unlink(path);

    const char *ok[] = {"true", NULL};
    struct as_proc_opts badcwd = {.argv = ok, .cwd = "/nonexistent-dir"};
    assert_null(as_proc_spawn(loop, &badcwd, on_done, &o, &err));
    assert_non_null(strstr(err.msg, "/nonexistent-dir"));

    const char *env[] = {"NOEQUALS", NULL};
    struct as_proc_opts badenv = {.argv = ok, .env = env};
    assert_null(as_proc_spawn(loop, &badenv, on_done, &o, &err));
    assert_int_equal(errno, EINVAL);

    run_for(loop, 50);
    assert_int_equal(o.calls, 0);
    as_loop_free(loop);
}

/* The child reports why the exec failed, and as_proc_spawn still fails at once with that errno:
 * not an executable format, a path through a regular file, a PATH search that finds only a
 * file without the execute bit (the search goes on past it, then reports EACCES). */
static void test_exec_errors_are_synchronous(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    struct outcome o = {0};
    struct as_err err;
    char dir[] = "/tmp/as-test-proc-XXXXXX", path[128], old_path[4096];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/garbage", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("\x01\x02 not a program\n", f);
    fclose(f);
    chmod(path, 0755);
    const char *garbage[] = {path, NULL};
    struct as_proc_opts opts = {.argv = garbage};
    as_err_clear(&err);
    errno = 0;
    assert_null(as_proc_spawn(loop, &opts, on_done, &o, &err));
    assert_int_equal(errno, ENOEXEC);
    assert_non_null(strstr(err.msg, "Exec format error"));

    snprintf(path, sizeof(path), "%s/garbage/x", dir);
    const char *through_file[] = {path, NULL};
    opts.argv = through_file;
    assert_null(as_proc_spawn(loop, &opts, on_done, &o, &err));
    assert_int_equal(errno, ENOTDIR);

    snprintf(path, sizeof(path), "%s/as-noexec-xyz", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\n", f);
    fclose(f);
    chmod(path, 0644);
    snprintf(old_path, sizeof(old_path), "%s", getenv("PATH"));
    char search[4200];
    snprintf(search, sizeof(search), "%s:%s", dir, old_path);
    setenv("PATH", search, 1);
    const char *noexec[] = {"as-noexec-xyz", NULL};
    opts.argv = noexec;
    assert_null(as_proc_spawn(loop, &opts, on_done, &o, &err));
    assert_int_equal(errno, EACCES);
    const char *found_later[] = {"true", NULL}; /* not in dir: found further down PATH */
    opts.argv = found_later;
    spawn(loop, &opts, &o);
    setenv("PATH", old_path, 1);
    run_until_done(loop, &o, 5000);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.r.exit_code, 0);

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    as_loop_free(loop);
}

/* A helper process plays the daemon: it runs `sh -c script` through as_proc_spawn (none when
 * script is NULL) with grace_ms, registers the extra groups given, reports the child's pid and
 * its guard's, and waits to be killed with SIGKILL. */
struct helper {
    pid_t pid, child, guard;
};

static struct helper start_helper(const char *script, int64_t grace_ms, const pid_t extra[],
                                  const unsigned long long extra_start[], int nextra)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct helper h = {.pid = fork()};
    assert_true(h.pid >= 0);
    if (h.pid == 0) {
        close(fds[0]);
        struct as_loop *loop = as_loop_new();
        static struct outcome o;
        const char *argv[] = {"sh", "-c", script, NULL};
        struct as_proc_opts opts = {
            .argv = argv, .out = AS_PROC_NULL, .err = AS_PROC_NULL, .grace_ms = grace_ms};
        struct as_err err;
        struct as_proc *p = loop && script ? as_proc_spawn(loop, &opts, on_done, &o, &err) : NULL;
        for (int i = 0; i < nextra; i++)
            as_guard_watch(extra[i], extra_start[i], grace_ms);
        pid_t report[2] = {p ? as_proc_pid(p) : -1, as_guard_pid()};
        if (write(fds[1], report, sizeof(report)) != (ssize_t)sizeof(report))
            _exit(1);
        for (;;)
            pause();
    }
    close(fds[1]);
    pid_t report[2];
    assert_int_equal(read(fds[0], report, sizeof(report)), sizeof(report));
    close(fds[0]);
    h.child = report[0];
    h.guard = report[1];
    assert_true(h.guard > 0);
    return h;
}

static void kill_helper(const struct helper *h)
{
    assert_int_equal(kill(h->pid, SIGKILL), 0);
    assert_int_equal(waitpid(h->pid, NULL, 0), h->pid);
}

/* Waits (without a loop: the processes are not ours) until pid is gone; kills it if it is not
 * gone within max_ms. Returns whether it went by itself. */
static int gone_within(pid_t pid, int64_t max_ms)
{
    int64_t end = as_mono_ms() + max_ms;
    while (!gone(pid) && as_mono_ms() < end)
        usleep(10 * 1000);
    int went = gone(pid);
    if (!went)
        kill(pid, SIGKILL);
    return went;
}

/* The daemon dies of SIGKILL, and so does its guard: the death signal alone stops the child. */
static void test_child_dies_with_parent(void **state)
{
    (void)state;
    struct helper h = start_helper("exec sleep 30", 0, NULL, NULL, 0);
    assert_true(h.child > 0);
    assert_false(gone(h.child));
    assert_int_equal(kill(h.guard, SIGKILL), 0);
    assert_true(gone_within(h.guard, 1000));
    kill_helper(&h);
    assert_true(gone_within(h.child, 1000));
}

/* The daemon dies of SIGKILL; its child ignores SIGTERM and has a grandchild in its process
 * group (ignoring SIGTERM too): the guard sends SIGKILL to the group after the grace. */
static void test_guard_stops_the_group(void **state)
{
    (void)state;
    char dir[] = "/tmp/as-test-guard-XXXXXX", script[256], path[300];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/gc", dir);
    snprintf(script, sizeof(script),
             "trap '' TERM; sleep 30 & echo $! > %s.tmp; mv %s.tmp %s; wait", path, path, path);
    struct helper h = start_helper(script, 300, NULL, NULL, 0);
    long grandchild = 0;
    char buf[32] = "";
    int64_t end = as_mono_ms() + 3000;
    while (as_mono_ms() < end) {
        FILE *f = fopen(path, "r");
        if (f != NULL && fgets(buf, sizeof(buf), f) != NULL &&
            as_parse_long(strtok(buf, "\n"), &grandchild) == 0)
            end = 0;
        if (f != NULL)
            fclose(f);
        usleep(10 * 1000);
    }
    assert_true(grandchild > 1);
    int64_t t0 = as_mono_ms();
    kill_helper(&h);
    usleep(100 * 1000);
    if (as_mono_ms() - t0 < 250) { /* SIGTERM is ignored: both wait for the SIGKILL */
        assert_false(gone(h.child));
        assert_false(gone((pid_t)grandchild));
    }
    assert_true(gone_within(h.child, 1300));
    assert_true(gone_within((pid_t)grandchild, 1300));
    assert_true(as_mono_ms() - t0 >= 300);
    unlink(path);
    rmdir(dir);
}

/* sleep 30 in a process group of its own, started by the test. */
static pid_t start_sleeper(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sigset_t none; /* the test's loops block SIGTERM, and exec would keep it blocked */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0);
        execlp("sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* A registered pid that now names another process (another start time) is not touched; the
 * guard acts on the one registered with the right start time. */
static void test_guard_leaves_a_reused_pid_alone(void **state)
{
    (void)state;
    pid_t mine = start_sleeper(), other = start_sleeper();
    struct as_proc_stat a, b;
    assert_int_equal(as_proc_stat(mine, &a), 0);
    assert_int_equal(as_proc_stat(other, &b), 0);
    const pid_t pids[] = {mine, other};
    const unsigned long long starts[] = {a.start_ticks, b.start_ticks + 1};
    struct helper h = start_helper(NULL, 100, pids, starts, 2);
    kill_helper(&h);
    int64_t end = as_mono_ms() + 1000;
    while (kill(mine, 0) == 0 && waitpid(mine, NULL, WNOHANG) == 0 && as_mono_ms() < end)
        usleep(10 * 1000);
    int mine_went = kill(mine, 0) < 0;
    int other_lives = kill(other, 0) == 0 && waitpid(other, NULL, WNOHANG) == 0;
    kill(mine, SIGKILL);
    kill(other, SIGKILL);
    waitpid(mine, NULL, 0);
    waitpid(other, NULL, 0);
    assert_true(mine_went);
    assert_true(other_lives);
}

static void test_timeout_terminates(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    static struct outcome o;
    memset(&o, 0, sizeof(o));
    const char *argv[] = {"sleep", "10", NULL};
    struct as_proc_opts opts = {.argv = argv, .timeout_ms = 100};
    int64_t t0 = as_mono_ms();
    spawn(loop, &opts, &o);
    run_until_done(loop, &o, 5000);
    assert_int_equal(o.calls, 1);
    assert_true(o.r.timed_out);
    assert_int_equal(o.r.signo, SIGTERM);
    assert_int_equal(o.r.exit_code, -1);
    assert_true(o.done_at - t0 >= 100);
    assert_true(o.done_at - t0 < 2000);
    char how[64];
    assert_string_equal(as_proc_describe(&o.r, how, sizeof(how)), "timeout after 100 ms");
    as_loop_free(loop);
}

static void test_timeout_kills_when_term_ignored(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    static struct outcome o;
    memset(&o, 0, sizeof(o));
    const char *argv[] = {"sh", "-c", "trap '' TERM; echo ready; sleep 10", NULL};
    struct as_proc_opts opts = {.argv = argv, .timeout_ms = 300, .grace_ms = 300};
    int64_t t0 = as_mono_ms();
    spawn(loop, &opts, &o);
    run_until_done(loop, &o, 5000);
    assert_int_equal(o.calls, 1);
    assert_string_equal(o.out, "ready\n");
    assert_true(o.r.timed_out);
    assert_int_equal(o.r.signo, SIGKILL);
    assert_true(o.done_at - t0 >= 600);
    assert_true(o.done_at - t0 < 3000);
    as_loop_free(loop);
}

static void test_grandchildren_killed(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    static struct outcome o;
    memset(&o, 0, sizeof(o));
    const char *argv[] = {"sh", "-c", "sleep 30 & echo $!; wait", NULL};
    struct as_proc_opts opts = {.argv = argv, .timeout_ms = 300};
    struct as_proc *p = spawn(loop, &opts, &o);
    assert_int_equal(getpgid(as_proc_pid(p)), as_proc_pid(p));
    run_until_done(loop, &o, 5000);
    assert_int_equal(o.calls, 1);
    assert_true(o.r.timed_out);
    long grandchild = 0;
    assert_int_equal(as_parse_long(strtok(o.out, "\n"), &grandchild), 0);
    assert_true(grandchild > 1);
    assert_true(wait_gone(loop, (pid_t)grandchild, 2000));
    assert_true(gone(o.r.pid));
    as_loop_free(loop);
}

static void test_drain_bound(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    static struct outcome o;
    memset(&o, 0, sizeof(o));
    /* The grandchild keeps stdout open after the child exits. */
    const char *argv[] = {"sh", "-c", "sleep 5 & echo $!; exit 4", NULL};
    struct as_proc_opts opts = {.argv = argv};
    int64_t t0 = as_mono_ms();
    spawn(loop, &opts, &o);
    run_until_done(loop, &o, 4000);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.r.exit_code, 4);
    assert_true(o.done_at - t0 >= AS_PROC_DRAIN_MS);
    assert_true(o.done_at - t0 < 3000);
    long grandchild = 0;
    assert_int_equal(as_parse_long(strtok(o.out, "\n"), &grandchild), 0);
    /* and what was left of the group is stopped after the child's end */
    assert_true(wait_gone(loop, (pid_t)grandchild, 3000));
    as_loop_free(loop);
}

/* A child that exits on its own, leaving a background job in its process group that ignores
 * SIGTERM: the job gets SIGTERM, then SIGKILL after the grace (no output pipes here, so
 * nothing else would ever notice it). */
static void test_leftovers_stopped_after_exit(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    static struct outcome o;
    memset(&o, 0, sizeof(o));
    char file[] = "/tmp/as-test-leftover-XXXXXX", cmd[256];
    int fd = mkstemp(file);
    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof(cmd), "trap '' TERM; sleep 30 & echo $! > %s; exit 0", file);
    const char *argv[] = {"sh", "-c", cmd, NULL};
    struct as_proc_opts opts = {
        .argv = argv, .out = AS_PROC_NULL, .err = AS_PROC_NULL, .grace_ms = 300};
    spawn(loop, &opts, &o);
    run_until_done(loop, &o, 4000);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.r.exit_code, 0);
    FILE *f = fopen(file, "r");
    long job = 0;
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld", &job), 1);
    fclose(f);
    unlink(file);
    assert_true(job > 1);
    int64_t t0 = as_mono_ms();
    assert_true(wait_gone(loop, (pid_t)job, 3000));
    assert_true(as_mono_ms() - t0 >= 200); /* it ignored SIGTERM: SIGKILL after the grace */
    as_loop_free(loop);
}

static void test_kill_and_abandon(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    static struct outcome o;
    memset(&o, 0, sizeof(o));
    const char *argv[] = {"sleep", "10", NULL};
    struct as_proc_opts opts = {.argv = argv, .out = AS_PROC_NULL, .err = AS_PROC_INHERIT};
    struct as_proc *p = spawn(loop, &opts, &o);
    assert_int_equal(as_proc_kill(p, SIGKILL), 0);
    run_until_done(loop, &o, 5000);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.r.signo, SIGKILL);
    assert_false(o.r.timed_out);
    assert_string_equal(o.out, "");

    memset(&o, 0, sizeof(o));
    p = spawn(loop, &opts, &o);
    pid_t pid = as_proc_pid(p);
    as_proc_abandon(p);
    as_proc_abandon(NULL);
    assert_true(wait_gone(loop, pid, 2000)); /* killed and reaped by the loop */
    run_for(loop, 50);
    assert_int_equal(o.calls, 0);
    as_loop_free(loop);
}

static void test_terminate_grace(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    static struct outcome o;
    memset(&o, 0, sizeof(o));
    const char *argv[] = {"sh", "-c", "trap 'echo bye; exit 7' TERM; echo up; sleep 10 & wait",
                          NULL};
    struct as_proc_opts opts = {.argv = argv, .out = AS_PROC_LINES, .on_line = on_line};
    struct as_proc *p = spawn(loop, &opts, &o);
    int64_t end = as_mono_ms() + 3000;
    while (o.nlines == 0 && as_mono_ms() < end)
        as_loop_once(loop, 20);
    assert_int_equal(o.nlines, 1);
    assert_int_equal(as_proc_terminate(p, 5000), 0);
    run_until_done(loop, &o, 3000);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.r.exit_code, 7);
    assert_false(o.r.timed_out);
    assert_int_equal(o.nlines, 2);
    assert_string_equal(o.lines[0], "1:up");
    assert_string_equal(o.lines[1], "1:bye");
    as_loop_free(loop);
}

static void test_lines(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    static struct outcome o;
    memset(&o, 0, sizeof(o));
    const char *argv[] = {"sh", "-c", "printf 'a\\nbb\\n'; printf 'x\\n\\ny' >&2", NULL};
    struct as_proc_opts opts = {
        .argv = argv, .out = AS_PROC_LINES, .err = AS_PROC_LINES, .on_line = on_line};
    spawn(loop, &opts, &o);
    run_until_done(loop, &o, 5000);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.nlines, 5);
    int out = 0, err = 0;
    for (int i = 0; i < o.nlines; i++) {
        out += o.lines[i][0] == '1';
        err += o.lines[i][0] == '2';
    }
    assert_int_equal(out, 2);
    assert_int_equal(err, 3);
    assert_string_equal(o.out, "");
    as_loop_free(loop);
}

static void test_env_cwd_and_clean_child(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    static struct outcome o;
    memset(&o, 0, sizeof(o));
    setenv("AS_TEST_OLD", "old", 1);
    setenv("AS_TEST_KEEP", "kept", 1);
    const char *env[] = {"AS_TEST_OLD=new", "AS_TEST_NEW=x=y", NULL};
    const char *argv[] = {"sh", "-c", "echo \"$AS_TEST_OLD $AS_TEST_NEW $AS_TEST_KEEP $(pwd)\"",
                          NULL};
    struct as_proc_opts opts = {.argv = argv, .env = env, .cwd = "/tmp"};
    spawn(loop, &opts, &o);
    run_until_done(loop, &o, 5000);
    assert_int_equal(o.calls, 1);
    assert_string_equal(o.out, "new x=y kept /tmp\n");

    /* Empty signal mask, nothing ignored (the daemon ignores SIGPIPE), no stray descriptor. */
    memset(&o, 0, sizeof(o));
    const char *status[] = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
    opts = (struct as_proc_opts){.argv = status};
    spawn(loop, &opts, &o);
    run_until_done(loop, &o, 5000);
    assert_int_equal(o.calls, 1);
    assert_non_null(strstr(o.out, "SigBlk:\t0000000000000000\n"));
    /* Every signal at its default, glibc's internal ones (32, 33) included. */
    assert_non_null(strstr(o.out, "SigIgn:\t0000000000000000\n"));

    memset(&o, 0, sizeof(o));
    int stray = dup2(2, 57);
    assert_int_equal(stray, 57);
    const char *fds[] = {"ls", "/proc/self/fd", NULL};
    opts = (struct as_proc_opts){.argv = fds};
    spawn(loop, &opts, &o);
    run_until_done(loop, &o, 5000);
    close(stray);
    assert_int_equal(o.calls, 1);
    assert_string_equal(o.out, "0\n1\n2\n3\n"); /* 3 is ls reading the directory */
    as_loop_free(loop);
}

static void test_many_concurrent(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    static struct outcome o[8];
    memset(o, 0, sizeof(o));
    char code[8][32];
    for (int i = 0; i < 8; i++) {
        snprintf(code[i], sizeof(code[i]), "echo %d; exit %d", i, i);
        const char *argv[] = {"sh", "-c", code[i], NULL};
        struct as_proc_opts opts = {.argv = argv};
        spawn(loop, &opts, &o[i]);
    }
    int64_t end = as_mono_ms() + 5000;
    for (int i = 0; i < 8; i++)
        while (o[i].calls == 0 && as_mono_ms() < end)
            as_loop_once(loop, 20);
    for (int i = 0; i < 8; i++) {
        char want[8];
        snprintf(want, sizeof(want), "%d\n", i);
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].r.exit_code, i);
        assert_string_equal(o[i].out, want);
    }
    as_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_code_and_capture),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_stdin_fd),
        cmocka_unit_test(test_missing_program),
        cmocka_unit_test(test_exec_errors_are_synchronous),
        cmocka_unit_test(test_child_dies_with_parent),
        cmocka_unit_test(test_guard_stops_the_group),
        cmocka_unit_test(test_guard_leaves_a_reused_pid_alone),
        cmocka_unit_test(test_timeout_terminates),
        cmocka_unit_test(test_timeout_kills_when_term_ignored),
        cmocka_unit_test(test_grandchildren_killed),
        cmocka_unit_test(test_drain_bound),
        cmocka_unit_test(test_leftovers_stopped_after_exit),
        cmocka_unit_test(test_kill_and_abandon),
        cmocka_unit_test(test_terminate_grace),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_env_cwd_and_clean_child),
        cmocka_unit_test(test_many_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
