/* One-line-per-event logging to stderr and a log file. Registered secrets never reach a
 * line: every occurrence of one in a message is written as "***". */
#ifndef AS_LOG_H
#define AS_LOG_H

#include <stddef.h>
#include <stdint.h>

enum as_log_level { AS_DEBUG = 0, AS_INFO, AS_WARN, AS_ERROR, AS_OFF };

extern enum as_log_level as_log_min;

/* Checks the level before formatting anything. */
#define AS_LOG(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) >= as_log_min)                                                                 \
            as_log_write((level), __VA_ARGS__);                                                    \
    } while (0)

/* Opens (or, when path is unchanged, reopens) the log file; NULL means stderr only.
 * Returns 0, or -1 with errno set when the file cannot be opened (stderr keeps working). */
int as_log_open(const char *path);

/* Closes the log file. */
void as_log_close(void);

/* Whether lines also go to stderr (default on). */
void as_log_stderr(int on);

/* Parses "debug|info|warn|error|off"; returns -1 if unknown. */
int as_log_level_parse(const char *s);

/* Writes one line "2026-11-22T23:59:01.123Z LEVEL message". Every registered secret in the
 * message is replaced by "***" (before the line is cut to its bounded length); newlines in the
 * message become spaces. Thread-safe with as_log_secret. */
void as_log_write(enum as_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Values shorter than this are never registered as secrets: too short to be one, and masking
 * them would mangle every line. */
#define AS_LOG_SECRET_MIN 4

/* Registers the len bytes at s as a secret: from now on each of its occurrences in the message
 * of a log line is written as "***" (occurrences of several secrets that overlap or touch
 * become one "***"). The configuration registers every value a ${env:} or ${file:} reference
 * resolved to. Values shorter than AS_LOG_SECRET_MIN are ignored; a value registered twice is
 * kept once; secrets stay registered until as_log_secrets_clear. s is copied. Thread-safe.
 * Returns 0, or -1 on ENOMEM. */
int as_log_secret(const char *s, size_t len);

/* Forgets every registered secret (for tests and benchmarks). */
void as_log_secrets_clear(void);

/* Number of registered secrets. */
size_t as_log_secret_count(void);

/* Masks the registered secrets in s[0..len) in place as as_log_write does, and NUL-terminates
 * the result (never longer). Returns its length. */
size_t as_log_mask(char *s, size_t len);

/* The last fault of one thing (a source, a group's count), so that a fault repeated every
 * round is logged when it starts or changes and at DEBUG while it repeats ("timeout after
 * 801 ms" repeats "timeout after 800 ms": runs of digits do not count as a change). The
 * repeats are counted by the caller's own counters. Zero-initialise. */
struct as_fault_log {
    uint64_t digest; /* of the last fault's text with each run of digits as one digit */
    int active;      /* a fault was logged and has not recovered */
    unsigned long repeats;
};

/* Whether f holds a fault that has not recovered. */
static inline int as_fault_active(const struct as_fault_log *f) { return f->active; }

/* Logs the fault at level when it differs from f's last one, else at DEBUG. */
void as_log_fault(struct as_fault_log *f, enum as_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The thing works again: when a fault was logged, logs fmt at INFO with how many rounds it
 * lasted appended, and forgets the fault. */
void as_log_recovered(struct as_fault_log *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The columns of a line before its message: "2026-11-22T23:59:01.123Z INFO  ". */
#define AS_LOG_PREFIX_COLS 31

/* A line should fit a terminal of this many columns (docs/logging.md). */
#define AS_LOG_COLS 160

/* Shortens text in place to at most max bytes (max >= 24) for an INFO line, keeping what
 * matters most of a decision's reason: its last "; "-separated part whole (the rule that
 * settled the count) when it fits, else its last two fifths; and as much of its start as fits
 * before them, joined by " ... " ("... " when none does). Cuts fall between words where one
 * is near, never inside a UTF-8 character. Returns the new length (text unchanged when it
 * fits). */
size_t as_log_shorten(char *text, size_t max);

/* Copies url into buf without userinfo and with query values masked, for logging. */
const char *as_log_url(const char *url, char *buf, unsigned len);

#endif
