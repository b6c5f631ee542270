/* Replay input (CSV and JSON Lines, told apart by the first character) against a fixed
 * two-metric group: errors, never crashes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config/config.h"
#include "drivers/replay.h"

static const char config[] = "log_file: ''\n"
                             "groups:\n"
                             "  web:\n"
                             "    max: 50\n"
                             "    metrics:\n"
                             "      - {name: cpu, type: http_json, url: 'http://127.0.0.1:1/',"
                             " pointer: /c, target: 0.8}\n"
                             "      - {name: queue, type: http_json, url: 'http://127.0.0.1:1/',"
                             " pointer: /q, average_value: 10}\n"
                             "    scaler: {type: http, url: 'http://127.0.0.1:1/'}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct as_config *cfg;
    struct as_err err;
    if (cfg == NULL && (cfg = as_config_parse("fuzz", config, &err)) == NULL)
        abort();
    FILE *in = fmemopen((void *)data, size, "r");
    FILE *out = fopen("/dev/null", "w");
    if (in != NULL && out != NULL) {
        struct as_replay_opts opts = {.format = AS_REPLAY_AUTO, .start_ms = 0};
        as_replay(&cfg->groups[0], in, "fuzz", &opts, out, &err);
    }
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    return 0;
}
