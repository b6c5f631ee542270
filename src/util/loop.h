/* The event loop: one thread, CLOCK_MONOTONIC, a timer heap, epoll for file descriptors,
 * signalfd for signals, and child-exit watchers. Modelled on Redis' ae: a timer callback
 * returns the delay to its next run. */
#ifndef AS_LOOP_H
#define AS_LOOP_H

#include <stdint.h>
#include <sys/types.h>

struct as_loop;
struct as_timer;

#define AS_READ 0x1
#define AS_WRITE 0x2
#define AS_TIMER_STOP (-1)

/* Returns the delay in ms until the next run, or AS_TIMER_STOP to drop the timer. */
typedef int64_t (*as_timer_fn)(struct as_loop *loop, void *arg);
typedef void (*as_fd_fn)(struct as_loop *loop, int fd, int events, void *arg);
typedef void (*as_signal_fn)(struct as_loop *loop, int signo, void *arg);
/* status is as from waitpid(). */
typedef void (*as_child_fn)(struct as_loop *loop, pid_t pid, int status, void *arg);

/* Creates a loop and blocks SIGINT, SIGTERM, SIGHUP, SIGCHLD and SIGPIPE... for the calling
 * thread (they are delivered through the loop instead). NULL on failure. */
struct as_loop *as_loop_new(void);

/* Frees the loop and any timers left. Watchers must have been removed. */
void as_loop_free(struct as_loop *loop);

/* Runs until as_loop_stop(). Returns 0, or -1 on an epoll failure. */
int as_loop_run(struct as_loop *loop);

/* Runs one iteration, waiting at most max_wait_ms for events (tests). */
void as_loop_once(struct as_loop *loop, int64_t max_wait_ms);

void as_loop_stop(struct as_loop *loop);

/* Monotonic milliseconds, cached at the start of each iteration. */
int64_t as_loop_now(const struct as_loop *loop);

/* Schedules fn after delay_ms. The handle is valid until fn returns AS_TIMER_STOP or the
 * timer is cancelled. NULL on ENOMEM. */
/* In a timer's callback: how many ms after it was due it runs (the loop's own lateness); 0
 * elsewhere. */
int64_t as_loop_timer_lateness(const struct as_loop *loop);

struct as_timer *as_loop_add_timer(struct as_loop *loop, int64_t delay_ms, as_timer_fn fn,
                                   void *arg);

/* Cancels a pending timer; NULL is a no-op. Calling it from the timer's own callback makes
 * the timer stop after the callback returns. */
void as_loop_cancel_timer(struct as_loop *loop, struct as_timer *t);

/* The arg a pending timer was added with. */
void *as_loop_timer_arg(const struct as_timer *t);

/* Watches fd for events (AS_READ|AS_WRITE); events == 0 removes the watch. Returns 0 or -1. */
int as_loop_watch_fd(struct as_loop *loop, int fd, int events, as_fd_fn fn, void *arg);

/* One handler per signal (SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2). Returns 0 or -1. */
int as_loop_on_signal(struct as_loop *loop, int signo, as_signal_fn fn, void *arg);

/* Calls fn once when pid exits (the loop reaps it). Returns 0 or -1. */
int as_loop_watch_child(struct as_loop *loop, pid_t pid, as_child_fn fn, void *arg);

/* Forgets the watcher for pid (the child is still reaped when it exits). */
void as_loop_unwatch_child(struct as_loop *loop, pid_t pid);

/* The signal mask children should start with (everything unblocked). */
void as_loop_child_sigmask(void *sigset_out);

#endif
