/* The listener of source `agents`: see agents_listen.h and agents.c. */
#define _GNU_SOURCE /* accept4 */
#include "sources/agents_listen.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/loop.h"
#include "util/util.h"

struct agents_conn {
    struct agents_listener *l;
    int fd;
    char peer[AS_AGENTS_ADDR_MAX];
    char host[AS_AGENT_HOST_MAX + 1]; /* of its last accepted message, "" none yet */
    char buf[AS_AGENT_LINE_MAX];
    size_t len;
    int64_t since_ms, ok_ms, limit_ms;
    int authed; /* delivered an accepted report (ok_ms is its time) */
    double tokens;
    int64_t tokens_ms;
    struct agents_conn *prev, *next;
};

#define SWEEP_MS 500    /* idle connections, silent hosts, a paused accept */
#define ACCEPT_BATCH 64 /* connections accepted per wake-up */
#define LOG_BURST 10    /* lines logged per second per listener and reason */

static const char *const extra_names[] = {"flood",   "idle",         "refused",
                                          "evicted", "unknown_host", "host_limit"};

static struct agents_listener *listeners; /* every listener of the process, live or dormant */

int as_agents_resolve(const char *s, struct sockaddr_storage *sa, socklen_t *salen,
                      struct as_err *err)
{
    char host[AS_AGENTS_ADDR_MAX];
    const char *colon = strrchr(s, ':');
    size_t hlen = colon ? (size_t)(colon - s) : 0;
    if (colon == NULL || hlen == 0 || hlen >= sizeof(host) || colon[1] == '\0')
        return as_err_set(err, "'listen' must be HOST:PORT, e.g. 127.0.0.1:7070");
    int bracket = s[0] == '[' && hlen >= 2 && s[hlen - 1] == ']';
    memcpy(host, s + bracket, hlen - 2 * (size_t)bracket);
    host[hlen - 2 * (size_t)bracket] = '\0';
    long port;
    if (as_parse_long(colon + 1, &port) < 0 || port < 1 || port > 65535)
        return as_err_set(err, "'listen': port must be 1..65535");
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || ai == NULL)
        return as_err_set(err, "'listen': '%s' is not an IP address (no names: %s)", host,
                          "write 127.0.0.1, 0.0.0.0 or [::1]");
    memcpy(sa, ai->ai_addr, ai->ai_addrlen);
    *salen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

/* ---- logging ---- */

const char *as_agents_reason_name(int r)
{
    return r < AS_AGENT_NSTATUS ? as_agent_status_name(r) : extra_names[r - AS_AGENT_NSTATUS];
}

/* The metric that names the listener in logs: its first. */
static const struct agents *owner(const struct agents_listener *l)
{
    return l->att;
}

/* Whether a line about `reason` may be logged now: LOG_BURST a second for each reason, so a
 * flood of one kind cannot hide another (slot 0, "ok", is for agents restarting). */
static int log_allowed(struct agents_listener *l, int reason)
{
    int64_t now = as_loop_now(l->loop);
    if (now - l->log_window_ms[reason] >= 1000) {
        l->log_window_ms[reason] = now;
        l->log_count[reason] = 0;
    }
    if (l->log_count[reason]++ < LOG_BURST)
        return 1;
    l->suppressed++;
    return 0;
}

/* Counts a rejection and logs it (on change, LOG_BURST a second at most). Returns -1. */
static int reject(struct agents_listener *l, int reason, const char *peer, const char *host,
                  const char *why)
{
    l->n[reason]++;
    if (!log_allowed(l, reason))
        return -1;
    const struct agents *o = owner(l);
    as_log_fault(&l->fault[reason], AS_WARN, "source/agents[%s/%s]: %s%s%s: rejected (%s): %s",
                 o->ctx.group, o->ctx.name, peer, host[0] ? " host=" : "", host,
                 as_agents_reason_name(reason), why);
    return -1;
}

unsigned long long as_agents_rejections(const struct agents_listener *l)
{
    unsigned long long sum = 0;
    for (int r = 1; r < AS_AGENTS_NREASONS; r++)
        sum += l->n[r];
    return sum + l->suppressed;
}

/* ---- hosts ---- */

