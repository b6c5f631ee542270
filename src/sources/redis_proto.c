/* The `redis` source's URL and replies (redis_proto.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sources/redis_proto.h"
#include "util/util.h"

/* ---- the URL ---- */

void as_redis_url_free(struct as_redis_url *u)
{
    if (u == NULL)
        return;
    free(u->host);
    free(u->username);
    free(u->password);
    memset(u, 0, sizeof(*u));
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The n bytes at s percent-decoded into *out (NULL when empty). Returns 0 or -1 with err. */
static int decode(const char *s, size_t n, const char *what, char **out, struct as_err *err)
{
    *out = NULL;
    if (n == 0)
        return 0;
    char *d = malloc(n + 1);
    if (d == NULL)
        return as_err_set(err, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            d[o++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
        int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0)) {
            free(d);
            return as_err_set(err,
                              "'url': the %s has a '%%' that is not followed by two hex digits "
                              "(write %%25 for '%%'), or encodes a NUL byte",
                              what);
        }
        d[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    d[o] = '\0';
    *out = d;
    return 0;
}

static int parse_userinfo(const char *s, size_t n, struct as_redis_url *u, struct as_err *err)
{
    const char *colon = memchr(s, ':', n);
    size_t ulen = colon ? (size_t)(colon - s) : n;
    if (decode(s, ulen, "user name", &u->username, err) < 0)
        return -1;
    if (colon && decode(colon + 1, n - ulen - 1, "password", &u->password, err) < 0)
        return -1;
    return 0;
}

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/* Digits only, value in [min, max]. Returns 0 or -1. */
static int parse_num(const char *s, size_t n, long min, long max, int *out)
{
    if (n == 0 || n > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* host[:port] of n bytes at s. */
static int parse_hostport(const char *s, size_t n, struct as_redis_url *u, struct as_err *err)
{
    const char *h = s, *port = NULL;
    size_t hlen;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return as_err_set(err, "'url': an IPv6 address needs its closing ']'");
        h = s + 1;
        hlen = (size_t)(close - h);
        for (size_t i = 0; i < hlen; i++)
            if (hexval(h[i]) < 0 && h[i] != ':' && h[i] != '.')
                return as_err_set(err, "'url': the IPv6 address between [ ] is malformed");
        size_t rest = n - (size_t)(close + 1 - s);
        if (rest > 0 && close[1] != ':')
            return as_err_set(err, "'url': only ':PORT' may follow an IPv6 address");
        port = rest > 0 ? close + 2 : NULL;
    } else {
        const char *colon = memchr(s, ':', n);
        hlen = colon ? (size_t)(colon - s) : n;
        for (size_t i = 0; i < hlen; i++)
            if (!host_char(h[i]))
                return as_err_set(err, "'url': the host name may hold only letters, digits, "
                                       "'-', '.' and '_' (an IPv6 address goes between [ ])");
        port = colon ? colon + 1 : NULL;
    }
    if (hlen == 0 || hlen > 253)
        return as_err_set(err, "'url' needs a host (at most 253 characters)");
    u->port = AS_REDIS_DEFAULT_PORT;
    if (port && parse_num(port, (size_t)(s + n - port), 1, 65535, &u->port) < 0)
        return as_err_set(err, "'url': the port must be a number from 1 to 65535");
    u->host = strndup(h, hlen);
    return u->host ? 0 : as_err_set(err, "out of memory");
}

static int parse_scheme(const char *url, struct as_redis_url *u, const char **rest,
                        struct as_err *err)
{
    if (strncasecmp(url, "redis://", 8) == 0) {
        *rest = url + 8;
        return 0;
    }
    if (strncasecmp(url, "rediss://", 9) == 0) {
        u->tls = 1;
        *rest = url + 9;
        return 0;
    }
    return as_err_set(err, "'url' must start with redis:// (rediss:// for TLS)");
}

int as_redis_url_parse(const char *url, struct as_redis_url *out, struct as_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *rest = NULL;
    if (parse_scheme(url, out, &rest, err) < 0)
        return -1;
    const char *at = strrchr(rest, '@');
    if (at && parse_userinfo(rest, (size_t)(at - rest), out, err) < 0)
        return -1;
    const char *hp = at ? at + 1 : rest;
    if (strpbrk(hp, "?#"))
        return as_err_set(err, "'url' may not have a query (?...) or a fragment (#...): give "
                               "the database as /N and the password in the URL or 'password'");
    const char *slash = strchr(hp, '/');
    size_t hplen = slash ? (size_t)(slash - hp) : strlen(hp);
    if (parse_hostport(hp, hplen, out, err) < 0)
        return -1;
    if (slash && slash[1] != '\0' &&
        parse_num(slash + 1, strlen(slash + 1), 0, AS_REDIS_DB_MAX, &out->db) < 0)
        return as_err_set(err, "'url': the database after the host must be a number (/0, /1, "
                               "...)");
    return 0;
}

/* ---- replies ---- */

const char *as_redis_kind_command(enum as_redis_kind kind)
{
    switch (kind) {
    case AS_REDIS_LIST:
        return "LLEN";
    case AS_REDIS_ZSET:
        return "ZCARD";
    case AS_REDIS_SET:
        return "SCARD";
    case AS_REDIS_HASH:
        return "HLEN";
    case AS_REDIS_STREAM:
        return "XLEN";
    default:
        return NULL;
    }
}

const char *as_redis_describe(const redisReply *r, char *buf, size_t len)
{
    char text[61];
    if (r == NULL) {
        snprintf(buf, len, "no reply");
        return buf;
    }
    switch (r->type) {
    case REDIS_REPLY_ERROR:
        snprintf(buf, len, "an error (%s)", as_printable(r->str, r->len, text, sizeof(text)));
        break;
    case REDIS_REPLY_STATUS:
        snprintf(buf, len, "a status (%s)", as_printable(r->str, r->len, text, sizeof(text)));
        break;
    case REDIS_REPLY_STRING:
        snprintf(buf, len, "a string (\"%s\"%s)", as_printable(r->str, r->len, text, sizeof(text)),
                 r->len >= sizeof(text) ? "..." : "");
        break;
    case REDIS_REPLY_NIL:
        snprintf(buf, len, "nil");
        break;
    case REDIS_REPLY_ARRAY:
        snprintf(buf, len, "an array of %zu elements", (size_t)r->elements);
        break;
    case REDIS_REPLY_INTEGER:
        snprintf(buf, len, "the integer %lld", r->integer);
        break;
    default:
        snprintf(buf, len, "a reply of type %d", r->type);
        break;
    }
    return buf;
}

/* "replied an error (...)" and the like. Returns -1. */
static int unexpected(const redisReply *r, const char *wanted, char *why, size_t len)
{
    char d[128];
    if (r && r->type == REDIS_REPLY_ERROR) /* the server's reason is the point */
        snprintf(why, len, "%s", as_printable(r->str, r->len, d, sizeof(d)));
    else
        snprintf(why, len, "replied %s, not %s", as_redis_describe(r, d, sizeof(d)), wanted);
    return -1;
}

int as_redis_reply_count(const redisReply *r, long long *out, char *why, size_t len)
{
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        return unexpected(r, "an integer", why, len);
    if (r->integer < 0) {
        snprintf(why, len, "replied %lld, a negative count", r->integer);
        return -1;
    }
    *out = r->integer;
    return 0;
}

int as_redis_reply_ok(const redisReply *r, char *why, size_t len)
{
    if (r && r->type == REDIS_REPLY_STATUS && r->len == 2 && memcmp(r->str, "OK", 2) == 0)
        return 0;
    return unexpected(r, "OK", why, len);
}

int as_redis_reply_type(const redisReply *r, enum as_redis_kind *out, char *why, size_t len)
{
    static const struct {
        const char *name;
        enum as_redis_kind kind;
    } types[] = {{"list", AS_REDIS_LIST}, {"zset", AS_REDIS_ZSET},     {"set", AS_REDIS_SET},
                 {"hash", AS_REDIS_HASH}, {"stream", AS_REDIS_STREAM}, {"none", AS_REDIS_NONE}};
    if (r == NULL || r->type != REDIS_REPLY_STATUS)
        return unexpected(r, "a type name", why, len);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (r->len == strlen(types[i].name) && memcmp(r->str, types[i].name, r->len) == 0) {
            *out = types[i].kind;
            return 0;
        }
    char text[41];
    snprintf(why, len, "holds a %s, which has no length the source counts",
             as_printable(r->str, r->len, text, sizeof(text)));
    return -1;
}

static int is_name(const redisReply *r, const char *name)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
           r->len == strlen(name) && memcmp(r->str, name, r->len) == 0;
}

/* The value after field `name` in a flat field/value array, or NULL. */
static const redisReply *field(const redisReply *g, const char *name)
{
    for (size_t i = 0; i + 1 < (size_t)g->elements; i += 2)
        if (is_name(g->element[i], name))
            return g->element[i + 1];
    return NULL;
}

/* One group's pending and lag. Returns 0 or -1 with why. */
static int group_numbers(const redisReply *g, struct as_redis_group_info *out, char *why,
                         size_t len)
{
    const redisReply *p = field(g, "pending"), *lag = field(g, "lag");
    if (p == NULL || p->type != REDIS_REPLY_INTEGER || p->integer < 0) {
        snprintf(why, len, "XINFO GROUPS gave the group no pending count (or a negative one)");
        return -1;
    }
    out->pending = p->integer;
    out->has_lag = lag != NULL;
    out->lag = -1;
    if (lag == NULL || lag->type == REDIS_REPLY_NIL)
        return 0;
    if (lag->type != REDIS_REPLY_INTEGER || lag->integer < 0) {
        char d[128];
        snprintf(why, len, "XINFO GROUPS gave the group a lag of %s",
                 as_redis_describe(lag, d, sizeof(d)));
        return -1;
    }
    out->lag = lag->integer;
    return 0;
}

int as_redis_xinfo_group(const redisReply *r, const char *group, struct as_redis_group_info *out,
                         char *why, size_t len)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return unexpected(r, "an array of groups", why, len);
    for (size_t i = 0; i < (size_t)r->elements; i++) {
        const redisReply *g = r->element[i];
        if (g == NULL || g->type != REDIS_REPLY_ARRAY) {
            snprintf(why, len, "XINFO GROUPS replied something other than a list of groups");
            return -1;
        }
        if (is_name(field(g, "name"), group))
            return group_numbers(g, out, why, len);
    }
    char name[65];
    snprintf(why, len, "no consumer group '%s' on the stream (it has %zu)",
             as_printable(group, strlen(group), name, sizeof(name)), (size_t)r->elements);
    return -1;
}

int as_redis_command_denied(const char *name)
{
    static const char *const denied[] = {
        "SUBSCRIBE",  "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
        "MONITOR",    "AUTH",       "SELECT",     "HELLO",       "QUIT",         "RESET",
        "CLIENT",     "MULTI",      "EXEC",       "DISCARD",     "WATCH",        "UNWATCH",
        "SYNC",       "PSYNC",      "REPLCONF",   "BLPOP",       "BRPOP",        "BRPOPLPUSH",
        "BLMOVE",     "BLMPOP",     "BZPOPMIN",   "BZPOPMAX",    "BZMPOP",       "XREAD",
        "XREADGROUP", "WAIT",       "WAITAOF",    "SHUTDOWN",    NULL,
    };
    for (size_t i = 0; denied[i]; i++)
        if (strcasecmp(name, denied[i]) == 0)
            return 1;
    return 0;
}
