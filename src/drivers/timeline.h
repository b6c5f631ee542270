/* What the status API (src/api/, docs/api.md) shows of a group's recent past, kept by the
 * engine: a bounded ring of rounds (time, replicas, bounds, each metric's value) for the
 * dashboard's charts and `autoscaler queue`, a bounded ring of decisions with their reasons,
 * the class of a decision's reason (a bounded label for /metrics), and the histogram of round
 * durations. Sizes come from `http.history_rounds` and `http.history_decisions`. Internal to
 * the drivers. */
#ifndef AS_TIMELINE_H
#define AS_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/decide.h"

/* ---- reason classes ---- */

/* Why a decision is what it is, coarsely: a bounded label where the reason is free text. */
enum as_reason_class {
    AS_RC_POLICY = 0,        /* the policy's count after behavior and cooldown */
    AS_RC_MAX,               /* the policy called for more than the max in effect */
    AS_RC_MIN,               /* ... for less than the min in effect (above 1) */
    AS_RC_BOUNDS,            /* the count was outside the bounds and brought inside */
    AS_RC_NO_RECOMMENDATION, /* no valid metric, or at zero: held */
    AS_RC_FALLBACK,          /* the fallback count */
    AS_RC_PAUSED,            /* paused held a change */
    AS_RC_OVERRIDE,          /* a manual count */
    AS_RC_CLASSES
};

enum as_outcome { AS_OUT_UP = 0, AS_OUT_DOWN, AS_OUT_HOLD, AS_OUTCOMES };

/* "policy", "max", ...; "up", "down", "hold". */
const char *as_reason_class_name(unsigned cls);
const char *as_outcome_name(unsigned outcome);

/* The class and outcome of decision d from current; override: a manual count was in effect. */
void as_decision_classify(int current, const struct as_decision *d, int override, unsigned *cls,
                          unsigned *outcome);

/* ---- round durations: a Prometheus histogram ---- */

#define AS_ROUND_BUCKETS 12
extern const double as_round_bounds[AS_ROUND_BUCKETS]; /* seconds, ascending; +Inf implied */

struct as_round_hist {
    uint64_t le[AS_ROUND_BUCKETS]; /* rounds that took at most as_round_bounds[i] */
    uint64_t count;
    double sum; /* seconds */
};

void as_round_hist_add(struct as_round_hist *h, double seconds);

/* ---- the rings ---- */

/* One round, as shown: counts -1 when the round held before deciding (the count could not
 * be read or trusted). */
struct as_round_point {
    int64_t t; /* wall clock ms */
    int current, desired, min, max;
    const double *values; /* nmetrics values; NaN: the measurement failed. Borrowed */
};

/* One decision with its reason; rounds in a row that decided the same (the same counts,
 * bounds, class and outcome) are one record: t and reason are the newest round's. */
struct as_decision_rec {
    int64_t t; /* wall clock ms */
    int current, desired, wanted, min, max;
    unsigned cls, outcome;
    const char *reason; /* borrowed; "" when out of memory */
    int64_t first;      /* wall clock ms of the first round of the run */
    uint64_t rounds;    /* rounds in the run (1: this one only) */
};

struct as_timeline;

/* A timeline of at most rounds rounds and decisions decisions for g's metrics (their names are
 * copied). NULL on ENOMEM, or when both are 0 (nothing to keep). */
struct as_timeline *as_timeline_new(size_t rounds, size_t decisions, const struct as_group_cfg *g);

void as_timeline_free(struct as_timeline *tl);

/* Whether tl has these sizes and g's metrics (same names, same order): a reload that changed
 * either needs a new timeline. */
int as_timeline_fits(const struct as_timeline *tl, const struct as_group_cfg *g, size_t rounds,
                     size_t decisions);

/* Records a round that decided d from current at wall clock t; values: nmetrics values (NaN
 * failed). A decision like the newest one renews it (no allocation while its reason fits), so
 * the decisions kept are the last history_decisions changes, and a steady group's ring holds
 * one record. */
void as_timeline_decided(struct as_timeline *tl, int64_t t, int current,
                         const struct as_decision *d, unsigned cls, unsigned outcome,
                         const double *values);

/* Records a round that held before deciding. */
void as_timeline_held(struct as_timeline *tl, int64_t t, const double *values);

size_t as_timeline_nmetrics(const struct as_timeline *tl);
const char *as_timeline_metric(const struct as_timeline *tl, size_t i);

/* The number of rounds kept, and the i-th newest (0 = newest); -1 past the end. */
size_t as_timeline_rounds(const struct as_timeline *tl);
int as_timeline_round(const struct as_timeline *tl, size_t i, struct as_round_point *out);

/* The same for decisions. */
size_t as_timeline_decisions(const struct as_timeline *tl);
int as_timeline_decision(const struct as_timeline *tl, size_t i, struct as_decision_rec *out);

#endif
