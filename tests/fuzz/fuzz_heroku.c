/* The heroku scaler's readers of the Platform API's answers: the formation's quantity, the
 * reason of an error answer (Heroku's {"id", "message"} object or any body), whether it is
 * permanent, and the RateLimit-Remaining header with the hold it leads to. The input is
 * "HEADER\n--\nBODY"; its first byte picks the status and the reserve. Invariants: a quantity
 * read is >= 0; the reason always fits its buffer, NUL-terminated and printable; a hold is
 * never negative nor longer than the reserve's refill; permanent is 0 or 1. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scalers/heroku.h"

static const long statuses[] = {200, 206, 301, 400, 401, 403, 404, 406, 408,
                                409, 422, 425, 429, 500, 503, 0,   -1,  99999};

static void check_reason(long status, const char *body, size_t len, size_t cap)
{
    char buf[200];
    memset(buf, 'Z', sizeof(buf));
    as_heroku_reason(status, body, len, buf, cap);
    size_t n = strnlen(buf, cap);
    if (n >= cap)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
            abort();
    if (cap < sizeof(buf) && buf[cap] != 'Z')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    long status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
    int reserve = (data[0] >> 3) * 300; /* 0 .. 9300, beyond the option's bound too */
    const char *p = (const char *)data + 1;
    size_t len = size - 1;
    const char *sep = NULL;
    for (size_t i = 0; i + 4 <= len && sep == NULL; i++)
        if (memcmp(p + i, "\n--\n", 4) == 0)
            sep = p + i;
    size_t hlen = sep ? (size_t)(sep - p) : 0;
    const char *body = sep ? sep + 4 : p;
    size_t blen = len - (size_t)(body - p);

    char *header = malloc(hlen + 1);
    if (header == NULL)
        return 0;
    memcpy(header, p, hlen);
    header[hlen] = '\0';
    long left = as_heroku_remaining(sep ? header : NULL);
    if (left < -1)
        abort();
    int64_t hold = as_heroku_hold_ms(left, status == 429, reserve);
    int64_t most = (int64_t)(reserve > 0 ? reserve : 1) * AS_HEROKU_TOKEN_MS;
    if (hold < 0 || hold > most || (status == 429 && hold == 0))
        abort();
    free(header);

    int n = -7;
    struct as_err err;
    as_err_clear(&err);
    if (as_heroku_quantity(body, blen, &n, &err) == 0 ? n < 0 : err.msg[0] == '\0')
        abort();
    check_reason(status, body, blen, 200);
    check_reason(status, body, blen, 1);
    check_reason(status, body, blen, 17);
    int perm = as_heroku_permanent(status);
    if (perm != 0 && perm != 1)
        abort();
    return 0;
}
