/* `autoscaler tune`: the command line, the split of the trace, the search (src/sim/tune.c) on
 * the first part, the current and the best settings (and the oracle) on the held-out part, the
 * table or JSON, and the best settings as YAML. */
#include "drivers/tune_cmd.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/replay.h"
#include "drivers/sim_flags.h"
#include "sim/tune.h"
#include "util/util.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define LIST_MAX 32
#define DEFAULT_BUDGET 300
#define DEFAULT_VIOLATION 0.01
#define DEFAULT_TRAIN 0.7

static const char usage[] =
    "usage: autoscaler tune -c FILE --trace TRACE.csv [--group NAME] [--slo pP<=D]\n"
    "                       [--max-violation P%] [--param KEY=LO:HI[:STEP]]...\n"
    "                       [--train P%] [--budget N] [--time D] [--seed N] [--threads N]\n"
    "                       [--capacity RPS] [--startup D] [--concurrency N]\n"
    "                       [--metric NAME=KIND]... [--peak-replicas N] [--scale X]\n"
    "                       [--step D] [--start TIME] [--json]\n"
    "\n"
    "Searches the group's policy parameters for the lowest cost (replica-seconds) that keeps\n"
    "the SLO-violating time within --max-violation on the first part of the trace (--train),\n"
    "through the simulator of `autoscaler simulate`, then reports the current and the best\n"
    "settings side by side on the held-out rest, and prints the group with the best settings\n"
    "as YAML to paste.\n"
    "\n"
    "  -c, --config FILE       configuration holding the group\n"
    "  --trace TRACE.csv       t_seconds,requests_per_second (traces/README.md); - reads stdin\n"
    "  --group NAME            the group (needed when FILE has several)\n"
    "  --slo pP<=D             the SLO, e.g. p95<=200ms (default: the group's model:)\n"
    "  --max-violation P%      allowed SLO-violating time on the part tuned on (default 1%)\n"
    "  --param KEY=LO:HI[:STEP]  a key to search (repeatable; replaces the defaults), e.g.\n"
    "                          metrics.cpu.target=0.4:0.9, interval=5s:60s:5s,\n"
    "                          behavior.scale_down.stabilization=0s:10m, "
    "policy.stable_window=6s:2m\n"
    "  --train P%              the first P% of the trace is tuned on, the rest held out\n"
    "                          (default 70%)\n"
    "  --budget N              simulations at most (default 300)\n"
    "  --time D                stop searching after this long (e.g. 2m; default: no limit)\n"
    "  --seed N                the sample's seed (default 1): the same seed, the same result\n"
    "  --threads N             simulations at once (default 2)\n"
    "  --capacity RPS, --startup D, --concurrency N, --metric NAME=KIND, --peak-replicas N,\n"
    "  --scale X, --step D, --start TIME\n"
    "                          the model and the load, as in `autoscaler simulate`\n"
    "  --json                  the report as JSON instead of a table\n"
    "docs: docs/tune.md\n"
    "exit codes: 0 success (also when no setting meets the SLO: the report says so), 1 cannot\n"
    "read or write, 2 usage, configuration or trace error\n";

struct tune_args {
    const char *config, *trace, *group, *slo, *max_violation, *train, *budget, *time, *seed;
    const char *threads, *capacity, *startup, *concurrency, *peak, *scale, *step, *start;
    const char *metrics[LIST_MAX + 1], *params[LIST_MAX + 1];
    size_t nmetrics, nparams;
    int json, help;
};

static const char **flag(struct tune_args *a, const char *s)
{
    static const struct {
        const char *name;
        size_t off;
    } flags[] = {
#define F(n, f) {n, offsetof(struct tune_args, f)}
        F("-c", config),
        F("--config", config),
        F("--trace", trace),
        F("--group", group),
        F("--slo", slo),
        F("--max-violation", max_violation),
        F("--train", train),
        F("--budget", budget),
        F("--time", time),
        F("--seed", seed),
        F("--threads", threads),
        F("--capacity", capacity),
        F("--startup", startup),
        F("--concurrency", concurrency),
        F("--peak-replicas", peak),
        F("--scale", scale),
        F("--step", step),
        F("--start", start),
#undef F
    };
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (strcmp(s, flags[i].name) == 0)
            return (const char **)((char *)a + flags[i].off);
    return NULL;
}

