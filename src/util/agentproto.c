/* The agent protocol: format, parse, verify, admit (docs/protocol.md). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/agentproto.h"

#define MAC_BYTES 32
#define MAC_FIELD (sizeof(" mac=") - 1 + AS_AGENT_MAC_HEX) /* " mac=" and the digits */
#define NUM_DIGITS 15                                      /* integer or fraction digits */

static const char *const status_names[AS_AGENT_NSTATUS] = {
    "ok",      "too_long", "version",  "malformed", "bad_value",
    "bad_mac", "stale",    "replayed", "old_boot",
};

static const char *const reserved[] = {"host", "boot", "seq", "ts", "interval", "mac", NULL};

const char *as_agent_status_name(enum as_agent_status st)
{
    return (unsigned)st < AS_AGENT_NSTATUS ? status_names[st] : "unknown";
}

static int is_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int host_char(int c)
{
    return is_alnum(c) || c == '.' || c == '-' || c == '_';
}

static int name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

int as_agent_host_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AS_AGENT_HOST_MAX || !is_alnum((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!host_char((unsigned char)s[i]))
            return 0;
    return 1;
}

int as_agent_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AS_AGENT_NAME_MAX || s[0] < 'a' || s[0] > 'z')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)s[i]))
            return 0;
    for (size_t i = 0; reserved[i]; i++)
        if (strcmp(s, reserved[i]) == 0)
            return 0;
    return 1;
}

const struct as_agent_value *as_agent_find(const struct as_agent_msg *m, const char *name)
{
    for (size_t i = 0; i < m->nvalues; i++)
        if (strcmp(m->values[i].name, name) == 0)
            return &m->values[i];
    return NULL;
}

static int hmac(const void *key, size_t keylen, const char *data, size_t n,
                unsigned char out[MAC_BYTES])
{
    unsigned int olen = 0;
    if (keylen > 1024 * 1024)
        return -1;
    if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, n, out, &olen) == NULL)
        return -1;
    return olen == MAC_BYTES ? 0 : -1;
}

/* ---- formatting ---- */

/* v in the grammar's form: at most 6 decimals, trailing zeros dropped. -1 if out of range. */
static int fmt_number(double v, char *buf, size_t len)
{
    if (!isfinite(v) || v < 0 || v >= AS_AGENT_VALUE_MAX)
        return -1;
    int n = snprintf(buf, len, "%.6f", v);
    if (n < 0 || (size_t)n >= len)
        return -1;
    while (n > 0 && buf[n - 1] == '0')
        buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '.')
        buf[--n] = '\0';
    const char *dot = strchr(buf, '.');
    return (dot ? (size_t)(dot - buf) : (size_t)n) <= NUM_DIGITS ? 0 : -1;
}

static int msg_ok(const struct as_agent_msg *m)
{
    if (!as_agent_host_ok(m->host) || m->boot == 0 || m->seq == 0 || m->ts_ms <= 0 ||
        m->ts_ms > 999999999999999LL || m->interval_ms < AS_AGENT_INTERVAL_MIN ||
        m->interval_ms > AS_AGENT_INTERVAL_MAX || m->nvalues > AS_AGENT_VALUES_MAX)
        return 0;
    for (size_t i = 0; i < m->nvalues; i++) {
        if (!as_agent_name_ok(m->values[i].name))
            return 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->values[i].name, m->values[j].name) == 0)
                return 0;
        if (strcmp(m->values[i].name, "cpu") == 0 && m->values[i].value > 1)
            return 0;
    }
    return 1;
}

int as_agent_format(const struct as_agent_msg *m, const void *key, size_t keylen, char *buf,
                    size_t len)
{
    char line[AS_AGENT_LINE_MAX + 1], num[64];
    if (!msg_ok(m))
        return -1;
    int n = snprintf(line, sizeof(line), "%s host=%s boot=%016llx seq=%llu ts=%lld interval=%lld",
                     AS_AGENT_PROTO, m->host, (unsigned long long)m->boot,
                     (unsigned long long)m->seq, (long long)m->ts_ms, (long long)m->interval_ms);
    for (size_t i = 0; i < m->nvalues && n > 0 && (size_t)n < sizeof(line); i++) {
        if (fmt_number(m->values[i].value, num, sizeof(num)) < 0)
            return -1;
        n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%s", m->values[i].name, num);
    }
    if (n < 0 || (size_t)n + MAC_FIELD + 1 > AS_AGENT_LINE_MAX)
        return -1;
    unsigned char mac[MAC_BYTES];
    if (hmac(key, keylen, line, (size_t)n, mac) < 0)
        return -1;
    n += snprintf(line + n, sizeof(line) - (size_t)n, " mac=");
    for (size_t i = 0; i < MAC_BYTES; i++)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", mac[i]);
    line[n++] = '\n';
    line[n] = '\0';
    if ((size_t)n >= len)
        return -1;
    memcpy(buf, line, (size_t)n + 1);
    return n;
}

