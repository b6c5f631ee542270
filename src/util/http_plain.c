#include "util/http_plain.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "util/h1.h"
#include "util/http1.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/util.h"

#define ORIGIN_BUCKETS 64

/* A connection of an origin: busy with a transfer, or idle in its origin's list and in the
 * list of all idle ones (then possibly closed by the peer: its next request connects anew). */
struct conn {
    struct conn *prev, *next;         /* in its origin's idle connections, newest first */
    struct conn *lru_prev, *lru_next; /* in all idle connections, newest first */
    struct as_plain_origin *o;
    struct as_plain *p;
    struct as_h1 *h;
    struct as_plain_xfer *x; /* the transfer on it; NULL while idle */
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
    size_t conns;                      /* busy and idle */
    long max_conns;
    const struct conn *in_cb; /* the connection whose transfer's callback runs */
    int proxied;              /* a proxy is set in the environment: libcurl takes every call */
};

struct as_plain_xfer {
    struct as_plain *p;
    struct conn *c;
    size_t max_body;
    int discard, truncated;
    int64_t start_ms;
    struct as_sb body;
    as_plain_cb cb;
    void *arg;
    char err[256];
};

static void conn_free(struct conn *c);

/* ---- origins ---- */

static unsigned hash_of(const char *s)
{
    return (unsigned)as_fnv1a(AS_FNV_BASIS, s, strlen(s));
}

/* Host and port of "http://host:port" (the host unbracketed), and its address when the host
 * is an IP literal. -1 when key is not of that form. */
/* The address of an IP literal (unbracketed) and a port into *ss and *len; -1 for a name. */
static int address_of(const char *ip, long port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
    } else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
    } else {
        return -1;
    }
    return 0;
}

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
    o->literal = address_of(o->host, o->port, &o->addr, &o->addrlen) == 0;
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
    struct sockaddr_storage ss;
    socklen_t len;
    if (o->literal || ip == NULL || port < 1 || port > 65535 || address_of(ip, port, &ss, &len) < 0)
        return;
    if (len != o->addrlen || memcmp(&ss, &o->addr, len) != 0)
        while (o->idle != NULL) /* connected to the old address */
            conn_free(o->idle);
    o->addr = ss;
    o->addrlen = len;
    o->addr_until = as_loop_now(p->loop) + AS_PLAIN_ADDR_TTL_MS;
}

/* ---- the request ---- */

/* The length of the name of a "Name: value" header with a value; 0 when h is not one. */
static size_t header_name(const char *h)
{
    size_t n = 0;
    while (as_http1_tchar((unsigned char)h[n]))
        n++;
    if (n == 0 || h[n] != ':')
        return 0;
    const char *v = h + n + 1;
    size_t vl = strlen(v);
    return as_http1_field_text(v, vl) && strspn(v, " \t") < vl ? n : 0; /* a value, not blank */
}

static int named(const char *h, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(h, name, n) == 0;
}

