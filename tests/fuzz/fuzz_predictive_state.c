/* The predictive policy's saved state (docs/policies/predictive.md), through the state file's
 * own loader: rejected or restored, never a crash, a leak or undefined behavior; a restored
 * state then decides a few rounds (the bytes after the first NUL pick the metric values, the
 * count, the wall clock's step and whether the daily and weekly seasons are configured), and
 * saves again. The policy's forecast stays finite or is refused, never a count out of range. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"
#include "core/state.h"

static struct as_config *cfg;

static const char *const yaml =
    "state_dir: ''\n"
    "groups:\n"
    "  pred: {max: 1000000, metrics: [{type: http_json, url: 'http://127.0.0.1:1/', pointer: /a,\n"
    "         average_value: 1}], scaler: {type: process, command: [x]}, behavior: off,\n"
    "         policy: {type: predictive, history: 0s, lead: 1m}}\n"
    "  flat: {max: 1000000, metrics: [{type: http_json, url: 'http://127.0.0.1:1/', pointer: /a,\n"
    "         target: 0.5}], scaler: {type: process, command: [x]}, behavior: off,\n"
    "         policy: {type: predictive, history: 0s, daily: false, weekly: false, margin: 10}}\n";

static double value(const uint8_t *p, size_t n, size_t i)
{
    static const double v[] = {0, 1, 0.5, 1e308, -1, 1e-300, 7, 1e9, NAN, INFINITY, 1e12, 3e4};
    return i < n ? v[p[i] % (sizeof(v) / sizeof(v[0]))] : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cfg == NULL) {
        struct as_err e;
        cfg = as_config_parse("fuzz.yaml", yaml, &e);
        if (cfg == NULL)
            __builtin_trap();
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t jlen = nul ? (size_t)(nul - data) : size;
    const uint8_t *tail = nul ? nul + 1 : NULL;
    size_t tlen = nul ? size - jlen - 1 : 0;
    struct as_group_cfg *g = &cfg->groups[tlen > 0 ? tail[0] % cfg->ngroups : 0];
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, jlen, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return 0;
    /* The state names its group: the seed's is "pred"; "flat" takes it too. */
    json_object_set_new(doc, "group", json_string(g->name));
    struct as_group_state st = {0};
    struct as_err err;
    int64_t now = 1800000000000LL;
    struct as_restore r = {.now_ms = now, .wall_ms = now - (tlen > 1 ? tail[1] * 3600000LL : 0)};
    if (as_state_from_json(g, doc, &st, &r, &err) == 0) {
        for (int round = 0; round < 6; round++) {
            double v = value(tail, tlen, 2 + round);
            struct as_metric_obs m = {.ok = v >= 0 && isfinite(v), .value = v};
            int current = tlen > 8 ? tail[8] * (tail[8] > 200 ? 4000 : 1) : 3;
            int64_t step = tlen > 9 ? (int64_t)tail[9] * 7000 : 15000;
            struct as_obs o = {.now_ms = now + round * step,
                               .wall_ms = r.wall_ms + round * step,
                               .current = current,
                               .n = 1,
                               .m = &m};
            struct as_decision d;
            st.count_known = 1;
            st.count = current;
            as_decide(g, &st, &o, &d);
            if (d.desired < 0 || d.desired > AS_COUNT_MAX)
                __builtin_trap();
        }
        json_t *again = as_state_to_json(g, &st, now, now);
        json_decref(again);
    }
    as_group_state_free(&st);
    json_decref(doc);
    return 0;
}