static struct agents_host *host_find(struct agents_listener *l, const char *name)
{
    for (size_t i = 0; i < l->nhosts; i++)
        if (strcmp(l->hosts[i].name, name) == 0)
            return &l->hosts[i];
    return NULL;
}

static struct agents_host *host_add(struct agents_listener *l, const char *name)
{
    if (l->nhosts == l->caphosts) {
        size_t cap = l->caphosts ? l->caphosts * 2 : 8;
        struct agents_host *h = realloc(l->hosts, cap * sizeof(*h));
        if (h == NULL)
            return NULL;
        l->hosts = h;
        l->caphosts = cap;
    }
    struct agents_host *h = &l->hosts[l->nhosts++];
    *h = (struct agents_host){.seen_ms = -1};
    snprintf(h->name, sizeof(h->name), "%s", name);
    return h;
}

static int listed(const struct agents *o, const char *name)
{
    for (size_t i = 0; o->hosts && o->hosts[i]; i++)
        if (strcmp(o->hosts[i], name) == 0)
            return 1;
    return 0;
}

int64_t as_agents_missing_after(const struct agents *o, const struct agents_host *h)
{
    return o->missing_after_ms > 0 ? o->missing_after_ms : 3 * h->last.interval_ms;
}

/* Wakes the groups of the metrics that react when the report changed their field's value (a
 * host that was missing or new changes it too). The round starts now, on this loop pass: it
 * only reads the host table. */
static void react(struct agents_listener *l, const struct as_agent_msg *before,
                  const struct as_agent_msg *m)
{
    for (struct agents *a = l->att; a != NULL; a = a->next_att) {
        if (!a->react || a->ctx.wake == NULL)
            continue;
        const struct as_agent_value *now = as_agent_find(m, a->field);
        const struct as_agent_value *was = before ? as_agent_find(before, a->field) : NULL;
        if ((now != NULL) != (was != NULL) || (now && was && now->value != was->value))
            a->ctx.wake(a->ctx.wake_arg);
    }
}

/* The host table after an accepted report. */
static void host_update(struct agents_listener *l, struct agents_host *h,
                        const struct as_agent_msg *m, const char *peer)
{
    const struct agents *o = owner(l);
    int64_t now = as_loop_now(l->loop);
    if (h->seen_ms < 0)
        AS_LOG(AS_INFO, "source/agents[%s/%s]: host %s reporting from %s every %lldms",
               o->ctx.group, o->ctx.name, h->name, peer, (long long)m->interval_ms);
    else if (h->missing)
        AS_LOG(AS_INFO, "source/agents[%s/%s]: host %s reporting again after %.1fs", o->ctx.group,
               o->ctx.name, h->name, (double)(now - h->seen_ms) / 1000);
    else if (h->last.boot != m->boot && log_allowed(l, AS_AGENT_OK))
        AS_LOG(AS_INFO, "source/agents[%s/%s]: host %s: agent restarted (boot %016llx)",
               o->ctx.group, o->ctx.name, h->name, (unsigned long long)m->boot);
    struct as_agent_msg before = h->last;
    int was_present = h->seen_ms >= 0 && !h->missing;
    h->last = *m;
    h->seen_ms = now;
    h->missing = 0;
    l->accepted++;
    react(l, was_present ? &before : NULL, m);
}

/* Logs hosts that went silent and drops the ones silent past forget_after. */
static void hosts_sweep(struct agents_listener *l, int64_t now)
{
    const struct agents *o = owner(l);
    for (size_t i = 0; i < l->nhosts;) {
        struct agents_host *h = &l->hosts[i];
        int64_t quiet = h->seen_ms < 0 ? now - l->started_ms : now - h->seen_ms;
        if (h->seen_ms >= 0 && !h->listed && quiet > o->forget_after_ms) {
            AS_LOG(AS_INFO, "source/agents[%s/%s]: host %s silent for %.1fs: forgotten",
                   o->ctx.group, o->ctx.name, h->name, (double)quiet / 1000);
            l->hosts[i] = l->hosts[--l->nhosts];
            continue;
        }
        if (h->seen_ms >= 0 && !h->missing && quiet > as_agents_missing_after(o, h)) {
            h->missing = 1;
            AS_LOG(AS_WARN, "source/agents[%s/%s]: host %s silent for %.1fs: missing", o->ctx.group,
                   o->ctx.name, h->name, (double)quiet / 1000);
        }
        i++;
    }
}