/* ---- parsing ---- */

struct cur {
    const char *p, *end;
};

static int lit(struct cur *c, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

/* 1..max decimal digits, no leading zero (but "0"), into *out without overflow. */
static int uint_field(struct cur *c, size_t max, uint64_t *out)
{
    const char *s = c->p;
    uint64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && (size_t)(c->p - s) < max + 1) {
        unsigned d = (unsigned)(*c->p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        c->p++;
    }
    size_t n = (size_t)(c->p - s);
    if (n == 0 || n > max || (n > 1 && s[0] == '0'))
        return -1;
    *out = v;
    return 0;
}

static int hex_field(struct cur *c, size_t n, unsigned char *out)
{
    if ((size_t)(c->end - c->p) < n || n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = (unsigned char)c->p[i], lo = (unsigned char)c->p[i + 1];
        if (!is_hex(hi) || !is_hex(lo))
            return -1;
        hi = hi <= '9' ? hi - '0' : hi - 'a' + 10;
        lo = lo <= '9' ? lo - '0' : lo - 'a' + 10;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    c->p += n;
    return 0;
}

static size_t span(const struct cur *c, int (*ok)(int))
{
    const char *q = c->p;
    while (q < c->end && ok((unsigned char)*q))
        q++;
    return (size_t)(q - c->p);
}

static int digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

/* DIGITS ["." DIGITS], each run of 1..15 digits. */
static int number_field(struct cur *c, double *out)
{
    char buf[2 * NUM_DIGITS + 2];
    size_t i = span(c, digit), f = 0;
    if (i == 0 || i > NUM_DIGITS)
        return -1;
    if (c->p + i < c->end && c->p[i] == '.') {
        struct cur frac = {c->p + i + 1, c->end};
        f = span(&frac, digit);
        if (f == 0 || f > NUM_DIGITS)
            return -1;
        f++;
    }
    memcpy(buf, c->p, i + f);
    buf[i + f] = '\0';
    c->p += i + f;
    *out = strtod(buf, NULL);
    return 0;
}

static int host_field(struct cur *c, char *out)
{
    size_t n = span(c, host_char);
    if (n == 0 || n > AS_AGENT_HOST_MAX || !is_alnum((unsigned char)*c->p))
        return -1;
    memcpy(out, c->p, n);
    out[n] = '\0';
    c->p += n;
    return 0;
}

static int fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

static int values_field(struct cur *c, struct as_agent_msg *m, char *why, size_t whylen)
{
    m->nvalues = 0;
    while (c->p < c->end) {
        if (lit(c, " ") < 0)
            return fail(why, whylen, "expected a space before a value");
        size_t n = span(c, name_char);
        if (n == 0 || n > AS_AGENT_NAME_MAX)
            return fail(why, whylen, "bad value name");
        if (m->nvalues == AS_AGENT_VALUES_MAX)
            return fail(why, whylen, "more than %d values", AS_AGENT_VALUES_MAX);
        struct as_agent_value *v = &m->values[m->nvalues];
        memcpy(v->name, c->p, n);
        v->name[n] = '\0';
        c->p += n;
        if (!as_agent_name_ok(v->name) || as_agent_find(m, v->name) != NULL)
            return fail(why, whylen, "value name '%s' is reserved or repeated", v->name);
        if (lit(c, "=") < 0 || number_field(c, &v->value) < 0)
            return fail(why, whylen, "value '%s' is not a number DIGITS[.DIGITS]", v->name);
        m->nvalues++;
    }
    return 0;
}

/* Everything before " mac=": the fields in their order. */
static int fields(struct cur *c, struct as_agent_msg *m, char *why, size_t whylen)
{
    unsigned char boot[8];
    uint64_t ts, interval;
    const char *what = "host";
    if (lit(c, " host=") < 0 || host_field(c, m->host) < 0)
        goto bad;
    what = "boot";
    if (lit(c, " boot=") < 0 || hex_field(c, 16, boot) < 0)
        goto bad;
    m->boot = 0;
    for (size_t i = 0; i < 8; i++)
        m->boot = m->boot << 8 | boot[i];
    what = "seq";
    if (lit(c, " seq=") < 0 || uint_field(c, 20, &m->seq) < 0)
        goto bad;
    what = "ts";
    if (lit(c, " ts=") < 0 || uint_field(c, 15, &ts) < 0)
        goto bad;
    what = "interval";
    if (lit(c, " interval=") < 0 || uint_field(c, 9, &interval) < 0)
        goto bad;
    m->ts_ms = (int64_t)ts;
    m->interval_ms = (int64_t)interval;
    return values_field(c, m, why, whylen);
bad:
    return fail(why, whylen, "field '%s' missing, out of order or malformed", what);
}

static enum as_agent_status ranges(const struct as_agent_msg *m, char *why, size_t whylen)
{
    const struct as_agent_value *cpu = as_agent_find(m, "cpu");
    int bad = 1;
    if (m->boot == 0 || m->seq == 0 || m->ts_ms == 0)
        fail(why, whylen, "boot, seq and ts must not be 0");
    else if (m->interval_ms < AS_AGENT_INTERVAL_MIN || m->interval_ms > AS_AGENT_INTERVAL_MAX)
        fail(why, whylen, "interval %lld ms is outside %d..%d", (long long)m->interval_ms,
             AS_AGENT_INTERVAL_MIN, AS_AGENT_INTERVAL_MAX);
    else if (cpu != NULL && cpu->value > 1)
        fail(why, whylen, "cpu %g is above 1", cpu->value);
    else
        bad = 0;
    for (size_t i = 0; !bad && i < m->nvalues; i++)
        if (m->values[i].value >= AS_AGENT_VALUE_MAX) { /* 999999999999999.99 rounds up */
            fail(why, whylen, "value '%s' is not below 1e15", m->values[i].name);
            bad = 1;
        }
    return bad ? AS_AGENT_BAD_VALUE : AS_AGENT_OK;
}

static enum as_agent_status version(const char *line, size_t len, char *why, size_t whylen)
{
    size_t n = 2;
    if (len >= 4 && memcmp(line, "AS1 ", 4) == 0)
        return AS_AGENT_OK;
    if (len > 2 && memcmp(line, "AS", 2) == 0 && digit((unsigned char)line[2])) {
        while (n < len && n < 12 && digit((unsigned char)line[n]))
            n++;
        if (n == len || line[n] == ' ') {
            snprintf(why, whylen, "unsupported protocol version %.*s (this master speaks %s)",
                     (int)n, line, AS_AGENT_PROTO);
            return AS_AGENT_VERSION;
        }
    }
    snprintf(why, whylen, "not an agent message (it does not start with '%s ')", AS_AGENT_PROTO);
    return AS_AGENT_MALFORMED;
}

enum as_agent_status as_agent_parse(const char *line, size_t len, const void *key, size_t keylen,
                                    struct as_agent_msg *out, char *why, size_t whylen)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len + 1 > AS_AGENT_LINE_MAX) {
        snprintf(why, whylen, "line longer than %d bytes", AS_AGENT_LINE_MAX);
        return AS_AGENT_TOO_LONG;
    }
    enum as_agent_status st = version(line, len, why, whylen);
    if (st != AS_AGENT_OK)
        return st;
    unsigned char got[MAC_BYTES], want[MAC_BYTES];
    struct cur mac = {line + len - (len >= MAC_FIELD ? MAC_FIELD : 0), line + len};
    if (len < MAC_FIELD + 3 || lit(&mac, " mac=") < 0 || hex_field(&mac, AS_AGENT_MAC_HEX, got)) {
        snprintf(why, whylen, "no ' mac=' and 64 lowercase hex digits at the end");
        return AS_AGENT_MALFORMED;
    }
    struct cur c = {line + 3, line + len - MAC_FIELD};
    if (fields(&c, out, why, whylen) < 0)
        return AS_AGENT_MALFORMED;
    if (hmac(key, keylen, line, len - MAC_FIELD, want) < 0 ||
        CRYPTO_memcmp(got, want, MAC_BYTES) != 0) {
        snprintf(why, whylen, "bad MAC (wrong key, or the line was changed)");
        return AS_AGENT_BAD_MAC;
    }
    return ranges(out, why, whylen);
}

