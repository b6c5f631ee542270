/* The parsers of source `cpu` (cpu.c), apart so that tests and fuzz targets can feed them text
 * instead of the files in /proc. None allocates. */
#ifndef AS_SOURCES_CPU_H
#define AS_SOURCES_CPU_H

#include <stddef.h>

/* The aggregate "cpu" line of /proc/stat, in clock ticks summed over every CPU: total is user +
 * nice + system + idle + iowait + irq + softirq + steal (guest and guest_nice are already part
 * of user and nice), idle is idle + iowait. */
struct as_cpu_sample {
    unsigned long long total, idle;
};

/* Reads the first line of /proc/stat text ("cpu  user nice system idle [iowait irq softirq
 * steal guest guest_nice]"; at least the first four fields). Returns 0, or -1 with a reason in
 * why (len bytes) when the text is not that line. */
int as_cpu_parse_stat(const char *text, size_t len, struct as_cpu_sample *out, char *why,
                      size_t whylen);

/* The share of the ticks between two samples that were busy: 0..1 across all cores. Returns 0,
 * or -1 with a reason when no tick passed or the counters went backwards (a different boot, a
 * counter reset). */
int as_cpu_utilization(const struct as_cpu_sample *prev, const struct as_cpu_sample *cur,
                       double *out, char *why, size_t whylen);

/* Reads field `which` (0: 1 minute, 1: 5 minutes, 2: 15 minutes) of /proc/loadavg text
 * ("0.52 0.58 0.59 1/467 12345"). Returns 0, or -1 with a reason. */
int as_cpu_parse_loadavg(const char *text, size_t len, int which, double *out, char *why,
                         size_t whylen);

#endif
