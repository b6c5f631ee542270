/* Source `rabbitmq`: one queue's depth (ready, unacknowledged or both) or consumer count from
 * the RabbitMQ management HTTP API: GET /api/queues/{vhost}/{queue}?columns=FIELD.
 * Failed measurement: transport error, timeout, 404 (no such queue or vhost), 401 (login
 * failed), any other non-2xx, garbage, the field absent (statistics not collected yet) or not
 * a whole number >= 0. Never read as zero. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/http_api.h"
#include "util/http.h"
#include "util/json.h"
#include "util/log.h"
#include "core/plugin.h"

/* measure: -> the queue object's field. */
static const char *const measures[] = {"ready", "unacked", "total", "consumers", NULL};
static const char *const fields[] = {"messages_ready", "messages_unacknowledged", "messages",
                                     "consumers"};

struct rabbitmq {
    char *url, *vhost, *queue, *username, *password, *ca_file;
    char **headers;
    int measure, insecure;
    /* runtime */
    struct as_ctx ctx;
    char *req_url, *auth;
    char **req_headers;
    char log_url[256];
    struct as_http_call *call;
    struct as_timer *deferred;
    as_measure_cb done;
    void *arg;
    struct as_fault_log fault;
};

static const struct as_opt opts[] = {
    {"url", AS_OPT_STR, offsetof(struct rabbitmq, url), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Management plugin's HTTP API, http:// or https://; /api/queues/... is appended: "
     "http://rabbitmq:15672."},
    {"vhost", AS_OPT_STR, offsetof(struct rabbitmq, vhost), "/", AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL, "Virtual host of the queue (percent-encoded in the URL: / is %2F)."},
    {"queue", AS_OPT_STR, offsetof(struct rabbitmq, queue), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL, "Queue name, e.g. celery."},
    {"measure", AS_OPT_ENUM, offsetof(struct rabbitmq, measure), "total", AS_NO_BOUNDS, 0, measures,
     "total (messages: waiting and being worked on), ready (messages_ready: waiting for a "
     "consumer), unacked (messages_unacknowledged: delivered, not yet acknowledged), or "
     "consumers (the queue's consumer count)."},
    {"username", AS_OPT_STR, offsetof(struct rabbitmq, username), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Management user (HTTP Basic authentication); it needs the monitoring tag or access to "
     "the vhost."},
    {"password", AS_OPT_STR, offsetof(struct rabbitmq, password), NULL, AS_NO_BOUNDS, AS_OPT_SECRET,
     NULL, "Its password, e.g. ${file:/run/secrets/rabbitmq-password}."},
    {"headers", AS_OPT_HEADERS, offsetof(struct rabbitmq, headers), NULL, AS_NO_BOUNDS, 0, NULL,
     "Extra request headers (name: value)."},
    {"insecure_skip_verify", AS_OPT_BOOL, offsetof(struct rabbitmq, insecure), "false",
     AS_NO_BOUNDS, 0, NULL, "Skip TLS certificate verification (off: verification is on)."},
    {"ca_file", AS_OPT_STR, offsetof(struct rabbitmq, ca_file), NULL, AS_NO_BOUNDS, 0, NULL,
     "CA bundle for TLS verification."},
    AS_OPT_END,
};

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct rabbitmq *s = state;
    const char *bad = NULL;
    if (!as_http_url_ok(s->url)) {
        as_err_set(err, "'url' must start with http:// or https://");
        bad = "url";
    } else if (as_api_has_header(s->headers, "Authorization")) {
        as_err_set(err, "'headers' may not set Authorization: username and password do");
        bad = "headers";
    }
    if (bad == NULL)
        return 0;
    return as_err_key(err, map, bad, "%s", err->msg);
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct rabbitmq *s = state;
    s->ctx = *ctx;
    struct as_sb u = {0};
    size_t base = strlen(s->url);
    while (base > 0 && s->url[base - 1] == '/')
        base--;
    if (as_sb_append(&u, s->url, base) < 0 || as_sb_puts(&u, "/api/queues/") < 0 ||
        as_api_encode(&u, s->vhost) < 0 || as_sb_puts(&u, "/") < 0 ||
        as_api_encode(&u, s->queue) < 0)
        goto oom;
    as_log_url(u.buf, s->log_url, sizeof(s->log_url));
    if (as_sb_printf(&u, "?columns=%s", fields[s->measure]) < 0)
        goto oom;
    s->req_url = u.buf;
    s->auth = as_api_basic_auth(s->username, s->password, err);
    if (s->auth == NULL)
        return -1;
    s->req_headers = as_api_headers(s->headers, "Accept: application/json", s->auth, NULL, err);
    return s->req_headers ? 0 : -1;