static const char **list_flag(struct tune_args *a, const char *s)
{
    size_t *n = strcmp(s, "--metric") == 0  ? &a->nmetrics
                : strcmp(s, "--param") == 0 ? &a->nparams
                                            : NULL;
    if (n == NULL)
        return NULL;
    if (*n >= LIST_MAX) {
        fprintf(stderr, "autoscaler tune: at most %d %s\n", LIST_MAX, s);
        return NULL;
    }
    return n == &a->nmetrics ? &a->metrics[(*n)++] : &a->params[(*n)++];
}

static int parse_args(int argc, char **argv, struct tune_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], **val = flag(a, s);
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0 || strcmp(s, "--json") == 0) {
            *(s[2] == 'j' ? &a->json : &a->help) = 1;
            continue;
        }
        if (val == NULL && (strcmp(s, "--metric") == 0 || strcmp(s, "--param") == 0) &&
            (val = list_flag(a, s)) == NULL)
            return -1;
        if (val == NULL) {
            fprintf(stderr, "autoscaler tune: unknown argument '%s' (see --help)\n", s);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "autoscaler tune: %s needs a value\n", s);
            return -1;
        }
        *val = argv[++i];
    }
    a->metrics[a->nmetrics] = NULL;
    a->params[a->nparams] = NULL;
    return 0;
}

/* ---- setup ---- */

struct tune {
    struct tune_args a;
    struct as_config *cfg;
    struct as_doc *doc;
    const struct as_group_cfg *g;
    struct as_sim_trace tr;
    struct as_tune_space space;
    struct as_tune_problem p;
    enum as_sim_kind *kinds;
    double scale, peak_rps, first_s, split_s, end_s, elapsed_s;
    struct as_tune_result r;
    struct as_sim_result held[3]; /* current, best, oracle on the held-out part */
    struct as_sim_result train_oracle;
};

/* "1%", "0.5 %" or "1": a percentage from lo to hi, as a fraction. */
static int percent_flag(const char *name, const char *s, double lo, double hi, double *out)
{
    char buf[32];
    if (s == NULL)
        return 0;
    size_t n = strlen(s);
    if (snprintf(buf, sizeof(buf), "%s", s) < (int)sizeof(buf) && n > 0 && buf[n - 1] == '%')
        buf[n - 1] = '\0';
    double v;
    if (n >= sizeof(buf) || as_parse_double(buf, &v) < 0 || !(v >= lo && v <= hi)) {
        fprintf(stderr, "autoscaler tune: %s '%s': expected a percentage from %g%% to %g%%\n", name,
                s, lo, hi);
        return -1;
    }
    *out = v / 100;
    return 1;
}

static double mono_s(void *unused)
{
    (void)unused;
    return (double)as_mono_ms() / 1000;
}

/* --max-violation, --train, --budget, --time, --seed, --threads, --step, --start. */
static int search_opts(struct tune *x, double *train)
{
    struct tune_args *a = &x->a;
    double budget = DEFAULT_BUDGET, seed = 1, threads = 2;
    int64_t limit_ms = 0;
    struct as_err err;
    x->p.max_violation = DEFAULT_VIOLATION;
    *train = DEFAULT_TRAIN;
    x->p.sim = (struct as_sim_opts){.step_ms = 1000, .warp = 1, .scale = 1, .initial = -1};
    if (percent_flag("--max-violation", a->max_violation, 0, 100, &x->p.max_violation) < 0 ||
        percent_flag("--train", a->train, 1, 99, train) < 0 ||
        as_sim_flags_num("tune", "--budget", a->budget, 1, 1e6, &budget) < 0 ||
        as_sim_flags_num("tune", "--seed", a->seed, 0, 4294967295.0, &seed) < 0 ||
        as_sim_flags_num("tune", "--threads", a->threads, 1, 16, &threads) < 0 ||
        as_sim_flags_dur("tune", "--time", a->time, 1, &limit_ms) < 0 ||
        as_sim_flags_dur("tune", "--step", a->step, 1, &x->p.sim.step_ms) < 0)
        return -1;
    if (a->start != NULL && as_replay_start_parse(a->start, &x->p.sim.start_ms, &err) < 0) {
        fprintf(stderr, "autoscaler tune: %s\n", err.msg);
        return -1;
    }
    x->p.budget = (int)budget;
    x->p.seed = (uint64_t)seed;
    x->p.threads = (int)threads;
    x->p.time_limit_s = (double)limit_ms / 1000;
    x->p.clock_s = mono_s;
    return 0;
}

