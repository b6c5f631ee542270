#include "util/h1.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util/http1.h"
#include "util/loop.h"

#define RECV_BUF 16384

/* ---- the connection ---- */

enum conn_state { C_CLOSED, C_CONNECTING, C_SENDING, C_READING, C_IDLE };

struct as_h1 {
    struct as_loop *loop;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int fd;
    int events; /* what the loop watches fd for */
    enum conn_state state;
    int reused;  /* the request went out on a connection an earlier one used */
    int in_send; /* as_h1_send is on the stack: a failure is reported from the loop */
    const char *req;
    size_t len, sent;
    int64_t started_us;
    struct as_timer *timer; /* the deadline, or an error to report at once */
    const char *error;      /* set: the timer reports this error */
    int code;               /* ... with this code */
    as_h1_cb cb;
    void *arg;
    const char *want; /* as_h1_read's, for the next request */
    as_http1_body_fn body;
    void *body_arg;
    struct as_http1 resp;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_fd(struct as_loop *loop, int fd, int events, void *arg);

/* Watches the connection for events unless it already is: a kept connection stays watched
 * for reading, so a request on it costs the loop no system call. Returns 0 or -1. */
static int watch(struct as_h1 *c, int events)
{
    if (c->events == events)
        return 0;
    if (as_loop_watch_fd(c->loop, c->fd, events, on_fd, c) < 0)
        return -1;
    c->events = events;
    return 0;
}

static void conn_close(struct as_h1 *c)
{
    if (c->fd >= 0) {
        as_loop_watch_fd(c->loop, c->fd, 0, NULL, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->events = 0;
    c->state = C_CLOSED;
}

static int64_t on_timer(struct as_loop *loop, void *arg);

/* Ends the request: cancels its timer, runs the callback once (a failure within as_h1_send
 * is handed to a timer of no delay instead, or to the deadline without memory for one).
 * keep: the connection may carry the next request. */
static void finish(struct as_h1 *c, int ok, int keep, int code, const char *error)
{
    if (c->in_send) {
        struct as_timer *t = as_loop_add_timer(c->loop, 0, on_timer, c);
        if (t != NULL) {
            as_loop_cancel_timer(c->loop, c->timer);
            c->timer = t;
            c->error = error;
            c->code = code;
        }
        conn_close(c);
        return;
    }
    as_loop_cancel_timer(c->loop, c->timer);
    c->timer = NULL;
    const struct as_http1 *h = &c->resp;
    struct as_h1_resp r = {.ok = ok,
                           .status = ok ? h->status : 0,
                           .timed_out = code == AS_H1_TIMEOUT,
                           .code = code,
                           .error = error,
                           .elapsed_us = now_us() - c->started_us};
    if (ok) {
        r.header_count = h->want_count;
        r.header = h->want_count == 1 && !h->want_cut ? h->want_value : NULL;
    }
    as_h1_cb cb = c->cb;
    c->cb = NULL;
    if (ok && keep)
        c->state = C_IDLE;
    else
        conn_close(c);
    cb(&r, c->arg);
}

static int try_connect(struct as_h1 *c, const char **why);

/* A reused connection failed before any byte of an answer: the server had closed it. */
static int retry_fresh(struct as_h1 *c)
{
    const char *why;
    if (!c->reused || as_http1_started(&c->resp))
        return 0;
    conn_close(c);
    c->reused = 0;
    c->sent = 0;
    if (try_connect(c, &why) == 0)
        return 1;
    finish(c, 0, 0, AS_H1_CONNECT, why);
    return 1;
}

static void io_failed(struct as_h1 *c, int code, const char *why)
{
    if (!retry_fresh(c))
        finish(c, 0, 0, code, why);
}

static void send_more(struct as_h1 *c)
{
    while (c->sent < c->len) {
        ssize_t n = send(c->fd, c->req + c->sent, c->len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (watch(c, AS_READ | AS_WRITE) < 0)
                io_failed(c, AS_H1_SEND, "cannot watch the socket");
            return;
        }
        if (n < 0) {
            io_failed(c, AS_H1_SEND, strerror(errno));
            return;
        }
        c->sent += (size_t)n;
    }
    c->state = C_READING;
    if (watch(c, AS_READ) < 0)
        io_failed(c, AS_H1_RECV, "cannot watch the socket");
}

/* What recv gave: n bytes of buf, 0 for the end of the connection. Returns 1 while the
 * answer goes on, 0 once the request ended (or started again on a new connection). */
static int take(struct as_h1 *c, const char *buf, size_t n)
{
    size_t used = 0;
    enum as_http1_result r = n == 0 ? as_http1_eof(&c->resp)
                                    : as_http1_feed(&c->resp, buf, n, &used, c->body, c->body_arg);
    switch (r) {
    case AS_HTTP1_MORE:
        return 1;
    case AS_HTTP1_DONE: /* bytes beyond the answer: nobody asked for them, do not reuse */
        finish(c, 1, n > 0 && c->resp.keep_alive && used == n, 0, NULL);
        return 0;
    case AS_HTTP1_UNSUPPORTED:
        finish(c, 0, 0, AS_H1_UNSUPPORTED, c->resp.error);
        return 0;
    default:
        if (n == 0)
            io_failed(c, as_http1_started(&c->resp) ? AS_H1_PARTIAL : AS_H1_NOTHING, c->resp.error);
        else
            finish(c, 0, 0,
                   strcmp(c->resp.error, "body refused") == 0 ? AS_H1_BODY : AS_H1_MALFORMED,
                   c->resp.error);
        return 0;
    }
}

static void read_some(struct as_h1 *c)
{
    char buf[RECV_BUF];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            io_failed(c, AS_H1_RECV, strerror(errno));
            return;
        }
        /* a short read took what was there: the loop tells when more comes */
        if (!take(c, buf, (size_t)n) || n < (ssize_t)sizeof(buf))
            return;
    }
}

static void on_connected(struct as_h1 *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        finish(c, 0, 0, AS_H1_CONNECT, strerror(err));
        return;
    }
    c->state = C_SENDING;
    send_more(c);
}

