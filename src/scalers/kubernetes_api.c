#include "scalers/kubernetes_api.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

static const char *const resources[] = {"deployments", "statefulsets", "replicasets"};

const char *k8s_resource(int kind)
{
    return kind >= 0 && kind < (int)AS_ARRAY_LEN(resources) ? resources[kind] : "deployments";
}

static int alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int k8s_name_ok(const char *s, int label)
{
    size_t n = strlen(s);
    if (n == 0 || n > (label ? 63u : 253u) || !alnum_lower(s[0]) || !alnum_lower(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!alnum_lower(s[i]) && s[i] != '-' && (label || s[i] != '.'))
            return 0;
    return 1;
}

/* ---- URLs ---- */

static int put_server(struct as_sb *sb, const char *server)
{
    size_t n = strlen(server);
    while (n > 0 && server[n - 1] == '/')
        n--;
    return as_sb_append(sb, server, n);
}

/* RFC 3986: every byte but the unreserved ones as %XX. */
static int encode(struct as_sb *sb, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (plain ? as_sb_append(sb, (const char *)p, 1) : as_sb_append(sb, esc, 3))
            return -1;
    }
    return 0;
}

int k8s_scale_url(struct as_sb *sb, const char *server, int kind, const char *ns, const char *name)
{
    if (put_server(sb, server) < 0)
        return -1;
    return as_sb_printf(sb, "/apis/apps/v1/namespaces/%s/%s/%s/scale", ns, k8s_resource(kind),
                        name);
}

int k8s_pods_url(struct as_sb *sb, const char *server, const char *ns, const char *selector,
                 int limit, const char *cont)
{
    int rc = put_server(sb, server) | as_sb_printf(sb, "/api/v1/namespaces/%s/pods?", ns) |
             as_sb_puts(sb, "labelSelector=") | encode(sb, selector) |
             as_sb_printf(sb, "&limit=%d", limit);
    if (rc == 0 && cont != NULL)
        rc = as_sb_puts(sb, "&continue=") | encode(sb, cont);
    return rc ? -1 : 0;
}

/* ---- answers ---- */

static int not_a(struct as_err *err, const char *kind, const char *why)
{
    return as_err_set(err, "not a %s: %s", kind, why);
}

