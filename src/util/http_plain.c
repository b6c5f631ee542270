#include "util/http_plain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/http1.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/util.h"

#define ORIGIN_BUCKETS 64
#define RECV_CHUNK 16384

/* libcurl's codes for the same failures (curl/curl.h), so that callers read both alike. */
enum {
    CODE_CONNECT = 7,  /* CURLE_COULDNT_CONNECT */
    CODE_WEIRD = 8,    /* CURLE_WEIRD_SERVER_REPLY */
    CODE_PARTIAL = 18, /* CURLE_PARTIAL_FILE */
    CODE_WRITE = 23,   /* CURLE_WRITE_ERROR: the body over its limit */
    CODE_MEMORY = 27,  /* CURLE_OUT_OF_MEMORY */
    CODE_NOTHING = 52, /* CURLE_GOT_NOTHING */
    CODE_SEND = 55,    /* CURLE_SEND_ERROR */
    CODE_RECV = 56,    /* CURLE_RECV_ERROR */
};

struct conn {
    struct conn *prev, *next;         /* in its origin's idle connections, newest first */
    struct conn *lru_prev, *lru_next; /* in all idle connections, newest first */
    struct as_plain_origin *o;
    struct as_plain_xfer *x; /* the transfer on it; NULL while idle */
    struct as_plain *p;
    int fd;
    int used;   /* it carried a whole response */
    int events; /* what the loop watches it for */
    int64_t idle_since;
};

struct as_plain_origin {
    struct as_plain_origin *next; /* hash chain */
    unsigned hash;
    int curl_only; /* an answer this client does not read came: libcurl's for good */
    int literal;   /* the host is an IP address */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int64_t addr_until; /* a learned address is good until then (ms, monotonic) */
    struct conn *idle;  /* newest first */
    char host[64];      /* for messages: the host, the port */
    long port;
    char key[]; /* http://host:port */
};

struct as_plain {
    struct as_loop *loop;
    struct as_plain_origin *origins[ORIGIN_BUCKETS];
    struct conn *lru_first, *lru_last; /* idle connections, newest first */
    size_t open;
    long max_conns;
    uint64_t reused;
    int proxied; /* a proxy is set in the environment: libcurl takes every call */
};

struct as_plain_xfer {
    struct as_plain *p;
    struct as_plain_origin *o;
    struct conn *c;
    const char *req;
    size_t req_len, sent;
    const char *want;
    size_t max_body;
    int discard, truncated, retried, connecting;
    int starting; /* within as_plain_start: a failure waits for the loop */
    int64_t start_us, start_ms;
    struct as_timer *soon; /* reports a failure found while starting */
    int fail_code;
    struct as_sb body;
    as_plain_cb cb;
    void *arg;
    char err[256];
    struct as_http1 parser; /* last: its line buffer is touched only by a line split in two */
};

static void on_conn(struct as_loop *loop, int fd, int events, void *arg);
static void begin(struct as_plain_xfer *x);

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- origins ---- */

static unsigned hash_of(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Host and port of "http://host:port" (the host unbracketed), and its address when the host
 * is an IP literal. -1 when key is not of that form. */
static int parse_key(struct as_plain_origin *o, const char *key)
{
    if (strncmp(key, "http://", 7) != 0)
        return -1;
    const char *h = key + 7, *colon = strrchr(h, ':');
    if (colon == NULL || colon == h)
        return -1;
    size_t hl = (size_t)(colon - h);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    char *end;
    o->port = strtol(colon + 1, &end, 10);
    if (hl == 0 || hl >= sizeof(o->host) || *end != '\0' || o->port < 1 || o->port > 65535)
        return -1;
    memcpy(o->host, h, hl);
    o->host[hl] = '\0';
    struct sockaddr_in *a4 = (struct sockaddr_in *)&o->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&o->addr;
    if (inet_pton(AF_INET, o->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)o->port);
        o->addrlen = sizeof(*a4);
        o->literal = 1;
    } else if (inet_pton(AF_INET6, o->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)o->port);
        o->addrlen = sizeof(*a6);
        o->literal = 1;
    }
    return 0;
}

/* The origin of key, created if new. NULL when key is not http://host:port, or on ENOMEM. */
static struct as_plain_origin *origin_get(struct as_plain *p, const char *key)
{
    unsigned h = hash_of(key);
    struct as_plain_origin **slot = &p->origins[h % ORIGIN_BUCKETS];
    for (struct as_plain_origin *o = *slot; o != NULL; o = o->next)
        if (o->hash == h && strcmp(o->key, key) == 0)
            return o;
    size_t n = strlen(key) + 1;
    struct as_plain_origin *o = calloc(1, sizeof(*o) + n);
    if (o == NULL)
        return NULL;
    memcpy(o->key, key, n);
    if (parse_key(o, key) < 0) {
        free(o);
        return NULL;
    }
    o->hash = h;
    o->next = *slot;
    *slot = o;
    return o;
}

