/* The kubernetes scaler against an in-process API server that answers by method and path (and
 * a pod list's continue token): its options and their errors, the requests it makes (paths,
 * query, headers, the merge patch), the count it reads (spec.replicas), the pods it reports
 * (pages, readiness, age), the dry-run line, every failure class with the Status object's
 * message, a Retry-After that holds calls back, a token file read again when it changes, and a
 * call cancelled in flight. TLS, in-cluster credentials and kubectl: the integration test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "config/cfg.h"
#include "core/plugin.h"
#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/util.h"

extern const struct as_scaler_ops as_scaler_kubernetes;
static const struct as_scaler_ops *ops = &as_scaler_kubernetes;

/* ---- the API server ---- */

#define ROUTES 8
static struct {
    pthread_mutex_t mu;
    struct route {
        char key[160]; /* "GET /path" or "GET /path?continue=TOKEN" */
        unsigned status;
        char body[4096];
        char retry_after[16];
        int delay_ms;
    } routes[ROUTES];
    int requests;
    char method[16], path[160], selector[128], limit[16], cont[64], manager[32];
    char ctype[64], accept[64], auth[160], body[256];
} ks = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void route(const char *key, unsigned status, const char *body, const char *retry_after)
{
    pthread_mutex_lock(&ks.mu);
    int i = 0;
    while (i < ROUTES - 1 && ks.routes[i].key[0] && strcmp(ks.routes[i].key, key) != 0)
        i++;
    struct route *r = &ks.routes[i];
    snprintf(r->key, sizeof(r->key), "%s", key);
    r->status = status;
    snprintf(r->body, sizeof(r->body), "%s", body);
    snprintf(r->retry_after, sizeof(r->retry_after), "%s", retry_after ? retry_after : "");
    r->delay_ms = 0;
    pthread_mutex_unlock(&ks.mu);
}

static void routes_clear(void)
{
    pthread_mutex_lock(&ks.mu);
    memset(ks.routes, 0, sizeof(ks.routes));
    pthread_mutex_unlock(&ks.mu);
}

static void copy_arg(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *name, char *dst,
                     size_t n)
{
    const char *v = MHD_lookup_connection_value(c, kind, name);
    snprintf(dst, n, "%s", v ? v : "");
}

