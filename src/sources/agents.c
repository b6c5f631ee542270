/* Source `agents`: the master of the self-hosted mode. `autoscaler agent` on each application
 * host reports its CPU (and named numbers) over TCP in the line protocol of
 * docs/protocol.md; this source listens on the daemon's loop and yields one per-replica value
 * per known host: present when it reported within missing_after, missing (ok = 0) after that,
 * forgotten after forget_after. The value is the mean of the present hosts' values.
 *
 * Hostile input costs little and never stalls the loop: non-blocking accept, a buffer of one
 * line per connection, a cap on connections (an unauthenticated one is evicted first), a line
 * rate per connection, an idle timeout; a connection that sends one bad line (too long,
 * malformed, bad MAC, replayed, stale, out of range) is closed; each rejection is counted and
 * logged on change, at most LOG_BURST lines a second.
 *
 * A listener is keyed by its address and lives in a process-wide list, so that the metrics of
 * one group may share one (each picks its `field`; all their other options must be equal),
 * another group may not, and a reload (the engine stops the group's sources, then starts the
 * new ones) finds the host table it left: sequence numbers and last reports survive, so no
 * host goes missing and no replay is let in by a SIGHUP. Connections are closed at a reload;
 * the agents reconnect within their backoff. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/agents_listen.h"
#include "util/loop.h"
#include "util/util.h"

static const struct as_opt opts[] = {
    {"listen", AS_OPT_STR, offsetof(struct agents, listen), "127.0.0.1:7070", AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "Address and port to accept agents on: IPv4 or [IPv6] literal. 0.0.0.0 listens on every "
     "interface; keep 127.0.0.1 behind an SSH tunnel (ssh -R)."},
    {"secret", AS_OPT_STR, offsetof(struct agents, secret), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_SECRET, NULL,
     "The key shared with the agents (HMAC-SHA256), at least 16 bytes, e.g. "
     "${file:/etc/autoscaler/agent.key}."},
    {"field", AS_OPT_STR, offsetof(struct agents, field), "cpu", AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL,
     "Which value of the reports this metric reads: cpu, or a name an agent sends with "
     "--command NAME=CMD."},
    {"hosts", AS_OPT_STRLIST, offsetof(struct agents, hosts), NULL, AS_NO_BOUNDS, 0, NULL,
     "The hosts expected to report. Each is counted from the start (missing until it reports) "
     "and never forgotten; reports from other hosts are rejected. Unset: any host with the key."},
    {"missing_after", AS_OPT_DURATION, offsetof(struct agents, missing_after_ms), "0s", 0, 86400000,
     0, NULL,
     "A host silent this long is missing (its replica has no sample). 0s: 3 times the interval "
     "the host reports at."},
    {"forget_after", AS_OPT_DURATION, offsetof(struct agents, forget_after_ms), "10m", 1000,
     604800000, 0, NULL, "A host silent this long leaves the set (unless listed in hosts)."},
    {"max_clock_skew", AS_OPT_DURATION, offsetof(struct agents, skew_ms), "30s", 1000, 3600000, 0,
     NULL,
     "A report whose timestamp is further than this from the master's clock is rejected; it "
     "bounds how old a replayed report can be."},
    {"idle_timeout", AS_OPT_DURATION, offsetof(struct agents, idle_ms), "30s", 100, 86400000, 0,
     NULL,
     "A connection that delivers no accepted report this long is closed (for a known host, at "
     "least 3 times its interval)."},
    {"warmup", AS_OPT_DURATION, offsetof(struct agents, warmup_ms), "10s", 0, 3600000, 0, NULL,
     "After the daemon starts, measurements fail (the group holds) this long, so that the first "
     "decision sees every agent, not the first to connect. Not with hosts, nor after a reload."},
    {"max_connections", AS_OPT_INT, offsetof(struct agents, max_connections), "256", 1, 65536, 0,
     NULL,
     "Open connections at most; when full, one that never sent a valid report is "
     "closed for a new one."},
    {"max_hosts", AS_OPT_INT, offsetof(struct agents, max_hosts), "1024", 1, AS_REPLICAS_MAX, 0,
     NULL, "Hosts in the set at most; reports from more are rejected."},
    {"max_line_rate", AS_OPT_INT, offsetof(struct agents, line_rate), "10", 1, 10000, 0, NULL,
     "Lines per second a connection may send (as a burst too); above it, it is closed as a "
     "flood."},
    {"react", AS_OPT_BOOL, offsetof(struct agents, react), "false", AS_NO_BOUNDS, 0, NULL,
     "A report that changes a host's value of this field starts the group's round at once "
     "instead of at its next tick (at most 4 rounds a second besides the ticks, each reading "
     "the count through the scaler): a change reaches the scale call within about one agent "
     "interval. Count-based policies (decay, the threshold ones) count these rounds too."},
    AS_OPT_END,
};

/* ---- options ---- */

