/* Which model quantity each metric of a group reads (docs/simulation.md, "Metrics"). */
#include <stdio.h>
#include <string.h>

#include "config/opt.h"
#include "sim/sim.h"

_Static_assert(AS_SIM_NKINDS == 12, "enum as_sim_kind follows as_model_kinds");

int as_sim_kind_parse(const char *name)
{
    for (int i = 1; as_model_kinds[i] != NULL; i++)
        if (strcmp(as_model_kinds[i], name) == 0)
            return i;
    return -1;
}

/* The value of an enum option of a source (its name), or NULL. */
static const char *enum_opt(const struct as_metric_cfg *mc, const char *key)
{
    const struct as_opt *o = mc->ops ? as_opt_find(mc->ops->opts, key) : NULL;
    if (o == NULL || o->type != AS_OPT_ENUM || mc->state == NULL)
        return NULL;
    int v = *(const int *)((const char *)mc->state + o->offset);
    return o->enums[v];
}

/* A latency statistic's name (mean, median, p90, p95, p99) to its kind, or AUTO. */
static enum as_sim_kind latency_stat(const char *stat)
{
    static const struct {
        const char *name;
        enum as_sim_kind kind;
    } map[] = {{"mean", AS_SIM_LATENCY_MEAN},
               {"median", AS_SIM_LATENCY_P50},
               {"p90", AS_SIM_LATENCY_P90},
               {"p95", AS_SIM_LATENCY_P95},
               {"p99", AS_SIM_LATENCY_P99}};
    for (size_t i = 0; stat && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].name, stat) == 0)
            return map[i].kind;
    return AS_SIM_AUTO;
}

/* By words in the metric's name, for sources that can carry anything. */
static enum as_sim_kind by_name(const char *name)
{
    static const struct {
        const char *word;
        enum as_sim_kind kind;
    } map[] = {{"p99", AS_SIM_LATENCY_P99},
               {"p95", AS_SIM_LATENCY_P95},
               {"p90", AS_SIM_LATENCY_P90},
               {"p50", AS_SIM_LATENCY_P50},
               {"latency", AS_SIM_LATENCY_MEAN},
               {"cpu", AS_SIM_UTILIZATION},
               {"util", AS_SIM_UTILIZATION},
               {"queue", AS_SIM_QUEUE},
               {"backlog", AS_SIM_QUEUE},
               {"lag", AS_SIM_QUEUE},
               {"concurrency", AS_SIM_CONCURRENCY},
               {"inflight", AS_SIM_CONCURRENCY},
               {"in_flight", AS_SIM_CONCURRENCY},
               {"rps", AS_SIM_RPS},
               {"requests", AS_SIM_RPS},
               {"rate", AS_SIM_RPS}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strstr(name, map[i].word) != NULL)
            return map[i].kind;
    return AS_SIM_AUTO;
}

/* The inference rule: by the source's type (and its `stat`), else by the metric's name. */
static enum as_sim_kind infer(const struct as_metric_cfg *mc)
{
    const char *type = mc->type ? mc->type : "";
    if (strcmp(type, "cpu") == 0) {
        const char *stat = enum_opt(mc, "stat");
        return stat && strncmp(stat, "load", 4) == 0 ? AS_SIM_CONCURRENCY_PER_REPLICA
                                                     : AS_SIM_UTILIZATION;
    }
    if (strcmp(type, "agents") == 0)
        return AS_SIM_UTILIZATION;
    if (strcmp(type, "http_latency") == 0)
        return latency_stat(enum_opt(mc, "stat"));
    if (strcmp(type, "loadtest") == 0)
        return AS_SIM_LATENCY_P95; /* its report's default statistic */
    if (strcmp(type, "redis") == 0 || strcmp(type, "rabbitmq") == 0 ||
        strcmp(type, "postgresql") == 0)
        return AS_SIM_QUEUE;
    return by_name(mc->name ? mc->name : "");
}

static int kinds_list(char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 1; as_model_kinds[i] != NULL && off < len; i++) {
        int n = snprintf(buf + off, len - off, "%s%s", i > 1 ? ", " : "", as_model_kinds[i]);
        if (n < 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* An override NAME=KIND for metric `name`: its kind, AS_SIM_AUTO when none names it, -1 bad. */
static int override(const char *const *ov, const char *name, struct as_err *err)
{
    int kind = AS_SIM_AUTO;
    for (size_t i = 0; ov && ov[i]; i++) {
        const char *eq = strchr(ov[i], '=');
        if (eq == NULL)
            return as_err_set(err, "--metric '%s': expected NAME=KIND", ov[i]);
        if ((size_t)(eq - ov[i]) != strlen(name) || strncmp(ov[i], name, strlen(name)) != 0)
            continue;
        kind = as_sim_kind_parse(eq + 1);
        if (kind < 0) {
            char list[512];
            kinds_list(list, sizeof(list));
            return as_err_set(err, "--metric '%s': unknown kind '%s'; one of: %s", ov[i], eq + 1,
                              list);
        }
    }
    return kind;
}

/* Every override names a metric of the group. */
static int overrides_known(const struct as_group_cfg *g, const char *const *ov, struct as_err *err)
{
    for (size_t i = 0; ov && ov[i]; i++) {
        const char *eq = strchr(ov[i], '=');
        int found = 0;
        for (size_t k = 0; eq && k < g->nmetrics; k++)
            found |= strlen(g->metrics[k].name) == (size_t)(eq - ov[i]) &&
                     strncmp(g->metrics[k].name, ov[i], (size_t)(eq - ov[i])) == 0;
        if (eq != NULL && !found)
            return as_err_set(err, "--metric '%s': group '%s' has no metric of that name", ov[i],
                              g->name);
    }
    return 0;
}

int as_sim_kinds(const struct as_group_cfg *g, const char *const *overrides,
                 enum as_sim_kind *kinds, struct as_err *err)
{
    if (overrides_known(g, overrides, err) < 0)
        return -1;
    for (size_t i = 0; i < g->nmetrics; i++) {
        const struct as_metric_cfg *mc = &g->metrics[i];
        int k = override(overrides, mc->name, err);
        if (k < 0)
            return -1;
        if (k == AS_SIM_AUTO)
            k = mc->model;
        if (k == AS_SIM_AUTO)
            k = (int)infer(mc);
        if (k <= AS_SIM_AUTO || k >= AS_SIM_NKINDS) {
            char list[512];
            kinds_list(list, sizeof(list));
            return as_err_set(err,
                              "group '%s' metric '%s' (type %s): cannot tell which model "
                              "quantity it reads; set its 'model:' or --metric %s=KIND, KIND one "
                              "of: %s",
                              g->name, mc->name, mc->type, mc->name, list);
        }
        kinds[i] = (enum as_sim_kind)k;
    }
    return 0;
}
