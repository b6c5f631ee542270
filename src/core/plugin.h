/* Backend interfaces. Each source, scaler and notifier is one file exporting one const ops
 * table, listed once in registry.c. Callers go through the engine, never ops-> directly. */
#ifndef AS_PLUGIN_H
#define AS_PLUGIN_H

#include <jansson.h>
#include <stddef.h>

#include "config/cfg.h"
#include "util/err.h"
#include "config/opt.h"

struct as_loop;
struct as_http;

/* What a backend gets when it starts: borrowed for the backend's lifetime. */
struct as_ctx {
    struct as_loop *loop;
    struct as_http *http;
    const char *group;  /* group name, for log prefixes */
    const char *name;   /* metric name (sources) or scaler type (scalers) */
    int64_t timeout_ms; /* for each measurement or scale call */
    /* Where the backend may keep its own durable files (the process pool's pid file), named
     * after the group; NULL when the configuration keeps no state (`state_dir: ""`). */
    const char *state_dir;
    /* `run --dry-run`: set is never called, and a backend whose reads change things (the
     * haproxy scaler brings HAProxy in line with hosts.d) only reads. */
    int dry_run;
    /* For a source whose values arrive by themselves (agents' reports): asks for the group's
     * round now rather than at its next tick. The engine starts one only when the group is
     * idle and its last round began at least AS_WAKE_GAP_MS ago (each round reads the count
     * through the scaler too); NULL: not offered (a scaler's ctx). */
    void (*wake)(void *arg);
    void *wake_arg;
};

#define AS_WAKE_GAP_MS 250

#define AS_MSG_MAX 256

/* One replica's share of a per-replica metric (a host an agent reports, a series of a
 * Prometheus vector, a pod), as sources report it and the decision reads it. */
struct as_replica_obs {
    int ok; /* 0: this replica has no sample (a "missing" pod, a silent host) */
    double value;
    int ready;       /* 0: not ready (left out on a scale-down, counted as 0 on a scale-up) */
    int64_t age_ms;  /* time since the replica started, -1 unknown (for `warmup`) */
    int64_t idle_ms; /* time the replica has been idle, 0 busy, -1 unknown (for `queue`) */
    int pending;     /* the scaler's replicas only: as_worker_info.pending */
    /* > 0: the replica's weight in the aggregate, a pod's resource request (0: none, all
     * replicas weigh the same; < 0: a request was looked for and is not there). With weights,
     * value is the replica's utilization in percent of its weight and a `target` metric
     * averages as the HPA's CPU/memory utilization: sum(value * weight) / sum(weight), i.e.
     * sum(usage) / sum(requests); a replica without one then makes the metric unknown. */
    double weight;
    /* Which replica ("" unknown): a pod's name, a host's. When a metric's values and the
     * scaler's replicas (as_worker_info.id) both carry ids, the engine joins them as the HPA
     * does: a replica the scaler lists without a value is missing, a value for a replica the
     * scaler does not list is dropped, and the scaler's readiness and age apply. */
    char id[64];
};

/* ---- sources ---- */

#define AS_REPLICAS_MAX 4096 /* per-replica values a measurement may carry */

struct as_measurement {
    int ok;       /* 0: the measurement failed and `error` says why */
    double value; /* finite, >= 0 when ok; with per-replica values, their aggregate (mean of
                     the ready ones with a sample, weighted when they have weights, or what
                     the source documents) */
    int replicas; /* current replica count reported with the value, -1 if none */
    /* Per-replica values (0 and NULL: none), at most AS_REPLICAS_MAX; borrowed for the
     * callback (the engine copies them). With them, a `target` metric follows the HPA's
     * per-pod rules: missing replicas count as the target on a scale-down and 0 on a
     * scale-up, not-ready ones are left out. */
    size_t nreplicas;
    const struct as_replica_obs *per_replica;
    char error[AS_MSG_MAX];
};

typedef void (*as_measure_cb)(const struct as_measurement *m, void *arg);

struct as_source_ops {
    const char *name;          /* `type:` in the config */
    const struct as_opt *opts; /* parsed into a zeroed block of state_size bytes */
    size_t state_size;
    const char *summary; /* one line for --help and docs */
    /* Optional: cross-field checks after opts are parsed; map is the metric's mapping. */
    int (*validate)(void *state, struct as_node *map, struct as_err *err);
    /* Optional: acquire runtime resources. Returns 0 or -1 with err. */
    int (*start)(void *state, const struct as_ctx *ctx, struct as_err *err);
    /* Starts one measurement; done runs exactly once, from the loop (never re-entrantly),
     * unless cancel() is called first. Timeout comes from the source's options. */
    void (*measure)(void *state, as_measure_cb done, void *arg);
    /* Aborts a measurement in flight without calling done. */
    void (*cancel)(void *state);
    /* Optional: releases what start() acquired; tolerates a half-started state. */
    void (*stop)(void *state);
    /* Optional: something only one group may use (a listening port), as a key such as
     * "TCP port 7070" written into buf; returns 0, or -1 when there is none. `check` refuses
     * two groups whose metrics claim the same key. */
    int (*exclusive)(const void *state, char *buf, size_t len);
};

/* ---- scalers ---- */

struct as_scale_result {
    int ok;
    int permanent; /* failure that retrying cannot fix (HTTP 4xx, bad command) */
    int replicas;  /* get: the current count; set: the count now in effect, or -1 */
    char error[AS_MSG_MAX];
};

typedef void (*as_scale_cb)(const struct as_scale_result *r, void *arg);