/* The group's mapping in the document. */
static const struct as_node *group_node(const struct as_doc *doc, const char *name)
{
    const struct as_node *groups = NULL;
    long i = doc->root ? as_node_find(doc->root, "groups") : -1;
    if (i >= 0)
        groups = doc->root->pairs[i].value;
    long k = groups && groups->kind == AS_NODE_MAP ? as_node_find(groups, name) : -1;
    return k >= 0 ? groups->pairs[k].value : NULL;
}

/* The split: the first row at or after train of the trace's span, so that `simulate --from`
 * takes the held-out part exactly. */
static int split(struct tune *x, double train)
{
    const struct as_sim_trace *tr = &x->tr;
    x->first_s = tr->t[0];
    x->end_s = tr->t[tr->n - 1] + tr->step_s;
    double at = x->first_s + train * (x->end_s - x->first_s);
    size_t i = 0;
    while (i < tr->n && tr->t[i] < at)
        i++;
    if (i == 0 || i >= tr->n) {
        fprintf(stderr,
                "autoscaler tune: --train %g%%: the trace's %zu rows leave no part to hold out\n",
                train * 100, tr->n);
        return -1;
    }
    x->split_s = tr->t[i];
    x->p.sim.from_s = 0;
    x->p.sim.to_s = x->split_s;
    return 0;
}

static int load_inputs(struct tune *x)
{
    struct as_err err;
    char buf[AS_ERR_MAX + 300];
    as_err_clear(&err);
    if ((x->cfg = as_sim_flags_config(x->a.config)) == NULL ||
        (x->g = as_sim_flags_group("tune", x->cfg, x->a.group)) == NULL)
        return EXIT_USAGE;
    if ((x->doc = as_doc_load(x->a.config, NULL, &err)) == NULL) {
        fprintf(stderr, "%s\n", as_err_str(&err, buf, sizeof(buf)));
        return EXIT_USAGE;
    }
    if ((x->kinds = calloc(x->g->nmetrics + 1, sizeof(*x->kinds))) == NULL) {
        fprintf(stderr, "autoscaler tune: out of memory\n");
        return EXIT_RUNTIME;
    }
    if (as_sim_kinds(x->g, x->a.metrics, x->kinds, &err) < 0) {
        fprintf(stderr, "autoscaler tune: %s\n", err.msg);
        return EXIT_USAGE;
    }
    if (as_sim_trace_load(x->a.trace, &x->tr, &err) < 0) {
        fprintf(stderr, "%s\n", as_err_str(&err, buf, sizeof(buf)));
        return err.line > 0 ? EXIT_USAGE : EXIT_RUNTIME;
    }
    return 0;
}

static int setup(struct tune *x)
{
    struct tune_args *a = &x->a;
    struct as_sim_flags f = {.cmd = "tune",
                             .capacity = a->capacity,
                             .startup = a->startup,
                             .concurrency = a->concurrency,
                             .slo = a->slo,
                             .peak = a->peak,
                             .scale = a->scale};
    double train;
    struct as_err err;
    as_err_clear(&err);
    int rc;
    if (search_opts(x, &train) < 0)
        return EXIT_USAGE;
    if ((rc = load_inputs(x)) != 0)
        return rc;
    if (as_sim_flags_model(&f, x->g, &x->p.model) < 0 ||
        as_sim_flags_scale(&f, &x->tr, &x->p.model, &x->p.sim, &x->scale, &x->peak_rps) < 0 ||
        split(x, train) < 0)
        return EXIT_USAGE;
    x->p.sim.scale = x->scale;
    x->p.sim.kinds = x->kinds;
    x->p.file = x->cfg->file;
    x->p.group = x->g->name;
    x->p.node = group_node(x->doc, x->g->name);
    x->p.trace = &x->tr;
    x->p.space = &x->space;
    if (as_tune_space_build(x->g, x->p.node, a->params, &x->space, &err) < 0) {
        fprintf(stderr, "autoscaler tune: group '%s': %s\n", x->g->name, err.msg);
        return EXIT_USAGE;
    }
    return 0;
}

