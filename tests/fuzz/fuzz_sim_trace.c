/* Traffic traces for `autoscaler simulate`: the parser never reads past the input and never
 * crashes; a trace it accepts runs through the oracle and the target policy over a bounded
 * window (at most 300 simulated steps) without a violation of the oracle's promise. */
#include <stdint.h>
#include <stdlib.h>

#include "config/config.h"
#include "sim/sim.h"

static const char config[] = "log_file: ''\n"
                             "groups:\n"
                             "  web:\n"
                             "    interval: 5s\n"
                             "    max: 50\n"
                             "    metrics:\n"
                             "      - {name: cpu, type: cpu, target: 0.6}\n"
                             "    scaler: {type: exec, command: ['true']}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct as_config *cfg;
    struct as_err err;
    if (cfg == NULL && (cfg = as_config_parse("fuzz", config, &err)) == NULL)
        abort();
    char *copy = malloc(size ? size : 1); /* no NUL after the input: the parser must not need one */
    if (copy == NULL)
        return 0;
    for (size_t i = 0; i < size; i++)
        copy[i] = (char)data[i];
    struct as_sim_trace tr;
    if (as_sim_trace_parse(copy, size, "fuzz", &tr, &err) == 0) {
        struct as_sim_model m = {
            .capacity = 50, .concurrency = 2, .startup_ms = 7000, .slo_pct = 90, .slo_ms = 400};
        enum as_sim_kind kinds[1] = {AS_SIM_UTILIZATION};
        struct as_sim_opts o = {.step_ms = 1000,
                                .initial = -1,
                                .from_s = tr.t[0],
                                .to_s = tr.t[0] + 300,
                                .kinds = kinds,
                                .percentiles = 1};
        struct as_sim_result res;
        if (as_sim_oracle(&tr, &m, &o, 0, &res, &err) == 0 && res.violating_s > 0 &&
            res.max_replicas <= 10000000)
            abort(); /* the oracle violated with a servable load */
        as_sim_run(&cfg->groups[0], &tr, &m, &o, &res, &err);
        as_sim_trace_free(&tr);
    }
    free(copy);
    return 0;
}