static void on_fd(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events; /* level-triggered: whatever came, the state says what to try */
    struct as_h1 *c = arg;
    if (c->state == C_CONNECTING) {
        on_connected(c);
    } else if (c->state == C_SENDING) {
        send_more(c);
    } else if (c->state == C_READING) {
        read_some(c);
    } else if (c->state == C_IDLE) { /* the server closed an idle connection, or sent junk */
        char b[64];
        ssize_t n = recv(c->fd, b, sizeof(b), 0);
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            conn_close(c);
    }
}

static int64_t on_timer(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct as_h1 *c = arg;
    c->timer = NULL;
    const char *why = c->error;
    c->error = NULL;
    if (why == NULL)
        finish(c, 0, 0, AS_H1_TIMEOUT, "timeout");
    else
        finish(c, 0, 0, c->code, why);
    return AS_TIMER_STOP;
}

static int try_connect(struct as_h1 *c, const char **why)
{
    c->fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = connect(c->fd, (const struct sockaddr *)&c->addr, c->addrlen);
    if (rc < 0 && errno != EINPROGRESS) {
        *why = strerror(errno);
        conn_close(c);
        return -1;
    }
    c->state = C_CONNECTING;
    if (watch(c, AS_WRITE) < 0) {
        *why = "cannot watch the socket";
        conn_close(c);
        return -1;
    }
    return 0;
}

struct as_h1 *as_h1_new(struct as_loop *loop, const struct sockaddr *addr, socklen_t len)
{
    if (len > sizeof(struct sockaddr_storage))
        return NULL;
    struct as_h1 *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = loop;
    memcpy(&c->addr, addr, len);
    c->addrlen = len;
    c->fd = -1;
    return c;
}

void as_h1_cancel(struct as_h1 *c)
{
    if (c == NULL)
        return;
    as_loop_cancel_timer(c->loop, c->timer);
    c->timer = NULL;
    c->error = NULL;
    c->cb = NULL;
    conn_close(c);
}

int as_h1_open(const struct as_h1 *c)
{
    return c->fd >= 0;
}

void as_h1_free(struct as_h1 *c)
{
    if (c == NULL)
        return;
    as_h1_cancel(c);
    as_http1_free(&c->resp);
    free(c);
}

