/* The kubernetes scaler's helpers without I/O or with only local files: object names, URLs,
 * the Scale, PodList and Status answers (every field wrong in turn), RFC 3339 times,
 * Retry-After, base64; kubeconfig files (contexts, clusters, users, every credential, relative
 * paths, what is refused and where), in-cluster configuration, and the token file re-read as it
 * rotates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scalers/kubernetes_api.h"
#include "scalers/kubernetes_auth.h"
#include "util/log.h"
#include "util/util.h"

#define CERT_B64                                                                                   \
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJmYWtlCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
#define KEY_B64                                                                                    \
    "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUVmYWtlCi0tLS0tRU5EIFBSSVZBVEUgS0VZLS0tLS0K"
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"

static void test_names_and_urls(void **state)
{
    (void)state;
    assert_true(k8s_name_ok("web", 0));
    assert_true(k8s_name_ok("web-1.v2", 0));
    assert_true(k8s_name_ok("kube-system", 1));
    assert_false(k8s_name_ok("web.v2", 1)); /* a namespace has no dot */
    const char *bad[] = {"", "Web", "-web", "web-", "we_b", "we/b", "we%2Fb", "web ", ".."};
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
        assert_false(k8s_name_ok(bad[i], 0));
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name));
    long_name[254] = '\0';
    assert_false(k8s_name_ok(long_name, 0));
    long_name[253] = '\0';
    assert_true(k8s_name_ok(long_name, 0));
    long_name[64] = '\0';
    assert_false(k8s_name_ok(long_name, 1));

    struct as_sb sb = {0};
    assert_int_equal(k8s_scale_url(&sb, "https://10.0.0.1:6443//", K8S_STATEFULSET, "prod", "db"),
                     0);
    assert_string_equal(sb.buf, "https://10.0.0.1:6443/apis/apps/v1/namespaces/prod/statefulsets/"
                                "db/scale");
    as_sb_free(&sb);
    assert_int_equal(k8s_scale_url(&sb, "https://h/k8s/clusters/c-1", K8S_REPLICASET, "a", "b"), 0);
    assert_string_equal(sb.buf, "https://h/k8s/clusters/c-1/apis/apps/v1/namespaces/a/replicasets/"
                                "b/scale");
    as_sb_free(&sb);
    assert_int_equal(
        k8s_pods_url(&sb, "https://h", "default", "app=web,tier in (a, b),!canary", 250, NULL), 0);
    assert_string_equal(sb.buf, "https://h/api/v1/namespaces/default/pods?labelSelector=app%3Dweb%"
                                "2Ctier%20in%20%28a%2C%20b%29%2C%21canary&limit=250");
    as_sb_free(&sb);
    assert_int_equal(k8s_pods_url(&sb, "https://h", "d", "a=b", 2, "eyJ2IjoibWV0YS5rOHMu+/="), 0);
    assert_string_equal(sb.buf, "https://h/api/v1/namespaces/d/pods?labelSelector=a%3Db&limit=2&"
                                "continue=eyJ2IjoibWV0YS5rOHMu%2B%2F%3D");
    as_sb_free(&sb);
}

#define SCALE(spec, status)                                                                        \
    "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":\"web\","        \
    "\"namespace\":\"default\",\"resourceVersion\":\"42\"},\"spec\":" spec ",\"status\":" status   \
    "}"

