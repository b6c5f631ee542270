/* Notifier `webhook`: each event as a JSON POST (the event's fields and the rendered text under
 * `text_key`, "text" by default, which Slack, Mattermost and Rocket.Chat incoming webhooks
 * show; "content" for Discord) through the shared HTTP client, the event's group as the
 * request's owner. 2xx delivers; 408, 425, 429, 5xx, timeouts and transport errors are
 * retried by the dispatcher; any other status is permanent. Headers (a token) and the URL
 * (a Slack webhook URL is a secret) may come from references: the log masks them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/event.h"
#include "util/http.h"
#include "util/log.h"

struct webhook {
    char *url, *method, *text_key, *ca_file;
    char **headers;
    int insecure;
    /* runtime */
    struct as_ctx ctx;
    char **req_headers;
    struct as_http_call *call;
    struct as_timer *deferred;
    as_notify_cb done;
    void *arg;
};

static const struct as_opt opts[] = {
    {"url", AS_OPT_STR, offsetof(struct webhook, url), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Where each event is sent (http:// or https://), e.g. ${env:SLACK_WEBHOOK_URL}."},
    {"method", AS_OPT_STR, offsetof(struct webhook, method), "POST", AS_NO_BOUNDS, 0, NULL,
     "POST or PUT."},
    {"headers", AS_OPT_HEADERS, offsetof(struct webhook, headers), NULL, AS_NO_BOUNDS, 0, NULL,
     "Extra headers, e.g. {Authorization: \"Bearer ${env:HOOK_TOKEN}\"}. Content-Type "
     "defaults to application/json."},
    {"text_key", AS_OPT_STR, offsetof(struct webhook, text_key), "text", AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "The member of the JSON body that holds the rendered text (Slack: text, Discord: "
     "content)."},
    {"insecure_skip_verify", AS_OPT_BOOL, offsetof(struct webhook, insecure), "false", AS_NO_BOUNDS,
     0, NULL, "Skip TLS certificate verification."},
    {"ca_file", AS_OPT_STR, offsetof(struct webhook, ca_file), NULL, AS_NO_BOUNDS, 0, NULL,
     "CA bundle for TLS verification."},
    AS_OPT_END,
};

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct webhook *w = state;
    const char *key = NULL, *msg = NULL;
    if (!as_http_url_ok(w->url))
        key = "url", msg = "'url' must start with http:// or https://";
    else if (strcmp(w->method, "POST") != 0 && strcmp(w->method, "PUT") != 0)
        key = "method", msg = "'method' must be POST or PUT";
    if (key == NULL)
        return 0;
    return as_err_key(err, map, key, "%s", msg);
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct webhook *w = state;
    size_t n = 0;
    int has_type = 0;
    w->ctx = *ctx;
    if (ctx->http == NULL)
        return as_err_set(err, "no HTTP client");
    for (; w->headers && w->headers[n]; n++)
        if (strncasecmp(w->headers[n], "content-type:", 13) == 0)
            has_type = 1;
    w->req_headers = calloc(n + 2, sizeof(char *));
    if (w->req_headers == NULL)
        return as_err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++)
        w->req_headers[i] = w->headers[i];
    if (!has_type)
        w->req_headers[n] = "Content-Type: application/json";
    return 0;
}

static void finish(struct webhook *w, const struct as_notify_result *r)
{
    as_notify_cb done = w->done;
    w->done = NULL;
    done(r, w->arg);
}

static int transient(long status)
{
    return status >= 500 || status == 408 || status == 425 || status == 429;
}

static void on_resp(const struct as_http_resp *resp, void *arg)
{
    struct webhook *w = arg;
    struct as_notify_result r = {.ok = 0};
    w->call = NULL;
    if (!resp->ok) {
        snprintf(r.error, sizeof(r.error), "%s", resp->error ? resp->error : "transport error");
    } else if (resp->status >= 200 && resp->status <= 299) {
        r.ok = 1;
    } else {
        char snippet[161];
        r.permanent = !transient(resp->status);
        snprintf(r.error, sizeof(r.error), "HTTP %ld: %s", resp->status,
                 as_printable(resp->body, resp->len, snippet, sizeof(snippet)));
    }
    finish(w, &r);
}

static void fail_soon(struct webhook *w, const char *why)
{
    struct as_notify_result r = {.ok = 0};
    snprintf(r.error, sizeof(r.error), "%s", why);
    as_notify_cb done = w->done;
    w->done = NULL;
    if (as_defer_notify(w->ctx.loop, &w->deferred, done, &r, w->arg) < 0)
        AS_LOG(AS_ERROR, "notify/webhook[%s]: out of memory reporting: %s", w->ctx.name, why);
}

static void deliver(void *state, const struct as_ev *ev, const char *text, as_notify_cb done,
                    void *arg)
{
    struct webhook *w = state;
    w->done = done;
    w->arg = arg;
    json_t *doc = as_ev_json(ev, w->ctx.name, text, w->text_key);
    char *body = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(doc);
    if (body == NULL) {
        fail_soon(w, "out of memory");
        return;
    }
    struct as_http_req req = {.method = w->method,
                              .url = w->url,
                              .owner = ev->group,
                              .headers = (const char *const *)w->req_headers,
                              .body = body,
                              .timeout_ms = w->ctx.timeout_ms,
                              .insecure = w->insecure,
                              .ca_file = w->ca_file,
                              .max_body = 64 * 1024};
    w->call = as_http_start(w->ctx.http, &req, on_resp, w);
    free(body);
    if (w->call == NULL)
        fail_soon(w, "cannot start the request (out of memory)");
}

static void cancel(void *state)
{
    struct webhook *w = state;
    as_http_cancel(w->call);
    w->call = NULL;
    as_defer_cancel(w->ctx.loop, &w->deferred);
    w->done = NULL;
}

static void stop(void *state)
{
    struct webhook *w = state;
    if (w->ctx.loop != NULL)
        cancel(w);
    free(w->req_headers);
    w->req_headers = NULL;
}

const struct as_notifier_ops as_notifier_webhook = {
    .name = "webhook",
    .opts = opts,
    .state_size = sizeof(struct webhook),
    .summary = "POSTs each event as JSON (its fields, and the rendered text under `text_key`: "
               "a Slack-compatible `text` by default) to a URL.",
    .template = "{{summary}}{{#repeats}} (and {{repeats}} more like it){{/repeats}}",
    .validate = validate,
    .start = start,
    .deliver = deliver,
    .cancel = cancel,
    .stop = stop,
};