void as_plain_learn(struct as_plain *p, struct as_plain_origin *o, const char *ip, long port)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    if (o->literal || ip == NULL || port < 1 || port > 65535)
        return;
    if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        len = sizeof(*a4);
    } else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        len = sizeof(*a6);
    } else {
        return;
    }
    o->addr = ss;
    o->addrlen = len;
    o->addr_until = as_loop_now(p->loop) + AS_PLAIN_ADDR_TTL_MS;
}

/* ---- the request ---- */

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The length of the name of a "Name: value" header with a value; 0 when h is not one. */
static size_t header_name(const char *h)
{
    size_t n = 0;
    while (is_tchar((unsigned char)h[n]))
        n++;
    if (n == 0 || h[n] != ':')
        return 0;
    int value = 0;
    for (const char *v = h + n + 1; *v; v++) {
        if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
            return 0;
        value |= *v != ' ' && *v != '\t';
    }
    return value ? n : 0;
}

static int named(const char *h, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(h, name, n) == 0;
}

/* Whether the caller's headers are all plain and none is one the client must own. */
static int headers_plain(const char *const *hs, int *host, int *agent, int *accept)
{
    for (size_t i = 0; hs && hs[i]; i++) {
        size_t n = header_name(hs[i]);
        if (n == 0 || named(hs[i], n, "Connection") || named(hs[i], n, "Content-Length") ||
            named(hs[i], n, "Transfer-Encoding") || named(hs[i], n, "Expect") ||
            named(hs[i], n, "Upgrade") || named(hs[i], n, "TE"))
            return 0;
        *host |= named(hs[i], n, "Host");
        *agent |= named(hs[i], n, "User-Agent");
        *accept |= named(hs[i], n, "Accept");
    }
    return 1;
}

/* The authority and the request target of an http:// URL, when both are plain: no user
 * info, printable ASCII, no dot segment (libcurl would rewrite those). */
static int split_url(const char *url, const char **auth, size_t *alen, const char **path,
                     size_t *plen)
{
    if (strncmp(url, "http://", 7) != 0)
        return 0;
    const char *a = url + 7, *p = a + strcspn(a, "/?#");
    for (const char *s = a; s < p; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '@' || *s == '\\')
            return 0;
    size_t n = strcspn(p, "#");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f || p[i] == '\\')
            return 0;
    size_t seg = strcspn(p, "?#"); /* the path, without its query */
    for (size_t i = 0; i < seg; i++) {
        if (p[i] != '/' || p[i + 1] != '.')
            continue;
        size_t d = p[i + 2] == '.' ? 3 : 2; /* "/." or "/.." */
        if (i + d >= seg || p[i + d] == '/')
            return 0;
    }
    *auth = a;
    *alen = (size_t)(p - a);
    *path = p;
    *plen = n;
    return p > a;
}

char *as_plain_request(struct as_plain *p, const struct as_http_req *req, const char *origin,
                       struct as_plain_origin **o, size_t *len)
{
    *o = NULL;
    int host = 0, agent = 0, accept = 0;
    const char *auth, *path;
    size_t alen, plen;
    if (p->proxied || (req->method && strcmp(req->method, "GET") != 0) || req->body ||
        req->configure || (req->protocols && strstr(req->protocols, "http") == NULL) ||
        !split_url(req->url, &auth, &alen, &path, &plen) ||
        !headers_plain(req->headers, &host, &agent, &accept))
        return NULL;
    struct as_plain_origin *og = origin_get(p, origin);
    if (og == NULL || og->curl_only)
        return NULL;
    *o = og;
    if (!og->literal && og->addr_until <= as_loop_now(p->loop))
        return NULL;
    struct as_sb sb = {0};
    int rc = as_sb_puts(&sb, "GET ");
    rc |= plen == 0 || path[0] == '?' ? as_sb_puts(&sb, "/") : 0;
    rc |= as_sb_append(&sb, path, plen);
    rc |= as_sb_puts(&sb, " HTTP/1.1\r\n");
    if (!host) {
        rc |= as_sb_puts(&sb, "Host: ");
        rc |= as_sb_append(&sb, auth, alen);
        rc |= as_sb_puts(&sb, "\r\n");
    }
    rc |= agent ? 0 : as_sb_puts(&sb, "User-Agent: autoscaler/" AS_VERSION "\r\n");
    rc |= accept ? 0 : as_sb_puts(&sb, "Accept: */*\r\n");
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        rc |= as_sb_puts(&sb, req->headers[i]);
        rc |= as_sb_puts(&sb, "\r\n");
    }
    rc |= as_sb_puts(&sb, "\r\n");
    if (rc != 0) {
        as_sb_free(&sb);
        *o = NULL;
        return NULL;
    }
    *len = sb.len;
    return sb.buf;
}

