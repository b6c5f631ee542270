/* Exponential backoff with "equal jitter": the n-th delay is drawn from
 * [d/2, d] where d = min(cap, base * 2^n). The jitter spreads retries of many groups that
 * failed together; the seed makes a sequence reproducible in tests. */
#ifndef AS_BACKOFF_H
#define AS_BACKOFF_H

#include <stdint.h>

struct as_backoff {
    int64_t base_ms, cap_ms;
    unsigned attempt;
    uint64_t rng;
};

/* seed 0 picks a fixed non-zero seed. */
void as_backoff_init(struct as_backoff *b, int64_t base_ms, int64_t cap_ms, uint64_t seed);

/* The delay before the next retry; advances the attempt counter. */
int64_t as_backoff_next(struct as_backoff *b);

/* Back to the first delay (after a success). */
void as_backoff_reset(struct as_backoff *b);

/* The upper bound of the n-th delay (0-based), without jitter. */
int64_t as_backoff_ceiling(const struct as_backoff *b, unsigned n);

#endif
