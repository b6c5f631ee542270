/* The simulation-only keys (`autoscaler simulate`, docs/simulation.md): a group's `model:`
 * section and a metric's `model:` kind. `check` validates them; `run` ignores them. */
#include <stddef.h>
#include <string.h>

#include "config/config.h"
#include "util/suggest.h"
#include "util/util.h"

const char *const as_model_kinds[] = {"auto",        "utilization", "latency_mean",
                                      "latency_p50", "latency_p90", "latency_p95",
                                      "latency_p99", "rps",         "rps_per_replica",
                                      "queue",       "concurrency", "concurrency_per_replica",
                                      NULL};

const struct as_opt as_model_opts[] = {
    {"capacity", AS_OPT_DOUBLE, offsetof(struct as_model_cfg, capacity), "0", 0, 1e12, 0, NULL,
     "Simulation only (`run` ignores it): requests per second one replica serves with all its "
     "servers busy; 0: unset (then `simulate --capacity` is required)."},
    {"startup", AS_OPT_DURATION, offsetof(struct as_model_cfg, startup_ms), "30s", 0, 86400000, 0,
     NULL, "Simulation only: time from a replica's creation to its first served request."},
    {"concurrency", AS_OPT_INT, offsetof(struct as_model_cfg, concurrency), "1", 1, 1000, 0, NULL,
     "Simulation only: requests one replica serves at once (its servers); the service time is "
     "concurrency / capacity."},
    {"slo_percentile", AS_OPT_DOUBLE, offsetof(struct as_model_cfg, slo_percentile), "95", 1, 99.99,
     0, NULL,
     "Simulation only: the SLO's percentile of the response time (95: p95 <= slo_latency)."},
    {"slo_latency", AS_OPT_DURATION, offsetof(struct as_model_cfg, slo_latency_ms), "200ms", 1,
     3600000, 0, NULL, "Simulation only: the SLO's bound on that percentile."},
    AS_OPT_END,
};

int as_model_kind_resolve(struct as_metric_cfg *m, struct as_node *n, const char *what,
                          struct as_err *err)
{
    m->model = 0;
    if (m->model_name == NULL)
        return 0;
    for (int i = 0; as_model_kinds[i] != NULL; i++)
        if (strcmp(as_model_kinds[i], m->model_name) == 0) {
            m->model = i;
            return 0;
        }
    struct as_sb list = {0};
    if (as_names_list(&list, as_model_kinds, AS_ARRAY_LEN(as_model_kinds) - 1,
                      AS_ARRAY_LEN(as_model_kinds) - 1) < 0)
        return as_err_set(err, "out of memory");
    const char *near = as_suggest(m->model_name, as_model_kinds, AS_ARRAY_LEN(as_model_kinds) - 1);
    as_err_key(err, n, "model", "%s: 'model': unknown kind '%s'%s%s%s; one of: %s", what,
               m->model_name, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "",
               list.buf);
    as_sb_free(&list);
    return -1;
}
