/* Child processes on the event loop.
 *
 * A child is started without a shell (execvp semantics: argv[0] is searched in the daemon's
 * PATH unless it contains a '/'), in its own process group so that a signal reaches its
 * grandchildren too, with an empty signal mask and every signal at its default disposition
 * (the loop blocks SIGCHLD, SIGTERM... and ignores SIGPIPE in the daemon), stdin on /dev/null
 * (or opts->stdin_fd) and no other inherited descriptor but the one opts->pass_fd may name (as
 * descriptor AS_PROC_PASS_FD). Output is captured into bounded buffers through non-blocking pipes,
 * streamed line by line, inherited, or discarded.
 *
 * No child outlives the daemon unnoticed: each one is started with a parent-death signal
 * (PR_SET_PDEATHSIG, AS_PROC_DEATH_SIGNAL), so the kernel signals it when the daemon dies,
 * even of SIGKILL. Between the clone and the prctl the daemon may already have died; the child
 * then sees another parent than the one recorded before the clone and exits at once. The
 * signal is SIGTERM, not SIGKILL: the same request a scale-down or a stop makes, so a worker
 * finishes or hands back its job as it would on any stop. The death signal alone leaves two
 * gaps: a child ignoring SIGTERM survives, and grandchildren (fork clears the death signal) get
 * nothing. The child guard (guard.h) closes both: every child's process group is registered
 * with it, and when the daemon dies it sends the group SIGTERM and SIGKILL after grace_ms. The
 * process pool also records its workers in a pid file and stops what is left of them when the
 * daemon starts again (pidfile.h), should the guard have died too. The death signal fires when
 * the *thread* that started the child exits: children are spawned from the loop thread, which
 * lives as long as the daemon.
 *
 * posix_spawn cannot set a death signal, so the child is started the way glibc's posix_spawn
 * starts one: clone(CLONE_VM | CLONE_VFORK) on a stack of its own, the daemon suspended until
 * the child has exec'ed or failed to. The page tables are not copied, so a spawn costs the same
 * (about a millisecond) whatever the daemon's size, where fork took 30 ms with 512 MiB of heap.
 * Between clone and exec the child makes raw system calls only (no allocation, lock, libc state
 * or sanitizer), and writes why an exec failed where the resumed parent reads it, so
 * as_proc_spawn still fails synchronously when the program cannot be run.
 *
 * Exactly one completion callback runs per started child, from the loop, once the child has
 * been reaped and its pipes have reached end-of-file. A child that fails to start is reported
 * synchronously by as_proc_spawn instead, and its callback never runs. */
#ifndef AS_PROC_H
#define AS_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

#include "util/err.h"

struct as_loop;
struct as_proc;

#define AS_PROC_CAPTURE_MAX (64 * 1024) /* default bytes kept per captured stream */
#define AS_PROC_GRACE_MS 2000           /* default SIGTERM -> SIGKILL delay */
#define AS_PROC_DRAIN_MS 500  /* pipes are read this long after the child exits, then closed */
#define AS_PROC_LINE_MAX 1024 /* AS_PROC_LINES: longer lines are split */
#define AS_PROC_DEATH_SIGNAL SIGTERM /* what a child gets when the daemon dies (see above) */
#define AS_PROC_PASS_FD 3            /* where the child finds opts->pass_fd */

enum as_proc_output {
    AS_PROC_CAPTURE = 0, /* into a bounded buffer passed to the completion callback */
    AS_PROC_INHERIT,     /* the daemon's own stdout / stderr */
    AS_PROC_NULL,        /* /dev/null */
    AS_PROC_LINES,       /* each line to opts->on_line as it arrives */
};

enum as_proc_stream { AS_PROC_STDOUT = 1, AS_PROC_STDERR = 2 };

/* One line of output without its newline, NUL-terminated (len excludes the NUL); borrowed
 * for the call. A last line without a newline is delivered at end-of-file. */
typedef void (*as_proc_line_fn)(int stream, const char *line, size_t len, void *arg);

/* Everything is borrowed for the duration of as_proc_spawn only. */
struct as_proc_opts {
    const char *const *argv;      /* NULL-terminated, argv[0] non-empty */
    const char *const *env;       /* NULL-terminated "NAME=value" entries added to the daemon's
                                     environment (replacing entries of the same name); NULL: none */
    const char *cwd;              /* working directory; NULL: the daemon's */
    enum as_proc_output out, err; /* stdout and stderr; 0 is AS_PROC_CAPTURE */
    size_t capture_max;           /* bytes kept per captured stream; 0: AS_PROC_CAPTURE_MAX */
    int64_t timeout_ms;           /* > 0: as_proc_terminate when it expires; 0: none */
    int64_t grace_ms;             /* SIGTERM -> SIGKILL delay on timeout, and the guard's when the
                                     daemon dies (guard.h); 0: AS_PROC_GRACE_MS */
    as_proc_line_fn on_line;      /* required for AS_PROC_LINES; called with done's arg */
    int pass_fd;                  /* >= 3: a descriptor of the daemon the child inherits as
                                     AS_PROC_PASS_FD (e.g. the write end of a status pipe; the
                                     caller keeps and closes its own); 0: none */
    int stdin_fd;                 /* >= 3: a descriptor of the daemon the child reads as its
                                     standard input (e.g. a memfd holding what it is to read;
                                     the caller keeps and closes its own); 0: /dev/null */
};