static void test_parse_scale(void **state)
{
    (void)state;
    struct {
        const char *body;
        int rc, spec, status;
        const char *selector, *error;
    } cases[] = {
        {SCALE("{\"replicas\":3}", "{\"replicas\":2,\"selector\":\"app=web\"}"), 0, 3, 2, "app=web",
         NULL},
        /* a 0 is omitted by the API; a status without a selector (a CRD's scale) */
        {SCALE("{}", "{\"replicas\":0}"), 0, 0, 0, NULL, NULL},
        {SCALE("{\"replicas\":4}", "{\"replicas\":4,\"selector\":\"\"}"), 0, 4, 4, NULL, NULL},
        {"{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"spec\":{\"replicas\":1}}", 0, 1,
         -1, NULL, NULL},
        {SCALE("{\"replicas\":\"3\"}", "{}"), -1, 0, 0, NULL, "not a Scale: value at"},
        {SCALE("{\"replicas\":-1}", "{}"), -1, 0, 0, NULL, "is negative"},
        {SCALE("{\"replicas\":2.5}", "{}"), -1, 0, 0, NULL, "not a whole number"},
        {SCALE("{\"replicas\":3e10}", "{}"), -1, 0, 0, NULL, "out of range"},
        {SCALE("{\"replicas\":3}", "{\"replicas\":null}"), -1, 0, 0, NULL, "not a Scale"},
        {SCALE("{\"replicas\":3}", "{\"selector\":{\"app\":\"web\"}}"), -1, 0, 0, NULL,
         "\"status.selector\" is not a string"},
        {SCALE("{\"replicas\":3}", "[]"), -1, 0, 0, NULL, "\"status\" is not an object"},
        {SCALE("3", "{}"), -1, 0, 0, NULL, "no \"spec\" object"},
        {"{\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\",\"spec\":{\"replicas\":3}}", -1, 0, 0,
         NULL, "not a Scale: \"kind\" is \"Deployment\""},
        {"{\"kind\":\"Scale\",\"apiVersion\":\"extensions/v1beta1\",\"spec\":{}}", -1, 0, 0, NULL,
         "\"apiVersion\" is \"extensions/v1beta1\", not \"autoscaling/v1\""},
        {"{\"spec\":{\"replicas\":3}}", -1, 0, 0, NULL, "\"kind\" is missing"},
        {"[1]", -1, 0, 0, NULL, "not a JSON object"},
        {"<html>", -1, 0, 0, NULL, "response is not JSON"},
        {"", -1, 0, 0, NULL, "response is not JSON"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct k8s_scale s;
        struct as_err err;
        as_err_clear(&err);
        int rc = k8s_parse_scale(cases[i].body, strlen(cases[i].body), &s, &err);
        if (rc != cases[i].rc ||
            (rc == 0 && (s.spec != cases[i].spec || s.status != cases[i].status ||
                         (cases[i].selector ? !s.selector || strcmp(s.selector, cases[i].selector)
                                            : s.selector != NULL))) ||
            (rc < 0 && strstr(err.msg, cases[i].error) == NULL))
            fail_msg("case %zu: rc=%d spec=%d status=%d error='%s'", i, rc, s.spec, s.status,
                     err.msg);
        free(s.selector);
    }
}

#define POD(name, extra_meta, status)                                                              \
    "{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"default\","                              \
    "\"creationTimestamp\":\"2024-05-01T10:00:00Z\"" extra_meta "},\"status\":" status "}"
#define READY(v) "{\"type\":\"Ready\",\"status\":\"" v "\"}"
#define RUNNING(ready)                                                                             \
    "{\"phase\":\"Running\",\"startTime\":\"2024-05-01T10:00:05Z\",\"conditions\":["               \
    "{\"type\":\"PodScheduled\",\"status\":\"True\"}," ready "]}"
#define LIST(cont, items)                                                                          \
    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"7\"" cont     \
    "},\"items\":[" items "]}"

#define READY_AT(v, t) "{\"type\":\"Ready\",\"status\":\"" v "\",\"lastTransitionTime\":\"" t "\"}"
/* clang-format off */
#define ITEMS1                                                                                     \
    POD("web-a", "", RUNNING(READY("True"))) ","                                                   \
    POD("web-b", "", RUNNING(READY("False"))) ","                                                  \
    POD("web-c", "", "{\"phase\":\"Pending\",\"conditions\":[" READY("True") "]}") ","             \
    POD("web-d", ",\"deletionTimestamp\":\"2024-05-01T11:00:00Z\"", RUNNING(READY("True"))) ","    \
    POD("web-e", "", "{\"phase\":\"Failed\"}") ","                                                 \
    POD("web-f", "", "{}") ","                                                                     \
    POD("web-s", "", "{\"phase\":\"Succeeded\"}") ","                                              \
    POD("web-u", "", RUNNING(READY_AT("Unknown", "2024-05-01T10:01:00.5Z") "," READY("True"))) "," \
    POD("web-x", "", RUNNING(READY_AT("maybe", "yesterday")))
/* clang-format on */

static void test_parse_pods(void **state)
{
    (void)state;
    const char *page1 = LIST(",\"continue\":\"tok1\"", ITEMS1);
    struct k8s_pods acc = {0};
    struct as_err err;
    assert_int_equal(k8s_parse_pods(page1, strlen(page1), 100, &acc, &err), 0);
    assert_int_equal(acc.n, 6);
    assert_int_equal(acc.left_out, 3); /* terminating, Failed and Succeeded, as the HPA */
    assert_string_equal(acc.cont, "tok1");
    const struct k8s_pod *a = &acc.v[0], *b = &acc.v[1], *c = &acc.v[2], *f = &acc.v[3];
    const struct k8s_pod *u = &acc.v[4], *x = &acc.v[5];
    assert_string_equal(a->name, "web-a");
    assert_true(!a->pending && a->ready == K8S_COND_TRUE && a->ready_since_ms == -1);
    assert_true(a->start_ms == 1714557605000LL && a->created_ms == 1714557600000LL);
    assert_true(k8s_pod_started(a) == 1714557605000LL); /* startTime */
    assert_true(!b->pending && b->ready == K8S_COND_FALSE);
    assert_true(c->pending && c->ready == K8S_COND_TRUE && c->start_ms == -1);
    assert_true(!f->pending && f->ready == K8S_COND_NONE && f->start_ms == -1);
    assert_true(k8s_pod_started(f) == 1714557600000LL); /* else creationTimestamp */
    /* the first Ready condition counts, with its lastTransitionTime */
    assert_true(u->ready == K8S_COND_UNKNOWN && u->ready_since_ms == 1714557660500LL);
    assert_true(x->ready == K8S_COND_UNKNOWN && x->ready_since_ms == -1); /* no such status */
    /* the last page: appended, no continue; null items; a name too long to join */
    const char *page2 =
        LIST("", POD("web-g", "", RUNNING(READY("True"))) "," POD(
                     "a-name-that-is-far-too-long-to-be-generated-by-any-controller-of-k8s-x", "",
                     "{}"));
    assert_int_equal(k8s_parse_pods(page2, strlen(page2), 100, &acc, &err), 0);
    assert_int_equal(acc.n, 7);
    assert_int_equal(acc.long_name, 1);
    assert_null(acc.cont);
    const char *empty = "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":null}";
    assert_int_equal(k8s_parse_pods(empty, strlen(empty), 100, &acc, &err), 0);
    /* beyond max */
    assert_int_equal(k8s_parse_pods(page2, strlen(page2), 7, &acc, &err), 0);
    assert_int_equal(acc.n, 7);
    assert_int_equal(acc.dropped, 1);
    k8s_pods_free(&acc);

    struct {
        const char *body, *error;
    } bad[] = {
        {"{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\"}", "not a PodList: \"kind\""},
        {"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":{}}", "\"items\" is not an array"},
        {"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":[{\"metadata\":{}}]}",
         "an item has no metadata.name"},
        {"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":[7]}", "no metadata.name"},
        {"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":[{\"metadata\":{\"name\":1}}]}",
         "no metadata.name"},
        {"nope", "response is not JSON"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++) {
        struct k8s_pods p = {0};
        as_err_clear(&err);
        if (k8s_parse_pods(bad[i].body, strlen(bad[i].body), 10, &p, &err) == 0 ||
            strstr(err.msg, bad[i].error) == NULL)
            fail_msg("bad %zu: '%s'", i, err.msg);
        k8s_pods_free(&p);
    }
}

/* The three `readiness` modes, row by row: the HPA's groupPods for CPU (cpu), for every other
 * metric (pending), and the Ready condition (ready). */
#define S(x) ((x)*1000LL)
static void test_pod_readiness(void **state)
{
    (void)state;
    enum { N = K8S_COND_NONE, T = K8S_COND_TRUE, F = K8S_COND_FALSE, U = K8S_COND_UNKNOWN };
    const int64_t T0 = 1714557605000LL, NO = -99999; /* NO: the time is unknown (-1) */
    static const struct {
        const char *what;
        int pending, ready;
        int64_t since, now, window; /* ms after the start: lastTransitionTime, now, the window */
        int start_known;
        int pending_mode, cpu, ready_mode; /* not ready in each mode */
    } rows[] = {
        {"Pending", 1, F, S(0), S(10), S(5), 1, 1, 1, 1},
        {"Pending with Ready True", 1, T, S(0), S(10), S(5), 1, 1, 1, 1},
        {"Ready long since", 0, T, S(5), S(600), S(590), 1, 0, 0, 0},
        {"Running, not Ready, initialising", 0, F, S(0), S(60), S(45), 1, 0, 1, 1},
        {"never Ready after the period", 0, F, S(5), S(600), S(590), 1, 0, 1, 1},
        {"not Ready after being Ready", 0, F, S(500), S(600), S(590), 1, 0, 0, 1},
        {"turned False exactly at the delay", 0, F, S(30), S(600), S(590), 1, 0, 0, 1},
        {"turned False 1 ms before the delay", 0, F, S(30) - 1, S(600), S(590), 1, 0, 1, 1},
        {"Ready since this round's window began", 0, T, S(50), S(60), S(45), 1, 0, 1, 0},
        {"Ready since exactly the window's start", 0, T, S(45), S(60), S(45), 1, 0, 0, 0},
        {"Ready after the period, changed this round", 0, T, S(400), S(410), S(395), 1, 0, 0, 0},
        {"Unknown, initialising", 0, U, S(5), S(60), S(45), 1, 0, 0, 1},
        {"Unknown, changed this round", 0, U, S(50), S(60), S(45), 1, 0, 1, 1},
        {"Unknown after the period", 0, U, S(5), S(600), S(590), 1, 0, 0, 1},
        {"no Ready condition", 0, N, NO, S(600), S(590), 1, 0, 1, 1},
        {"Ready, no status.startTime", 0, T, S(5), S(600), S(590), 0, 0, 1, 0},
        {"False, unknown transition, after the period", 0, F, NO, S(600), S(590), 1, 0, 1, 1},
        {"True, unknown transition, initialising", 0, T, NO, S(60), S(45), 1, 0, 0, 0},
        {"False at the period's end", 0, F, S(240), S(300), S(290), 1, 0, 0, 1},
        {"False 1 ms before the period's end", 0, F, S(240), S(300) - 1, S(290), 1, 0, 1, 1},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(rows); i++) {
        struct k8s_pod p = {.pending = rows[i].pending,
                            .ready = rows[i].ready,
                            .ready_since_ms = rows[i].since == NO ? -1 : T0 + rows[i].since,
                            .start_ms = rows[i].start_known ? T0 : -1,
                            .created_ms = T0 - 2000};
        int64_t now = T0 + rows[i].now, window = T0 + rows[i].window;
        int want[] = {rows[i].pending_mode, rows[i].cpu, rows[i].ready_mode};
        for (int mode = K8S_READINESS_PENDING; mode <= K8S_READINESS_READY; mode++) {
            struct k8s_ready_rule rule = {mode, 300000, 30000};
            if (k8s_pod_not_ready(&p, &rule, now, window) != want[mode])
                fail_msg("%s, mode %d: not ready should be %d", rows[i].what, mode, want[mode]);
        }
    }
    /* the periods are options: 0 and 0 leave only the never-ready rule */
    struct k8s_pod p = {.ready = K8S_COND_FALSE, .ready_since_ms = T0, .start_ms = T0};
    struct k8s_ready_rule none = {K8S_READINESS_CPU, 0, 0}, longer = {K8S_READINESS_CPU, 0, 1000};
    assert_false(k8s_pod_not_ready(&p, &none, T0, T0));
    assert_true(k8s_pod_not_ready(&p, &longer, T0, T0));
}

static void test_errors_and_formats(void **state)
{
    (void)state;
    char buf[256];
    const char *st = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
                     "\"Failure\",\"message\":\"deployments.apps \\\"web\\\" is forbidden: User "
                     "\\\"x\\\" cannot patch resource\",\"reason\":\"Forbidden\",\"code\":403}";
    k8s_error_text(403, st, strlen(st), buf, sizeof(buf));
    assert_string_equal(buf, "HTTP 403 Forbidden: deployments.apps \"web\" is forbidden: User "
                             "\"x\" cannot patch resource");
    k8s_error_text(502, "<html>\n<b>bad gateway</b>", 25, buf, sizeof(buf));
    assert_string_equal(buf, "HTTP 502: <html>.<b>bad gateway</b>");
    const char *noreason = "{\"kind\":\"Status\",\"message\":\"m\"}";
    k8s_error_text(500, noreason, strlen(noreason), buf, sizeof(buf));
    assert_string_equal(buf, "HTTP 500: m");

    long transient[] = {500, 502, 503, 504, 408, 409, 425, 429};
    long permanent[] = {301, 400, 401, 403, 404, 405, 410, 415, 422};
    for (size_t i = 0; i < AS_ARRAY_LEN(transient); i++)
        assert_true(k8s_transient(transient[i]));
    for (size_t i = 0; i < AS_ARRAY_LEN(permanent); i++)
        assert_false(k8s_transient(permanent[i]));

    assert_true(k8s_parse_time("1970-01-01T00:00:00Z") == 0);
    assert_true(k8s_parse_time("2024-05-01T10:00:05Z") == 1714557605000LL);
    assert_true(k8s_parse_time("2024-05-01T10:00:05.123456Z") == 1714557605123LL);
    assert_true(k8s_parse_time("2024-05-01T12:00:05+02:00") == 1714557605000LL);
    assert_true(k8s_parse_time("2024-02-29t10:00:00z") == 1709200800000LL);
    const char *bad_times[] = {"",
                               "2024-05-01",
                               "2024-05-01T10:00:05",
                               "2024-13-01T00:00:00Z",
                               "2024-05-01T25:00:00Z",
                               "2024-05-01T10:00:05.Z",
                               "2024-05-01T10:00:05+0200",
                               "1969-12-31T23:59:59Z",
                               "x024-05-01T10:00:05Z",
                               "2024-05-01T10:00:05Zjunk"};
    for (size_t i = 0; i < AS_ARRAY_LEN(bad_times); i++)
        if (k8s_parse_time(bad_times[i]) != -1)
            fail_msg("time '%s' accepted", bad_times[i]);

    assert_int_equal(k8s_retry_after("1"), 1);
    assert_int_equal(k8s_retry_after("120"), 120);
    assert_int_equal(k8s_retry_after(NULL), -1);
    assert_int_equal(k8s_retry_after(""), -1);
    assert_int_equal(k8s_retry_after("-1"), -1);
    assert_int_equal(k8s_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), -1);
    assert_int_equal(k8s_retry_after("99999999999999999999"), -1);

    size_t len;
    int bad;
    char *d = k8s_base64("aGVs\nbG8g d29y\r\nbGQ=", &len, &bad);
    assert_string_equal(d, "hello world");
    assert_int_equal(len, 11);
    free(d);
    d = k8s_base64("aGVsbG8gd29ybGQ", &len, &bad); /* padding left out */
    assert_string_equal(d, "hello world");
    free(d);
    const char *bad_b64[] = {"a", "aGVsbG8=d29y", "aGV*", "aGVsbG8gd29ybGR=", "=abc"};
    for (size_t i = 0; i < AS_ARRAY_LEN(bad_b64); i++) {
        assert_null(k8s_base64(bad_b64[i], &len, &bad));
        assert_int_equal(bad, 1);
    }
}

/* ---- kubeconfig ---- */

static char dir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int kc(const char *text, const char *context, struct k8s_auth *a, char *msg, size_t n)
{
    char name[128];
    snprintf(name, sizeof(name), "%s/kubeconfig", dir);
    struct as_err err;
    as_err_clear(&err);
    int rc = k8s_kubeconfig_parse(name, text, strlen(text), context, a, &err);
    as_err_str(&err, msg, n);
    return rc;
}

#define KC_HEAD                                                                                    \
    "apiVersion: v1\nkind: Config\npreferences: {}\ncurrent-context: dev\n"                        \
    "clusters:\n"                                                                                  \
    "- name: c1\n  cluster:\n    server: https://10.0.0.1:6443\n"                                  \
    "    certificate-authority-data: " CERT_B64 "\n"                                               \
    "- name: c2\n  cluster:\n    server: http://127.0.0.1:8001/\n"                                 \
    "    insecure-skip-tls-verify: true\n    certificate-authority: ca.crt\n"                      \
    "contexts:\n"                                                                                  \
    "- name: dev\n  context: {cluster: c1, user: tok, namespace: team-a}\n"                        \
    "- name: certs\n  context: {cluster: c2, user: certs}\n"                                       \
    "- name: anon\n  context: {cluster: c2}\n"                                                     \
    "- name: files\n  context: {cluster: c2, user: files}\n"

static void test_kubeconfig(void **state)
{
    (void)state;
    write_file("ca.crt", CERT_PEM);
    write_file("tok", "file-token-12345\n");
    write_file("c.pem", CERT_PEM);
    write_file("k.pem", "key");
    const char *text = KC_HEAD "users:\n"
                               "- name: tok\n  user:\n    token: inline-token-12345\n"
                               "- name: certs\n  user:\n    client-certificate-data: " CERT_B64
                               "\n    client-key-data: " KEY_B64 "\n"
                               "- name: files\n  user:\n    tokenFile: tok\n"
                               "    client-certificate: c.pem\n    client-key: k.pem\n"
                               "    username: admin\n    password: hunter2-pass\n";
    struct k8s_auth a;
    char msg[600], path[256];
    assert_int_equal(kc(text, NULL, &a, msg, sizeof(msg)), 0);
    assert_string_equal(a.server, "https://10.0.0.1:6443");
    assert_string_equal(a.ca_pem, CERT_PEM);
    assert_null(a.ca_file);
    assert_string_equal(a.token, "inline-token-12345");
    assert_string_equal(a.ns, "team-a");
    assert_false(a.insecure);
    assert_non_null(strstr(a.where, "context dev"));
    char line[] = "sent inline-token-12345";
    as_log_mask(line, strlen(line));
    assert_string_equal(line, "sent ***"); /* the token is a log secret */
    k8s_auth_free(&a);

    assert_int_equal(kc(text, "certs", &a, msg, sizeof(msg)), 0);
    assert_string_equal(a.server, "http://127.0.0.1:8001/");
    assert_true(a.insecure);
    snprintf(path, sizeof(path), "%s/ca.crt", dir); /* relative to the kubeconfig */
    assert_string_equal(a.ca_file, path);
    assert_string_equal(a.cert_pem, CERT_PEM);
    assert_non_null(strstr(a.key_pem, "BEGIN PRIVATE KEY"));
    assert_null(a.token);
    assert_null(a.ns);
    k8s_auth_free(&a);

    assert_int_equal(kc(text, "files", &a, msg, sizeof(msg)), 0);
    snprintf(path, sizeof(path), "%s/tok", dir);
    assert_string_equal(a.token_file, path);
    snprintf(path, sizeof(path), "%s/c.pem", dir);
    assert_string_equal(a.cert_file, path);
    assert_string_equal(a.username, "admin");
    assert_string_equal(a.password, "hunter2-pass");
    k8s_auth_free(&a);

    assert_int_equal(kc(text, "anon", &a, msg, sizeof(msg)), 0); /* kubectl proxy: no user */
    assert_null(a.token);
    assert_null(a.cert_file);
    k8s_auth_free(&a);
    as_log_secrets_clear();
}

static void test_kubeconfig_errors(void **state)
{
    (void)state;
    write_file("ca.crt", CERT_PEM);
    struct {
        const char *text, *context, *error;
    } cases[] = {
        {KC_HEAD "users: []\n", "nope", "no context named 'nope' in"},
        {KC_HEAD "users: []\n", NULL, "kubeconfig:17:32: no user named 'tok'"},
        {KC_HEAD "users:\n- name: tok\n  user:\n    exec:\n      command: aws\n", NULL,
         "kubeconfig:28:7: user 'tok' authenticates with an exec plugin, which the kubernetes "
         "scaler does not run"},
        {KC_HEAD "users:\n- name: tok\n  user:\n    auth-provider: {name: gcp}\n", NULL,
         "kubeconfig:27:20: user 'tok' authenticates with an auth-provider plugin"},
        {KC_HEAD "users:\n- name: tok\n  user: {token: t, as: admin}\n", NULL,
         "impersonation ('as') is not supported"},
        {KC_HEAD "users:\n- name: certs\n  user: {client-certificate-data: " CERT_B64 "}\n",
         "certs", "user 'certs' has a client certificate without its key"},
        {KC_HEAD "users:\n- name: certs\n  user: {client-key: ca.crt}\n", "certs",
         "has a client key without its certificate"},
        {KC_HEAD "users:\n- name: certs\n  user: {client-certificate-data: '!!!', "
                 "client-key-data: " KEY_B64 "}\n",
         "certs", "client-certificate-data: not base64"},
        {KC_HEAD "users:\n- name: certs\n  user: {client-certificate-data: bm90IHBlbQ==, "
                 "client-key-data: " KEY_B64 "}\n",
         "certs", "not PEM text once decoded"},
        {KC_HEAD "users:\n- name: tok\n  user: {tokenFile: missing}\n", NULL,
         "tokenFile: cannot read"},
        {KC_HEAD "users:\n- name: tok\n  user: {token: [a]}\n", NULL,
         "kubeconfig:26:17: 'token' is a list, not a string"},
        /* a line break in a quoted token would start another header */
        {KC_HEAD "users:\n- name: tok\n  user: {token: \"abc\\r\\nX-Evil: 1\"}\n", NULL,
         "kubeconfig:26:17: 'token' holds a control character (a line break?)"},
        {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n"
         "- name: c\n  cluster: {server: ftp://h}\n",
         NULL, "kubeconfig:7:21: server 'ftp://h' is not an http:// or https:// URL"},
        {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n"
         "- name: c\n  cluster: {insecure-skip-tls-verify: true}\n",
         NULL, "cluster 'c' has no server"},
        {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n"
         "- name: c\n  cluster: {server: 'https://h', tls-server-name: k}\n",
         NULL, "'tls-server-name' is not supported"},
        {"current-context: x\ncontexts:\n- name: x\n  context: {user: u}\n", NULL,
         "context 'x' names no cluster"},
        {"current-context: x\ncontexts:\n- name: x\n  context: 3\n", NULL,
         "context 'x' has no mapping"},
        {"apiVersion: v1\nkind: Config\n", NULL, "has no current-context: set the scaler's"},
        {"- a\n", NULL, "is not a kubeconfig"},
        {"a: [\n", NULL, "kubeconfig:"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct k8s_auth a;
        char msg[700];
        if (kc(cases[i].text, cases[i].context, &a, msg, sizeof(msg)) == 0 ||
            strstr(msg, cases[i].error) == NULL)
            fail_msg("case %zu: '%s'", i, msg);
        assert_null(a.server); /* nothing kept */
    }
    struct k8s_auth a;
    struct as_err err;
    char path[128];
    snprintf(path, sizeof(path), "%s/none", dir);
    assert_int_equal(k8s_kubeconfig_load(path, NULL, &a, &err), -1);
    assert_non_null(strstr(err.msg, "cannot open"));
    as_log_secrets_clear();
}

static void test_incluster(void **state)
{
    (void)state;
    struct k8s_auth a;
    struct as_err err;
    unsetenv("KUBERNETES_SERVICE_HOST");
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(k8s_incluster_load(dir, &a, &err), -1);
    assert_non_null(strstr(err.msg, "not in a cluster: KUBERNETES_SERVICE_HOST"));
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    assert_int_equal(k8s_incluster_load(dir, &a, &err), -1); /* no token yet */
    assert_non_null(strstr(err.msg, "/token"));
    write_file("token", "sa-token-one\n");
    write_file("ca.crt", CERT_PEM);
    write_file("namespace", "prod\n");
    assert_int_equal(k8s_incluster_load(dir, &a, &err), 0);
    assert_string_equal(a.server, "https://10.96.0.1:443");
    assert_string_equal(a.ns, "prod");
    assert_null(a.token);
    assert_non_null(strstr(a.token_file, "/token"));
    assert_non_null(strstr(a.ca_file, "/ca.crt"));
    k8s_auth_free(&a);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    assert_int_equal(k8s_incluster_load(dir, &a, &err), 0);
    assert_string_equal(a.server, "https://[fd00::1]:443");
    k8s_auth_free(&a);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_token_rotation(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/rot", dir);
    write_file("rot", "first-token\n");
    struct k8s_token t = {.path = path};
    struct as_err err;
    int stale;
    assert_string_equal(k8s_token_get(&t, 1000, &stale, &err), "first-token");
    assert_string_equal(k8s_token_get(&t, 2000, &stale, &err), "first-token");
    assert_int_equal(t.reads, 1); /* unchanged: not read again */
    char line[] = "echoed first-token";
    as_log_mask(line, strlen(line));
    assert_string_equal(line, "echoed ***"); /* what was read is a log secret */
    /* The kubelet writes a new file and swaps a symlink: another inode. */
    char tmp[140];
    snprintf(tmp, sizeof(tmp), "%s/rot.new", dir);
    write_file("rot.new", "second-token\n");
    assert_int_equal(rename(tmp, path), 0);
    assert_string_equal(k8s_token_get(&t, 3000, &stale, &err), "second-token");
    assert_int_equal(t.reads, 2);
    /* every minute anyway */
    assert_string_equal(k8s_token_get(&t, 3000 + K8S_TOKEN_REREAD_MS - 1, &stale, &err),
                        "second-token");
    assert_int_equal(t.reads, 2);
    assert_string_equal(k8s_token_get(&t, 3000 + K8S_TOKEN_REREAD_MS, &stale, &err),
                        "second-token");
    assert_int_equal(t.reads, 3);
    /* gone or unreadable: the last one, said to be stale */
    unlink(path);
    assert_string_equal(k8s_token_get(&t, 4000 + K8S_TOKEN_REREAD_MS, &stale, &err),
                        "second-token");
    assert_true(stale);
    assert_non_null(strstr(err.msg, "cannot open"));
    write_file("rot", "bad\001token\n");
    assert_string_equal(k8s_token_get(&t, 5000 + K8S_TOKEN_REREAD_MS, &stale, &err),
                        "second-token");
    assert_non_null(strstr(err.msg, "control character"));
    k8s_token_free(&t);
    struct k8s_token none = {.path = path};
    unlink(path);
    assert_null(k8s_token_get(&none, 0, &stale, &err));
    assert_false(stale);
    k8s_token_free(&none);
    as_log_secrets_clear();
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/as-test-k8s-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Quantities, and a pod's request of a resource summed over its containers, as the HPA's
 * calculatePodRequests (a container without one: -1, the HPA's "missing request for"). */
static void test_pod_requests(void **state)
{
    (void)state;
    struct {
        const char *q;
        double v; /* NAN: refused */
    } q[] = {{"500m", 0.5},   {"1", 1},          {"0.25", 0.25}, {".5", 0.5},     {"2k", 2000},
             {"1Gi", 0x1p30}, {"512Mi", 0x1p29}, {"1e3", 1000},  {"1E-3", 0.001}, {"+1.5", 1.5},
             {"100n", 1e-7},  {"", NAN},         {"m", NAN},     {"1x", NAN},     {"1 m", NAN},
             {"0x10", NAN},   {"inf", NAN},      {"nan", NAN},   {"1e", NAN},     {"1e400", NAN},
             {"1.2.3", NAN},  {"1mi", NAN},      {"1Ki2", NAN}};
    for (size_t i = 0; i < AS_ARRAY_LEN(q); i++) {
        double v = -7;
        int rc = k8s_parse_quantity(q[i].q, &v);
        if (isnan(q[i].v) ? rc != -1 : rc != 0 || fabs(v - q[i].v) > 1e-12 * fabs(q[i].v))
            fail_msg("quantity '%s': rc %d, %g", q[i].q, rc, v);
    }
#define REQ(c) "{\"resources\":{\"requests\":{\"cpu\":\"" c "\",\"memory\":\"1Gi\"}}}"
#define PODR(n, containers)                                                                        \
    "{\"metadata\":{\"name\":\"" n "\"},\"spec\":{\"containers\":[" containers                     \
    "]},\"status\":{\"phase\":\"Running\"}}"
    const char *page = LIST(
        "", PODR("two", REQ("250m") "," REQ("0.75")) "," PODR("one", REQ("2")) "," PODR(
                "nocpu", REQ("1") ",{\"resources\":{}}") "," PODR("none",
                                                                  "") "," PODR("bad", REQ("lots")));
    struct k8s_pods acc = {.resource = "cpu"};
    struct as_err err;
    assert_int_equal(k8s_parse_pods(page, strlen(page), 100, &acc, &err), 0);
    assert_int_equal(acc.n, 5);
    assert_true(acc.v[0].request == 1.0 && acc.v[1].request == 2.0);
    assert_true(acc.v[2].request == -1 && acc.v[3].request == -1 && acc.v[4].request == -1);
    k8s_pods_free(&acc);
    assert_null(acc.resource);
    acc.resource = "memory";
    assert_int_equal(k8s_parse_pods(page, strlen(page), 100, &acc, &err), 0);
    assert_true(acc.v[0].request == 0x1p31 && acc.v[1].request == 0x1p30);
    k8s_pods_free(&acc);
    assert_int_equal(k8s_parse_pods(page, strlen(page), 100, &acc, &err), 0); /* none asked */
    assert_true(acc.v[0].request == 0 && acc.v[2].request == 0);
    k8s_pods_free(&acc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_urls),     cmocka_unit_test(test_parse_scale),
        cmocka_unit_test(test_parse_pods),         cmocka_unit_test(test_pod_readiness),
        cmocka_unit_test(test_errors_and_formats), cmocka_unit_test(test_kubeconfig),
        cmocka_unit_test(test_kubeconfig_errors),  cmocka_unit_test(test_incluster),
        cmocka_unit_test(test_token_rotation),     cmocka_unit_test(test_pod_requests),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