/* What a scaler knows of one replica (a process pool: each worker). */
struct as_worker_info {
    long pid;        /* 0 when not applicable */
    int64_t age_ms;  /* since it started, -1 unknown */
    int64_t idle_ms; /* how long it has used no CPU; 0 = busy at the last sample; -1 unknown */
    int not_ready;   /* 1: not ready (a pod whose Ready condition is not True) */
    int pending;     /* 1: not started (a Pending pod): not ready whether or not it has a
                        value, where a started replica without a value is missing (the HPA
                        looks at the phase before the metric) */
    char id[64];     /* its name ("" none): joined with per-replica metric values by id */
    /* The replica's request of a resource (> 0, in the unit of the metric's values; -1 it has
     * none), for the metric named request_metric (borrowed; NULL: none, request unused). That
     * metric's per-replica values are usage of the resource: the join makes each one a
     * utilization in percent of the request and weighs it by the request (the HPA's resource
     * utilization; as_replica_obs.weight). The kubernetes scaler's `requests`. */
    double request;
    const char *request_metric;
};
typedef void (*as_stopped_cb)(void *arg);

struct as_scaler_ops {
    const char *name;
    const struct as_opt *opts;
    size_t state_size;
    const char *summary;
    int (*validate)(void *state, struct as_node *map, struct as_err *err);
    int (*start)(void *state, const struct as_ctx *ctx, struct as_err *err);
    /* Optional: reads the current replica count. done runs once, from the loop. */
    void (*get)(void *state, as_scale_cb done, void *arg);
    /* Optional: whether get works with these options (NULL: it does when get is set). */
    int (*can_get)(const void *state);
    /* Sets the replica count. done runs once, from the loop. */
    void (*set)(void *state, int want, as_scale_cb done, void *arg);
    /* Aborts a get/set in flight without calling done: at shutdown, and when the engine's
     * deadline for the call (the scaler's timeout and a little slack) passes. */
    void (*cancel)(void *state);
    /* Optional: per-replica facts, sampled now (once per round) or learned at the last get;
     * fills at most max entries and returns how many. */
    size_t (*workers)(void *state, struct as_worker_info *out, size_t max);
    /* Optional: stops everything (e.g. the process pool); done may run synchronously. */
    void (*stop)(void *state, as_stopped_cb done, void *arg);
    /* get answers from the scaler's own bookkeeping (a process pool counts its workers): the
     * count is trusted as read, and a set needs no read back. 0 for anything remote. */
    int owns_count;
    /* Optional: the exact call set(want) would make, for `--dry-run` ("PATCH https://...
     * {\"spec\":{\"replicas\":4}}"), one line into buf (secrets appear as resolved: the log
     * masks every resolved reference; never put a token that did not come from one). */
    void (*describe)(void *state, int want, char *buf, size_t len);
    /* Optional: the replicas as the status API lists them (a process pool's workers, BUSY or
     * FREE: scalers/process_list.h's document), built now. Caller owns the result; NULL when
     * there is none (or on ENOMEM). */
    json_t *(*worker_list)(void *state);
};

/* ---- notifiers (docs/events.md; the dispatcher: drivers/notify.c) ---- */

struct as_ev; /* core/event.h */

struct as_notify_result {
    int ok;
    int permanent; /* retrying cannot help (HTTP 4xx, a program that cannot run): given up */
    char error[AS_MSG_MAX];
};

typedef void (*as_notify_cb)(const struct as_notify_result *r, void *arg);

struct as_notifier_ops {
    const char *name;          /* `type:` of a notifier */
    const struct as_opt *opts; /* the type's own keys, beside the common ones */
    size_t state_size;
    const char *summary;
    const char *template; /* the type's default template (util/tmpl.h) */
    int (*validate)(void *state, struct as_node *map, struct as_err *err);
    /* Optional: acquires runtime resources. ctx->name is the notifier's name, ctx->group
     * NULL (each event names its group), ctx->timeout_ms one delivery's timeout. Returns 0,
     * or -1 with err: the notifier is then off, its events dropped and counted. */
    int (*start)(void *state, const struct as_ctx *ctx, struct as_err *err);
    /* Delivers one event: ev and text (the notifier's template rendered, secrets masked) are
     * borrowed for the call. done runs exactly once, from the loop (never re-entrantly),
     * unless cancel() comes first. The dispatcher never starts a second delivery before the
     * first ended, and enforces its own deadline (timeout and a little slack). */
    void (*deliver)(void *state, const struct as_ev *ev, const char *text, as_notify_cb done,
                    void *arg);
    /* Aborts a delivery in flight without calling done. */
    void (*cancel)(void *state);
    /* Optional: releases what start() acquired; tolerates a half-started state. */
    void (*stop)(void *state);
};

/* The registries (registry.c). NULL-terminated. */
extern const struct as_source_ops *const as_sources[];
extern const struct as_scaler_ops *const as_scalers[];
extern const struct as_notifier_ops *const as_notifiers[];

const struct as_source_ops *as_source_find(const char *name);
const struct as_scaler_ops *as_scaler_find(const char *name);
const struct as_notifier_ops *as_notifier_find(const char *name);

struct as_timer;

/* Delivers a result from the loop on its next iteration (never re-entrantly): for backends
 * whose answer is known at once. Copies *m (its per-replica values too) / *r. *slot holds the
 * pending delivery and is cleared just before cb runs, so `*slot != NULL` means "a result is on its
 * way". Returns 0, or -1 on ENOMEM (cb will not run, *slot is NULL). */
int as_defer_measurement(struct as_loop *loop, struct as_timer **slot, as_measure_cb cb,
                         const struct as_measurement *m, void *arg);
int as_defer_scale(struct as_loop *loop, struct as_timer **slot, as_scale_cb cb,
                   const struct as_scale_result *r, void *arg);

/* Drops a pending delivery (cb will not run) and clears *slot. No-op when *slot is NULL. */
void as_defer_cancel(struct as_loop *loop, struct as_timer **slot);

#endif
