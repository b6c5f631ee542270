/* clone and pipe2 are GNU extensions. */
#define _GNU_SOURCE

#include "util/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/guard.h"
#include "util/loop.h"
#include "util/util.h"

extern char **environ;

#define READS_PER_WAKEUP 16 /* a chatty child cannot starve the loop */

struct stream {
    int fd;    /* our read end, -1 once closed */
    int which; /* AS_PROC_STDOUT or AS_PROC_STDERR */
    enum as_proc_output mode;
    char *buf; /* capture, or the partial line; NUL-terminated when handed out */
    size_t len, cap, max;
    int truncated;
};

struct as_proc {
    struct as_loop *loop;
    pid_t pid;
    int reaped, status;
    int timed_out, terminating;
    int64_t started_ms, ended_ms, timeout_ms, grace_ms;
    struct stream io[2];
    struct as_timer *timeout, *kill_timer, *drain;
    as_proc_cb done;
    as_proc_line_fn on_line;
    void *arg;
    unsigned long long start_ticks; /* the child's start time (as_proc_stat), 0 if unknown */
    int guarded;                    /* registered with the guard */
    int busy;      /* inside on_line: as_proc_abandon leaves the free to the reader */
    int abandoned; /* as_proc_abandon was called */
    int finishing; /* inside done */
};

/* ---- teardown ---- */

static void close_stream(struct as_proc *p, struct stream *s)
{
    if (s->fd < 0)
        return;
    as_loop_watch_fd(p->loop, s->fd, 0, NULL, NULL);
    close(s->fd);
    s->fd = -1;
}

static void cancel_timers(struct as_proc *p)
{
    as_loop_cancel_timer(p->loop, p->timeout);
    as_loop_cancel_timer(p->loop, p->kill_timer);
    as_loop_cancel_timer(p->loop, p->drain);
    p->timeout = p->kill_timer = p->drain = NULL;
}

/* The end of a leftover sweep (below): SIGKILL to what still runs in the group, then the guard
 * forgets it. arg: pgid * 2 + guarded. */
static int64_t on_sweep(struct as_loop *loop, void *arg)
{
    (void)loop;
    intptr_t v = (intptr_t)arg;
    pid_t pgid = (pid_t)(v / 2);
    /* While the group has members its id names no other process; if it emptied and the pid
     * now names a new process, that one is not ours: leave it alone. */
    if (kill(pgid, 0) < 0 && errno == ESRCH)
        kill(-pgid, SIGKILL);
    if (v % 2)
        as_guard_forget(pgid);
    return AS_TIMER_STOP;
}

/* The child has been reaped but its process group may live on (a worker's or a command's
 * background jobs): what is left gets SIGTERM now and SIGKILL after the grace, so nothing it
 * started outlives it. The group stays registered with the guard until then. */
static void sweep_leftovers(struct as_proc *p)
{
    int left = p->reaped && kill(-p->pid, 0) == 0;
    if (left) {
        kill(-p->pid, SIGTERM);
        void *arg = (void *)((intptr_t)p->pid * 2 + (p->guarded != 0));
        if (as_loop_add_timer(p->loop, p->grace_ms, on_sweep, arg) != NULL)
            return;
        kill(-p->pid, SIGKILL); /* no timer: now rather than never */
    }
    if (p->guarded) /* done with the group */
        as_guard_forget(p->pid);
}

static void free_proc(struct as_proc *p)
{
    if (p == NULL)
        return;
    sweep_leftovers(p);
    cancel_timers(p);
    for (int i = 0; i < 2; i++) {
        close_stream(p, &p->io[i]);
        free(p->io[i].buf);
    }
    free(p);
}

/* ---- completion ---- */

static void fill_result(const struct as_proc *p, struct as_proc_result *r)
{
    *r = (struct as_proc_result){.pid = p->pid,
                                 .exit_code = -1,
                                 .timed_out = p->timed_out,
                                 .timeout_ms = p->timeout_ms,
                                 .elapsed_ms = p->ended_ms - p->started_ms,
                                 .out = "",
                                 .err = ""};
    if (WIFEXITED(p->status))
        r->exit_code = WEXITSTATUS(p->status);
    else if (WIFSIGNALED(p->status))
        r->signo = WTERMSIG(p->status);
    const struct stream *o = &p->io[0], *e = &p->io[1];
    if (o->mode == AS_PROC_CAPTURE && o->buf != NULL)
        r->out = o->buf, r->out_len = o->len, r->out_truncated = o->truncated;
    if (e->mode == AS_PROC_CAPTURE && e->buf != NULL)
        r->err = e->buf, r->err_len = e->len, r->err_truncated = e->truncated;
}

