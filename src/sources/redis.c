/* Source `redis`: the length of a list (a Celery queue), the sum of the lengths of several
 * keys, a stream consumer group's backlog, or the integer any command returns.
 *
 * One connection per metric, kept between rounds, on our loop through hiredis' asynchronous
 * API (util/redis_loop.h); AUTH and SELECT are sent after each connect, pipelined with the
 * first measurement's commands. A host name is resolved on a thread (util/resolve.h), so
 * nothing blocks the loop. Every failure (refused, timeout, closed, AUTH, a reply of the wrong
 * type, an error reply such as WRONGTYPE) is a failed measurement with the reason, and drops
 * the connection: the next measurement connects again. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "core/plugin.h"
#include "sources/redis_proto.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/redis_loop.h"
#include "util/resolve.h"
#include "util/util.h"

#define MAX_KEYS 1000

enum stream_value { SV_BACKLOG, SV_LAG, SV_PENDING };
enum tag { T_AUTH, T_SELECT, T_TYPE, T_LEN, T_XINFO, T_CMD };

struct redis_src {
    /* options */
    char *url, *username, *password, *key, *stream, *group;
    char **keys, **command;
    int key_type, stream_value;
    /* runtime, from start to stop */
    struct as_ctx ctx;
    struct as_redis_url u; /* with username and password from their own keys */
    char where[300];       /* "host:port" for messages */
    const char **names;    /* key or keys (borrowed from the options) */
    size_t nnames;
    enum as_redis_kind *kinds; /* per name: the configured kind, or TYPE's answer */
    redisAsyncContext *ac;     /* the connection, NULL when there is none */
    struct as_resolve *res;    /* a resolution in flight */
    struct as_timer *timer, *deferred;
    as_measure_cb done;
    void *arg;
    int busy;       /* a measurement is in flight */
    int waiting;    /* ... and waits for res */
    int in_measure; /* inside measure(): a result must be deferred */
    int typing;     /* key_type auto: the TYPE replies are coming */
    size_t left;    /* replies still to come */
    double sum;
    int64_t started;
    struct as_fault_log flog;
};

static const char *const kind_names[] = {"list", "zset", "set", "hash", "stream", "auto", NULL};
static const char *const stream_values[] = {"backlog", "lag", "pending", NULL};

static const struct as_opt opts[] = {
    {"url", AS_OPT_STR, offsetof(struct redis_src, url), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], e.g. redis://:${env:REDIS_PASSWORD}@"
     "127.0.0.1:6379/0 (port 6379, db 0 by default; rediss:// is refused: no TLS)."},
    {"username", AS_OPT_STR, offsetof(struct redis_src, username), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL, "ACL user name for AUTH (Redis 6+), instead of one in the URL."},
    {"password", AS_OPT_STR, offsetof(struct redis_src, password), NULL, AS_NO_BOUNDS,
     AS_OPT_SECRET | AS_OPT_NONEMPTY, NULL,
     "Password for AUTH, instead of one in the URL, e.g. ${file:/run/secrets/redis}."},
    {"key", AS_OPT_STR, offsetof(struct redis_src, key), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL,
     "The key whose length is the value, e.g. celery (Celery's default queue)."},
    {"keys", AS_OPT_STRLIST, offsetof(struct redis_src, keys), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL, "Several keys: the value is the sum of their lengths."},
    {"key_type", AS_OPT_ENUM, offsetof(struct redis_src, key_type), "list", AS_NO_BOUNDS, 0,
     kind_names,
     "How `key`/`keys` are counted: list (LLEN), zset (ZCARD), set (SCARD), hash (HLEN), "
     "stream (XLEN), or auto (TYPE first; a missing key counts 0)."},
    {"stream", AS_OPT_STR, offsetof(struct redis_src, stream), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL, "A stream whose consumer group `group` is measured (XINFO GROUPS)."},
    {"group", AS_OPT_STR, offsetof(struct redis_src, group), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL, "The consumer group of `stream`."},
    {"stream_value", AS_OPT_ENUM, offsetof(struct redis_src, stream_value), "backlog", AS_NO_BOUNDS,
     0, stream_values,
     "backlog: entries not yet delivered plus delivered but not acknowledged (lag + pending; "
     "Redis 7+); lag: not yet delivered (Redis 7+); pending: delivered, not acknowledged."},
    {"command", AS_OPT_STRLIST, offsetof(struct redis_src, command), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "Any command (argv) whose reply is an integer >= 0, e.g. [ZCOUNT, jobs, '-inf', '+inf']."},
    AS_OPT_END,
};

