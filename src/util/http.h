/* Asynchronous HTTP client: libcurl's multi interface driven by the event loop.
 * Every request has a timeout and a bounded response body. */
#ifndef AS_HTTP_H
#define AS_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct as_loop;
struct as_http;
struct as_http_call;

#define AS_HTTP_BODY_MAX (1024 * 1024)

struct as_http_req {
    const char *method; /* "GET" if NULL */
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" list, may be NULL */
    const char *body;           /* may be NULL */
    int64_t timeout_ms;         /* whole transfer; required > 0 */
    int insecure;               /* 1 disables TLS verification (default: verify) */
    const char *ca_file;        /* extra CA bundle, may be NULL */
    size_t max_body;            /* 0 means AS_HTTP_BODY_MAX */
};

struct as_http_resp {
    int ok;           /* transfer completed and a status line arrived */
    long status;      /* HTTP status, 0 when !ok */
    const char *body; /* NUL-terminated, borrowed for the callback only */
    size_t len;
    int truncated; /* body exceeded max_body: treat as failed */
    int timed_out;
    const char *error; /* transport error text when !ok, borrowed */
    int64_t elapsed_ms;
};

typedef void (*as_http_cb)(const struct as_http_resp *resp, void *arg);

/* NULL on failure. One per loop; free after all calls finished or were cancelled. */
struct as_http *as_http_new(struct as_loop *loop);
void as_http_free(struct as_http *http);

/* Starts a request (every field is copied). cb runs exactly once, from the loop, unless the
 * call is cancelled first. Returns a handle valid until cb runs, or NULL on setup failure
 * (cb is not called then). */
struct as_http_call *as_http_start(struct as_http *http, const struct as_http_req *req,
                                   as_http_cb cb, void *arg);

/* Aborts a call in flight; its callback is not run. NULL is a no-op. */
void as_http_cancel(struct as_http_call *call);

/* Whether url is one the client takes: http:// or https://. */
int as_http_url_ok(const char *url);

/* Number of calls in flight. */
size_t as_http_active(const struct as_http *http);

#endif
