/* Scaler `nomad`: the count of one task group of a Nomad job, through Nomad's Jobs HTTP API
 * (https://developer.hashicorp.com/nomad/api-docs/jobs):
 *   get: GET {address}/v1/job/{job}/scale (Read Job Scale Status): TaskGroups.{group}.Desired,
 *        or with `read: job`, GET {address}/v1/job/{job} (Read Job): TaskGroups[].Count
 *   set: POST {address}/v1/job/{job}/scale (Scale Task Group) with
 *        {"Count": N, "Target": {"Group": G}, "Message": M}
 * with ?namespace= and &region= when configured and the ACL token as X-Nomad-Token. With
 * `allocations: true` a read also lists the group's allocations (GET
 * {address}/v1/job/{job}/allocations, List Job Allocations): their IDs, readiness and age are
 * the `workers` of the round, and a failed listing fails the read. Nomad's
 * errors are plain text: 3xx and 4xx are permanent (403 "Permission denied", 404 "job not
 * found", a count outside the group's scaling block) but 408, 409, 425, 429 and the 400 of a
 * job whose deployment is still active; 5xx, timeouts and transport errors are transient. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/http.h"
#include "util/json.h"
#include "util/log.h"
#include "util/util.h"
#include "core/plugin.h"
#include "scalers/nomad.h"

/* Bounds on what one read takes in: a whole job, a group's allocations (stubs of a few kB). */
#define ALLOCS_BODY_MAX (16 * 1024 * 1024)

struct nomad {
    char *address, *job, *group, *namespace_, *region, *token, *message, *ca_file;
    int policy_override, insecure, read, allocations;
    /* runtime */
    struct as_ctx ctx;
    char *read_url, *scale_url, *allocs_url, *token_header;
    const char *get_headers[3], *set_headers[4];
    struct as_http_call *call;
    struct as_timer *deferred;
    as_scale_cb done;
    void *arg;
    int want;
    int count;                    /* the count read, while the allocations are listed */
    int64_t deadline;             /* of the get or set in flight (both calls of a get share it) */
    struct as_nomad_allocs known; /* the allocations of the last read: the round's workers */
    struct as_fault_log allocs_fault;
};

static const char *const reads[] = {"scale", "job", NULL};

static const struct as_opt opts[] = {
    {"address", AS_OPT_STR, offsetof(struct nomad, address), "http://127.0.0.1:4646", AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL, "The Nomad agent's HTTP API, as NOMAD_ADDR (e.g. ${env:NOMAD_ADDR})."},
    {"job", AS_OPT_STR, offsetof(struct nomad, job), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL, "The job's ID."},
    {"group", AS_OPT_STR, offsetof(struct nomad, group), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL, "The task group whose count is scaled."},
    {"namespace", AS_OPT_STR, offsetof(struct nomad, namespace_), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL, "The job's namespace (?namespace=); default: Nomad's, \"default\"."},
    {"region", AS_OPT_STR, offsetof(struct nomad, region), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL, "The region to forward the calls to (&region=); default: the agent's."},
    {"token", AS_OPT_STR, offsetof(struct nomad, token), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY | AS_OPT_SECRET, NULL,
     "ACL token's secret ID, sent as X-Nomad-Token, e.g. ${env:NOMAD_TOKEN}."},
    {"message", AS_OPT_STR, offsetof(struct nomad, message),
     "scaled to {{replicas}} by autoscaler (group {{group}})", AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL,
     "The scaling event's Message; {{replicas}} and {{group}} are substituted."},
    {"policy_override", AS_OPT_BOOL, offsetof(struct nomad, policy_override), "false", AS_NO_BOUNDS,
     0, NULL, "Send PolicyOverride: override soft-mandatory Sentinel policies."},
    {"read", AS_OPT_ENUM, offsetof(struct nomad, read), "scale", AS_NO_BOUNDS, 0, reads,
     "Where the count is read: scale (GET /v1/job/:job_id/scale, Desired) or job (GET "
     "/v1/job/:job_id, Count)."},
    {"allocations", AS_OPT_BOOL, offsetof(struct nomad, allocations), "false", AS_NO_BOUNDS, 0,
     NULL,
     "Also list the group's allocations at every read (GET /v1/job/:job_id/allocations; needs "
     "read-job): their IDs, readiness (ClientStatus running) and age join per-allocation metric "
     "values and warmup."},
    {"insecure_skip_verify", AS_OPT_BOOL, offsetof(struct nomad, insecure), "false", AS_NO_BOUNDS,
     0, NULL, "Skip TLS certificate verification."},
    {"ca_file", AS_OPT_STR, offsetof(struct nomad, ca_file), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL, "CA bundle for TLS verification (NOMAD_CACERT)."},
    AS_OPT_END,
};

