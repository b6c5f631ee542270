/* AWS Signature Version 4 (see sigv4.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/http1.h"
#include "util/sigv4.h"

#define ALGORITHM "AWS4-HMAC-SHA256"

static int unreserved(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int as_sigv4_encode(struct as_sb *sb, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c))
            continue;
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        if (as_sb_append(sb, s + from, i - from) < 0 || as_sb_append(sb, esc, 3) < 0)
            return -1;
        from = i + 1;
    }
    return as_sb_append(sb, s + from, n - from);
}

/* ---- canonical query ---- */

struct enc_pair {
    char *name, *value;
};

static int by_name_value(const void *a, const void *b)
{
    const struct enc_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

static char *encoded(const char *s)
{
    struct as_sb sb = {0};
    if (s == NULL)
        s = "";
    if (as_sigv4_encode(&sb, s, strlen(s)) < 0 || as_sb_append(&sb, "", 0) < 0) {
        as_sb_free(&sb);
        return NULL;
    }
    return sb.buf;
}

int as_sigv4_query(struct as_sb *sb, const struct as_sigv4_pair *pairs, size_t n)
{
    int rc = -1;
    struct enc_pair *v = n > 0 ? calloc(n, sizeof(*v)) : NULL;
    if (n > 0 && v == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        v[i].name = encoded(pairs[i].name);
        v[i].value = encoded(pairs[i].value);
        if (v[i].name == NULL || v[i].value == NULL)
            goto out;
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), by_name_value);
    for (size_t i = 0; i < n; i++)
        if (as_sb_printf(sb, "%s%s=%s", i ? "&" : "", v[i].name, v[i].value) < 0)
            goto out;
    rc = as_sb_append(sb, "", 0);
out:
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
    return rc;
}

/* ---- canonical URI ---- */

struct seg {
    const char *p;
    size_t n;
};

/* Splits path into its segments without empty ones, "." and what ".." removes; *trailing is
 * whether the result ends with a slash. Returns the number of segments. */
static size_t normalize(const char *path, struct seg *segs, int *trailing)
{
    size_t nseg = 0;
    const char *p = path;
    *trailing = 0;
    while (*p) {
        while (*p == '/')
            p++;
        if (*p == '\0') { /* the path ends with a slash */
            *trailing = 1;
            break;
        }
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        int dot = n == 1 && p[0] == '.', dotdot = n == 2 && p[0] == '.' && p[1] == '.';
        if (dotdot && nseg > 0)
            nseg--;
        else if (n > 0 && !dot && !dotdot)
            segs[nseg++] = (struct seg){p, n};
        *trailing = end != NULL || dot || dotdot;
        p += n;
    }
    return nseg;
}

int as_sigv4_uri(struct as_sb *sb, const char *path)
{
    size_t max = 1;
    if (path == NULL)
        path = "";
    for (const char *p = path; *p; p++)
        max += *p == '/';
    struct seg *segs = calloc(max, sizeof(*segs));
    if (segs == NULL)
        return -1;
    int trailing, rc = 0;
    size_t n = normalize(path, segs, &trailing);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = as_sb_append(sb, "/", 1) < 0 || as_sigv4_encode(sb, segs[i].p, segs[i].n) < 0 ? -1 : 0;
    if (rc == 0 && (n == 0 || trailing))
        rc = as_sb_append(sb, "/", 1);
    free(segs);
    return rc < 0 ? -1 : as_sb_append(sb, "", 0);
}

/* ---- canonical headers ---- */

struct hdr {
    char *name;  /* lower-cased */
    char *value; /* trimmed, inner runs of blanks collapsed */
    size_t order;
};

static int blank(int c)
{
    return c == ' ' || c == '\t';
}

static int header_ok(const struct as_sigv4_pair *h, struct as_err *err)
{
    const char *v = h->value ? h->value : "";
    if (h->name == NULL || h->name[0] == '\0')
        return as_err_set(err, "a header without a name");
    for (const char *p = h->name; *p; p++)
        if (!as_http1_tchar((unsigned char)*p))
            return as_err_set(err, "header name '%.64s' is not a token", h->name);
    if (!as_http1_field_text(v, strlen(v)))
        return as_err_set(err, "header '%.64s' has a control character", h->name);
    return 0;
}

static char *lower(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; p && *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return d;
}

