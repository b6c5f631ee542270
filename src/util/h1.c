#include "util/h1.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util/loop.h"

#define RECV_BUF 16384
#define CHUNK_LINE_MAX 1024
#define TRAILER_MAX 8192

/* ---- the head ---- */

static int fail(const char **why, const char *text)
{
    *why = text;
    return -1;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Whether s[0..n) equals the lowercase word w, ignoring case. */
static int is_word(const char *s, size_t n, const char *w)
{
    size_t i = 0;
    for (; i < n && w[i]; i++)
        if (lower((unsigned char)s[i]) != w[i])
            return 0;
    return i == n && w[i] == '\0';
}

/* Whether the comma-separated list s[0..n) holds the token w (any case). */
static int has_token(const char *s, size_t n, const char *w)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
            i++;
        size_t b = i;
        while (i < n && s[i] != ',' && s[i] != ' ' && s[i] != '\t')
            i++;
        if (i > b && is_word(s + b, i - b, w))
            return 1;
    }
    return 0;
}

static int parse_status_line(const char *s, size_t n, struct as_h1_head *h, int *v10,
                             const char **why)
{
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
        return fail(why, "not an HTTP/1.x status line");
    long st = 0;
    for (int i = 9; i < 12; i++) {
        if (s[i] < '0' || s[i] > '9')
            return fail(why, "bad status code");
        st = st * 10 + (s[i] - '0');
    }
    if (n > 12 && s[12] != ' ')
        return fail(why, "bad status code");
    if (st < 100)
        return fail(why, "bad status code");
    h->status = st;
    *v10 = s[7] == '0';
    return 0;
}

static int parse_length(const char *v, size_t n, int64_t *out, const char **why)
{
    int64_t x = 0;
    if (n == 0 || n > 18)
        return fail(why, "bad Content-Length");
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return fail(why, "bad Content-Length");
        x = x * 10 + (v[i] - '0');
    }
    if (*out >= 0 && *out != x)
        return fail(why, "conflicting Content-Length");
    *out = x;
    return 0;
}

/* One header line s[0..n) (no CRLF). */
static int parse_header(const char *s, size_t n, struct as_h1_head *h, int *keep_alive,
                        const char **why)
{
    const char *colon = memchr(s, ':', n);
    if (colon == NULL || colon == s || s[0] == ' ' || s[0] == '\t')
        return fail(why, "malformed header line");
    size_t nl = (size_t)(colon - s);
    for (size_t i = 0; i < nl; i++)
        if (s[i] <= ' ' || s[i] == 0x7f)
            return fail(why, "malformed header name");
    const char *v = colon + 1, *end = s + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);
    for (size_t i = 0; i < vl; i++)
        if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
            return fail(why, "control character in a header");
    if (is_word(s, nl, "content-length"))
        return parse_length(v, vl, &h->content_length, why);
    if (is_word(s, nl, "transfer-encoding")) {
        if (!is_word(v, vl, "chunked"))
            return fail(why, "unsupported Transfer-Encoding");
        h->chunked = 1;
    } else if (is_word(s, nl, "connection")) {
        h->close |= has_token(v, vl, "close");
        *keep_alive |= has_token(v, vl, "keep-alive");
    }
    return 0;
}

int as_h1_parse_head(const char *buf, size_t len, struct as_h1_head *h, const char **why)
{
    const char *end = NULL;
    for (size_t i = 0; i + 3 < len && i + 3 < AS_H1_HEAD_MAX; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
            end = buf + i;
            break;
        }
    if (end == NULL)
        return len >= AS_H1_HEAD_MAX ? fail(why, "response head too large") : 0;
    *h = (struct as_h1_head){.content_length = -1};
    int v10 = 0, keep_alive = 0;
    const char *line = buf;
    for (int first = 1; line < end; first = 0) {
        const char *eol = line;
        while (eol < end && !(eol[0] == '\r' && eol[1] == '\n'))
            eol++;
        if (memchr(line, '\n', (size_t)(eol - line)) || memchr(line, '\r', (size_t)(eol - line)))
            return fail(why, "bare CR or LF in the head");
        int rc = first ? parse_status_line(line, (size_t)(eol - line), h, &v10, why)
                       : parse_header(line, (size_t)(eol - line), h, &keep_alive, why);
        if (rc < 0)
            return -1;
        line = eol + 2;
    }
    if (h->chunked && h->content_length >= 0)
        return fail(why, "both Content-Length and chunked");
    if (h->status == 101)
        return fail(why, "unexpected protocol switch");
    h->no_body = h->status < 200 || h->status == 204 || h->status == 304;
    if (v10 && !keep_alive)
        h->close = 1;
    if (!h->no_body && !h->chunked && h->content_length < 0)
        h->close = 1; /* the body ends with the connection */
    return (int)(end + 4 - buf);
}

