/* The SigV4 signer (src/util/sigv4.c) against AWS's published test suite
 * (tests/unit/data/sigv4/, provenance in its README): each case's request is parsed from its .req
 * file, signed, and its canonical request, string to sign and Authorization compared with the
 * .creq, .sts and .authz files byte for byte. Then the encoding, normalisation and refusal rules
 * one by one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/sigv4.h"

#define SUITE_TIME 1440938160 /* 2015-08-30T12:36:00Z */
#define MAXH 16
#define MAXQ 16

static const struct as_sigv4_creds suite_creds = {"AKIDEXAMPLE",
                                                  "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};

/* Every case in the data directory, and the header its .sts and .authz leave out (the README's
 * quirk of post-x-www-form-urlencoded). */
static const struct vector {
    const char *name;
    const char *unsigned_in_sts;
} vectors[] = {
    {"get-header-key-duplicate", NULL},
    {"get-header-value-order", NULL},
    {"get-header-value-trim", NULL},
    {"get-relative", NULL},
    {"get-relative-relative", NULL},
    {"get-slash", NULL},
    {"get-slash-dot-slash", NULL},
    {"get-slash-pointless-dot", NULL},
    {"get-slashes", NULL},
    {"get-space", NULL},
    {"get-unreserved", NULL},
    {"get-vanilla", NULL},
    {"get-vanilla-empty-query-key", NULL},
    {"get-vanilla-query", NULL},
    {"get-vanilla-query-order-key", NULL},
    {"get-vanilla-query-order-key-case", NULL},
    {"get-vanilla-query-order-value", NULL},
    {"get-vanilla-query-unreserved", NULL},
    {"get-vanilla-utf8-query", NULL},
    {"post-header-key-case", NULL},
    {"post-header-key-sort", NULL},
    {"post-header-value-case", NULL},
    {"post-sts-header-before", NULL},
    {"post-vanilla", NULL},
    {"post-vanilla-empty-query-value", NULL},
    {"post-vanilla-query", NULL},
    {"post-vanilla-query-nonunreserved", NULL},
    {"post-x-www-form-urlencoded", "content-length"},
};

static const char *data_dir(void)
{
    static char dir[1024];
    if (dir[0] == '\0') {
        char file[1024];
        snprintf(file, sizeof(file), "%s", __FILE__);
        snprintf(dir, sizeof(dir), "%s/data/sigv4", dirname(file));
    }
    return dir;
}

/* The whole file, NUL-terminated; the caller frees. */
static char *slurp(const char *name, const char *ext, size_t *len)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s/%s.%s", data_dir(), name, name, ext);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    if (len)
        *len = n;
    return buf;
}

/* ---- the .req parser: request line, headers, blank line, body ---- */

struct parsed {
    char method[16];
    char *path;
    struct as_sigv4_pair q[MAXQ], h[MAXH];
    size_t nq, nh;
    const char *body;
    size_t body_len;
};

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes %XX escapes in place (anything else is literal, '+' included). */
static char *unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            *o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return s;
}

static void parse_query(struct parsed *r, char *q)
{
    for (char *tok = q; tok && *tok;) {
        char *amp = strchr(tok, '&');
        if (amp)
            *amp = '\0';
        char *eq = strchr(tok, '=');
        if (eq)
            *eq = '\0';
        assert_true(r->nq < MAXQ);
        r->q[r->nq++] = (struct as_sigv4_pair){unescape(tok), eq ? unescape(eq + 1) : ""};
        tok = amp ? amp + 1 : NULL;
    }
}

/* Parses req (modified in place) into r. */
static void parse_req(char *req, size_t len, struct parsed *r)
{
    memset(r, 0, sizeof(*r));
    char *sep = strstr(req, "\n\n");
    if (sep) {
        *sep = '\0';
        r->body = sep + 2;
        r->body_len = len - (size_t)(sep + 2 - req);
    }
    char *line_end = strchr(req, '\n');
    if (line_end)
        *line_end = '\0';
    char *sp1 = strchr(req, ' '), *sp2 = strrchr(req, ' ');
    assert_true(sp1 != NULL && sp2 > sp1);
    snprintf(r->method, sizeof(r->method), "%.*s", (int)(sp1 - req), req);
    *sp2 = '\0';
    r->path = sp1 + 1;
    char *qm = strchr(r->path, '?');
    if (qm) {
        *qm = '\0';
        parse_query(r, qm + 1);
    }
    for (char *l = line_end ? line_end + 1 : NULL; l && *l;) {
        char *nl = strchr(l, '\n'), *colon = strchr(l, ':');
        if (nl)
            *nl = '\0';
        assert_non_null(colon);
        *colon = '\0';
        assert_true(r->nh < MAXH);
        r->h[r->nh++] = (struct as_sigv4_pair){l, colon + 1};
        l = nl ? nl + 1 : NULL;
    }
}

