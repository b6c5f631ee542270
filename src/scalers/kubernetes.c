/* Scaler `kubernetes`: the scale subresource of a Deployment, StatefulSet or ReplicaSet.
 *   get: GET /apis/apps/v1/namespaces/{ns}/{kind}s/{name}/scale, an autoscaling/v1 Scale: the
 *        current count is its spec.replicas, as the HPA's (horizontal.go: `currentReplicas :=
 *        scale.Spec.Replicas`); then, with `pods` on, the pods its status.selector matches
 *        (GET /api/v1/namespaces/{ns}/pods?labelSelector=..., page by page): their names,
 *        readiness and age are the `workers` of this round, joined with per-pod metric values.
 *        Readiness follows the HPA's groupPods by the `readiness` option (k8s_pod_not_ready),
 *        judged when the engine asks, at its time.
 *   set: PATCH the same path with Content-Type: application/merge-patch+json and
 *        {"spec":{"replicas":N}} (idempotent: a count it already has changes nothing).
 * Failures: transport errors, timeouts, 5xx, 408, 409 (Conflict), 425 and 429 are transient
 * (the engine re-reads the count and retries with backoff; a Retry-After on a 429 or 503 holds
 * every call until it has passed); any other status is permanent, with the Status object's
 * reason and message. Credentials: a kubeconfig or the pod's service account
 * (scalers/kubernetes_auth.h); the token file is re-read as it rotates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "core/plugin.h"
#include "scalers/kubernetes_api.h"
#include "scalers/kubernetes_auth.h"
#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/util.h"

#define PODS_PAGE 250
#define PODS_PAGES_MAX 20
#define PODS_BODY_MAX (16 * 1024 * 1024)
#define FIELD_MANAGER "autoscaler"

static const char *const kinds[] = {"deployment", "statefulset", "replicaset", NULL};
static const char *const readiness[] = {"pending", "cpu", "ready", NULL}; /* enum k8s_readiness */

struct k8s {
    int kind;
    char *name, *ns_opt, *kubeconfig, *context, *sa_dir;
    int pods;
    struct k8s_ready_rule rule;
    char *requests, *requests_metric; /* the resource, and the metric whose usage it weighs */
    /* runtime */
    struct as_ctx ctx;
    struct k8s_auth auth;
    struct k8s_token token;
    const char *ns; /* ns_opt, auth.ns or "default" */
    char *scale_url, *patch_url, *basic;
    struct as_http_call *call;
    struct as_timer *deferred;
    as_scale_cb done;
    void *arg;
    int want;
    int64_t deadline;       /* monotonic ms: the end of the get or set in progress */
    int64_t hold_until;     /* Retry-After: no call before this (monotonic ms) */
    struct k8s_scale scale; /* of the get in progress */
    struct k8s_pods acc;    /* its pods so far */
    int pages;
    struct k8s_pod *known; /* the pods of the last get */
    size_t nknown;
    int64_t listed_ms, since_ms; /* wall clock: when they were listed, and the list before
                                    (or the start): the window of this round's values */
    struct as_fault_log token_fault, pods_fault;
};

