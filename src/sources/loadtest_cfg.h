/* The loadtest source's configuration (sources/loadtest.c): its option table, and the check
 * and parse of `requests` and `report`, which an option table cannot describe. Not a backend:
 * it exports no ops table. */
#ifndef AS_SOURCES_LOADTEST_CFG_H
#define AS_SOURCES_LOADTEST_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"
#include "config/opt.h"
#include "util/err.h"
#include "util/stats.h"

/* report.stat beyond the response time statistics (enum as_stat). */
enum { AS_LT_RPS = AS_STAT_MAX + 1, AS_LT_FAILURE_RATIO };

/* A request ready to send; lives in the block that `host` points to. */
struct lt_req {
    const char *name, *url, *body, *method;
    const char *const *headers; /* NULL-terminated, or NULL */
    int weight_end;             /* the sum of the weights up to this one's */
    int64_t think_ms, think_max_ms;
};

/* The options. After as_loadtest_validate, `host` points to a block that also holds the
 * requests (one allocation, so that freeing the options frees them: a source's state is
 * freed with its option table only). */
struct lt_config {
    char *host, *ca_file;
    int users, insecure;
    double spawn_rate, max_failure_ratio;
    int64_t duration_ms, think_ms, think_max_ms, request_timeout_ms;
    const struct lt_req *reqs;
    int nreqs, total_weight;
    int report_req; /* index in reqs, or -1: all of them */
    int report_stat;
};

/* The option table: offsets into struct lt_config, which must begin the source's state. */
extern const struct as_opt as_loadtest_opts[];

/* Checks the options parsed into c against the metric's map (its timeout, at file:line:col)
 * and parses `requests` and `report` from it. Returns 0 or -1 with err. */
int as_loadtest_validate(struct lt_config *c, struct as_node *map, struct as_err *err);

#endif
