/* Log lines per second with 0, 10 and 100000 registered secrets, side by side in one run.
 *
 *     cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Isrc bench/log_secrets.c src/util/log.c \
 *        -o /tmp/log_secrets -lpthread && /tmp/log_secrets [LINES]
 *
 * Each line is a typical failed measurement (a URL with a token in its path and a bare query,
 * and a cause), written with as_log_write to /dev/null (stderr off): formatting, masking and
 * the write. With secrets, one line in ten holds a registered one (masked), the others a
 * look-alike (scanned, not masked). Secrets are 32-byte tokens sharing an 8-byte prefix, the
 * hard case for an index by prefix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void token(int i, char *buf, size_t len)
{
    snprintf(buf, len, "tok_live%08x%016llx", (unsigned)i,
             (unsigned long long)i * 0x9e3779b97f4a7c15ULL);
}

static double lines_per_s(long lines, int nsecrets)
{
    char tok[64];
    double t0 = now();
    for (long i = 0; i < lines; i++) {
        int g = nsecrets ? (int)(i % nsecrets) : (int)(i % 1000);
        token(g, tok, sizeof(tok));
        if (i % 10 != 0)
            tok[20] = 'Z'; /* a look-alike: same prefix, not registered */
        AS_LOG(AS_ERROR,
               "source/http_json[g%06d/cpu]: http://10.0.%d.%d:8080/svc/%s/status?%s: Failed to "
               "connect to 10.0.0.1 port 8080 after 0 ms: Connection refused",
               g, g >> 8 & 255, g & 255, tok, tok);
    }
    return (double)lines / (now() - t0);
}

int main(int argc, char **argv)
{
    long lines = argc > 1 ? atol(argv[1]) : 200000;
    static const int counts[] = {0, 10, 100000};
    as_log_stderr(0);
    if (as_log_open("/dev/null") < 0)
        return 1;
    printf("%9s %12s %10s\n", "secrets", "lines/s", "us/line");
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        as_log_secrets_clear();
        char tok[64];
        for (int i = 0; i < counts[c]; i++) {
            token(i, tok, sizeof(tok));
            if (as_log_secret(tok, strlen(tok)) < 0)
                return 1;
        }
        double r = lines_per_s(lines, counts[c]);
        printf("%9d %12.0f %10.2f\n", counts[c], r, 1e6 / r);
    }
    as_log_close();
    return 0;
}
