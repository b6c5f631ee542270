/* Scaler `http`: sets the replica count through any HTTP API and reads it back.
 *   set: METHOD url with a body template ({{replicas}}, {{group}}); 200/201/202/204 succeed;
 *        5xx, 408, 425, 429, timeouts and transport errors are transient (the engine retries
 *        with backoff and re-reads first); any other status is permanent and its body logged.
 *   get: GET get_url, the count at get_pointer: a JSON number, whole, 0..INT_MAX (the engine
 *        applies the group's count_max).
 * Requests are the group's own (owner = group) for the HTTP client's per-group limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/http.h"
#include "util/json.h"
#include "util/log.h"
#include "core/plugin.h"

struct http_scaler {
    char *url, *method, *body, *get_url, *get_pointer, *ca_file;
    char **headers;
    int insecure;
    /* runtime */
    struct as_ctx ctx;
    char **set_headers, **get_headers;
    struct as_http_call *call;
    struct as_timer *deferred;
    int want;
    as_scale_cb done;
    void *arg;
};

static const struct as_opt opts[] = {
    {"url", AS_OPT_STR, offsetof(struct http_scaler, url), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Where the count is set; {{replicas}} and {{group}} are substituted."},
    {"method", AS_OPT_STR, offsetof(struct http_scaler, method), "PUT", AS_NO_BOUNDS, 0, NULL,
     "PUT, POST or PATCH."},
    {"body", AS_OPT_STR, offsetof(struct http_scaler, body), "{\"replicas\":{{replicas}}}",
     AS_NO_BOUNDS, 0, NULL, "Body template; {{replicas}} and {{group}} are substituted."},
    {"headers", AS_OPT_HEADERS, offsetof(struct http_scaler, headers), NULL, AS_NO_BOUNDS, 0, NULL,
     "Extra headers for both calls. Content-Type defaults to application/json."},
    {"get_url", AS_OPT_STR, offsetof(struct http_scaler, get_url), NULL, AS_NO_BOUNDS, 0, NULL,
     "Where the current count is read (GET). Without it the count comes from a metric's "
     "replicas_pointer or the last count set."},
    {"get_pointer", AS_OPT_STR, offsetof(struct http_scaler, get_pointer), "/replicas",
     AS_NO_BOUNDS, 0, NULL, "JSON pointer to the count in the get_url response."},
    {"insecure_skip_verify", AS_OPT_BOOL, offsetof(struct http_scaler, insecure), "false",
     AS_NO_BOUNDS, 0, NULL, "Skip TLS certificate verification."},
    {"ca_file", AS_OPT_STR, offsetof(struct http_scaler, ca_file), NULL, AS_NO_BOUNDS, 0, NULL,
     "CA bundle for TLS verification."},
    AS_OPT_END,
};

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct http_scaler *s = state;
    const char *key = NULL, *msg = NULL;
    if (!as_http_url_ok(s->url))
        key = "url", msg = "'url' must start with http:// or https://";
    else if (s->get_url && !as_http_url_ok(s->get_url))
        key = "get_url", msg = "'get_url' must start with http:// or https://";
    else if (as_json_pointer_check(s->get_pointer, err) < 0)
        key = "get_pointer", msg = "'get_pointer' is not a JSON pointer (RFC 6901)";
    else if (strcmp(s->method, "PUT") != 0 && strcmp(s->method, "POST") != 0 &&
             strcmp(s->method, "PATCH") != 0)
        key = "method", msg = "'method' must be PUT, POST or PATCH";
    if (key == NULL)
        return 0;
    return as_err_key(err, map, key, "%s", msg);
}

static char **header_list(char **extra, const char *add, const char *unless)
{
    size_t n = 0;
    int has = 0;
    for (; extra && extra[n]; n++)
        if (unless && strncasecmp(extra[n], unless, strlen(unless)) == 0)
            has = 1;
    char **list = calloc(n + 2, sizeof(char *));
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        list[i] = extra[i];
    if (!has)
        list[n] = (char *)add;
    return list;
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct http_scaler *s = state;
    s->ctx = *ctx;
    s->set_headers = header_list(s->headers, "Content-Type: application/json", "content-type:");
    s->get_headers = header_list(s->headers, "Accept: application/json", "accept:");
    if (s->set_headers == NULL || s->get_headers == NULL)
        return as_err_set(err, "out of memory");
    return 0;
}

static int transient(long status)
{
    return status >= 500 || status == 408 || status == 425 || status == 429;
}

static void finish(struct http_scaler *s, struct as_scale_result *r)
{
    as_scale_cb done = s->done;
    s->done = NULL;
    done(r, s->arg);
}

static void transport_error(const struct as_http_resp *resp, struct as_scale_result *r)
{
    if (resp->timed_out)
        snprintf(r->error, sizeof(r->error), "timeout after %lld ms", (long long)resp->elapsed_ms);
    else
        snprintf(r->error, sizeof(r->error), "%s", resp->error);
}

