/* The HTTP/1.x response reader of util/http1: the input is fed in pieces whose sizes come from
 * its first byte (so lines split across reads take the copying path), then the connection's
 * end. Invariants: an outcome once given stays (the reader is not fed after it), a finished
 * response took no more bytes than it was given, the body handed out is never more than the
 * input, an error has its text, and a status read is 100-599. */
#include <stdint.h>
#include <stdlib.h>

#include "util/http1.h"

static int count(const char *data, size_t n, void *arg)
{
    (void)data;
    *(size_t *)arg += n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = 1 + data[0] % 61;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1, at = 0, body = 0;
    struct as_http1 p = {0};
    as_http1_init(&p, (data[0] & 0x80) ? "Retry-After" : NULL);
    enum as_http1_result r = AS_HTTP1_MORE;
    while (at < len && r == AS_HTTP1_MORE) {
        size_t n = len - at < step ? len - at : step, used = n + 1;
        r = as_http1_feed(&p, buf + at, n, &used, count, &body);
        if (r == AS_HTTP1_DONE && used > n)
            abort();
        at += n;
    }
    if (r == AS_HTTP1_MORE)
        r = as_http1_eof(&p);
    if ((r == AS_HTTP1_ERROR || r == AS_HTTP1_UNSUPPORTED) && p.error == NULL)
        abort();
    if (body > len || (p.status != 0 && (p.status < 100 || p.status > 599)))
        abort();
    if (p.want_count == 1 && !p.want_cut && p.want_value[0] == ' ')
        abort();
    as_http1_free(&p);
    return 0;
}
