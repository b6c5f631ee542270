/* `autoscaler simulate`: the command line, the model from the file and the flags, one run per
 * policy (the group's own, then --compare's baselines), and the outputs. */
#include "drivers/simulate_cmd.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "drivers/replay.h"
#include "drivers/sim_flags.h"
#include "util/util.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define METRIC_FLAGS_MAX 32
#define POINTS_MAX 2000 /* plotted points per series */
#define SERIES_MAX 8

static const char usage[] =
    "usage: autoscaler simulate -c FILE --trace TRACE.csv [--group NAME]\n"
    "                           [--compare oracle,hpa,kpa] [--capacity RPS] [--startup D]\n"
    "                           [--concurrency N] [--slo pP<=D] [--metric NAME=KIND]...\n"
    "                           [--peak-replicas N] [--scale X] [--warp X] [--step D]\n"
    "                           [--start TIME] [--from S] [--to S] [--initial N]\n"
    "                           [--csv OUT] [--svg OUT] [--json]\n"
    "\n"
    "Drives the group's policy (the same decision code as `run`) with a traffic trace\n"
    "through a queueing model of the service (M/M/c per step, a fluid backlog when overloaded)\n"
    "on a virtual clock, and reports per policy the cost in replica-seconds, its ratio to the\n"
    "oracle, the time the SLO was violated, scale events and latencies. The group's sources\n"
    "are replaced by the model's quantities (a metric's `model:` key, --metric, or the rule of\n"
    "docs/simulation.md); the group's `model:` section holds the model, the flags win.\n"
    "\n"
    "  -c, --config FILE     configuration holding the group\n"
    "  --trace TRACE.csv     t_seconds,requests_per_second (traces/README.md); - reads stdin\n"
    "  --group NAME          the group (needed when FILE has several)\n"
    "  --compare LIST        baselines run beside it: oracle, hpa, kpa (comma-separated)\n"
    "  --capacity RPS        requests/s one replica serves with all its servers busy\n"
    "  --startup D           a new replica serves only after this long (e.g. 30s)\n"
    "  --concurrency N       servers per replica (service time = N / capacity)\n"
    "  --slo pP<=D           the SLO, e.g. p95<=200ms\n"
    "  --metric NAME=KIND    the model quantity metric NAME reads (repeatable): utilization,\n"
    "                        latency_mean, latency_p50/p90/p95/p99, rps, rps_per_replica,\n"
    "                        queue, concurrency, concurrency_per_replica\n"
    "  --peak-replicas N     scale the trace so that its peak needs N replicas at the SLO\n"
    "  --scale X             multiply the load by X (after --peak-replicas)\n"
    "  --warp X              X seconds of trace per simulated second (0.5: slow motion)\n"
    "  --step D              the simulated step (default 1s)\n"
    "  --start TIME          wall clock of t=0 for schedules and time-of-day bounds: epoch\n"
    "                        seconds or RFC 3339 (default: the epoch)\n"
    "  --from S, --to S      only this part of the trace, in trace seconds\n"
    "  --initial N           replicas at t=0, all serving (default: what the oracle needs)\n"
    "  --csv OUT             the timeline, one row per policy and step\n"
    "  --svg OUT             a plot of the load and each policy's replicas over time\n"
    "  --json                the report as JSON instead of a table\n"
    "docs: docs/simulation.md\n"
    "exit codes: 0 success, 1 cannot read or write, 2 usage, configuration or trace error\n";

struct sim_args {
    const char *config, *trace, *group, *compare, *csv, *svg, *slo, *start;
    const char *capacity, *startup, *concurrency, *peak, *scale, *warp, *step, *from, *to;
    const char *initial;
    const char *metrics[METRIC_FLAGS_MAX + 1];
    size_t nmetrics;
    int json, help;
};

static const char **flag(struct sim_args *a, const char *s)
{
    static const struct {
        const char *name;
        size_t off;
    } flags[] = {
#define F(n, f) {n, offsetof(struct sim_args, f)}
        F("-c", config),
        F("--config", config),
        F("--trace", trace),
        F("--group", group),
        F("--compare", compare),
        F("--csv", csv),
        F("--svg", svg),
        F("--slo", slo),
        F("--start", start),
        F("--capacity", capacity),
        F("--startup", startup),
        F("--concurrency", concurrency),
        F("--peak-replicas", peak),
        F("--scale", scale),
        F("--warp", warp),
        F("--step", step),
        F("--from", from),
        F("--to", to),
        F("--initial", initial),
#undef F
    };
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (strcmp(s, flags[i].name) == 0)
            return (const char **)((char *)a + flags[i].off);
    return NULL;
}

