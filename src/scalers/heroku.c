/* Scaler `heroku`: the dyno count of one process type of a Heroku app, through the Platform
 * API's formation (https://devcenter.heroku.com/articles/platform-api-reference#formation):
 *   get: GET  {api_url}/apps/{app}/formation/{process_type}  -> the formation's "quantity"
 *   set: PATCH the same URL with {"quantity": N} (and "size" when configured)
 * Every call sends Accept: application/vnd.heroku+json; version=3 and Authorization: Bearer
 * TOKEN. Errors are Heroku's {"id", "message"} objects: 3xx and 4xx are permanent but 408, 409,
 * 425 and 429; 5xx, timeouts and transport errors are transient (the engine retries).
 * Rate limits: every answer's RateLimit-Remaining is read; while fewer than
 * `rate_limit_reserve` tokens are left (or after a 429) calls are held, failing transiently at
 * once with the reason, until the pool has had time to refill (75 tokens a minute). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/http.h"
#include "util/json.h"
#include "util/log.h"
#include "util/util.h"
#include "core/plugin.h"
#include "scalers/heroku.h"

#define ACCEPT "Accept: application/vnd.heroku+json; version=3"

struct heroku {
    char *app, *process_type, *token, *api_url, *size, *ca_file;
    int reserve;
    /* runtime */
    struct as_ctx ctx;
    char *url, *auth;
    const char *get_headers[3], *set_headers[4];
    struct as_http_call *call;
    struct as_timer *deferred;
    as_scale_cb done;
    void *arg;
    long remaining;     /* the last RateLimit-Remaining, -1 none yet */
    int64_t hold_until; /* loop time before which calls are held */
    int64_t hold_ms;    /* how long that hold is */
};

static const struct as_opt opts[] = {
    {"app", AS_OPT_STR, offsetof(struct heroku, app), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL, "The app's name or id."},
    {"process_type", AS_OPT_STR, offsetof(struct heroku, process_type), "web", AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "The formation to scale: a process type of the Procfile (web, worker, ...) or its id."},
    {"token", AS_OPT_STR, offsetof(struct heroku, token), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY | AS_OPT_SECRET, NULL,
     "API key or OAuth token, sent as Authorization: Bearer TOKEN, e.g. "
     "${env:HEROKU_API_KEY}."},
    {"api_url", AS_OPT_STR, offsetof(struct heroku, api_url), "https://api.heroku.com",
     AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL, "The Platform API's base URL (a proxy, a test server)."},
    {"size", AS_OPT_STR, offsetof(struct heroku, size), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL,
     "Dyno size sent with every update (standard-1X, performance-L, ...); default: keep it."},
    {"rate_limit_reserve", AS_OPT_INT, offsetof(struct heroku, reserve), "10", 0, 4500, 0, NULL,
     "Request tokens of the account's pool left to others: below it, calls wait for the pool "
     "to refill."},
    {"ca_file", AS_OPT_STR, offsetof(struct heroku, ca_file), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL, "CA bundle for TLS verification (a proxy's); default: the system's."},
    AS_OPT_END,
};

/* ---- the answers (heroku.h) ---- */

int as_heroku_quantity(const char *body, size_t len, int *out, struct as_err *err)
{
    struct as_err e;
    as_err_clear(&e);
    json_t *doc = as_json_load(body, len, &e);
    int rc = -1;
    if (doc == NULL)
        as_err_set(err, "response is %s", e.msg);
    else if (!json_is_object(doc))
        as_err_set(err, "response is not a formation: not a JSON object");
    else if (as_json_count_at(doc, "/quantity", AS_JSON_NUMBERS_ONLY, out, &e) < 0)
        as_err_set(err, "response is not a formation: %s", e.msg);
    else
        rc = 0;
    json_decref(doc);
    return rc;
}

void as_heroku_reason(long status, const char *body, size_t blen, char *buf, size_t len)
{
    char text[161];
    struct as_err e;
    json_t *doc = as_json_load(body, blen, &e);
    json_t *id = json_object_get(doc, "id"), *msg = json_object_get(doc, "message");
    if (json_is_string(id) && json_is_string(msg)) {
        char idp[41];
        as_printable(json_string_value(id), json_string_length(id), idp, sizeof(idp));
        as_printable(json_string_value(msg), json_string_length(msg), text, sizeof(text));
        snprintf(buf, len, "HTTP %ld %s: %s", status, idp, text);
    } else {
        snprintf(buf, len, "HTTP %ld: %s", status, as_printable(body, blen, text, 81));
    }
    json_decref(doc);
}

int as_heroku_permanent(long status)
{
    if (status >= 500 || status == 408 || status == 409 || status == 425 || status == 429)
        return 0;
    return status < 200 || status >= 300;
}

