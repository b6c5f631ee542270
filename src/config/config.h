/* The whole configuration: global settings and named groups, parsed and validated as one.
 * Nothing runs until every key of every group has been checked. */
#ifndef AS_CONFIG_H
#define AS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "config/cfg.h"
#include "core/plugin.h"
#include "core/schedule.h"
#include "core/behavior.h"

struct as_policy_ops;
struct as_notifier_cfg;
struct as_server_cfg;

struct as_metric_cfg {
    char *name;
    char *type;
    double target;        /* value form: ratio = value / target; 0 when unset */
    double average_value; /* total form: desired = ceil(value / average_value); 0 when unset */
    int64_t timeout_ms;
    const struct as_source_ops *ops;
    void *state;            /* ops->state_size bytes, options parsed in */
    int64_t backoff_max_ms; /* longest wait between attempts of a failing source */
    double activation;      /* scale to zero: the group is active while value > activation */
    int has_activation;     /* `activation` was given: the metric takes part in scale to zero */
    char *model_name;       /* simulation only: `model:`, one of as_model_kinds */
    int model;              /* its index in as_model_kinds (0: auto) */
};

struct as_scaler_cfg {
    char *type;
    int retries;            /* attempts after the first on a transient failure */
    int64_t backoff_ms;     /* first retry delay */
    int64_t backoff_max_ms; /* cap */
    int64_t timeout_ms;     /* one call */
    const struct as_scaler_ops *ops;
    void *state;
    char *fingerprint; /* canonical text of the options: equal => same scaler */
};

enum as_on_error { AS_ON_ERROR_HPA = 0, AS_ON_ERROR_IGNORE, AS_ON_ERROR_FAIL };

struct as_fallback {
    int after;    /* consecutive rounds with no valid metric before the fallback; 0 = never */
    int replicas; /* the count to go to; -1 = hold */
};

/* Too rapid scaling (docs/events.md): a change that makes more than `scales` scale events, or
 * more than `replicas` replicas changed, in its direction within `within`. 0: not checked. */
struct as_too_rapid {
    int scales;
    int replicas;
    int64_t within_ms;
};

/* Simulation only (`autoscaler simulate`): the service model of a group, `model:`. */
struct as_model_cfg {
    double capacity; /* requests/s of one replica, all servers busy; 0: unset */
    int64_t startup_ms;
    int concurrency; /* servers per replica */
    double slo_percentile;
    int64_t slo_latency_ms;
};

struct as_group_cfg {
    char *name;
    int64_t interval_ms;
    int min, max;
    double tolerance;
    size_t nmetrics;
    struct as_metric_cfg *metrics;
    struct as_scaler_cfg scaler;
    const struct as_policy_ops *policy; /* never NULL after parsing (default: target) */
    void *policy_cfg;                   /* policy->cfg_size bytes */
    struct as_behavior behavior;
    int64_t cooldown_ms;
    int on_error; /* enum as_on_error */
    struct as_fallback fallback;
    struct as_too_rapid too_rapid;
    int paused;    /* decide and log, hold the count */
    int override;  /* a manual count that wins over every decision; -1 = none */
    int line, col; /* where the group is defined */
    /* FNV-1a of the group's canonical text (its name and every key, references resolved):
     * equal digests, the same group, so a reload that leaves it alone says nothing of it. */
    uint64_t digest;
    /* Bounds in time (docs/bounds.md). With a time-of-day schedule, `min` above holds its
     * lowest value and `max` its highest; the bounds in effect come from as_bounds_at. */
    struct as_tod *min_tod, *max_tod; /* NULL: the constant min / max */
    char *timezone;                   /* of min_tod, max_tod and schedules; default "UTC" */
    struct as_tz *tz;                 /* loaded zone; NULL = UTC */
    size_t nschedules;
    struct as_sched *schedules; /* scheduled capacity */
    int64_t warmup_ms;          /* younger replicas (or a scale-up this recent) block scale-down */
    int64_t idle_period_ms;     /* min 0: at or below activation this long before going to zero */
    int history;                /* scale events kept in the group's history */
    int count_max;              /* a count read above this is a failed read (0: 10 x max) */
    int count_confirm;          /* reads in a row that make a changed count trusted */
    struct as_model_cfg model;  /* simulation only (config/model_cfg.c) */
};