enum as_agent_status as_agent_admit(struct as_agent_peer *peer, const struct as_agent_msg *m,
                                    int64_t now_ms, int64_t skew_ms, char *why, size_t whylen)
{
    int64_t off = m->ts_ms - now_ms;
    if (off > skew_ms || off < -skew_ms) {
        snprintf(why, whylen, "timestamp %lld is %.1f s %s the master's clock (window %.1f s)",
                 (long long)m->ts_ms, (double)(off < 0 ? -off : off) / 1000.0,
                 off < 0 ? "behind" : "ahead of", (double)skew_ms / 1000.0);
        return AS_AGENT_STALE;
    }
    if (peer->known && m->boot == peer->boot && m->seq <= peer->seq) {
        snprintf(why, whylen, "sequence %llu is not above %llu, the last accepted of this boot",
                 (unsigned long long)m->seq, (unsigned long long)peer->seq);
        return AS_AGENT_REPLAY;
    }
    if (peer->known && m->boot != peer->boot && m->ts_ms <= peer->ts_ms) {
        snprintf(why, whylen,
                 "boot %016llx: timestamp %lld is not after %lld, the last accepted message's "
                 "(boot %016llx)",
                 (unsigned long long)m->boot, (long long)m->ts_ms, (long long)peer->ts_ms,
                 (unsigned long long)peer->boot);
        return AS_AGENT_OLD_BOOT;
    }
    *peer = (struct as_agent_peer){1, m->boot, m->seq, m->ts_ms};
    return AS_AGENT_OK;
}