/* ---- validation ---- */

static int check_url(struct redis_src *s, struct as_node *map, struct as_err *err)
{
    struct as_redis_url u;
    int rc = as_redis_url_parse(s->url, &u, err);
    if (rc == 0 && u.tls)
        rc = as_err_set(err, "rediss:// (TLS) is not supported: hiredis 0.14 has no TLS; reach "
                             "Redis through a TLS tunnel on 127.0.0.1 (stunnel, spiped, ssh -L) "
                             "with redis://");
    else if (rc == 0 && u.password && s->password)
        rc = as_err_set(err, "the password is in 'url' and in 'password': give it once");
    else if (rc == 0 && u.username && s->username)
        rc = as_err_set(err, "the user name is in 'url' and in 'username': give it once");
    else if (rc == 0 && (u.username || s->username) && !u.password && !s->password)
        rc = as_err_set(err, "a user name needs a password: redis://USER:PASSWORD@HOST or "
                             "'password' (for a password alone: redis://:PASSWORD@HOST)");
    as_redis_url_free(&u);
    return rc < 0 ? as_err_key(err, map, "url", "%s", err->msg) : 0;
}

/* Exactly one of key, keys, stream, command; the keys that go with it and no other. */
static int check_what(struct redis_src *s, struct as_node *map, struct as_err *err)
{
    int n = !!s->key + !!s->keys + !!s->stream + !!s->command;
    if (n != 1) {
        as_err_set(err, "set exactly one of 'key', 'keys', 'stream' and 'command'");
        return as_err_key(err, map,
                          n ? (s->keys     ? "keys"
                               : s->stream ? "stream"
                                           : "command")
                            : "url",
                          "%s", err->msg);
    }
    size_t nkeys = 0;
    while (s->keys && s->keys[nkeys])
        nkeys++;
    const char *bad = NULL;
    if (nkeys > MAX_KEYS && as_err_set(err, "at most %d keys", MAX_KEYS))
        bad = "keys";
    else if (!!s->stream != !!s->group && as_err_set(err, "'stream' and 'group' go together"))
        bad = s->stream ? "stream" : "group";
    else if (!s->key && !s->keys && as_node_find(map, "key_type") >= 0 &&
             as_err_set(err, "'key_type' applies to 'key' and 'keys'"))
        bad = "key_type";
    else if (!s->stream && as_node_find(map, "stream_value") >= 0 &&
             as_err_set(err, "'stream_value' applies to 'stream'"))
        bad = "stream_value";
    else if (s->command && as_redis_command_denied(s->command[0]) &&
             as_err_set(err,
                        "'command' may not be %s: it changes the connection or blocks (the "
                        "source sends AUTH and SELECT itself)",
                        s->command[0]))
        bad = "command";
    return bad ? as_err_key(err, map, bad, "%s", err->msg) : 0;
}

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct redis_src *s = state;
    if (check_url(s, map, err) < 0)
        return -1;
    return check_what(s, map, err);
}

/* ---- results ---- */

static void drop(struct redis_src *s)
{
    redisAsyncContext *ac = s->ac;
    if (ac == NULL)
        return;
    s->ac = NULL;
    ac->data = NULL;
    redisAsyncFree(ac); /* inside one of hiredis' callbacks, hiredis frees it on return */
}

/* Forgets the connection hiredis is closing itself (its callbacks must not free it). */
static void detach(struct redis_src *s, redisAsyncContext *ac)
{
    ac->data = NULL;
    if (s->ac == ac)
        s->ac = NULL;
}

