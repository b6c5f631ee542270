/* The cpu source's parsers (sources/cpu.h): the input as /proc/stat and as /proc/loadavg text. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "sources/cpu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char why[128];
    struct as_cpu_sample a, b = {0, 0};
    if (as_cpu_parse_stat(text, size, &a, why, sizeof(why)) == 0) {
        double v;
        if (a.idle > a.total)
            abort();
        if (as_cpu_utilization(&b, &a, &v, why, sizeof(why)) == 0 && !(v >= 0 && v <= 1))
            abort();
    }
    for (int i = 0; i < 3; i++) {
        double v;
        if (as_cpu_parse_loadavg(text, size, i, &v, why, sizeof(why)) == 0 &&
            !(v >= 0 && isfinite(v)))
            abort();
    }
    return 0;
}
