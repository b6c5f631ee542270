#include "util/backoff.h"

void as_backoff_init(struct as_backoff *b, int64_t base_ms, int64_t cap_ms, uint64_t seed)
{
    b->base_ms = base_ms > 0 ? base_ms : 1;
    b->cap_ms = cap_ms >= b->base_ms ? cap_ms : b->base_ms;
    b->attempt = 0;
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

void as_backoff_reset(struct as_backoff *b)
{
    b->attempt = 0;
}

int64_t as_backoff_ceiling(const struct as_backoff *b, unsigned n)
{
    int64_t d = b->base_ms;
    for (unsigned i = 0; i < n && d < b->cap_ms; i++)
        d *= 2;
    return d < b->cap_ms ? d : b->cap_ms;
}

/* xorshift64*: tiny, deterministic, good enough for jitter. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

int64_t as_backoff_next(struct as_backoff *b)
{
    int64_t d = as_backoff_ceiling(b, b->attempt);
    if (b->attempt < 64)
        b->attempt++;
    int64_t half = d / 2;
    return half + (int64_t)(next_rand(&b->rng) % (uint64_t)(d - half + 1));
}