static const struct as_opt opts[] = {
    {"kind", AS_OPT_ENUM, offsetof(struct k8s, kind), "deployment", AS_NO_BOUNDS, 0, kinds,
     "The workload: deployment, statefulset or replicaset (apps/v1)."},
    {"name", AS_OPT_STR, offsetof(struct k8s, name), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL, "The workload's name, e.g. web."},
    {"namespace", AS_OPT_STR, offsetof(struct k8s, ns_opt), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL,
     "Its namespace. Default: the kubeconfig context's namespace, in a cluster the service "
     "account's, else default."},
    {"kubeconfig", AS_OPT_STR, offsetof(struct k8s, kubeconfig), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "A kubeconfig file (relative to this configuration file): its server, CA and user "
     "(token, tokenFile or client certificate; not exec plugins). Unset: in-cluster, from the "
     "pod's service account."},
    {"context", AS_OPT_STR, offsetof(struct k8s, context), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL, "The kubeconfig context to use. Default: its current-context."},
    {"serviceaccount_dir", AS_OPT_STR, offsetof(struct k8s, sa_dir), K8S_SA_DIR, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "In a cluster: where the service account's token (re-read as it rotates), ca.crt and "
     "namespace are mounted (relative to this configuration file)."},
    {"pods", AS_OPT_BOOL, offsetof(struct k8s, pods), "true", AS_NO_BOUNDS, 0, NULL,
     "List the pods the scale's selector matches at every read: their names, readiness and age "
     "join per-pod metric values (the HPA's rules; needs list on pods). false: the count only."},
    {"readiness", AS_OPT_ENUM, offsetof(struct k8s, rule.mode), "pending", AS_NO_BOUNDS, 0,
     readiness,
     "Which pods are not ready (left out of a scale-down, 0 in a scale-up): pending, only "
     "Pending pods (the HPA's rule for every metric but CPU); cpu, the HPA's rule for CPU "
     "(also a pod not Ready in its initialization period, or never Ready since); ready, "
     "also any pod whose Ready condition is not True."},
    {"cpu_initialization_period", AS_OPT_DURATION, offsetof(struct k8s, rule.init_period_ms), "5m",
     0, 86400000, 0, NULL,
     "readiness: cpu: the time after a pod's start in which it is not ready when its Ready "
     "condition is False or changed since the previous round (the HPA's "
     "--horizontal-pod-autoscaler-cpu-initialization-period)."},
    {"initial_readiness_delay", AS_OPT_DURATION, offsetof(struct k8s, rule.initial_delay_ms), "30s",
     0, 86400000, 0, NULL,
     "readiness: cpu: after the initialization period, a pod whose Ready condition is False "
     "since less than this after its start has never been ready: not ready (the HPA's "
     "--horizontal-pod-autoscaler-initial-readiness-delay)."},
    {"requests", AS_OPT_STR, offsetof(struct k8s, requests), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY,
     NULL,
     "A resource (cpu, memory, ...): each pod's request of it, summed over its containers, "
     "makes requests_metric a utilization as the HPA's: sum(usage) / sum(requests). Needs "
     "requests_metric."},
    {"requests_metric", AS_OPT_STR, offsetof(struct k8s, requests_metric), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "The group's metric whose per-pod values are usage of the `requests` resource (in cores "
     "or bytes, as requests are): its target is a utilization in percent of the requests."},
    AS_OPT_END,
};

/* ---- configuration ---- */

/* A path option made relative to the configuration file's directory (like ${file:...}). */
static int anchor_path(struct as_node *map, const char *key, char **path)
{
    struct as_node *n = as_node_get(map, key);
    if (n == NULL || *path == NULL || (*path)[0] == '/' || n->file == NULL)
        return 0;
    const char *slash = strrchr(n->file, '/');
    if (slash == NULL)
        return 0;
    struct as_sb sb = {0};
    if (as_sb_append(&sb, n->file, (size_t)(slash - n->file) + 1) < 0 ||
        as_sb_puts(&sb, *path) < 0) {
        as_sb_free(&sb);
        return -1;
    }
    free(*path);
    *path = sb.buf;
    return 0;
}

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct k8s *s = state;
    if (!k8s_name_ok(s->name, 0))
        return as_err_key(err, map, "name",
                          "'name' is not a Kubernetes object name (lower-case letters, digits, '-' "
                          "and '.', at most 253)");
    if (s->ns_opt && !k8s_name_ok(s->ns_opt, 1))
        return as_err_key(
            err, map, "namespace",
            "'namespace' is not a namespace name (lower-case letters, digits and '-', "
            "at most 63)");
    if (s->context && !s->kubeconfig)
        return as_err_key(err, map, "context", "'context' needs 'kubeconfig'");
    if ((s->requests == NULL) != (s->requests_metric == NULL))
        return as_err_key(err, map, s->requests ? "requests" : "requests_metric",
                          "'requests' and 'requests_metric' go together");
    if (s->requests && !s->pods)
        return as_err_key(err, map, "requests", "'requests' needs 'pods: true'");
    if (anchor_path(map, "kubeconfig", &s->kubeconfig) < 0 ||
        anchor_path(map, "serviceaccount_dir", &s->sa_dir) < 0)
        return as_err_set(err, "out of memory");
    if (s->kubeconfig == NULL)
        return 0; /* in-cluster: the environment is checked when the group starts */
    struct k8s_auth a;
    int rc = k8s_kubeconfig_load(s->kubeconfig, s->context, &a, err);
    k8s_auth_free(&a); /* read again at start: a state that never starts holds nothing */
    if (rc < 0 && err->file[0] == '\0')
        return as_err_key(err, map, "kubeconfig", "kubeconfig: %s", err->msg);
    return rc;
}