/* What a finished child did. Borrowed for the duration of the completion callback. */
struct as_proc_result {
    pid_t pid;
    int exit_code;         /* 0..255 when the child exited, -1 when a signal killed it */
    int signo;             /* the signal that killed it, 0 when it exited */
    int timed_out;         /* the timeout expired and the process group was terminated */
    int64_t timeout_ms;    /* the timeout it was given, 0 for none */
    int64_t elapsed_ms;    /* from spawn to exit, monotonic */
    const char *out, *err; /* captured stdout / stderr, NUL-terminated; "" when not captured.
                              The first capture_max bytes are kept, the rest dropped. */
    size_t out_len, err_len;
    int out_truncated, err_truncated; /* bytes were dropped */
};

typedef void (*as_proc_cb)(const struct as_proc_result *r, void *arg);

/* Starts opts->argv. Returns a handle owned by this module, valid until done returns or
 * as_proc_abandon is called. done runs exactly once, from the loop (never from inside this
 * call), after the child has been reaped and its pipes have reached end-of-file, or
 * AS_PROC_DRAIN_MS after the exit when a grandchild keeps them open.
 *
 * Returns NULL when no child was started; done will not run. err->msg then says why
 * ("cannot run foo: No such file or directory") and errno is ENOENT (program not found,
 * what a shell reports as exit 127), EACCES or ENOEXEC (not executable, exit 126), ENOTDIR
 * (bad working directory), EINVAL (bad argv or env), or a resource error (ENOMEM, EMFILE). */
struct as_proc *as_proc_spawn(struct as_loop *loop, const struct as_proc_opts *opts,
                              as_proc_cb done, void *arg, struct as_err *err);

/* The child's pid, which is also its process group id. */
pid_t as_proc_pid(const struct as_proc *p);

/* The child's start time in clock ticks after boot (as_proc_stat), 0 if it could not be read:
 * with the pid, it names the child for the whole uptime. */
unsigned long long as_proc_start_ticks(const struct as_proc *p);

/* Sends signo to the child's process group. After the child has been reaped it only reaches
 * what is left of the group. Returns 0, or -1 with errno (ESRCH: nothing left to signal). */
int as_proc_kill(struct as_proc *p, int signo);

/* Sends SIGTERM to the process group now and SIGKILL grace_ms later (0: AS_PROC_GRACE_MS)
 * unless the child has finished by then. A second call keeps the first deadline. If the
 * child exits but the rest of its group keeps the pipes open, that rest gets SIGKILL when
 * AS_PROC_DRAIN_MS end. Returns 0, or -1 with errno. */
int as_proc_terminate(struct as_proc *p, int64_t grace_ms);

/* Sends SIGKILL to the process group, stops watching and frees the handle: done never runs.
 * The loop still reaps the child. NULL is a no-op, and so is a call from inside done (the
 * handle is freed when done returns). May be called from on_line. */
void as_proc_abandon(struct as_proc *p);

/* Formats how a child ended for messages: "exit 3", "killed by signal 9 (Killed)",
 * "timeout after 500 ms". Returns buf. */
const char *as_proc_describe(const struct as_proc_result *r, char *buf, size_t len);

/* What /proc/PID/stat says of a process (proc(5)). */
struct as_proc_stat {
    char state;                     /* 'R', 'S', 'D', ... 'Z' for a zombie */
    pid_t ppid, pgid, sid;          /* parent, process group, session */
    unsigned long long utime;       /* user and system CPU time, in clock ticks */
    unsigned long long stime;       /* (sysconf(_SC_CLK_TCK) per second) */
    unsigned long long start_ticks; /* field 22: start time in clock ticks after boot; with
                                       the pid, it names one process for the whole uptime */
};

/* Reads /proc/pid/stat into *st. Returns 0, or -1 with errno (ENOENT: no such process). */
int as_proc_stat(pid_t pid, struct as_proc_stat *st);

typedef void (*as_proc_each_fn)(pid_t pid, const struct as_proc_stat *st, void *arg);

/* Calls fn for every process in /proc (a process that exits meanwhile is skipped). Returns 0,
 * or -1 with errno when /proc cannot be read. */
int as_proc_each(as_proc_each_fn fn, void *arg);

#endif