oom:
    as_sb_free(&u);
    return as_err_set(err, "out of memory");
}

/* The reason of a non-2xx answer: RabbitMQ explains it as {"error": ..., "reason": ...}. */
static void http_error(struct rabbitmq *s, const struct as_http_resp *r, char *buf, size_t len)
{
    struct as_err err;
    char snip[81], e[64], why[96];
    json_t *doc = as_json_load(r->body, r->len, &err);
    const char *error = json_string_value(json_object_get(doc, "error"));
    const char *reason = json_string_value(json_object_get(doc, "reason"));
    const char *detail = as_api_snippet(r, snip, sizeof(snip));
    if (error != NULL) {
        snprintf(snip, sizeof(snip), "%s: %s", as_printable(error, strlen(error), e, sizeof(e)),
                 reason ? as_printable(reason, strlen(reason), why, sizeof(why)) : "");
        detail = snip;
    }
    if (r->status == 404)
        snprintf(buf, len, "HTTP 404: no queue '%s' in vhost '%s' (%s)", s->queue, s->vhost,
                 detail);
    else if (r->status == 401)
        snprintf(buf, len, "HTTP 401: login failed for user '%s' (%s)", s->username, detail);
    else
        snprintf(buf, len, "HTTP %ld: %s", r->status, detail);
    json_decref(doc);
}

/* The field of a 200 answer. */
static void read_field(struct rabbitmq *s, const struct as_http_resp *r, struct as_measurement *m)
{
    struct as_err err;
    as_err_clear(&err);
    const char *field = fields[s->measure];
    json_t *doc = as_json_load(r->body, r->len, &err);
    json_t *v = json_object_get(doc, field);
    if (doc == NULL)
        snprintf(m->error, sizeof(m->error), "response is %s", err.msg);
    else if (json_is_array(doc) && json_array_size(doc) == 0)
        snprintf(m->error, sizeof(m->error),
                 "no statistics for the queue yet (the broker answered [])");
    else if (!json_is_object(doc))
        snprintf(m->error, sizeof(m->error), "response is not a queue object");
    else if (v == NULL)
        snprintf(m->error, sizeof(m->error),
                 "no %s in the answer (the broker has not collected the queue's statistics "
                 "yet)",
                 field);
    else if (!json_is_number(v) || json_number_value(v) < 0 ||
             json_number_value(v) != floor(json_number_value(v)))
        snprintf(m->error, sizeof(m->error), "%s is not a whole number >= 0", field);
    else
        m->ok = 1, m->value = json_number_value(v);
    json_decref(doc);
}

static void on_response(const struct as_http_resp *r, void *arg)
{
    struct rabbitmq *s = arg;
    struct as_measurement m = {.ok = 0, .replicas = -1};
    s->call = NULL;
    if (!r->ok)
        as_api_transport_error(r, m.error, sizeof(m.error));
    else if (r->status < 200 || r->status > 299)
        http_error(s, r, m.error, sizeof(m.error));
    else
        read_field(s, r, &m);
    if (m.ok)
        as_log_recovered(&s->fault, "source/rabbitmq[%s/%s]: measured again", s->ctx.group,
                         s->ctx.name);
    else
        as_log_fault(&s->fault, AS_ERROR, "source/rabbitmq[%s/%s]: %s: %s", s->ctx.group,
                     s->ctx.name, s->log_url, m.error);
    s->done(&m, s->arg);
}

static void measure(void *state, as_measure_cb done, void *arg)
{
    struct rabbitmq *s = state;
    struct as_http_req req = {
        .method = "GET",
        .url = s->req_url,
        .owner = s->ctx.group,
        .headers = (const char *const *)s->req_headers,
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
            AS_LOG(AS_ERROR, "source/rabbitmq[%s/%s]: out of memory", s->ctx.group, s->ctx.name);
    }
}

static void cancel(void *state)
{
    struct rabbitmq *s = state;
    as_http_cancel(s->call);
    s->call = NULL;
    as_defer_cancel(s->ctx.loop, &s->deferred);
}

static void stop(void *state)
{
    struct rabbitmq *s = state;
    cancel(s);
    free(s->req_url);
    free(s->auth);
    free(s->req_headers);
    s->req_url = s->auth = NULL;
    s->req_headers = NULL;
}

const struct as_source_ops as_source_rabbitmq = {
    .name = "rabbitmq",
    .opts = opts,
    .state_size = sizeof(struct rabbitmq),
    .summary = "A RabbitMQ queue's depth (ready, unacked, total) or consumer count, from the "
               "management HTTP API.",
    .validate = validate,
    .start = start,
    .measure = measure,
    .cancel = cancel,
    .stop = stop,
};
