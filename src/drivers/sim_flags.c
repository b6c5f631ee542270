/* The command-line parts `autoscaler simulate` and `autoscaler tune` share (sim_flags.h). */
#include "drivers/sim_flags.h"

#include <stdio.h>
#include <string.h>

#include "util/util.h"

int as_sim_flags_slo(const char *s, struct as_sim_model *m)
{
    char buf[64];
    size_t n = 0;
    for (; *s && n + 1 < sizeof(buf); s++)
        if (*s != ' ')
            buf[n++] = *s;
    buf[n] = '\0';
    char *le = strstr(buf, "<=");
    if (*s || buf[0] != 'p' || le == NULL)
        return -1;
    *le = '\0';
    int64_t ms;
    double p;
    if (as_parse_double(buf + 1, &p) < 0 || as_duration_parse(le + 2, &ms) < 0 || ms <= 0)
        return -1;
    m->slo_pct = p;
    m->slo_ms = (double)ms;
    return 0;
}

int as_sim_flags_num(const char *cmd, const char *name, const char *s, double lo, double hi,
                     double *out)
{
    if (s == NULL)
        return 0;
    if (as_parse_double(s, out) < 0 || !(*out >= lo && *out <= hi)) {
        fprintf(stderr, "autoscaler %s: %s '%s': expected a number from %g to %g\n", cmd, name, s,
                lo, hi);
        return -1;
    }
    return 1;
}

int as_sim_flags_dur(const char *cmd, const char *name, const char *s, int64_t lo, int64_t *out)
{
    if (s == NULL)
        return 0;
    if (as_duration_parse(s, out) < 0 || *out < lo) {
        fprintf(stderr, "autoscaler %s: %s '%s': expected a duration such as 30s\n", cmd, name, s);
        return -1;
    }
    return 1;
}

int as_sim_flags_model(const struct as_sim_flags *f, const struct as_group_cfg *g,
                       struct as_sim_model *m)
{
    *m = (struct as_sim_model){.capacity = g->model.capacity,
                               .startup_ms = g->model.startup_ms,
                               .concurrency = g->model.concurrency,
                               .slo_pct = g->model.slo_percentile,
                               .slo_ms = (double)g->model.slo_latency_ms};
    double conc;
    int rc = as_sim_flags_num(f->cmd, "--capacity", f->capacity, 1e-9, 1e12, &m->capacity);
    if (rc < 0 || as_sim_flags_dur(f->cmd, "--startup", f->startup, 0, &m->startup_ms) < 0 ||
        (rc = as_sim_flags_num(f->cmd, "--concurrency", f->concurrency, 1, AS_SIM_CONCURRENCY_MAX,
                               &conc)) < 0)
        return -1;
    if (rc > 0)
        m->concurrency = (int)conc;
    if (f->slo != NULL && as_sim_flags_slo(f->slo, m) < 0) {
        fprintf(stderr, "autoscaler %s: --slo '%s': expected pP<=DURATION, e.g. p95<=200ms\n",
                f->cmd, f->slo);
        return -1;
    }
    struct as_err err;
    as_err_clear(&err);
    if (as_sim_model_check(m, &err) < 0) {
        fprintf(stderr, "autoscaler %s: group '%s': %s\n", f->cmd, g->name, err.msg);
        return -1;
    }
    return 0;
}

int as_sim_flags_scale(const struct as_sim_flags *f, const struct as_sim_trace *tr,
                       const struct as_sim_model *m, const struct as_sim_opts *o, double *scale,
                       double *peak_rps)
{
    double peak_n = 0, mult = 1;
    if (as_sim_flags_num(f->cmd, "--peak-replicas", f->peak, 1, 1e6, &peak_n) < 0 ||
        as_sim_flags_num(f->cmd, "--scale", f->scale, 1e-9, 1e9, &mult) < 0)
        return -1;
    struct as_sim_opts w = *o;
    w.scale = 1;
    double peak = as_sim_trace_peak(tr, &w);
    *scale = 1;
    if (peak_n > 0) {
        if (peak <= 0) {
            fprintf(stderr, "autoscaler %s: --peak-replicas: the trace carries no load\n", f->cmd);
            return -1;
        }
        /* a hair below the most that N replicas carry, so that the peak needs exactly N */
        *scale = as_sim_max_load(m, (int)peak_n) * (1 - 1e-9) / peak;
    }
    *scale *= mult;
    *peak_rps = peak * *scale;
    return 0;
}

struct as_config *as_sim_flags_config(const char *path)
{
    struct as_err err;
    struct as_errs errs = {0};
    char buf[AS_ERR_MAX + 300];
    struct as_config *cfg = as_config_load_all(path, &errs, &err);
    if (cfg == NULL) {
        if (errs.n == 0)
            fprintf(stderr, "%s\n", as_err_str(&err, buf, sizeof(buf)));
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", as_err_str(&errs.v[i], buf, sizeof(buf)));
    }
    as_errs_free(&errs);
    return cfg;
}

const struct as_group_cfg *as_sim_flags_group(const char *cmd, const struct as_config *cfg,
                                              const char *name)
{
    if (name != NULL) {
        const struct as_group_cfg *g = as_config_group(cfg, name);
        if (g == NULL)
            fprintf(stderr, "autoscaler %s: no group '%s' in %s\n", cmd, name, cfg->file);
        return g;
    }
    if (cfg->ngroups == 1)
        return &cfg->groups[0];
    fprintf(stderr, "autoscaler %s: %s has %zu groups; choose one with --group\n", cmd, cfg->file,
            cfg->ngroups);
    return NULL;
}