static int build_urls(struct k8s *s, struct as_err *err)
{
    struct as_sb u = {0}, p = {0};
    if (k8s_scale_url(&u, s->auth.server, s->kind, s->ns, s->name) < 0 ||
        k8s_scale_url(&p, s->auth.server, s->kind, s->ns, s->name) < 0 ||
        as_sb_puts(&p, "?fieldManager=" FIELD_MANAGER) < 0) {
        as_sb_free(&u);
        as_sb_free(&p);
        return as_err_set(err, "out of memory");
    }
    s->scale_url = u.buf;
    s->patch_url = p.buf;
    return 0;
}

static int basic_header(struct k8s *s, struct as_err *err)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    struct as_sb in = {0}, out = {0};
    int rc =
        as_sb_printf(&in, "%s:%s", s->auth.username, s->auth.password ? s->auth.password : "") |
        as_sb_puts(&out, "Authorization: Basic ");
    size_t start = out.len;
    for (size_t i = 0; rc == 0 && i < in.len; i += 3) {
        unsigned v = (unsigned char)in.buf[i] << 16;
        v |= i + 1 < in.len ? (unsigned char)in.buf[i + 1] << 8 : 0;
        v |= i + 2 < in.len ? (unsigned char)in.buf[i + 2] : 0;
        char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], i + 1 < in.len ? b64[(v >> 6) & 63] : '=',
                     i + 2 < in.len ? b64[v & 63] : '='};
        rc = as_sb_append(&out, q, 4);
    }
    as_sb_free(&in);
    if (rc != 0) {
        as_sb_free(&out);
        return as_err_set(err, "out of memory");
    }
    as_log_secret(out.buf + start, out.len - start);
    s->basic = out.buf;
    return 0;
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct k8s *s = state;
    s->ctx = *ctx;
    int rc = s->kubeconfig ? k8s_kubeconfig_load(s->kubeconfig, s->context, &s->auth, err)
                           : k8s_incluster_load(s->sa_dir, &s->auth, err);
    if (rc < 0)
        return -1;
    s->ns = s->ns_opt ? s->ns_opt : s->auth.ns ? s->auth.ns : "default";
    if (!k8s_name_ok(s->ns, 1))
        return as_err_set(err, "the namespace '%.64s' (%s) is not a namespace name", s->ns,
                          s->auth.where);
    if (build_urls(s, err) < 0 || (s->auth.username && basic_header(s, err) < 0))
        return -1;
    s->token.path = s->auth.token_file;
    s->listed_ms = as_wall_ms(); /* the first round's values are the first after the start */
    int stale;
    if (s->token.path && k8s_token_get(&s->token, as_mono_ms(), &stale, err) == NULL)
        return -1;
    AS_LOG(AS_INFO, "scaler/kubernetes[%s]: %s %s/%s at %s (%s)", ctx->group, kinds[s->kind], s->ns,
           s->name, s->auth.server, s->auth.where);
    return 0;
}

/* ---- calls ---- */

static void finish(struct k8s *s, struct as_scale_result *r)
{
    k8s_pods_free(&s->acc);
    free(s->scale.selector);
    s->scale.selector = NULL;
    as_scale_cb done = s->done;
    s->done = NULL;
    done(r, s->arg);
}

/* A failure known before any call: delivered from the loop. */
static void fail_soon(struct k8s *s, struct as_scale_result *r)
{
    k8s_pods_free(&s->acc);
    if (as_defer_scale(s->ctx.loop, &s->deferred, s->done, r, s->arg) < 0)
        AS_LOG(AS_ERROR, "scaler/kubernetes[%s]: out of memory reporting a failure", s->ctx.group);
    s->done = NULL;
}

