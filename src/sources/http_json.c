/* Source `http_json`: one number from an HTTP endpoint's JSON body, found by an RFC 6901
 * pointer; optionally the current replica count from a second pointer.
 * Failed measurement: transport error, timeout, non-2xx, non-JSON, missing pointer,
 * non-numeric (a string too, unless numeric_strings allows decimal ones), non-finite or
 * negative value. Never read as zero. Requests are the group's own (owner = group) for the
 * HTTP client's per-group connection limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/http.h"
#include "util/json.h"
#include "util/log.h"
#include "core/plugin.h"

struct http_json {
    char *url, *method, *body, *pointer, *replicas_pointer, *ca_file;
    char **headers;
    int insecure, numeric_strings;
    /* runtime */
    struct as_ctx ctx;
    char **req_headers; /* headers plus Accept */
    struct as_http_call *call;
    struct as_timer *deferred;
    as_measure_cb done;
    void *arg;
};

static const char *const methods[] = {"GET", "POST", NULL};

static const struct as_opt opts[] = {
    {"url", AS_OPT_STR, offsetof(struct http_json, url), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL, "Endpoint, http:// or https://."},
    {"method", AS_OPT_STR, offsetof(struct http_json, method), "GET", AS_NO_BOUNDS, 0, NULL,
     "GET or POST."},
    {"headers", AS_OPT_HEADERS, offsetof(struct http_json, headers), NULL, AS_NO_BOUNDS, 0, NULL,
     "Extra request headers (name: value). Put tokens in via ${env:...} or ${file:...}."},
    {"body", AS_OPT_STR, offsetof(struct http_json, body), NULL, AS_NO_BOUNDS, 0, NULL,
     "Request body for POST."},
    {"pointer", AS_OPT_STR, offsetof(struct http_json, pointer), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED, NULL, "RFC 6901 JSON pointer to the number, e.g. /cpu/highPriority."},
    {"replicas_pointer", AS_OPT_STR, offsetof(struct http_json, replicas_pointer), NULL,
     AS_NO_BOUNDS, 0, NULL, "JSON pointer to the current replica count, e.g. /replicas."},
    {"numeric_strings", AS_OPT_BOOL, offsetof(struct http_json, numeric_strings), "false",
     AS_NO_BOUNDS, 0, NULL,
     "Also accept a JSON string holding a decimal number (\"0.5\", as Prometheus sends); "
     "off: only JSON numbers."},
    {"insecure_skip_verify", AS_OPT_BOOL, offsetof(struct http_json, insecure), "false",
     AS_NO_BOUNDS, 0, NULL, "Skip TLS certificate verification (off: verification is on)."},
    {"ca_file", AS_OPT_STR, offsetof(struct http_json, ca_file), NULL, AS_NO_BOUNDS, 0, NULL,
     "CA bundle for TLS verification."},
    AS_OPT_END,
};

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct http_json *s = state;
    const char *bad_key = NULL;
    if (!as_http_url_ok(s->url)) {
        as_err_set(err, "'url' must start with http:// or https://");
        bad_key = "url";
    } else if (as_json_pointer_check(s->pointer, err) < 0)
        bad_key = "pointer";
    else if (s->replicas_pointer && as_json_pointer_check(s->replicas_pointer, err) < 0)
        bad_key = "replicas_pointer";
    else if (strcmp(s->method, methods[0]) != 0 && strcmp(s->method, methods[1]) != 0) {
        as_err_set(err, "'method' must be GET or POST");
        bad_key = "method";
    }
    if (bad_key == NULL)
        return 0;
    return as_err_key(err, map, bad_key, "%s", err->msg);
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct http_json *s = state;
    s->ctx = *ctx;
    size_t n = 0;
    while (s->headers && s->headers[n])
        n++;
    s->req_headers = calloc(n + 2, sizeof(char *));
    if (s->req_headers == NULL)
        return as_err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++)
        s->req_headers[i] = s->headers[i];
    s->req_headers[n] = "Accept: application/json";
    return 0;
}

static void fail(struct http_json *s, struct as_measurement *m)
{
    char url[256];
    AS_LOG(AS_ERROR, "source/http_json[%s/%s]: %s: %s", s->ctx.group, s->ctx.name,
           as_log_url(s->url, url, sizeof(url)), m->error);
    s->done(m, s->arg);
}

/* The count at replicas_pointer, if any. An unusable one leaves m->replicas at -1 (the count
 * then comes from the scaler) and is logged at WARN with the reason. */