/* ---- requests and answers (nomad.h) ---- */

/* Appends s percent-encoded: all but A-Z a-z 0-9 - . _ ~ become %XX. */
static int encode(struct as_sb *sb, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;
        char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (as_sb_append(sb, plain ? (const char *)p : esc, plain ? 1 : 3) < 0)
            return -1;
    }
    return 0;
}

char *as_nomad_url(const char *address, const char *job, const char *suffix, const char *namespace_,
                   const char *region)
{
    struct as_sb sb = {0};
    size_t n = strlen(address);
    while (n > 0 && address[n - 1] == '/')
        n--;
    int rc = as_sb_append(&sb, address, n);
    rc = rc < 0 ? rc : as_sb_puts(&sb, "/v1/job/");
    rc = rc < 0 ? rc : encode(&sb, job);
    rc = rc < 0 ? rc : as_sb_puts(&sb, suffix);
    if (rc == 0 && namespace_ != NULL)
        rc = as_sb_puts(&sb, "?namespace=") < 0 ? -1 : encode(&sb, namespace_);
    if (rc == 0 && region != NULL)
        rc = as_sb_puts(&sb, namespace_ ? "&region=" : "?region=") < 0 ? -1 : encode(&sb, region);
    if (rc < 0) {
        as_sb_free(&sb);
        return NULL;
    }
    return sb.buf;
}