static const char not_found[] = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                                "\"status\":\"Failure\",\"message\":\"the server could not find "
                                "the requested resource\",\"reason\":\"NotFound\",\"code\":404}";

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **req_cls)
{
    (void)cls;
    (void)version;
    if (*req_cls == NULL) {
        *req_cls = c;
        pthread_mutex_lock(&ks.mu);
        ks.body[0] = '\0';
        pthread_mutex_unlock(&ks.mu);
        return MHD_YES;
    }
    pthread_mutex_lock(&ks.mu);
    if (*size) {
        strncat(ks.body, data, *size < 200 ? *size : 200);
        *size = 0;
        pthread_mutex_unlock(&ks.mu);
        return MHD_YES;
    }
    ks.requests++;
    snprintf(ks.method, sizeof(ks.method), "%s", method);
    snprintf(ks.path, sizeof(ks.path), "%s", url);
    copy_arg(c, MHD_GET_ARGUMENT_KIND, "labelSelector", ks.selector, sizeof(ks.selector));
    copy_arg(c, MHD_GET_ARGUMENT_KIND, "limit", ks.limit, sizeof(ks.limit));
    copy_arg(c, MHD_GET_ARGUMENT_KIND, "continue", ks.cont, sizeof(ks.cont));
    copy_arg(c, MHD_GET_ARGUMENT_KIND, "fieldManager", ks.manager, sizeof(ks.manager));
    copy_arg(c, MHD_HEADER_KIND, "Content-Type", ks.ctype, sizeof(ks.ctype));
    copy_arg(c, MHD_HEADER_KIND, "Accept", ks.accept, sizeof(ks.accept));
    copy_arg(c, MHD_HEADER_KIND, "Authorization", ks.auth, sizeof(ks.auth));
    char key[200];
    snprintf(key, sizeof(key), "%s %s%s%s", method, url, ks.cont[0] ? "?continue=" : "", ks.cont);
    struct route r = {.status = 404};
    snprintf(r.body, sizeof(r.body), "%s", not_found);
    for (int i = 0; i < ROUTES; i++)
        if (strcmp(ks.routes[i].key, key) == 0)
            r = ks.routes[i];
    pthread_mutex_unlock(&ks.mu);
    if (r.delay_ms)
        usleep((useconds_t)r.delay_ms * 1000);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(r.body), r.body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (r.retry_after[0])
        MHD_add_response_header(resp, "Retry-After", r.retry_after);
    enum MHD_Result ret = MHD_queue_response(c, r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int requests(void)
{
    pthread_mutex_lock(&ks.mu);
    int n = ks.requests;
    pthread_mutex_unlock(&ks.mu);
    return n;
}

/* ---- the scaler ---- */

static struct MHD_Daemon *mhd;
static int port;
static char dir[64];

struct fx {
    struct as_loop *loop;
    struct as_http *http;
    void *state;
    int calls, stopped;
    struct as_scale_result r;
};

static void on_result(const struct as_scale_result *r, void *arg)
{
    struct fx *f = arg;
    f->calls++;
    f->r = *r;
}

static void on_stopped(void *arg)
{
    ((struct fx *)arg)->stopped++;
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* A kubeconfig for the test server: the user `u` with the given credential lines. */
static void kubeconfig(const char *user)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
             "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:%d'}}]\n"
             "contexts: [{name: t, context: {cluster: c, user: u, namespace: team}}]\n"
             "users: [{name: u, user: {%s}}]\n",
             port, user);
    write_file("kubeconfig", text);
}

/* Parses, validates and (when it validates) starts the scaler from yaml; the error text. */
static int fx_new(struct fx *f, const char *yaml, char *msg, size_t n)
{
    char name[128];
    snprintf(name, sizeof(name), "%s/test.yaml", dir);
    memset(f, 0, sizeof(*f));
    f->loop = as_loop_new();
    f->http = as_http_new(f->loop);
    struct as_err err;
    as_err_clear(&err);
    struct as_doc *doc = as_doc_parse(name, yaml, strlen(yaml), &err);
    assert_non_null(doc);
    f->state = calloc(1, ops->state_size);
    int rc = as_opts_parse(ops->opts, f->state, doc->root, "test", &err);
    if (rc == 0)
        rc = ops->validate(f->state, doc->root, &err);
    struct as_ctx ctx = {
        .loop = f->loop, .http = f->http, .group = "g", .name = "kubernetes", .timeout_ms = 1000};
    if (rc == 0)
        rc = ops->start(f->state, &ctx, &err);
    as_err_str(&err, msg, n);
    as_doc_free(doc);
    return rc;
}

static void fx_free(struct fx *f)
{
    ops->stop(f->state, on_stopped, f);
    assert_int_equal(f->stopped, 1);
    as_opts_free(ops->opts, f->state);
    free(f->state);
    as_http_free(f->http);
    as_loop_free(f->loop);
}

static void wait_result(struct fx *f, int calls)
{
    assert_int_equal(f->calls, calls - 1); /* never re-entrant */
    int64_t end = as_mono_ms() + 5000;
    while (f->calls < calls && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
    assert_int_equal(f->calls, calls);
}

static struct as_scale_result do_get(struct fx *f)
{
    ops->get(f->state, on_result, f);
    wait_result(f, f->calls + 1);
    return f->r;
}

static struct as_scale_result do_set(struct fx *f, int want)
{
    ops->set(f->state, want, on_result, f);
    wait_result(f, f->calls + 1);
    return f->r;
}

#define SCALE_PATH "/apis/apps/v1/namespaces/team/deployments/web/scale"
#define PODS_PATH "/api/v1/namespaces/team/pods"
#define SCALE(spec, status, sel)                                                                   \
    "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":\"web\","        \
    "\"namespace\":\"team\",\"resourceVersion\":\"9\"},\"spec\":{\"replicas\":" spec "},"          \
    "\"status\":{\"replicas\":" status sel "}}"
#define POD(name, ready, start)                                                                    \
    "{\"metadata\":{\"name\":\"" name                                                              \
    "\"},\"status\":{\"phase\":\"Running\",\"startTime\":\"" start                                 \
    "\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"" ready "\"}]}}"
#define PODLIST(cont, items)                                                                       \
    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{" cont "},\"items\":[" items "]}"
#define STATUS(code, reason, msg)                                                                  \
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","           \
    "\"message\":\"" msg "\",\"reason\":\"" reason "\",\"code\":" #code "}"

static void test_validate(void **state)
{
    (void)state;
    kubeconfig("exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}");
    struct {
        const char *yaml, *error;
    } cases[] = {
        {"kind: deployment\nname: Web\n", "test.yaml:2:7: 'name' is not a Kubernetes object name"},
        {"name: web\nnamespace: a.b\n", "test.yaml:2:12: 'namespace' is not a namespace name"},
        {"name: web\ncontext: x\n", "test.yaml:2:10: 'context' needs 'kubeconfig'"},
        {"name: web\nkind: pod\n", "kind"},
        {"name: web\nkubeconfig: nope.yaml\n", "test.yaml:2:13: kubeconfig: cannot open"},
        {"name: web\nkubeconfig: kubeconfig\n",
         "kubeconfig:6:32: user 'u' authenticates with an exec plugin"},
        {"name: web\nkubeconfig: kubeconfig\ncontext: other\n", "no context named 'other'"},
        {"name: web\npods: maybe\n", "pods"},
        {"name: web\nreadiness: probe\n", "readiness"},
        {"name: web\ncpu_initialization_period: 2d\n", "cpu_initialization_period"},
        {"name: web\ninitial_readiness_delay: -1s\n", "initial_readiness_delay"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct fx f;
        char msg[600];
        if (fx_new(&f, cases[i].yaml, msg, sizeof(msg)) == 0 || strstr(msg, cases[i].error) == NULL)
            fail_msg("case %zu: '%s'", i, msg);
        fx_free(&f);
    }
    /* in-cluster outside a cluster: valid, fails to start */
    unsetenv("KUBERNETES_SERVICE_HOST");
    struct fx f;
    char msg[600];
    assert_int_equal(fx_new(&f, "name: web\n", msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "not in a cluster"));
    fx_free(&f);
}

static void test_get_set(void **state)
{
    (void)state;
    kubeconfig("token: kube-token-abcdef");
    routes_clear();
    route("GET " SCALE_PATH, 200, SCALE("3", "2", ",\"selector\":\"app=web,tier!=db\""), NULL);
    route("GET " PODS_PATH, 200,
          PODLIST("\"continue\":\"page2\"", POD("web-a", "True", "2024-05-01T10:00:00Z") "," POD(
                                                "web-b", "False", "2099-01-01T00:00:00Z")),
          NULL);
    route("GET " PODS_PATH "?continue=page2", 200, PODLIST("", POD("web-c", "True", "not a time")),
          NULL);
    route("PATCH " SCALE_PATH, 200, SCALE("5", "3", ""), NULL);
    struct fx f;
    char msg[600];
    assert_int_equal(fx_new(&f, "name: web\nkubeconfig: kubeconfig\n", msg, sizeof(msg)), 0);
    struct as_scale_result r = do_get(&f);
    assert_true(r.ok);
    assert_int_equal(r.replicas, 3); /* spec.replicas, as the HPA, not status.replicas */
    assert_int_equal(requests(), 3);
    assert_string_equal(ks.method, "GET");
    assert_string_equal(ks.selector, "app=web,tier!=db");
    assert_string_equal(ks.limit, "250");
    assert_string_equal(ks.cont, "page2");
    assert_string_equal(ks.accept, "application/json");
    assert_string_equal(ks.auth, "Bearer kube-token-abcdef");
    struct as_worker_info w[8];
    assert_int_equal(ops->workers(f.state, w, 8), 3);
    assert_string_equal(w[0].id, "web-a");
    assert_false(w[0].not_ready);
    assert_true(w[0].age_ms > 1000LL * 86400 * 300); /* since 2024 */
    assert_string_equal(w[1].id, "web-b");
    assert_false(w[1].not_ready);     /* readiness: pending (the default): Running, not Ready */
    assert_int_equal(w[1].age_ms, 0); /* a start in the future is no age */
    assert_int_equal(w[2].age_ms, -1);
    assert_int_equal(ops->workers(f.state, w, 2), 2);

    r = do_set(&f, 5);
    assert_true(r.ok);
    assert_int_equal(r.replicas, 5);
    assert_string_equal(ks.method, "PATCH");
    assert_string_equal(ks.path, SCALE_PATH);
    assert_string_equal(ks.manager, "autoscaler");
    assert_string_equal(ks.ctype, "application/merge-patch+json");
    assert_string_equal(ks.body, "{\"spec\":{\"replicas\":5}}");
    char call[512];
    ops->describe(f.state, 4, call, sizeof(call));
    char want[512];
    snprintf(want, sizeof(want),
             "PATCH http://127.0.0.1:%d" SCALE_PATH
             "?fieldManager=autoscaler {\"spec\":{\"replicas\":4}} (Content-Type: "
             "application/merge-patch+json, Authorization: Bearer ***)",
             port);
    assert_string_equal(call, want);
    fx_free(&f);

    /* pods: false, or a scale without a selector: the count only, no pods */
    route("GET " SCALE_PATH, 200, SCALE("0", "0", ""), NULL);
    assert_int_equal(
        fx_new(&f, "name: web\nkubeconfig: kubeconfig\npods: false\n", msg, sizeof(msg)), 0);
    int before = requests();
    r = do_get(&f);
    assert_true(r.ok && r.replicas == 0);
    assert_int_equal(requests(), before + 1);
    assert_int_equal(ops->workers(f.state, w, 8), 0);
    fx_free(&f);
    as_log_secrets_clear();
}

/* A time as the API writes it, ms after the epoch. */
static void rfc3339(int64_t ms, char *buf, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%03dZ", base, (int)(ms % 1000));
}

/* A pod in JSON: its phase, Ready status, start and Ready transition in ms since the epoch. */
static int pod_json(char *buf, size_t n, const char *name, const char *phase, const char *ready,
                    int64_t start, int64_t changed)
{
    char st[40], ch[40];
    rfc3339(start, st, sizeof(st));
    rfc3339(changed, ch, sizeof(ch));
    return snprintf(buf, n,
                    "{\"metadata\":{\"name\":\"%s\"},\"status\":{\"phase\":\"%s\",\"startTime\":"
                    "\"%s\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\","
                    "\"lastTransitionTime\":\"%s\"}]}}",
                    name, phase, st, ready, ch);
}

/* The `readiness` modes end to end: the option, the pods' facts as listed, the verdict at the
 * engine's time, and the cpu rule's window (the previous list). */
static void test_readiness(void **state)
{
    (void)state;
    kubeconfig("token: kube-token-abcdef");
    static const char *const names[] = {"pending", "starting", "ready", "lapsed", "never", "fresh"};
    static const struct {
        const char *yaml;
        int not_ready[6], then[6]; /* at the first get, and at the second */
    } cases[] = {
        {"", {1, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0}},
        {"readiness: pending\n", {1, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0}},
        {"readiness: ready\n", {1, 1, 0, 1, 1, 0}, {1, 1, 0, 1, 1, 0}},
        {"readiness: cpu\n", {1, 1, 0, 0, 1, 1}, {1, 1, 0, 0, 1, 0}},
        {"readiness: cpu\ncpu_initialization_period: 30s\ninitial_readiness_delay: 1s\n",
         {1, 1, 0, 0, 0, 0},
         {1, 1, 0, 0, 0, 0}},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        char yaml[256], msg[600];
        snprintf(yaml, sizeof(yaml), "name: web\nkubeconfig: kubeconfig\n%s", cases[i].yaml);
        struct fx f;
        assert_int_equal(fx_new(&f, yaml, msg, sizeof(msg)), 0);
        usleep(5000);
        int64_t now = as_wall_ms(), hour = 3600000;
        char list[4096];
        int o = snprintf(list, sizeof(list), "%s",
                         "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[");
        struct {
            const char *phase, *ready;
            int64_t start, changed;
        } pods[] = {
            {"Pending", "False", now - 2000, now - 2000},
            {"Running", "False", now - 60000, now - 60000},      /* starting */
            {"Running", "True", now - hour, now - hour + 10000}, /* ready long since */
            {"Running", "False", now - hour, now - 600000},      /* was ready */
            {"Running", "False", now - hour, now - hour + 5000}, /* never ready */
            {"Running", "True", now - 60000, now},               /* Ready since the start */
        };
        for (size_t k = 0; k < AS_ARRAY_LEN(pods); k++) {
            o += snprintf(list + o, sizeof(list) - (size_t)o, "%s", k ? "," : "");
            o += pod_json(list + o, sizeof(list) - (size_t)o, names[k], pods[k].phase,
                          pods[k].ready, pods[k].start, pods[k].changed);
        }
        snprintf(list + o, sizeof(list) - (size_t)o, "]}");
        routes_clear();
        route("GET " SCALE_PATH, 200, SCALE("6", "6", ",\"selector\":\"app=web\""), NULL);
        route("GET " PODS_PATH, 200, list, NULL);
        for (int round = 0; round < 2; round++) {
            struct as_scale_result r = do_get(&f);
            assert_true(r.ok);
            struct as_worker_info w[8];
            assert_int_equal(ops->workers(f.state, w, 8), 6);
            const int *want = round ? cases[i].then : cases[i].not_ready;
            for (size_t k = 0; k < 6; k++)
                if (w[k].not_ready != want[k] || strcmp(w[k].id, names[k]) != 0)
                    fail_msg("case %zu round %d: %s not ready %d", i, round, w[k].id,
                             w[k].not_ready);
        }
        fx_free(&f);
    }
}

static void test_failures(void **state)
{
    (void)state;
    kubeconfig("username: admin, password: s3cr3t-pw");
    struct {
        const char *scale_key;
        unsigned status;
        const char *body, *pods_body;
        unsigned pods_status;
        int permanent;
        const char *error;
    } cases[] = {
        {"GET " SCALE_PATH, 403,
         STATUS(403, "Forbidden",
                "deployments.apps \\\"web\\\" is forbidden: User \\\"admin\\\" cannot get "
                "resource \\\"deployments/scale\\\""),
         NULL, 0, 1,
         "HTTP 403 Forbidden: deployments.apps \"web\" is forbidden: User \"admin\" cannot get"},
        {"GET " SCALE_PATH, 404, STATUS(404, "NotFound", "deployments.apps \\\"web\\\" not found"),
         NULL, 0, 1, "HTTP 404 NotFound: deployments.apps \"web\" not found"},
        {"GET " SCALE_PATH, 401, STATUS(401, "Unauthorized", "Unauthorized"), NULL, 0, 1,
         "HTTP 401 Unauthorized: Unauthorized"},
        {"GET " SCALE_PATH, 500, STATUS(500, "InternalError", "etcdserver: request timed out"),
         NULL, 0, 0, "HTTP 500 InternalError: etcdserver"},
        {"GET " SCALE_PATH, 503, "<html>unavailable</html>", NULL, 0, 0,
         "HTTP 503: <html>unavailable</html>"},
        {"GET " SCALE_PATH, 200, "{\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\"}", NULL, 0, 0,
         "not a Scale: \"kind\" is \"Deployment\""},
        {"GET " SCALE_PATH, 200, "garbage", NULL, 0, 0, "response is not JSON"},
        {"GET " SCALE_PATH, 200, SCALE("\"3\"", "3", ""), NULL, 0, 0, "not a Scale: value at"},
        {"GET " SCALE_PATH, 200, SCALE("3", "3", ",\"selector\":\"app=web\""),
         STATUS(403, "Forbidden", "pods is forbidden"), 403, 1,
         "listing pods: HTTP 403 Forbidden: pods is forbidden"},
        {"GET " SCALE_PATH, 200, SCALE("3", "3", ",\"selector\":\"app=web\""),
         STATUS(410, "Expired", "The provided continue parameter is too old"), 410, 0,
         "listing pods: HTTP 410 Expired"},
        {"GET " SCALE_PATH, 200, SCALE("3", "3", ",\"selector\":\"app=web\""), "{\"kind\":1}", 200,
         0, "listing pods: not a PodList"},
        {"PATCH " SCALE_PATH, 409,
         STATUS(409, "Conflict", "Operation cannot be fulfilled on deployments.apps \\\"web\\\""),
         NULL, 0, 0, "HTTP 409 Conflict: Operation cannot be fulfilled"},
        {"PATCH " SCALE_PATH, 422,
         STATUS(422, "Invalid", "Scale.autoscaling \\\"web\\\" is invalid: spec.replicas"), NULL, 0,
         1, "HTTP 422 Invalid: Scale.autoscaling"},
        {"PATCH " SCALE_PATH, 415, STATUS(415, "UnsupportedMediaType", "the body ..."), NULL, 0, 1,
         "HTTP 415 UnsupportedMediaType"},
    };
    struct fx f;
    char msg[600];
    assert_int_equal(fx_new(&f, "name: web\nkubeconfig: kubeconfig\n", msg, sizeof(msg)), 0);
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        routes_clear();
        route(cases[i].scale_key, cases[i].status, cases[i].body, NULL);
        if (cases[i].pods_body)
            route("GET " PODS_PATH, cases[i].pods_status, cases[i].pods_body, NULL);
        struct as_scale_result r = cases[i].scale_key[0] == 'P' ? do_set(&f, 4) : do_get(&f);
        if (r.ok || r.permanent != cases[i].permanent || r.replicas != -1 ||
            strstr(r.error, cases[i].error) == NULL)
            fail_msg("case %zu: ok=%d permanent=%d '%s'", i, r.ok, r.permanent, r.error);
    }
    assert_string_equal(ks.auth, "Basic YWRtaW46czNjcjN0LXB3");
    char line[] = "YWRtaW46czNjcjN0LXB3";
    as_log_mask(line, strlen(line));
    assert_string_equal(line, "***");

    /* A 429's Retry-After holds every call back until it has passed. */
    routes_clear();
    route("GET " SCALE_PATH, 429, STATUS(429, "TooManyRequests", "Too many requests"), "1");
    struct as_scale_result r = do_get(&f);
    assert_false(r.ok || r.permanent);
    assert_non_null(strstr(r.error, "HTTP 429 TooManyRequests: Too many requests (Retry-After: "
                                    "1s)"));
    int before = requests();
    route("GET " SCALE_PATH, 200, SCALE("2", "2", ""), NULL);
    r = do_set(&f, 3);
    assert_false(r.ok || r.permanent);
    assert_non_null(strstr(r.error, "asked to wait (Retry-After): 1s left"));
    assert_int_equal(requests(), before); /* nothing sent */
    usleep(1100 * 1000);
    r = do_get(&f);
    assert_true(r.ok && r.replicas == 2);

    /* a timeout, and a call cancelled in flight */
    pthread_mutex_lock(&ks.mu);
    ks.routes[0].delay_ms = 1500;
    pthread_mutex_unlock(&ks.mu);
    r = do_get(&f);
    assert_false(r.ok || r.permanent);
    assert_non_null(strstr(r.error, "timeout after"));
    ops->get(f.state, on_result, &f);
    as_loop_once(f.loop, 50);
    ops->cancel(f.state);
    int calls = f.calls;
    for (int i = 0; i < 10; i++)
        as_loop_once(f.loop, 20);
    assert_int_equal(f.calls, calls);
    fx_free(&f);
    usleep(1600 * 1000); /* let the slow answers end */
    as_log_secrets_clear();
}

static void test_token_file(void **state)
{
    (void)state;
    write_file("token", "token-number-one\n");
    kubeconfig("tokenFile: token");
    routes_clear();
    route("GET " SCALE_PATH, 200, SCALE("1", "1", ""), NULL);
    struct fx f;
    char msg[600];
    assert_int_equal(fx_new(&f, "name: web\nkubeconfig: kubeconfig\n", msg, sizeof(msg)), 0);
    assert_true(do_get(&f).ok);
    assert_string_equal(ks.auth, "Bearer token-number-one");
    write_file("token", "token-number-two-longer\n"); /* rotated */
    assert_true(do_get(&f).ok);
    assert_string_equal(ks.auth, "Bearer token-number-two-longer");
    char path[128];
    snprintf(path, sizeof(path), "%s/token", dir);
    unlink(path); /* gone: the last token is still sent */
    assert_true(do_get(&f).ok);
    assert_string_equal(ks.auth, "Bearer token-number-two-longer");
    fx_free(&f);
}

/* In a cluster: the service account directory, relative to the configuration file as
 * kubeconfig is (the daemon's working directory is elsewhere). */
static void test_incluster(void **state)
{
    (void)state;
    char sa[128];
    snprintf(sa, sizeof(sa), "%s/sa", dir);
    assert_int_equal(mkdir(sa, 0700), 0);
    write_file("sa/token", "in-cluster-token\n");
    write_file("sa/ca.crt", "-----BEGIN CERTIFICATE-----\n");
    write_file("sa/namespace", "team\n");
    setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
    struct fx f;
    char msg[600];
    if (fx_new(&f, "name: web\nserviceaccount_dir: sa\n", msg, sizeof(msg)) != 0)
        fail_msg("%s", msg);
    char call[512];
    ops->describe(f.state, 2, call, sizeof(call));
    assert_string_equal(call, "PATCH https://127.0.0.1:6443" SCALE_PATH "?fieldManager=autoscaler "
                              "{\"spec\":{\"replicas\":2}} (Content-Type: "
                              "application/merge-patch+json, Authorization: Bearer ***)");
    fx_free(&f);
    /* Basic credentials and a client certificate, in turn */
    kubeconfig("username: admin, password: pw-1234");
    assert_int_equal(fx_new(&f, "name: web\nkubeconfig: kubeconfig\n", msg, sizeof(msg)), 0);
    ops->describe(f.state, 2, call, sizeof(call));
    assert_non_null(strstr(call, "(Content-Type: application/merge-patch+json, Authorization: "
                                 "Basic ***)"));
    fx_free(&f);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    as_log_secrets_clear();
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/as-test-k8s-XXXXXX");
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                           NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_END);
    if (mhd == NULL || mkdtemp(dir) == NULL)
        return -1;
    port = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(mhd);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate),   cmocka_unit_test(test_get_set),
        cmocka_unit_test(test_readiness),  cmocka_unit_test(test_failures),
        cmocka_unit_test(test_token_file), cmocka_unit_test(test_incluster),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
