/* One-line-per-event logging to stderr and a log file. */
#ifndef AS_LOG_H
#define AS_LOG_H

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

/* Writes one line "2026-11-22T23:59:01.123Z LEVEL message". Newlines in the message become spaces.
 */
void as_log_write(enum as_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Copies url into buf without userinfo and with query values masked, for logging. */
const char *as_log_url(const char *url, char *buf, unsigned len);

#endif
