/* The child guard: a small process that outlives the daemon just long enough to stop what the
 * daemon started, when the daemon dies without stopping it (SIGKILL, a crash, the OOM killer).
 *
 * The death signal (proc.h) reaches only the daemon's own children, and only as a SIGTERM they
 * may ignore; a grandchild in a child's process group gets nothing. The guard closes both gaps
 * without waiting for a restart. It is forked once, at the first spawn, through an intermediate
 * child that exits at once (so it is adopted by init or the subreaper, and the daemon's children
 * are only the ones it started), into a process group of its own (a signal to the daemon's
 * group does not take it along), with every signal blocked, and named "as-guard" (so `pkill
 * autoscaler` does not match it). It reads a socket whose only
 * other end is the daemon's: every child's process group is registered when the child starts
 * and forgotten when the daemon is done with it. End-of-file on the socket means the daemon is
 * gone, however it died: each registered group whose leader is still the process it was (same
 * pid, same start time) or is gone (its group may live on) gets SIGTERM, and SIGKILL after that
 * child's grace; a pid that now names another process is never touched. Then the guard exits.
 * A clean stop of the daemon leaves nothing registered, so the guard just exits.
 *
 * From fork to exit the guard makes raw system calls only (the daemon may have other threads at
 * the fork), and keeps no log: one line on stderr says when it acts. Registering never blocks
 * the loop; a guard that has died is logged and replaced for the children started after. */
#ifndef AS_GUARD_H
#define AS_GUARD_H

#include <stdint.h>
#include <sys/types.h>

/* Registers the process group pgid, whose leader started at `start` (clock ticks after boot,
 * as_proc_stat) and gets grace_ms between SIGTERM and SIGKILL. Starts the guard on first use
 * (and in a forked copy of the daemon, a guard of its own). Failures are logged. */
void as_guard_watch(pid_t pgid, unsigned long long start, int64_t grace_ms);

/* Forgets pgid: the daemon has reaped its leader and is done with the group. */
void as_guard_forget(pid_t pgid);

/* The guard's pid, or 0 when none runs for this process (tests). */
pid_t as_guard_pid(void);

#endif
