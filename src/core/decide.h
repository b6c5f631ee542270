/* The decision core: pure, deterministic, shared by `run` and `replay`.
 * (group config, observations, state, now) -> (desired replicas, reason, new state).
 * No I/O, no clock, no globals, no randomness.
 *
 * One round: policy (raw recommendation) -> safety (a failed metric never scales down)
 * -> behavior (HPA stabilization windows and rate policies) -> bounds. The scale itself is
 * recorded separately (as_decide_scaled) once it has happened, as the HPA stores its events
 * only after a successful scale. */
#ifndef AS_DECIDE_H
#define AS_DECIDE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define AS_REASON_MAX 384
#define AS_COUNT_MAX 1000000000        /* the largest replica count anything accepts */
#define AS_TIME_MAX 1000000000000000LL /* ms: a stamp beyond this is corrupt (year 33658) */

/* One metric's measurement in this round; index i matches group->metrics[i]. */
struct as_metric_obs {
    int ok;           /* 0: failed (unknown), never read as zero */
    double value;     /* the metric's value; with per-replica data, the source's aggregate */
    size_t nreplicas; /* 0: no per-replica data */
    const struct as_replica_obs *replicas; /* borrowed for the call */
};

struct as_obs {
    /* The decision clock, milliseconds: in `run` the wall clock at start carried on by the
     * monotonic clock (a step of the wall clock never moves it), in replay the virtual
     * clock. Windows, cooldowns, rate limits and idle timers run on it. */
    int64_t now_ms;
    int64_t wall_ms; /* the wall clock, for schedules and time-of-day bounds; 0: now_ms */
    int current;     /* replicas now, trusted (as_count_judge), 0..AS_COUNT_MAX */
    size_t n;
    const struct as_metric_obs *m;
    /* The replicas as the scaler knows them (a process pool: each worker's age and idle
     * time; value unused); nworkers 0 when the scaler reports nothing. */
    size_t nworkers;
    const struct as_replica_obs *workers;
};

/* A policy's raw recommendation, before the safety rules, behavior and bounds. */
struct as_rec {
    int desired;
    int valid;         /* metrics that contributed; 0 = nothing usable (hold) */
    int no_scale_down; /* the policy forbids lowering the count now (e.g. KPA panic) */
    char reason[AS_REASON_MAX];
};

/* A decision and what it noticed on the way (docs/events.md says exactly when each flag is
 * set; the engine turns them into events). */
struct as_decision {
    int desired;
    int min, max; /* the bounds in effect this round */
    /* The count the policy called for: its recommendation (failure rules and scheduled
     * capacity applied) after the stabilization windows, before rate limits and bounds; -1
     * when no policy recommendation was made (override, outside the bounds, no valid metric,
     * at zero). */
    int wanted;
    /* A stabilization window, a rate limit, the cooldown or the warmup kept desired from what
     * the policy called for (the reason says which). */
    int held;
    int above_max; /* wanted > max in effect: a scale-up beyond the maximum was called for */
    int below_min; /* wanted < min in effect, and that min is above 1 (autoscalebot's rule) */
    /* This change makes more scale events (or replicas changed) in its direction within
     * too_rapid.within than too_rapid allows; too_rapid_events and too_rapid_replicas count
     * them, this change included. */
    int too_rapid, too_rapid_events, too_rapid_replicas;
    int fallback; /* the fallback count was applied (no valid metric for fallback.after rounds) */
    int paused;   /* `paused` held a change: the decision would have been paused_to */
    int paused_to;
    char reason[AS_REASON_MAX];
};

/* A stored stabilization recommendation or scale event. */
struct as_stamp {
    int64_t t;
    int value;    /* recommendation, or replica change (> 0) for events */
    int outdated; /* events only: older than the longest policy period, free for reuse */
};

struct as_stamps {
    struct as_stamp *v;
    size_t n, cap;
};

/* The largest state a policy may declare (as_policy_ops.state_size). */
#define AS_POLICY_STATE_MAX 4096

/* The newest AS_SCALES_KEPT scale events, newest first, for too_rapid; allocated at a group's
 * first scale (most groups of a large fleet rarely scale). */
#define AS_SCALES_KEPT 32
struct as_scales {
    int64_t t[AS_SCALES_KEPT]; /* when */
    int delta[AS_SCALES_KEPT]; /* to - from; 0: unknown, from an older state file */
};

