/* A pid file of process groups, and the sweep of what an earlier instance left in it.
 *
 * The process pool (src/scalers/process.c) records its workers in <state_dir>/<group>.pids,
 * so that the next instance (the daemon restarted after a crash or a kill -9 that took the
 * child guard along too, or within the guard's grace, or the pool a reload starts) stops what
 * is left of them before it starts its own:
 *
 *     autoscaler process pool
 *     boot <the kernel's boot id>
 *     owner <daemon pid> <daemon start time> <instance>
 *     <pid> <start time> <slot> <session>        one line per process group
 *
 * A pid names a process only together with its start time (field 22 of /proc/PID/stat, clock
 * ticks after boot), since pids are reused. What counts as left of an entry:
 *   - its leader, when a process with that pid and that start time runs (not a zombie);
 *   - else the members of its process group that are in its session (grandchildren), since
 *     Linux never reuses a pid while a process group of that id exists;
 *   - nothing when the pid now names a process with another start time: that process, and
 *     anything in its group, is never touched.
 * A file from before a reboot (another boot id) lists nothing that can still run. A file
 * whose owner is another daemon that is still running (two daemons sharing a state_dir, or a
 * --dry-run beside the real one) is not touched at all, and the instance keeps no pid file.
 *
 * The file is replaced whole (temporary file, rename), never fsync'ed: it matters only while
 * the kernel runs (a power loss takes every process with it). An instance writes it only
 * while the file names it as owner (or is missing): a pool that a reload replaced and that is
 * still stopping its workers leaves the file to its successor, which took it over at open. */
#ifndef AS_PIDFILE_H
#define AS_PIDFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

struct as_loop;
struct as_pidfile;

#define AS_PIDFILE_POLL_MS 50      /* how often a sweep looks at what is left */
#define AS_PIDFILE_GIVE_UP_MS 5000 /* after SIGKILL: a process stuck in the kernel is given up */

/* One process group the instance runs. */
struct as_pidfile_entry {
    pid_t pid;                /* its leader, whose pid is the process group id */
    unsigned long long start; /* the leader's start time (as_proc_stat); 0: unknown, skipped */
    int slot;                 /* the caller's label for it (the pool's slot) */
};

/* Called from the loop when the sweep has finished (nothing of the earlier instance is left). */
typedef void (*as_pidfile_swept_fn)(void *arg);

/* Opens path for this instance. What an earlier instance listed there and is still there is
 * stopped: SIGTERM to its process group now, SIGKILL grace_ms later (and at each poll after
 * that, until the group is empty or AS_PIDFILE_GIVE_UP_MS have passed). When the file was
 * written by this same daemon (a reload replaced the pool, which is still stopping its
 * workers), an entry whose leader is still a child of the daemon gets no signal: the old pool
 * stops it with its own grace, and the sweep waits for it. Then the file is rewritten with
 * this instance as its owner. Everything found and done is logged under `who` (copied), e.g.
 * "scaler/process[web]".
 *
 * swept(arg) runs from the loop when the sweep finishes, never from inside this call, and
 * only if there was something to sweep (as_pidfile_left() > 0 on return).
 *
 * Returns a handle (free with as_pidfile_close), or NULL with err on ENOMEM. A file that cannot
 * be read or written is logged, never an error. */
struct as_pidfile *as_pidfile_open(struct as_loop *loop, const char *path, const char *who,
                                   int64_t grace_ms, as_pidfile_swept_fn swept, void *arg,
                                   struct as_err *err);

/* How many entries of the earlier instance are still being stopped. NULL: 0. */
int as_pidfile_left(const struct as_pidfile *pf);

/* Rewrites the file: entries (n of them; those with start 0 are left out) and what is left of
 * the earlier instance, so that a crash during the sweep loses none of them. Does nothing when
 * another instance owns the file now. A failure is logged when it starts and when it ends.
 * NULL: no-op. */
void as_pidfile_save(struct as_pidfile *pf, const struct as_pidfile_entry *e, size_t n);

/* Removes the file if this instance still owns it and nothing of the earlier instance is left
 * (the caller has stopped its own processes), cancels the sweep and frees pf. NULL: no-op. */
void as_pidfile_close(struct as_pidfile *pf);

#endif
