/* The status API's request parsers (docs/api.md): the path and method to a route, each query
 * parameter, the JSON body of an override. Pure and never allocating (the body parser excepted:
 * jansson), so each is fuzzed (tests/fuzz/fuzz_api_request.c). */
#ifndef AS_API_ROUTE_H
#define AS_API_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum as_route_kind {
    AS_R_NONE = 0,  /* no such path: 404 */
    AS_R_DASHBOARD, /* GET / */
    AS_R_ASSET,     /* GET /dashboard.js, /dashboard.css */
    AS_R_METRICS,   /* GET /metrics */
    AS_R_HEALTHZ,   /* GET /healthz */
    AS_R_READYZ,    /* GET /readyz */
    AS_R_INDEX,     /* GET /api/v1 */
    AS_R_STATUS,    /* GET /api/v1/status */
    AS_R_GROUPS,    /* GET /api/v1/groups */
    AS_R_GROUP,     /* GET /api/v1/groups/G */
    AS_R_CONFIG,    /* GET /api/v1/groups/G/config */
    AS_R_DECISIONS, /* GET /api/v1/groups/G/decisions */
    AS_R_ROUNDS,    /* GET /api/v1/groups/G/rounds */
    AS_R_WORKERS,   /* GET /api/v1/groups/G/workers */
    AS_R_QUEUE,     /* GET /api/v1/groups/G/queue */
    AS_R_PAUSE,     /* POST /api/v1/groups/G/pause */
    AS_R_RESUME,    /* POST /api/v1/groups/G/resume */
    AS_R_OVERRIDE,  /* POST (set or clear) or DELETE (clear) /api/v1/groups/G/override */
    AS_R_KINDS
};

#define AS_M_GET 0x1u
#define AS_M_HEAD 0x2u
#define AS_M_POST 0x4u
#define AS_M_DELETE 0x8u

/* Query parameters, each allowed by some routes only. */
#define AS_Q_LIMIT 0x1u  /* limit=N, 1..100000: the newest N entries */
#define AS_Q_SINCE 0x2u  /* since=MS, wall clock ms: only entries after it */
#define AS_Q_METRIC 0x4u /* metric=NAME */

#define AS_ROUTE_NAME_MAX 64

struct as_route {
    enum as_route_kind kind;
    char group[AS_ROUTE_NAME_MAX]; /* the group of /api/v1/groups/G/... */
    char asset[16];                /* "js" or "css" for AS_R_ASSET */
    unsigned method;               /* this request's (AS_M_*; 0 another) */
    unsigned methods;              /* the methods the path takes (the Allow header of a 405) */
    unsigned params;               /* the query parameters it takes */
    int write;                     /* a change: needs the token */
};

/* Routes method and path (as libmicrohttpd passes them: percent-decoded, without the query).
 * Returns 200 with *r filled, 404 (no such path), 405 (the path exists, not with this method:
 * r->methods says which), or 400 (a group name that cannot be one). */
int as_route_parse(const char *method, const char *path, struct as_route *r);

/* "GET, HEAD" for a methods mask, into buf. Returns buf. */
const char *as_route_allow(unsigned methods, char *buf, size_t len);

struct as_query {
    unsigned given; /* AS_Q_* */
    long limit;
    int64_t since;
    char metric[AS_ROUTE_NAME_MAX];
};

/* Takes one query parameter for a route that accepts `allowed`. Returns 0, or -1 with
 * err->msg (an unknown or repeated parameter, a value out of range). value may be NULL (a key
 * without '='). */
int as_query_set(struct as_query *q, unsigned allowed, const char *key, const char *value,
                 struct as_err *err);

/* The body of POST .../override: {"replicas": N} (0..1000000) sets, {"replicas": null} clears,
 * nothing else. Returns 0 with *replicas (-1: clear), or -1 with err->msg. */
int as_override_parse(const char *body, size_t len, int *replicas, struct as_err *err);

/* Whether s is a group or metric name as the configuration allows (1-63 of A-Z a-z 0-9 _ . -). */
int as_route_name_ok(const char *s, size_t len);

#endif