/* Runs done once the child is reaped and both pipes are closed; frees p. */
static void maybe_finish(struct as_proc *p)
{
    if (!p->reaped || p->io[0].fd >= 0 || p->io[1].fd >= 0)
        return;
    cancel_timers(p);
    struct as_proc_result r;
    fill_result(p, &r);
    p->finishing = 1;
    p->done(&r, p->arg);
    free_proc(p);
}

static int64_t on_drain(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct as_proc *p = arg;
    p->drain = NULL;
    /* Whatever still holds the pipes was asked to go away with the rest of the group. */
    if (p->terminating)
        kill(-p->pid, SIGKILL);
    close_stream(p, &p->io[0]);
    close_stream(p, &p->io[1]);
    maybe_finish(p);
    return AS_TIMER_STOP;
}

static void on_child_exit(struct as_loop *loop, pid_t pid, int status, void *arg)
{
    (void)pid;
    struct as_proc *p = arg;
    p->reaped = 1;
    p->status = status;
    p->ended_ms = as_loop_now(loop);
    as_loop_cancel_timer(loop, p->timeout);
    p->timeout = NULL;
    if (p->io[0].fd >= 0 || p->io[1].fd >= 0) {
        /* A grandchild may keep the pipes open long after the child is gone. */
        p->drain = as_loop_add_timer(loop, AS_PROC_DRAIN_MS, on_drain, p);
        if (p->drain != NULL)
            return;
        close_stream(p, &p->io[0]);
        close_stream(p, &p->io[1]);
    }
    maybe_finish(p);
}

/* ---- output ---- */

static void take_capture(struct stream *s, const char *data, size_t n)
{
    size_t room = s->max - s->len;
    if (n > room) {
        s->truncated = 1;
        n = room;
    }
    if (n == 0)
        return;
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        cap = cap < s->max ? cap : s->max;
        char *buf = realloc(s->buf, cap + 1);
        if (buf == NULL) {
            s->truncated = 1;
            return;
        }
        s->buf = buf;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
}

static void emit_line(struct as_proc *p, struct stream *s)
{
    size_t len = s->len;
    s->buf[len] = '\0';
    s->len = 0;
    p->on_line(s->which, s->buf, len, p->arg);
}

static void take_lines(struct as_proc *p, struct stream *s, const char *data, size_t n)
{
    for (size_t i = 0; i < n && !p->abandoned; i++) {
        if (data[i] != '\n')
            s->buf[s->len++] = data[i];
        if (data[i] == '\n' || s->len == AS_PROC_LINE_MAX)
            emit_line(p, s);
    }
}

static void on_readable(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    struct as_proc *p = arg;
    struct stream *s = p->io[0].fd == fd ? &p->io[0] : &p->io[1];
    char chunk[4096];
    p->busy++;
    for (int i = 0; i < READS_PER_WAKEUP && !p->abandoned; i++) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n > 0 && s->mode == AS_PROC_LINES)
            take_lines(p, s, chunk, (size_t)n);
        else if (n > 0)
            take_capture(s, chunk, (size_t)n);
        if (n > 0)
            continue;
        if (s->mode == AS_PROC_LINES && s->len > 0)
            emit_line(p, s);
        close_stream(p, s);
        break;
    }
    p->busy--;
    if (p->abandoned) {
        if (p->busy == 0)
            free_proc(p);
        return;
    }
    if (s->fd < 0)
        maybe_finish(p);
}

/* ---- signals ---- */

/* The loop's clock is cached per iteration and may lag behind by what ran since: a child
 * gets at least the full delay from now. */
static struct as_timer *add_timer(struct as_proc *p, int64_t delay_ms, as_timer_fn fn)
{
    int64_t lag = as_mono_ms() - as_loop_now(p->loop);
    return as_loop_add_timer(p->loop, delay_ms + (lag > 0 ? lag : 0), fn, p);
}

static int64_t on_kill(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct as_proc *p = arg;
    p->kill_timer = NULL;
    kill(-p->pid, SIGKILL);
    return AS_TIMER_STOP;
}

static int64_t on_timeout(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct as_proc *p = arg;
    p->timeout = NULL;
    p->timed_out = 1;
    as_proc_terminate(p, p->grace_ms);
    return AS_TIMER_STOP;
}

pid_t as_proc_pid(const struct as_proc *p)
{
    return p->pid;
}

