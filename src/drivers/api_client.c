#include "drivers/api_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/server_cfg.h"
#include "util/util.h"

#define AS_API_ANSWER_MAX (64 * 1024 * 1024)
#define AS_API_TIMEOUT_MS 10000

void as_api_target_free(struct as_api_target *t)
{
    free(t->token);
    free(t->cafile);
    free(t->config);
    memset(t, 0, sizeof(*t));
}

/* The first line of path (a token file), or NULL with err. */
static char *read_token(const char *path, struct as_err *err)
{
    char line[4096];
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        as_err_set(err, "cannot read the token file %s: %s", path, strerror(errno));
        return NULL;
    }
    char *got = fgets(line, sizeof(line), f);
    fclose(f);
    if (got == NULL)
        line[0] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0') {
        as_err_set(err, "the token file %s is empty", path);
        return NULL;
    }
    return strdup(line);
}

/* cfg's listen as a URL a client on this host can reach. */
static void url_of(const struct as_server_cfg *h, char *buf, size_t len)
{
    struct sockaddr_storage a = h->addr;
    char addr[80];
    if (a.ss_family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&a;
        if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr))
            a6->sin6_addr = in6addr_loopback;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&a;
        if (a4->sin_addr.s_addr == htonl(INADDR_ANY))
            a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    snprintf(buf, len, "%s://%s", h->cert_pem ? "https" : "http",
             as_listen_fmt(&a, addr, sizeof(addr)));
}

int as_api_target(struct as_api_target *t, const struct as_config *cfg, const char *url,
                  const char *token_file, struct as_err *err)
{
    memset(t, 0, sizeof(*t));
    if (url != NULL) {
        size_t n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
            n--;
        if (n == 0 || n >= sizeof(t->url) ||
            (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
            return as_err_set(err, "--url must be http://HOST:PORT or https://HOST:PORT");
        memcpy(t->url, url, n);
        t->url[n] = '\0';
    } else if (cfg != NULL && cfg->http->off) {
        return as_err_set(err, "%s: http.listen is empty: the daemon serves no API", cfg->file);
    } else if (cfg != NULL) {
        char real[PATH_MAX];
        url_of(cfg->http, t->url, sizeof(t->url));
        if (cfg->http->cert_file != NULL) {
            t->cafile = strdup(cfg->http->cert_file);
            t->pin = 1;
        }
        t->config = strdup(realpath(cfg->file, real) ? real : cfg->file);
    } else {
        snprintf(t->url, sizeof(t->url), "http://%s", AS_HTTP_DEFAULT_LISTEN);
    }
    const char *env = getenv("AUTOSCALER_TOKEN");
    if (token_file != NULL)
        t->token = read_token(token_file, err);
    else if (env != NULL && env[0] != '\0')
        t->token = strdup(env);
    else if (cfg != NULL && cfg->http->token != NULL)
        t->token = strdup(cfg->http->token);
    if (token_file != NULL && t->token == NULL) {
        as_api_target_free(t);
        return -1;
    }
    return 0;
}

/* ---- GET ---- */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct as_sb *sb = arg;
    if (sb->len + size * n > AS_API_ANSWER_MAX || as_sb_append(sb, data, size * n) < 0)
        return 0;
    return size * n;
}

/* "sha256//BASE64" of the public key of the first certificate in the PEM file, for
 * CURLOPT_PINNEDPUBLICKEY; -1 when it cannot be read. */
static int pin_of(const char *path, char *buf, size_t len)
{
    unsigned char *der = NULL, md[EVP_MAX_MD_SIZE], b64[EVP_MAX_MD_SIZE * 2];
    unsigned int mdlen = 0;
    int rc = -1;
    FILE *f = fopen(path, "re");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = x ? X509_get0_pubkey(x) : NULL;
    int n = key ? i2d_PUBKEY(key, &der) : -1;
    if (n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) == 1 &&
        EVP_EncodeBlock(b64, md, (int)mdlen) > 0)
        rc = snprintf(buf, len, "sha256//%s", b64) < (int)len ? 0 : -1;
    OPENSSL_free(der);
    X509_free(x);
    if (f != NULL)
        fclose(f);
    return rc;
}

long as_api_get(const struct as_api_target *t, const char *path, json_t **out, struct as_err *err)
{
    char url[1024], auth[4200], cerr[CURL_ERROR_SIZE] = "";
    struct as_sb body = {0};
    struct curl_slist *headers = NULL;
    long status = -1;
    *out = NULL;
    snprintf(url, sizeof(url), "%s%s", t->url, path);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return as_err_set(err, "out of memory");
    if (t->token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t->token);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)AS_API_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    char pin[128];
    if (t->pin && pin_of(t->cafile, pin, sizeof(pin)) < 0) {
        as_err_set(err, "cannot read the certificate %s of http.tls_cert", t->cafile);
        goto out;
    }
    if (t->pin) { /* exactly the daemon's own key, whoever signed it and for whatever name */
        curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, pin);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (t->cafile != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, t->cafile);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        as_err_set(err, "cannot reach %s: %s", t->url, cerr[0] ? cerr : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    json_error_t jerr;
    *out = body.len ? json_loadb(body.buf, body.len, 0, &jerr) : NULL;
    if (*out == NULL) {
        as_err_set(err, "%s answered %ld without JSON: is it an autoscaler?", url, status);
        status = -1;
    }
out:
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    as_sb_free(&body);
    return status;
}

int as_api_same_config(const struct as_api_target *t, struct as_err *err)
{
    json_t *st = NULL;
    if (t->config == NULL)
        return 0;
    long status = as_api_get(t, "/api/v1/status", &st, err);
    const char *path = json_string_value(json_object_get(st, "config_path"));
    int rc = 0;
    if (status != 200)
        rc = status < 0 ? -1
                        : as_err_set(err, "%s/api/v1/status answered %ld: %s", t->url, status,
                                     json_string_value(json_object_get(st, "error"))
                                         ? json_string_value(json_object_get(st, "error"))
                                         : "");
    else if (path == NULL || strcmp(path, t->config) != 0)
        rc = as_err_set(err,
                        "the daemon at %s runs %s, not %s (two daemons on one host share the "
                        "default address: give each its own http.listen)",
                        t->url, path ? path : "another configuration", t->config);
    json_decref(st);
    return rc;
}