/* ---- connections ---- */

/* Watches c for events unless it already is (a kept connection stays watched for reading:
 * a request on it changes nothing in the loop). Returns 0 or -1. */
static int watch(struct conn *c, int events)
{
    if (c->events == events)
        return 0;
    if (as_loop_watch_fd(c->p->loop, c->fd, events, on_conn, c) < 0)
        return -1;
    c->events = events;
    return 0;
}

static void lru_unlink(struct as_plain *p, struct conn *c)
{
    if (c->lru_prev)
        c->lru_prev->lru_next = c->lru_next;
    else
        p->lru_first = c->lru_next;
    if (c->lru_next)
        c->lru_next->lru_prev = c->lru_prev;
    else
        p->lru_last = c->lru_prev;
    c->lru_prev = c->lru_next = NULL;
}

/* Takes an idle connection out of both lists. */
static void idle_unlink(struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->o->idle = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    lru_unlink(c->p, c);
}

static void conn_close(struct conn *c)
{
    if (c->x == NULL)
        idle_unlink(c);
    as_loop_watch_fd(c->p->loop, c->fd, 0, NULL, NULL);
    close(c->fd);
    c->p->open--;
    free(c);
}

/* Closes idle connections kept too long, oldest first. */
static void sweep(struct as_plain *p)
{
    int64_t now = as_loop_now(p->loop);
    while (p->lru_last != NULL && now - p->lru_last->idle_since > AS_PLAIN_IDLE_MAX_MS)
        conn_close(p->lru_last);
}

static void conn_idle(struct conn *c)
{
    struct as_plain *p = c->p;
    c->x = NULL;
    c->used = 1;
    c->idle_since = as_loop_now(p->loop);
    c->prev = NULL;
    c->next = c->o->idle;
    if (c->next)
        c->next->prev = c;
    c->o->idle = c;
    c->lru_prev = NULL;
    c->lru_next = p->lru_first;
    if (p->lru_first)
        p->lru_first->lru_prev = c;
    else
        p->lru_last = c;
    p->lru_first = c;
    sweep(p);
}

/* o's newest idle connection, taken for x; NULL if there is none. */
static struct conn *conn_take(struct as_plain *p, struct as_plain_origin *o,
                              struct as_plain_xfer *x)
{
    sweep(p);
    struct conn *c = o->idle;
    if (c == NULL)
        return NULL;
    idle_unlink(c);
    c->x = x;
    p->reused++;
    return c;
}

/* ---- a transfer ---- */

/* Closes the connection x was using. */
static void drop(struct as_plain_xfer *x)
{
    struct conn *c = x->c;
    if (c == NULL)
        return;
    x->c = NULL;
    c->x = NULL;
    as_loop_watch_fd(c->p->loop, c->fd, 0, NULL, NULL);
    close(c->fd);
    c->p->open--;
    free(c);
}

static void xfer_free(struct as_plain_xfer *x)
{
    as_loop_cancel_timer(x->p->loop, x->soon);
    as_sb_free(&x->body);
    free(x);
}

static void deliver(struct as_plain_xfer *x, const struct as_plain_result *r)
{
    x->cb(r, x->arg);
    xfer_free(x);
}

static int64_t on_soon(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct as_plain_xfer *x = arg;
    x->soon = NULL;
    struct as_plain_result r = {.body = "",
                                .truncated = x->truncated,
                                .error = x->err,
                                .code = x->fail_code,
                                .total_us = -1};
    deliver(x, &r);
    return AS_TIMER_STOP;
}

/* Ends x with an error (its connection closed), from the loop. */
static void failf(struct as_plain_xfer *x, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void failf(struct as_plain_xfer *x, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, sizeof(x->err), fmt, ap);
    va_end(ap);
    x->fail_code = code;
    drop(x);
    if (x->starting) /* the callback never runs from within as_plain_start; without memory
                        for the timer, the caller's deadline still ends the call */
        x->soon = as_loop_add_timer(x->p->loop, 0, on_soon, x);
    else
        on_soon(x->p->loop, x);
}

