/* A state file's JSON: rejected or restored, never a crash, a leak or a huge allocation. */
#include <stdint.h>

#include "core/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    extern const struct as_policy_ops as_policy_target_ops;
    struct as_group_cfg g = {
        .name = "web", .min = 1, .max = 10, .override = -1, .policy = &as_policy_target_ops};
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return 0;
    struct as_group_state st = {0};
    struct as_err err;
    as_state_from_json(&g, doc, &st, &err);
    as_group_state_free(&st);
    json_decref(doc);
    return 0;
}
