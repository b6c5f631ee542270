/* GET over plain HTTP/1.1 without libcurl: the client util/http.c uses for the polls that
 * make up nearly all of a large daemon's calls (an `http_json` metric, a Prometheus query, a
 * status endpoint, every second per group). A request is written once into a buffer and
 * sent on a kept-alive connection with one send(); the answer is read with one recv() and
 * parsed in place (util/http1.c). Everything else (https, a body, another method, TLS
 * options, a proxy, a URL or header out of the ordinary, an origin whose address is not
 * known yet) stays with libcurl; see as_plain_request for the exact rule and
 * docs/design.md for why.
 *
 * Addresses. An IP literal is its own address. A name is never resolved here (that would
 * block the loop): the first call to it goes through libcurl, whose resolver is
 * asynchronous, and the address curl connected to is used for 60 seconds, as long as curl
 * keeps a name in its own DNS cache; then curl again. A connection that fails forgets a
 * learned address.
 *
 * Connections (util/h1.c, one request at a time each). Kept per origin and reused newest
 * first (one its answer or a failure closed after every open one); an idle one the peer
 * closes (or writes to) is closed at once; one idle for
 * AS_PLAIN_IDLE_MAX_MS is dropped; their number is bounded. A request on a reused connection
 * that the peer closed before answering is sent once more on a new one, as curl does.
 *
 * An answer well formed but beyond this reader (a Content-Encoding, a transfer coding other
 * than chunked, a folded header) fails its call and sends that origin through libcurl from
 * then on. */
#ifndef AS_HTTP_PLAIN_H
#define AS_HTTP_PLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "util/http.h"

struct as_loop;
struct as_plain;
struct as_plain_origin;
struct as_plain_xfer;

/* How long a learned address is used, and an idle connection kept (curl's defaults: its DNS
 * cache timeout, CURLOPT_MAXAGE_CONN). */
#define AS_PLAIN_ADDR_TTL_MS 60000
#define AS_PLAIN_IDLE_MAX_MS 118000

struct as_plain_result {
    int ok;           /* a whole response arrived */
    int status;       /* its status when ok */
    const char *body; /* NUL-terminated, borrowed for the callback */
    size_t len;
    int truncated;      /* the body exceeded max_body (ok is 0) */
    const char *error;  /* when !ok, borrowed */
    int code;           /* the CURLcode libcurl gives the same failure; 0 when ok */
    const char *header; /* the wanted header's value when it came once, else NULL */
    size_t header_count;
    int64_t total_us; /* from the start of the transfer to its last byte */
};

typedef void (*as_plain_cb)(const struct as_plain_result *res, void *arg);

/* max_conns bounds the connections open at once. NULL on ENOMEM. */
struct as_plain *as_plain_new(struct as_loop *loop, long max_conns);
/* Closes every connection; no transfer may be in flight. */
void as_plain_free(struct as_plain *p);

/* The request req would send, when it may go without libcurl: a GET of an http:// URL
 * without user info, whose path and query are printable ASCII without dot segments, with
 * neither body nor TLS option nor `configure`, whose headers are all "Name: value" (not
 * Connection, Content-Length, Transfer-Encoding, Expect, Upgrade, TE; a Host, User-Agent or
 * Accept given replaces ours), to an origin neither sent to libcurl for good nor unknown.
 * Returns the request text (caller frees) and its length in *len, and the origin in *o;
 * NULL otherwise, with *o set when only the origin's address is missing (the caller then
 * goes through libcurl and tells the address with as_plain_learn). NULL with *o NULL on
 * ENOMEM too. */
char *as_plain_request(struct as_plain *p, const struct as_http_req *req, const char *origin,
                       struct as_plain_origin **o, size_t *len);

/* The address libcurl connected to for o (its CURLINFO_PRIMARY_IP and _PORT). */
void as_plain_learn(struct as_plain *p, struct as_plain_origin *o, const char *ip, long port);

/* Sends request (len bytes, borrowed until cb) to o. cb runs exactly once, from the loop,
 * never from within this call, unless as_plain_abort comes first. want: a response header
 * to report (borrowed until cb), may be NULL; discard: read the body without keeping it.
 * NULL on ENOMEM. */
struct as_plain_xfer *as_plain_start(struct as_plain *p, struct as_plain_origin *o,
                                     const char *request, size_t len, const char *want,
                                     size_t max_body, int discard, as_plain_cb cb, void *arg);

/* Stops a transfer (its connection is closed); cb does not run. */
void as_plain_abort(struct as_plain_xfer *x);

#endif
