/* Source `postgresql`: the one number a query returns (one row, one column), e.g. the pending
 * jobs of a queue table.
 *
 * libpq's asynchronous API on our loop: PQconnectStartParams / PQconnectPoll with the socket
 * watched for what PQconnectPoll asks, then PQsendQueryParams / PQflush / PQconsumeInput /
 * PQisBusy / PQgetResult on a non-blocking connection. Nothing blocks the loop:
 *   - host names: libpq resolves them synchronously, so validate() accepts IP addresses,
 *     Unix-socket directories and localhost only, unless hostaddr gives the address;
 *   - the connection is kept between measurements; one found dead when a measurement starts
 *     (a restarted server, an idle-session timeout) is replaced at once, one that fails during
 *     a measurement is dropped and the next measurement connects again;
 *   - the measurement's deadline is the metric's timeout (the connection phase also the
 *     shorter `connect_timeout`); PQcancel blocks, so at the deadline the connection is
 *     dropped instead, and each session runs with statement_timeout = the timeout so that the
 *     server ends the abandoned statement on its own.
 * The query is sent with the extended protocol: one statement only. The connection string is
 * never logged (and the log masks it anyway: it comes by reference). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/plugin.h"
#include "sources/postgresql.h"
#include "util/log.h"
#include "util/loop.h"

/* Type oids of the numeric types (pg_type.dat); the server headers are not installed. */
#define PG_INT8OID 20
#define PG_INT2OID 21
#define PG_INT4OID 23
#define PG_FLOAT4OID 700
#define PG_FLOAT8OID 701
#define PG_NUMERICOID 1700

enum phase { PG_IDLE, PG_CONNECTING, PG_SETUP, PG_QUERY };

struct pg_src {
    char *dsn, *query;
    int64_t connect_timeout_ms;
    /* from validate */
    int64_t dsn_connect_timeout_ms;
    /* runtime */
    struct as_ctx ctx;
    PGconn *conn;
    int fd;    /* the socket watched, -1 none */
    int phase; /* enum phase */
    int ready; /* conn is connected and set up */
    int flushing;
    int64_t started_ms;
    struct as_timer *timer, *deferred;
    PGresult *result; /* the first result of the statement in flight */
    as_measure_cb done;
    void *arg;
    struct as_fault_log fault;
};

static const struct as_opt opts[] = {
    {"dsn", AS_OPT_STR, offsetof(struct pg_src, dsn), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY | AS_OPT_SECRET, NULL,
     "libpq connection string (host=... dbname=...) or postgresql:// URI; hosts must be IP "
     "addresses, socket directories or localhost unless hostaddr is given."},
    {"query", AS_OPT_STR, offsetof(struct pg_src, query), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "One SQL statement returning one row with one numeric column, e.g. SELECT count(*) FROM "
     "jobs WHERE state = 'pending'."},
    {"connect_timeout", AS_OPT_DURATION, offsetof(struct pg_src, connect_timeout_ms), NULL, 10,
     3600000, 0, NULL,
     "Longest a new connection may take (within the metric's timeout). Default: the connection "
     "string's connect_timeout, else the metric's timeout."},
    AS_OPT_END,
};

/* ---- checks without a server (postgresql.h) ---- */

const char *as_pg_one_line(const char *msg, char *buf, size_t len)
{
    size_t n = 0;
    int space = 0;
    if (len == 0)
        return buf;
    for (const char *p = msg ? msg : ""; *p && n + 1 < len; p++) {
        if (isspace((unsigned char)*p)) {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < len)
            buf[n++] = ' ';
        space = 0;
        buf[n++] = iscntrl((unsigned char)*p) ? '.' : *p;
    }
    buf[n] = '\0';
    return buf;
}

/* libpq's parse errors may quote a piece of the string ("missing = after ..."), which may be a
 * password: every quoted part becomes "...". */
static void scrub_quotes(const char *msg, char *buf, size_t len)
{
    char line[256];
    as_pg_one_line(msg, line, sizeof(line));
    size_t n = 0;
    int quoted = 0;
    for (const char *p = line; *p && n + 5 < len; p++) {
        if (*p == '"') {
            if (!quoted)
                n += (size_t)snprintf(buf + n, len - n, "\"...\"");
            quoted = !quoted;
        } else if (!quoted) {
            buf[n++] = *p;
        }
    }
    buf[n] = '\0';
}

static const char *conninfo_value(const PQconninfoOption *o, const char *key)
{
    for (; o->keyword; o++)
        if (strcmp(o->keyword, key) == 0)
            return o->val && o->val[0] ? o->val : NULL;
    return NULL;
}

