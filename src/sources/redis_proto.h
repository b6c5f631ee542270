/* The pure parts of the `redis` source: its URL, and what Redis' replies mean. No I/O, no
 * allocation but the URL's strings: for the source, its unit tests and its fuzz target. */
#ifndef AS_SOURCES_REDIS_PROTO_H
#define AS_SOURCES_REDIS_PROTO_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "util/err.h"

/* redis://[[username]:password@]host[:port][/db] (or rediss://, parsed and flagged). */
struct as_redis_url {
    int tls;        /* rediss:// */
    char *host;     /* a name or an address, IPv6 without its brackets; owned */
    int port;       /* 1..65535, default 6379 */
    int db;         /* 0..AS_REDIS_DB_MAX, default 0 */
    char *username; /* percent-decoded; NULL when absent or empty; owned */
    char *password; /* percent-decoded; NULL when absent or empty; owned */
};

#define AS_REDIS_DEFAULT_PORT 6379
#define AS_REDIS_DB_MAX 2147483647

/* Parses url into *out (zeroed first; free with as_redis_url_free, also after an error).
 * The user name and password are everything between "//" and the LAST '@' (so a password
 * given by reference may hold '@', '/' or ':'; the user name ends at the first ':'), and are
 * percent-decoded (%40 is '@'); a user name without a password is the caller's to refuse or
 * complete. The host is a name (letters, digits, '-', '.', '_') or an
 * address ("[::1]" for IPv6). Returns 0, or -1 with err; the message never quotes the URL or
 * a part of it, since the URL may hold a password. */
int as_redis_url_parse(const char *url, struct as_redis_url *out, struct as_err *err);

/* Frees the strings of u and zeroes it; NULL-safe. */
void as_redis_url_free(struct as_redis_url *u);

/* The types of key the source can count, and the command that counts each. */
enum as_redis_kind {
    AS_REDIS_LIST,
    AS_REDIS_ZSET,
    AS_REDIS_SET,
    AS_REDIS_HASH,
    AS_REDIS_STREAM,
    AS_REDIS_AUTO, /* ask TYPE first */
    AS_REDIS_NONE, /* TYPE said "none": the key does not exist, its length is 0 */
};

/* "LLEN", "ZCARD", "SCARD", "HLEN", "XLEN"; NULL for AUTO and NONE. */
const char *as_redis_kind_command(enum as_redis_kind kind);

/* Describes a reply for an error message: "an error (WRONGTYPE ...)", "a string (\"abc\")",
 * "nil", "an array of 3 elements", "a status (OK)", "the integer 5". Untrusted bytes are made
 * printable and cut. Returns buf. */
const char *as_redis_describe(const redisReply *r, char *buf, size_t len);

/* A reply that must be a count: an integer >= 0. Returns 0 with *out, or -1 with why
 * ("replied an error (...)", "replied a string (...), not an integer", "replied -2, a
 * negative count"). */
int as_redis_reply_count(const redisReply *r, long long *out, char *why, size_t len);

/* A reply to TYPE: the kind of the key (AS_REDIS_NONE for "none"). Returns 0, or -1 with why
 * ("holds a string, which has no length", an unexpected reply). */
int as_redis_reply_type(const redisReply *r, enum as_redis_kind *out, char *why, size_t len);

/* A status reply "OK" (to AUTH, SELECT). Returns 0, or -1 with why. */
int as_redis_reply_ok(const redisReply *r, char *why, size_t len);

/* What XINFO GROUPS says of one consumer group. */
struct as_redis_group_info {
    long long pending; /* delivered, not yet acknowledged */
    long long lag;     /* not yet delivered; -1 when Redis cannot tell (a nil lag) */
    int has_lag;       /* 0: Redis before 7.0, which does not report it */
};

/* Finds group in a reply to XINFO GROUPS (an array of groups, each a flat array of
 * field/value pairs). Returns 0 with *out, or -1 with why (no such group, a reply of another
 * shape, a negative number). */
int as_redis_xinfo_group(const redisReply *r, const char *group, struct as_redis_group_info *out,
                         char *why, size_t len);

/* Commands `command:` may not run: they change what the connection is (SUBSCRIBE, MONITOR,
 * AUTH, SELECT, HELLO, QUIT, RESET, CLIENT, MULTI...) or block (BLPOP, XREAD, WAIT...); hiredis
 * 0.14 cannot take a subscription's messages as replies. Case-insensitive. Returns 1 when
 * name is one of them. */
int as_redis_command_denied(const char *name);

#endif