/* "Authorization: Bearer ..." from the token file (re-read when due) or the kubeconfig's token;
 * "" when the user has none. NULL with r's error when the token cannot be had. */
static const char *auth_header(struct k8s *s, struct as_sb *sb, struct as_scale_result *r)
{
    const char *token = s->auth.token;
    if (s->token.path) {
        struct as_err err;
        int stale;
        unsigned long reads = s->token.reads;
        token = k8s_token_get(&s->token, as_mono_ms(), &stale, &err);
        if (token == NULL || stale)
            as_log_fault(&s->token_fault, AS_WARN, "scaler/kubernetes[%s]: %s%s", s->ctx.group,
                         err.msg, token ? ": sending the last token read" : "");
        else
            as_log_recovered(&s->token_fault, "scaler/kubernetes[%s]: token file read again",
                             s->ctx.group);
        if (token == NULL) {
            snprintf(r->error, sizeof(r->error), "no bearer token: %s", err.msg);
            return NULL;
        }
        if (s->token.reads > reads && reads > 0)
            AS_LOG(AS_DEBUG, "scaler/kubernetes[%s]: token file %s read again", s->ctx.group,
                   s->token.path);
    }
    if (s->basic)
        return s->basic;
    if (token == NULL)
        return "";
    if (as_sb_printf(sb, "Authorization: Bearer %s", token) < 0) {
        snprintf(r->error, sizeof(r->error), "out of memory");
        return NULL;
    }
    return sb->buf;
}

/* Starts METHOD url for the call in progress; 0, or -1 with r's error set. */
static int call_api(struct k8s *s, const char *method, const char *url, const char *body,
                    size_t max_body, as_http_cb cb, struct as_scale_result *r)
{
    struct as_sb sb = {0};
    const char *auth = auth_header(s, &sb, r);
    if (auth == NULL)
        return -1;
    const char *headers[] = {"Accept: application/json", auth[0] ? auth : NULL, NULL, NULL};
    if (body)
        headers[auth[0] ? 2 : 1] = "Content-Type: application/merge-patch+json";
    int64_t left = s->deadline - as_mono_ms();
    struct as_http_req req = {.method = method,
                              .url = url,
                              .owner = s->ctx.group,
                              .headers = headers,
                              .body = body,
                              .timeout_ms = left > 0 ? left : 1,
                              .insecure = s->auth.insecure,
                              .ca_file = s->auth.ca_pem ? NULL : s->auth.ca_file,
                              .ca_pem = s->auth.ca_pem,
                              .cert_file = s->auth.cert_pem ? NULL : s->auth.cert_file,
                              .key_file = s->auth.key_pem ? NULL : s->auth.key_file,
                              .cert_pem = s->auth.cert_pem,
                              .key_pem = s->auth.key_pem,
                              .max_body = max_body,
                              .header = "Retry-After"};
    s->call = as_http_start(s->ctx.http, &req, cb, s);
    as_sb_free(&sb);
    if (s->call != NULL)
        return 0;
    snprintf(r->error, sizeof(r->error), "cannot start the request (out of memory)");
    return -1;
}

/* Whether the answer failed; r then says why. A Retry-After holds every call until it passes. */
static int failed(struct k8s *s, const struct as_http_resp *resp, struct as_scale_result *r)
{
    s->call = NULL;
    if (!resp->ok) {
        if (resp->timed_out)
            snprintf(r->error, sizeof(r->error), "timeout after %lld ms",
                     (long long)resp->elapsed_ms);
        else
            snprintf(r->error, sizeof(r->error), "%s", resp->error);
        return 1;
    }
    if (resp->status >= 200 && resp->status <= 299)
        return 0;
    k8s_error_text(resp->status, resp->body, resp->len, r->error, sizeof(r->error));
    r->permanent = !k8s_transient(resp->status);
    long pause_s =
        (resp->status == 429 || resp->status == 503) ? k8s_retry_after(resp->header) : -1;
    if (pause_s > 0) {
        s->hold_until = as_mono_ms() + pause_s * 1000;
        size_t n = strlen(r->error);
        snprintf(r->error + n, sizeof(r->error) - n, " (Retry-After: %lds)", pause_s);
    }
    return 1;
}

