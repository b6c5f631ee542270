/* The simulator behind `autoscaler simulate` (docs/simulation.md): a traffic trace drives a
 * queueing model of the service, the model's quantities stand in for the group's metrics, and
 * the group's own decision code (as_decide, as_decide_scaled, exactly as replay drives them)
 * scales the model's replicas on a virtual clock. Also the baselines: the oracle (the cheapest
 * provisioning that never violates the SLO) and the HPA and KPA defaults.
 *
 * Re-entrant: no global state, no output, no clock; as_sim_run allocates at its start only
 * (and when the replica count grows past what it has seen), never once per step. Callers such
 * as `autoscaler tune` may call it many times over one trace. */
#ifndef AS_SIM_H
#define AS_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "util/err.h"

/* What a metric reads from the model; the order of as_model_kinds (config.h). */
enum as_sim_kind {
    AS_SIM_AUTO = 0,
    AS_SIM_UTILIZATION,  /* busy fraction of the serving replicas' servers, 0..1, per replica */
    AS_SIM_LATENCY_MEAN, /* response time, ms */
    AS_SIM_LATENCY_P50,
    AS_SIM_LATENCY_P90,
    AS_SIM_LATENCY_P95,
    AS_SIM_LATENCY_P99,
    AS_SIM_RPS,                     /* arrivals, requests/s */
    AS_SIM_RPS_PER_REPLICA,         /* arrivals per serving replica, per replica */
    AS_SIM_QUEUE,                   /* requests waiting: backlog + M/M/c queue */
    AS_SIM_CONCURRENCY,             /* requests in flight (waiting or served) */
    AS_SIM_CONCURRENCY_PER_REPLICA, /* in flight per serving replica, per replica */
    AS_SIM_NKINDS
};

/* The service model. Servers (replicas x concurrency) stay within an int: at most
 * AS_SIM_REPLICAS_MAX replicas of at most AS_SIM_CONCURRENCY_MAX servers. */
#define AS_SIM_CONCURRENCY_MAX 1000
#define AS_SIM_REPLICAS_MAX 1000000
struct as_sim_model {
    double capacity;    /* requests/s of one replica with all its servers busy, > 0 */
    int64_t startup_ms; /* a new replica serves only this long after it was created */
    int concurrency;    /* servers per replica (service time = concurrency / capacity) */
    double slo_pct;     /* the SLO: the slo_pct-th percentile of the response time ... */
    double slo_ms;      /* ... is at most slo_ms */
};

/* One step of the model (as_sim_model_step). Latencies in ms; a request that cannot be
 * served (no serving replica) counts as AS_SIM_LAT_CAP_MS. */
#define AS_SIM_LAT_CAP_MS 600000.0
struct as_sim_point {
    double lat_mean, lat_slo; /* mean, and the SLO's percentile */
    double lat_p[4];          /* p50, p90, p95, p99 (only when asked for) */
    double util;              /* busy fraction of the serving servers, 0..1 */
    double queue;             /* waiting: backlog + mean M/M/c queue length */
    double inflight;          /* waiting + in service */
    double throughput;        /* served, requests/s */
    int violating;            /* arrivals >= the serving capacity, the SLO's percentile above
                                 slo_ms, or nothing serves while anything waits */
};

/* A traffic trace: row i is the mean rate over [t[i], t[i+1]) (the last one over one step). */
struct as_sim_trace {
    double *t;   /* seconds, strictly increasing */
    double *rps; /* requests/s, >= 0 */
    size_t n;
    double step_s; /* the last row's length: the smallest gap between rows (1 for one row) */
};

/* Parses `t_seconds,requests_per_second` CSV (a header line first; blank lines and lines
 * starting with # skipped). Never reads past len. Returns 0, or -1 with err at name:LINE:1
 * (a bad line, t not increasing, a negative or non-finite rate, no rows). */
int as_sim_trace_parse(const char *text, size_t len, const char *name, struct as_sim_trace *tr,
                       struct as_err *err);

/* Reads and parses a file ("-": stdin). */
int as_sim_trace_load(const char *path, struct as_sim_trace *tr, struct as_err *err);

void as_sim_trace_free(struct as_sim_trace *tr);

/* Per step of a run, for timelines. Borrowed for the call. */
struct as_sim_step {
    double t_s;   /* simulated seconds since the start */
    double load;  /* offered requests/s (after scale) */
    int replicas; /* existing (cost), starting ones too */
    int serving;  /* started and past their startup */
    int desired;  /* the last decision */
    int decided;  /* a decision was made this step */
    const struct as_sim_point *pt;
};
typedef void (*as_sim_step_cb)(const struct as_sim_step *s, void *arg);