static void finish(struct redis_src *s, struct as_measurement *m)
{
    as_loop_cancel_timer(s->ctx.loop, s->timer);
    s->timer = NULL;
    s->busy = s->waiting = s->typing = 0;
    if (m->ok) {
        as_log_recovered(&s->flog, "source/redis[%s/%s]: measured again", s->ctx.group,
                         s->ctx.name);
    } else {
        drop(s);
        as_log_fault(&s->flog, AS_ERROR, "source/redis[%s/%s]: %s", s->ctx.group, s->ctx.name,
                     m->error);
    }
    if (!s->in_measure) {
        s->done(m, s->arg);
        return;
    }
    if (as_defer_measurement(s->ctx.loop, &s->deferred, s->done, m, s->arg) < 0)
        AS_LOG(AS_ERROR, "source/redis[%s/%s]: out of memory", s->ctx.group, s->ctx.name);
}

static void fail(struct redis_src *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct redis_src *s, const char *fmt, ...)
{
    struct as_measurement m = {.ok = 0, .replicas = -1};
    int n = snprintf(m.error, sizeof(m.error), "%s: ", s->where);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(m.error))
        vsnprintf(m.error + n, sizeof(m.error) - (size_t)n, fmt, ap);
    va_end(ap);
    finish(s, &m);
}

static void succeed(struct redis_src *s, double value)
{
    struct as_measurement m = {.ok = 1, .value = value, .replicas = -1};
    finish(s, &m);
}

/* ---- commands ---- */

static void on_reply(redisAsyncContext *ac, void *reply, void *priv);
static void on_connect(const redisAsyncContext *ac, int status);
static void on_disconnect(const redisAsyncContext *ac, int status);

/* Queues one command; tag and i come back to on_reply. Returns 0, or -1 after failing the
 * measurement. */
static int send_argv(struct redis_src *s, enum tag tag, size_t i, int argc, const char **argv)
{
    void *priv = (void *)(((uintptr_t)i << 4) | (uintptr_t)tag);
    if (redisAsyncCommandArgv(s->ac, on_reply, priv, argc, argv, NULL) != REDIS_OK) {
        fail(s, "cannot send %s: %s", argv[0], as_redis_error(s->ac));
        return -1;
    }
    s->left++;
    return 0;
}

/* The commands of one measurement, for the current phase. */
static int send_measurement(struct redis_src *s)
{
    if (s->command) {
        int argc = 0;
        while (s->command[argc])
            argc++;
        return send_argv(s, T_CMD, 0, argc, (const char **)s->command);
    }
    if (s->stream) {
        const char *argv[] = {"XINFO", "GROUPS", s->stream};
        return send_argv(s, T_XINFO, 0, 3, argv);
    }
    /* key_type auto: TYPE of each key first (typing), then the length of those that exist */
    for (size_t i = 0; i < s->nnames; i++) {
        enum as_redis_kind k = s->typing ? AS_REDIS_AUTO : s->kinds[i];
        const char *argv[] = {k == AS_REDIS_AUTO ? "TYPE" : as_redis_kind_command(k), s->names[i]};
        if (k != AS_REDIS_NONE && send_argv(s, s->typing ? T_TYPE : T_LEN, i, 2, argv) < 0)
            return -1;
    }
    return 0;
}

/* Connects to addr (numeric), sends AUTH, SELECT and the measurement. */
static void connect_to(struct redis_src *s, const char *addr)
{
    redisAsyncContext *ac = redisAsyncConnect(addr, s->u.port);
    const char *why = ac == NULL ? "out of memory" : ac->err ? ac->errstr : NULL;
    if (why == NULL && as_redis_attach(s->ctx.loop, ac) < 0)
        why = "out of memory";
    if (why != NULL) {
        fail(s, "cannot connect: %s", why);
        if (ac)
            redisAsyncFree(ac);
        return;
    }
    ac->data = s;
    s->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    redisEnableKeepAlive(&ac->c);
    char db[16];
    snprintf(db, sizeof(db), "%d", s->u.db);
    const char *auth[] = {"AUTH", s->u.username ? s->u.username : s->u.password, s->u.password};
    const char *select[] = {"SELECT", db};
    if (s->u.password && send_argv(s, T_AUTH, 0, s->u.username ? 3 : 2, auth) < 0)
        return;
    if (s->u.db != 0 && send_argv(s, T_SELECT, 0, 2, select) < 0)
        return;
    send_measurement(s);
}