/* ---- chunked bodies ---- */

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_TRAILER_LF };

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)lower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One byte of a size line, extension or CRLF. Returns 0, or -1 with *why. */
static int size_byte(struct as_h1_chunked *d, char c, const char **why)
{
    if (++d->linelen > CHUNK_LINE_MAX)
        return fail(why, "chunk size line too long");
    if (d->state == CH_SIZE && hexval(c) >= 0) {
        if (++d->digits > 15)
            return fail(why, "chunk size too large");
        d->left = d->left * 16 + (uint64_t)hexval(c);
        return 0;
    }
    if (d->digits == 0)
        return fail(why, "bad chunk size");
    if (c == '\r') {
        d->state = CH_SIZE_LF;
        return 0;
    }
    if (d->state == CH_SIZE_LF) {
        if (c != '\n')
            return fail(why, "bad chunk size line");
        d->linelen = 0;
        d->digits = 0; /* from here: whether a trailer line has bytes */
        d->state = d->left ? CH_DATA : CH_TRAILER;
        return 0;
    }
    if (d->state == CH_SIZE && c != ';' && c != ' ' && c != '\t')
        return fail(why, "bad chunk size");
    if ((unsigned char)c < 0x20 && c != '\t')
        return fail(why, "control character in a chunk extension");
    d->state = CH_EXT;
    return 0;
}

/* One byte after a chunk's data or of the trailer. Returns 1 at the body's end, 0, or -1. */
static int tail_byte(struct as_h1_chunked *d, char c, const char **why)
{
    switch (d->state) {
    case CH_DATA_CR:
        if (c != '\r')
            return fail(why, "chunk data longer than its size");
        d->state = CH_DATA_LF;
        return 0;
    case CH_DATA_LF:
        if (c != '\n')
            return fail(why, "chunk data longer than its size");
        *d = (struct as_h1_chunked){.state = CH_SIZE};
        return 0;
    case CH_TRAILER:
        if (c == '\r') {
            d->state = CH_TRAILER_LF;
            return 0;
        }
        if ((unsigned char)c < 0x20 && c != '\t')
            return fail(why, "bad trailer");
        d->digits = 1; /* this trailer line is not empty */
        if (++d->linelen > TRAILER_MAX)
            return fail(why, "trailer too long");
        return 0;
    default: /* CH_TRAILER_LF */
        if (c != '\n')
            return fail(why, "bad trailer");
        if (d->digits == 0)
            return 1; /* the empty line: the end */
        d->digits = 0;
        d->state = CH_TRAILER;
        return 0;
    }
}

long as_h1_chunked_feed(struct as_h1_chunked *d, const char *buf, size_t len, int *done,
                        const char **why)
{
    size_t i = 0;
    *done = 0;
    while (i < len) {
        if (d->state == CH_DATA) {
            size_t n = len - i < d->left ? len - i : (size_t)d->left;
            d->left -= n;
            i += n;
            if (d->left == 0)
                d->state = CH_DATA_CR;
            continue;
        }
        int rc = d->state <= CH_SIZE_LF ? size_byte(d, buf[i], why) : tail_byte(d, buf[i], why);
        i++;
        if (rc < 0)
            return -1;
        if (rc == 1) {
            *done = 1;
            break;
        }
    }
    return (long)i;
}

/* ---- the connection ---- */

enum conn_state { C_CLOSED, C_CONNECTING, C_SENDING, C_HEAD, C_BODY, C_IDLE };