unsigned long long as_proc_start_ticks(const struct as_proc *p)
{
    return p->start_ticks;
}

int as_proc_kill(struct as_proc *p, int signo)
{
    return kill(-p->pid, signo);
}

int as_proc_terminate(struct as_proc *p, int64_t grace_ms)
{
    int rc = kill(-p->pid, SIGTERM);
    if (p->terminating)
        return rc;
    p->terminating = 1;
    p->kill_timer = add_timer(p, grace_ms > 0 ? grace_ms : AS_PROC_GRACE_MS, on_kill);
    /* Without a timer there would be no SIGKILL later: better now than never. */
    if (p->kill_timer == NULL)
        kill(-p->pid, SIGKILL);
    return rc;
}

void as_proc_abandon(struct as_proc *p)
{
    if (p == NULL || p->finishing || p->abandoned)
        return;
    kill(-p->pid, SIGKILL);
    if (!p->reaped)
        as_loop_unwatch_child(p->loop, p->pid);
    cancel_timers(p);
    close_stream(p, &p->io[0]);
    close_stream(p, &p->io[1]);
    p->abandoned = 1;
    if (p->busy == 0)
        free_proc(p);
}

const char *as_proc_describe(const struct as_proc_result *r, char *buf, size_t len)
{
    if (r->timed_out)
        snprintf(buf, len, "timeout after %lld ms", (long long)r->timeout_ms);
    else if (r->signo != 0)
        snprintf(buf, len, "killed by signal %d (%s)", r->signo, strsignal(r->signo));
    else
        snprintf(buf, len, "exit %d", r->exit_code);
    return buf;
}

/* ---- spawning ---- */

/* Returns 0 or an errno value with err set. */
static int check_opts(const struct as_proc_opts *o, struct as_err *err)
{
    if (o->argv == NULL || o->argv[0] == NULL || o->argv[0][0] == '\0') {
        as_err_set(err, "no program to run");
        return EINVAL;
    }
    for (size_t i = 0; o->env && o->env[i]; i++)
        if (o->env[i][0] == '=' || strchr(o->env[i], '=') == NULL) {
            /* The entry itself is not shown: it may hold a secret. */
            as_err_set(err, "cannot run %s: environment entry %zu is not NAME=value", o->argv[0],
                       i + 1);
            return EINVAL;
        }
    if ((o->out == AS_PROC_LINES || o->err == AS_PROC_LINES) && o->on_line == NULL) {
        as_err_set(err, "cannot run %s: line output without a line callback", o->argv[0]);
        return EINVAL;
    }
    const int fds[2] = {o->pass_fd, o->stdin_fd};
    for (int i = 0; i < 2; i++)
        if (fds[i] != 0 && (fds[i] < 3 || fcntl(fds[i], F_GETFD) < 0)) {
            as_err_set(err, "cannot run %s: descriptor %d cannot be passed", o->argv[0], fds[i]);
            return EINVAL;
        }
    struct stat st;
    if (o->cwd == NULL)
        return 0;
    int rc = stat(o->cwd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (rc != 0)
        as_err_set(err, "cannot run %s: working directory %s: %s", o->argv[0], o->cwd,
                   strerror(rc));
    return rc;
}

static int overridden(const char *entry, const char *const *extra)
{
    size_t n = strcspn(entry, "=");
    for (size_t i = 0; extra && extra[i]; i++)
        if (strncmp(entry, extra[i], n) == 0 && extra[i][n] == '=')
            return 1;
    return 0;
}

/* The daemon's environment with the extra entries added; the strings are borrowed. */
static char **build_env(const char *const *extra)
{
    size_t n = 0, m = 0, k = 0;
    while (environ && environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = calloc(n + m + 1, sizeof(char *));
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!overridden(environ[i], extra))
            env[k++] = environ[i];
    for (size_t i = 0; i < m; i++)
        env[k++] = (char *)extra[i];
    return env;
}

/* Opens the pipe for one captured stream: our end non-blocking, both close-on-exec (the
 * child's end is copied onto 1 or 2, which clears the flag there). Returns 0 or errno. */
static int open_pipe(struct stream *s, int *child_end)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return errno;
    if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
        int rc = errno;
        close(fds[0]);
        close(fds[1]);
        return rc;
    }
    s->fd = fds[0];
    *child_end = fds[1];
    if (s->mode == AS_PROC_LINES) {
        s->buf = malloc(AS_PROC_LINE_MAX + 1);
        if (s->buf == NULL)
            return ENOMEM;
    }
    return 0;
}

