/* `autoscaler simulate` (docs/simulation.md): a group's policy, and the baselines, over a
 * traffic trace through the service model of src/sim. */
#ifndef AS_SIMULATE_CMD_H
#define AS_SIMULATE_CMD_H

#include <stdio.h>

#include "sim/sim.h"

/* The command; argv after `simulate`. Exit codes: 0, 1 (cannot read or write), 2 (usage,
 * configuration or trace error). */
int as_cmd_simulate(int argc, char **argv);

/* ---- the outputs (simulate_out.c) ---- */

/* One policy's results and its downsampled timeline for the plot. */
struct as_sim_series {
    const char *name;
    struct as_sim_result res;
    int *replicas; /* per point: the most replicas in the point's steps */
};

/* What every output shares. */
struct as_sim_report {
    const char *group, *trace, *slo_text;
    const struct as_sim_model *model;
    double load_scale, peak_rps, step_s, from_s, to_s, warp;
    int64_t steps;
    size_t nseries, npoints, per_point; /* per_point: steps per plotted point */
    struct as_sim_series *series;
    double *load; /* per point: the highest offered load */
    int oracle;   /* index of the oracle in series, -1 none */
};

/* The report as a table (text) or as JSON. Return 0 or -1 on a write error. */
int as_sim_write_table(FILE *out, const struct as_sim_report *r);
int as_sim_write_json(FILE *out, const struct as_sim_report *r);

/* The plot: load and each policy's replicas over time, standalone SVG. */
int as_sim_write_svg(FILE *out, const struct as_sim_report *r);

/* The CSV timeline's header, and one row per step (an as_sim_step_cb's work). */
void as_sim_csv_header(FILE *out);
void as_sim_csv_row(FILE *out, const char *policy, const struct as_sim_step *s);

#endif