struct as_sim_opts {
    int64_t step_ms;  /* the simulated step; 0: 1000 */
    double warp;      /* trace seconds per simulated second; 0: 1 */
    double scale;     /* load multiplier; 0: 1 */
    double from_s;    /* the part of the trace: [from_s, to_s) in trace seconds */
    double to_s;      /* <= from_s: to the trace's end */
    int64_t start_ms; /* wall clock of t = 0 (schedules, time-of-day bounds) */
    int initial;      /* replicas at t = 0, all serving; < 0: the oracle's first count */
    int percentiles;  /* fill as_sim_point.lat_p at every step (else only when a metric reads
                         one) */
    const enum as_sim_kind *kinds; /* per metric of the group, resolved (as_sim_kinds) */
    as_sim_step_cb on_step;        /* optional */
    void *arg;
};

struct as_sim_result {
    double duration_s;  /* simulated */
    double cost_rs;     /* replica-seconds of every existing replica */
    double violating_s; /* time the SLO was violated */
    int scale_events;   /* decisions that changed the count (the oracle: its count's changes) */
    double lat_mean_ms; /* time-weighted mean of the mean response time */
    double lat_max_ms;  /* largest mean response time of a step */
    double slo_lat_mean_ms, slo_lat_max_ms; /* the same of the SLO's percentile */
    double offered, served;                 /* requests */
    int max_replicas;
    int64_t steps;
};

/* Resolves the model quantity of each metric of g (the metric's `model:` key, then
 * overrides "NAME=KIND" (NULL-terminated, may be NULL; they win), then the inference rule of
 * docs/simulation.md) into kinds[g->nmetrics]. Returns 0, or -1 with err naming the metric
 * and the kinds. */
int as_sim_kinds(const struct as_group_cfg *g, const char *const *overrides,
                 enum as_sim_kind *kinds, struct as_err *err);

/* The kind of a name ("latency_p95"), or -1. */
int as_sim_kind_parse(const char *name);

/* Checks a model (capacity > 0, concurrency >= 1, percentile in (0, 100), bound > 0).
 * Returns 0 or -1 with err. */
int as_sim_model_check(const struct as_sim_model *m, struct as_err *err);

/* One step of the queueing model: `serving` replicas, arrivals at lambda requests/s for dt_s
 * seconds, *backlog (requests carried over from the step before) updated. pcts: fill
 * lat_p as well. Pure. */
void as_sim_model_step(const struct as_sim_model *m, int serving, double lambda, double dt_s,
                       double *backlog, int pcts, struct as_sim_point *out);

/* The fewest serving replicas that meet the SLO at a steady load of lambda (0 for no load);
 * at most limit, itself at most AS_SIM_REPLICAS_MAX (limit + 1 when even that is not
 * enough). */
int as_sim_need(const struct as_sim_model *m, double lambda, int limit);

/* The highest steady load n serving replicas carry within the SLO, requests/s. */
double as_sim_max_load(const struct as_sim_model *m, int n);

/* The trace's peak rate within opts' window (before opts->scale). */
double as_sim_trace_peak(const struct as_sim_trace *tr, const struct as_sim_opts *o);

/* Runs group g's policy over the trace. Returns 0, or -1 with err (out of memory, an empty
 * window, a bad model). */
int as_sim_run(const struct as_group_cfg *g, const struct as_sim_trace *tr,
               const struct as_sim_model *m, const struct as_sim_opts *o, struct as_sim_result *res,
               struct as_err *err);

/* The oracle over the same trace and window: per step the fewest serving replicas that meet
 * the SLO (at least min_replicas), each started one startup ahead and kept through a gap
 * shorter than the startup. opts->kinds is not used; opts->initial is ignored (the oracle
 * starts with what it needs, warm). Returns 0 or -1 with err. */
int as_sim_oracle(const struct as_sim_trace *tr, const struct as_sim_model *m,
                  const struct as_sim_opts *o, int min_replicas, struct as_sim_result *res,
                  struct as_err *err);

/* The baselines' groups (docs/simulation.md): "hpa" (target tracking on utilization at
 * `target`, 15 s, tolerance 0.1, default behavior) or "kpa" (policy panic with Knative's
 * defaults, every 2 s, on concurrency with the model's concurrency per replica), bounds
 * [min, max]. Caller frees with as_config_unref; kinds get the baseline's metric kinds
 * (one metric). NULL with err on an unknown name or ENOMEM. */
struct as_config *as_sim_baseline(const char *name, const struct as_sim_model *m, double target,
                                  int min, int max, enum as_sim_kind *kinds, struct as_err *err);

#endif
