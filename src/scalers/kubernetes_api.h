/* The Kubernetes API as the `kubernetes` scaler speaks it, without I/O: the URLs of the scale
 * subresource and of a pod list, the answers parsed without trusting them (an autoscaling/v1
 * Scale, a PodList page, a Status error object), and the small formats around them (RFC 3339
 * times, Retry-After, base64, object names). A helper of scalers/kubernetes.c (no ops table);
 * unit-tested in tests/unit/test_kubernetes_api.c and fuzzed in
 * tests/fuzz/fuzz_kube_api.c.
 *
 * Followed: the Kubernetes API reference (https://kubernetes.io/docs/reference/kubernetes-api/),
 * pages "Scale" (autoscaling/v1), "Pod" (core/v1), "Status" (meta/v1), and "API Concepts"
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/) for lists in chunks. */
#ifndef AS_SCALERS_KUBERNETES_API_H
#define AS_SCALERS_KUBERNETES_API_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/util.h"

/* The workload kinds with a scale subresource in apps/v1, in the order of the `kind` option. */
enum k8s_kind { K8S_DEPLOYMENT, K8S_STATEFULSET, K8S_REPLICASET };

/* "deployments", "statefulsets", "replicasets". */
const char *k8s_resource(int kind);

/* Whether s is a DNS-1123 subdomain (an object's name: at most 253 of a-z 0-9 - ., starting and
 * ending with a letter or digit) or, label = 1, a DNS-1123 label (a namespace: at most 63 of
 * a-z 0-9 -, no dot). Such names need no escaping in a URL path. */
int k8s_name_ok(const char *s, int label);

/* {server}/apis/apps/v1/namespaces/{ns}/{resource}/{name}/scale (server without its trailing
 * slashes). Returns 0, or -1 on ENOMEM. */
int k8s_scale_url(struct as_sb *sb, const char *server, int kind, const char *ns, const char *name);

/* {server}/api/v1/namespaces/{ns}/pods?labelSelector=SEL&limit=LIMIT[&continue=TOKEN], the
 * selector and token percent-encoded. Returns 0, or -1 on ENOMEM. */
int k8s_pods_url(struct as_sb *sb, const char *server, const char *ns, const char *selector,
                 int limit, const char *cont);

/* An autoscaling/v1 Scale. */
struct k8s_scale {
    int spec;       /* spec.replicas: the count asked for (0 when absent: the API omits a 0) */
    int status;     /* status.replicas: the pods the controller observed, -1 when absent */
    char *selector; /* status.selector (label selector, query-param syntax); NULL when absent or
                       empty. Caller frees. */
};

/* Parses a Scale: an object with "kind": "Scale" and "apiVersion": "autoscaling/v1", a "spec"
 * object whose "replicas" (absent: 0) is a whole number 0..2147483647, "status.replicas"
 * likewise when present, "status.selector" a string when present. Returns 0 with *out filled,
 * or -1 with err ("response is not JSON (...)", "not a Scale: ..."). */
int k8s_parse_scale(const char *body, size_t len, struct k8s_scale *out, struct as_err *err);

/* The status of a pod's Ready condition (the first condition of type "Ready", as the HPA's
 * podutil.GetPodCondition finds it). */
enum k8s_cond {
    K8S_COND_NONE,   /* no Ready condition */
    K8S_COND_TRUE,   /* "True" */
    K8S_COND_FALSE,  /* "False" */
    K8S_COND_UNKNOWN /* "Unknown", or any other status */
};

/* One pod that counts, with what the HPA's replica calculator (groupPods) reads of it. */
struct k8s_pod {
    char name[64];          /* metadata.name */
    int pending;            /* status.phase is "Pending" */
    int ready;              /* enum k8s_cond: its Ready condition's status */
    int64_t ready_since_ms; /* that condition's lastTransitionTime, -1 absent or unparsable */
    int64_t start_ms;       /* status.startTime, -1 absent or unparsable */
    int64_t created_ms;     /* metadata.creationTimestamp, -1 absent or unparsable */
    /* With k8s_pods.resource: the sum of its containers' spec.containers[].resources.requests
     * of it, in the quantity's base unit (cores, bytes), as the HPA's calculatePodRequests;
     * -1 when a container has none (or an unparsable one), or the pod has no container;
     * 0 without k8s_pods.resource. */
    double request;
};