static void read_replicas(struct http_json *s, json_t *doc, unsigned flags,
                          struct as_measurement *m)
{
    struct as_err err;
    as_err_clear(&err);
    if (s->replicas_pointer == NULL ||
        as_json_count_at(doc, s->replicas_pointer, flags, &m->replicas, &err) == 0)
        return;
    AS_LOG(AS_WARN, "source/http_json[%s/%s]: no replica count at %s: %s", s->ctx.group,
           s->ctx.name, s->replicas_pointer, err.msg);
}

static void on_response(const struct as_http_resp *r, void *arg)
{
    struct http_json *s = arg;
    struct as_measurement m = {.ok = 0, .replicas = -1};
    struct as_err err;
    s->call = NULL;
    if (!r->ok) {
        if (r->timed_out)
            snprintf(m.error, sizeof(m.error), "timeout after %lld ms", (long long)r->elapsed_ms);
        else
            snprintf(m.error, sizeof(m.error), "%s", r->error);
        return fail(s, &m);
    }
    if (r->status < 200 || r->status > 299) {
        char snippet[81];
        snprintf(m.error, sizeof(m.error), "HTTP %ld: %s", r->status,
                 as_printable(r->body, r->len, snippet, sizeof(snippet)));
        return fail(s, &m);
    }
    /* The common answer (valid JSON, numbers where the pointers lead) read in one pass with
     * no tree; anything else, and every error, through jansson below. */
    const char *ptrs[2] = {s->pointer, s->replicas_pointer};
    double v[2];
    if (as_json_scan_numbers(r->body, r->len, ptrs, s->replicas_pointer ? 2 : 1, v) && v[0] >= 0 &&
        (s->replicas_pointer == NULL || as_json_count_of(v[1], &m.replicas, NULL) == 0)) {
        m.ok = 1;
        m.value = v[0];
        s->done(&m, s->arg);
        return;
    }
    as_err_clear(&err);
    json_t *doc = as_json_load(r->body, r->len, &err);
    if (doc == NULL) {
        snprintf(m.error, sizeof(m.error), "response is %s", err.msg);
        return fail(s, &m);
    }
    unsigned flags = s->numeric_strings ? AS_JSON_NUMERIC_STRINGS : AS_JSON_NUMBERS_ONLY;
    if (as_json_number_at(doc, s->pointer, flags, &m.value, &err) < 0) {
        snprintf(m.error, sizeof(m.error), "%s", err.msg);
    } else if (m.value < 0) {
        snprintf(m.error, sizeof(m.error), "value at %s is negative (%g)", s->pointer, m.value);
    } else {
        m.ok = 1;
        read_replicas(s, doc, flags, &m);
    }
    json_decref(doc);
    if (!m.ok)
        return fail(s, &m);
    s->done(&m, s->arg);
}

static void measure(void *state, as_measure_cb done, void *arg)
{
    struct http_json *s = state;
    struct as_http_req req = {
        .method = s->method,
        .url = s->url,
        .owner = s->ctx.group,
        .headers = (const char *const *)s->req_headers,
        .body = s->body,
        .timeout_ms = s->ctx.timeout_ms,
        .insecure = s->insecure,
        .ca_file = s->ca_file,
    };
    s->done = done;
    s->arg = arg;
    s->call = as_http_start(s->ctx.http, &req, on_response, s);
    if (s->call == NULL) {
        struct as_measurement m = {.ok = 0, .replicas = -1};
        snprintf(m.error, sizeof(m.error), "cannot start the request");
        if (as_defer_measurement(s->ctx.loop, &s->deferred, done, &m, arg) < 0)
            AS_LOG(AS_ERROR, "source/http_json[%s/%s]: out of memory", s->ctx.group, s->ctx.name);
    }
}

static void cancel(void *state)
{
    struct http_json *s = state;
    as_http_cancel(s->call);
    s->call = NULL;
    as_defer_cancel(s->ctx.loop, &s->deferred);
}

static void stop(void *state)
{
    struct http_json *s = state;
    cancel(s);
    free(s->req_headers);
    s->req_headers = NULL;
}

const struct as_source_ops as_source_http_json = {
    .name = "http_json",
    .opts = opts,
    .state_size = sizeof(struct http_json),
    .summary = "A number in an HTTP endpoint's JSON response, found by an RFC 6901 pointer.",
    .validate = validate,
    .start = start,
    .measure = measure,
    .cancel = cancel,
    .stop = stop,
};
