#include "config/server_cfg.h"

#include "config/parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const auths[] = {"writes", "all", NULL};

const struct as_opt as_server_opts[] = {
    {"listen", AS_OPT_STR, offsetof(struct as_server_cfg, listen), AS_HTTP_DEFAULT_LISTEN,
     AS_NO_BOUNDS, 0, NULL,
     "Address of the HTTP server (/metrics, /api/v1, the dashboard at /): HOST:PORT with a "
     "numeric IPv4 address, [IPv6], localhost or * (every IPv4 address). Any address other "
     "than a loopback one requires `token`. Empty: no server."},
    {"token", AS_OPT_STR, offsetof(struct as_server_cfg, token), NULL, AS_NO_BOUNDS,
     AS_OPT_SECRET | AS_OPT_NONEMPTY, NULL,
     "Bearer token (at least 16 bytes) that pause, resume and override require, and with "
     "auth: all every request but /healthz, /readyz and the dashboard's files. Only by "
     "reference: ${env:NAME} or ${file:PATH}. Without it the API is read-only."},
    {"auth", AS_OPT_ENUM, offsetof(struct as_server_cfg, auth), "writes", AS_NO_BOUNDS, 0, auths,
     "What needs the token: writes (pause, resume, override), or all (every request but "
     "/healthz, /readyz and the dashboard's files; Prometheus then sends it with "
     "`authorization`)."},
    {"tls_cert", AS_OPT_STR, offsetof(struct as_server_cfg, tls_cert), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "PEM certificate (chain) file: serve HTTPS. With tls_key; a relative path is taken from "
     "the configuration file's directory. Read at start and at each reload."},
    {"tls_key", AS_OPT_STR, offsetof(struct as_server_cfg, tls_key), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL, "PEM private key file of tls_cert."},
    {"max_connections", AS_OPT_INT, offsetof(struct as_server_cfg, max_connections), "64", 1, 10000,
     0, NULL, "Connections served at once; more are refused until one closes."},
    {"max_request", AS_OPT_INT, offsetof(struct as_server_cfg, max_request), "16384", 1024, 1048576,
     0, NULL,
     "Bytes of a request's body (larger: 413), and the bound of its headers (larger: 431)."},
    {"timeout", AS_OPT_DURATION, offsetof(struct as_server_cfg, timeout_ms), "10s", 1000, 3600000,
     0, NULL, "A connection idle this long (a slow or silent client) is closed."},
    {"history_rounds", AS_OPT_INT, offsetof(struct as_server_cfg, history_rounds), "240", 0, 100000,
     0, NULL,
     "Rounds kept per group for the API and the dashboard's charts (time, replicas, bounds, "
     "each metric's value): 24 bytes and 8 per metric each."},
    {"history_rounds_total", AS_OPT_INT, offsetof(struct as_server_cfg, history_rounds_total),
     "250000", 1, 100000000, 0, NULL,
     "Rounds kept across all groups: with many groups each keeps this divided by the number of "
     "groups (at least 1) when that is less than history_rounds, so the history's memory is "
     "bounded (8 MB at the default with one metric a group) however many groups there are."},
    {"history_decisions", AS_OPT_INT, offsetof(struct as_server_cfg, history_decisions), "20", 1,
     10000, 0, NULL,
     "Decisions kept per group with their reasons, for the API and dashboard; rounds in a row "
     "that decide the same are one (the group's last changes are kept)."},
    AS_OPT_END,
};

void as_server_cfg_free(struct as_server_cfg *s)
{
    if (s == NULL)
        return;
    as_opts_free(as_server_opts, s);
    free(s->cert_file);
    free(s->cert_pem);
    free(s->key_pem);
    free(s);
}

/* ---- listen ---- */

