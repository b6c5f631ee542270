/* What `autoscaler simulate` and `autoscaler tune` read alike from the command line: the
 * configuration and its group, the service model (the group's `model:` section, then
 * --capacity, --startup, --concurrency, --slo) and the load scale (--peak-replicas, --scale).
 * Messages go to stderr prefixed "autoscaler CMD:". */
#ifndef AS_SIM_FLAGS_H
#define AS_SIM_FLAGS_H

#include <stdint.h>

#include "config/config.h"
#include "sim/sim.h"

struct as_sim_flags {
    const char *cmd; /* "simulate", "tune": the messages' prefix */
    const char *capacity, *startup, *concurrency, *slo; /* NULL: from the group's model */
    const char *peak, *scale;                           /* NULL: none, 1 */
};

/* "p95<=200ms" (spaces allowed) into m's slo_pct and slo_ms. Returns 0 or -1. */
int as_sim_flags_slo(const char *s, struct as_sim_model *m);

/* A number flag within [lo, hi]: 0 when absent (out untouched), 1 when read, -1 (printed). */
int as_sim_flags_num(const char *cmd, const char *name, const char *s, double lo, double hi,
                     double *out);

/* A duration flag of at least lo ms: 0 absent, 1 read, -1 (printed). */
int as_sim_flags_dur(const char *cmd, const char *name, const char *s, int64_t lo, int64_t *out);

/* The model of group g with the flags over it, checked. Returns 0 or -1 (printed). */
int as_sim_flags_model(const struct as_sim_flags *f, const struct as_group_cfg *g,
                       struct as_sim_model *m);

/* The load multiplier: --peak-replicas N makes the peak of the trace within o's window need
 * N replicas of m, then --scale multiplies. *peak_rps gets the scaled peak. Returns 0 or -1
 * (printed). */
int as_sim_flags_scale(const struct as_sim_flags *f, const struct as_sim_trace *tr,
                       const struct as_sim_model *m, const struct as_sim_opts *o, double *scale,
                       double *peak_rps);

/* Loads and checks the configuration, printing every error at file:line:column. Caller
 * unrefs. NULL when it is refused. */
struct as_config *as_sim_flags_config(const char *path);

/* The group named name, or the file's only group; NULL (printed) otherwise. */
const struct as_group_cfg *as_sim_flags_group(const char *cmd, const struct as_config *cfg,
                                              const char *name);

#endif