/* Whether a Retry-After still holds calls back; r then says so. */
static int held(struct k8s *s, struct as_scale_result *r)
{
    int64_t left = s->hold_until - as_mono_ms();
    if (left <= 0)
        return 0;
    snprintf(r->error, sizeof(r->error),
             "the API server asked to wait (Retry-After): %llds left before the next call",
             (long long)(left + 999) / 1000);
    return 1;
}

static void prefix(struct as_scale_result *r, const char *what)
{
    char copy[AS_MSG_MAX];
    snprintf(copy, sizeof(copy), "%s", r->error);
    snprintf(r->error, sizeof(r->error), "%s: %s", what, copy);
}

/* ---- get: the scale, then its pods ---- */

static void on_pods(const struct as_http_resp *resp, void *arg);

static int next_page(struct k8s *s, struct as_scale_result *r)
{
    struct as_sb url = {0};
    if (k8s_pods_url(&url, s->auth.server, s->ns, s->scale.selector, PODS_PAGE, s->acc.cont) < 0) {
        snprintf(r->error, sizeof(r->error), "out of memory");
        return -1;
    }
    s->pages++;
    int rc = call_api(s, "GET", url.buf, NULL, PODS_BODY_MAX, on_pods, r);
    as_sb_free(&url);
    return rc;
}

/* The pods gathered become the workers of this round. */
static void keep_pods(struct k8s *s)
{
    struct k8s_pods *p = &s->acc;
    free(s->known);
    s->known = p->v;
    s->nknown = p->n;
    s->since_ms = s->listed_ms;
    s->listed_ms = as_wall_ms();
    p->v = NULL;
    p->n = p->cap = 0;
    if (p->dropped || p->long_name || p->cont)
        as_log_fault(&s->pods_fault, AS_WARN,
                     "scaler/kubernetes[%s]: pods of %s left out: %zu beyond %d, %zu with a name "
                     "of 64 bytes or more%s",
                     s->ctx.group, s->scale.selector, p->dropped, AS_REPLICAS_MAX, p->long_name,
                     p->cont ? ", and the pages after the last one read" : "");
    else
        as_log_recovered(&s->pods_fault, "scaler/kubernetes[%s]: every pod listed", s->ctx.group);
}

static void on_pods(const struct as_http_resp *resp, void *arg)
{
    struct k8s *s = arg;
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    struct as_err err;
    s->acc.resource = s->requests; /* cleared with the pods of an earlier failed list */
    if (failed(s, resp, &r)) {
        r.permanent = r.permanent && resp->status != 410; /* an expired continue token */
    } else if (k8s_parse_pods(resp->body, resp->len, AS_REPLICAS_MAX, &s->acc, &err) < 0) {
        snprintf(r.error, sizeof(r.error), "%s", err.msg);
    } else if (s->acc.cont && s->pages < PODS_PAGES_MAX) {
        if (next_page(s, &r) == 0)
            return;
    } else {
        keep_pods(s);
        r.ok = 1;
        r.replicas = s->scale.spec;
        finish(s, &r);
        return;
    }
    prefix(&r, "listing pods");
    finish(s, &r);
}

static void on_scale(const struct as_http_resp *resp, void *arg)
{
    struct k8s *s = arg;
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    struct as_err err;
    if (failed(s, resp, &r)) {
        finish(s, &r);
        return;
    }
    if (k8s_parse_scale(resp->body, resp->len, &s->scale, &err) < 0) {
        snprintf(r.error, sizeof(r.error), "%s", err.msg);
        finish(s, &r);
        return;
    }
    if (s->scale.status >= 0 && s->scale.status != s->scale.spec)
        AS_LOG(AS_DEBUG, "scaler/kubernetes[%s]: spec.replicas %d, status.replicas %d",
               s->ctx.group, s->scale.spec, s->scale.status);
    if (s->pods && s->scale.selector) {
        s->pages = 0;
        if (next_page(s, &r) == 0)
            return;
        prefix(&r, "listing pods");
        finish(s, &r);
        return;
    }
    if (s->pods)
        as_log_fault(&s->pods_fault, AS_WARN,
                     "scaler/kubernetes[%s]: the scale has no status.selector: no per-pod facts",
                     s->ctx.group);
    s->nknown = 0;
    r.ok = 1;
    r.replicas = s->scale.spec;
    finish(s, &r);
}