/* execvp's search, done before the clone: argv[0] itself when it holds a '/', else each entry
 * of the daemon's PATH (/bin:/usr/bin without one; an empty entry is the working directory),
 * as posix_spawnp does. One block, the NULL-terminated pointers followed by the strings: free
 * it with free(). NULL on ENOMEM. */
static char **search_paths(const char *file)
{
    const char *path = getenv("PATH");
    if (strchr(file, '/') != NULL)
        path = NULL;
    else if (path == NULL)
        path = "/bin:/usr/bin";
    size_t n = 1, flen = strlen(file);
    for (const char *c = path; c && *c; c++)
        n += *c == ':';
    size_t size = (n + 1) * sizeof(char *) + (path ? strlen(path) : 0) + n * (flen + 2);
    char **paths = malloc(size);
    if (paths == NULL)
        return NULL;
    char *text = (char *)(paths + n + 1);
    const char *dir = path;
    for (size_t i = 0; i < n; i++) {
        size_t dlen = dir ? strcspn(dir, ":") : 0;
        paths[i] = text;
        if (dlen > 0) {
            memcpy(text, dir, dlen);
            text += dlen;
            *text++ = '/';
        }
        memcpy(text, file, flen + 1);
        text += flen + 1;
        if (dir != NULL)
            dir += dlen + (dir[dlen] == ':');
    }
    paths[n] = NULL;
    return paths;
}

/* What the child needs, all of it prepared before the clone. The child shares the daemon's
 * memory until it execs (CLONE_VM | CLONE_VFORK: the page tables are not copied, so a spawn
 * costs the same whatever the daemon's size, as posix_spawn does), so it only makes raw system
 * calls: no allocation, no lock, no libc state, no sanitizer interceptor. */
struct launch {
    const struct as_proc_opts *o;
    char **env, **paths;
    int child_end[2]; /* the pipes for stdout / stderr, -1 when not piped */
    pid_t parent;     /* the daemon, recorded before the clone */
    sigset_t mask;    /* the child's signal mask */
    long max_fd;      /* closes descriptors up to this when close_range is missing */
    /* Written by the child when it cannot run the program, read by the parent once the child
     * has exec'ed or exited: the parent is suspended until then. */
    volatile int err, step;
};
enum { STEP_EXEC, STEP_CWD, STEP_SETUP };

/* The child's code: not instrumented, since it runs on a stack of its own in memory shared
 * with the suspended parent (the sanitizers would keep state about either). */
#define CHILD __attribute__((no_sanitize("address", "undefined"), noinline))

/* Records why the child cannot run the program; returns the exit status it then exits with. */
CHILD static int child_fail(struct launch *l, int step, int err)
{
    l->step = step;
    l->err = err;
    return 127;
}

/* A fresh /dev/null on target (without close-on-exec). */
CHILD static int child_null(int target, int flags)
{
    long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", flags);
    if (fd < 0 || fd == target)
        return fd < 0 ? -1 : 0;
    long rc = syscall(SYS_dup3, fd, target, 0);
    syscall(SYS_close, fd);
    return rc < 0 ? -1 : 0;
}