/* Whether the caller's headers are all plain and none is one the client must own. */
static int headers_plain(const char *const *hs)
{
    for (size_t i = 0; hs && hs[i]; i++) {
        size_t n = header_name(hs[i]);
        if (n == 0 || named(hs[i], n, "Connection") || named(hs[i], n, "Content-Length") ||
            named(hs[i], n, "Transfer-Encoding") || named(hs[i], n, "Expect") ||
            named(hs[i], n, "Upgrade") || named(hs[i], n, "TE"))
            return 0;
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
    const char *auth, *path;
    size_t alen, plen;
    if (p->proxied || (req->method && strcmp(req->method, "GET") != 0) || req->body ||
        req->configure || (req->protocols && strstr(req->protocols, "http") == NULL) ||
        !split_url(req->url, &auth, &alen, &path, &plen) || !headers_plain(req->headers))
        return NULL;
    struct as_plain_origin *og = origin_get(p, origin);
    if (og == NULL || og->curl_only)
        return NULL;
    *o = og;
    if (!og->literal && og->addr_until <= as_loop_now(p->loop))
        return NULL;
    /* the target: the path and query, "/" when the URL has no path */
    char *target = malloc(plen + 2), *out = NULL;
    if (target != NULL) {
        size_t at = plen == 0 || path[0] == '?' ? 1 : 0;
        target[0] = '/';
        memcpy(target + at, path, plen);
        target[at + plen] = '\0';
        size_t n = as_h1_format_request(NULL, 0, "GET", auth, alen, target, req->headers, NULL);
        if ((out = malloc(n)) != NULL)
            *len = as_h1_format_request(out, n, "GET", auth, alen, target, req->headers, NULL);
    }
    free(target);
    if (out == NULL)
        *o = NULL;
    return out;
}

/* ---- connections ---- */

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

/* Closes and frees c (never from within its own callback). */
static void conn_free(struct conn *c)
{
    if (c->x == NULL)
        idle_unlink(c);
    as_h1_free(c->h);
    c->p->conns--;
    free(c);
}

/* Frees idle connections kept too long, oldest first, all but the one in its callback. */
static void sweep(struct as_plain *p, const struct conn *keep)
{
    int64_t now = as_loop_now(p->loop);
    while (p->lru_last != NULL && p->lru_last != keep &&
           now - p->lru_last->idle_since > AS_PLAIN_IDLE_MAX_MS)
        conn_free(p->lru_last);
}

/* Puts c among its origin's idle ones: first (the next request takes it) when its
 * connection is open, last when it was closed (an answer that said so, a failure), so that
 * an open one is taken before it and it connects again only when none is left. In the LRU
 * list it goes first, as every connection idle from now. */
static void conn_idle(struct conn *c)
{
    struct as_plain *p = c->p;
    c->x = NULL;
    c->idle_since = as_loop_now(p->loop);
    struct conn **at = &c->o->idle, *prev = NULL;
    if (!as_h1_open(c->h))
        while (*at != NULL) {
            prev = *at;
            at = &prev->next;
        }
    c->prev = prev;
    c->next = *at;
    if (c->next)
        c->next->prev = c;
    *at = c;
    c->lru_next = p->lru_first;
    if (p->lru_first)
        p->lru_first->lru_prev = c;
    else
        p->lru_last = c;
    p->lru_first = c;
}

/* A connection of o for x: the newest idle one, or a new one. NULL on ENOMEM or when
 * max_conns are busy. */
static struct conn *conn_get(struct as_plain *p, struct as_plain_origin *o, struct as_plain_xfer *x)
{
    sweep(p, NULL);
    struct conn *c = o->idle;
    if (c != NULL) {
        idle_unlink(c);
    } else {
        struct conn *old = p->lru_last; /* the oldest idle one makes room */
        if (old != NULL && old == p->in_cb)
            old = old->lru_prev;
        if ((long)p->conns >= p->max_conns && old != NULL)
            conn_free(old);
        if ((long)p->conns >= p->max_conns || (c = calloc(1, sizeof(*c))) == NULL)
            return NULL;
        c->h = as_h1_new(p->loop, (struct sockaddr *)&o->addr, o->addrlen);
        if (c->h == NULL) {
            free(c);
            return NULL;
        }
        c->o = o;
        c->p = p;
        p->conns++;
    }
    c->x = x;
    return c;
}

/* ---- a transfer ---- */

static void xfer_free(struct as_plain_xfer *x)
{
    as_sb_free(&x->body);
    free(x);
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

/* The error of a failed request, as libcurl would put it where it can. */
static const char *failure(struct as_plain_xfer *x, struct as_plain_origin *o,
                           const struct as_h1_resp *r)
{
    switch (r->code) {
    case AS_H1_CONNECT:
        if (!o->literal)
            o->addr_until = 0; /* the next call resolves the name again, through libcurl */
        snprintf(x->err, sizeof(x->err), "Failed to connect to %s port %ld after %lld ms: %s",
                 o->host, o->port, (long long)(as_mono_ms() - x->start_ms), r->error);
        return x->err;
    case AS_H1_UNSUPPORTED:
        if (!o->curl_only)
            AS_LOG(AS_WARN,
                   "http: %s answered with %s, which the plain-http client does not "
                   "read: its calls go through libcurl from now on",
                   o->key, r->error);
        o->curl_only = 1;
        snprintf(x->err, sizeof(x->err), "%s answered with %s; the next call reads it with libcurl",
                 o->key, r->error);
        return x->err;
    case AS_H1_BODY:
        return x->truncated ? "response body larger than the limit"
                            : "out of memory for the response body";
    case AS_H1_MALFORMED:
        snprintf(x->err, sizeof(x->err), "malformed response: %s", r->error);
        return x->err;
    default:
        return r->error;
    }
}

static void on_done(const struct as_h1_resp *r, void *arg)
{
    struct conn *c = arg;
    struct as_plain_xfer *x = c->x;
    struct as_plain_origin *o = c->o;
    conn_idle(c); /* closed or not: a closed one goes last, and connects again when taken */
    sweep(c->p, c);
    struct as_plain_result res = {
        .ok = r->ok,
        .status = r->ok ? (int)r->status : 0,
        .body = x->body.buf ? x->body.buf : "",
        .len = x->body.len,
        .truncated = x->truncated,
        .code = r->code,
        .header = r->header,
        .header_count = r->header_count,
        .total_us = r->ok ? r->elapsed_us : -1,
    };
    if (!r->ok)
        res.error = failure(x, o, r);
    const struct conn *outer = c->p->in_cb;
    c->p->in_cb = c;
    x->cb(&res, x->arg);
    c->p->in_cb = outer;
    xfer_free(x);
}

struct as_plain_xfer *as_plain_start(struct as_plain *p, struct as_plain_origin *o,
                                     const char *request, size_t len, const char *want,
                                     size_t max_body, int discard, as_plain_cb cb, void *arg)
{
    struct as_plain_xfer *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return NULL;
    x->p = p;
    x->max_body = max_body;
    x->discard = discard;
    x->cb = cb;
    x->arg = arg;
    x->start_ms = as_mono_ms();
    if ((x->c = conn_get(p, o, x)) == NULL) {
        free(x);
        return NULL;
    }
    as_h1_read(x->c->h, want, on_body, x);
    if (as_h1_send(x->c->h, request, len, 0, on_done, x->c) < 0) {
        conn_free(x->c);
        free(x);
        return NULL;
    }
    return x;
}

void as_plain_abort(struct as_plain_xfer *x)
{
    if (x == NULL)
        return;
    conn_free(x->c); /* in the middle of an answer: the connection cannot carry another */
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
        conn_free(p->lru_first);
    for (size_t i = 0; i < ORIGIN_BUCKETS; i++)
        while (p->origins[i] != NULL) {
            struct as_plain_origin *o = p->origins[i];
            p->origins[i] = o->next;
            free(o);
        }
    free(p);
}