static void begin(struct k8s *s, as_scale_cb done, void *arg)
{
    s->done = done;
    s->arg = arg;
    s->deadline = as_mono_ms() + s->ctx.timeout_ms;
}

static void get(void *state, as_scale_cb done, void *arg)
{
    struct k8s *s = state;
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    begin(s, done, arg);
    if (held(s, &r) || call_api(s, "GET", s->scale_url, NULL, 0, on_scale, &r) < 0)
        fail_soon(s, &r);
}

/* ---- set ---- */

static void on_patch(const struct as_http_resp *resp, void *arg)
{
    struct k8s *s = arg;
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    struct as_err err;
    if (!failed(s, resp, &r)) {
        r.ok = 1;
        r.replicas =
            k8s_parse_scale(resp->body, resp->len, &s->scale, &err) == 0 ? s->scale.spec : s->want;
    }
    finish(s, &r);
}

static void set(void *state, int want, as_scale_cb done, void *arg)
{
    struct k8s *s = state;
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    char body[48];
    snprintf(body, sizeof(body), "{\"spec\":{\"replicas\":%d}}", want);
    s->want = want;
    begin(s, done, arg);
    if (held(s, &r) || call_api(s, "PATCH", s->patch_url, body, 0, on_patch, &r) < 0)
        fail_soon(s, &r);
}

static void describe(void *state, int want, char *buf, size_t len)
{
    struct k8s *s = state;
    const char *auth = s->basic                              ? ", Authorization: Basic ***"
                       : s->auth.token || s->auth.token_file ? ", Authorization: Bearer ***"
                                                             : "";
    snprintf(buf, len,
             "PATCH %s {\"spec\":{\"replicas\":%d}} (Content-Type: application/merge-patch+json%s)",
             s->patch_url, want, auth);
}

static size_t workers(void *state, struct as_worker_info *out, size_t max)
{
    struct k8s *s = state;
    int64_t now = as_wall_ms();
    size_t n = 0;
    for (; n < s->nknown && n < max; n++) {
        const struct k8s_pod *p = &s->known[n];
        int64_t started = k8s_pod_started(p);
        int64_t age = started < 0 ? -1 : now > started ? now - started : 0;
        out[n] =
            (struct as_worker_info){.age_ms = age,
                                    .idle_ms = -1,
                                    .not_ready = k8s_pod_not_ready(p, &s->rule, now, s->since_ms),
                                    .pending = p->pending,
                                    .request = p->request,
                                    .request_metric = s->requests_metric};
        memcpy(out[n].id, p->name, sizeof(out[n].id));
    }
    return n;
}

static void cancel(void *state)
{
    struct k8s *s = state;
    as_http_cancel(s->call);
    s->call = NULL;
    if (s->ctx.loop)
        as_defer_cancel(s->ctx.loop, &s->deferred);
    s->done = NULL;
    k8s_pods_free(&s->acc);
    free(s->scale.selector);
    s->scale.selector = NULL;
}

static void stop(void *state, as_stopped_cb done, void *arg)
{
    struct k8s *s = state;
    cancel(s);
    k8s_auth_free(&s->auth);
    k8s_token_free(&s->token);
    free(s->scale_url);
    free(s->patch_url);
    free(s->basic);
    free(s->known);
    s->scale_url = s->patch_url = s->basic = NULL;
    s->known = NULL;
    s->nknown = 0;
    done(arg);
}

const struct as_scaler_ops as_scaler_kubernetes = {
    .name = "kubernetes",
    .opts = opts,
    .state_size = sizeof(struct k8s),
    .summary = "The scale subresource of a Deployment, StatefulSet or ReplicaSet (GET, and PATCH "
               "with a merge patch), with its pods' readiness and age; kubeconfig or in-cluster "
               "credentials.",
    .validate = validate,
    .start = start,
    .get = get,
    .set = set,
    .cancel = cancel,
    .workers = workers,
    .stop = stop,
    .describe = describe,
};