static int parse_port(const char *s, uint16_t *port)
{
    long v = 0;
    if (*s == '\0' || strlen(s) > 5)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int as_listen_parse(const char *text, struct sockaddr_storage *addr, socklen_t *len, int *loopback,
                    struct as_err *err)
{
    char host[64];
    uint16_t port;
    const char *colon = strrchr(text, ':');
    memset(addr, 0, sizeof(*addr));
    if (colon == NULL || (size_t)(colon - text) >= sizeof(host) || colon == text)
        return as_err_set(err, "'%s' is not HOST:PORT", text);
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    if (parse_port(colon + 1, &port) < 0)
        return as_err_set(err, "'%s': the port must be a number from 1 to 65535", text);
    if (host[0] == '[') {
        size_t n = strlen(host);
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
        if (n < 3 || host[n - 1] != ']')
            return as_err_set(err, "'%s': an IPv6 address goes in brackets, [::1]:PORT", text);
        host[n - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return as_err_set(err, "'%s': '%s' is not an IPv6 address", text, host + 1);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        *len = sizeof(*a6);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    else if (strcmp(host, "*") == 0)
        snprintf(host, sizeof(host), "0.0.0.0");
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return as_err_set(err,
                          "'%s': '%s' is not a numeric IPv4 address, [IPv6], localhost or * "
                          "(names are not resolved)",
                          text, host);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    *len = sizeof(*a4);
    *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    return 0;
}

const char *as_listen_fmt(const struct sockaddr_storage *addr, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
        snprintf(buf, len, "[%s]:%u", host, ntohs(a6->sin6_port));
    } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
        snprintf(buf, len, "%s:%u", host, ntohs(a4->sin_port));
    }
    return buf;
}

/* ---- checks ---- */

/* Reads a PEM file of at most AS_HTTP_PEM_MAX bytes (a regular file, never blocking). */
static char *read_pem(const char *path, struct as_err *err)
{
    struct stat sb;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        as_err_set(err, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > AS_HTTP_PEM_MAX) {
        as_err_set(err, "%s is not a regular file of at most 1 MiB", path);
        goto out;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (buf == NULL) {
        as_err_set(err, "out of memory");
        goto out;
    }
    ssize_t n = read(fd, buf, (size_t)sb.st_size);
    if (n < 0 || n != sb.st_size || memchr(buf, '\0', (size_t)n) != NULL) {
        as_err_set(err, "cannot read %s%s%s", path, n < 0 ? ": " : " (short read or a NUL byte)",
                   n < 0 ? strerror(errno) : "");
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
out:
    close(fd);
    return buf;
}

/* path, or path taken from the directory of the file that named it (its full path into
 * *full_out when full_out is not NULL). */
static char *pem_at(struct as_node *map, const char *key, const char *path, char **full_out,
                    struct as_err *err)
{
    char full[4096], dir[4096];
    struct as_node *v = as_node_get(map, key);
    if (path[0] != '/' && v != NULL && v->file != NULL) {
        snprintf(dir, sizeof(dir), "%s", v->file);
        if (snprintf(full, sizeof(full), "%s/%s", dirname(dir), path) >= (int)sizeof(full)) {
            as_err_key(err, map, key, "http: '%s': %s", key, "path too long");
            return NULL;
        }
        path = full;
    }
    struct as_err e;
    as_err_clear(&e);
    char *pem = read_pem(path, &e);
    if (pem == NULL)
        as_err_key(err, map, key, "http: '%s': %s", key, e.msg);
    else if (strstr(pem, "-----BEGIN ") == NULL) {
        as_err_key(err, map, key, "http: '%s': %s", key, "not a PEM file (no -----BEGIN line)");
        free(pem);
        pem = NULL;
    }
    if (pem != NULL && full_out != NULL && (*full_out = strdup(path)) == NULL) {
        free(pem);
        as_err_set(err, "out of memory");
        return NULL;
    }
    return pem;
}

static int check_token(struct as_server_cfg *s, struct as_node *map, struct as_err *err)
{
    struct as_node *t = map ? as_node_get(map, "token") : NULL;
    if (t != NULL && !t->from_ref)
        return as_err_key(err, map, "token",
                          "http: 'token' must be a reference (${env:NAME} or ${file:PATH}), never "
                          "written in the file: anything that shows the file would show it");
    if (s->token != NULL && strlen(s->token) < AS_HTTP_TOKEN_MIN)
        return as_err_key(err, map, "token",
                          "http: 'token' (from a reference) is shorter than %d bytes",
                          AS_HTTP_TOKEN_MIN);
    return 0;
}

static int check_listen(struct as_server_cfg *s, struct as_node *map, struct as_err *err)
{
    struct as_err e;
    as_err_clear(&e);
    s->off = s->listen[0] == '\0';
    s->listen_given = map != NULL && as_node_find(map, "listen") >= 0;
    if (s->off)
        return 0;
    if (as_listen_parse(s->listen, &s->addr, &s->addrlen, &s->loopback, &e) < 0)
        return as_err_key(err, map, "listen", "http: 'listen': %s", e.msg);
    if (!s->loopback && s->token == NULL)
        return as_err_key(err, map, "listen",
                          "http: 'listen': %s is not a loopback address, so 'token' is required "
                          "(by reference, e.g. token: ${env:AUTOSCALER_TOKEN})",
                          s->listen);
    return 0;
}

static int check_tls(struct as_server_cfg *s, struct as_node *map, struct as_err *err)
{
    if ((s->tls_cert == NULL) != (s->tls_key == NULL))
        return as_err_key(err, map, s->tls_cert ? "tls_cert" : "tls_key",
                          "http: '%s' needs '%s' too", s->tls_cert ? "tls_cert" : "tls_key",
                          s->tls_cert ? "tls_key" : "tls_cert");
    if (s->tls_cert == NULL || s->off)
        return 0;
    s->cert_pem = pem_at(map, "tls_cert", s->tls_cert, &s->cert_file, err);
    if (s->cert_pem == NULL)
        return -1;
    s->key_pem = pem_at(map, "tls_key", s->tls_key, NULL, err);
    return s->key_pem == NULL ? -1 : 0;
}

int as_server_cfg_parse(struct as_node *node, const struct as_node *root,
                        struct as_server_cfg **out, struct as_err *err)
{
    struct as_server_cfg *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (s == NULL)
        return as_err_set(err, "out of memory");
    const struct as_opt *const tables[] = {as_server_opts, NULL};
    const struct as_node *at = node ? node : root;
    s->line = at ? at->line : 1;
    s->col = at ? at->col : 1;
    struct as_node *map = node != NULL && node->kind != AS_NODE_NULL ? node : NULL;
    if (map != NULL && map->kind != AS_NODE_MAP) {
        as_err_at(err, map->file, map->line, map->col, "'http' must be a mapping, not %s",
                  as_node_kind_name(map->kind));
        goto fail;
    }
    if (map == NULL) {
        if (as_opts_defaults(as_server_opts, s, err) < 0 || check_listen(s, NULL, err) < 0)
            goto fail;
        *out = s;
        return 0;
    }
    /* Every error of the section is kept (`check` reports them all): the checks that need the
     * keys parsed run only when they were. */
    int bad = 0;
    if (as_cfg_step(as_opts_parse(as_server_opts, s, map, "http", err), map, &bad, err) < 0 ||
        (!bad && as_cfg_step(check_token(s, map, err), map, &bad, err) < 0) ||
        (!bad && as_cfg_step(check_listen(s, map, err), map, &bad, err) < 0) ||
        (!bad && as_cfg_step(check_tls(s, map, err), map, &bad, err) < 0) ||
        as_cfg_step(as_node_check_keys(map, "http", tables, NULL, err), map, &bad, err) < 0 || bad)
        goto fail;
    *out = s;
    return 0;
fail:
    as_server_cfg_free(s);
    return -1;
}
