/* The status API's pieces behind the server (src/api/server.c): what a handler answers, and
 * the handlers. Internal to src/api. Everything runs on the loop thread. */
#ifndef AS_API_INTERNAL_H
#define AS_API_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "api/route.h"
#include "config/config.h"
#include "drivers/engine.h"

/* A handler's answer: the server sends it with the headers every answer gets. */
struct as_api_reply {
    int status;
    char *body; /* owned (malloc), len bytes */
    size_t len;
    const char *ctype;                /* static */
    int page;                         /* the dashboard's own files: the page's security headers */
    char allow[40];                   /* a 405's Allow header */
    int challenge;                    /* a 401: WWW-Authenticate */
    struct as_metrics_stream *stream; /* instead of body: written as the client reads it */
};

/* Sets r to doc as JSON (takes the reference; NULL: 500 out of memory). Returns 0. */
int as_api_json(struct as_api_reply *r, int status, json_t *doc);

/* Sets r to {"error": MESSAGE, "status": status}. Returns 0. */
int as_api_error(struct as_api_reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets r to text (copied) with content type ctype. Returns 0. */
int as_api_text(struct as_api_reply *r, int status, const char *ctype, const char *text,
                size_t len);

/* GET /metrics: the Prometheus text format 0.0.4 (api/metrics.c), as a stream. */
void as_api_metrics(struct as_engine *eng, struct as_api_reply *r);

/* The exposition written a piece at a time as it is read: the groups are those of the start,
 * their samples as they are when written. NULL on ENOMEM. */
struct as_metrics_stream *as_metrics_open(struct as_engine *eng);

/* Up to max (> 0) bytes of it into buf: how many, 0 at its end, -1 on ENOMEM. */
ssize_t as_metrics_read(struct as_metrics_stream *s, char *buf, size_t max);

void as_metrics_close(struct as_metrics_stream *s);

/* GET /healthz and /readyz (api/v1.c). */
void as_api_health(struct as_engine *eng, int ready, struct as_api_reply *r);

/* Everything under /api/v1 (api/v1.c). body: the request's (len bytes); who: the client, for
 * the log of a change. */
void as_api_v1(struct as_engine *eng, const struct as_route *route, const struct as_query *q,
               const char *body, size_t len, const char *who, struct as_api_reply *r);

/* The dashboard's files: /, /dashboard.js, /dashboard.css (api/assets.c). */
void as_api_asset(const struct as_route *route, struct as_api_reply *r);

/* A group's configuration in effect as JSON, every key with its value, secrets and every
 * ${...} value redacted (api/config_view.c). NULL on ENOMEM. */
json_t *as_api_config_json(const struct as_config *cfg, const struct as_group_cfg *g);

#endif
