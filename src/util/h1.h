/* A minimal HTTP/1.1 client connection on the event loop: plain http to one numeric address,
 * keep-alive, one request at a time, prepared by the caller and sent with one send(); the
 * answer read with one recv() when it fits and parsed in place (util/http1.c), its body
 * handed to a callback or dropped. What wrk does per connection, and what libcurl costs
 * several times more CPU for: a load test's users (sources/loadtest.c) and the polls of
 * util/http_plain.c use it; general HTTP (TLS, names, proxies, redirects) stays with libcurl.
 *
 * A response is framed by Content-Length, by chunked transfer coding, or by the end of the
 * connection; 1xx interim responses are skipped; 204 and 304 have no body. A malformed
 * answer (status line, header, conflicting lengths, a head over 64 KiB) fails the request,
 * and so does one this reader does not decode (a Content-Encoding, another transfer coding:
 * AS_H1_UNSUPPORTED); the connection is closed. A request on a reused connection that the
 * server had closed meanwhile (no byte of an answer came) is sent again once on a new
 * connection, as browsers and curl do. Never allocates per request. */
#ifndef AS_H1_H
#define AS_H1_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct as_loop;
struct as_h1;

#include "util/http1.h"

/* Why a request failed (as_h1_resp.code): the libcurl code for the same failure, so that
 * callers read both alike. */
enum {
    AS_H1_CONNECT = 7,     /* CURLE_COULDNT_CONNECT */
    AS_H1_MALFORMED = 8,   /* CURLE_WEIRD_SERVER_REPLY */
    AS_H1_UNSUPPORTED = 4, /* well formed, not for this reader (CURLE_NOT_BUILT_IN) */
    AS_H1_PARTIAL = 18,    /* CURLE_PARTIAL_FILE: closed within the answer */
    AS_H1_BODY = 23,       /* CURLE_WRITE_ERROR: the body callback refused */
    AS_H1_TIMEOUT = 28,    /* CURLE_OPERATION_TIMEDOUT */
    AS_H1_NOTHING = 52,    /* CURLE_GOT_NOTHING: closed before any byte of it */
    AS_H1_SEND = 55,       /* CURLE_SEND_ERROR */
    AS_H1_RECV = 56,       /* CURLE_RECV_ERROR */
};

struct as_h1_resp {
    int ok;             /* a whole response arrived */
    long status;        /* its status when ok */
    int timed_out;      /* the deadline passed */
    int code;           /* 0 when ok, else one of the above */
    const char *error;  /* when !ok: a static text, or the system's */
    int64_t elapsed_us; /* from as_h1_send to the end of the response */
    /* as_h1_read's header: its value when it came once (else NULL), how many times. */
    const char *header;
    size_t header_count;
};

typedef void (*as_h1_cb)(const struct as_h1_resp *r, void *arg);

/* A connection to addr (copied), not yet connected. NULL on ENOMEM. */
struct as_h1 *as_h1_new(struct as_loop *loop, const struct sockaddr *addr, socklen_t len);

/* Closes the connection (a request in flight is dropped: its callback does not run). NULL is
 * a no-op. */
void as_h1_free(struct as_h1 *c);

/* What the next requests keep of their answers: the header want (borrowed, may be NULL) and
 * the body, handed to body(arg) as it comes (NULL: dropped; body returning -1 fails the
 * request with AS_H1_BODY). */
void as_h1_read(struct as_h1 *c, const char *want, as_http1_body_fn body, void *arg);

/* Sends the complete request req[0..len) (borrowed until the callback) and reads its answer;
 * connects first when needed. timeout_ms: a deadline of its own (0: none, the caller keeps
 * one). cb runs exactly once, from the loop (never from within this call), unless
 * as_h1_cancel or as_h1_free comes first; cb may send the next request on c or cancel it, but
 * not free it. Returns 0, or -1 when a request is already in flight or timeout_ms < 0 or
 * memory lacks (cb will not run). */
int as_h1_send(struct as_h1 *c, const char *req, size_t len, int64_t timeout_ms, as_h1_cb cb,
               void *arg);

/* Drops the request in flight, if any (its callback does not run), and closes the
 * connection (the next request opens a new one). */
void as_h1_cancel(struct as_h1 *c);

/* Whether c holds an open connection (between requests: one the next request can reuse). */
int as_h1_open(const struct as_h1 *c);

/* The address of an http:// URL prefix whose host is an IPv4 or a bracketed IPv6 literal
 * (http://127.0.0.1:8080/base), into *addr and *len; *path is where its path starts (at
 * '/' or the end). Returns 0, or -1 for https, a host name, userinfo or a bad port. */
int as_h1_numeric_url(const char *url, struct sockaddr_storage *addr, socklen_t *len,
                      const char **path);

/* Writes "METHOD TARGET HTTP/1.1" with Host, User-Agent, Accept (each unless headers set it), the
 * headers ("Name: value", NULL-terminated, may be NULL), Content-Length when there is a body,
 * and the body, into out (at most cap bytes; NULL to measure). Returns the length needed. */
size_t as_h1_format_request(char *out, size_t cap, const char *method, const char *host,
                            size_t host_len, const char *target, const char *const *headers,
                            const char *body);

#endif
