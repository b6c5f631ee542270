/* Source `http_latency`: the response time of one URL in milliseconds. Each measurement makes
 * `requests` requests (`concurrency` at a time) and reports one statistic of their times
 * (curl's own transfer time), or of the times the server wrote in a response header
 * (`header:`). A request fails on a transport error, its timeout, a status other than 2xx, or
 * (with `header:`) a missing or malformed header; failed requests are left out of the
 * statistic and counted, and above `max_failure_ratio` the measurement fails. Requests are
 * the group's own (owner = group) for the HTTP client's per-group limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/stats.h"
#include "util/svctime.h"
#include "util/util.h"
#include "core/plugin.h"

#define REQUESTS_MAX 1000
#define CONCURRENCY_MAX 64

/* One request in flight; its callback's argument. */
struct slot {
    struct http_latency *s;
    struct as_http_call *call;
};

struct http_latency {
    char *url, *body, *ca_file, *header, *header_key;
    char **headers;
    int method, requests, concurrency, stat, header_unit, insecure;
    double max_failure_ratio;
    int64_t request_timeout_ms;
    /* runtime */
    struct as_ctx ctx;
    struct slot *slots; /* concurrency of them */
    double *samples;    /* requests slots, milliseconds */
    size_t nsamples;
    int started, finished, failed;
    int in_measure; /* measure() is on the stack: the result must be deferred */
    int64_t deadline;
    char error[AS_MSG_MAX]; /* the first failed request's reason */
    struct as_timer *deferred;
    struct as_fault_log fault;
    as_measure_cb done;
    void *arg;
};

static const char *const methods[] = {"GET", "POST", NULL};

static const struct as_opt opts[] = {
    {"url", AS_OPT_STR, offsetof(struct http_latency, url), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL, "The URL to time, http:// or https://."},
    {"method", AS_OPT_ENUM, offsetof(struct http_latency, method), "GET", AS_NO_BOUNDS, 0, methods,
     "Request method."},
    {"headers", AS_OPT_HEADERS, offsetof(struct http_latency, headers), NULL, AS_NO_BOUNDS, 0, NULL,
     "Extra request headers (name: value). Put tokens in via ${env:...} or ${file:...}."},
    {"body", AS_OPT_STR, offsetof(struct http_latency, body), NULL, AS_NO_BOUNDS, 0, NULL,
     "Request body (with POST)."},
    {"requests", AS_OPT_INT, offsetof(struct http_latency, requests), "1", 1, REQUESTS_MAX, 0, NULL,
     "Requests per measurement; the statistic is taken over the ones that succeeded."},
    {"concurrency", AS_OPT_INT, offsetof(struct http_latency, concurrency), "1", 1, CONCURRENCY_MAX,
     0, NULL, "Requests in flight at once (1: one after the other); at most 'requests'."},
    {"stat", AS_OPT_ENUM, offsetof(struct http_latency, stat), "mean", AS_NO_BOUNDS, 0,
     as_stat_names,
     "Statistic of the response times reported, in milliseconds (percentiles by nearest rank)."},
    {"max_failure_ratio", AS_OPT_DOUBLE, offsetof(struct http_latency, max_failure_ratio), "0.1", 0,
     1, 0, NULL,
     "The measurement fails when more than this share of its requests failed (non-2xx, "
     "timeout, transport error, bad header)."},
    {"request_timeout", AS_OPT_DURATION, offsetof(struct http_latency, request_timeout_ms), NULL, 1,
     3600000, 0, NULL,
     "Longest one request may take. Default: the metric's timeout; every request also ends "
     "when the measurement's timeout does."},
    {"header", AS_OPT_STR, offsetof(struct http_latency, header), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "Report the time a response header states (X-Response-Time: 350ms) instead of the "
     "measured one."},
    {"header_key", AS_OPT_STR, offsetof(struct http_latency, header_key), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "With header: the header value is a list of key=value pairs and the time is this key's "
     "value (service for 'connect=1ms service=350ms')."},
    {"header_unit", AS_OPT_ENUM, offsetof(struct http_latency, header_unit), "none", AS_NO_BOUNDS,
     0, as_time_unit_names,
     "With header: the unit of a number written without one (X-Runtime: 0.35 is s); none: a "
     "bare number is a failed request."},
    {"insecure_skip_verify", AS_OPT_BOOL, offsetof(struct http_latency, insecure), "false",
     AS_NO_BOUNDS, 0, NULL, "Skip TLS certificate verification (off: verification is on)."},
    {"ca_file", AS_OPT_STR, offsetof(struct http_latency, ca_file), NULL, AS_NO_BOUNDS, 0, NULL,
     "CA bundle for TLS verification."},
    AS_OPT_END,
};

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct http_latency *s = state;
    char a[16], b[16];
    if (!as_http_url_ok(s->url))
        return as_err_key(err, map, "url", "'url' must start with http:// or https://");
    if (s->concurrency > s->requests) {
        snprintf(a, sizeof(a), "%d", s->concurrency);
        snprintf(b, sizeof(b), "%d", s->requests);
        return as_err_key(err, map, "concurrency", "'concurrency' %s is more than 'requests' %s", a,
                          b);
    }
    if (s->header_key && s->header == NULL)
        return as_err_key(err, map, "header_key", "'header_key' needs 'header'");
    if (s->header_unit != AS_UNIT_NONE && s->header == NULL)
        return as_err_key(err, map, "header_unit", "'header_unit' needs 'header'");
    for (const char *p = s->header; p && *p; p++)
        if (*p <= ' ' || *p == ':' || *p == 0x7f)
            return as_err_key(err, map, "header",
                              "'header' must be a header name (no spaces or ':')");
    return 0;
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct http_latency *s = state;
    s->ctx = *ctx;
    s->slots = calloc((size_t)s->concurrency, sizeof(s->slots[0]));
    s->samples = calloc((size_t)s->requests, sizeof(s->samples[0]));
    if (s->slots == NULL || s->samples == NULL)
        return as_err_set(err, "out of memory");
    for (int i = 0; i < s->concurrency; i++)
        s->slots[i].s = s;
    return 0;
}

