/* The response-time header parser (util/svctime): the first byte picks the key (none,
 * "service", "dur") and the bare unit, the rest is the header value. A value it accepts must
 * be finite and not negative. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/svctime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {NULL, "service", "dur"};
    if (size == 0)
        return 0;
    const char *key = keys[data[0] % 3];
    enum as_time_unit bare = (enum as_time_unit)((data[0] / 3) % 4);
    double ms;
    const char *why;
    if (as_svctime_parse((const char *)data + 1, size - 1, key, bare, &ms, &why) == 0 &&
        (!isfinite(ms) || ms < 0))
        abort();
    return 0;
}