/* ---- connections ---- */

static void conn_close(struct agents_conn *c)
{
    struct agents_listener *l = c->l;
    as_loop_watch_fd(l->loop, c->fd, 0, NULL, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    l->nconns--;
    free(c);
}

static int rate_ok(struct agents_conn *c, const struct agents *o, int64_t now)
{
    c->tokens += (double)(now - c->tokens_ms) * o->line_rate / 1000.0;
    c->tokens_ms = now;
    if (c->tokens > o->line_rate)
        c->tokens = o->line_rate;
    if (c->tokens < 1)
        return 0;
    c->tokens -= 1;
    return 1;
}

/* Handles one line; returns 0 to go on, -1 when the connection must be closed (counted and
 * logged here). */
static int on_line(struct agents_conn *c, const char *line, size_t len)
{
    struct agents_listener *l = c->l;
    const struct agents *o = owner(l);
    struct as_agent_msg m;
    char why[200];
    if (!rate_ok(c, o, as_loop_now(l->loop))) {
        snprintf(why, sizeof(why), "more than %d lines a second", o->line_rate);
        return reject(l, AS_AGENTS_FLOOD, c->peer, c->host, why);
    }
    enum as_agent_status st =
        as_agent_parse(line, len, o->secret, strlen(o->secret), &m, why, sizeof(why));
    if (st == AS_AGENT_BAD_MAC || st == AS_AGENT_BAD_VALUE) /* the host it names (for logs) */
        return reject(l, st, c->peer, m.host, why);
    if (st != AS_AGENT_OK)
        return reject(l, st, c->peer, c->host, why);
    struct agents_host *h = host_find(l, m.host);
    if (h == NULL && o->hosts != NULL) {
        snprintf(why, sizeof(why), "host %s is not in 'hosts'", m.host);
        return reject(l, AS_AGENTS_UNKNOWN, c->peer, "", why);
    }
    if (h == NULL && l->nhosts >= (size_t)o->max_hosts) {
        snprintf(why, sizeof(why), "%d hosts already (max_hosts)", o->max_hosts);
        return reject(l, AS_AGENTS_HOSTS, c->peer, m.host, why);
    }
    struct as_agent_peer fresh = {0}, *peer = h ? &h->peer : &fresh;
    st = as_agent_admit(peer, &m, as_wall_ms(), o->skew_ms, why, sizeof(why));
    if (st != AS_AGENT_OK)
        return reject(l, st, c->peer, m.host, why);
    if (h == NULL && (h = host_add(l, m.host)) == NULL) {
        AS_LOG(AS_ERROR, "source/agents[%s/%s]: out of memory", o->ctx.group, o->ctx.name);
        return -1;
    }
    h->peer = *peer;
    host_update(l, h, &m, c->peer);
    snprintf(c->host, sizeof(c->host), "%s", m.host);
    c->ok_ms = as_loop_now(l->loop);
    c->authed = 1;
    c->limit_ms = o->idle_ms > 3 * m.interval_ms ? o->idle_ms : 3 * m.interval_ms;
    return 0;
}

/* Every complete line in the buffer; -1 when the connection was closed. */
static int drain_lines(struct agents_conn *c)
{
    char *nl;
    while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
        size_t n = (size_t)(nl - c->buf) + 1;
        if (on_line(c, c->buf, n) < 0) {
            conn_close(c);
            return -1;
        }
        memmove(c->buf, c->buf + n, c->len - n);
        c->len -= n;
    }
    if (c->len == sizeof(c->buf)) {
        char why[80];
        snprintf(why, sizeof(why), "no end of line within %d bytes", AS_AGENT_LINE_MAX);
        reject(c->l, AS_AGENT_TOO_LONG, c->peer, c->host, why);
        conn_close(c);
        return -1;
    }
    return 0;
}

static void on_conn(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    struct agents_conn *c = arg;
    for (int rounds = 0; rounds < 16; rounds++) { /* then the loop serves the others */
        ssize_t n = read(fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            AS_LOG(AS_DEBUG, "source/agents[%s]: %s closed the connection", c->l->addr, c->peer);
            conn_close(c);
            return;
        }
        c->len += (size_t)n;
        if (drain_lines(c) < 0)
            return;
    }
}

