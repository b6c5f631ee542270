/* The engine as the status API (src/api/, docs/api.md) sees it: read-only views of the groups
 * and the daemon, and the two things the API may change, a group's pause and its manual count.
 * Everything runs on the loop thread (the HTTP server runs on the same loop), so a view is
 * consistent and borrowed only until the loop runs again. */
#ifndef AS_STATUS_H
#define AS_STATUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/engine.h"
#include "drivers/notify.h"
#include "drivers/timeline.h"

struct group_rt;

/* One metric of a group now. */
struct as_metric_view {
    const char *name, *type;
    int measured; /* a measurement has come in since the configuration was applied */
    int ok;       /* the last one succeeded; value holds it */
    double value;
    int has_target; /* target holds the metric's target or average_value (avg) */
    double target;
    int avg;
    int64_t last_ok_ms; /* wall clock of the last success; 0 none */
    unsigned failing;   /* failures in a row */
    const struct as_metric_counters *n;
};

/* One group now. Borrowed pointers are valid until the loop runs again. */
struct as_group_view {
    const char *name;
    const struct as_group_cfg *g; /* the configuration in effect */
    const struct as_config *cfg;  /* ... and the file it belongs to */
    const char *phase;            /* "idle", "measuring", "scaling", ... */
    int current;                  /* the last trusted count; -1 unknown */
    int min, max;                 /* bounds in effect now */
    int decided;                  /* last holds the newest decision */
    struct as_decision_rec last;
    int paused;              /* held by a pause (configuration or API) */
    const char *paused_by;   /* "configuration", "api" or NULL */
    int64_t paused_at;       /* API pause: wall clock ms; 0 otherwise */
    int override;            /* the manual count in effect, -1 none */
    const char *override_by; /* "api", "configuration" or NULL */
    int64_t override_at;
    int scaling, scale_from, scale_to; /* a scale in flight (intent recorded) */
    int rounds;                        /* rounds finished */
    double last_round_s;               /* duration of the last finished round */
    size_t nmetrics;
    const struct as_group_counters *n;
    const uint32_t (*by_class)[AS_RC_CLASSES]; /* [enum as_outcome][enum as_reason_class] */
    const struct as_timeline *tl;              /* NULL when the API keeps no history */
    const struct as_group_state *st;
    const struct group_rt *rt;
};

/* The i-th metric of v (i < v->nmetrics). */
void as_status_metric(const struct as_group_view *v, size_t i, struct as_metric_view *out);

/* The process pool's worker list (scalers/process_list.h's format) of v's scaler, or NULL
 * when its scaler keeps none (not a process pool). Caller owns the result. */
json_t *as_status_workers(const struct as_group_view *v);

/* The daemon. */
struct as_engine_view {
    int64_t started_ms; /* wall clock */
    size_t ngroups;
    size_t waiting; /* groups that have not finished their first round */
    int stopping;
    int dry_run;
    uint64_t state_write_errors;
    const struct as_round_hist *rounds;
    const struct as_config *cfg;
};

void as_status_engine(const struct as_engine *eng, struct as_engine_view *out);

typedef void (*as_group_view_fn)(const struct as_group_view *v, void *arg);

/* Calls fn for every live group, by name. */
void as_status_each(const struct as_engine *eng, as_group_view_fn fn, void *arg);

/* The groups as_status_each walks, as handles a caller may keep while the loop runs (a
 * /metrics answer written as the client reads it): valid until a group is freed (a reload
 * removed it, or the daemon stops), which as_status_groups_valid tells. */
struct as_status_groups {
    const struct group_rt **rt; /* by name */
    size_t n;
    uint64_t freed; /* the engine's groups freed when taken */
};

/* Takes the list: 0, or -1 on ENOMEM. */
int as_status_groups(const struct as_engine *eng, struct as_status_groups *out);
void as_status_groups_free(struct as_status_groups *l);
int as_status_groups_valid(const struct as_engine *eng, const struct as_status_groups *l);

/* The name of l's i-th group. */
const char *as_status_groups_name(const struct as_status_groups *l, size_t i);

/* The view of l's i-th group now (borrowed as as_status_each's): 0, or -1 when it is no longer
 * shown (it stopped since the list was taken). */
int as_status_groups_view(const struct as_status_groups *l, size_t i, struct as_group_view *v);

/* Calls fn for the group of that name. Returns 0, or -1 when there is none. */
int as_status_group(const struct as_engine *eng, const char *name, as_group_view_fn fn, void *arg);

/* Counters of each notifier of the configuration, by name: fn(name, type, counters). */
void as_status_notifiers(const struct as_engine *eng,
                         void (*fn)(const char *name, const char *type,
                                    const struct as_notify_counters *c, void *arg),
                         void *arg);

/* ---- changes (each logged with who asked, and written durably to the group's state) ---- */

enum as_status_rc {
    AS_STATUS_OK = 0,
    AS_STATUS_NO_GROUP = -1,
    AS_STATUS_CONFIG_PAUSED = -2, /* resumed, but the configuration still pauses it */
};

/* Pauses (on) or resumes the group through the API; takes effect at its next round. who
 * names the client for the log. */
int as_status_pause(struct as_engine *eng, const char *name, int on, const char *who);

/* Sets the group's manual count (replicas >= 0), or clears it (-1). */
int as_status_override(struct as_engine *eng, const char *name, int replicas, const char *who);

/* ---- the round's hooks (drivers/round.c) ---- */

/* The group's configuration with the API's pause and count applied, in *eff; returns eff. */
const struct as_group_cfg *as_status_effective(const struct group_rt *rt, struct as_group_cfg *eff);

/* A round decided d from current (override: a manual count was in effect). Returns the
 * decision's outcome and class (as_decision_classify) as one number, outcome * AS_RC_CLASSES
 * + class, below AS_OUTCOMES * AS_RC_CLASSES. */
unsigned as_status_decided(struct group_rt *rt, int current, const struct as_decision *d,
                           int override);

/* A round held before deciding. */
void as_status_held(struct group_rt *rt);

/* A scale from -> to landed. */
void as_status_scaled(struct group_rt *rt, int from, int to);

/* The engine's hooks (drivers/engine.c): a group's timeline made or remade for its
 * configuration (0, or -1 on ENOMEM: the group then keeps none), freed; a round's end. */
int as_status_timeline(struct group_rt *rt);
void as_status_round_end(struct group_rt *rt);

#endif