static struct as_sigv4_req suite_req(const struct parsed *p)
{
    return (struct as_sigv4_req){.method = p->method,
                                 .path = p->path,
                                 .query = p->q,
                                 .nquery = p->nq,
                                 .headers = p->h,
                                 .nheaders = p->nh,
                                 .payload = p->body,
                                 .payload_len = p->body_len,
                                 .region = "us-east-1",
                                 .service = "service",
                                 .time_s = SUITE_TIME};
}

/* ---- one test per case ---- */

static void test_vector(void **state)
{
    const struct vector *v = *state;
    size_t len;
    char *req = slurp(v->name, "req", &len), *creq = slurp(v->name, "creq", NULL);
    char *sts = slurp(v->name, "sts", NULL), *authz = slurp(v->name, "authz", NULL);
    struct parsed p;
    parse_req(req, len, &p);
    struct as_sigv4_req r = suite_req(&p);
    struct as_sigv4 sig;
    struct as_err err;
    assert_int_equal(as_sigv4_sign(&r, &suite_creds, &sig, &err), 0);
    assert_string_equal(sig.canonical_request, creq);
    assert_string_equal(sig.amz_date, "20150830T123600Z");
    if (v->unsigned_in_sts) { /* sign again without that header */
        size_t keep = 0;
        for (size_t i = 0; i < p.nh; i++)
            if (strcasecmp(p.h[i].name, v->unsigned_in_sts) != 0)
                p.h[keep++] = p.h[i];
        r.nheaders = keep;
        as_sigv4_free(&sig);
        assert_int_equal(as_sigv4_sign(&r, &suite_creds, &sig, &err), 0);
    }
    assert_string_equal(sig.string_to_sign, sts);
    assert_string_equal(sig.authorization, authz);
    as_sigv4_free(&sig);
    free(req);
    free(creq);
    free(sts);
    free(authz);
}

/* Every case in the data directory is one of the table's: none is skipped silently. */
static void test_every_vector_listed(void **state)
{
    (void)state;
    DIR *d = opendir(data_dir());
    assert_non_null(d);
    size_t seen = 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0)
            continue;
        int found = 0;
        for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
            found |= strcmp(vectors[i].name, e->d_name) == 0;
        if (!found)
            fail_msg("%s is not in the test's table", e->d_name);
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, sizeof(vectors) / sizeof(vectors[0]));
}

/* ---- the rules one by one ---- */

static char *uri(const char *path)
{
    static char buf[256];
    struct as_sb sb = {0};
    assert_int_equal(as_sigv4_uri(&sb, path), 0);
    snprintf(buf, sizeof(buf), "%s", sb.buf);
    as_sb_free(&sb);
    return buf;
}

static void test_uri(void **state)
{
    (void)state;
    assert_string_equal(uri(NULL), "/");
    assert_string_equal(uri(""), "/");
    assert_string_equal(uri("/"), "/");
    assert_string_equal(uri("/a/b/.."), "/a/");
    assert_string_equal(uri("/a/./b"), "/a/b");
    assert_string_equal(uri("/../a"), "/a");
    assert_string_equal(uri("a/b"), "/a/b");
    assert_string_equal(uri("/a%20b/c d"), "/a%2520b/c%20d"); /* a decoded path: '%' is data */
    assert_string_equal(uri("/\xe1\x88\xb4"), "/%E1%88%B4");
    assert_string_equal(uri("/a:b@c=d"), "/a%3Ab%40c%3Dd");
}