static void peer_name(const struct sockaddr_storage *sa, socklen_t len, char *buf, size_t n)
{
    char host[64], port[16];
    if (getnameinfo((const struct sockaddr *)sa, len, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(buf, n, "?");
    else
        snprintf(buf, n, sa->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* Room for one more connection: the oldest that never sent a valid report goes. */
static int make_room(struct agents_listener *l)
{
    const struct agents *o = owner(l);
    if (l->nconns < o->max_connections)
        return 0;
    struct agents_conn *victim = NULL;
    for (struct agents_conn *c = l->conns; c; c = c->next)
        if (!c->authed && (victim == NULL || c->since_ms < victim->since_ms))
            victim = c;
    if (victim == NULL)
        return -1;
    char why[80];
    snprintf(why, sizeof(why), "%d connections: the oldest without a report makes room",
             o->max_connections);
    reject(l, AS_AGENTS_EVICTED, victim->peer, "", why);
    conn_close(victim);
    return 0;
}

static void conn_new(struct agents_listener *l, int fd, const struct sockaddr_storage *sa,
                     socklen_t len)
{
    const struct agents *o = owner(l);
    char peer[AS_AGENTS_ADDR_MAX], why[80];
    peer_name(sa, len, peer, sizeof(peer));
    struct agents_conn *c = NULL;
    if (make_room(l) < 0) {
        snprintf(why, sizeof(why), "%d connections, all with reports (max_connections)",
                 o->max_connections);
        reject(l, AS_AGENTS_REFUSED, peer, "", why);
    } else if ((c = calloc(1, sizeof(*c))) == NULL ||
               as_loop_watch_fd(l->loop, fd, AS_READ, on_conn, c) < 0) {
        AS_LOG(AS_ERROR, "source/agents[%s/%s]: out of memory", o->ctx.group, o->ctx.name);
        free(c);
        c = NULL;
    }
    if (c == NULL) {
        close(fd);
        return;
    }
    int64_t now = as_loop_now(l->loop);
    *c = (struct agents_conn){.l = l,
                              .fd = fd,
                              .since_ms = now,
                              .limit_ms = o->idle_ms,
                              .tokens = o->line_rate,
                              .tokens_ms = now,
                              .next = l->conns};
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    l->nconns++;
}

static void on_accept(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    struct agents_listener *l = arg;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        int c = accept4(fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            conn_new(l, c, &sa, len);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The backlog stays readable: pause, or the loop would spin. */
            AS_LOG(AS_ERROR, "source/agents[%s]: accept: %s: paused for %dms", l->addr,
                   strerror(errno), SWEEP_MS);
            as_loop_watch_fd(loop, fd, 0, NULL, NULL);
            l->paused = 1;
        }
        return;
    }
}

/* ---- the listener ---- */

static int64_t on_sweep(struct as_loop *loop, void *arg)
{
    struct agents_listener *l = arg;
    int64_t now = as_loop_now(loop);
    for (struct agents_conn *c = l->conns, *next; c; c = next) {
        next = c->next;
        int64_t quiet = now - (c->authed ? c->ok_ms : c->since_ms);
        if (quiet > c->limit_ms) {
            char why[80];
            snprintf(why, sizeof(why), "no report for %.1fs", (double)quiet / 1000);
            reject(l, AS_AGENTS_IDLE, c->peer, c->host, why);
            conn_close(c);
        }
    }
    if (l->paused && as_loop_watch_fd(loop, l->fd, AS_READ, on_accept, l) == 0)
        l->paused = 0;
    hosts_sweep(l, now);
    return SWEEP_MS;
}

static void listener_close(struct agents_listener *l)
{
    while (l->conns)
        conn_close(l->conns);
    if (l->fd >= 0) {
        as_loop_watch_fd(l->loop, l->fd, 0, NULL, NULL);
        close(l->fd);
        l->fd = -1;
    }
    as_loop_cancel_timer(l->loop, l->sweep);
    l->sweep = NULL;
    l->loop = NULL;
}

static int listener_open(struct agents_listener *l, struct agents *s, struct as_err *err)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    int one = 1;
    if (as_agents_resolve(s->listen, &sa, &salen, err) < 0)
        return -1;
    l->loop = s->ctx.loop;
    l->fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(l->fd, (struct sockaddr *)&sa, salen) < 0 || listen(l->fd, 128) < 0 ||
        as_loop_watch_fd(l->loop, l->fd, AS_READ, on_accept, l) < 0) {
        as_err_set(err, "cannot listen on %s: %s", s->listen, strerror(errno));
        goto fail;
    }
    l->sweep = as_loop_add_timer(l->loop, SWEEP_MS, on_sweep, l);
    if (l->sweep == NULL) {
        as_err_set(err, "out of memory");
        goto fail;
    }
    l->started_ms = as_loop_now(l->loop);
    l->warm = l->nhosts > 0 && s->hosts == NULL;
    AS_LOG(AS_INFO, "source/agents[%s/%s]: listening on %s%s", s->ctx.group, s->ctx.name, s->listen,
           l->warm ? " (hosts kept from before the reload)" : "");
    return 0;
fail:
    listener_close(l);
    return -1;
}

/* The hosts of `hosts:` are in the table from the start; a host no longer listed leaves. */
static int listed_hosts(struct agents_listener *l, const struct agents *s)
{
    for (size_t i = 0; i < l->nhosts;) {
        l->hosts[i].listed = listed(s, l->hosts[i].name);
        if (s->hosts != NULL && !l->hosts[i].listed)
            l->hosts[i] = l->hosts[--l->nhosts];
        else
            i++;
    }
    for (size_t i = 0; s->hosts && s->hosts[i]; i++) {
        struct agents_host *h = host_find(l, s->hosts[i]);
        if (h == NULL && (h = host_add(l, s->hosts[i])) == NULL)
            return -1;
        h->listed = 1;
    }
    return 0;
}

static struct agents_listener *listener_get(struct agents *s, as_agents_same_fn same,
                                            struct as_err *err)
{
    struct agents_listener *l = listeners;
    while (l != NULL && strcmp(l->addr, s->listen) != 0)
        l = l->next;
    if (l == NULL) {
        if ((l = calloc(1, sizeof(*l))) == NULL) {
            as_err_set(err, "out of memory");
            return NULL;
        }
        snprintf(l->addr, sizeof(l->addr), "%s", s->listen);
        l->fd = -1;
        l->next = listeners;
        listeners = l;
    } else if (l->att != NULL && strcmp(l->group, s->ctx.group) != 0) {
        as_err_set(err,
                   "listen %s is already used by group '%s'; give each group a port of its "
                   "own",
                   s->listen, l->group);
        return NULL;
    } else if (l->att != NULL && !same(l->att, s)) {
        as_err_set(err,
                   "listen %s is shared with metric '%s', whose options other than 'field' "
                   "differ",
                   s->listen, l->att->ctx.name);
        return NULL;
    } else if (l->att == NULL && strcmp(l->group, s->ctx.group) != 0) {
        l->nhosts = 0; /* another group's hosts mean nothing here */
        memset(l->n, 0, sizeof(l->n));
        l->accepted = l->suppressed = 0;
    }
    snprintf(l->group, sizeof(l->group), "%s", s->ctx.group);
    return l;
}

int as_agents_attach(struct agents *s, as_agents_same_fn same, struct as_err *err)
{
    struct agents_listener *l = listener_get(s, same, err);
    if (l == NULL)
        return -1;
    if (l->att == NULL) {
        if (listed_hosts(l, s) < 0)
            return as_err_set(err, "out of memory");
        l->att = s; /* names the listener in logs from here */
        if (listener_open(l, s, err) < 0) {
            l->att = NULL;
            return -1;
        }
    } else {
        struct agents *last = l->att;
        while (last->next_att)
            last = last->next_att;
        last->next_att = s;
    }
    s->l = l;
    return 0;
}

void as_agents_detach(struct agents *s)
{
    struct agents_listener *l = s->l;
    if (l == NULL)
        return;
    s->l = NULL;
    struct agents **p = &l->att;
    while (*p != s)
        p = &(*p)->next_att;
    *p = s->next_att;
    s->next_att = NULL;
    if (l->att == NULL)
        listener_close(l); /* dormant: its hosts wait for a reload */
}