/* The key whose value is wrong (err says why), or NULL. */
static const char *check(struct agents *s, struct as_node *map, struct as_err *err)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    struct as_node *sec = as_node_get(map, "secret");
    if (strlen(s->listen) >= AS_AGENTS_ADDR_MAX ||
        as_agents_resolve(s->listen, &sa, &salen, err) < 0)
        return "listen";
    if (sec != NULL && !sec->from_ref) {
        as_err_set(err, "'secret' must be a reference, ${file:PATH} or ${env:NAME}, never the "
                        "key itself");
        return "secret";
    }
    if (strlen(s->secret) < AS_AGENT_KEY_MIN) {
        as_err_set(err, "'secret' is shorter than %d bytes", AS_AGENT_KEY_MIN);
        return "secret";
    }
    if (!as_agent_name_ok(s->field) && strcmp(s->field, "cpu") != 0) {
        as_err_set(err, "'field' must be cpu or a value name ([a-z][a-z0-9_]*)");
        return "field";
    }
    if (s->missing_after_ms > 0 && s->forget_after_ms <= s->missing_after_ms) {
        as_err_set(err, "'forget_after' must be above 'missing_after'");
        return "forget_after";
    }
    for (size_t i = 0; s->hosts && s->hosts[i]; i++)
        if (i == (size_t)s->max_hosts) {
            as_err_set(err, "'hosts' lists more than max_hosts (%d) hosts", s->max_hosts);
            return "hosts";
        } else if (!as_agent_host_ok(s->hosts[i])) {
            as_err_set(err, "'hosts': '%s' is not a host name", s->hosts[i]);
            return "hosts";
        }
    return NULL;
}

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    const char *key = check(state, map, err);
    return key == NULL ? 0 : as_err_key(err, map, key, "%s", err->msg);
}

/* Whether a and b agree on everything but `field` (they then may share a listener). */
static int same_listener_opts(const struct agents *a, const struct agents *b)
{
    for (const struct as_opt *o = opts; o->name; o++) {
        const char *pa = (const char *)a + o->offset, *pb = (const char *)b + o->offset;
        if (strcmp(o->name, "field") == 0)
            continue;
        if (o->type == AS_OPT_STR) {
            if (strcmp(*(char *const *)pa, *(char *const *)pb) != 0)
                return 0;
        } else if (o->type == AS_OPT_STRLIST) {
            char *const *x = *(char *const *const *)pa, *const *y = *(char *const *const *)pb;
            for (; x && y && *x && *y; x++, y++)
                if (strcmp(*x, *y) != 0)
                    return 0;
            if ((x && *x) || (y && *y))
                return 0;
        } else if (memcmp(pa, pb, o->type == AS_OPT_DURATION ? sizeof(int64_t) : sizeof(int)))
            return 0;
    }
    return 1;
}

/* ---- start, stop ---- */

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct agents *s = state;
    s->ctx = *ctx;
    if (as_agents_attach(s, same_listener_opts, err) < 0)
        return -1;
    s->shown = as_agents_rejections(s->l);
    return 0;
}

static void stop(void *state)
{
    struct agents *s = state;
    as_defer_cancel(s->ctx.loop, &s->deferred);
    free(s->reps);
    s->reps = NULL;
    s->capreps = 0;
    as_agents_detach(s);
}

/* One INFO line with every counter, when rejections happened since the last one. */
static void log_counters(struct agents *s)
{
    struct agents_listener *l = s->l;
    unsigned long long now = as_agents_rejections(l);
    if (now == s->shown)
        return;
    s->shown = now;
    char buf[600];
    size_t n = 0;
    for (int r = 1; r < AS_AGENTS_NREASONS && n < sizeof(buf); r++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, " %s=%llu", as_agents_reason_name(r),
                              l->n[r]);
    AS_LOG(AS_INFO,
           "source/agents[%s/%s]: counters accepted=%llu connections=%d hosts=%zu "
           "log_suppressed=%llu rejected:%s",
           s->ctx.group, s->ctx.name, l->accepted, l->nconns, l->nhosts, l->suppressed, buf);
}

