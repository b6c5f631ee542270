/* The decision core: pure, deterministic, shared by `run` and `replay`.
 * (group config, observations, state, now) -> (desired replicas, reason, new state).
 * No I/O, no clock, no globals, no randomness. */
#ifndef AS_DECIDE_H
#define AS_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

#define AS_REASON_MAX 384

/* One metric's measurement in this round; index i matches group->metrics[i]. */
struct as_metric_obs {
    int ok; /* 0: failed (unknown), never read as zero */
    double value;
};

struct as_obs {
    int64_t now_ms;
    int current; /* replicas now, >= 0 */
    size_t n;
    const struct as_metric_obs *m;
};

/* A policy's raw recommendation, before the safety rules and bounds. */
struct as_rec {
    int desired;
    int valid; /* metrics that contributed */
    char reason[AS_REASON_MAX];
};

struct as_decision {
    int desired;
    char reason[AS_REASON_MAX];
};

/* State that carries from one round to the next (grows with the behavior stage). */
struct as_group_state {
    int64_t rounds;
};

/* Decides the replica count for one round. Always produces a decision: when nothing can be
 * known the decision is "hold current" with the reason why. */
void as_decide(const struct as_group_cfg *g, struct as_group_state *st, const struct as_obs *obs,
               struct as_decision *out);

/* The HPA target-tracking policy (src/policies/target.c). Fills rec; rec->valid == 0 when
 * no metric was usable. */
void as_policy_target(const struct as_group_cfg *g, const struct as_obs *obs, struct as_rec *rec);

#endif
