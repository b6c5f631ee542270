/* The HTTP/1.1 response head parser and the chunked decoder of util/h1: the input is parsed
 * as a head; the bytes after it (or all of them) go through the chunked decoder in pieces
 * whose sizes come from the first byte. The results must stay within the input. */
#include <stdint.h>
#include <stdlib.h>

#include "util/h1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = 1 + data[0] % 17;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    struct as_h1_head h;
    const char *why;
    int n = as_h1_parse_head(buf, len, &h, &why);
    if (n > (int)len)
        abort();
    size_t at = n > 0 ? (size_t)n : 0;
    struct as_h1_chunked d = {0};
    int done = 0;
    while (at < len && !done) {
        size_t k = len - at < step ? len - at : step;
        long used = as_h1_chunked_feed(&d, buf + at, k, &done, &why);
        if (used < 0)
            break;
        if ((size_t)used > k || (!done && (size_t)used != k))
            abort();
        at += (size_t)used;
    }
    return 0;
}