struct as_config {
    char *file;
    char *log_file;
    int log_level;
    char *state_dir;                   /* where group state is persisted; "" = not persisted */
    int rounds_in_flight;              /* rounds measuring at once, all groups (backpressure) */
    int calls_per_host;                /* HTTP calls in flight per origin, all groups */
    int plain_http;                    /* plain http:// GETs without libcurl */
    int state_dir_line, state_dir_col; /* where it is set (the top of the file by default) */
    size_t ngroups;
    struct as_group_cfg *groups;
    size_t nnotifiers;
    struct as_notifier_cfg *notifiers; /* config/notify_cfg.h */
    struct as_server_cfg *http;        /* `http:` (config/server_cfg.h); never NULL once loaded */
    char **ref_values; /* what every ${...} reference resolved to (config/redact.h); NULL-ended */
    int refs;          /* owners: as_config_unref frees at zero */
    struct as_index by_name; /* group name -> index in groups, for as_config_group */
};

/* Loads and validates path: the whole file, every error found (an error that only follows
 * from another, such as the keys of an unknown source type, is not reported). Returns a config
 * with one reference, or NULL with err at the exact file:line:column of the first problem in
 * file order ("FILE: why" with line 0 when the file cannot be read at all). A relative
 * log_file or state_dir is made relative to the file's directory. */
struct as_config *as_config_load(const char *path, struct as_err *err);

/* Same, and every error is added to errs (in file order, exact duplicates dropped; see
 * struct as_errs). */
struct as_config *as_config_load_all(const char *path, struct as_errs *errs, struct as_err *err);

/* Same from text (tests); name is used in error positions. */
struct as_config *as_config_parse(const char *name, const char *text, struct as_err *err);
struct as_config *as_config_parse_all(const char *name, const char *text, struct as_errs *errs,
                                      struct as_err *err);

void as_config_ref(struct as_config *cfg);
void as_config_unref(struct as_config *cfg);

/* The index of the group's metric of that name, or -1. */
long as_group_metric_index(const struct as_group_cfg *g, const char *name);

/* Resolves a policy key that names one of the group's metrics: name NULL gives def; an
 * unknown name is an error at the key's position in map ("... 'key': no metric named 'x'").
 * Returns 0 or -1 with err. */
int as_group_metric(const struct as_group_cfg *g, struct as_node *map, const char *key,
                    const char *name, size_t def, size_t *out, struct as_err *err);

/* Two groups whose metrics claim one exclusive resource (as_source_ops.exclusive: a listening
 * port) cannot both run: returns -1 with err at the later group's name (in file). Metrics of
 * one group may share one. Returns 0 otherwise. */
int as_config_check_exclusive(const struct as_config *cfg, const char *file, struct as_err *err);

/* Finds a group by name in O(1), NULL if absent. */
struct as_group_cfg *as_config_group(const struct as_config *cfg, const char *name);

/* Option tables, for `autoscaler options` and the docs. */
extern const struct as_opt as_global_opts[];
extern const struct as_opt as_group_opts[];
extern const struct as_opt as_metric_opts[];
extern const struct as_opt as_scaler_common_opts[];
extern const struct as_opt as_fallback_opts[];
extern const struct as_opt as_too_rapid_opts[];
extern const struct as_opt as_schedule_opts[];
extern const struct as_opt as_model_opts[]; /* a group's `model:` (simulation only) */
/* A metric's `model:` kinds (simulation only), NULL-terminated; "auto" first. */
extern const char *const as_model_kinds[];

/* Sets m->model from m->model_name; an unknown name is an error at the metric's `model` key
 * (map n) naming the kinds. Returns 0 or -1 with err. */
int as_model_kind_resolve(struct as_metric_cfg *m, struct as_node *n, const char *what,
                          struct as_err *err);

/* Writes the full generated option reference (Markdown) to sb. Returns 0 or -1. */
int as_config_reference(struct as_sb *sb);

#endif