struct as_h1 {
    struct as_loop *loop;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int fd;
    enum conn_state state;
    int reused;  /* the request went out on a connection an earlier one used */
    int in_send; /* as_h1_send is on the stack: a failure is reported from the loop */
    int got_bytes;
    const char *req;
    size_t len, sent;
    int64_t started_us;
    struct as_timer *timer; /* the deadline, or an error to report at once */
    const char *error;      /* set: the timer reports this error */
    as_h1_cb cb;
    void *arg;
    struct as_h1_head head;
    struct as_h1_chunked ch;
    uint64_t body_left;
    size_t have; /* bytes of the head in buf */
    char buf[RECV_BUF];
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void conn_close(struct as_h1 *c)
{
    if (c->fd >= 0) {
        as_loop_watch_fd(c->loop, c->fd, 0, NULL, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = C_CLOSED;
}

static int64_t on_timer(struct as_loop *loop, void *arg);

/* Ends the request: cancels its timer, runs the callback once (a failure within as_h1_send
 * is handed to a timer of no delay instead, or to the deadline without memory for one). */
static void finish(struct as_h1 *c, int ok, int timed_out, const char *error)
{
    if (c->in_send) {
        struct as_timer *t = as_loop_add_timer(c->loop, 0, on_timer, c);
        if (t != NULL) {
            as_loop_cancel_timer(c->loop, c->timer);
            c->timer = t;
            c->error = error;
        }
        conn_close(c);
        return;
    }
    as_loop_cancel_timer(c->loop, c->timer);
    c->timer = NULL;
    struct as_h1_resp r = {.ok = ok,
                           .status = ok ? c->head.status : 0,
                           .timed_out = timed_out,
                           .error = error,
                           .elapsed_us = now_us() - c->started_us};
    as_h1_cb cb = c->cb;
    c->cb = NULL;
    if (!ok || c->head.close)
        conn_close(c);
    else
        c->state = C_IDLE;
    cb(&r, c->arg);
}

static void on_fd(struct as_loop *loop, int fd, int events, void *arg);

static int try_connect(struct as_h1 *c, const char **why);

/* A reused connection failed before any byte of an answer: the server had closed it. */
static int retry_fresh(struct as_h1 *c)
{
    const char *why;
    if (!c->reused || c->got_bytes)
        return 0;
    conn_close(c);
    c->reused = 0;
    c->sent = 0;
    if (try_connect(c, &why) == 0)
        return 1;
    finish(c, 0, 0, why);
    return 1;
}

static void io_failed(struct as_h1 *c, const char *why)
{
    if (!retry_fresh(c))
        finish(c, 0, 0, why);
}

static void send_more(struct as_h1 *c)
{
    while (c->sent < c->len) {
        ssize_t n = send(c->fd, c->req + c->sent, c->len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (as_loop_watch_fd(c->loop, c->fd, AS_READ | AS_WRITE, on_fd, c) < 0)
                io_failed(c, "cannot watch the socket");
            return;
        }
        if (n < 0) {
            io_failed(c, strerror(errno));
            return;
        }
        c->sent += (size_t)n;
    }
    c->state = C_HEAD;
    c->have = 0;
    if (as_loop_watch_fd(c->loop, c->fd, AS_READ, on_fd, c) < 0)
        io_failed(c, "cannot watch the socket");
}

/* Consumes body bytes; finishes the request at the body's end. Returns 0, or -1 when the
 * request ended badly (already reported). */
static int body_bytes(struct as_h1 *c, const char *p, size_t n)
{
    if (c->head.chunked) {
        const char *why;
        int done;
        long used = as_h1_chunked_feed(&c->ch, p, n, &done, &why);
        if (used < 0) {
            finish(c, 0, 0, why);
            return -1;
        }
        if (done && (size_t)used != n)
            c->head.close = 1; /* bytes nobody asked for: do not reuse */
        if (done)
            finish(c, 1, 0, NULL);
        return 0;
    }
    if (c->head.content_length < 0)
        return 0; /* until the connection closes */
    if (n > c->body_left)
        c->head.close = 1;
    c->body_left -= n < c->body_left ? n : c->body_left;
    if (c->body_left == 0)
        finish(c, 1, 0, NULL);
    return 0;
}

/* The head is complete in buf[0..have): parse it and go on with the rest. */
static void head_bytes(struct as_h1 *c)
{
    const char *why;
    for (;;) {
        int n = as_h1_parse_head(c->buf, c->have, &c->head, &why);
        if (n == 0)
            return;
        if (n < 0) {
            finish(c, 0, 0, why);
            return;
        }
        size_t rest = c->have - (size_t)n;
        memmove(c->buf, c->buf + n, rest);
        c->have = rest;
        if (c->head.status >= 200)
            break; /* else an interim 1xx: the real head follows */
    }
    c->state = C_BODY;
    c->ch = (struct as_h1_chunked){0};
    c->body_left = c->head.content_length > 0 ? (uint64_t)c->head.content_length : 0;
    size_t rest = c->have;
    c->have = 0;
    if (c->head.no_body || (!c->head.chunked && c->head.content_length == 0)) {
        if (rest)
            c->head.close = 1;
        finish(c, 1, 0, NULL);
        return;
    }
    body_bytes(c, c->buf, rest);
}

static void read_some(struct as_h1 *c)
{
    for (;;) {
        char *dst = c->state == C_HEAD ? c->buf + c->have : c->buf;
        size_t room = c->state == C_HEAD ? sizeof(c->buf) - c->have : sizeof(c->buf);
        if (room == 0) {
            finish(c, 0, 0, "response head too large");
            return;
        }
        ssize_t n = recv(c->fd, dst, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (n == 0 && c->state == C_BODY && !c->head.chunked && c->head.content_length < 0)
                finish(c, 1, 0, NULL); /* the body ended with the connection */
            else
                io_failed(c, n == 0 ? "connection closed before the end of the answer"
                                    : strerror(errno));
            return;
        }
        c->got_bytes = 1;
        if (c->state == C_HEAD) {
            c->have += (size_t)n;
            head_bytes(c);
        } else if (body_bytes(c, dst, (size_t)n) < 0) {
            return;
        }
        if (c->state != C_HEAD && c->state != C_BODY)
            return; /* finished (or closed) */
    }
}

static void on_connected(struct as_h1 *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        finish(c, 0, 0, strerror(err));
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
    } else if (c->state == C_HEAD || c->state == C_BODY) {
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
    if (why == NULL) {
        c->head.close = 1;
        finish(c, 0, 1, "timeout");
    } else {
        finish(c, 0, 0, why);
    }
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
    if (as_loop_watch_fd(c->loop, c->fd, AS_WRITE, on_fd, c) < 0) {
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

void as_h1_free(struct as_h1 *c)
{
    if (c == NULL)
        return;
    as_h1_cancel(c);
    conn_close(c);
    free(c);
}

int as_h1_send(struct as_h1 *c, const char *req, size_t len, int64_t timeout_ms, as_h1_cb cb,
               void *arg)
{
    if (c->cb != NULL || timeout_ms <= 0)
        return -1;
    c->timer = as_loop_add_timer(c->loop, timeout_ms, on_timer, c);
    if (c->timer == NULL)
        return -1;
    c->req = req;
    c->len = len;
    c->sent = 0;
    c->cb = cb;
    c->arg = arg;
    c->got_bytes = 0;
    c->started_us = now_us();
    c->head = (struct as_h1_head){.content_length = -1};
    const char *why;
    c->reused = c->state == C_IDLE;
    c->in_send = 1;
    if (c->state == C_IDLE) {
        c->state = C_SENDING;
        send_more(c);
    } else if (try_connect(c, &why) < 0) {
        finish(c, 0, 0, why);
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

static int sets_host(const char *const *headers)
{
    for (size_t i = 0; headers && headers[i]; i++)
        if (strncasecmp(headers[i], "host:", 5) == 0)
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
    if (!sets_host(headers)) {
        at = put(out, cap, at, "Host: ", 6);
        at = put(out, cap, at, host, host_len);
        at = put(out, cap, at, "\r\n", 2);
    }
    static const char ua[] = "User-Agent: autoscaler/" AS_VERSION "\r\nAccept: */*\r\n";
    at = put(out, cap, at, ua, sizeof(ua) - 1);
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
