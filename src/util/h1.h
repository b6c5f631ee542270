/* A minimal HTTP/1.1 client connection for load generation on the event loop: plain http to
 * one numeric address, keep-alive, one request at a time, the response read and dropped (only
 * its status and its time are kept). What wrk does per connection, and what libcurl costs
 * several times more CPU for; general HTTP (TLS, names, proxies, redirects) stays with
 * util/http.c.
 *
 * A response is framed by Content-Length, by chunked transfer coding, or by the end of the
 * connection; 1xx interim responses are skipped; 204 and 304 have no body. Anything else (a
 * malformed status line or header, conflicting lengths, a head over 16 KiB, another transfer
 * coding) fails the request and closes the connection. A request on a reused connection that
 * the server had closed meanwhile (no byte of an answer came) is sent again once on a new
 * connection, as browsers and curl do. Never allocates per request. */
#ifndef AS_H1_H
#define AS_H1_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct as_loop;
struct as_h1;

#define AS_H1_HEAD_MAX 16384

struct as_h1_resp {
    int ok;             /* a whole response arrived */
    long status;        /* its status when ok */
    int timed_out;      /* the deadline passed */
    const char *error;  /* when !ok: a static text, or the system's */
    int64_t elapsed_us; /* from as_h1_send to the end of the response */
};

typedef void (*as_h1_cb)(const struct as_h1_resp *r, void *arg);

/* A connection to addr (copied), not yet connected. NULL on ENOMEM. */
struct as_h1 *as_h1_new(struct as_loop *loop, const struct sockaddr *addr, socklen_t len);

/* Closes the connection (a request in flight is dropped: its callback does not run). NULL is
 * a no-op. */
void as_h1_free(struct as_h1 *c);

/* Sends the complete request req[0..len) (borrowed until the callback) and reads its answer;
 * connects first when needed. cb runs exactly once, from the loop (never from within this
 * call), unless as_h1_cancel or as_h1_free comes first; cb may send the next request on c or
 * cancel it, but not free it. Returns 0, or -1 when a request is
 * already in flight or timeout_ms <= 0 or memory lacks (cb will not run). */
int as_h1_send(struct as_h1 *c, const char *req, size_t len, int64_t timeout_ms, as_h1_cb cb,
               void *arg);

/* Drops the request in flight, if any (its callback does not run), and closes the
 * connection (the next request opens a new one). */
void as_h1_cancel(struct as_h1 *c);

/* The address of an http:// URL prefix whose host is an IPv4 or a bracketed IPv6 literal
 * (http://127.0.0.1:8080/base), into *addr and *len; *path is where its path starts (at
 * '/' or the end). Returns 0, or -1 for https, a host name, userinfo or a bad port. */
int as_h1_numeric_url(const char *url, struct sockaddr_storage *addr, socklen_t *len,
                      const char **path);

/* Writes "METHOD TARGET HTTP/1.1" with Host (unless headers set one), User-Agent, Accept, the
 * headers ("Name: value", NULL-terminated, may be NULL), Content-Length when there is a body,
 * and the body, into out (at most cap bytes; NULL to measure). Returns the length needed. */
size_t as_h1_format_request(char *out, size_t cap, const char *method, const char *host,
                            size_t host_len, const char *target, const char *const *headers,
                            const char *body);

/* ---- the parser (exposed for tests and fuzzing) ---- */

struct as_h1_head {
    long status;
    int64_t content_length; /* -1: none */
    int chunked;            /* Transfer-Encoding: chunked */
    int close;              /* the connection ends after this response */
    int no_body;            /* 1xx, 204, 304 */
};

/* Parses a response head at buf[0..len). Returns its length (through the empty line) with *h
 * set, 0 when more bytes are needed, or -1 with *why (a static text). */
int as_h1_parse_head(const char *buf, size_t len, struct as_h1_head *h, const char **why);

/* A chunked body's decoder. Zero-initialise. */
struct as_h1_chunked {
    int state;
    uint64_t left;    /* bytes left of the current chunk */
    unsigned linelen; /* bytes of the current size or trailer line */
    int digits;
};

/* Feeds buf[0..len) to d. Returns the bytes consumed (fewer than len only when the body ended:
 * *done is then 1), or -1 with *why. */
long as_h1_chunked_feed(struct as_h1_chunked *d, const char *buf, size_t len, int *done,
                        const char **why);

#endif
