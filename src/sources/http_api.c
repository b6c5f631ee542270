/* Helpers of the HTTP-API sources (see http_api.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>

#include "sources/http_api.h"
#include "util/http.h"
#include "util/log.h"

int as_api_encode(struct as_sb *sb, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char buf[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;
        if (as_sb_append(sb, plain ? (const char *)p : buf, plain ? 1 : 3) < 0)
            return -1;
    }
    return 0;
}

char *as_api_basic_auth(const char *user, const char *password, struct as_err *err)
{
    char *out = NULL;
    struct as_sb pair = {0};
    if (as_sb_printf(&pair, "%s:%s", user, password ? password : "") < 0)
        goto oom;
    /* 4 output bytes per 3 input bytes, and the NUL EVP_EncodeBlock writes. */
    size_t need = 4 * ((pair.len + 2) / 3) + 1;
    const char prefix[] = "Authorization: Basic ";
    out = malloc(sizeof(prefix) + need);
    if (out == NULL || pair.len > (size_t)1 << 20)
        goto oom;
    memcpy(out, prefix, sizeof(prefix) - 1);
    unsigned char *b64 = (unsigned char *)out + sizeof(prefix) - 1;
    int n = EVP_EncodeBlock(b64, (const unsigned char *)pair.buf, (int)pair.len);
    if (n < 0 || as_log_secret((const char *)b64, (size_t)n) < 0)
        goto oom;
    as_sb_free(&pair);
    return out;
oom:
    as_sb_free(&pair);
    free(out);
    as_err_set(err, "out of memory");
    return NULL;
}

char **as_api_headers(char *const *extra, const char *a, const char *b, const char *c,
                      struct as_err *err)
{
    size_t n = 0;
    while (extra && extra[n])
        n++;
    char **list = calloc(n + 4, sizeof(char *));
    if (list == NULL) {
        as_err_set(err, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        list[i] = extra[i];
    const char *more[] = {a, b, c};
    for (size_t i = 0; i < 3; i++)
        if (more[i] != NULL)
            list[n++] = (char *)more[i];
    return list;
}

int as_api_has_header(char *const *headers, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++)
        if (strncasecmp(headers[i], name, len) == 0 && headers[i][len] == ':')
            return 1;
    return 0;
}

void as_api_transport_error(const struct as_http_resp *r, char *buf, size_t len)
{
    if (r->timed_out)
        snprintf(buf, len, "timeout after %lld ms", (long long)r->elapsed_ms);
    else
        snprintf(buf, len, "%s", r->error ? r->error : "request failed");
}

const char *as_api_snippet(const struct as_http_resp *r, char *buf, size_t len)
{
    size_t max = len < 81 ? len : 81;
    return as_printable(r->body ? r->body : "", r->body ? r->len : 0, buf, max);
}
