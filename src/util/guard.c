/* The child guard: see guard.h. */
#define _GNU_SOURCE /* SOCK_CLOEXEC, mremap */

#include "util/guard.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

/* One registration: a datagram of a SOCK_SEQPACKET socket, read whole. */
struct msg {
    int32_t op; /* OP_* */
    int32_t pgid;
    int64_t grace_ms;
    uint64_t start;
};
enum { OP_WATCH = 1, OP_FORGET, TERMED, SKIPPED, DONE };

#define POLL_MS 20

/* This process's guard. A forked copy of the daemon (a test's helper) inherits the variables
 * and the socket, so owner tells whether they are its own. */
static struct {
    int fd;      /* our end, -1 when there is no guard */
    pid_t pid;   /* the guard */
    pid_t owner; /* the process that started it */
    int failed;  /* a registration failed (logged once until one works again) */
} g = {-1, 0, 0, 0};

/* ---- the guard process: raw system calls only ---- */

#define GUARD __attribute__((no_sanitize("address", "undefined"), noinline))

GUARD static int64_t now_ms(void)
{
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

GUARD static void nap(void)
{
    struct timespec ts = {0, POLL_MS * 1000000L};
    syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL);
}

GUARD static void say(const char *line)
{
    size_t n = 0;
    while (line[n])
        n++;
    syscall(SYS_write, 2, line, n);
}

/* Field 22 of /proc/pid/stat (the start time); 0 when the process does not exist. */
GUARD static uint64_t start_of(int32_t pid)
{
    char path[32], buf[1024], digits[12];
    const char *prefix = "/proc/", *suffix = "/stat";
    int nd = 0, at = 0;
    for (uint32_t v = (uint32_t)pid; v > 0 || nd == 0; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    while (*prefix)
        path[at++] = *prefix++;
    while (nd > 0)
        path[at++] = digits[--nd];
    while (*suffix)
        path[at++] = *suffix++;
    path[at] = '\0';
    long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    long n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
    syscall(SYS_close, fd);
    if (n <= 0)
        return 0;
    long close_paren = -1, i = 0;
    for (i = 0; i < n; i++)
        if (buf[i] == ')')
            close_paren = i;
    int field = 2; /* the command name, up to its last ')' */
    uint64_t v = 0;
    for (i = close_paren + 1; close_paren >= 0 && i < n && field <= 22; i++) {
        if (buf[i] == ' ')
            field++;
        else if (field == 22 && buf[i] >= '0' && buf[i] <= '9')
            v = v * 10 + (uint64_t)(buf[i] - '0');
    }
    return v;
}

/* Appends or removes one registration; *tab grows by mremap. */
GUARD static void apply(struct msg **tab, size_t *n, size_t *cap, const struct msg *m)
{
    if (m->op == OP_FORGET) {
        for (size_t i = 0; i < *n; i++)
            if ((*tab)[i].pgid == m->pgid) {
                (*tab)[i] = (*tab)[--*n];
                break;
            }
        return;
    }
    if (*n == *cap) {
        size_t bytes = *cap * sizeof(**tab), more = bytes ? 2 * bytes : 4096;
        void *p = bytes ? (void *)syscall(SYS_mremap, *tab, bytes, more, MREMAP_MAYMOVE)
                        : (void *)syscall(SYS_mmap, NULL, more, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return; /* cannot grow: this one goes unguarded */
        *tab = p;
        *cap = more / sizeof(**tab);
    }
    (*tab)[(*n)++] = *m;
}

/* The daemon is gone: SIGTERM to each group that is still ours, SIGKILL after its grace. */
GUARD static void stop_all(struct msg *tab, size_t n)
{
    int64_t t0 = now_ms();
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t start = start_of(tab[i].pgid);
        tab[i].op = start == 0 || start == tab[i].start ? TERMED : SKIPPED;
        if (tab[i].op == TERMED && syscall(SYS_kill, -tab[i].pgid, SIGTERM) == 0)
            live++;
        else
            tab[i].op = DONE;
    }
    if (live > 0)
        say("autoscaler: the daemon is gone: its children get SIGTERM, SIGKILL after grace\n");
    while (live > 0) {
        nap();
        int64_t t = now_ms() - t0;
        for (size_t i = 0; i < n; i++) {
            if (tab[i].op != TERMED)
                continue;
            if (syscall(SYS_kill, -tab[i].pgid, 0) < 0 || t >= tab[i].grace_ms) {
                syscall(SYS_kill, -tab[i].pgid, SIGKILL); /* no-op once the group is empty */
                tab[i].op = DONE;
                live--;
            }
        }
    }
}

GUARD __attribute__((noreturn)) static void guard_main(int fd)
{
    struct msg *tab = NULL, m;
    size_t n = 0, cap = 0;
    uint64_t all = ~0ULL;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof(all));
    syscall(SYS_setpgid, 0, 0);
    syscall(SYS_prctl, PR_SET_NAME, "as-guard", 0, 0, 0);
    syscall(SYS_chdir, "/");
    /* stdin and stdout on /dev/null (a caller reading the daemon's output to its end must not
     * wait for the guard), stderr kept for the one line it writes. */
    long null = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR);
    if (null >= 0 && null != fd) {
        syscall(SYS_dup3, null, 0, 0);
        syscall(SYS_dup3, null, 1, 0);
    }
    /* Only the socket (moved to 3) and 0-2 stay: the daemon's end of the socket must close when
     * the daemon dies, which a copy kept here would prevent. */
    if (fd != 3 && syscall(SYS_dup3, fd, 3, O_CLOEXEC) < 0)
        syscall(SYS_exit_group, 1);
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 4, ~0U, 0) < 0)
#endif
        for (long i = 4; i < 65536; i++)
            syscall(SYS_close, i);
    for (;;) {
        long got = syscall(SYS_read, 3, &m, sizeof(m));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break; /* end-of-file: the daemon is gone */
        if (got == (long)sizeof(m))
            apply(&tab, &n, &cap, &m);
    }
    stop_all(tab, n);
    syscall(SYS_exit_group, 0);
    __builtin_unreachable();
}