char *as_nomad_scale_body(int count, const char *group, const char *message, int policy_override)
{
    json_t *o = json_pack("{s:i, s:{s:s}, s:s}", "Count", count, "Target", "Group", group,
                          "Message", message);
    int rc =
        o != NULL && policy_override ? json_object_set_new(o, "PolicyOverride", json_true()) : 0;
    char *text = o && rc == 0 ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

/* "/TaskGroups/<group>/Desired" with the group escaped as RFC 6901 asks. */
static char *desired_pointer(const char *group)
{
    struct as_sb sb = {0};
    int rc = as_sb_puts(&sb, "/TaskGroups/");
    for (const char *p = group; rc == 0 && *p; p++)
        rc = *p == '~'   ? as_sb_puts(&sb, "~0")
             : *p == '/' ? as_sb_puts(&sb, "~1")
                         : as_sb_append(&sb, p, 1);
    if (rc < 0 || as_sb_puts(&sb, "/Desired") < 0) {
        as_sb_free(&sb);
        return NULL;
    }
    return sb.buf;
}

/* Read Job Scale Status: {"JobStopped": false, "TaskGroups": {"<group>": {"Desired": N}}}. */
static int scale_count(json_t *doc, const char *group, int *out, int *permanent, struct as_err *err)
{
    json_t *groups = json_object_get(doc, "TaskGroups");
    if (!json_is_object(groups))
        return as_err_set(err, "response is not a job's scale status: no TaskGroups object");
    if (json_object_get(groups, group) == NULL) {
        *permanent = 1;
        return as_err_set(err, "task group '%.64s' is not in the job", group);
    }
    char *ptr = desired_pointer(group);
    if (ptr == NULL)
        return as_err_set(err, "out of memory");
    int rc = as_json_count_at(doc, ptr, AS_JSON_NUMBERS_ONLY, out, err);
    free(ptr);
    return rc;
}

/* Read Job: {"Stop": false, "TaskGroups": [{"Name": "<group>", "Count": N}, ...]}. */
static int job_count(json_t *doc, const char *group, int *out, int *permanent, struct as_err *err)
{
    json_t *groups = json_object_get(doc, "TaskGroups");
    if (!json_is_array(groups))
        return as_err_set(err, "response is not a job: no TaskGroups array");
    for (size_t i = 0; i < json_array_size(groups); i++) {
        json_t *name = json_object_get(json_array_get(groups, i), "Name");
        if (!json_is_string(name) || strcmp(json_string_value(name), group) != 0)
            continue;
        char ptr[48];
        snprintf(ptr, sizeof(ptr), "/TaskGroups/%zu/Count", i);
        return as_json_count_at(doc, ptr, AS_JSON_NUMBERS_ONLY, out, err);
    }
    *permanent = 1;
    return as_err_set(err, "task group '%.64s' is not in the job", group);
}

int as_nomad_count(enum as_nomad_read read, const char *body, size_t len, const char *group,
                   int *out, int *permanent, struct as_err *err)
{
    struct as_err e;
    as_err_clear(&e);
    *permanent = 0;
    json_t *doc = as_json_load(body, len, &e);
    if (doc == NULL)
        return as_err_set(err, "response is %s", e.msg);
    int rc = -1;
    json_t *stopped = json_object_get(doc, read == AS_NOMAD_READ_SCALE ? "JobStopped" : "Stop");
    if (!json_is_object(doc))
        as_err_set(err, "response is not a job: not a JSON object");
    else if (json_is_true(stopped))
        as_err_set(err, "job is stopped: nothing to scale until it runs again");
    else if (read == AS_NOMAD_READ_SCALE)
        rc = scale_count(doc, group, out, permanent, err);
    else
        rc = job_count(doc, group, out, permanent, err);
    json_decref(doc);
    return rc;
}

void as_nomad_reason(long status, const char *body, size_t blen, char *buf, size_t len)
{
    char text[161];
    while (blen > 0 && (body[blen - 1] == '\n' || body[blen - 1] == '\r' || body[blen - 1] == ' '))
        blen--; /* Go's http.Error ends the text with a newline */
    snprintf(buf, len, "HTTP %ld: %s", status, as_printable(body, blen, text, sizeof(text)));
}

/* Whether the blen bytes at body hold the text s. */
static int holds(const char *body, size_t blen, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= blen; i++)
        if (memcmp(body + i, s, n) == 0)
            return 1;
    return 0;
}

int as_nomad_permanent(long status, const char *body, size_t blen)
{
    if (status >= 500 || status == 408 || status == 409 || status == 425 || status == 429)
        return 0;
    if (status == 400 && holds(body, blen, "active deployment"))
        return 0;
    return status < 200 || status >= 300;
}

