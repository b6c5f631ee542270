/* Asynchronous HTTP client: libcurl's multi interface driven by the event loop, and for
 * plain http:// GETs (the polls) connections of our own (util/http_plain.h says which calls;
 * as_http_set_plain). Every request has a deadline and a bounded response body; the two
 * transports give the same answers, errors and codes.
 *
 * The model (one client per loop, shared by every group):
 *   - Deadline. A request's timeout_ms runs from the moment as_http_start is called and is
 *     enforced by a loop timer of our own, whatever curl does: when it expires the callback
 *     gets ok=0, timed_out=1, error "timeout after N ms" and elapsed_ms about N, whether the
 *     request was waiting for its turn, connecting, or reading a body that trickles in.
 *     curl's own timeout is set to the time left when the transfer is handed to curl.
 *   - Owners. Each request names an owner (the group; NULL is one shared anonymous owner).
 *     An owner has at most AS_HTTP_OWNER_HOST_MAX transfers in flight per origin
 *     (scheme://host:port; a request may raise its own limit, max_in_flight); its further
 *     requests to that origin wait in a FIFO of its own,
 *     and that wait counts toward their deadline. So one group's stuck calls never take
 *     another group's connections.
 *   - Hosts. All owners together have at most host_max transfers in flight per origin
 *     (AS_HTTP_HOST_MAX, as_http_set_host_max: the configuration's calls_per_host; a load
 *     generator's calls are neither held nor counted, see load_generator), so
 *     thousands of groups never open thousands of requests to one Prometheus. A call beyond
 *     it waits in its owner's FIFO, its deadline running; the owners waiting for an origin
 *     take its free slots in turn, one call each, so an owner with many calls waiting delays
 *     the others by one call at most. Curl itself has no per-host cap.
 *   - Connections. One connection cache for the process: a keep-alive connection is reused
 *     by any owner's next request to the same origin. A global cap on open connections
 *     (AS_HTTP_TOTAL_MAX, lowered to fit the open-file limit) is a safety net sized for
 *     thousands of groups, not a queue anyone is meant to wait in; should it be reached,
 *     curl closes idle connections first and the deadline still holds.
 *   - Redirects are not followed: a 3xx is returned as it is. */
#ifndef AS_HTTP_H
#define AS_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct as_loop;
struct as_http;
struct as_http_call;

#define AS_HTTP_BODY_MAX (1024 * 1024)
/* Transfers in flight per owner and origin; more wait in the owner's FIFO. */
#define AS_HTTP_OWNER_HOST_MAX 4
/* Transfers in flight per origin, every owner's together, unless as_http_set_host_max. */
#define AS_HTTP_HOST_MAX 256
/* Open connections in all (further bounded by RLIMIT_NOFILE, keeping 256 descriptors free). */
#define AS_HTTP_TOTAL_MAX 8192

struct as_http_req {
    const char *method; /* "GET" if NULL */
    const char *url;
    const char *owner;          /* who the call is for (the group); NULL: the anonymous owner */
    const char *const *headers; /* NULL-terminated "Name: value" list, may be NULL */
    const char *body;           /* may be NULL */
    int64_t timeout_ms;         /* from as_http_start to the callback; required > 0 */
    int insecure;               /* 1 disables TLS verification (default: verify) */
    const char *ca_file;        /* extra CA bundle, may be NULL */
    size_t max_body;            /* 0 means AS_HTTP_BODY_MAX */
    /* The call starts only while fewer than this many of its owner's calls to its origin are
     * in flight (and none of them waits before it); 0 means AS_HTTP_OWNER_HOST_MAX. A load
     * generator sets its number of users. */
    size_t max_in_flight;
    const char *header; /* a response header to return (resp.header), may be NULL */
    /* 1: read the body without keeping it (resp.body is "" and resp.len 0; max_body does not
     * apply): a load generator's requests. */
    int discard_body;
    /* 1: a load generator's call (a `loadtest` source's users): the host's
     * bound neither holds nor counts it, since loading the host is its purpose, and a poll of
     * the same host must not wait behind a load test's thousand users. Its owner's limit
     * (max_in_flight) still applies. */
    int load_generator;
    /* TLS client authentication: a certificate and its private key, as PEM files or as PEM
     * text (each may be NULL). ca_pem: a CA bundle as PEM text, used instead of ca_file.
     * Copied with the request, like every field. */
    const char *cert_file, *key_file;
    const char *cert_pem, *key_pem, *ca_pem;
    /* Protocols curl may use, as CURLOPT_PROTOCOLS_STR ("smtp,smtps" for mail); NULL:
     * "http,https". */
    const char *protocols;
    /* Called last while the call is set up, with its CURL easy handle: options the fields
     * above do not cover (an SMTP message's sender, recipients and upload). What it sets must
     * stay valid until the callback. Returns 0, or -1 to fail the setup (as_http_start then
     * returns NULL). */
    int (*configure)(void *easy, void *arg);
    void *configure_arg;
};