static int numeric_or_socket(const char *host, size_t n)
{
    char buf[256];
    unsigned char addr[16];
    if (n == 0 || host[0] == '/' || host[0] == '@')
        return 1; /* the default socket, a socket directory, an abstract socket */
    if (n >= sizeof(buf))
        return 0;
    memcpy(buf, host, n);
    buf[n] = '\0';
    return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1 ||
           strcmp(buf, "localhost") == 0;
}

static int check_hosts(const char *hosts, char *why, size_t whylen)
{
    for (const char *p = hosts; p != NULL;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (!numeric_or_socket(p, n)) {
            snprintf(why, whylen,
                     "host '%.*s' is a name: libpq would resolve it synchronously and stall "
                     "every group; give its address as hostaddr (host then only names it for "
                     "TLS and .pgpass), or write the address as the host",
                     (int)(n > 64 ? 64 : n), p);
            return -1;
        }
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

static int parse_connect_timeout(const char *v, int64_t *ms, char *why, size_t whylen)
{
    char *end;
    long sec = v ? strtol(v, &end, 10) : 0;
    if (v != NULL && (*end != '\0' || end == v || sec > 3600)) {
        snprintf(why, whylen,
                 "the connection string's connect_timeout is not a number of "
                 "seconds up to 3600");
        return -1;
    }
    *ms = sec <= 0 ? 0 : sec == 1 ? 2000 : (int64_t)sec * 1000; /* libpq's minimum is 2 s */
    return 0;
}

int as_pg_check_dsn(const char *dsn, const char *env_host, const char *env_hostaddr,
                    int64_t *connect_timeout_ms, char *why, size_t whylen)
{
    char *errmsg = NULL;
    PQconninfoOption *o = PQconninfoParse(dsn, &errmsg);
    if (o == NULL) {
        char msg[200];
        scrub_quotes(errmsg ? errmsg : "out of memory", msg, sizeof(msg));
        snprintf(why, whylen, "'dsn' is not a valid connection string: %s", msg);
        PQfreemem(errmsg);
        return -1;
    }
    const char *host = conninfo_value(o, "host");
    const char *hostaddr = conninfo_value(o, "hostaddr");
    if (host == NULL && env_host != NULL && env_host[0] != '\0')
        host = env_host;
    if (hostaddr == NULL && env_hostaddr != NULL && env_hostaddr[0] != '\0')
        hostaddr = env_hostaddr;
    int rc = 0;
    if (hostaddr == NULL && host != NULL)
        rc = check_hosts(host, why, whylen);
    if (rc == 0)
        rc = parse_connect_timeout(conninfo_value(o, "connect_timeout"), connect_timeout_ms, why,
                                   whylen);
    PQconninfoFree(o);
    return rc;
}

static int numeric_type(Oid t)
{
    return t == PG_INT2OID || t == PG_INT4OID || t == PG_INT8OID || t == PG_FLOAT4OID ||
           t == PG_FLOAT8OID || t == PG_NUMERICOID;
}

static int result_error(PGresult *r, char *why, size_t whylen)
{
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    char line[200];
    if (msg == NULL)
        snprintf(why, whylen, "%s", as_pg_one_line(PQresultErrorMessage(r), line, sizeof(line)));
    else
        snprintf(why, whylen, "%s: %s%s%s%s", sev ? sev : "ERROR",
                 as_pg_one_line(msg, line, sizeof(line)), state ? " (SQLSTATE " : "",
                 state ? state : "", state ? ")" : "");
    return -1;
}

int as_pg_result_value(PGresult *r, double *out, char *why, size_t whylen)
{
    char shown[41];
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR)
        return result_error(r, why, whylen);
    if (st == PGRES_COMMAND_OK || st == PGRES_EMPTY_QUERY) {
        snprintf(why, whylen, "the query returned no rows: it is a command (%s), not a query",
                 st == PGRES_EMPTY_QUERY ? "empty" : PQcmdStatus(r));
        return -1;
    }
    if (st != PGRES_TUPLES_OK) {
        snprintf(why, whylen, "unexpected result: %s", PQresStatus(st));
        return -1;
    }
    int rows = PQntuples(r), cols = PQnfields(r);
    if (cols != 1) {
        snprintf(why, whylen, "the query returned %d columns, not one", cols);
        return -1;
    }
    if (rows != 1) {
        snprintf(why, whylen,
                 rows == 0 ? "the query returned no row" : "the query returned %d rows, not one",
                 rows);
        return -1;
    }
    const char *name = PQfname(r, 0);
    if (PQgetisnull(r, 0, 0)) {
        snprintf(why, whylen, "column \"%s\" is NULL", name);
        return -1;
    }
    if (!numeric_type(PQftype(r, 0))) {
        snprintf(why, whylen,
                 "column \"%s\" is not a number (type oid %u); cast it, e.g. "
                 "::bigint",
                 name, (unsigned)PQftype(r, 0));
        return -1;
    }
    const char *text = PQgetvalue(r, 0, 0);
    double v;
    if (as_parse_double(text, &v) < 0) {
        snprintf(why, whylen, "column \"%s\" is %s, not a finite number", name,
                 as_printable(text, strlen(text), shown, sizeof(shown)));
        return -1;
    }
    if (v < 0) {
        snprintf(why, whylen, "column \"%s\" is negative (%s)", name,
                 as_printable(text, strlen(text), shown, sizeof(shown)));
        return -1;
    }
    *out = v == 0 ? 0 : v;
    return 0;
}

/* ---- the connection ---- */

static void on_io(struct as_loop *loop, int fd, int events, void *arg);

static void unwatch(struct pg_src *s)
{
    if (s->fd >= 0)
        as_loop_watch_fd(s->ctx.loop, s->fd, 0, NULL, NULL);
    s->fd = -1;
}

/* Watches the connection's current socket (libpq may have replaced it). */
static int watch(struct pg_src *s, int events)
{
    int fd = PQsocket(s->conn);
    if (fd < 0)
        return -1;
    if (s->fd != fd)
        unwatch(s);
    if (as_loop_watch_fd(s->ctx.loop, fd, events, on_io, s) < 0)
        return -1;
    s->fd = fd;
    return 0;
}

/* Closes the connection (PQfinish does not block on a non-blocking connection). */
static void drop(struct pg_src *s)
{
    unwatch(s);
    PQclear(s->result);
    s->result = NULL;
    PQfinish(s->conn);
    s->conn = NULL;
    s->ready = 0;
    s->flushing = 0;
}

static void log_result(struct pg_src *s, const struct as_measurement *m)
{
    if (m->ok)
        as_log_recovered(&s->fault, "source/postgresql[%s/%s]: measuring again", s->ctx.group,
                         s->ctx.name);
    else
        as_log_fault(&s->fault, AS_ERROR, "source/postgresql[%s/%s]: %s", s->ctx.group, s->ctx.name,
                     m->error);
}

/* Ends the measurement from the loop (an I/O event or the timer). */
static void finish(struct pg_src *s, const struct as_measurement *m)
{
    as_loop_cancel_timer(s->ctx.loop, s->timer);
    s->timer = NULL;
    s->phase = PG_IDLE;
    if (s->conn != NULL)
        unwatch(s); /* an idle connection is not watched: it is checked when next used */
    log_result(s, m);
    as_measure_cb done = s->done;
    s->done = NULL;
    done(m, s->arg);
}

/* "what: libpq's message" into buf. */
static void describe(const struct pg_src *s, const char *what, char *buf, size_t len)
{
    char line[200];
    if (s->conn != NULL)
        snprintf(buf, len, "%s: %s", what,
                 as_pg_one_line(PQerrorMessage(s->conn), line, sizeof(line)));
    else
        snprintf(buf, len, "%s", what);
}

/* Drops the connection and fails the measurement with what (and libpq's message, if any). */
static void fail(struct pg_src *s, const char *what, int with_libpq)
{
    struct as_measurement m = {.replicas = -1};
    if (with_libpq)
        describe(s, what, m.error, sizeof(m.error));
    else
        snprintf(m.error, sizeof(m.error), "%s", what);
    drop(s);
    finish(s, &m);
}

static void on_notice(void *arg, const PGresult *r)
{
    struct pg_src *s = arg;
    char line[200];
    AS_LOG(AS_DEBUG, "source/postgresql[%s/%s]: server notice: %s", s->ctx.group, s->ctx.name,
           as_pg_one_line(PQresultErrorMessage(r), line, sizeof(line)));
}

static int64_t on_timer(struct as_loop *loop, void *arg);

static int arm_timer(struct pg_src *s, int64_t at_ms)
{
    as_loop_cancel_timer(s->ctx.loop, s->timer);
    int64_t delay = at_ms - as_loop_now(s->ctx.loop);
    s->timer = as_loop_add_timer(s->ctx.loop, delay > 0 ? delay : 0, on_timer, s);
    return s->timer != NULL ? 0 : -1;
}

static int64_t connect_limit(const struct pg_src *s)
{
    int64_t limit = s->ctx.timeout_ms;
    int64_t c = s->connect_timeout_ms ? s->connect_timeout_ms : s->dsn_connect_timeout_ms;
    return c > 0 && c < limit ? c : limit;
}

/* Sends sql and watches for its answer (and for room to send the rest). Returns 0, or -1 with
 * libpq's message in the connection. */
static int send_sql(struct pg_src *s, const char *sql, int extended)
{
    int ok = extended ? PQsendQueryParams(s->conn, sql, 0, NULL, NULL, NULL, NULL, 0)
                      : PQsendQuery(s->conn, sql);
    if (!ok)
        return -1;
    int rc = PQflush(s->conn);
    s->flushing = rc == 1;
    return rc < 0 || watch(s, s->flushing ? AS_READ | AS_WRITE : AS_READ) < 0 ? -1 : 0;
}

static void connected(struct pg_src *s)
{
    char sql[64];
    if (PQsetnonblocking(s->conn, 1) != 0)
        return fail(s, "cannot make the connection non-blocking", 1);
    if (arm_timer(s, s->started_ms + s->ctx.timeout_ms) < 0)
        return fail(s, "out of memory", 0);
    /* the server ends a statement we gave up on by itself */
    snprintf(sql, sizeof(sql), "SET statement_timeout = %lld", (long long)s->ctx.timeout_ms);
    s->phase = PG_SETUP;
    if (send_sql(s, sql, 0) < 0)
        fail(s, "cannot send the query", 1);
}

static void connect_step(struct pg_src *s)
{
    unwatch(s); /* PQconnectPoll may close the socket and open another */
    switch (PQconnectPoll(s->conn)) {
    case PGRES_POLLING_READING:
        if (watch(s, AS_READ) < 0)
            fail(s, "cannot watch the connection", 0);
        return;
    case PGRES_POLLING_WRITING:
        if (watch(s, AS_WRITE) < 0)
            fail(s, "cannot watch the connection", 0);
        return;
    case PGRES_POLLING_OK:
        return connected(s);
    default:
        return fail(s, "cannot connect", 1);
    }
}

/* ---- one statement ---- */

static void statement_done(struct pg_src *s)
{
    PGresult *r = s->result;
    s->result = NULL;
    if (s->phase == PG_SETUP) {
        int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok)
            return fail(s, "cannot set statement_timeout", 1);
        s->ready = 1;
        s->phase = PG_QUERY;
        if (send_sql(s, s->query, 1) < 0)
            fail(s, "cannot send the query", 1);
        return;
    }
    struct as_measurement m = {.replicas = -1};
    if (r == NULL)
        snprintf(m.error, sizeof(m.error), "the query returned nothing");
    else if (as_pg_result_value(r, &m.value, m.error, sizeof(m.error)) == 0)
        m.ok = 1;
    PQclear(r);
    if (PQstatus(s->conn) != CONNECTION_OK)
        drop(s);
    finish(s, &m);
}