long as_heroku_remaining(const char *value)
{
    long n;
    if (value == NULL || value[0] < '0' || value[0] > '9' || as_parse_long(value, &n) < 0)
        return -1;
    return n;
}

int64_t as_heroku_hold_ms(long remaining, int rate_limited, int reserve)
{
    long want = reserve > 0 ? reserve : 1;
    if (rate_limited)
        remaining = 0;
    if (remaining < 0 || remaining >= want)
        return 0;
    return (int64_t)(want - remaining) * AS_HEROKU_TOKEN_MS;
}

/* ---- configuration ---- */

/* Letters, digits and the bytes of `extra` only, 1..max of them. */
static int word_ok(const char *s, const char *extra, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr(extra, *p) != NULL))
            return 0;
    return 1;
}

static const char *check(const struct heroku *s, struct as_err *err)
{
    if (!word_ok(s->app, "-", 100))
        return as_err_set(err, "'app' must be an app's name or id (letters, digits, '-')"), "app";
    if (!word_ok(s->process_type, "-_", 128))
        return as_err_set(err, "'process_type' must be 1 to 128 letters, digits, '-' or '_'"),
               "process_type";
    if (s->size && !word_ok(s->size, "-_", 64))
        return as_err_set(err, "'size' must be a dyno size's name (standard-1X, ...)"), "size";
    if (as_has_control(s->token))
        return as_err_set(err, "'token' holds a control character (a line break?)"), "token";
    if (!as_http_url_ok(s->api_url))
        return as_err_set(err, "'api_url' must start with http:// or https://"), "api_url";
    return NULL;
}

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct heroku *s = state;
    const char *key = check(s, err);
    if (key == NULL)
        return 0;
    return as_err_key(err, map, key, "%s", err->msg);
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct heroku *s = state;
    s->ctx = *ctx;
    s->remaining = -1;
    s->hold_until = 0;
    size_t base = strlen(s->api_url);
    while (base > 0 && s->api_url[base - 1] == '/')
        base--;
    struct as_sb url = {0}, auth = {0};
    if (as_sb_printf(&url, "%.*s/apps/%s/formation/%s", (int)base, s->api_url, s->app,
                     s->process_type) < 0 ||
        as_sb_printf(&auth, "Authorization: Bearer %s", s->token) < 0 ||
        as_log_secret(s->token, strlen(s->token)) < 0) {
        as_sb_free(&url);
        as_sb_free(&auth);
        return as_err_set(err, "out of memory");
    }
    s->url = url.buf;
    s->auth = auth.buf;
    s->get_headers[0] = s->set_headers[0] = ACCEPT;
    s->get_headers[1] = s->set_headers[1] = s->auth;
    s->set_headers[2] = "Content-Type: application/json";
    return 0;
}

/* ---- calls ---- */

static void finish(struct heroku *s, struct as_scale_result *r)
{
    as_scale_cb done = s->done;
    s->done = NULL;
    done(r, s->arg);
}

/* Reads the answer's RateLimit-Remaining and starts a hold when the pool runs low. */
static void note_rate(struct heroku *s, const struct as_http_resp *resp)
{
    long left = resp->header_count == 1 ? as_heroku_remaining(resp->header) : -1;
    int limited = resp->status == 429;
    if (left >= 0)
        s->remaining = left;
    int64_t hold = as_heroku_hold_ms(left, limited, s->reserve);
    if (hold == 0)
        return;
    s->remaining = limited ? 0 : left;
    s->hold_until = as_mono_ms() + hold;
    s->hold_ms = hold;
    char seen[32] = "absent";
    if (left >= 0)
        snprintf(seen, sizeof(seen), "%ld", left);
    AS_LOG(AS_WARN,
           "scaler/heroku[%s]: %s (RateLimit-Remaining %s, reserve %d): holding calls for "
           "%lldms",
           s->ctx.group, limited ? "rate limited (HTTP 429)" : "request tokens running low", seen,
           s->reserve, (long long)hold);
}

/* The common part of both answers: 0 when the answer is a 2xx to read, else r says why. */
static int answer_ok(struct heroku *s, const struct as_http_resp *resp, struct as_scale_result *r)
{
    s->call = NULL;
    *r = (struct as_scale_result){.ok = 0, .replicas = -1};
    if (!resp->ok) {
        if (resp->timed_out)
            snprintf(r->error, sizeof(r->error), "timeout after %lld ms",
                     (long long)resp->elapsed_ms);
        else
            snprintf(r->error, sizeof(r->error), "%s", resp->error);
        return -1;
    }
    note_rate(s, resp);
    if (resp->status >= 200 && resp->status <= 299)
        return 0;
    r->permanent = as_heroku_permanent(resp->status);
    as_heroku_reason(resp->status, resp->body, resp->len, r->error, sizeof(r->error));
    return -1;
}