static int parse_args(int argc, char **argv, struct sim_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], **val = flag(a, s);
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = 1;
            continue;
        }
        if (strcmp(s, "--json") == 0) {
            a->json = 1;
            continue;
        }
        if (strcmp(s, "--metric") == 0) {
            if (a->nmetrics >= METRIC_FLAGS_MAX) {
                fprintf(stderr, "autoscaler simulate: at most %d --metric\n", METRIC_FLAGS_MAX);
                return -1;
            }
            val = &a->metrics[a->nmetrics++];
        }
        if (val == NULL) {
            fprintf(stderr, "autoscaler simulate: unknown argument '%s' (see --help)\n", s);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "autoscaler simulate: %s needs a value\n", s);
            return -1;
        }
        *val = argv[++i];
    }
    return 0;
}

/* ---- the model: the group's `model:`, then the flags ---- */

/* ---- the runs ---- */

struct sim {
    struct sim_args a;
    struct as_config *cfg;
    const struct as_group_cfg *g;
    struct as_sim_trace tr;
    struct as_sim_model m;
    struct as_sim_opts o;
    struct as_sim_report rep;
    struct as_sim_series series[SERIES_MAX];
    char slo_text[64];
    enum as_sim_kind bkinds[SERIES_MAX]; /* the baselines' one metric each */
    enum as_sim_kind *kinds;             /* the group's, per metric */
    FILE *csv;
    /* the series being run, for the step callback */
    struct as_sim_series *cur;
    int first; /* the first series: it also records the load */
};

static void on_step(const struct as_sim_step *s, void *arg)
{
    struct sim *x = arg;
    size_t i = (size_t)llround(s->t_s / x->rep.step_s) / x->rep.per_point;
    if (i < x->rep.npoints) {
        if (s->replicas > x->cur->replicas[i])
            x->cur->replicas[i] = s->replicas;
        if (x->first && s->load > x->rep.load[i])
            x->rep.load[i] = s->load;
    }
    if (x->csv != NULL)
        as_sim_csv_row(x->csv, x->cur->name, s);
}

static int run_one(struct sim *x, const char *name, const struct as_group_cfg *g,
                   const enum as_sim_kind *kinds, int oracle)
{
    struct as_err err;
    as_err_clear(&err);
    if (x->rep.nseries >= SERIES_MAX) {
        fprintf(stderr, "autoscaler simulate: at most %d policies\n", SERIES_MAX);
        return EXIT_USAGE;
    }
    struct as_sim_series *s = &x->series[x->rep.nseries];
    s->name = name;
    s->replicas = calloc(x->rep.npoints ? x->rep.npoints : 1, sizeof(*s->replicas));
    if (s->replicas == NULL) {
        fprintf(stderr, "autoscaler simulate: out of memory\n");
        return EXIT_RUNTIME;
    }
    x->rep.nseries++;
    x->cur = s;
    x->first = x->rep.nseries == 1;
    x->o.kinds = kinds;
    int rc = oracle ? as_sim_oracle(&x->tr, &x->m, &x->o, x->g->min, &s->res, &err)
                    : as_sim_run(g, &x->tr, &x->m, &x->o, &s->res, &err);
    if (rc < 0) {
        fprintf(stderr, "autoscaler simulate: %s: %s\n", name, err.msg);
        return EXIT_RUNTIME;
    }
    if (oracle)
        x->rep.oracle = (int)(x->rep.nseries - 1);
    return 0;
}

/* The target the HPA baseline tracks: the group's first utilization target, else 0.7. */
static double hpa_target(const struct as_group_cfg *g, const enum as_sim_kind *kinds)
{
    for (size_t i = 0; i < g->nmetrics; i++)
        if (kinds[i] == AS_SIM_UTILIZATION && g->metrics[i].target > 0)
            return g->metrics[i].target;
    return 0.7;
}

static int run_baseline(struct sim *x, const char *name, const enum as_sim_kind *kinds)
{
    if (strcmp(name, "oracle") == 0)
        return run_one(x, "oracle", NULL, kinds, 1);
    struct as_err err;
    as_err_clear(&err);
    enum as_sim_kind *bk = &x->bkinds[x->rep.nseries % SERIES_MAX];
    struct as_config *b =
        as_sim_baseline(name, &x->m, hpa_target(x->g, kinds), x->g->min, x->g->max, bk, &err);
    if (b == NULL) {
        char buf[AS_ERR_MAX + 300];
        fprintf(stderr, "autoscaler simulate: --compare: %s\n", as_err_str(&err, buf, sizeof(buf)));
        return EXIT_USAGE;
    }
    /* a name that outlives the baseline's configuration */
    int rc = run_one(x, strcmp(name, "hpa") == 0 ? "hpa" : "kpa", &b->groups[0], bk, 0);
    as_config_unref(b);
    return rc;
}

