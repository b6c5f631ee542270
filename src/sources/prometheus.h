/* The Prometheus HTTP API's answer to an instant query (GET/POST /api/v1/query), parsed
 * without trusting it: for the `prometheus` source, its unit tests and its fuzz target. */
#ifndef AS_SOURCES_PROMETHEUS_H
#define AS_SOURCES_PROMETHEUS_H

#include <stddef.h>

#include <stdint.h>

#include "core/plugin.h"
#include "util/err.h"

enum as_prom_type { AS_PROM_SCALAR, AS_PROM_VECTOR, AS_PROM_MATRIX, AS_PROM_STRING };

/* One sample of the result: a vector's series, or the scalar (labels "{}"). */
struct as_prom_sample {
    char *labels; /* the series' label set as compact JSON with sorted keys; owned */
    double value; /* as sent: may be NaN, +Inf, -Inf or negative */
};

struct as_prom_result {
    enum as_prom_type type;
    size_t n; /* samples: 1 for a scalar, 0 for a matrix or a string */
    struct as_prom_sample *v;
    size_t nwarnings;
    char warning[192]; /* the first of the answer's "warnings", "" if none */
};

/* Parses the body of an answer (of any HTTP status: Prometheus explains its errors in JSON).
 * A vector's samples come out sorted by their labels. At most max samples are accepted.
 * Returns 0 with *out filled (free it with as_prom_result_free), or -1 with err:
 *   "Prometheus error <errorType>: <error>"     an answer with "status": "error"
 *   "response is not JSON (...)"                  garbage
 *   "response is not a query result: ..."        JSON of another shape, a value that is not
 *                                                 a decimal number, NaN or [+-]Inf, two series
 *                                                 with one label set, a native histogram
 *   "the vector has N series, more than MAX"
 * *out is left empty (safe to free) on error. */
int as_prom_parse(const char *body, size_t len, size_t max, struct as_prom_result *out,
                  struct as_err *err);

/* Frees what as_prom_parse allocated and empties r. NULL-safe. */
void as_prom_result_free(struct as_prom_result *r);

/* ---- from an answer to a measurement ---- */

enum as_prom_aggregate { AS_PROM_MEAN, AS_PROM_SUM, AS_PROM_MAX, AS_PROM_MIN };

struct as_prom_eval_cfg {
    int aggregate;     /* enum as_prom_aggregate: the value of several samples */
    int per_replica;   /* several series: one per-replica value each (and series remembered) */
    int64_t forget_ms; /* a vanished series stays a missing replica this long; 0: not at all */
    int has_empty_as;  /* an empty vector is the value empty_as, not a failure */
    double empty_as;
};

/* A series seen in an earlier answer. */
struct as_prom_series {
    char *labels;    /* owned */
    int64_t seen_ms; /* when it last had a sample */
    int present;     /* in the latest answer */
    double value;    /* its sample in the latest answer */
};

/* The series remembered between answers (sorted by labels) and the per-replica values of the
 * last measurement. Zero-initialise; free with as_prom_memory_free. */
struct as_prom_memory {
    struct as_prom_series *v;
    size_t n;
    struct as_replica_obs *reps;
    size_t cap;
    unsigned long rounds; /* vectors merged so far: the first one's series are not "new" */
};

void as_prom_memory_free(struct as_prom_memory *mem);

/* What changed in the remembered series, for the log: how many, and the first one's labels. */
struct as_prom_change {
    size_t n;
    char first[160];
};
struct as_prom_changes {
    struct as_prom_change appeared, vanished, returned, forgotten, unusable;
    size_t missing; /* per-replica values that are missing in this measurement */
};

/* Turns a parsed answer into a measurement at time now (ms, any monotonic clock):
 *   scalar                -> its value
 *   vector, empty         -> empty_as, else failed ("empty result ...")
 *   vector, per_replica and more than one series remembered
 *                         -> one per-replica value per series (sorted by labels): a series
 *                            absent from this answer (for less than forget_ms) or whose sample
 *                            is NaN, infinite or negative is missing (ok = 0); the value is
 *                            the aggregate of the others (failed if there is none)
 *   vector, otherwise     -> the aggregate of its samples; any NaN, infinite or negative one
 *                            fails the measurement
 *   matrix, string        -> failed, with the reason
 * The vector's labels move into mem (r keeps the rest; free it as usual). m->per_replica
 * points into mem until the next call. Returns 0, or -1 on ENOMEM (m failed). */
int as_prom_eval(const struct as_prom_eval_cfg *cfg, struct as_prom_memory *mem,
                 struct as_prom_result *r, int64_t now, struct as_measurement *m,
                 struct as_prom_changes *ch);

#endif
