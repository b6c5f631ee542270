#include "util/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const as_stat_names[] = {"mean", "median", "p90", "p95", "p99", "max", NULL};

double as_stat_percent(enum as_stat s)
{
    static const double percent[] = {-1, 50, 90, 95, 99, 100};
    return percent[s];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void as_stats_sort(double *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_double);
}

/* ceil(p * n / 100), in 1..n. p * n is exact for whole percents and realistic n, so 95 % of
 * 20 samples is rank 19, not 20. */
static uint64_t rank_of(double p, uint64_t n)
{
    double r = ceil(p * (double)n / 100.0);
    if (r < 1)
        return 1;
    return r > (double)n ? n : (uint64_t)r;
}

double as_stats_percentile(const double *sorted, size_t n, double p)
{
    return sorted[rank_of(p, n) - 1];
}

double as_stats_of(const double *sorted, size_t n, enum as_stat s)
{
    if (s != AS_STAT_MEAN)
        return as_stats_percentile(sorted, n, as_stat_percent(s));
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += sorted[i];
    return sum / (double)n;
}

/* ---- histogram ---- */

#define SUB_COUNT (1u << AS_HIST_SUB_BITS)
#define HALF (SUB_COUNT / 2)

size_t as_hist_bucket(uint64_t us)
{
    if (us < SUB_COUNT)
        return (size_t)us;
    int msb = 63 - __builtin_clzll(us);
    if (msb >= AS_HIST_MAX_BITS)
        return AS_HIST_BUCKETS - 1;
    int shift = msb - (AS_HIST_SUB_BITS - 1); /* us >> shift is in [HALF, SUB_COUNT) */
    return SUB_COUNT + (size_t)(shift - 1) * HALF + (size_t)((us >> shift) - HALF);
}

uint64_t as_hist_bucket_low(size_t b)
{
    if (b < SUB_COUNT)
        return b;
    unsigned shift = (unsigned)((b - SUB_COUNT) / HALF) + 1;
    return ((uint64_t)((b - SUB_COUNT) % HALF) + HALF) << shift;
}

uint64_t as_hist_bucket_high(size_t b)
{
    if (b < SUB_COUNT)
        return b;
    unsigned shift = (unsigned)((b - SUB_COUNT) / HALF) + 1;
    return as_hist_bucket_low(b) + ((uint64_t)1 << shift) - 1;
}

int as_hist_init(struct as_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->buckets = calloc(AS_HIST_BUCKETS, sizeof(h->buckets[0]));
    return h->buckets ? 0 : -1;
}

void as_hist_fini(struct as_hist *h)
{
    free(h->buckets);
    memset(h, 0, sizeof(*h));
}

void as_hist_reset(struct as_hist *h)
{
    uint64_t *b = h->buckets;
    memset(h, 0, sizeof(*h));
    h->buckets = b;
    if (b != NULL)
        memset(b, 0, AS_HIST_BUCKETS * sizeof(b[0]));
}

void as_hist_add(struct as_hist *h, uint64_t us)
{
    if (h->count == 0 || us < h->min_us)
        h->min_us = us;
    if (us > h->max_us)
        h->max_us = us;
    h->count++;
    h->sum_us += us;
    h->buckets[as_hist_bucket(us)]++;
}

void as_hist_merge(struct as_hist *dst, const struct as_hist *src)
{
    if (src->count == 0)
        return;
    if (dst->count == 0 || src->min_us < dst->min_us)
        dst->min_us = src->min_us;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
    dst->count += src->count;
    dst->sum_us += src->sum_us;
    for (size_t i = 0; i < AS_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
}

double as_hist_percentile(const struct as_hist *h, double p)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = rank_of(p, h->count), seen = 0;
    size_t b = 0;
    for (; b < AS_HIST_BUCKETS - 1; b++) {
        seen += h->buckets[b];
        if (seen >= rank)
            break;
    }
    double mid = ((double)as_hist_bucket_low(b) + (double)as_hist_bucket_high(b)) / 2;
    if (mid < (double)h->min_us)
        return (double)h->min_us;
    return mid > (double)h->max_us ? (double)h->max_us : mid;
}

double as_hist_stat(const struct as_hist *h, enum as_stat s)
{
    if (h->count == 0)
        return 0;
    if (s == AS_STAT_MEAN)
        return (double)h->sum_us / (double)h->count;
    if (s == AS_STAT_MAX)
        return (double)h->max_us;
    return as_hist_percentile(h, as_stat_percent(s));
}