static void on_resolved(const char *addr, const char *error, void *arg)
{
    struct redis_src *s = arg;
    s->res = NULL;
    if (!s->waiting)
        return; /* the measurement it was for timed out or was cancelled */
    s->waiting = 0;
    if (addr == NULL)
        return fail(s, "cannot resolve %s: %s", s->u.host, error);
    connect_to(s, addr);
}

/* ---- replies ---- */

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct redis_src *s = ac->data;
    if (s == NULL || status == REDIS_OK)
        return;
    detach(s, ac); /* hiredis frees it when this returns */
    if (s->busy)
        fail(s, "cannot connect: %s", as_redis_error(ac));
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    (void)status;
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct redis_src *s = ac->data;
    if (s == NULL)
        return;
    detach(s, ac);
    AS_LOG(AS_DEBUG, "source/redis[%s/%s]: %s: connection closed: %s", s->ctx.group, s->ctx.name,
           s->where, as_redis_error(ac));
    if (s->busy)
        fail(s, "connection lost: %s", as_redis_error(ac));
}

/* The key of reply i, printable, for messages. */
static const char *key_text(const struct redis_src *s, size_t i, char *buf, size_t len)
{
    return as_printable(s->names[i], strlen(s->names[i]), buf, len);
}

/* The value of a stream group's reply. Returns 0 with *value, or -1 after failing. */
static int stream_value(struct redis_src *s, const redisReply *r, double *value)
{
    struct as_redis_group_info g;
    char why[200];
    if (as_redis_xinfo_group(r, s->group, &g, why, sizeof(why)) < 0)
        return fail(s, "XINFO GROUPS %s: %s", s->stream, why), -1;
    if (s->stream_value == SV_PENDING) {
        *value = (double)g.pending;
        return 0;
    }
    if (!g.has_lag)
        return fail(s, "XINFO GROUPS %s: no lag before Redis 7.0: use stream_value: pending",
                    s->stream),
               -1;
    if (g.lag < 0)
        return fail(s,
                    "XINFO GROUPS %s: Redis cannot tell the lag of group %s (entries it has not "
                    "read were deleted, or it started at an arbitrary ID)",
                    s->stream, s->group),
               -1;
    *value = (double)g.lag + (s->stream_value == SV_BACKLOG ? (double)g.pending : 0);
    return 0;
}

/* One reply of the measurement. Returns 0, or -1 after failing it. */
static int take(struct redis_src *s, enum tag tag, size_t i, const redisReply *r)
{
    char why[200], key[65];
    long long n;
    double v;
    switch (tag) {
    case T_AUTH:
        if (as_redis_reply_ok(r, why, sizeof(why)) < 0)
            return fail(s, "AUTH failed: %s", why), -1;
        return 0;
    case T_SELECT:
        if (as_redis_reply_ok(r, why, sizeof(why)) < 0)
            return fail(s, "SELECT %d failed: %s", s->u.db, why), -1;
        return 0;
    case T_TYPE:
        if (as_redis_reply_type(r, &s->kinds[i], why, sizeof(why)) < 0)
            return fail(s, "key %s %s", key_text(s, i, key, sizeof(key)), why), -1;
        return 0;
    case T_LEN:
        if (as_redis_reply_count(r, &n, why, sizeof(why)) < 0)
            return fail(s, "%s %s: %s", as_redis_kind_command(s->kinds[i]),
                        key_text(s, i, key, sizeof(key)), why),
                   -1;
        s->sum += (double)n;
        return 0;
    case T_XINFO:
        if (stream_value(s, r, &v) < 0)
            return -1;
        s->sum = v;
        return 0;
    case T_CMD:
        if (as_redis_reply_count(r, &n, why, sizeof(why)) < 0)
            return fail(s, "%s: %s", s->command[0], why), -1;
        s->sum = (double)n;
        return 0;
    }
    return 0;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct redis_src *s = ac->data;
    if (s == NULL || !s->busy)
        return; /* a connection being dropped */
    if (reply == NULL) {
        detach(s, ac); /* hiredis is closing it */
        return fail(s, "connection lost: %s", as_redis_error(ac));
    }
    if (take(s, (enum tag)((uintptr_t)priv & 15), (size_t)((uintptr_t)priv >> 4), reply) < 0)
        return;
    if (--s->left > 0)
        return;
    if (!s->typing)
        return succeed(s, s->sum);
    s->typing = 0; /* the TYPE replies are in: count what exists */
    if (send_measurement(s) == 0 && s->left == 0)
        succeed(s, 0);
}