static void statement_io(struct pg_src *s, int events)
{
    if ((events & AS_READ) && !PQconsumeInput(s->conn))
        return fail(s, "connection lost", 1);
    if (s->flushing) {
        int rc = PQflush(s->conn);
        if (rc < 0)
            return fail(s, "cannot send the query", 1);
        s->flushing = rc == 1;
        if (!s->flushing && watch(s, AS_READ) < 0)
            return fail(s, "cannot watch the connection", 0);
    }
    while (!PQisBusy(s->conn)) {
        PGresult *r = PQgetResult(s->conn);
        if (r == NULL)
            return statement_done(s);
        if (s->result == NULL)
            s->result = r; /* the first result says it all; the rest are drained */
        else
            PQclear(r);
    }
}

static void on_io(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    struct pg_src *s = arg;
    if (s->phase == PG_CONNECTING)
        connect_step(s);
    else if (s->phase == PG_SETUP || s->phase == PG_QUERY)
        statement_io(s, events);
    else
        unwatch(s);
}

static int64_t on_timer(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct pg_src *s = arg;
    char msg[160];
    long long ms = (long long)(as_loop_now(s->ctx.loop) - s->started_ms);
    s->timer = NULL;
    if (s->phase == PG_CONNECTING)
        snprintf(msg, sizeof(msg), "timeout after %lld ms connecting", ms);
    else
        snprintf(msg, sizeof(msg),
                 "timeout after %lld ms waiting for the answer: connection dropped", ms);
    fail(s, msg, 0);
    return AS_TIMER_STOP;
}