static char *trimmed(const char *s)
{
    char *d = malloc(strlen(s ? s : "") + 1), *o = d;
    if (d == NULL)
        return NULL;
    for (const char *p = s ? s : ""; *p;) {
        if (!blank((unsigned char)*p)) {
            *o++ = *p++;
            continue;
        }
        while (blank((unsigned char)*p))
            p++;
        if (o > d && *p)
            *o++ = ' ';
    }
    *o = '\0';
    return d;
}

static int by_name_order(const void *a, const void *b)
{
    const struct hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : (x->order > y->order) - (x->order < y->order);
}

static int has_header(const struct as_sigv4_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
            return 1;
    return 0;
}

/* Every header to sign, with the date and the token added when the request lacks them. */
static int collect(const struct as_sigv4_req *req, const struct as_sigv4_creds *creds,
                   const char *amz_date, struct hdr *h, size_t *n, struct as_err *err)
{
    struct as_sigv4_pair extra[2];
    size_t nextra = 0;
    if (!has_header(req, "x-amz-date"))
        extra[nextra++] = (struct as_sigv4_pair){"x-amz-date", amz_date};
    if (creds->session_token && creds->session_token[0] && !has_header(req, "x-amz-security-token"))
        extra[nextra++] = (struct as_sigv4_pair){"x-amz-security-token", creds->session_token};
    for (size_t i = 0; i < req->nheaders + nextra; i++) {
        const struct as_sigv4_pair *p =
            i < req->nheaders ? &req->headers[i] : &extra[i - req->nheaders];
        if (header_ok(p, err) < 0)
            return -1;
        h[i] = (struct hdr){lower(p->name), trimmed(p->value), i};
        *n = i + 1;
        if (h[i].name == NULL || h[i].value == NULL)
            return as_err_set(err, "out of memory");
    }
    qsort(h, *n, sizeof(*h), by_name_order);
    return 0;
}

/* Appends "name:v1,v2\n" per name to canon and "name;..." to signed_hdrs. */
static int canonical_headers(const struct hdr *h, size_t n, struct as_sb *canon,
                             struct as_sb *signed_hdrs)
{
    for (size_t i = 0; i < n; i++) {
        int first = i == 0 || strcmp(h[i - 1].name, h[i].name) != 0;
        int last = i + 1 == n || strcmp(h[i + 1].name, h[i].name) != 0;
        if (first && (as_sb_printf(canon, "%s:", h[i].name) < 0 ||
                      as_sb_printf(signed_hdrs, "%s%s", i ? ";" : "", h[i].name) < 0))
            return -1;
        if (as_sb_printf(canon, "%s%s", h[i].value, last ? "\n" : ",") < 0)
            return -1;
    }
    return as_sb_append(signed_hdrs, "", 0);
}

/* ---- hashing ---- */

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void as_sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        memset(md, 0, mdlen = 32);
    hex(md, 32, out);
}

static int hmac(const void *key, size_t keylen, const char *data, unsigned char out[32])
{
    unsigned int olen = 0;
    if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, strlen(data), out,
             &olen) == NULL ||
        olen != 32)
        return -1;
    return 0;
}

/* The signature of sts: the HMAC chain from the secret, hex into sig. */
static int signature(const char *secret, const char *date, const char *region, const char *service,
                     const char *sts, char sig[65])
{
    size_t n = strlen(secret) + 4;
    char *k0 = malloc(n + 1);
    unsigned char k[32];
    if (k0 == NULL)
        return -1;
    snprintf(k0, n + 1, "AWS4%s", secret);
    int rc = hmac(k0, n, date, k) < 0 || hmac(k, 32, region, k) < 0 ||
                     hmac(k, 32, service, k) < 0 || hmac(k, 32, "aws4_request", k) < 0 ||
                     hmac(k, 32, sts, k) < 0
                 ? -1
                 : 0;
    if (rc == 0)
        hex(k, 32, sig);
    OPENSSL_cleanse(k0, n);
    OPENSSL_cleanse(k, sizeof(k));
    free(k0);
    return rc;
}

/* ---- signing ---- */

