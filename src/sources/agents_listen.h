/* The listener of source `agents` (agents.c): accepts agent connections on the loop, reads
 * their lines (util/agentproto.h), keeps the table of hosts. Apart from agents.c only to keep
 * each file short; nothing else uses it. */
#ifndef AS_SOURCES_AGENTS_LISTEN_H
#define AS_SOURCES_AGENTS_LISTEN_H

#include <stdint.h>
#include <sys/socket.h>

#include "core/plugin.h"
#include "util/agentproto.h"
#include "util/log.h"

#define AS_AGENTS_ADDR_MAX 80

/* Why a line or a connection was rejected: the protocol's reasons, then the listener's. */
enum {
    AS_AGENTS_FLOOD = AS_AGENT_NSTATUS,
    AS_AGENTS_IDLE,
    AS_AGENTS_REFUSED,
    AS_AGENTS_EVICTED,
    AS_AGENTS_UNKNOWN,
    AS_AGENTS_HOSTS,
    AS_AGENTS_NREASONS
};

struct agents_listener;
struct agents_conn;

/* One `agents` metric (the source's state): its options, then what it runs with. */
struct agents {
    char *listen, *secret, *field;
    char **hosts;
    int64_t missing_after_ms, forget_after_ms, skew_ms, idle_ms, warmup_ms;
    int max_connections, max_hosts, line_rate;
    int react; /* a report that changes field's value starts the group's round at once */
    /* runtime */
    struct as_ctx ctx;
    struct agents_listener *l;
    struct agents *next_att; /* the listener's other metrics */
    struct as_timer *deferred;
    struct as_replica_obs *reps;
    size_t capreps;
    unsigned long long shown; /* rejections when the counters were last logged */
    struct as_fault_log fault;
};

/* What the listener knows of one host. */
struct agents_host {
    char name[AS_AGENT_HOST_MAX + 1];
    struct as_agent_peer peer;
    struct as_agent_msg last;
    int64_t seen_ms; /* loop time of the last accepted message; -1 never */
    int listed, missing;
};

/* One listening address and its connections and hosts, shared by the metrics of one group;
 * kept (dormant) after they stop, for a reload. */
struct agents_listener {
    char addr[AS_AGENTS_ADDR_MAX], group[128];
    struct agents_listener *next;
    struct agents *att; /* attached metrics; NULL: dormant (closed, hosts kept) */
    struct as_loop *loop;
    int fd, paused;
    struct as_timer *sweep;
    struct agents_conn *conns;
    int nconns;
    struct agents_host *hosts;
    size_t nhosts, caphosts;
    int64_t started_ms;
    int warm; /* had hosts when it (re)started: no warmup */
    unsigned long long accepted, n[AS_AGENTS_NREASONS], suppressed;
    struct as_fault_log fault[AS_AGENTS_NREASONS];
    int64_t log_window_ms[AS_AGENTS_NREASONS];
    int log_count[AS_AGENTS_NREASONS];
};

/* "HOST:PORT" with a numeric host ("[v6]:PORT" for IPv6) into a socket address. Returns 0, or
 * -1 with err. */
int as_agents_resolve(const char *s, struct sockaddr_storage *sa, socklen_t *salen,
                      struct as_err *err);

/* Whether two metrics may share a listener (their options other than `field` are equal). */
typedef int (*as_agents_same_fn)(const struct agents *a, const struct agents *b);

/* Attaches s (started: s->ctx set) to the listener of s->listen, opening it when s is its
 * first metric; a dormant listener of the same group keeps its hosts (a reload). Fails when
 * another group's metrics use the address, when s's options differ from those of the
 * metrics already attached, or when the address cannot be bound. Returns 0 or -1 with err. */
int as_agents_attach(struct agents *s, as_agents_same_fn same, struct as_err *err);

/* Detaches s; the last metric to go closes the listener and its connections (dormant: the
 * host table is kept for a start in the same group). No-op when s is not attached. */
void as_agents_detach(struct agents *s);

/* How long host h may be silent before it is missing for o's options. */
int64_t as_agents_missing_after(const struct agents *o, const struct agents_host *h);

/* A reason's name in logs and counters ("bad_mac", "flood"...). */
const char *as_agents_reason_name(int reason);

/* Every rejection of l so far (and the log lines suppressed). */
unsigned long long as_agents_rejections(const struct agents_listener *l);

#endif