static void on_set(const struct as_http_resp *resp, void *arg)
{
    struct http_scaler *s = arg;
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    s->call = NULL;
    if (!resp->ok) {
        transport_error(resp, &r);
    } else if (resp->status == 200 || resp->status == 201 || resp->status == 202 ||
               resp->status == 204) {
        r.ok = 1;
        r.replicas = s->want;
    } else {
        char snippet[161];
        r.permanent = !transient(resp->status);
        snprintf(r.error, sizeof(r.error), "HTTP %ld: %s", resp->status,
                 as_printable(resp->body, resp->len, snippet, sizeof(snippet)));
    }
    finish(s, &r);
}

/* The count at get_pointer: a JSON number (never a string), whole, 0..INT_MAX. */
static void read_count(struct http_scaler *s, const struct as_http_resp *resp,
                       struct as_scale_result *r)
{
    struct as_err err;
    as_err_clear(&err);
    json_t *doc = as_json_load(resp->body, resp->len, &err);
    int rc =
        doc ? as_json_count_at(doc, s->get_pointer, AS_JSON_NUMBERS_ONLY, &r->replicas, &err) : -1;
    json_decref(doc);
    if (rc == 0) {
        r->ok = 1;
    } else {
        r->replicas = -1;
        snprintf(r->error, sizeof(r->error), "%s%s", doc ? "" : "response is ", err.msg);
    }
}

static void on_get(const struct as_http_resp *resp, void *arg)
{
    struct http_scaler *s = arg;
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    s->call = NULL;
    if (!resp->ok) {
        transport_error(resp, &r);
    } else if (resp->status < 200 || resp->status > 299) {
        char snippet[81];
        r.permanent = !transient(resp->status);
        snprintf(r.error, sizeof(r.error), "HTTP %ld: %s", resp->status,
                 as_printable(resp->body, resp->len, snippet, sizeof(snippet)));
    } else {
        read_count(s, resp, &r);
    }
    finish(s, &r);
}

static void start_call(struct http_scaler *s, const struct as_http_req *req, as_http_cb cb,
                       as_scale_cb done, void *arg)
{
    s->done = done;
    s->arg = arg;
    s->call = req->url ? as_http_start(s->ctx.http, req, cb, s) : NULL;
    if (s->call != NULL)
        return;
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    snprintf(r.error, sizeof(r.error), "cannot start the request (out of memory)");
    if (as_defer_scale(s->ctx.loop, &s->deferred, done, &r, arg) < 0)
        AS_LOG(AS_ERROR, "scaler/http[%s]: out of memory reporting a failure", s->ctx.group);
}

static void get(void *state, as_scale_cb done, void *arg)
{
    struct http_scaler *s = state;
    struct as_http_req req = {.url = s->get_url,
                              .owner = s->ctx.group,
                              .headers = (const char *const *)s->get_headers,
                              .timeout_ms = s->ctx.timeout_ms,
                              .insecure = s->insecure,
                              .ca_file = s->ca_file};
    start_call(s, &req, on_get, done, arg);
}

static void set(void *state, int want, as_scale_cb done, void *arg)
{
    struct http_scaler *s = state;
    char replicas[16];
    snprintf(replicas, sizeof(replicas), "%d", want);
    const char *keys[] = {"replicas", "group"};
    const char *values[] = {replicas, s->ctx.group};
    char *url = as_template(s->url, keys, values, 2);
    char *body = as_template(s->body, keys, values, 2);
    struct as_http_req req = {.method = s->method,
                              .url = body ? url : NULL,
                              .owner = s->ctx.group,
                              .headers = (const char *const *)s->set_headers,
                              .body = body,
                              .timeout_ms = s->ctx.timeout_ms,
                              .insecure = s->insecure,
                              .ca_file = s->ca_file};
    s->want = want;
    start_call(s, &req, on_set, done, arg);
    free(url);
    free(body);
}

static void cancel(void *state)
{
    struct http_scaler *s = state;
    as_http_cancel(s->call);
    s->call = NULL;
    as_defer_cancel(s->ctx.loop, &s->deferred);
    s->done = NULL;
}

static void stop(void *state, as_stopped_cb done, void *arg)
{
    struct http_scaler *s = state;
    cancel(s);
    free(s->set_headers);
    free(s->get_headers);
    s->set_headers = s->get_headers = NULL;
    done(arg);
}

static int can_get(const void *state)
{
    const struct http_scaler *s = state;
    return s->get_url != NULL;
}

const struct as_scaler_ops as_scaler_http = {
    .name = "http",
    .opts = opts,
    .state_size = sizeof(struct http_scaler),
    .summary = "Sets the replica count through any HTTP API (PUT/POST/PATCH with a body "
               "template) and reads it back with a GET and a JSON pointer.",
    .validate = validate,
    .start = start,
    .get = get,
    .can_get = can_get,
    .set = set,
    .cancel = cancel,
    .stop = stop,
};