static int scope_ok(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

static int check(const struct as_sigv4_req *req, const struct as_sigv4_creds *creds,
                 struct as_err *err)
{
    if (creds->access_key_id == NULL || creds->access_key_id[0] == '\0' ||
        strpbrk(creds->access_key_id, "/, \t\r\n") != NULL)
        return as_err_set(err, "the access key id is empty or malformed");
    if (creds->secret_access_key == NULL || creds->secret_access_key[0] == '\0')
        return as_err_set(err, "the secret access key is empty");
    if (!scope_ok(req->region) || !scope_ok(req->service))
        return as_err_set(err, "region and service must be lower-case letters, digits and '-'");
    if (req->method == NULL || req->method[0] == '\0' || strpbrk(req->method, " \t\r\n") != NULL)
        return as_err_set(err, "bad method");
    if (req->payload == NULL && req->payload_len > 0)
        return as_err_set(err, "a payload length without a payload");
    return 0;
}

static int amz_date(int64_t t, char out[17], struct as_err *err)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t < 0 || t > 253402300799LL || gmtime_r(&tt, &tm) == NULL ||
        strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
        return as_err_set(err, "the signing time is outside years 1970..9999");
    return 0;
}

/* Method, URI, query, headers, signed headers and payload hash into out->canonical_request. */
static int canonical_request(const struct as_sigv4_req *req, const struct as_sigv4_creds *creds,
                             struct as_sigv4 *out, struct as_err *err)
{
    struct as_sb canon = {0}, sh = {0};
    size_t n = 0;
    struct hdr *h = calloc(req->nheaders + 2, sizeof(*h));
    char phash[65];
    int rc = -1;
    if (h == NULL) {
        as_err_set(err, "out of memory");
        goto out;
    }
    if (collect(req, creds, out->amz_date, h, &n, err) < 0)
        goto out;
    as_sigv4_sha256_hex(req->payload, req->payload_len, phash);
    if (as_sb_printf(&canon, "%s\n", req->method) < 0 || as_sigv4_uri(&canon, req->path) < 0 ||
        as_sb_append(&canon, "\n", 1) < 0 || as_sigv4_query(&canon, req->query, req->nquery) < 0 ||
        as_sb_append(&canon, "\n", 1) < 0 || canonical_headers(h, n, &canon, &sh) < 0 ||
        as_sb_printf(&canon, "\n%s\n%s", sh.buf, phash) < 0) {
        as_err_set(err, "out of memory");
        goto out;
    }
    out->canonical_request = canon.buf;
    out->signed_headers = sh.buf;
    canon = (struct as_sb){0};
    sh = (struct as_sb){0};
    rc = 0;
out:
    for (size_t i = 0; h && i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
    as_sb_free(&canon);
    as_sb_free(&sh);
    return rc;
}

static int string_to_sign(const struct as_sigv4_req *req, struct as_sigv4 *out)
{
    char chash[65];
    struct as_sb sb = {0};
    as_sigv4_sha256_hex(out->canonical_request, strlen(out->canonical_request), chash);
    if (as_sb_printf(&sb, ALGORITHM "\n%s\n%.8s/%s/%s/aws4_request\n%s", out->amz_date,
                     out->amz_date, req->region, req->service, chash) < 0) {
        as_sb_free(&sb);
        return -1;
    }
    out->string_to_sign = sb.buf;
    return 0;
}

static int authorization(const struct as_sigv4_req *req, const struct as_sigv4_creds *creds,
                         struct as_sigv4 *out)
{
    char date[9], sig[65];
    struct as_sb sb = {0};
    snprintf(date, sizeof(date), "%.8s", out->amz_date);
    if (signature(creds->secret_access_key, date, req->region, req->service, out->string_to_sign,
                  sig) < 0 ||
        as_sb_printf(&sb,
                     ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                               "Signature=%s",
                     creds->access_key_id, date, req->region, req->service, out->signed_headers,
                     sig) < 0) {
        as_sb_free(&sb);
        return -1;
    }
    out->authorization = sb.buf;
    return 0;
}

int as_sigv4_sign(const struct as_sigv4_req *req, const struct as_sigv4_creds *creds,
                  struct as_sigv4 *out, struct as_err *err)
{
    memset(out, 0, sizeof(*out));
    if (check(req, creds, err) < 0 || amz_date(req->time_s, out->amz_date, err) < 0)
        return -1;
    if (canonical_request(req, creds, out, err) < 0)
        return -1;
    if (string_to_sign(req, out) < 0 || authorization(req, creds, out) < 0) {
        as_sigv4_free(out);
        return as_err_set(err, "out of memory");
    }
    return 0;
}

void as_sigv4_free(struct as_sigv4 *sig)
{
    if (sig == NULL)
        return;
    free(sig->canonical_request);
    free(sig->string_to_sign);
    free(sig->signed_headers);
    free(sig->authorization);
    memset(sig, 0, sizeof(*sig));
}