/* A reused connection ended before any byte of the answer: the peer closed it while idle.
 * The request goes once more on a new connection. Returns 1 when it does. */
static int retry(struct as_plain_xfer *x)
{
    if (x->retried || !x->c->used || as_http1_started(&x->parser))
        return 0;
    x->retried = 1;
    drop(x);
    x->sent = 0;
    begin(x);
    return 1;
}

static void finish(struct as_plain_xfer *x, int keep)
{
    if (keep) {
        conn_idle(x->c);
        x->c = NULL;
    } else {
        drop(x);
    }
    const struct as_http1 *h = &x->parser;
    struct as_plain_result r = {
        .ok = 1,
        .status = h->status,
        .body = x->body.buf ? x->body.buf : "",
        .len = x->body.len,
        .header = h->want_count == 1 && !h->want_cut ? h->want_value : NULL,
        .header_count = h->want_count,
        .total_us = now_us() - x->start_us,
    };
    deliver(x, &r);
}

static int on_body(const char *data, size_t n, void *arg)
{
    struct as_plain_xfer *x = arg;
    if (x->discard)
        return 0;
    if (x->body.len + n > x->max_body) {
        x->truncated = 1;
        return -1;
    }
    return as_sb_append(&x->body, data, n);
}

/* An answer this client does not read: the origin goes through libcurl from now on. */
static void not_ours(struct as_plain_xfer *x)
{
    struct as_plain_origin *o = x->o;
    if (!o->curl_only)
        AS_LOG(AS_WARN,
               "http: %s answered with %s, which the plain-http client does not read: "
               "its calls go through libcurl from now on",
               o->key, x->parser.error);
    o->curl_only = 1;
    failf(x, CODE_WEIRD, "%s answered with %s; the next call reads it with libcurl", o->key,
          x->parser.error);
}

/* What recv gave: n bytes of buf, 0 for the end of the connection. Returns 1 while the
 * answer goes on, 0 once x ended (x may be gone) or started again. */
static int take(struct as_plain_xfer *x, const char *buf, size_t n)
{
    size_t used = 0;
    enum as_http1_result r =
        n == 0 ? as_http1_eof(&x->parser) : as_http1_feed(&x->parser, buf, n, &used, on_body, x);
    switch (r) {
    case AS_HTTP1_MORE:
        return 1;
    case AS_HTTP1_DONE: /* bytes beyond the answer: the peer is not speaking HTTP/1.1 to us */
        finish(x, n > 0 && x->parser.keep_alive && used == n);
        return 0;
    case AS_HTTP1_UNSUPPORTED:
        not_ours(x);
        return 0;
    default:
        if (x->truncated)
            failf(x, CODE_WRITE, "response body larger than the limit");
        else if (n == 0 && retry(x))
            return 0;
        else if (n == 0)
            failf(x, as_http1_started(&x->parser) ? CODE_PARTIAL : CODE_NOTHING, "%s",
                  x->parser.error);
        else if (strcmp(x->parser.error, "body refused") == 0)
            failf(x, CODE_MEMORY, "out of memory for the response body");
        else
            failf(x, CODE_WEIRD, "malformed response: %s", x->parser.error);
        return 0;
    }
}

static void receive(struct as_plain_xfer *x)
{
    char buf[RECV_CHUNK];
    for (;;) {
        ssize_t n = recv(x->c->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            int e = errno;
            if (!retry(x))
                failf(x, CODE_RECV, "Recv failure: %s", strerror(e));
            return;
        }
        /* a short read took what was there: the loop tells when more comes */
        if (!take(x, buf, (size_t)n) || n < (ssize_t)sizeof(buf))
            return;
    }
}

/* Writes what is left of the request. Returns 1 while x waits on its connection, 0 once x
 * ended (x may be gone) or started again. */
static int send_rest(struct as_plain_xfer *x)
{
    while (x->sent < x->req_len) {
        ssize_t n = send(x->c->fd, x->req + x->sent, x->req_len - x->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (watch(x->c, AS_READ | AS_WRITE) == 0)
                return 1;
            failf(x, CODE_SEND, "cannot watch the connection");
            return 0;
        }
        if (n < 0) {
            int e = errno;
            if (!retry(x))
                failf(x, CODE_SEND, "Failure when sending data to the peer: %s", strerror(e));
            return 0;
        }
        x->sent += (size_t)n;
    }
    if (watch(x->c, AS_READ) == 0)
        return 1;
    failf(x, CODE_RECV, "cannot watch the connection");
    return 0;
}