CHILD static int child_stdio(const struct launch *l)
{
    const enum as_proc_output modes[2] = {l->o->out, l->o->err};
    if (l->o->stdin_fd != 0 ? syscall(SYS_dup3, l->o->stdin_fd, 0, 0) < 0
                            : child_null(0, O_RDONLY) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        int fd = l->child_end[i];
        long rc = 0;
        /* dup3 clears close-on-exec on the copy; a pipe that already is the target keeps it. */
        if (fd >= 0)
            rc = fd == i + 1 ? syscall(SYS_fcntl, fd, F_SETFD, 0) : syscall(SYS_dup3, fd, i + 1, 0);
        else if (modes[i] == AS_PROC_NULL)
            rc = child_null(i + 1, O_WRONLY);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* opts->pass_fd onto AS_PROC_PASS_FD, after stdio (a pipe's child end may sit there: it has
 * been copied onto 1 or 2 by then). dup3 clears close-on-exec on the copy. */
CHILD static int child_pass_fd(const struct launch *l)
{
    int fd = l->o->pass_fd;
    if (fd == 0)
        return 0;
    long rc = fd == AS_PROC_PASS_FD ? syscall(SYS_fcntl, fd, F_SETFD, 0)
                                    : syscall(SYS_dup3, fd, AS_PROC_PASS_FD, 0);
    return rc < 0 ? -1 : 0;
}

CHILD static void child_close_fds(const struct launch *l)
{
    unsigned first = l->o->pass_fd != 0 ? AS_PROC_PASS_FD + 1 : 3;
#ifdef SYS_close_range /* Linux 5.9 */
    if (syscall(SYS_close_range, first, ~0U, 0) == 0)
        return;
#endif
    for (long fd = first; fd < l->max_fd; fd++)
        syscall(SYS_close, fd);
}

/* Every signal to its default (the daemon ignores SIGPIPE, and ignored signals survive exec).
 * An all-zero kernel sigaction is SIG_DFL, no flags, empty mask, whatever the architecture. */
CHILD static void child_signals(void)
{
    unsigned long dfl[4] = {0, 0, 0, 0};
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            syscall(SYS_rt_sigaction, sig, dfl, NULL, NSIG / 8);
}

/* execvp's rules for trying the candidates in turn (those of glibc's posix_spawnp): a file
 * that is missing or not ours to run moves on to the next; EACCES wins over ENOENT at the end;
 * any other error ends the search. No shell fallback for ENOEXEC, as posix_spawnp. */
CHILD static int child_exec(const struct launch *l)
{
    int eacces = 0, last = ENOENT;
    for (char **p = l->paths; *p; p++) {
        syscall(SYS_execve, *p, l->o->argv, l->env);
        last = errno;
        if (last == EACCES)
            eacces = 1;
        else if (last != ENOENT && last != ENOTDIR && last != ESTALE && last != ENODEV &&
                 last != ETIMEDOUT)
            return last;
    }
    return eacces ? EACCES : last;
}

/* The child, from clone to exec. Every signal stays blocked until just before the exec, so no
 * handler of the daemon runs here; a death signal arriving meanwhile waits, then kills. */
CHILD static int child(void *arg)
{
    struct launch *l = arg;
    /* The death signal first, then the check: had the daemon died before the prctl, the
     * signal would never come, and we would have been adopted by another process already. */
    if (syscall(SYS_prctl, PR_SET_PDEATHSIG, AS_PROC_DEATH_SIGNAL, 0, 0, 0) < 0)
        return child_fail(l, STEP_SETUP, errno);
    if (syscall(SYS_getppid) != l->parent)
        return 127;
    child_signals();
    if (syscall(SYS_setpgid, 0, 0) < 0 || child_stdio(l) < 0 || child_pass_fd(l) < 0)
        return child_fail(l, STEP_SETUP, errno);
    child_close_fds(l);
    if (l->o->cwd != NULL && syscall(SYS_chdir, l->o->cwd) < 0)
        return child_fail(l, STEP_CWD, errno);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &l->mask, NULL, NSIG / 8);
    return child_fail(l, STEP_EXEC, child_exec(l));
}

#define CHILD_STACK (64 * 1024)

/* Starts the child and returns once it has exec'ed the program or failed to. Returns 0, or an
 * errno with l->step saying what failed (the child has then been reaped). */
static int start_child(struct launch *l, pid_t *pid)
{
    void *stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return errno;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    *pid = clone(child, (char *)stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, l);
    int rc = *pid < 0 ? errno : l->err;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, CHILD_STACK);
    if (*pid > 0 && rc != 0)
        while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
            ;
    if (*pid < 0)
        l->step = STEP_SETUP;
    return rc;
}

static void launch_init(struct launch *l, const struct as_proc_opts *o, const int child_end[2])
{
    *l = (struct launch){.o = o,
                         .child_end = {child_end[0], child_end[1]},
                         .parent = getpid(),
                         .max_fd = sysconf(_SC_OPEN_MAX)};
    as_loop_child_sigmask(&l->mask);
    l->env = build_env(o->env);
    l->paths = search_paths(o->argv[0]);
}

static int run(struct as_proc *p, const struct as_proc_opts *o, const int child_end[2],
               struct as_err *err)
{
    struct launch l;
    launch_init(&l, o, child_end);
    int rc = l.env == NULL || l.paths == NULL ? ENOMEM : start_child(&l, &p->pid);
    if (rc != 0 && l.step == STEP_CWD)
        as_err_set(err, "cannot run %s: working directory %s: %s", o->argv[0], o->cwd,
                   strerror(rc));
    else if (rc != 0)
        as_err_set(err, "cannot run %s: %s", o->argv[0], strerror(rc));
    free(l.env);
    free(l.paths);
    return rc;
}

/* Registers the child, its pipes and its timeout with the loop. Returns 0 or ENOMEM, in
 * which case the child has been killed (the loop reaps it). */
