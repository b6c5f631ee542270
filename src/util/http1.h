/* An HTTP/1.x response read incrementally, as bytes arrive on a connection: the status line,
 * the headers the client cares about, and the body by Content-Length, chunked coding, or up
 * to the connection's end (RFC 9112). Used by the HTTP/1.1 connections of util/h1.c (the
 * polls util/http_plain.c sends without libcurl, a load test's requests). Lines are read in
 * place; only a line split across two reads is copied, into a buffer allocated the first
 * time that happens. The body goes to a callback.
 *
 * Three outcomes besides "more bytes please": done, malformed (error, the answer cannot be
 * trusted: libcurl would fail it too) and unsupported (a well-formed answer this reader does
 * not decode, such as a Content-Encoding: the caller reads that origin through libcurl). */
#ifndef AS_HTTP1_H
#define AS_HTTP1_H

#include <stddef.h>
#include <stdint.h>

/* Bounds: one header line, and the status line and headers of a response together (1xx
 * answers included). */
#define AS_HTTP1_LINE_MAX 8192
#define AS_HTTP1_HEAD_MAX (64 * 1024)

enum as_http1_result {
    AS_HTTP1_MORE,        /* every byte given was taken: more are needed */
    AS_HTTP1_DONE,        /* the response ended; *used says where (the rest is not its) */
    AS_HTTP1_ERROR,       /* malformed: error says why */
    AS_HTTP1_UNSUPPORTED, /* well formed, but not for this reader: error says what */
};

/* Called with body bytes as they come (decoded from chunks). Returns 0, or -1 to stop: the
 * feed then returns AS_HTTP1_ERROR with error "body refused". */
typedef int (*as_http1_body_fn)(const char *data, size_t len, void *arg);

struct as_http1 {
    /* Results, valid once the status line (status) or the headers (the rest) were read. */
    int status;     /* 100-599 */
    int keep_alive; /* the connection may carry the next request once this one is done */
    const char *error;
    /* The header the caller asked for (want, case-insensitive): how many times it came, and
     * its value (the first one's, OWS trimmed, NUL-terminated) while it came once. */
    const char *want;
    size_t want_count;
    char want_value[256];
    int want_cut; /* the value was longer than want_value: treated as absent */

    /* The state of the reader. */
    int state;
    int minor;   /* HTTP/1.minor */
    int chunked; /* Transfer-Encoding: chunked */
    int has_length;
    int keep_10;   /* Connection: keep-alive (for an HTTP/1.0 answer) */
    uint64_t left; /* bytes of the body or of the current chunk still to come */
    size_t head;   /* bytes of status lines and headers so far */
    size_t line_len;
    char *line; /* AS_HTTP1_LINE_MAX bytes once a line came in two pieces; as_http1_free */
};

/* Whether c may be in a header's name: RFC 9110's tchar. */
int as_http1_tchar(int c);

/* Whether s (n bytes) may be a header's value or a status line's reason: no control byte
 * but tab, no DEL (RFC 9110's field-content, obs-text allowed). */
int as_http1_field_text(const char *s, size_t n);

/* Ready for a response (want: a header to report, may be NULL; borrowed). Zero-initialise p
 * before its first init; init again for each response. */
void as_http1_init(struct as_http1 *p, const char *want);

/* Frees the line buffer, if any. */
void as_http1_free(struct as_http1 *p);

/* Takes up to len bytes; body bytes go to body(arg) (NULL: dropped). Returns the outcome; on
 * AS_HTTP1_DONE *used is the number of bytes this response took (less than len when more
 * followed). Out of memory for a split line is an AS_HTTP1_ERROR. */
enum as_http1_result as_http1_feed(struct as_http1 *p, const char *data, size_t len, size_t *used,
                                   as_http1_body_fn body, void *arg);

/* The connection ended (the peer closed it): AS_HTTP1_DONE when that ends a body read to the
 * close, AS_HTTP1_ERROR otherwise (error: what was missing). */
enum as_http1_result as_http1_eof(struct as_http1 *p);

/* Whether any byte of the response has been taken. */
int as_http1_started(const struct as_http1 *p);

#endif
