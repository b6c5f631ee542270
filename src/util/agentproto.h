/* The agent protocol (docs/protocol.md): one line of text per report, sent by `autoscaler
 * agent` (or any third-party agent) to the master's `agents` source over TCP.
 *
 *   AS1 host=web-1 boot=0123456789abcdef seq=42 ts=1700000000000 interval=5000 cpu=0.4375
 *   queue=12 mac=<64 lowercase hex digits>\n              (one line; wrapped here)
 *
 * The MAC is HMAC-SHA256, keyed by the shared secret, over every byte of the line before
 * " mac=". The grammar is strict (single spaces, fixed field order, LF only, no sign or
 * exponent in numbers), so the bytes sent are the canonical form: nothing is re-serialised
 * before the MAC is checked. Parsing never allocates; every bound is below. */
#ifndef AS_AGENTPROTO_H
#define AS_AGENTPROTO_H

#include <stddef.h>
#include <stdint.h>

#define AS_AGENT_PROTO "AS1"
#define AS_AGENT_LINE_MAX 1024    /* bytes of one message, its LF included */
#define AS_AGENT_HOST_MAX 64      /* bytes of a host name */
#define AS_AGENT_NAME_MAX 32      /* bytes of a value's name */
#define AS_AGENT_VALUES_MAX 16    /* values in one message */
#define AS_AGENT_VALUE_MAX 1e15   /* every value is finite, 0 <= v < this */
#define AS_AGENT_INTERVAL_MIN 100 /* ms */
#define AS_AGENT_INTERVAL_MAX 86400000
#define AS_AGENT_KEY_MIN 16 /* bytes of a shared secret */
#define AS_AGENT_MAC_HEX 64 /* hex digits of the MAC */

struct as_agent_value {
    char name[AS_AGENT_NAME_MAX + 1];
    double value;
};

/* One report, as sent and as parsed. */
struct as_agent_msg {
    char host[AS_AGENT_HOST_MAX + 1];
    uint64_t boot;       /* random per agent start, never 0 */
    uint64_t seq;        /* 1, 2, ... per boot: strictly increasing, gaps allowed */
    int64_t ts_ms;       /* the agent's wall clock, Unix milliseconds, > 0 */
    int64_t interval_ms; /* how often the agent reports */
    size_t nvalues;
    struct as_agent_value values[AS_AGENT_VALUES_MAX];
};

/* Why a line or a message was rejected. */
enum as_agent_status {
    AS_AGENT_OK = 0,
    AS_AGENT_TOO_LONG,  /* longer than AS_AGENT_LINE_MAX */
    AS_AGENT_VERSION,   /* "AS<digits>" other than AS1 */
    AS_AGENT_MALFORMED, /* anything else the grammar does not allow */
    AS_AGENT_BAD_VALUE, /* a well-formed number out of range: cpu above 1, >= 1e15 */
    AS_AGENT_BAD_MAC,   /* wrong key or changed bytes */
    AS_AGENT_STALE,     /* timestamp outside the master's window */
    AS_AGENT_REPLAY,    /* same boot, sequence number not above the last accepted one */
    AS_AGENT_OLD_BOOT,  /* another boot, timestamp not after the last accepted message */
    AS_AGENT_NSTATUS
};

/* A short lowercase name for logs and counters ("bad_mac", "replayed", ...). */
const char *as_agent_status_name(enum as_agent_status st);

/* Formats m signed with key into buf, the LF included, NUL-terminated. Numbers are written in
 * the shortest form with at most 6 decimals (0.4375, 12). Returns the length (without the
 * NUL), or -1 when m breaks a rule of the grammar (bad host or name, value out of range, too
 * many values) or buf is too small. */
int as_agent_format(const struct as_agent_msg *m, const void *key, size_t keylen, char *buf,
                    size_t len);

/* Parses one line (len bytes, with or without its final LF) and checks its MAC with key.
 * Returns AS_AGENT_OK with *out filled, or the reason with a one-line detail in why (never a
 * secret, at most whylen bytes). On AS_AGENT_BAD_MAC and AS_AGENT_BAD_VALUE *out holds the
 * fields as parsed (for BAD_MAC, unverified: whoever sent it may have made them up); on any
 * other failure it is unspecified. */
enum as_agent_status as_agent_parse(const char *line, size_t len, const void *key, size_t keylen,
                                    struct as_agent_msg *out, char *why, size_t whylen);

/* The value named name in m, or NULL. */
const struct as_agent_value *as_agent_find(const struct as_agent_msg *m, const char *name);

/* What the master remembers of one host to reject replays (docs/protocol.md, "Replays"). */
struct as_agent_peer {
    int known;
    uint64_t boot, seq;
    int64_t ts_ms; /* of the last accepted message */
};

/* Whether m (already parsed and verified) may be accepted from a host whose last accepted
 * message left *peer, at the master's wall-clock time now_ms: its timestamp within skew_ms of
 * now; with the same boot, a higher sequence number; with another boot, a timestamp after the
 * last accepted one. Returns AS_AGENT_OK (and then, only then, records m in *peer),
 * AS_AGENT_STALE, AS_AGENT_REPLAY or AS_AGENT_OLD_BOOT with a detail in why. */
enum as_agent_status as_agent_admit(struct as_agent_peer *peer, const struct as_agent_msg *m,
                                    int64_t now_ms, int64_t skew_ms, char *why, size_t whylen);

/* Whether s is a valid host name: 1..64 bytes of [A-Za-z0-9._-], the first alphanumeric. */
int as_agent_host_ok(const char *s);

/* Whether s is a valid value name: [a-z][a-z0-9_]{0,31}, not a reserved field name. */
int as_agent_name_ok(const char *s);

#endif