static void on_get(const struct as_http_resp *resp, void *arg)
{
    struct heroku *s = arg;
    struct as_scale_result r;
    if (answer_ok(s, resp, &r) == 0) {
        struct as_err err;
        as_err_clear(&err);
        if (as_heroku_quantity(resp->body, resp->len, &r.replicas, &err) == 0) {
            r.ok = 1;
        } else {
            r.replicas = -1;
            snprintf(r.error, sizeof(r.error), "%s", err.msg);
        }
    }
    finish(s, &r);
}

static void on_set(const struct as_http_resp *resp, void *arg)
{
    struct heroku *s = arg;
    struct as_scale_result r;
    if (answer_ok(s, resp, &r) == 0) {
        struct as_err err;
        r.ok = 1; /* the quantity now in effect, when the answer says it (the engine reads back) */
        if (as_heroku_quantity(resp->body, resp->len, &r.replicas, &err) < 0)
            r.replicas = -1;
    }
    finish(s, &r);
}

/* Fails a call at once (from the loop): the pool is low, or the call could not start. */
static void fail_now(struct heroku *s, const char *why, as_scale_cb done, void *arg)
{
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    snprintf(r.error, sizeof(r.error), "%s", why);
    if (as_defer_scale(s->ctx.loop, &s->deferred, done, &r, arg) < 0)
        AS_LOG(AS_ERROR, "scaler/heroku[%s]: out of memory reporting a failure", s->ctx.group);
}

/* Starts req, or fails at once while calls are held. */
static void call(struct heroku *s, struct as_http_req *req, as_http_cb cb, as_scale_cb done,
                 void *arg)
{
    if (as_mono_ms() < s->hold_until) {
        /* The same words for the whole hold: the engine logs a repeated failure once. */
        char why[AS_MSG_MAX];
        snprintf(why, sizeof(why),
                 "rate limit: calls held %lldms for the pool to refill (RateLimit-Remaining "
                 "%ld, reserve %d)",
                 (long long)s->hold_ms, s->remaining, s->reserve);
        fail_now(s, why, done, arg);
        return;
    }
    s->done = done;
    s->arg = arg;
    req->owner = s->ctx.group;
    req->timeout_ms = s->ctx.timeout_ms;
    req->ca_file = s->ca_file;
    req->header = "RateLimit-Remaining";
    req->max_body = 64 * 1024;
    s->call = req->body || req->method == NULL ? as_http_start(s->ctx.http, req, cb, s) : NULL;
    if (s->call == NULL) {
        s->done = NULL;
        fail_now(s, "cannot start the request (out of memory)", done, arg);
    }
}

static char *body_for(const struct heroku *s, int want)
{
    struct as_sb b = {0};
    int rc = s->size ? as_sb_printf(&b, "{\"quantity\":%d,\"size\":\"%s\"}", want, s->size)
                     : as_sb_printf(&b, "{\"quantity\":%d}", want);
    if (rc < 0)
        as_sb_free(&b);
    return b.buf;
}

static void get(void *state, as_scale_cb done, void *arg)
{
    struct heroku *s = state;
    struct as_http_req req = {.url = s->url, .headers = s->get_headers};
    call(s, &req, on_get, done, arg);
}

static void set(void *state, int want, as_scale_cb done, void *arg)
{
    struct heroku *s = state;
    char *body = body_for(s, want);
    struct as_http_req req = {
        .method = "PATCH", .url = s->url, .headers = s->set_headers, .body = body};
    call(s, &req, on_set, done, arg);
    free(body);
}

static void describe(void *state, int want, char *buf, size_t len)
{
    const struct heroku *s = state;
    char *body = body_for(s, want);
    snprintf(buf, len, "PATCH %s %s (%s, Authorization: Bearer ***)", s->url, body ? body : "{}",
             ACCEPT);
    free(body);
}

static void cancel(void *state)
{
    struct heroku *s = state;
    as_http_cancel(s->call);
    s->call = NULL;
    as_defer_cancel(s->ctx.loop, &s->deferred);
    s->done = NULL;
}

static void stop(void *state, as_stopped_cb done, void *arg)
{
    struct heroku *s = state;
    if (s->ctx.loop != NULL)
        cancel(s);
    free(s->url);
    free(s->auth);
    s->url = s->auth = NULL;
    done(arg);
}

const struct as_scaler_ops as_scaler_heroku = {
    .name = "heroku",
    .opts = opts,
    .state_size = sizeof(struct heroku),
    .summary = "Sets the dyno count of a Heroku app's process type through the Platform API's "
               "formation (GET/PATCH /apps/{app}/formation/{type}), within its rate limits.",
    .validate = validate,
    .start = start,
    .get = get,
    .set = set,
    .cancel = cancel,
    .stop = stop,
    .describe = describe,
};