/* The string at key of stub, or NULL when it is not one. */
static const char *str_of(json_t *stub, const char *key)
{
    json_t *v = json_object_get(stub, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Whether an allocation in this state is one of the group's replicas (see nomad.h). */
static int alloc_counts(const char *desired, const char *client)
{
    return strcmp(desired, "run") == 0 &&
           (strcmp(client, "pending") == 0 || strcmp(client, "running") == 0 ||
            strcmp(client, "unknown") == 0);
}

/* Keeps one stub of the group (rc 0, or -1 on ENOMEM). */
static int alloc_keep(struct as_nomad_allocs *out, size_t max, const char *id, json_t *stub,
                      const char *client)
{
    if (strlen(id) >= sizeof(out->v[0].id)) {
        out->long_id++;
        return 0;
    }
    if (out->n >= max) {
        out->dropped++;
        return 0;
    }
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 16;
        struct as_nomad_alloc *v = realloc(out->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        out->v = v;
        out->cap = cap;
    }
    struct as_nomad_alloc *a = &out->v[out->n++];
    json_t *created = json_object_get(stub, "CreateTime");
    double ns = json_is_number(created) ? json_number_value(created) : -1;
    a->created_ms = ns >= 0 && ns < 9.2e18 ? (int64_t)(ns / 1e6) : -1;
    a->not_ready = strcmp(client, "running") != 0;
    snprintf(a->id, sizeof(a->id), "%s", id);
    return 0;
}

static int allocs_of(json_t *doc, const char *group, size_t max, struct as_nomad_allocs *out,
                     struct as_err *err)
{
    if (!json_is_array(doc))
        return as_err_set(err, "response is not a list of allocations: not a JSON array");
    for (size_t i = 0; i < json_array_size(doc); i++) {
        json_t *stub = json_array_get(doc, i);
        const char *id = str_of(stub, "ID"), *tg = str_of(stub, "TaskGroup");
        const char *desired = str_of(stub, "DesiredStatus"), *client = str_of(stub, "ClientStatus");
        if (!id || !tg || !desired || !client)
            return as_err_set(err,
                              "allocation %zu has no string ID, TaskGroup, DesiredStatus and "
                              "ClientStatus",
                              i);
        if (strcmp(tg, group) != 0 || !alloc_counts(desired, client))
            continue;
        if (alloc_keep(out, max, id, stub, client) < 0)
            return as_err_set(err, "out of memory");
    }
    return 0;
}

int as_nomad_allocs(const char *body, size_t len, const char *group, size_t max,
                    struct as_nomad_allocs *out, struct as_err *err)
{
    struct as_err e;
    as_err_clear(&e);
    as_nomad_allocs_free(out);
    json_t *doc = as_json_load(body, len, &e);
    if (doc == NULL)
        return as_err_set(err, "response is %s", e.msg);
    int rc = allocs_of(doc, group, max, out, err);
    json_decref(doc);
    if (rc < 0)
        as_nomad_allocs_free(out);
    return rc;
}

void as_nomad_allocs_free(struct as_nomad_allocs *out)
{
    free(out->v);
    *out = (struct as_nomad_allocs){0};
}

/* ---- configuration ---- */

static const char *check(const struct nomad *s, struct as_err *err)
{
    const char *keys[] = {"job", "group", "namespace", "region", "token"};
    const char *values[] = {s->job, s->group, s->namespace_, s->region, s->token};
    for (size_t i = 0; i < AS_ARRAY_LEN(keys); i++)
        if (as_has_control(values[i]))
            return as_err_set(err, "'%s' holds a control character (a line break?)", keys[i]),
                   keys[i];
    if (!as_http_url_ok(s->address))
        return as_err_set(err, "'address' must start with http:// or https://"), "address";
    return NULL;
}

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct nomad *s = state;
    const char *key = check(s, err);
    if (key == NULL)
        return 0;
    return as_err_key(err, map, key, "%s", err->msg);
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct nomad *s = state;
    s->ctx = *ctx;
    const char *suffix = s->read == AS_NOMAD_READ_SCALE ? "/scale" : "";
    s->read_url = as_nomad_url(s->address, s->job, suffix, s->namespace_, s->region);
    s->scale_url = as_nomad_url(s->address, s->job, "/scale", s->namespace_, s->region);
    if (s->allocations)
        s->allocs_url = as_nomad_url(s->address, s->job, "/allocations", s->namespace_, s->region);
    struct as_sb tok = {0};
    if (s->read_url == NULL || s->scale_url == NULL || (s->allocations && !s->allocs_url) ||
        (s->token && (as_sb_printf(&tok, "X-Nomad-Token: %s", s->token) < 0 ||
                      as_log_secret(s->token, strlen(s->token)) < 0))) {
        as_sb_free(&tok);
        return as_err_set(err, "out of memory");
    }
    s->token_header = tok.buf;
    s->get_headers[0] = s->set_headers[0] = "Accept: application/json";
    s->set_headers[1] = "Content-Type: application/json";
    s->get_headers[1] = s->set_headers[2] = s->token_header; /* NULL ends the list */
    return 0;
}

/* ---- calls ---- */

static void finish(struct nomad *s, struct as_scale_result *r)
{
    as_scale_cb done = s->done;
    s->done = NULL;
    done(r, s->arg);
}

/* The common part of both answers: 0 when the answer is a 2xx to read, else r says why. */
static int answer_ok(struct nomad *s, const struct as_http_resp *resp, struct as_scale_result *r)
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
    if (resp->status >= 200 && resp->status <= 299)
        return 0;
    r->permanent = as_nomad_permanent(resp->status, resp->body, resp->len);
    as_nomad_reason(resp->status, resp->body, resp->len, r->error, sizeof(r->error));
    return -1;
}

