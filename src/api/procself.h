/* The process' own figures for /metrics (process_* as Prometheus' client libraries export
 * them), from /proc/self. The parsers of the /proc texts are separate and pure (fuzzed). */
#ifndef AS_API_PROCSELF_H
#define AS_API_PROCSELF_H

#include <stddef.h>
#include <stdint.h>

struct as_procself {
    double cpu_seconds;   /* user + system */
    uint64_t rss_bytes;   /* resident set */
    uint64_t vsize_bytes; /* virtual size */
    long open_fds, max_fds;
    double start_seconds; /* Unix time the process started */
};

/* Reads /proc/self/stat, /proc/self/fd, /proc/stat and the descriptor limit. Returns 0, or -1
 * when /proc cannot be read. */
int as_procself_read(struct as_procself *p);

/* From the text of /proc/self/stat (len bytes): utime, stime and starttime in clock ticks,
 * vsize in bytes, rss in pages. Returns 0, or -1 when the text is not such a line. */
int as_procself_parse_stat(const char *text, size_t len, unsigned long long *utime,
                           unsigned long long *stime, unsigned long long *start,
                           unsigned long long *vsize, long long *rss);

/* The boot time (`btime`, Unix seconds) from the text of /proc/stat. Returns 0 or -1. */
int as_procself_parse_btime(const char *text, size_t len, unsigned long long *btime);

#endif
