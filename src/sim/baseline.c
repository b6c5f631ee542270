/* The baselines' groups, written as configuration and parsed by the same loader as any file,
 * so they run through the very decision code a user's group does (docs/simulation.md,
 * "Baselines"). */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "sim/sim.h"

/* The HPA: target tracking on per-replica utilization every 15 s (the HPA's sync period),
 * tolerance 0.1 and the default behavior (up: no stabilization, max(4 pods, 100 %) per 15 s;
 * down: 300 s stabilization, 100 % per 15 s). */
static const char hpa_yaml[] = "groups:\n"
                               "  hpa:\n"
                               "    interval: 15s\n"
                               "    min: %d\n"
                               "    max: %d\n"
                               "    tolerance: 0.1\n"
                               "    history: 0\n"
                               "    metrics:\n"
                               "      - name: utilization\n"
                               "        type: cpu\n"
                               "        target: %.17g\n"
                               "        model: utilization\n"
                               "    scaler: {type: exec, command: [\"true\"]}\n";

/* The KPA: Knative's defaults (config-autoscaler): a 2 s tick, a 60 s stable window, a panic
 * window of 10 % of it, panic at 200 %, target utilization 70 % of containerConcurrency (the
 * model's concurrency per replica), max scale-up rate 1000, max scale-down rate 2, on the
 * requests in flight; no HPA behavior stage. */
static const char kpa_yaml[] = "groups:\n"
                               "  kpa:\n"
                               "    interval: 2s\n"
                               "    min: %d\n"
                               "    max: %d\n"
                               "    history: 0\n"
                               "    behavior: off\n"
                               "    policy:\n"
                               "      type: panic\n"
                               "      metric: concurrency\n"
                               "      target: %.17g\n"
                               "      target_utilization: 0.7\n"
                               "      stable_window: 60s\n"
                               "      panic_window_percentage: 10\n"
                               "      panic_threshold: 2.0\n"
                               "      max_scale_up_rate: 1000\n"
                               "      max_scale_down_rate: 2\n"
                               "    metrics:\n"
                               "      - name: concurrency\n"
                               "        type: cpu\n"
                               "        model: concurrency\n"
                               "    scaler: {type: exec, command: [\"true\"]}\n";

struct as_config *as_sim_baseline(const char *name, const struct as_sim_model *m, double target,
                                  int min, int max, enum as_sim_kind *kinds, struct as_err *err)
{
    char text[2048];
    int n;
    if (min < 0)
        min = 0;
    if (max < 1)
        max = 1;
    if (strcmp(name, "hpa") == 0) {
        n = snprintf(text, sizeof(text), hpa_yaml, min, max, target > 0 ? target : 0.7);
        kinds[0] = AS_SIM_UTILIZATION;
    } else if (strcmp(name, "kpa") == 0) {
        n = snprintf(text, sizeof(text), kpa_yaml, min, max, m->concurrency * 0.7);
        kinds[0] = AS_SIM_CONCURRENCY;
    } else {
        as_err_set(err, "unknown baseline '%s' (oracle, hpa, kpa)", name);
        return NULL;
    }
    if (n < 0 || (size_t)n >= sizeof(text)) {
        as_err_set(err, "baseline configuration too long");
        return NULL;
    }
    return as_config_parse(name, text, err);
}
