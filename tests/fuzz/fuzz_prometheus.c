/* The Prometheus HTTP API answer parser and the step to a measurement: the input is up to four
 * answers separated by a line "--", evaluated in turn against one memory of series (so
 * vanishing, returning and forgotten series are exercised); the first byte picks the options.
 * Invariants checked after each: a measurement that is ok has a finite value >= 0, per-replica
 * values are finite and >= 0 when ok, and the memory stays sorted without duplicates. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/prometheus.h"

static void check(const struct as_prom_memory *mem, const struct as_measurement *m)
{
    if (m->ok && (!isfinite(m->value) || m->value < 0))
        abort();
    if (m->nreplicas > AS_REPLICAS_MAX || (m->nreplicas > 0 && m->per_replica == NULL))
        abort();
    for (size_t i = 0; i < m->nreplicas; i++) {
        const struct as_replica_obs *r = &m->per_replica[i];
        if (r->ok && (!isfinite(r->value) || r->value < 0))
            abort();
    }
    for (size_t i = 1; i < mem->n; i++)
        if (strcmp(mem->v[i - 1].labels, mem->v[i].labels) >= 0)
            abort();
}

/* The next "\n--\n" in [p, end), or NULL. */
static const char *separator(const char *p, const char *end)
{
    for (; end - p >= 4; p++)
        if (memcmp(p, "\n--\n", 4) == 0)
            return p;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct as_prom_eval_cfg cfg = {.aggregate = data[0] & 3,
                                   .per_replica = (data[0] >> 2) & 1,
                                   .forget_ms = (data[0] >> 3) & 1 ? 100 : 0,
                                   .has_empty_as = (data[0] >> 4) & 1,
                                   .empty_as = 1.5};
    struct as_prom_memory mem = {0};
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    for (int round = 0; round < 4 && p <= end; round++) {
        const char *sep = separator(p, end);
        size_t len = sep ? (size_t)(sep - p) : (size_t)(end - p);
        struct as_prom_result r;
        struct as_measurement m;
        struct as_prom_changes ch;
        struct as_err err;
        if (as_prom_parse(p, len, 64, &r, &err) == 0) {
            if (as_prom_eval(&cfg, &mem, &r, round * 60, &m, &ch) == 0)
                check(&mem, &m);
            as_prom_result_free(&r);
        } else if (r.n != 0 || r.v != NULL || err.msg[0] == '\0') {
            abort();
        }
        if (sep == NULL)
            break;
        p = sep + 4;
    }
    as_prom_memory_free(&mem);
    return 0;
}