/* ---- the daemon's side ---- */

/* The intermediate child: forks the guard (a raw clone: no atfork handler in a copy of a
 * daemon that may have had other threads), tells its pid through the pipe, and exits, so the
 * guard is adopted by init (or the subreaper) and the daemon's children are only its own. */
GUARD __attribute__((noreturn)) static void fork_guard(int sock, int pipe_fd)
{
    long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        guard_main(sock);
    int32_t report = (int32_t)pid;
    syscall(SYS_write, pipe_fd, &report, sizeof(report));
    syscall(SYS_exit_group, 0);
    __builtin_unreachable();
}

static int start_guard(void)
{
    int sv[2], pfd[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    pid_t mid = pipe2(pfd, O_CLOEXEC) < 0 ? -1 : fork();
    if (mid == 0)
        fork_guard(sv[1], pfd[1]);
    int saved = errno;
    int32_t pid = -1;
    close(sv[1]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    if (mid > 0) {
        while (read(pfd[0], &pid, sizeof(pid)) < 0 && errno == EINTR)
            ;
        while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
            ;
        saved = EAGAIN; /* the guard's fork failed */
    }
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pid <= 0) {
        close(sv[0]);
        errno = saved;
        return -1;
    }
    g.fd = sv[0];
    g.pid = pid;
    g.owner = getpid();
    AS_LOG(AS_DEBUG, "guard: started (pid %ld)", (long)pid);
    return 0;
}

/* Sends m, starting a guard first when there is none (or a dead one). Returns 0 or -1. */
static int send_msg(const struct msg *m)
{
    if (g.fd >= 0 && g.owner != getpid()) { /* a fork of the daemon: not its guard */
        close(g.fd);
        g.fd = -1;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (g.fd < 0 && (m->op == OP_FORGET || start_guard() < 0))
            return m->op == OP_FORGET ? 0 : -1;
        ssize_t n = send(g.fd, m, sizeof(*m), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == (ssize_t)sizeof(*m))
            return 0;
        if (n >= 0 || (errno != EPIPE && errno != ECONNRESET))
            return -1;
        AS_LOG(AS_ERROR, "guard: the child guard (pid %ld) is gone; starting another", (long)g.pid);
        close(g.fd);
        g.fd = -1;
    }
    return -1;
}

static void report(int rc, pid_t pgid)
{
    if (rc < 0 && !g.failed)
        AS_LOG(AS_ERROR, "guard: cannot register process group %ld: %s", (long)pgid,
               strerror(errno));
    else if (rc == 0 && g.failed)
        AS_LOG(AS_INFO, "guard: registering children works again");
    g.failed = rc < 0;
}

void as_guard_watch(pid_t pgid, unsigned long long start, int64_t grace_ms)
{
    struct msg m = {OP_WATCH, (int32_t)pgid, grace_ms, start};
    report(send_msg(&m), pgid);
}

void as_guard_forget(pid_t pgid)
{
    struct msg m = {OP_FORGET, (int32_t)pgid, 0, 0};
    report(send_msg(&m), pgid);
}

pid_t as_guard_pid(void)
{
    return g.fd >= 0 && g.owner == getpid() ? g.pid : 0;
}