static void connect_failed(struct as_plain_xfer *x, int e)
{
    struct as_plain_origin *o = x->o;
    if (!o->literal)
        o->addr_until = 0; /* the next call resolves the name again, through libcurl */
    failf(x, CODE_CONNECT, "Failed to connect to %s port %ld after %lld ms: %s", o->host, o->port,
          (long long)(as_mono_ms() - x->start_ms), strerror(e));
}

/* A new connection to x's origin, connecting. */
static void dial(struct as_plain_xfer *x)
{
    struct as_plain *p = x->p;
    struct as_plain_origin *o = x->o;
    if ((long)p->open >= p->max_conns && p->lru_last != NULL)
        conn_close(p->lru_last); /* the oldest idle one makes room */
    if ((long)p->open >= p->max_conns) {
        failf(x, CODE_CONNECT, "Failed to connect to %s port %ld: %zu connections open", o->host,
              o->port, p->open);
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    int fd = c ? socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
    if (fd < 0) {
        int e = c ? errno : ENOMEM;
        free(c);
        connect_failed(x, e);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->o = o;
    c->p = p;
    c->x = x;
    x->c = c;
    p->open++;
    if (connect(fd, (struct sockaddr *)&o->addr, o->addrlen) == 0) {
        send_rest(x);
        return;
    }
    if (errno != EINPROGRESS) {
        connect_failed(x, errno);
        return;
    }
    x->connecting = 1;
    if (watch(c, AS_WRITE) < 0)
        failf(x, CODE_CONNECT, "cannot watch the connection");
}

/* Sends x's request on a kept connection, or on a new one. */
static void begin(struct as_plain_xfer *x)
{
    as_http1_init(&x->parser, x->want);
    as_sb_free(&x->body);
    x->body = (struct as_sb){0};
    x->c = conn_take(x->p, x->o, x);
    if (x->c != NULL)
        send_rest(x);
    else
        dial(x);
}

static void on_conn(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    struct conn *c = arg;
    struct as_plain_xfer *x = c->x;
    if (x == NULL) { /* idle: the peer closed it, or said something unasked */
        conn_close(c);
        return;
    }
    if (x->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err != 0) {
            connect_failed(x, err);
            return;
        }
        x->connecting = 0;
        send_rest(x);
        return;
    }
    if ((events & AS_WRITE) && x->sent < x->req_len && !send_rest(x))
        return;
    if (events & AS_READ)
        receive(x);
}

struct as_plain_xfer *as_plain_start(struct as_plain *p, struct as_plain_origin *o,
                                     const char *request, size_t len, const char *want,
                                     size_t max_body, int discard, as_plain_cb cb, void *arg)
{
    struct as_plain_xfer *x = malloc(sizeof(*x));
    if (x == NULL)
        return NULL;
    memset(x, 0, offsetof(struct as_plain_xfer, parser));
    x->p = p;
    x->o = o;
    x->req = request;
    x->req_len = len;
    x->want = want;
    x->max_body = max_body;
    x->discard = discard;
    x->cb = cb;
    x->arg = arg;
    x->start_us = now_us();
    x->start_ms = as_mono_ms();
    x->starting = 1;
    begin(x);
    x->starting = 0;
    return x;
}

void as_plain_abort(struct as_plain_xfer *x)
{
    if (x == NULL)
        return;
    drop(x);
    xfer_free(x);
}

struct as_plain *as_plain_new(struct as_loop *loop, long max_conns)
{
    struct as_plain *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->loop = loop;
    p->max_conns = max_conns > 0 ? max_conns : 1;
    /* libcurl reads these for http:// URLs (not HTTP_PROXY: see httpoxy); with one set, every
     * call is curl's, whatever no_proxy says */
    const char *vars[] = {"http_proxy", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);
        p->proxied |= v != NULL && v[0] != '\0';
    }
    return p;
}

void as_plain_free(struct as_plain *p)
{
    if (p == NULL)
        return;
    while (p->lru_first != NULL)
        conn_close(p->lru_first);
    for (size_t i = 0; i < ORIGIN_BUCKETS; i++)
        while (p->origins[i] != NULL) {
            struct as_plain_origin *o = p->origins[i];
            p->origins[i] = o->next;
            free(o);
        }
    free(p);
}

size_t as_plain_open(const struct as_plain *p)
{
    return p->open;
}

uint64_t as_plain_reused(const struct as_plain *p)
{
    return p->reused;
}