static int run_all(struct sim *x, const enum as_sim_kind *kinds)
{
    int rc = run_one(x, x->g->name, x->g, kinds, 0);
    char list[256];
    if (rc != 0 || x->a.compare == NULL)
        return rc;
    if (snprintf(list, sizeof(list), "%s", x->a.compare) >= (int)sizeof(list)) {
        fprintf(stderr, "autoscaler simulate: --compare: too long\n");
        return EXIT_USAGE;
    }
    for (char *save = NULL, *p = strtok_r(list, ",", &save); p && rc == 0;
         p = strtok_r(NULL, ",", &save))
        rc = run_baseline(x, p, kinds);
    return rc;
}

/* ---- setup ---- */

static int check_compare(const char *list)
{
    char buf[256];
    if (list == NULL)
        return 0;
    if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf))
        goto bad;
    int n = 0;
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (strcmp(p, "oracle") != 0 && strcmp(p, "hpa") != 0 && strcmp(p, "kpa") != 0)
            goto bad;
        n++;
    }
    if (n > 0 && n < SERIES_MAX)
        return 0;
bad:
    fprintf(stderr, "autoscaler simulate: --compare '%s': expected a list of oracle, hpa, kpa\n",
            list);
    return -1;
}

/* The simulation options from the flags; the load scale last (it needs the model). */
static int options(struct sim *x)
{
    struct sim_args *a = &x->a;
    double v;
    int rc;
    x->o = (struct as_sim_opts){.step_ms = 1000, .warp = 1, .scale = 1, .initial = -1};
    struct as_err err;
    as_err_clear(&err);
    if (as_sim_flags_dur("simulate", "--step", a->step, 1, &x->o.step_ms) < 0 ||
        as_sim_flags_num("simulate", "--warp", a->warp, 1e-6, 1e6, &x->o.warp) < 0 ||
        as_sim_flags_num("simulate", "--from", a->from, 0, 1e11, &x->o.from_s) < 0 ||
        as_sim_flags_num("simulate", "--to", a->to, 0, 1e11, &x->o.to_s) < 0)
        return -1;
    if ((rc = as_sim_flags_num("simulate", "--initial", a->initial, 0, 1e6, &v)) < 0)
        return -1;
    if (rc > 0)
        x->o.initial = (int)v;
    if (a->start != NULL && as_replay_start_parse(a->start, &x->o.start_ms, &err) < 0) {
        fprintf(stderr, "autoscaler simulate: %s\n", err.msg);
        return -1;
    }
    if (a->to != NULL && a->from != NULL && x->o.to_s <= x->o.from_s) {
        fprintf(stderr, "autoscaler simulate: --to must be after --from\n");
        return -1;
    }
    return 0;
}

/* The flags model, scale and the command's name, as tune reads them (drivers/sim_flags.h). */
static struct as_sim_flags flags_of(const struct sim_args *a)
{
    return (struct as_sim_flags){.cmd = "simulate",
                                 .capacity = a->capacity,
                                 .startup = a->startup,
                                 .concurrency = a->concurrency,
                                 .slo = a->slo,
                                 .peak = a->peak,
                                 .scale = a->scale};
}

static int load_scale(struct sim *x)
{
    struct as_sim_flags f = flags_of(&x->a);
    if (as_sim_flags_scale(&f, &x->tr, &x->m, &x->o, &x->o.scale, &x->rep.peak_rps) < 0)
        return -1;
    x->rep.load_scale = x->o.scale;
    return 0;
}
static int setup(struct sim *x)
{
    struct as_err err;
    as_err_clear(&err);
    if (check_compare(x->a.compare) < 0 || options(x) < 0)
        return EXIT_USAGE;
    if ((x->cfg = as_sim_flags_config(x->a.config)) == NULL ||
        (x->g = as_sim_flags_group("simulate", x->cfg, x->a.group)) == NULL)
        return EXIT_USAGE;
    x->a.metrics[x->a.nmetrics] = NULL;
    if ((x->kinds = calloc(x->g->nmetrics + 1, sizeof(*x->kinds))) == NULL) {
        fprintf(stderr, "autoscaler simulate: out of memory\n");
        return EXIT_RUNTIME;
    }
    if (as_sim_kinds(x->g, x->a.metrics, x->kinds, &err) < 0) {
        fprintf(stderr, "autoscaler simulate: %s\n", err.msg);
        return EXIT_USAGE;
    }
    struct as_sim_flags f = flags_of(&x->a);
    if (as_sim_flags_model(&f, x->g, &x->m) < 0)
        return EXIT_USAGE;
    if (as_sim_trace_load(x->a.trace, &x->tr, &err) < 0) {
        char buf[AS_ERR_MAX + 300];
        fprintf(stderr, "%s\n", as_err_str(&err, buf, sizeof(buf)));
        return err.line > 0 ? EXIT_USAGE : EXIT_RUNTIME;
    }
    if (load_scale(x) < 0)
        return EXIT_USAGE;
    snprintf(x->slo_text, sizeof(x->slo_text), "p%g <= %g ms", x->m.slo_pct, x->m.slo_ms);
    return 0;
}