void as_h1_read(struct as_h1 *c, const char *want, as_http1_body_fn body, void *arg)
{
    c->want = want;
    c->body = body;
    c->body_arg = arg;
}

int as_h1_send(struct as_h1 *c, const char *req, size_t len, int64_t timeout_ms, as_h1_cb cb,
               void *arg)
{
    if (c->cb != NULL || timeout_ms < 0)
        return -1;
    c->timer = NULL;
    if (timeout_ms > 0 && (c->timer = as_loop_add_timer(c->loop, timeout_ms, on_timer, c)) == NULL)
        return -1;
    c->req = req;
    c->len = len;
    c->sent = 0;
    c->cb = cb;
    c->arg = arg;
    c->started_us = now_us();
    as_http1_init(&c->resp, c->want);
    const char *why;
    c->reused = c->state == C_IDLE;
    c->in_send = 1;
    if (c->state == C_IDLE) {
        c->state = C_SENDING;
        send_more(c);
    } else if (try_connect(c, &why) < 0) {
        finish(c, 0, 0, AS_H1_CONNECT, why);
    }
    c->in_send = 0;
    return 0;
}

/* ---- requests ---- */

int as_h1_numeric_url(const char *url, struct sockaddr_storage *addr, socklen_t *len,
                      const char **path)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7, *end = h + strcspn(h, "/?#");
    const char *colon = NULL, *hb = h, *he;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (rb == NULL)
            return -1;
        hb = h + 1;
        he = rb;
        colon = rb + 1 < end ? rb + 1 : NULL;
        if (colon && *colon != ':')
            return -1;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        he = colon ? colon : end;
    }
    char host[64];
    long port = 80;
    if (he <= hb || (size_t)(he - hb) >= sizeof(host) || memchr(h, '@', (size_t)(end - h)))
        return -1;
    memcpy(host, hb, (size_t)(he - hb));
    host[he - hb] = '\0';
    if (colon) {
        port = 0;
        if (colon + 1 == end || end - colon > 6)
            return -1;
        for (const char *p = colon + 1; p < end; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535)
            return -1;
    }
    memset(addr, 0, sizeof(*addr));
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (*h != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof(*v4);
    } else if (*h == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*v6);
    } else {
        return -1;
    }
    *path = end;
    return 0;
}

static size_t put(char *out, size_t cap, size_t at, const char *s, size_t n)
{
    if (out != NULL && at + n <= cap)
        memcpy(out + at, s, n);
    return at + n;
}

/* Whether headers set the one named name (with its colon: "host:"). */
static int sets(const char *const *headers, const char *name)
{
    for (size_t i = 0; headers && headers[i]; i++)
        if (strncasecmp(headers[i], name, strlen(name)) == 0)
            return 1;
    return 0;
}

size_t as_h1_format_request(char *out, size_t cap, const char *method, const char *host,
                            size_t host_len, const char *target, const char *const *headers,
                            const char *body)
{
    size_t at = 0;
    at = put(out, cap, at, method, strlen(method));
    at = put(out, cap, at, " ", 1);
    at = put(out, cap, at, target, strlen(target));
    at = put(out, cap, at, " HTTP/1.1\r\n", 11);
    if (!sets(headers, "host:")) {
        at = put(out, cap, at, "Host: ", 6);
        at = put(out, cap, at, host, host_len);
        at = put(out, cap, at, "\r\n", 2);
    }
    static const char ua[] = "User-Agent: autoscaler/" AS_VERSION "\r\n";
    if (!sets(headers, "user-agent:"))
        at = put(out, cap, at, ua, sizeof(ua) - 1);
    if (!sets(headers, "accept:"))
        at = put(out, cap, at, "Accept: */*\r\n", 13);
    for (size_t i = 0; headers && headers[i]; i++) {
        at = put(out, cap, at, headers[i], strlen(headers[i]));
        at = put(out, cap, at, "\r\n", 2);
    }
    if (body != NULL) {
        char cl[48];
        int n = snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", strlen(body));
        at = put(out, cap, at, cl, (size_t)n);
    }
    at = put(out, cap, at, "\r\n", 2);
    if (body != NULL)
        at = put(out, cap, at, body, strlen(body));
    return at;
}
