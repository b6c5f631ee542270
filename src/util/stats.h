/* Order statistics of response times: exact ones over a small array of samples, and a
 * histogram with a bounded relative error for the many samples of a load test.
 *
 * Percentiles are by nearest rank, as wrk and HdrHistogram report them: the p-th percentile of
 * n samples is the smallest sample with at least p % of the samples at or below it (rank
 * ceil(p * n / 100), at least 1). The median is the 50th percentile by the same rule. */
#ifndef AS_STATS_H
#define AS_STATS_H

#include <stddef.h>
#include <stdint.h>

/* The statistics a source may report of a set of response times. */
enum as_stat { AS_STAT_MEAN, AS_STAT_MEDIAN, AS_STAT_P90, AS_STAT_P95, AS_STAT_P99, AS_STAT_MAX };

/* NULL-terminated names in enum order ("mean", "median", "p90", "p95", "p99", "max"), for
 * option tables. */
extern const char *const as_stat_names[];

/* The percentile of a statistic that is one (median: 50, max: 100); -1 for the mean. */
double as_stat_percent(enum as_stat s);

/* Sorts v ascending in place. */
void as_stats_sort(double *v, size_t n);

/* The p-th percentile (0 < p <= 100) of n >= 1 samples sorted ascending, by nearest rank. */
double as_stats_percentile(const double *sorted, size_t n, double p);

/* Statistic s of n >= 1 samples sorted ascending. */
double as_stats_of(const double *sorted, size_t n, enum as_stat s);

/* ---- a histogram of whole microseconds ----
 *
 * HdrHistogram's layout: values below 256 us have a bucket each; above, every power of two is
 * split into 128 buckets, so a bucket is at most 1/128 of its values wide and a percentile,
 * reported as its bucket's midpoint, is within 0.4 % of the true sample (and within [min,
 * max], which are exact, as are the count, the sum and the mean). Values from 2^36 us (19 h)
 * on share the last bucket. About 30 KiB per histogram, whatever the number of samples. */

#define AS_HIST_SUB_BITS 8
#define AS_HIST_MAX_BITS 36
#define AS_HIST_BUCKETS                                                                            \
    ((1u << AS_HIST_SUB_BITS) +                                                                    \
     (AS_HIST_MAX_BITS - AS_HIST_SUB_BITS) * (1u << (AS_HIST_SUB_BITS - 1)))

struct as_hist {
    uint64_t count;
    uint64_t sum_us;
    uint64_t min_us, max_us; /* 0 when count is 0 */
    uint64_t *buckets;       /* AS_HIST_BUCKETS counts */
};

/* Allocates an empty histogram. Returns 0, or -1 on ENOMEM (h is then empty and freeable). */
int as_hist_init(struct as_hist *h);

/* Frees the buckets; the struct may be initialised again. Tolerates a zeroed struct. */
void as_hist_fini(struct as_hist *h);

/* Forgets every sample. */
void as_hist_reset(struct as_hist *h);

/* Records one sample. */
void as_hist_add(struct as_hist *h, uint64_t us);

/* Adds every sample of src to dst (same layout). */
void as_hist_merge(struct as_hist *dst, const struct as_hist *src);

/* The p-th percentile (0 < p <= 100) in microseconds, by nearest rank; 0 when empty. */
double as_hist_percentile(const struct as_hist *h, double p);

/* Statistic s in microseconds; 0 when empty. */
double as_hist_stat(const struct as_hist *h, enum as_stat s);

/* The bucket of a value, and the smallest and largest value a bucket holds (for tests). */
size_t as_hist_bucket(uint64_t us);
uint64_t as_hist_bucket_low(size_t b);
uint64_t as_hist_bucket_high(size_t b);

#endif