/* The report's frame: the window in trace time and the plot's points. */
static int frame(struct sim *x)
{
    struct as_sim_report *r = &x->rep;
    double first = x->tr.t[0], last = x->tr.t[x->tr.n - 1] + x->tr.step_s;
    r->group = x->g->name;
    r->trace = x->a.trace;
    r->slo_text = x->slo_text;
    r->model = &x->m;
    r->step_s = (double)x->o.step_ms / 1000;
    r->warp = x->o.warp;
    r->from_s = x->o.from_s > first ? x->o.from_s : first;
    r->to_s = x->o.to_s > r->from_s && x->o.to_s < last ? x->o.to_s : last;
    r->steps = (int64_t)ceil((r->to_s - r->from_s) / r->warp / r->step_s - 1e-9);
    if (r->steps <= 0) {
        fprintf(stderr, "autoscaler simulate: the window holds no step of the trace\n");
        return EXIT_USAGE;
    }
    r->per_point = (size_t)((r->steps + POINTS_MAX - 1) / POINTS_MAX);
    r->npoints = (size_t)((r->steps + (int64_t)r->per_point - 1) / (int64_t)r->per_point);
    r->series = x->series;
    r->oracle = -1;
    r->load = calloc(r->npoints, sizeof(*r->load));
    if (r->load == NULL) {
        fprintf(stderr, "autoscaler simulate: out of memory\n");
        return EXIT_RUNTIME;
    }
    return 0;
}

static FILE *open_out(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "autoscaler simulate: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *path, int rc)
{
    if (f == NULL || f == stdout)
        return rc;
    if (fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "autoscaler simulate: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    return rc;
}

static int outputs(struct sim *x)
{
    int rc = 0;
    if (x->a.svg != NULL) {
        FILE *f = open_out(x->a.svg);
        if (f == NULL)
            return EXIT_RUNTIME;
        rc = close_out(f, x->a.svg, as_sim_write_svg(f, &x->rep) < 0 ? EXIT_RUNTIME : 0);
    }
    if (rc == 0 &&
        (x->a.json ? as_sim_write_json(stdout, &x->rep) : as_sim_write_table(stdout, &x->rep)) < 0)
        rc = EXIT_RUNTIME;
    return rc;
}

static int simulate(struct sim *x)
{
    int rc = EXIT_USAGE;
    if (x->a.config == NULL || x->a.trace == NULL) {
        fprintf(stderr, "autoscaler simulate: -c FILE and --trace TRACE.csv are required\n");
        return EXIT_USAGE;
    }
    if ((rc = setup(x)) != 0 || (rc = frame(x)) != 0)
        return rc;
    if (x->a.csv != NULL) {
        if ((x->csv = open_out(x->a.csv)) == NULL)
            return EXIT_RUNTIME;
        as_sim_csv_header(x->csv);
    }
    x->o.on_step = on_step;
    x->o.arg = x;
    x->o.percentiles = x->csv != NULL;
    rc = run_all(x, x->kinds);
    if (x->csv != NULL) {
        rc = close_out(x->csv, x->a.csv, rc);
        x->csv = NULL;
    }
    return rc != 0 ? rc : outputs(x);
}

int as_cmd_simulate(int argc, char **argv)
{
    struct sim x = {0};
    if (parse_args(argc, argv, &x.a) < 0)
        return EXIT_USAGE;
    if (x.a.help) {
        fputs(usage, stdout);
        return 0;
    }
    int rc = simulate(&x);
    for (size_t i = 0; i < x.rep.nseries; i++)
        free(x.series[i].replicas);
    free(x.rep.load);
    free(x.kinds);
    as_sim_trace_free(&x.tr);
    as_config_unref(x.cfg);
    return rc;
}