static void call(struct nomad *s, struct as_http_req *req, as_http_cb cb, as_scale_cb done,
                 void *arg);

/* The allocations listed become the workers of this round. */
static void keep_allocs(struct nomad *s, struct as_nomad_allocs *got)
{
    as_nomad_allocs_free(&s->known);
    s->known = *got;
    if (got->dropped || got->long_id)
        as_log_fault(&s->allocs_fault, AS_WARN,
                     "scaler/nomad[%s]: allocations of %s left out: %zu beyond %d, %zu with an "
                     "ID of 64 bytes or more",
                     s->ctx.group, s->group, got->dropped, AS_REPLICAS_MAX, got->long_id);
    else
        as_log_recovered(&s->allocs_fault, "scaler/nomad[%s]: every allocation listed",
                         s->ctx.group);
}

static void on_allocs(const struct as_http_resp *resp, void *arg)
{
    struct nomad *s = arg;
    struct as_scale_result r;
    struct as_nomad_allocs got = {0};
    struct as_err err;
    as_err_clear(&err);
    if (answer_ok(s, resp, &r) == 0) {
        if (as_nomad_allocs(resp->body, resp->len, s->group, AS_REPLICAS_MAX, &got, &err) == 0) {
            keep_allocs(s, &got);
            r.ok = 1;
            r.replicas = s->count;
            finish(s, &r);
            return;
        }
        snprintf(r.error, sizeof(r.error), "%s", err.msg);
    }
    char why[AS_MSG_MAX];
    snprintf(why, sizeof(why), "%s", r.error);
    snprintf(r.error, sizeof(r.error), "listing allocations: %s", why);
    finish(s, &r);
}

static void on_get(const struct as_http_resp *resp, void *arg)
{
    struct nomad *s = arg;
    struct as_scale_result r;
    if (answer_ok(s, resp, &r) == 0) {
        struct as_err err;
        as_err_clear(&err);
        if (as_nomad_count(s->read, resp->body, resp->len, s->group, &r.replicas, &r.permanent,
                           &err) == 0) {
            r.ok = 1;
        } else {
            r.replicas = -1;
            snprintf(r.error, sizeof(r.error), "%s", err.msg);
        }
    }
    if (r.ok && s->allocations) {
        struct as_http_req req = {.url = s->allocs_url, .headers = s->get_headers};
        s->count = r.replicas;
        call(s, &req, on_allocs, s->done, s->arg);
        return;
    }
    finish(s, &r);
}

static void on_set(const struct as_http_resp *resp, void *arg)
{
    struct nomad *s = arg;
    struct as_scale_result r;
    if (answer_ok(s, resp, &r) == 0) {
        r.ok = 1;
        r.replicas = s->want; /* the job's count now; the engine reads it back */
    }
    finish(s, &r);
}

