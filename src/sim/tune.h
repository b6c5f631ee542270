/* The search behind `autoscaler tune` (docs/tune.md): which values of a group's policy
 * parameters give the lowest cost on a traffic trace while the SLO is violated for at most a
 * given fraction of the time. A library like sim.h: no output, no global state; the clock of
 * the time limit is the caller's.
 *
 * A candidate is built as `check` builds a group: its values are written into the group's
 * parsed YAML document (as_tune_emit), the text is parsed by the configuration loader
 * (as_config_parse), and the group it yields is simulated (as_sim_run). So every candidate
 * is a configuration `check` accepts and the winning one prints as YAML the user can paste. */
#ifndef AS_TUNE_H
#define AS_TUNE_H

#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"
#include "config/opt.h"
#include "sim/sim.h"
#include "util/util.h"

#define AS_TUNE_PARAMS_MAX 12
#define AS_TUNE_PATH_MAX 128

/* One parameter: a key of the group by its path ("interval", "policy.stable_window",
 * "metrics.cpu.target", "behavior.scale_down.stabilization"), searched within [lo, hi]. */
struct as_tune_param {
    char path[AS_TUNE_PATH_MAX];
    enum as_opt_type type; /* AS_OPT_INT, AS_OPT_DOUBLE or AS_OPT_DURATION (values in ms) */
    double lo, hi;         /* inside the option's own bounds */
    double step;           /* the grid; 0: 4 significant digits (double), 1 (int), 1 s or
                              100 ms (duration, by the range) */
    double current;        /* the group's value (its default when the key is absent) */
};

struct as_tune_space {
    struct as_tune_param p[AS_TUNE_PARAMS_MAX];
    size_t n;
};

/* The parameter space of group g (node: its mapping in the parsed document). specs, when
 * given (NULL-terminated, non-empty), are `KEY=LO:HI[:STEP]` in the key's unit (a duration
 * such as 5s for a duration key); else the defaults of g's policy type (docs/tune.md), each
 * within the key's bounds in its option table. Returns 0, or -1 with err (an unknown key, a
 * key of another policy, a bound outside the option's, a metric that is not the group's). */
int as_tune_space_build(const struct as_group_cfg *g, const struct as_node *node,
                        const char *const *specs, struct as_tune_space *sp, struct as_err *err);

/* The text of value v of parameter p as it is written into the YAML ("10s", "0.62", "3"). */
const char *as_tune_value_text(const struct as_tune_param *p, double v, char *buf, size_t len);

/* v rounded to p's grid and clamped to [lo, hi]: the value a candidate really holds. */
double as_tune_quantize(const struct as_tune_param *p, double v);

/* Writes group `name` (its mapping node) as block YAML at `indent` spaces ("name:\n" and its
 * keys two deeper), with parameter i of sp set to v[i] (v NULL: as it is); a key that is
 * absent is added, with the mappings that lead to it. raw: a scalar that held a ${...}
 * reference is written as written (for printing); else as it resolved (to parse). Returns 0
 * or -1 on ENOMEM. */
int as_tune_emit(struct as_sb *sb, const char *name, const struct as_node *node,
                 const struct as_tune_space *sp, const double *v, int raw, int indent);

/* The problem: the group as written, the space, the trace and model, the limits. Borrowed. */
struct as_tune_problem {
    const char *file;           /* the configuration file: positions, relative paths */
    const char *group;          /* the group's name */
    const struct as_node *node; /* its mapping in the parsed document */
    const struct as_tune_space *space;
    const struct as_sim_trace *trace;
    struct as_sim_model model;
    struct as_sim_opts sim;       /* the window tuned on; kinds as resolved for the group */
    double max_violation;         /* allowed fraction of violating time, 0..1 */
    int budget;                   /* simulations at most, >= 1 (the current settings' included) */
    double time_limit_s;          /* 0: none */
    uint64_t seed;                /* the sample's */
    int threads;                  /* simulations at once, 1..16 */
    double (*clock_s)(void *arg); /* seconds, for the time limit (NULL: none) */
    void *clock_arg;
};

/* One evaluated candidate. */
struct as_tune_eval {
    double v[AS_TUNE_PARAMS_MAX]; /* the values (the current settings' as they are) */
    int ok;                       /* it built and simulated */
    double violation;             /* violating time / simulated time */
    struct as_sim_result res;
};

enum as_tune_stop { AS_TUNE_CONVERGED, AS_TUNE_BUDGET, AS_TUNE_TIME };

struct as_tune_result {
    struct as_tune_eval current, best;
    int feasible; /* best meets max_violation */
    int evals;    /* simulations run */
    int invalid;  /* candidates the loader refused */
    enum as_tune_stop stop;
    struct as_err first_invalid; /* why the first refused one was (its position is in the
                                    candidate's text, not in the file) */
    double first_invalid_v[AS_TUNE_PARAMS_MAX]; /* its values */
};

/* Whether e meets the problem's SLO allowance. */
int as_tune_feasible(const struct as_tune_problem *p, const struct as_tune_eval *e);

/* The candidate with values v (NULL: the group as it is) as a configuration of that one
 * group. Caller frees with as_config_unref. NULL with err when the loader refuses it. */
struct as_config *as_tune_config(const struct as_tune_problem *p, const double *v,
                                 struct as_err *err);

/* Searches: the current settings, a Latin hypercube sample, then compass search from the
 * best points with a halving step, until it converges or the budget or time runs out.
 * Deterministic for a seed (whatever the threads). Returns 0, or -1 with err when the current
 * settings cannot be simulated (a bad window, out of memory). */
int as_tune_run(const struct as_tune_problem *p, struct as_tune_result *r, struct as_err *err);

#endif
