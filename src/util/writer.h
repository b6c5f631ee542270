/* Whole-file writes off the loop thread. One writer thread takes atomic file replacements
 * (temporary file, write, [fsync], rename, [fsync of the directory]) from a queue, so the
 * loop never waits on the disk: a rename alone can take 100+ ms on a busy disk, and thousands
 * of groups saving their state each interval would otherwise stall every timer.
 *
 * Threads. Every function below is called on the thread that runs the loop the writer was
 * created with (as_writer_pending and as_writer_stats excepted: any thread). Callbacks and
 * the error hook run on that thread too, from the loop (the writer thread signals an
 * eventfd watched with as_loop_watch_fd), or from as_writer_flush/as_writer_free. Callbacks
 * may call as_writer_put, as_writer_forget and as_writer_flush, not as_writer_free. The
 * writer thread blocks every signal (the loop takes them through a signalfd) and never logs:
 * errors come back as strings.
 *
 * Order. Durable writes go ahead of non-durable ones; within each kind, first queued, first
 * written. Writes to one path never overtake each other: at most one is queued per path (a
 * later put replaces it) and one thread writes them all.
 *
 * Files. A write to PATH goes through PATH.tmp in the same directory, so two writers in one
 * process must never write the same path (a programmer error: their temporary files would
 * collide). On any failure the temporary file is removed and PATH is left as it was. */
#ifndef AS_WRITER_H
#define AS_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct as_loop;
struct as_writer;

/* Result of one write, on the loop thread: ok 1, or 0 with error (a message naming the file
 * and the cause, borrowed for the duration of the call). ok 0 means the old file is whole,
 * except when only the final fsync of the directory failed: the new file may be in place
 * then, but is not known to be durable. */
typedef void (*as_writer_cb)(int ok, const char *error, void *arg);

/* Called on the loop once for every failed write, with its path (both borrowed for the call). */
typedef void (*as_writer_error_fn)(const char *path, const char *error, void *arg);

/* Starts the writer thread; completions are delivered on loop, which must outlive the writer.
 * NULL on failure (no thread left running). */
struct as_writer *as_writer_new(struct as_loop *loop);

/* Queues an atomic whole-file write of data (len bytes) to path: PATH.tmp in the same
 * directory, write, [fsync], rename over path, [fsync of the directory]. A missing directory
 * is created (mkdir -p, mode 0750) and the write retried once.
 *
 * durable: both fsyncs are done (the write survives a power loss once done reports ok), and
 * the write goes ahead of every queued non-durable one. Without it the file is still always
 * whole (safe against a crash of the daemon), but the page cache holds it.
 *
 * Coalescing: a queued write to the same path that has not started yet is replaced: only the
 * newest data is written, durable if either was, and every callback of the replaced puts
 * runs with the result of the one written. A write already in progress is not replaced: the
 * new one is queued behind it.
 *
 * Ownership: the writer takes data in every case (it was allocated with malloc; the writer
 * frees it, also when this call fails); path is copied. done may be NULL; a failure is
 * reported to the error hook in any case, and to done when set.
 * Returns a ticket > 0 (for as_writer_forget), or 0 on ENOMEM: nothing queued, done will
 * not run. */
uint64_t as_writer_put(struct as_writer *w, const char *path, char *data, size_t len, int durable,
                       as_writer_cb done, void *arg);

/* Forgets the callback of a ticket (its owner is going away); the write itself still
 * happens. Returns the arg the callback was put with, so that its owner can free it, or NULL
 * when there was nothing to forget: the callback already ran (or is running), the put had no
 * callback, or ticket is 0. */
void *as_writer_forget(struct as_writer *w, uint64_t ticket);

/* Sets the hook called on the loop for every failed write (logging, counting); fn NULL
 * removes it. */
void as_writer_on_error(struct as_writer *w, as_writer_error_fn fn, void *arg);

/* Blocks until every queued write is done and its callback has run, including writes queued
 * by those callbacks (shutdown, tests). Releases as_writer_hold. */
void as_writer_flush(struct as_writer *w);

/* Flushes (the remaining callbacks run here), stops the thread, stops watching the eventfd,
 * frees. Call it before as_loop_free. NULL is a no-op. */
void as_writer_free(struct as_writer *w);

/* Writes accepted and not yet finished by the thread (queued or in progress; coalesced puts
 * count once). Any thread. */
size_t as_writer_pending(const struct as_writer *w);

struct as_writer_stats {
    uint64_t puts;      /* accepted puts */
    uint64_t coalesced; /* puts that replaced a queued write */
    uint64_t written;   /* writes that succeeded */
    uint64_t failed;    /* writes that failed */
    size_t pending;     /* as as_writer_pending */
};

/* A snapshot of the counters (metrics, tests). Any thread. */
void as_writer_stats(const struct as_writer *w, struct as_writer_stats *out);

/* Tests: while hold is set the thread starts no new write (the one in progress finishes),
 * so puts queue up and coalesce. as_writer_flush and as_writer_free release it. */
void as_writer_hold(struct as_writer *w, int hold);

/* Tests: replaces write(2) and fsync(2) in every writer of the process (NULL restores the
 * system call), to inject EINTR, short writes and failures. Set before as_writer_new. */
struct as_writer_sys {
    ssize_t (*write)(int fd, const void *buf, size_t n);
    int (*fsync)(int fd);
};
void as_writer_sys_set(const struct as_writer_sys *sys);

#endif