/* ---- measuring ---- */

static int fill(struct agents *s, int64_t now, struct as_measurement *m)
{
    struct agents_listener *l = s->l;
    if (l->nhosts > s->capreps) {
        struct as_replica_obs *r = realloc(s->reps, l->nhosts * sizeof(*r));
        if (r == NULL) {
            snprintf(m->error, sizeof(m->error), "out of memory");
            return -1;
        }
        s->reps = r;
        s->capreps = l->nhosts;
    }
    double sum = 0;
    size_t present = 0;
    for (size_t i = 0; i < l->nhosts; i++) {
        const struct agents_host *h = &l->hosts[i];
        const struct as_agent_value *v = h->seen_ms < 0 ? NULL : as_agent_find(&h->last, s->field);
        int ok = v != NULL && now - h->seen_ms <= as_agents_missing_after(s, h);
        s->reps[i] = (struct as_replica_obs){
            .ok = ok, .value = ok ? v->value : 0, .ready = 1, .age_ms = -1, .idle_ms = -1};
        sum += ok ? v->value : 0;
        present += (size_t)ok;
    }
    if (present == 0) {
        snprintf(m->error, sizeof(m->error), "no host reported %s within missing_after (%zu known)",
                 s->field, l->nhosts);
        return -1;
    }
    *m = (struct as_measurement){.ok = 1,
                                 .value = sum / (double)present,
                                 .replicas = -1,
                                 .nreplicas = l->nhosts,
                                 .per_replica = s->reps};
    return 0;
}

static int present_count(const struct as_measurement *m)
{
    int n = 0;
    for (size_t i = 0; i < m->nreplicas; i++)
        n += m->per_replica[i].ok;
    return n;
}

static void measure(void *state, as_measure_cb done, void *arg)
{
    struct agents *s = state;
    struct as_measurement m = {.ok = 0, .replicas = -1};
    if (s->l == NULL) {
        snprintf(m.error, sizeof(m.error), "not listening on %s", s->listen);
    } else {
        int64_t now = as_loop_now(s->ctx.loop), left = s->warmup_ms - (now - s->l->started_ms);
        log_counters(s);
        if (!s->l->warm && s->hosts == NULL && left > 0)
            snprintf(m.error, sizeof(m.error), "warming up: %.1fs left, %zu host(s) so far",
                     (double)left / 1000, s->l->nhosts);
        else
            fill(s, now, &m);
    }
    if (!m.ok)
        as_log_fault(&s->fault, AS_WARN, "source/agents[%s/%s]: %s", s->ctx.group, s->ctx.name,
                     m.error);
    else
        as_log_recovered(&s->fault, "source/agents[%s/%s]: %zu host(s), %s from %d", s->ctx.group,
                         s->ctx.name, m.nreplicas, s->field, present_count(&m));
    if (as_defer_measurement(s->ctx.loop, &s->deferred, done, &m, arg) < 0)
        AS_LOG(AS_ERROR, "source/agents[%s/%s]: out of memory", s->ctx.group, s->ctx.name);
}

static void cancel(void *state)
{
    struct agents *s = state;
    as_defer_cancel(s->ctx.loop, &s->deferred);
}

/* The listening port: one group per port (its metrics may share it). */
static int exclusive(const void *state, char *buf, size_t len)
{
    const struct agents *s = state;
    const char *colon = strrchr(s->listen, ':');
    snprintf(buf, len, "TCP port %s (agents)", colon ? colon + 1 : s->listen);
    return 0;
}

const struct as_source_ops as_source_agents = {
    .name = "agents",
    .opts = opts,
    .state_size = sizeof(struct agents),
    .summary = "CPU (or a named number) reported by `autoscaler agent` on each host: one "
               "per-replica value per host, missing when it falls silent.",
    .validate = validate,
    .start = start,
    .measure = measure,
    .cancel = cancel,
    .stop = stop,
    .exclusive = exclusive,
};