/* The `readiness` option: which pods are not ready. */
enum k8s_readiness {
    K8S_READINESS_PENDING, /* Pending only: the HPA's rule for every metric but CPU */
    K8S_READINESS_CPU,     /* the HPA's rule for the CPU resource metric */
    K8S_READINESS_READY,   /* Pending, or the Ready condition is not True */
};

struct k8s_ready_rule {
    int mode;                 /* enum k8s_readiness */
    int64_t init_period_ms;   /* cpu: --horizontal-pod-autoscaler-cpu-initialization-period */
    int64_t initial_delay_ms; /* cpu: --horizontal-pod-autoscaler-initial-readiness-delay */
};

/* Whether p is not ready at now_ms (ms since the epoch) under rule. since_ms is when the
 * window of the metric values this round joins began (the previous pod list): the cpu rule
 * reads it where the HPA reads a CPU sample's timestamp and window.
 *   pending: p is Pending.
 *   cpu:     p is Pending; or it has no Ready condition or no start time; or, while
 *            start + init_period > now, its Ready condition is False or changed after
 *            since_ms; or, after that, it is False and changed before start + initial_delay
 *            (it has never been ready). An unknown lastTransitionTime is long ago.
 *   ready:   p is Pending, or its Ready condition is not True. */
int k8s_pod_not_ready(const struct k8s_pod *p, const struct k8s_ready_rule *rule, int64_t now_ms,
                      int64_t since_ms);

/* The time p started (status.startTime, else metadata.creationTimestamp), -1 unknown. */
int64_t k8s_pod_started(const struct k8s_pod *p);

/* The pods of a list, gathered page by page. Zero-initialise; k8s_pods_free releases. */
struct k8s_pods {
    struct k8s_pod *v;
    size_t n, cap;
    size_t left_out;  /* terminating (deletionTimestamp set), Failed or Succeeded: left out as the
                         HPA does (podutil.IsPodTerminal) */
    size_t long_name; /* names of 64 bytes or more (never generated by a controller): left out */
    size_t dropped;   /* beyond the max: left out */
    char *cont;       /* metadata.continue of the last page: NULL when it was the last one */
    const char *resource; /* in: the resource whose requests k8s_pod.request sums (cpu,
                             memory, ...), NULL none; borrowed, and cleared by k8s_pods_free */
};

/* A resource quantity
 * (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/): a decimal
 * number (sign, digits, one point) and a suffix: none, a decimal SI one (n u m k M G T P E), a
 * binary one (Ki Mi Gi Ti Pi Ei) or an exponent (e or E and an integer), into *out in base units
 * ("500m" = 0.5, "1Gi" = 1073741824). Returns 0, or -1 for anything else. */
int k8s_parse_quantity(const char *s, double *out);

/* Parses one page of a pod list ("kind": "PodList", "items": [...]) and appends its pods to acc
 * (at most max in all). A pod must have a string metadata.name; status.phase, conditions and
 * times are read when they have the documented types and ignored otherwise (an unparsable time
 * is unknown). Returns 0, or -1 with err (acc keeps the pods of earlier pages). */
int k8s_parse_pods(const char *body, size_t len, size_t max, struct k8s_pods *acc,
                   struct as_err *err);

void k8s_pods_free(struct k8s_pods *p);

/* The reason of a failed call, for the log and the scale result:
 *   "HTTP 403 Forbidden: <the Status object's message>" for a meta/v1 Status,
 *   "HTTP 502: <the body's start, printable>" otherwise. */
void k8s_error_text(long status, const char *body, size_t len, char *buf, size_t n);

/* Whether retrying may help: 5xx, 408, 409 (Conflict: the engine re-reads first), 425, 429. */
int k8s_transient(long status);

/* An RFC 3339 time as the API writes it ("2024-05-01T10:00:00Z", fractions and offsets
 * accepted) in ms since the epoch, or -1 when s is not one. */
int64_t k8s_parse_time(const char *s);

/* A Retry-After header value in seconds (delta-seconds only, 0..86400), or -1. */
long k8s_retry_after(const char *s);

/* Decodes standard base64 (whitespace ignored, padding optional) into a new NUL-terminated
 * buffer; *len gets its length. NULL when s is not base64 or on ENOMEM (*bad tells which: 1 for
 * bad input). Caller frees. */
char *k8s_base64(const char *s, size_t *len, int *bad);

#endif