/* ---- the ops ---- */

static int64_t on_timeout(struct as_loop *loop, void *arg)
{
    struct redis_src *s = arg;
    s->timer = NULL;
    fail(s, "timeout after %lld ms%s", (long long)(as_loop_now(loop) - s->started),
         s->waiting ? " (resolving the host name)" : "");
    return AS_TIMER_STOP;
}

static void measure(void *state, as_measure_cb done, void *arg)
{
    struct redis_src *s = state;
    s->done = done;
    s->arg = arg;
    s->busy = 1;
    s->in_measure = 1;
    s->sum = 0;
    s->left = 0;
    s->typing = s->nnames > 0 && s->key_type == AS_REDIS_AUTO;
    s->started = as_loop_now(s->ctx.loop);
    s->timer = as_loop_add_timer(s->ctx.loop, s->ctx.timeout_ms, on_timeout, s);
    if (s->timer == NULL)
        fail(s, "out of memory");
    else if (s->ac)
        send_measurement(s);
    else if (as_resolve_is_numeric(s->u.host))
        connect_to(s, s->u.host);
    else if (s->res != NULL) /* an earlier round's resolution is still running */
        s->waiting = 1;
    else if ((s->res = as_resolve_start(s->ctx.loop, s->u.host, on_resolved, s)) != NULL)
        s->waiting = 1;
    else
        fail(s, "cannot resolve %s: no thread for it", s->u.host);
    s->in_measure = 0;
}

static void cancel(void *state)
{
    struct redis_src *s = state;
    if (s->busy) {
        as_loop_cancel_timer(s->ctx.loop, s->timer);
        s->timer = NULL;
        s->busy = s->waiting = s->typing = 0;
        drop(s); /* its replies, if they come, are for no one */
    }
    as_defer_cancel(s->ctx.loop, &s->deferred);
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct redis_src *s = state;
    s->ctx = *ctx;
    if (as_redis_url_parse(s->url, &s->u, err) < 0)
        return -1;
    if ((s->username && !(s->u.username = strdup(s->username))) ||
        (s->password && !(s->u.password = strdup(s->password))))
        return as_err_set(err, "out of memory");
    if (s->u.password)
        as_log_secret(s->u.password, strlen(s->u.password));
    int ipv6 = strchr(s->u.host, ':') != NULL;
    snprintf(s->where, sizeof(s->where), "%s%s%s:%d", ipv6 ? "[" : "", s->u.host, ipv6 ? "]" : "",
             s->u.port);
    s->nnames = s->key ? 1 : 0;
    while (s->keys && s->keys[s->nnames])
        s->nnames++;
    if (s->nnames == 0)
        return 0;
    s->names = calloc(s->nnames, sizeof(*s->names));
    s->kinds = calloc(s->nnames, sizeof(*s->kinds));
    if (s->names == NULL || s->kinds == NULL)
        return as_err_set(err, "out of memory");
    for (size_t i = 0; i < s->nnames; i++) {
        s->names[i] = s->key ? s->key : s->keys[i];
        s->kinds[i] = (enum as_redis_kind)s->key_type;
    }
    return 0;
}

static void stop(void *state)
{
    struct redis_src *s = state;
    cancel(s);
    drop(s);
    as_resolve_cancel(s->res);
    s->res = NULL;
    as_redis_url_free(&s->u);
    free(s->names);
    free(s->kinds);
    s->names = NULL;
    s->kinds = NULL;
}

const struct as_source_ops as_source_redis = {
    .name = "redis",
    .opts = opts,
    .state_size = sizeof(struct redis_src),
    .summary = "The length of a Redis list (a Celery queue) or the sum over several keys, a "
               "stream consumer group's backlog, or any command's integer reply.",
    .validate = validate,
    .start = start,
    .measure = measure,
    .cancel = cancel,
    .stop = stop,
};