/* ---- the source ---- */

static int start_connect(struct pg_src *s, struct as_measurement *m)
{
    /* Ours first: the connection string overrides them. GSSAPI may ask a KDC, synchronously. */
    static const char *const keys[] = {"gssencmode", "fallback_application_name", "dbname", NULL};
    const char *values[] = {"disable", "autoscaler", s->dsn, NULL};
    char line[200];
    s->conn = PQconnectStartParams(keys, values, 1);
    if (s->conn == NULL) {
        snprintf(m->error, sizeof(m->error), "out of memory");
        return -1;
    }
    if (PQstatus(s->conn) == CONNECTION_BAD) {
        snprintf(m->error, sizeof(m->error), "cannot connect: %s",
                 as_pg_one_line(PQerrorMessage(s->conn), line, sizeof(line)));
        drop(s);
        return -1;
    }
    PQsetNoticeReceiver(s->conn, on_notice, s);
    s->phase = PG_CONNECTING;
    if (watch(s, AS_WRITE) < 0 || arm_timer(s, s->started_ms + connect_limit(s)) < 0) {
        snprintf(m->error, sizeof(m->error), "cannot watch the connection");
        drop(s);
        return -1;
    }
    return 0;
}

/* Whether the kept connection survived the pause: reads what arrived meanwhile (EOF from a
 * restarted server, an idle-session timeout's error) without blocking. */
