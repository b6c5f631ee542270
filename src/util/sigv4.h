/* AWS Signature Version 4, header form ("Signing AWS API requests", AWS General Reference;
 * checked against AWS's published aws-sig-v4-test-suite, tests/unit/data/sigv4/). Backend-neutral:
 * it signs a request it is given and knows no service.
 *
 *   canonical request = METHOD \n canonical URI \n canonical query \n canonical headers \n
 *                       signed headers \n hex(SHA-256(payload))
 *   string to sign    = AWS4-HMAC-SHA256 \n YYYYMMDDTHHMMSSZ \n DATE/REGION/SERVICE/aws4_request \n
 *                       hex(SHA-256(canonical request))
 *   signing key       = HMAC chain "AWS4"+secret -> DATE -> REGION -> SERVICE -> "aws4_request"
 *   Authorization     = AWS4-HMAC-SHA256 Credential=KEYID/SCOPE, SignedHeaders=..., Signature=hex
 *
 * The canonical URI is the path with its dot segments removed and repeated slashes collapsed
 * (RFC 3986 5.2.4, as the suite's normalize-path cases expect), each segment percent-encoded
 * once with RFC 3986's unreserved set kept. The canonical query has every name and value encoded
 * the same way, sorted by name then value. Header names are lower-cased, values trimmed with inner
 * runs of spaces and tabs collapsed, repeated headers joined with commas in their order, the
 * whole sorted by name. HMAC and SHA-256 come from OpenSSL's libcrypto. */
#ifndef AS_SIGV4_H
#define AS_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/util.h"

/* A name and its value: a query parameter (both decoded) or a header (name in any case). */
struct as_sigv4_pair {
    const char *name;
    const char *value; /* NULL is "" */
};

struct as_sigv4_creds {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL or "": none */
};

/* What is signed; every pointer borrowed for the call. */
struct as_sigv4_req {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* decoded ("/a b/"); NULL or "" is "/" */
    const struct as_sigv4_pair *query;
    size_t nquery;
    /* Every header to sign, Host included (as it will be sent). X-Amz-Date (from time_s) and,
     * with a session token, X-Amz-Security-Token are signed as well: added when absent here. */
    const struct as_sigv4_pair *headers;
    size_t nheaders;
    const void *payload; /* NULL with 0 is the empty payload */
    size_t payload_len;
    const char *region;  /* "us-east-1": lower-case letters, digits and '-' */
    const char *service; /* "autoscaling": the same alphabet */
    int64_t time_s;      /* signing time, seconds since the epoch */
};

/* A signature. Strings are owned: as_sigv4_free releases them. */
struct as_sigv4 {
    char amz_date[17]; /* "20150830T123600Z": send it as X-Amz-Date */
    char *canonical_request;
    char *string_to_sign;
    char *signed_headers; /* "content-type;host;x-amz-date" */
    char *authorization;  /* the Authorization header's value */
};

/* Signs req with creds into *out (zeroed first). Returns 0, or -1 with err on a malformed
 * request (a header name that is not a token, a control character in a value, an empty key,
 * a region or service outside [a-z0-9-], a time outside years 1970..9999) or ENOMEM; out holds
 * nothing to free then. The secret appears in no output and no error. */
int as_sigv4_sign(const struct as_sigv4_req *req, const struct as_sigv4_creds *creds,
                  struct as_sigv4 *out, struct as_err *err);

/* Releases what as_sigv4_sign stored; leaves *sig zeroed. NULL is a no-op. */
void as_sigv4_free(struct as_sigv4 *sig);

/* Appends s[0..n) percent-encoded (RFC 3986 unreserved A-Z a-z 0-9 - . _ ~ kept, every other byte
 * as %XX in upper-case hex) to sb. Returns 0 or -1 on ENOMEM. */
int as_sigv4_encode(struct as_sb *sb, const char *s, size_t n);

/* Appends the canonical query string of the n pairs ("a=1&b=2": encoded, sorted by name then
 * value) to sb: also a correct application/x-www-form-urlencoded body for AWS's Query APIs.
 * Returns 0 or -1 on ENOMEM. */
int as_sigv4_query(struct as_sb *sb, const struct as_sigv4_pair *pairs, size_t n);

/* Appends the canonical URI of path (see above) to sb. Returns 0 or -1 on ENOMEM. */
int as_sigv4_uri(struct as_sb *sb, const char *path);

/* hex(SHA-256(data)) into out (64 digits and a NUL). */
void as_sigv4_sha256_hex(const void *data, size_t len, char out[65]);

#endif