static const char *str_at(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The document of a body: a JSON object of the kind asked for. NULL with err. */
static json_t *load_kind(const char *body, size_t len, const char *kind, const char *api,
                         struct as_err *err)
{
    struct as_err jerr;
    as_err_clear(&jerr);
    json_t *doc = as_json_load(body, len, &jerr);
    if (doc == NULL) {
        as_err_set(err, "response is %s", jerr.msg);
        return NULL;
    }
    const char *k = str_at(doc, "kind"), *v = str_at(doc, "apiVersion");
    char why[128];
    if (!json_is_object(doc))
        snprintf(why, sizeof(why), "the answer is not a JSON object");
    else if (k == NULL || strcmp(k, kind) != 0)
        snprintf(why, sizeof(why), "\"kind\" is %s%.40s%s", k ? "\"" : "", k ? k : "missing",
                 k ? "\"" : "");
    else if (v == NULL || strcmp(v, api) != 0)
        snprintf(why, sizeof(why), "\"apiVersion\" is %s%.40s%s, not \"%s\"", v ? "\"" : "",
                 v ? v : "missing", v ? "\"" : "", api);
    else
        return doc;
    json_decref(doc);
    not_a(err, kind, why);
    return NULL;
}

/* A count at ptr when present: def when absent, else a whole number 0..INT_MAX. */
static int count_at(json_t *doc, const char *ptr, int def, int *out, struct as_err *err)
{
    struct as_err perr;
    if (as_json_pointer(doc, ptr, &perr) == NULL) {
        *out = def;
        return 0;
    }
    struct as_err cerr;
    as_err_clear(&cerr);
    if (as_json_count_at(doc, ptr, AS_JSON_NUMBERS_ONLY, out, &cerr) == 0)
        return 0;
    return not_a(err, "Scale", cerr.msg);
}

int k8s_parse_scale(const char *body, size_t len, struct k8s_scale *out, struct as_err *err)
{
    *out = (struct k8s_scale){.spec = 0, .status = -1};
    json_t *doc = load_kind(body, len, "Scale", "autoscaling/v1", err);
    if (doc == NULL)
        return -1;
    int rc = -1;
    json_t *status = json_object_get(doc, "status");
    json_t *sel = json_object_get(status, "selector");
    if (!json_is_object(json_object_get(doc, "spec")))
        not_a(err, "Scale", "no \"spec\" object");
    else if (status != NULL && !json_is_object(status))
        not_a(err, "Scale", "\"status\" is not an object");
    else if (sel != NULL && !json_is_string(sel))
        not_a(err, "Scale", "\"status.selector\" is not a string");
    else if (count_at(doc, "/spec/replicas", 0, &out->spec, err) == 0 &&
             count_at(doc, "/status/replicas", -1, &out->status, err) == 0)
        rc = 0;
    if (rc == 0 && sel != NULL && json_string_length(sel) > 0) {
        out->selector = strndup(json_string_value(sel), json_string_length(sel));
        if (out->selector == NULL)
            rc = as_err_set(err, "out of memory");
    }
    json_decref(doc);
    return rc;
}

/* A time at key of obj: -1 when absent or not an RFC 3339 time. */
static int64_t time_at(json_t *obj, const char *key)
{
    const char *t = str_at(obj, key);
    return t ? k8s_parse_time(t) : -1;
}

/* The pod's Ready condition: its status (enum k8s_cond) and lastTransitionTime into p. */
static void ready_condition(json_t *status, struct k8s_pod *p)
{
    json_t *conds = json_object_get(status, "conditions");
    size_t i;
    json_t *c;
    p->ready = K8S_COND_NONE;
    p->ready_since_ms = -1;
    json_array_foreach(conds, i, c)
    {
        const char *type = str_at(c, "type"), *st = str_at(c, "status");
        if (type == NULL || strcmp(type, "Ready") != 0)
            continue;
        p->ready = st && strcmp(st, "True") == 0    ? K8S_COND_TRUE
                   : st && strcmp(st, "False") == 0 ? K8S_COND_FALSE
                                                    : K8S_COND_UNKNOWN;
        p->ready_since_ms = time_at(c, "lastTransitionTime");
        return;
    }
}

static int phase_is(const char *phase, const char *name)
{
    return phase != NULL && strcmp(phase, name) == 0;
}

int k8s_parse_quantity(const char *s, double *out)
{
    static const struct {
        const char *sfx;
        double mul;
    } sfx[] = {{"", 1},        {"n", 1e-9},    {"u", 1e-6},    {"m", 1e-3},
               {"k", 1e3},     {"M", 1e6},     {"G", 1e9},     {"T", 1e12},
               {"P", 1e15},    {"E", 1e18},    {"Ki", 1024.0}, {"Mi", 1048576.0},
               {"Gi", 0x1p30}, {"Ti", 0x1p40}, {"Pi", 0x1p50}, {"Ei", 0x1p60}};
    size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0, digits = 0;
    for (; isdigit((unsigned char)s[i]); i++)
        digits++;
    if (s[i] == '.')
        for (i++; isdigit((unsigned char)s[i]); i++)
            digits++;
    if (digits == 0 || i > 64)
        return -1;
    char num[72];
    memcpy(num, s, i);
    num[i] = '\0';
    double v = strtod(num, NULL);
    const char *rest = s + i;
    if ((rest[0] == 'e' || rest[0] == 'E') && rest[1] != '\0') {
        char *end;
        long e = strtol(rest + 1, &end, 10);
        if (*end != '\0' || !isdigit((unsigned char)end[-1]) || e > 400 || e < -400)
            return -1;
        *out = v * pow(10.0, (double)e);
        return isfinite(*out) ? 0 : -1;
    }
    for (size_t k = 0; k < sizeof(sfx) / sizeof(sfx[0]); k++)
        if (strcmp(rest, sfx[k].sfx) == 0) {
            *out = v * sfx[k].mul;
            return isfinite(*out) ? 0 : -1;
        }
    return -1;
}

/* calculatePodRequests for one pod: the sum of its containers' requests of resource, -1 when
 * one has none (the HPA: "missing request for"). */
static double pod_request(json_t *item, const char *resource)
{
    json_t *containers = json_object_get(json_object_get(item, "spec"), "containers"), *c;
    size_t i;
    double sum = 0, q;
    if (!json_is_array(containers) || json_array_size(containers) == 0)
        return -1;
    json_array_foreach(containers, i, c)
    {
        const char *v =
            str_at(json_object_get(json_object_get(c, "resources"), "requests"), resource);
        if (v == NULL || k8s_parse_quantity(v, &q) < 0 || !(q >= 0))
            return -1;
        sum += q;
    }
    return sum > 0 ? sum : -1; /* a request of 0 weighs nothing: as none (the HPA divides) */
}

/* Appends one item; 1 when it was left out, 0 when kept, -1 on error. */
static int add_pod(json_t *item, size_t max, struct k8s_pods *acc, struct as_err *err)
{
    json_t *meta = json_object_get(item, "metadata"), *status = json_object_get(item, "status");
    json_t *name = json_object_get(meta, "name");
    if (!json_is_object(item) || !json_is_string(name) || json_string_length(name) == 0)
        return not_a(err, "PodList", "an item has no metadata.name");
    const char *phase = str_at(status, "phase");
    json_t *deleting = json_object_get(meta, "deletionTimestamp");
    if ((deleting != NULL && !json_is_null(deleting)) || phase_is(phase, "Failed") ||
        phase_is(phase, "Succeeded"))
        return acc->left_out++, 1;
    if (json_string_length(name) >= sizeof(acc->v[0].name) ||
        strlen(json_string_value(name)) != json_string_length(name))
        return acc->long_name++, 1;
    if (acc->n >= max)
        return acc->dropped++, 1;
    if (acc->n == acc->cap) {
        size_t cap = acc->cap ? acc->cap * 2 : 16;
        struct k8s_pod *v = realloc(acc->v, cap * sizeof(*v));
        if (v == NULL)
            return as_err_set(err, "out of memory");
        acc->v = v;
        acc->cap = cap;
    }
    struct k8s_pod *p = &acc->v[acc->n++];
    memcpy(p->name, json_string_value(name), json_string_length(name) + 1);
    p->pending = phase_is(phase, "Pending");
    ready_condition(status, p);
    p->start_ms = time_at(status, "startTime");
    p->created_ms = time_at(meta, "creationTimestamp");
    p->request = acc->resource ? pod_request(item, acc->resource) : 0;
    return 0;
}

int64_t k8s_pod_started(const struct k8s_pod *p)
{
    return p->start_ms >= 0 ? p->start_ms : p->created_ms;
}

/* groupPods' rule for the CPU resource metric, for a pod that is not Pending. */
static int cpu_not_ready(const struct k8s_pod *p, const struct k8s_ready_rule *rule, int64_t now_ms,
                         int64_t since_ms)
{
    if (p->ready == K8S_COND_NONE || p->start_ms < 0)
        return 1;
    if (p->start_ms + rule->init_period_ms > now_ms) /* still initialising */
        return p->ready == K8S_COND_FALSE || p->ready_since_ms > since_ms;
    /* not ready and never has been */
    return p->ready == K8S_COND_FALSE && p->start_ms + rule->initial_delay_ms > p->ready_since_ms;
}

int k8s_pod_not_ready(const struct k8s_pod *p, const struct k8s_ready_rule *rule, int64_t now_ms,
                      int64_t since_ms)
{
    if (p->pending)
        return 1;
    switch (rule->mode) {
    case K8S_READINESS_CPU:
        return cpu_not_ready(p, rule, now_ms, since_ms);
    case K8S_READINESS_READY:
        return p->ready != K8S_COND_TRUE;
    default:
        return 0;
    }
}

int k8s_parse_pods(const char *body, size_t len, size_t max, struct k8s_pods *acc,
                   struct as_err *err)
{
    free(acc->cont);
    acc->cont = NULL;
    json_t *doc = load_kind(body, len, "PodList", "v1", err);
    if (doc == NULL)
        return -1;
    int rc = 0;
    json_t *items = json_object_get(doc, "items"), *item;
    const char *cont = str_at(json_object_get(doc, "metadata"), "continue");
    size_t i;
    if (!json_is_array(items) && !json_is_null(items))
        rc = not_a(err, "PodList", "\"items\" is not an array");
    json_array_foreach(items, i, item)
    {
        if (rc == 0 && add_pod(item, max, acc, err) < 0)
            rc = -1;
    }
    if (rc == 0 && cont != NULL && cont[0] != '\0' && (acc->cont = strdup(cont)) == NULL)
        rc = as_err_set(err, "out of memory");
    json_decref(doc);
    return rc;
}

void k8s_pods_free(struct k8s_pods *p)
{
    free(p->v);
    free(p->cont);
    memset(p, 0, sizeof(*p));
}

void k8s_error_text(long status, const char *body, size_t len, char *buf, size_t n)
{
    struct as_err err;
    json_t *doc = as_json_load(body, len, &err);
    const char *kind = str_at(doc, "kind"), *reason = str_at(doc, "reason");
    const char *msg = str_at(doc, "message");
    char text[200], why[48];
    if (kind && strcmp(kind, "Status") == 0 && msg)
        snprintf(buf, n, "HTTP %ld%s%s: %s", status, reason ? " " : "",
                 reason ? as_printable(reason, strlen(reason), why, sizeof(why)) : "",
                 as_printable(msg, strlen(msg), text, sizeof(text)));
    else
        snprintf(buf, n, "HTTP %ld: %s", status, as_printable(body, len, text, 121));
    json_decref(doc);
}

int k8s_transient(long status)
{
    return status >= 500 || status == 408 || status == 409 || status == 425 || status == 429;
}

/* ---- small formats ---- */

/* n digits at s as a number, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The offset at s ("Z", "+HH:MM", "-HH:MM") in minutes east of UTC; 0 or -1 for bad. */
static int parse_offset(const char *s, int *minutes)
{
    if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
        *minutes = 0;
        return 0;
    }
    if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':')
        return -1;
    int h = digits(s + 1, 2), m = digits(s + 4, 2);
    if (h < 0 || h > 23 || m < 0 || m > 59)
        return -1;
    *minutes = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
    return 0;
}

