/* The agent protocol parser (src/util/agentproto.c): the whole input as one line, then each of
 * its lines in turn through parse and admit (one host table entry, the master's clock at
 * 1700000000000), as sent and signed again with the test key. Every accepted message must format
 * again and parse back to the same fields; a rejected one must say why. Violations abort. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/agentproto.h"

#define KEY "test-key-0123456789abcdef"
#define KEYLEN (sizeof(KEY) - 1)

static void round_trip(const struct as_agent_msg *m)
{
    char buf[AS_AGENT_LINE_MAX + 1], why[200];
    struct as_agent_msg back;
    int n = as_agent_format(m, KEY, KEYLEN, buf, sizeof(buf));
    if (n < 0) /* only a line at the length limit may grow past it (6 decimals, no zeros) */
        return;
    if (as_agent_parse(buf, (size_t)n, KEY, KEYLEN, &back, why, sizeof(why)) != AS_AGENT_OK)
        abort();
    if (strcmp(back.host, m->host) != 0 || back.boot != m->boot || back.seq != m->seq ||
        back.ts_ms != m->ts_ms || back.interval_ms != m->interval_ms || back.nvalues != m->nvalues)
        abort();
    for (size_t i = 0; i < m->nvalues; i++)
        if (strcmp(back.values[i].name, m->values[i].name) != 0 ||
            fabs(back.values[i].value - m->values[i].value) > 5e-7 * (1 + m->values[i].value))
            abort();
}

static void one(const char *line, size_t len, struct as_agent_peer *peer)
{
    struct as_agent_msg m;
    char why[200] = "";
    enum as_agent_status st = as_agent_parse(line, len, KEY, KEYLEN, &m, why, sizeof(why));
    if (st != AS_AGENT_OK) {
        if (why[0] == '\0' || strlen(why) >= sizeof(why))
            abort();
        return;
    }
    for (size_t i = 0; i < m.nvalues; i++)
        if (!isfinite(m.values[i].value) || m.values[i].value < 0)
            abort();
    round_trip(&m);
    as_agent_admit(peer, &m, 1700000000000LL, 30000, why, sizeof(why));
}

/* The line up to its last " mac=" (or all of it), signed with KEY: the mutations then reach
 * what comes after the MAC check. */
static void resigned(const char *line, size_t len, struct as_agent_peer *peer)
{
    char buf[2 * AS_AGENT_LINE_MAX];
    size_t n = len > 0 && line[len - 1] == '\n' ? len - 1 : len;
    for (size_t i = n; i >= 5; i--)
        if (memcmp(line + i - 5, " mac=", 5) == 0) {
            n = i - 5;
            break;
        }
    if (n + 70 > sizeof(buf))
        return;
    unsigned char mac[32];
    unsigned int mlen = 0;
    HMAC(EVP_sha256(), KEY, (int)KEYLEN, (const unsigned char *)line, n, mac, &mlen);
    memcpy(buf, line, n);
    memcpy(buf + n, " mac=", 5);
    for (unsigned i = 0; i < mlen; i++) {
        buf[n + 5 + 2 * i] = "0123456789abcdef"[mac[i] >> 4];
        buf[n + 6 + 2 * i] = "0123456789abcdef"[mac[i] & 15];
    }
    one(buf, n + 5 + 2 * mlen, peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct as_agent_peer peer = {0};
    const char *p = (const char *)data, *end = p + size;
    one(p, size, &peer);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        one(p, n, &peer);
        resigned(p, n, &peer);
        p += n;
    }
    return 0;
}
