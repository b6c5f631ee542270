/* The process pool's status channel and its choice of workers to stop (a helper of
 * src/scalers/process.c, no ops table; pure: no I/O, no clock).
 *
 * Status channel: each worker gets the write end of a pipe as descriptor AS_STATUS_FD, named in
 * its environment as AUTOSCALER_STATUS_FD, and writes one line per change of state:
 *
 *     BUSY            it took a task
 *     BUSY <task-id>  the same, naming the task (printable ASCII, spaces allowed; the first
 *                     AS_STATUS_TASK_MAX - 1 bytes are kept)
 *     FREE            it finished the task and waits for the next one
 *
 * A trailing carriage return is ignored. A line that begins with "BUSY " is BUSY whatever
 * follows (taking a busy worker for a free one is the mistake that loses work): a longer task
 * id is cut, a byte outside printable ASCII becomes '?', a line longer than AS_STATUS_LINE_MAX
 * is judged by its first bytes. FREE must be exact. Anything else (another word, lower case,
 * "FREE now") is garbage: ignored and counted, never fatal; the worker keeps the status it had.
 * A worker that never writes has the status "unknown" and the pool falls back to sampling its
 * CPU time. See docs/scalers/process.md. */
#ifndef AS_PROCESS_STATUS_H
#define AS_PROCESS_STATUS_H

#include <stddef.h>
#include <stdint.h>

#define AS_STATUS_FD 3         /* the descriptor a worker writes its status lines to */
#define AS_STATUS_LINE_MAX 128 /* bytes of a line without its newline; longer is garbage */
#define AS_STATUS_TASK_MAX 64  /* a task id's bytes, NUL included */

enum as_wstate {
    AS_WSTATE_UNKNOWN = 0, /* never reported: judged by its CPU time */
    AS_WSTATE_FREE,
    AS_WSTATE_BUSY,
};

/* "unknown", "FREE" or "BUSY". */
const char *as_wstate_name(enum as_wstate s);

/* One parsed line. */
struct as_status_line {
    enum as_wstate state; /* FREE or BUSY */
    char task[AS_STATUS_TASK_MAX];
};

/* Parses one line (without its newline; len bytes, NUL not needed; any length). Returns 0 with
 * *out, or -1 when the line is garbage. */
int as_status_parse(const char *line, size_t len, struct as_status_line *out);

/* A stream of status lines, split as they arrive in arbitrary chunks. Zero it to start. */
struct as_status_reader {
    char buf[AS_STATUS_LINE_MAX + 1];
    size_t len;
    int overlong; /* the line being read is too long: its first bytes kept, the rest dropped */
};

/* Called per complete line: line non-NULL when it parsed, NULL for garbage; raw holds its first
 * bytes (at most AS_STATUS_LINE_MAX + 1, not NUL-terminated; borrowed for the call). */
typedef void (*as_status_fn)(const struct as_status_line *line, const char *raw, size_t rawlen,
                             void *arg);

/* Feeds n bytes of the stream; calls fn for every line they complete. An overlong line counts
 * once, when its newline arrives, judged by its first AS_STATUS_LINE_MAX + 1 bytes. A partial
 * line at the end of the stream is dropped by the caller (the worker has gone). */
void as_status_feed(struct as_status_reader *r, const char *data, size_t n, as_status_fn fn,
                    void *arg);

/* A wanted worker as the choice of whom to stop sees it. */
struct as_release_cand {
    int slot;             /* the pool's slot, unique */
    int running;          /* 0: no process (a crashed worker waiting to restart) */
    enum as_wstate state; /* BUSY: it reported BUSY, or without status its CPU time moved at
                             the last sample; FREE; unknown */
    int64_t idle_ms;      /* not BUSY: how long it has been idle (FREE: since its FREE line;
                             unknown: since its CPU time last moved, 0 if never sampled) */
    int64_t busy_ms;      /* BUSY: how long it has been busy */
};

/* Sorts c[0..n) in the order a scale-down stops workers:
 *   1. slots without a process (nothing runs there, nothing is lost);
 *   2. workers that are not BUSY, the longest idle first: FREE ones and those that never
 *      reported, by the same idle time the pool reports to the policies (so the workers the
 *      `queue` policy counts as idle are the ones released);
 *   3. BUSY workers last, the one busy for the shortest time first (the least work lost).
 * Ties: the highest slot first. A BUSY worker therefore never goes while one that is not BUSY
 * remains. */
void as_release_order(struct as_release_cand *c, size_t n);

#endif