int64_t k8s_parse_time(const char *s)
{
    static const char shape[] = "0000-00-00T00:00:00";
    for (size_t i = 0; i < sizeof(shape) - 1; i++)
        if (s[i] == '\0' || (shape[i] == '0' ? !isdigit((unsigned char)s[i])
                                             : s[i] != shape[i] && !(i == 10 && s[i] == 't')))
            return -1;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = s + 19;
    int64_t ms = 0;
    if (*p == '.') {
        int n = 0;
        for (p++; isdigit((unsigned char)*p); p++, n++)
            if (n < 3)
                ms = ms * 10 + (*p - '0');
        if (n == 0)
            return -1;
        for (; n < 3; n++)
            ms *= 10;
    }
    int off;
    if (parse_offset(p, &off) < 0)
        return -1;
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off * 60;
    return t < 0 ? -1 : t * 1000 + ms;
}

long k8s_retry_after(const char *s)
{
    long v = 0;
    if (s == NULL || *s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 86400)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v <= 86400 ? v : -1;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

char *k8s_base64(const char *s, size_t *len, int *bad)
{
    size_t n = strlen(s), o = 0, pad = 0;
    unsigned acc = 0, bits = 0;
    char *out = malloc(n / 4 * 3 + 4);
    *bad = 0;
    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int v = b64_value(*p);
        if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
            continue;
        if (*p == '=' && bits > 0) {
            pad++;
            continue;
        }
        if (v < 0 || pad > 0)
            goto bad;
        acc = ((acc << 6) | (unsigned)v) & 0xffffu; /* at most 12 bits are pending */
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    /* leftover bits must be the zero padding of a final 2 or 3 character group */
    if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0 || pad > 2)
        goto bad;
    out[o] = '\0';
    *len = o;
    return out;
bad:
    free(out);
    *bad = 1;
    return NULL;
}