/* ---- one measurement ---- */

static void finish(struct http_latency *s)
{
    struct as_measurement m = {.ok = 0, .replicas = -1};
    double ratio = (double)s->failed / s->requests;
    if (s->failed > 0 && (ratio > s->max_failure_ratio || s->nsamples == 0)) {
        snprintf(m.error, sizeof(m.error), "%d of %d requests failed (more than %g): %s", s->failed,
                 s->requests, s->max_failure_ratio, s->error);
        char url[256];
        as_log_fault(&s->fault, AS_ERROR, "source/http_latency[%s/%s]: %s: %s", s->ctx.group,
                     s->ctx.name, as_log_url(s->url, url, sizeof(url)), m.error);
    } else {
        as_stats_sort(s->samples, s->nsamples);
        m.ok = 1;
        m.value = as_stats_of(s->samples, s->nsamples, (enum as_stat)s->stat);
        as_log_recovered(&s->fault, "source/http_latency[%s/%s]: measuring again", s->ctx.group,
                         s->ctx.name);
    }
    as_measure_cb done = s->done;
    s->done = NULL;
    if (!s->in_measure) {
        done(&m, s->arg);
    } else if (as_defer_measurement(s->ctx.loop, &s->deferred, done, &m, s->arg) < 0) {
        AS_LOG(AS_ERROR, "source/http_latency[%s/%s]: out of memory", s->ctx.group, s->ctx.name);
    }
}

static void request_failed(struct http_latency *s, const char *fmt, const char *a, const char *b)
{
    if (s->failed++ == 0)
        snprintf(s->error, sizeof(s->error), fmt, a, b);
}

/* The time the header states, or a failed request. */
static void take_header(struct http_latency *s, const struct as_http_resp *r)
{
    char shown[81], what[160];
    const char *why;
    double ms;
    if (r->header == NULL) {
        request_failed(s,
                       r->header_count > 1 ? "header %s came more than once%s"
                                           : "no header %s in the response%s",
                       s->header, "");
        return;
    }
    if (as_svctime_parse(r->header, strlen(r->header), s->header_key,
                         (enum as_time_unit)s->header_unit, &ms, &why) < 0) {
        snprintf(what, sizeof(what), "header %s: '%s'", s->header,
                 as_printable(r->header, strlen(r->header), shown, sizeof(shown)));
        request_failed(s, "%s: %s", what, why);
        return;
    }
    s->samples[s->nsamples++] = ms;
}

