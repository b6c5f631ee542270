/* The behavior stage, exactly as the Kubernetes HPA applies `spec.behavior`
 * (pkg/controller/podautoscaler/horizontal.go: stabilizeRecommendationWithBehaviors,
 * convertDesiredReplicasWithBehaviorRate, storeScaleEvent). Pure: every function takes `now`. */
#ifndef AS_BEHAVIOR_H
#define AS_BEHAVIOR_H

#include <stdint.h>

#include "config/cfg.h"
#include "util/err.h"
#include "config/opt.h"

struct as_stamps;

#define AS_RATE_POLICIES_MAX 8

enum as_select { AS_SELECT_MAX = 0, AS_SELECT_MIN, AS_SELECT_DISABLED };

struct as_rate_policy {
    int percent; /* 0: `replicas: N` (HPA Pods), 1: `percent: P` (HPA Percent) */
    int value;
    int64_t period_ms;
};

struct as_rules {
    int64_t stabilization_ms;
    enum as_select select;
    int npolicies;
    /* The HPA's default list, shared, unless `policies` was given: then allocated at its length
     * (as_behavior_free). Inline, the 8 entries a list may have cost every group 296 bytes. */
    const struct as_rate_policy *policies;
};

struct as_behavior {
    int off; /* `behavior: off`: no stabilization, no rate limits */
    struct as_rules up, down;
};

/* Option tables of `scale_up`/`scale_down` and of each entry of their `policies` (docs). */
extern const struct as_opt as_behavior_rules_opts[];
extern const struct as_opt as_behavior_rate_opts[];

/* The HPA defaults: up {0 s; max of 4 replicas / 15 s and 100 % / 15 s}; down {300 s;
 * 100 % / 15 s}. The lists are shared: nothing to free. */
void as_behavior_defaults(struct as_behavior *b);

/* Frees the lists as_behavior_parse allocated (a given `policies`); the defaults are kept. */
void as_behavior_free(struct as_behavior *b);

/* Parses `behavior:` (a mapping with scale_up / scale_down, or the scalar `off`) over the
 * defaults; a given `policies` list replaces the default list, as in the HPA. node may be
 * NULL (defaults). Returns 0 or -1 with err at the offending key. */
int as_behavior_parse(struct as_behavior *b, struct as_node *node, const char *what,
                      struct as_err *err);

/* Stabilization: the result is current clamped into [min of recommendations inside the up
 * window (and desired), max inside the down window (and desired)]; desired is then stored,
 * renewing the entry of the same value, else overwriting the last entry outside both windows.
 * A window holds entries with t > now - window (strict, as Go's After). */
int as_behavior_stabilize(const struct as_behavior *b, struct as_stamps *recs, int64_t now,
                          int current, int desired, int *limited);

/* Rate limits and bounds: on a scale-up the result is at most min(max, limit of the up
 * policies), on a scale-down at least max(min, limit of the down policies). reason gets
 * "DesiredWithinRange", "ScaleUpLimit", "TooManyReplicas", "ScaleDownLimit" or
 * "TooFewReplicas" (the HPA's condition reasons). */
int as_behavior_rate_limit(const struct as_behavior *b, const struct as_stamps *up,
                           const struct as_stamps *down, int64_t now, int current, int desired,
                           int min, int max, const char **reason);

/* Stores a scale event (from -> to) in up or down, reusing the last entry older than the
 * longest policy period of that direction. */
int as_behavior_store_event(const struct as_behavior *b, struct as_stamps *up,
                            struct as_stamps *down, int64_t now, int from, int to);

/* Appends the event from -> to at now to events (no reuse of old entries: the caller may
 * take it back with events->n--). Returns 0 or -1 on ENOMEM. */
int as_behavior_push_event(struct as_stamps *events, int64_t now, int from, int to);

/* The sum of event changes within period_ms before now (strict), saturated to
 * 0..AS_COUNT_MAX (a state file may hold anything). */
int as_behavior_changes(const struct as_stamps *events, int64_t now, int64_t period_ms);

#endif