/* One scale event of a group's history (`history` of them are kept). */
struct as_event {
    int64_t t; /* when the scale landed (as_decide_scaled's now_ms) */
    int from, to;
    char *reason; /* the reason of the decision that asked for it; owned; NULL on ENOMEM */
};

/* A ring of the newest events; read it with as_history_get. */
struct as_history {
    struct as_event *v;
    size_t cap, n, head; /* head: index of the newest */
};

/* A scale asked for and not yet known to have landed: recorded (durably) before the scale
 * call, cleared when the outcome is known. Until then it counts as a scale at t for the
 * cooldown, the rate limits, warmup and too-rapid detection, so a restart in the middle of a
 * call neither forgets it nor repeats it at once. */
struct as_intent {
    int64_t t;
    int from, to;
};

/* Everything that carries from one round to the next; persisted by state.c.
 * Zero-initialise, then as_group_state_free when done. */
struct as_group_state {
    int64_t rounds;
    int seeded;                /* the recommendation log was seeded with the first count */
    struct as_stamps recs;     /* stabilization log (HPA `recommendations`) */
    struct as_stamps up, down; /* scale events (HPA `scaleUpEvents`/`scaleDownEvents`) */
    int64_t last_scale_ms;     /* 0: never */
    int failures;              /* consecutive rounds with no valid metric */
    int64_t idle_since_ms;     /* scale to zero: below activation since, 0 = not idle */
    struct as_scales *scales; /* the last scale events (too_rapid); NULL until the first */
    int nscales;
    /* The policy's own state: state_size zeroed bytes, allocated at its first round (or
     * restore) and freed with the state, so a policy that keeps none costs nothing (10,000
     * groups of `target` would otherwise carry 40 MB of it); NULL until then. */
    void *policy;
    int idle;                        /* idle_since_ms is set (it may legitimately be 0 in replay) */
    int64_t last_up_ms;              /* time of the last scale-up (warmup without replica ages) */
    int scaled_up;                   /* last_up_ms is set */
    struct as_history history;       /* the newest `history` scale events */
    /* The reason of the last decision that asked for a change, for the history of the scale
     * that follows; owned, NULL: none (or out of memory). Not copied on rounds that hold. */
    char *last_reason;
    int pending;                     /* intent holds a scale whose outcome is unknown */
    struct as_intent intent;
    int count_known; /* count holds the last trusted replica count */
    int count;       /* persisted: a restart trusts an unchanged count at once */
    int last_read;   /* the count read last round (not persisted) ... */
    int same_reads;  /* ... and how many rounds in a row it was read (not persisted) */
    /* Set through the status API (docs/api.md) and persisted, over the configuration's
     * `paused` and `override` until resumed or cleared: a pause, and a manual count. The
     * decision core reads the configuration's; the engine applies these over it. */
    int api_paused;
    int api_override_set;
    int api_override;
    int64_t api_paused_at, api_override_at; /* wall clock ms when set (shown, never decided on) */
};

void as_group_state_free(struct as_group_state *st);

/* The policy's state of st for g's policy, allocated zeroed at its declared size the first
 * time; NULL when the policy keeps none (state_size 0) or out of memory. */
void *as_policy_state(struct as_group_state *st, const struct as_group_cfg *g);

/* Forgets the policy's state (another policy's, or one that did not read back). */
void as_policy_state_reset(struct as_group_state *st);

/* ---- policies ---- */

struct as_policy_ops {
    const char *name;          /* `policy: {type: NAME}` */
    const struct as_opt *opts; /* parsed into a zeroed block of cfg_size bytes */
    size_t cfg_size;
    const char *summary;
    size_t state_size;  /* bytes of the policy's own state (at most AS_POLICY_STATE_MAX); 0: none */
    int metric_targets; /* every metric needs exactly one of `target` and `average_value` */
    /* Optional: cross-field checks; g is complete except for the policy. */
    int (*validate)(void *cfg, const struct as_group_cfg *g, struct as_node *map,
                    struct as_err *err);
    /* The raw recommendation. state points at the group's state_size bytes (zeroed at
     * first; NULL when state_size is 0). Pure. */
    void (*recommend)(const void *cfg, const struct as_group_cfg *g, const struct as_obs *obs,
                      void *state, struct as_rec *out);
    /* Optional: the policy's state to/from JSON (for restarts). load gets what save wrote;
     * it returns -1 if the object is unusable (the state then starts fresh). */
    int (*save)(const void *cfg, const void *state, json_t *obj);
    int (*load)(const void *cfg, void *state, const json_t *obj);
    /* Optional, for a policy that keeps stamps: after load, moves them by shift_ms (the
     * restore's shift, see core/state.h) and clamps any after now_ms to now_ms. */
    void (*restored)(const void *cfg, void *state, int64_t shift_ms, int64_t now_ms);
};