static int still_alive(struct pg_src *s)
{
    return PQconsumeInput(s->conn) && PQstatus(s->conn) == CONNECTION_OK && !PQisBusy(s->conn);
}

static void measure(void *state, as_measure_cb done, void *arg)
{
    struct pg_src *s = state;
    struct as_measurement m = {.replicas = -1};
    s->done = done;
    s->arg = arg;
    s->started_ms = as_loop_now(s->ctx.loop);
    if (s->conn != NULL && !(s->ready && still_alive(s))) {
        AS_LOG(AS_DEBUG, "source/postgresql[%s/%s]: the connection was lost: connecting again",
               s->ctx.group, s->ctx.name);
        drop(s);
    }
    if (s->conn == NULL) {
        if (start_connect(s, &m) == 0)
            return;
    } else if (arm_timer(s, s->started_ms + s->ctx.timeout_ms) < 0) {
        snprintf(m.error, sizeof(m.error), "out of memory");
    } else {
        s->phase = PG_QUERY;
        if (send_sql(s, s->query, 1) == 0)
            return;
        describe(s, "cannot send the query", m.error, sizeof(m.error));
        as_loop_cancel_timer(s->ctx.loop, s->timer);
        s->timer = NULL;
        drop(s);
    }
    s->phase = PG_IDLE;
    log_result(s, &m);
    if (as_defer_measurement(s->ctx.loop, &s->deferred, done, &m, arg) < 0)
        AS_LOG(AS_ERROR, "source/postgresql[%s/%s]: out of memory", s->ctx.group, s->ctx.name);
}

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct pg_src *s = state;
    char why[AS_ERR_MAX];
    if (as_pg_check_dsn(s->dsn, getenv("PGHOST"), getenv("PGHOSTADDR"), &s->dsn_connect_timeout_ms,
                        why, sizeof(why)) == 0)
        return 0;
    return as_err_key(err, map, "dsn", "%s", why);
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    (void)err;
    struct pg_src *s = state;
    s->ctx = *ctx;
    s->fd = -1;
    return 0;
}

static void cancel(void *state)
{
    struct pg_src *s = state;
    as_defer_cancel(s->ctx.loop, &s->deferred);
    as_loop_cancel_timer(s->ctx.loop, s->timer);
    s->timer = NULL;
    if (s->phase != PG_IDLE) /* a connection in an unknown state: not reused */
        drop(s);
    s->phase = PG_IDLE;
    s->done = NULL;
}

static void stop(void *state)
{
    struct pg_src *s = state;
    if (s->ctx.loop == NULL)
        return;
    cancel(s);
    drop(s);
}

const struct as_source_ops as_source_postgresql = {
    .name = "postgresql",
    .opts = opts,
    .state_size = sizeof(struct pg_src),
    .summary = "The one number a PostgreSQL query returns (libpq's asynchronous API on the "
               "loop), e.g. the pending jobs in a table.",
    .validate = validate,
    .start = start,
    .measure = measure,
    .cancel = cancel,
    .stop = stop,
};