static void take(struct http_latency *s, const struct as_http_resp *r)
{
    char num[32];
    if (!r->ok) {
        snprintf(num, sizeof(num), "%lld", (long long)r->elapsed_ms);
        if (r->timed_out)
            request_failed(s, "timeout after %s ms%s", num, "");
        else
            request_failed(s, "%s%s", r->error ? r->error : "transfer failed", "");
    } else if (r->status < 200 || r->status > 299) {
        snprintf(num, sizeof(num), "%ld", r->status);
        request_failed(s, "HTTP %s%s", num, "");
    } else if (s->header != NULL) {
        take_header(s, r);
    } else {
        s->samples[s->nsamples++] =
            r->total_us >= 0 ? (double)r->total_us / 1000.0 : (double)r->elapsed_ms;
    }
}

static void on_response(const struct as_http_resp *r, void *arg);

/* Starts the next request in slot i, if any is left; one that cannot start counts as failed
 * and the next is tried. */
static void launch(struct http_latency *s, int i)
{
    while (s->started < s->requests) {
        s->started++;
        int64_t left = s->deadline - as_mono_ms();
        if (s->request_timeout_ms > 0 && s->request_timeout_ms < left)
            left = s->request_timeout_ms;
        if (left >= 1) {
            struct as_http_req req = {
                .method = methods[s->method],
                .url = s->url,
                .owner = s->ctx.group,
                .headers = (const char *const *)s->headers,
                .body = s->body,
                .timeout_ms = left,
                .insecure = s->insecure,
                .ca_file = s->ca_file,
                .max_in_flight = (size_t)s->concurrency,
                .header = s->header,
            };
            s->slots[i].call = as_http_start(s->ctx.http, &req, on_response, &s->slots[i]);
            if (s->slots[i].call != NULL)
                return;
            request_failed(s, "cannot start the request%s%s", "", "");
        } else {
            request_failed(s, "no time left within the metric's timeout%s%s", "", "");
        }
        s->finished++;
    }
}

static void on_response(const struct as_http_resp *r, void *arg)
{
    struct slot *slot = arg;
    struct http_latency *s = slot->s;
    slot->call = NULL;
    take(s, r);
    s->finished++;
    launch(s, (int)(slot - s->slots)); /* may count the rest as failed */
    if (s->finished == s->requests)
        finish(s);
}

static void measure(void *state, as_measure_cb done, void *arg)
{
    struct http_latency *s = state;
    s->done = done;
    s->arg = arg;
    s->started = s->finished = s->failed = 0;
    s->nsamples = 0;
    s->error[0] = '\0';
    s->deadline = as_mono_ms() + s->ctx.timeout_ms;
    s->in_measure = 1;
    for (int i = 0; i < s->concurrency; i++)
        launch(s, i);
    if (s->finished == s->requests)
        finish(s);
    s->in_measure = 0;
}

static void cancel(void *state)
{
    struct http_latency *s = state;
    for (int i = 0; s->slots && i < s->concurrency; i++) {
        as_http_cancel(s->slots[i].call);
        s->slots[i].call = NULL;
    }
    as_defer_cancel(s->ctx.loop, &s->deferred);
    s->done = NULL;
}

static void stop(void *state)
{
    struct http_latency *s = state;
    cancel(s);
    free(s->slots);
    free(s->samples);
    s->slots = NULL;
    s->samples = NULL;
}

const struct as_source_ops as_source_http_latency = {
    .name = "http_latency",
    .opts = opts,
    .state_size = sizeof(struct http_latency),
    .summary = "The response time of one URL in milliseconds: a statistic of several requests, "
               "or the time a response header states.",
    .validate = validate,
    .start = start,
    .measure = measure,
    .cancel = cancel,
    .stop = stop,
};