static void test_query_and_encoding(void **state)
{
    (void)state;
    const struct as_sigv4_pair q[] = {
        {"b", "2"}, {"a", "z z"}, {"a", "y+y"}, {"A", NULL}, {"Version", "2011-01-01"}};
    struct as_sb sb = {0};
    assert_int_equal(as_sigv4_query(&sb, q, 5), 0);
    assert_string_equal(sb.buf, "A=&Version=2011-01-01&a=y%2By&a=z%20z&b=2");
    as_sb_free(&sb);
    assert_int_equal(as_sigv4_query(&sb, NULL, 0), 0);
    assert_string_equal(sb.buf, "");
    as_sb_free(&sb);
    assert_int_equal(as_sigv4_encode(&sb, "-._~ /\x7f\xff", 8), 0);
    assert_string_equal(sb.buf, "-._~%20%2F%7F%FF");
    as_sb_free(&sb);
    char h[65];
    as_sigv4_sha256_hex(NULL, 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static const struct as_sigv4_pair host[] = {{"Host", "example.amazonaws.com"}};

static struct as_sigv4_req plain(void)
{
    return (struct as_sigv4_req){.method = "GET",
                                 .path = "/",
                                 .headers = host,
                                 .nheaders = 1,
                                 .region = "us-east-1",
                                 .service = "service",
                                 .time_s = SUITE_TIME};
}

/* Without X-Amz-Date in the request the signer adds it: get-vanilla's signature. */
static void test_date_added(void **state)
{
    (void)state;
    struct as_sigv4_req r = plain();
    struct as_sigv4 sig;
    struct as_err err;
    assert_int_equal(as_sigv4_sign(&r, &suite_creds, &sig, &err), 0);
    char *authz = slurp("get-vanilla", "authz", NULL);
    assert_string_equal(sig.authorization, authz);
    assert_string_equal(sig.signed_headers, "host;x-amz-date");
    free(authz);
    as_sigv4_free(&sig);
    as_sigv4_free(&sig); /* idempotent */
    as_sigv4_free(NULL);
}

/* A session token in the credentials is signed as x-amz-security-token: post-sts-header-before's
 * signature without the header in the request. */
static void test_token_added(void **state)
{
    (void)state;
    size_t len;
    char *req = slurp("post-sts-header-before", "req", &len);
    struct parsed p;
    parse_req(req, len, &p);
    assert_int_equal(p.nh, 3);
    struct as_sigv4_creds c = suite_creds;
    c.session_token = p.h[2].value;
    p.nh = 2; /* Host and X-Amz-Date only */
    struct as_sigv4_req r = suite_req(&p);
    struct as_sigv4 sig;
    struct as_err err;
    assert_int_equal(as_sigv4_sign(&r, &c, &sig, &err), 0);
    char *authz = slurp("post-sts-header-before", "authz", NULL);
    assert_string_equal(sig.authorization, authz);
    assert_null(strstr(sig.authorization, c.secret_access_key));
    assert_null(strstr(sig.string_to_sign, c.secret_access_key));
    assert_null(strstr(sig.canonical_request, c.secret_access_key));
    free(authz);
    free(req);
    as_sigv4_free(&sig);
}

static void refused(struct as_sigv4_req r, struct as_sigv4_creds c, const char *msg)
{
    struct as_sigv4 sig;
    struct as_err err;
    as_err_clear(&err);
    assert_int_equal(as_sigv4_sign(&r, &c, &sig, &err), -1);
    assert_non_null(strstr(err.msg, msg));
    assert_null(sig.authorization);
    assert_null(strstr(err.msg, "EXAMPLEKEY"));
}

static void test_refusals(void **state)
{
    (void)state;
    struct as_sigv4_creds c = suite_creds;
    struct as_sigv4_req r = plain();
    const struct as_sigv4_pair bad_name[] = {{"Bad Name", "x"}};
    const struct as_sigv4_pair bad_value[] = {{"X-A", "a\r\nInjected: 1"}};
    r.headers = bad_name;
    refused(r, c, "not a token");
    r.headers = bad_value;
    refused(r, c, "control character");
    r = plain();
    r.region = "US-East-1";
    refused(r, c, "region and service");
    r.region = "us/east";
    refused(r, c, "region and service");
    r = plain();
    r.service = "";
    refused(r, c, "region and service");
    r = plain();
    r.time_s = -1;
    refused(r, c, "signing time");
    r.time_s = 253402300800LL;
    refused(r, c, "signing time");
    r = plain();
    c.access_key_id = "";
    refused(r, c, "access key id");
    c.access_key_id = "AKID/x";
    refused(r, c, "access key id");
    c = suite_creds;
    c.secret_access_key = NULL;
    refused(r, c, "secret access key");
    c = suite_creds;
    r.payload_len = 3;
    refused(r, c, "payload");
}

int main(void)
{
    struct CMUnitTest tests[sizeof(vectors) / sizeof(vectors[0]) + 6];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
        tests[n++] =
            (struct CMUnitTest){vectors[i].name, test_vector, NULL, NULL, (void *)&vectors[i]};
    const struct CMUnitTest more[] = {
        cmocka_unit_test(test_every_vector_listed), cmocka_unit_test(test_uri),
        cmocka_unit_test(test_query_and_encoding),  cmocka_unit_test(test_date_added),
        cmocka_unit_test(test_token_added),         cmocka_unit_test(test_refusals),
    };
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++)
        tests[n++] = more[i];
    return _cmocka_run_group_tests("test_sigv4", tests, n, NULL, NULL);
}
