/* The kubernetes scaler's parsers of the API's answers (scalers/kubernetes_api.h): an
 * autoscaling/v1 Scale, PodList pages, a Status error, RFC 3339 times, Retry-After and base64.
 * The first byte picks what the rest is: 0 a Scale, 1 up to four PodList pages separated by a
 * line "--" (gathered into one list, as the scaler pages), 2 an error body, 3 a time, a
 * Retry-After value and base64 text. Invariants: a Scale's counts are in range and its
 * selector is NULL or a non-empty string; the pods gathered never exceed the maximum, each has
 * a non-empty NUL-terminated name shorter than 64 bytes, a Ready status of the enum, times of
 * -1 or later than the epoch, and a readiness of 0 or 1 in every mode (judged at one of the
 * pod's own times); a page that fails keeps the pods of the earlier ones; the error text is
 * NUL-terminated within its buffer; decoded base64 is as long as it says. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scalers/kubernetes_api.h"

#define MAX_PODS 8

static void scale(const char *p, size_t n)
{
    struct k8s_scale s;
    struct as_err err;
    if (k8s_parse_scale(p, n, &s, &err) < 0) {
        if (s.selector != NULL || err.msg[0] == '\0')
            abort();
        return;
    }
    if (s.spec < 0 || s.status < -1 || (s.selector != NULL && s.selector[0] == '\0'))
        abort();
    free(s.selector);
}

/* The next "\n--\n" in [p, end), or NULL. */
static const char *separator(const char *p, const char *end)
{
    for (; end - p >= 4; p++)
        if (memcmp(p, "\n--\n", 4) == 0)
            return p;
    return NULL;
}

static void check_readiness(const struct k8s_pod *p)
{
    int64_t now = p->ready_since_ms > p->start_ms ? p->ready_since_ms : p->start_ms;
    for (int mode = K8S_READINESS_PENDING; mode <= K8S_READINESS_READY; mode++) {
        struct k8s_ready_rule rule = {mode, 300000, 30000};
        int r = k8s_pod_not_ready(p, &rule, now, p->created_ms);
        if (r != 0 && r != 1)
            abort();
    }
}

static void check_pods(const struct k8s_pods *acc)
{
    if (acc->n > MAX_PODS || acc->n > acc->cap)
        abort();
    for (size_t i = 0; i < acc->n; i++) {
        const struct k8s_pod *p = &acc->v[i];
        size_t len = strnlen(p->name, sizeof(p->name));
        if (len == 0 || len >= sizeof(p->name) || p->start_ms < -1 || p->created_ms < -1 ||
            p->ready_since_ms < -1 || p->ready < K8S_COND_NONE || p->ready > K8S_COND_UNKNOWN ||
            (p->pending != 0 && p->pending != 1) || k8s_pod_started(p) < -1 ||
            !(p->request == -1 || (p->request > 0 && isfinite(p->request))))
            abort();
        check_readiness(p);
    }
}

static void pods(const char *p, const char *end)
{
    struct k8s_pods acc = {.resource = "cpu"}; /* its requests summed, quantities parsed */
    for (int page = 0; page < 4 && p <= end; page++) {
        const char *sep = separator(p, end);
        size_t len = sep ? (size_t)(sep - p) : (size_t)(end - p);
        size_t before = acc.n;
        struct as_err err;
        if (k8s_parse_pods(p, len, MAX_PODS, &acc, &err) < 0 &&
            (acc.n < before || err.msg[0] == '\0'))
            abort();
        check_pods(&acc);
        if (acc.cont != NULL && acc.cont[0] == '\0')
            abort();
        if (sep == NULL)
            break;
        p = sep + 4;
    }
    k8s_pods_free(&acc);
}

static void formats(const char *s)
{
    char buf[200];
    size_t len;
    int bad;
    memset(buf, 'x', sizeof(buf));
    k8s_error_text(503, s, strlen(s), buf, 64);
    if (memchr(buf, '\0', 64) == NULL)
        abort();
    int64_t t = k8s_parse_time(s);
    long r = k8s_retry_after(s);
    if (t < -1 || r < -1 || r > 86400)
        abort();
    double q = 0;
    if (k8s_parse_quantity(s, &q) == 0 && !isfinite(q))
        abort();
    char *d = k8s_base64(s, &len, &bad);
    if (d != NULL && (d[len] != '\0' || len > strlen(s)))
        abort();
    if (d == NULL && !bad)
        abort(); /* only out of memory, which the driver never causes */
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *text = malloc(size);
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0'; /* a NUL-terminated copy: the formats take C strings */
    switch (data[0] & 3) {
    case 0:
        scale(text, size - 1);
        break;
    case 1:
        pods(text, text + size - 1);
        break;
    case 2: {
        char buf[256];
        k8s_error_text(403, text, size - 1, buf, sizeof(buf));
        if (strlen(buf) >= sizeof(buf))
            abort();
        break;
    }
    default:
        formats(text);
    }
    free(text);
    return 0;
}