static void call(struct nomad *s, struct as_http_req *req, as_http_cb cb, as_scale_cb done,
                 void *arg)
{
    s->done = done;
    s->arg = arg;
    int64_t left = s->deadline - as_mono_ms();
    req->owner = s->ctx.group;
    req->timeout_ms = left > 0 ? left : 1;
    req->insecure = s->insecure;
    req->ca_file = s->ca_file;
    req->max_body = ALLOCS_BODY_MAX; /* a whole job (read: job), the allocations */
    s->call = req->url ? as_http_start(s->ctx.http, req, cb, s) : NULL;
    if (s->call != NULL)
        return;
    s->done = NULL;
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    snprintf(r.error, sizeof(r.error), "cannot start the request (out of memory)");
    if (as_defer_scale(s->ctx.loop, &s->deferred, done, &r, arg) < 0)
        AS_LOG(AS_ERROR, "scaler/nomad[%s]: out of memory reporting a failure", s->ctx.group);
}

static void get(void *state, as_scale_cb done, void *arg)
{
    struct nomad *s = state;
    struct as_http_req req = {.url = s->read_url, .headers = s->get_headers};
    s->deadline = as_mono_ms() + s->ctx.timeout_ms;
    call(s, &req, on_get, done, arg);
}

static char *body_for(const struct nomad *s, int want)
{
    char n[16];
    snprintf(n, sizeof(n), "%d", want);
    const char *keys[] = {"replicas", "group"};
    const char *values[] = {n, s->ctx.group ? s->ctx.group : ""};
    char *message = as_template(s->message, keys, values, 2);
    char *body = message ? as_nomad_scale_body(want, s->group, message, s->policy_override) : NULL;
    free(message);
    return body;
}

static void set(void *state, int want, as_scale_cb done, void *arg)
{
    struct nomad *s = state;
    char *body = body_for(s, want);
    struct as_http_req req = {.method = "POST",
                              .url = body ? s->scale_url : NULL,
                              .headers = s->set_headers,
                              .body = body};
    s->want = want;
    s->deadline = as_mono_ms() + s->ctx.timeout_ms;
    call(s, &req, on_set, done, arg);
    free(body);
}

static void describe(void *state, int want, char *buf, size_t len)
{
    const struct nomad *s = state;
    char *body = body_for(s, want);
    snprintf(buf, len, "POST %s %s%s", s->scale_url, body ? body : "{}",
             s->token ? " (X-Nomad-Token: ***)" : "");
    free(body);
}

static size_t workers(void *state, struct as_worker_info *out, size_t max)
{
    struct nomad *s = state;
    int64_t now = as_wall_ms();
    size_t n = 0;
    for (; n < s->known.n && n < max; n++) {
        const struct as_nomad_alloc *a = &s->known.v[n];
        int64_t age = a->created_ms < 0 ? -1 : now > a->created_ms ? now - a->created_ms : 0;
        out[n] = (struct as_worker_info){.age_ms = age, .idle_ms = -1, .not_ready = a->not_ready};
        memcpy(out[n].id, a->id, sizeof(out[n].id));
    }
    return n;
}

static void cancel(void *state)
{
    struct nomad *s = state;
    as_http_cancel(s->call);
    s->call = NULL;
    as_defer_cancel(s->ctx.loop, &s->deferred);
    s->done = NULL;
}

static void stop(void *state, as_stopped_cb done, void *arg)
{
    struct nomad *s = state;
    if (s->ctx.loop != NULL)
        cancel(s);
    free(s->read_url);
    free(s->scale_url);
    free(s->allocs_url);
    free(s->token_header);
    s->read_url = s->scale_url = s->allocs_url = s->token_header = NULL;
    as_nomad_allocs_free(&s->known);
    done(arg);
}

const struct as_scaler_ops as_scaler_nomad = {
    .name = "nomad",
    .opts = opts,
    .state_size = sizeof(struct nomad),
    .summary = "Sets the count of a Nomad job's task group (POST /v1/job/:job_id/scale) and "
               "reads it back (the job's scale status).",
    .validate = validate,
    .start = start,
    .get = get,
    .set = set,
    .cancel = cancel,
    .stop = stop,
    .workers = workers,
    .describe = describe,
};
