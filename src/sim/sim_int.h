/* Internals shared by the simulator's files (not for callers of sim.h). */
#ifndef AS_SIM_INT_H
#define AS_SIM_INT_H

#include "sim/sim.h"

/* The trace as a function of simulated time: one rate per step, the mean of the trace over
 * the step's stretch of trace time (a row holds over its whole length). */
struct as_sim_clock {
    const struct as_sim_trace *tr;
    int64_t step_ms, steps, i;
    double warp, scale, from, to;
    double x, fa, cum; /* trace time of the next step, the integral up to it, up to row k */
    size_t k;
};

void as_sim_clock_init(struct as_sim_clock *c, const struct as_sim_trace *tr,
                       const struct as_sim_opts *o);

/* The next step's offered rate (scaled). */
double as_sim_clock_next(struct as_sim_clock *c);

/* The last model step, reused while its inputs stay the same and no backlog is carried. */
struct as_sim_cache {
    int valid, serving, pcts;
    double load, dt;
    struct as_sim_point pt;
};

void as_sim_cached_step(struct as_sim_cache *c, const struct as_sim_model *m, int serving,
                        double load, double dt, double *backlog, int pcts,
                        struct as_sim_point *out);

/* as_sim_model_step with a guess of the SLO's percentile (the step before's, ms; 0: none)
 * to start its search from. */
void as_sim_model_step_hint(const struct as_sim_model *m, int serving, double lambda, double dt_s,
                            double *backlog, int pcts, double hint_ms, struct as_sim_point *out);

/* Turns the time-weighted sums of res into means over duration_s. */
void as_sim_result_finish(struct as_sim_result *res, double duration_s);

#endif