/* ---- the held-out part ---- */

static int held_out(struct tune *x)
{
    struct as_err err;
    struct as_sim_opts o = x->p.sim;
    o.from_s = x->split_s;
    o.to_s = 0;
    const double *v[2] = {NULL, x->r.best.v};
    for (int i = 0; i < 2; i++) {
        struct as_config *c = as_tune_config(&x->p, v[i], &err);
        int rc = c ? as_sim_run(&c->groups[0], &x->tr, &x->p.model, &o, &x->held[i], &err) : -1;
        as_config_unref(c);
        if (rc < 0) {
            fprintf(stderr, "autoscaler tune: held-out run: %s\n", err.msg);
            return EXIT_RUNTIME;
        }
    }
    if (as_sim_oracle(&x->tr, &x->p.model, &o, x->g->min, &x->held[2], &err) < 0 ||
        as_sim_oracle(&x->tr, &x->p.model, &x->p.sim, x->g->min, &x->train_oracle, &err) < 0) {
        fprintf(stderr, "autoscaler tune: held-out oracle: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    return 0;
}

/* ---- output ---- */

static double viol_pct(const struct as_sim_result *r)
{
    return r->duration_s > 0 ? 100 * r->violating_s / r->duration_s : 0;
}

static const char *stop_text(enum as_tune_stop s)
{
    return s == AS_TUNE_BUDGET ? "budget" : s == AS_TUNE_TIME ? "time" : "converged";
}

static void row(const char *name, const struct as_sim_result *r, const struct as_sim_result *o)
{
    char xs[32] = "-";
    if (o != NULL && o->cost_rs > 0)
        snprintf(xs, sizeof(xs), "%.3f", r->cost_rs / o->cost_rs);
    printf("  %-9s %14.0f %9s %9.2f%% %7d %10.1f %10.1f %7d\n", name, r->cost_rs, xs, viol_pct(r),
           r->scale_events, r->slo_lat_mean_ms, r->slo_lat_max_ms, r->max_replicas);
}

static void table_head(const char *title, double pct)
{
    char mean[32], max[32];
    snprintf(mean, sizeof(mean), "p%g mean", pct);
    snprintf(max, sizeof(max), "p%g max", pct);
    printf("%s\n  %-9s %14s %9s %10s %7s %10s %10s %7s\n", title, "settings", "cost (rep-s)",
           "x oracle", "violating", "scales", mean, max, "max rep");
}

static void params_table(const struct tune *x)
{
    printf("%-36s %12s %12s   %s\n", "parameter", "current", "best", "searched");
    for (size_t i = 0; i < x->space.n; i++) {
        const struct as_tune_param *q = &x->space.p[i];
        char c[32], b[32], lo[32], hi[32];
        printf("%-36s %12s %12s   %s to %s\n", q->path,
               as_tune_value_text(q, x->r.current.v[i], c, sizeof(c)),
               as_tune_value_text(q, x->r.best.v[i], b, sizeof(b)),
               as_tune_value_text(q, q->lo, lo, sizeof(lo)),
               as_tune_value_text(q, q->hi, hi, sizeof(hi)));
    }
}

static void verdicts(const struct tune *x)
{
    double allowed = 100 * x->p.max_violation;
    if (!x->r.feasible)
        printf("\nno setting tried meets the SLO on the part tuned on (at most %g%% violating); "
               "the best shown violates it least (%.2f%%)\n",
               allowed, 100 * x->r.best.violation);
    if (viol_pct(&x->held[1]) > allowed + 1e-9)
        printf("\nthe best settings miss the SLO on the held-out part: %.2f%% violating, more "
               "than %g%%\n",
               viol_pct(&x->held[1]), allowed);
    if (x->r.invalid > 0) {
        printf("\n%d candidate%s refused by the configuration loader, the first (", x->r.invalid,
               x->r.invalid == 1 ? "" : "s");
        for (size_t i = 0; i < x->space.n; i++) {
            char b[32];
            printf("%s%s %s", i ? ", " : "", x->space.p[i].path,
                   as_tune_value_text(&x->space.p[i], x->r.first_invalid_v[i], b, sizeof(b)));
        }
        printf("): %s\n", x->r.first_invalid.msg);
    }
}

/* The `simulate` command that shows the held-out figures of the group as pasted. */
static void recheck(const struct tune *x)
{
    const struct tune_args *a = &x->a;
    const char *names[] = {"--capacity", "--startup", "--concurrency",
                           "--slo",      "--step",    "--start"};
    const char *vals[] = {a->capacity, a->startup, a->concurrency, a->slo, a->step, a->start};
    printf("\nthe held-out figures again, with the group pasted:\n  autoscaler simulate -c %s "
           "--trace %s%s%s --from %.17g --scale %.17g",
           a->config, a->trace, a->group ? " --group " : "", a->group ? a->group : "", x->split_s,
           x->scale);
    for (size_t i = 0; i < AS_ARRAY_LEN(names); i++)
        if (vals[i] != NULL)
            printf(" %s '%s'", names[i], vals[i]);
    for (size_t i = 0; i < a->nmetrics; i++)
        printf(" --metric %s", a->metrics[i]);
    printf("\n");
}

static int print_table(const struct tune *x, const char *yaml)
{
    const struct as_sim_model *m = &x->p.model;
    printf("group %s, trace %s: SLO p%g <= %g ms, at most %g%% of the time violating; load "
           "x%.10g\n",
           x->g->name, x->a.trace, m->slo_pct, m->slo_ms, 100 * x->p.max_violation, x->scale);
    printf("tuned on %g s to %g s, held out %g s to %g s; %d simulations in %.1f s (%s)\n\n",
           x->first_s, x->split_s, x->split_s, x->end_s, x->r.evals, x->elapsed_s,
           stop_text(x->r.stop));
    params_table(x);
    printf("\n");
    table_head("held out:", m->slo_pct);
    row("current", &x->held[0], &x->held[2]);
    row("best", &x->held[1], &x->held[2]);
    row("oracle", &x->held[2], &x->held[2]);
    printf("\n");
    table_head("tuned on:", m->slo_pct);
    row("current", &x->r.current.res, &x->train_oracle);
    row("best", &x->r.best.res, &x->train_oracle);
    row("oracle", &x->train_oracle, &x->train_oracle);
    verdicts(x);
    recheck(x);
    printf("\n# group '%s' with the best settings, to paste over it in %s\n%s", x->g->name,
           x->a.config, yaml);
    return ferror(stdout) ? EXIT_RUNTIME : 0;
}

static json_t *result_json(const struct as_sim_result *r, const struct as_sim_result *o)
{
    json_t *j = json_object();
    if (j == NULL)
        return NULL;
    int rc = json_object_set_new(j, "cost_replica_seconds", json_real(r->cost_rs));
    if (o != NULL && o->cost_rs > 0)
        rc |= json_object_set_new(j, "cost_ratio_to_oracle", json_real(r->cost_rs / o->cost_rs));
    rc |= json_object_set_new(j, "violating_seconds", json_real(r->violating_s));
    rc |= json_object_set_new(j, "violating_percent", json_real(viol_pct(r)));
    rc |= json_object_set_new(j, "scale_events", json_integer(r->scale_events));
    rc |= json_object_set_new(j, "slo_latency_mean_ms", json_real(r->slo_lat_mean_ms));
    rc |= json_object_set_new(j, "slo_latency_max_ms", json_real(r->slo_lat_max_ms));
    rc |= json_object_set_new(j, "max_replicas", json_integer(r->max_replicas));
    if (rc != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static json_t *params_json(const struct tune *x)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < x->space.n; i++) {
        const struct as_tune_param *q = &x->space.p[i];
        char c[32], b[32], lo[32], hi[32];
        if (json_array_append_new(
                list, json_pack("{s:s,s:s,s:s,s:s,s:s}", "key", q->path, "current",
                                as_tune_value_text(q, x->r.current.v[i], c, sizeof(c)), "best",
                                as_tune_value_text(q, x->r.best.v[i], b, sizeof(b)), "lo",
                                as_tune_value_text(q, q->lo, lo, sizeof(lo)), "hi",
                                as_tune_value_text(q, q->hi, hi, sizeof(hi)))) < 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

static int print_json(const struct tune *x, const char *yaml)
{
    const struct as_sim_model *m = &x->p.model;
    json_t *doc = json_pack(
        "{s:s,s:s,s:{s:f,s:f},s:f,s:f,s:{s:f,s:f},s:{s:f,s:f},s:i,s:i,s:s,s:f,s:b,s:b,s:o,"
        "s:{s:o,s:o,s:o},s:{s:o,s:o,s:o},s:s}",
        "group", x->g->name, "trace", x->a.trace, "slo", "percentile", m->slo_pct, "latency_ms",
        m->slo_ms, "max_violation_percent", 100 * x->p.max_violation, "load_scale", x->scale,
        "tuned_on", "from_s", x->first_s, "to_s", x->split_s, "held_out", "from_s", x->split_s,
        "to_s", x->end_s, "simulations", x->r.evals, "refused", x->r.invalid, "stopped_by",
        stop_text(x->r.stop), "elapsed_s", x->elapsed_s, "feasible", x->r.feasible,
        "held_out_meets_slo", viol_pct(&x->held[1]) <= 100 * x->p.max_violation + 1e-9,
        "parameters", params_json(x), "tuned_on_results", "current",
        result_json(&x->r.current.res, &x->train_oracle), "best",
        result_json(&x->r.best.res, &x->train_oracle), "oracle",
        result_json(&x->train_oracle, &x->train_oracle), "held_out_results", "current",
        result_json(&x->held[0], &x->held[2]), "best", result_json(&x->held[1], &x->held[2]),
        "oracle", result_json(&x->held[2], &x->held[2]), "yaml", yaml);
    if (doc == NULL) {
        fprintf(stderr, "autoscaler tune: out of memory\n");
        return EXIT_RUNTIME;
    }
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(doc);
    fputc('\n', stdout);
    return rc < 0 || ferror(stdout) ? EXIT_RUNTIME : 0;
}

static int report(const struct tune *x)
{
    struct as_sb yaml = {0};
    if (as_tune_emit(&yaml, x->g->name, x->p.node, &x->space, x->r.best.v, 1, 0) < 0) {
        as_sb_free(&yaml);
        fprintf(stderr, "autoscaler tune: out of memory\n");
        return EXIT_RUNTIME;
    }
    int rc = x->a.json ? print_json(x, yaml.buf) : print_table(x, yaml.buf);
    as_sb_free(&yaml);
    return rc;
}

static int tune(struct tune *x)
{
    if (x->a.config == NULL || x->a.trace == NULL) {
        fprintf(stderr, "autoscaler tune: -c FILE and --trace TRACE.csv are required\n");
        return EXIT_USAGE;
    }
    int rc = setup(x);
    if (rc != 0)
        return rc;
    struct as_err err;
    as_err_clear(&err);
    double t0 = mono_s(NULL);
    if (as_tune_run(&x->p, &x->r, &err) < 0) {
        char buf[AS_ERR_MAX + 300];
        fprintf(stderr, "autoscaler tune: %s\n", as_err_str(&err, buf, sizeof(buf)));
        return err.line > 0 ? EXIT_USAGE : EXIT_RUNTIME;
    }
    x->elapsed_s = mono_s(NULL) - t0;
    if ((rc = held_out(x)) != 0)
        return rc;
    return report(x);
}

int as_cmd_tune(int argc, char **argv)
{
    struct tune x = {0};
    if (parse_args(argc, argv, &x.a) < 0)
        return EXIT_USAGE;
    if (x.a.help) {
        fputs(usage, stdout);
        return 0;
    }
    int rc = tune(&x);
    free(x.kinds);
    as_sim_trace_free(&x.tr);
    as_doc_free(x.doc);
    as_config_unref(x.cfg);
    return rc;
}
