/* A state file's JSON: rejected or restored, never a crash, a leak or a huge allocation; and a
 * restored state then decides (every policy that keeps state, every count) without undefined
 * behavior: the bytes after the first NUL pick the policy, the count and the metric values. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"
#include "core/state.h"

extern const struct as_policy_ops as_policy_target_ops;

static struct as_config *cfg;

static const char *const yaml =
    "state_dir: ''\n"
    "groups:\n"
    "  target: {max: 50, metrics: [{type: http_json, url: 'http://127.0.0.1:1/', pointer: /a,\n"
    "           target: 1}], scaler: {type: process, command: [x]}, cooldown: 30s,\n"
    "           too_rapid: {scales: 3, within: 1m}, warmup: 10s,\n"
    "           behavior: {scale_down: {policies: [{percent: 100000, period: 15s}]}}}\n"
    "  panic: {max: 50, min: 0, metrics: [{type: http_json, url: 'http://127.0.0.1:1/',\n"
    "          pointer: /a, activation: 1}], scaler: {type: process, command: [x]},\n"
    "          policy: {type: panic, target: 10}}\n"
    "  tc: {max: 50, metrics: [{type: http_json, url: 'http://127.0.0.1:1/', pointer: /a}],\n"
    "       scaler: {type: process, command: [x]},\n"
    "       policy: {type: threshold_consecutive, min: 1, max: 2}}\n"
    "  ta: {max: 50, metrics: [{type: http_json, url: 'http://127.0.0.1:1/', pointer: /a}],\n"
    "       scaler: {type: process, command: [x]},\n"
    "       policy: {type: threshold_average, min: 1, max: 2}}\n"
    "  decay: {max: 50, metrics: [{name: p95, type: http_json, url: 'http://127.0.0.1:1/',\n"
    "          pointer: /a}], scaler: {type: process, command: [x]},\n"
    "          policy: {type: decay, targets: {p95: 500}}}\n";

static double value(const uint8_t *p, size_t n, size_t i)
{
    static const double v[] = {0, 1, 0.5, 1e308, -1, 1e-300, 7, 1e9, NAN, INFINITY};
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
    struct as_group_state st = {0};
    struct as_err err;
    int64_t now = 1800000000000LL;
    struct as_restore r = {.now_ms = now, .wall_ms = now - (tlen > 1 ? tail[1] * 600000LL : 0)};
    if (as_state_from_json(g, doc, &st, &r, &err) == 0) {
        for (int round = 0; round < 3; round++) {
            struct as_metric_obs m = {.ok = value(tail, tlen, 2 + round) >= 0 &&
                                            isfinite(value(tail, tlen, 2 + round)),
                                      .value = value(tail, tlen, 2 + round)};
            int current = tlen > 5 ? tail[5] * (tail[5] > 200 ? 4000000 : 1) : 3;
            char why[AS_REASON_MAX];
            if (as_count_judge(g, &st, current, round > 0, why, sizeof(why)) != AS_COUNT_TRUSTED)
                continue;
            as_decide_resolve(g, &st, current);
            struct as_obs o = {.now_ms = now + round * 15000, .current = current, .n = 1, .m = &m};
            struct as_decision d;
            as_decide(g, &st, &o, &d);
            if (d.desired < 0 || d.desired > AS_COUNT_MAX)
                __builtin_trap();
            if (d.desired != current) {
                as_decide_intent(&st, o.now_ms, current, d.desired);
                if (tlen > 6 && tail[6] & 1)
                    as_decide_scaled(g, &st, o.now_ms, current, d.desired);
            }
        }
        json_t *again = as_state_to_json(g, &st, now, now);
        json_decref(again);
    }
    as_group_state_free(&st);
    json_decref(doc);
    return 0;
}