/* The registered policies (registry.c), NULL-terminated. */
extern const struct as_policy_ops *const as_policies[];
const struct as_policy_ops *as_policy_find(const char *name);

/* ---- bounds in time (docs/bounds.md) ---- */

struct as_bounds {
    int min, max; /* in effect */
    int replicas; /* desired capacity of the active schedules, -1 none */
    int schedule; /* index of the first active schedule entry, -1 none */
};

/* The bounds in effect at now_ms (UTC milliseconds): the time-of-day min/max in the group's
 * zone, then the active `schedules` entries over them (a scheduled max, then a scheduled min;
 * if they cross, min wins). Pure. */
void as_bounds_get(const struct as_group_cfg *g, int64_t now_ms, struct as_bounds *b);

/* Same, only min and max. */
void as_bounds_at(const struct as_group_cfg *g, int64_t now_ms, int *min, int *max);

/* The i-th newest event of the history (0 = newest), or NULL past the end. Borrowed until the
 * next as_decide_scaled or as_group_state_free. */
const struct as_event *as_history_get(const struct as_group_state *st, size_t i);

/* Appends an event to the history (restoring it from a state file); keeps g->history. */
void as_history_append(const struct as_group_cfg *g, struct as_group_state *st, int64_t t, int from,
                       int to, const char *reason);

/* ---- the decision ---- */

/* Decides the replica count for one round and updates st (recommendation log, counters,
 * the policy's state). Always produces a decision: when nothing can be known it is "hold
 * current" with the reason why. */
void as_decide(const struct as_group_cfg *g, struct as_group_state *st, const struct as_obs *obs,
               struct as_decision *out);

/* Records that the group was scaled from `from` to `to` at now_ms (a scale event for the rate
 * policies, the time for `cooldown`) and clears a pending intent; `to` becomes the trusted
 * count. Call it after the change succeeded. */
void as_decide_scaled(const struct as_group_cfg *g, struct as_group_state *st, int64_t now_ms,
                      int from, int to);

/* Records the intent to scale from -> to at now_ms (before the call). */
void as_decide_intent(struct as_group_state *st, int64_t now_ms, int from, int to);

enum as_resolved { AS_INTENT_NONE = 0, AS_INTENT_LANDED, AS_INTENT_MISSED };

/* Settles a pending intent against a trusted count: the count it came from means the scale
 * did not land (the intent is dropped: AS_INTENT_MISSED); any other count means it did, and
 * it is recorded as a scale from -> count at the intent's time (AS_INTENT_LANDED).
 * AS_INTENT_NONE when nothing was pending. */
enum as_resolved as_decide_resolve(const struct as_group_cfg *g, struct as_group_state *st,
                                   int count);

enum as_count_verdict { AS_COUNT_TRUSTED = 0, AS_COUNT_IMPLAUSIBLE, AS_COUNT_UNCONFIRMED };

/* Judges a replica count read this round (a failed read never gets here). Implausible:
 * above count_max (0: ten times max). Trusted: `owned` (the scaler's own bookkeeping, as a
 * process pool's), or equal to the last trusted count, or to either end of a pending intent,
 * or read the same count_confirm rounds in a row. Anything else is unconfirmed: the group
 * holds, so a count that jumped (a sudden 0, a lying endpoint) never scales anything until
 * it has been seen again. A trusted count becomes st->count. why gets a one-line reason for
 * the verdicts other than trusted. */
enum as_count_verdict as_count_judge(const struct as_group_cfg *g, struct as_group_state *st,
                                     int read, int owned, char *why, size_t len);

/* The bound above which a count read is implausible. */
int as_count_limit(const struct as_group_cfg *g);

/* The HPA target-tracking policy (src/policies/target.c), also used directly by tests. */
void as_policy_target(const struct as_group_cfg *g, const struct as_obs *obs, struct as_rec *rec);

#endif