struct as_http_resp {
    int ok;           /* transfer completed and a status line arrived */
    long status;      /* HTTP status, 0 when !ok */
    const char *body; /* NUL-terminated, borrowed for the callback only */
    size_t len;
    int truncated;      /* body exceeded max_body: treat as failed */
    int timed_out;      /* the deadline passed: error is "timeout after N ms" */
    const char *error;  /* transport error text when !ok, borrowed */
    int64_t elapsed_ms; /* since as_http_start */
    int64_t elapsed_us; /* the same in microseconds: what the caller waited for the answer */
    /* The transfer's own time in microseconds, as curl measured it (CURLINFO_TOTAL_TIME_T:
     * from the moment curl took the call, connecting included, to the last byte); -1 when
     * the call did not complete (!ok). More precise than elapsed_ms, and without the wait
     * in the owner's queue. */
    int64_t total_us;
    /* The value of req.header in the response (NULL: absent), and how many times the header
     * came (a value is given only when it came once). Borrowed for the callback only. */
    const char *header;
    size_t header_count;
    int curl_code; /* curl's result: 0 (CURLE_OK) when the transfer completed */
    long reply;    /* the last response code even when the transfer failed (SMTP: the server's
                      last reply, e.g. 535 for a denied login); 0 when none came */
};

typedef void (*as_http_cb)(const struct as_http_resp *resp, void *arg);

/* NULL on failure. One per loop; free after all calls finished or were cancelled. */
struct as_http *as_http_new(struct as_loop *loop);
void as_http_free(struct as_http *http);

/* Starts a request (every field is copied), or queues it behind its owner's calls in flight
 * to the same origin and, beyond the origin's bound, until its owner's turn. cb runs exactly
 * once, from the loop (never from within this call), unless the call is cancelled first.
 * Returns a handle valid until cb runs, or NULL on setup failure or timeout_ms <= 0 (cb is
 * not called then). */
struct as_http_call *as_http_start(struct as_http *http, const struct as_http_req *req,
                                   as_http_cb cb, void *arg);

/* Aborts a call in flight or queued; its callback is not run. NULL is a no-op. */
void as_http_cancel(struct as_http_call *call);

/* Whether url is one the client takes: http:// or https://. */
int as_http_url_ok(const char *url);

/* Number of calls in flight or queued. */
size_t as_http_active(const struct as_http *http);

/* The cap on open connections this client set (AS_HTTP_TOTAL_MAX or less). */
long as_http_total_max(const struct as_http *http);

/* Sets the bound on transfers in flight per origin, all owners together; 0 means
 * AS_HTTP_HOST_MAX. A larger bound starts waiting calls at once; under a smaller one, calls
 * in flight finish and no new one starts until fewer than max are in flight. */
void as_http_set_host_max(struct as_http *http, size_t max);

/* Whether plain http:// GETs may go without libcurl (util/http_plain.h; on by default).
 * Applies to calls started afterwards. */
void as_http_set_plain(struct as_http *http, int on);

/* Calls started since as_http_new: over the plain client's connections, through libcurl. */
void as_http_calls(const struct as_http *http, uint64_t *plain, uint64_t *curl);

/* Calls that waited for the bound of their origin since as_http_new (each counted once,
 * whether it then ran, timed out or was cancelled). */
uint64_t as_http_host_waits(const struct as_http *http);

#endif