static int arm(struct as_proc *p, struct as_err *err)
{
    int rc = as_loop_watch_child(p->loop, p->pid, on_child_exit, p);
    if (rc == 0) {
        for (int i = 0; i < 2 && rc == 0; i++)
            if (p->io[i].fd >= 0)
                rc = as_loop_watch_fd(p->loop, p->io[i].fd, AS_READ, on_readable, p);
        if (rc == 0 && p->timeout_ms > 0) {
            p->timeout = add_timer(p, p->timeout_ms, on_timeout);
            rc = p->timeout == NULL ? -1 : 0;
        }
        if (rc != 0)
            as_loop_unwatch_child(p->loop, p->pid);
    }
    if (rc == 0)
        return 0;
    kill(-p->pid, SIGKILL);
    as_err_set(err, "out of memory watching pid %ld", (long)p->pid);
    return ENOMEM;
}

/* Reads the child's start time (it is not reaped before the loop runs again) and registers its
 * process group with the guard, which stops it if the daemon dies first. */
static void guard(struct as_proc *p)
{
    struct as_proc_stat st;
    p->start_ticks = as_proc_stat(p->pid, &st) == 0 ? st.start_ticks : 0;
    as_guard_watch(p->pid, p->start_ticks, p->grace_ms);
    p->guarded = 1;
}

static struct as_proc *proc_new(struct as_loop *loop, const struct as_proc_opts *o, as_proc_cb done,
                                void *arg)
{
    struct as_proc *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->loop = loop;
    p->done = done;
    p->on_line = o->on_line;
    p->arg = arg;
    p->started_ms = as_mono_ms();
    p->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 0;
    p->grace_ms = o->grace_ms > 0 ? o->grace_ms : AS_PROC_GRACE_MS;
    const enum as_proc_output modes[2] = {o->out, o->err};
    for (int i = 0; i < 2; i++)
        p->io[i] = (struct stream){.fd = -1,
                                   .which = i + 1,
                                   .mode = modes[i],
                                   .max = o->capture_max ? o->capture_max : AS_PROC_CAPTURE_MAX};
    return p;
}

struct as_proc *as_proc_spawn(struct as_loop *loop, const struct as_proc_opts *o, as_proc_cb done,
                              void *arg, struct as_err *err)
{
    int child_end[2] = {-1, -1};
    struct as_proc *p = NULL;
    int rc = check_opts(o, err);
    if (rc != 0)
        goto out;
    p = proc_new(loop, o, done, arg);
    if (p == NULL) {
        rc = ENOMEM;
        as_err_set(err, "out of memory");
        goto out;
    }
    for (int i = 0; i < 2 && rc == 0; i++)
        if (p->io[i].mode == AS_PROC_CAPTURE || p->io[i].mode == AS_PROC_LINES)
            rc = open_pipe(&p->io[i], &child_end[i]);
    if (rc != 0) {
        as_err_set(err, "cannot run %s: cannot create a pipe: %s", o->argv[0], strerror(rc));
        goto out;
    }
    rc = run(p, o, child_end, err);
    if (rc == 0)
        rc = arm(p, err);
    if (rc == 0)
        guard(p);
out:
    for (int i = 0; i < 2; i++)
        if (child_end[i] >= 0)
            close(child_end[i]);
    if (rc == 0)
        return p;
    free_proc(p);
    errno = rc;
    return NULL;
}

/* ---- /proc ---- */

int as_proc_stat(pid_t pid, struct as_proc_stat *st)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved == ESRCH ? ENOENT : saved; /* it exited since the open */
        return -1;
    }
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    int ppid, pgid, sid;
    if (p == NULL ||
        sscanf(p + 1,
               " %c %d %d %d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
               "%*d %*d %*d %llu",
               &st->state, &ppid, &pgid, &sid, &st->utime, &st->stime, &st->start_ticks) != 7) {
        errno = EINVAL;
        return -1;
    }
    st->ppid = ppid, st->pgid = pgid, st->sid = sid;
    return 0;
}

int as_proc_each(as_proc_each_fn fn, void *arg)
{
    DIR *dir = opendir("/proc");
    if (dir == NULL)
        return -1;
    const struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        long pid;
        struct as_proc_stat st;
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && as_parse_long(e->d_name, &pid) == 0 &&
            as_proc_stat((pid_t)pid, &st) == 0)
            fn((pid_t)pid, &st, arg);
    }
    closedir(dir);
    return 0;
}
