#include "scalers/kubernetes_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cfg.h"
#include "scalers/kubernetes_api.h"
#include "util/log.h"
#include "util/util.h"

#define KUBECONFIG_MAX (1024 * 1024)
#define TOKEN_MAX (64 * 1024)

void k8s_auth_free(struct k8s_auth *a)
{
    char **fields[] = {&a->server,     &a->ca_file,   &a->ca_pem,   &a->token,
                       &a->token_file, &a->cert_file, &a->key_file, &a->cert_pem,
                       &a->key_pem,    &a->username,  &a->password, &a->ns};
    for (size_t i = 0; i < AS_ARRAY_LEN(fields); i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
    a->where[0] = '\0';
    a->insecure = 0;
}

/* ---- reading small files ---- */

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

char *k8s_read_small(const char *path, size_t max, struct as_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        as_err_set(err, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    if (fstat(fd, &st) < 0) {
        as_err_set(err, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        as_err_set(err, "cannot read %s: not a regular file", path);
        goto out;
    }
    if ((buf = malloc(max + 2)) == NULL) {
        as_err_set(err, "out of memory");
        goto out;
    }
    for (ssize_t r = 1; r != 0 && len <= max;) {
        r = read(fd, buf + len, max + 1 - len);
        if (r < 0 && errno != EINTR) {
            as_err_set(err, "cannot read %s: %s", path, strerror(errno));
            free(buf);
            buf = NULL;
            goto out;
        }
        len += r > 0 ? (size_t)r : 0;
    }
    if (len > max) {
        as_err_set(err, "%s is larger than %zu bytes", path, max);
        free(buf);
        buf = NULL;
        goto out;
    }
    while (len > 0 && is_space(buf[len - 1]))
        len--;
    buf[len] = '\0';
    size_t skip = strspn(buf, " \n\r\t");
    memmove(buf, buf + skip, len - skip + 1);
out:
    close(fd);
    return buf;
}

/* ---- kubeconfig ---- */

struct kc {
    const char *file; /* the kubeconfig's name */
    char *dir;        /* its directory, for relative paths */
    struct k8s_auth *out;
    struct as_err *err;
};

static int at(const struct kc *k, const struct as_node *n, const char *fmt, const char *a,
              const char *b)
{
    return as_err_at(k->err, n->file, n->line, n->col, fmt, a, b);
}

/* The scalar at key of map: NULL when absent or null; an error (rc -1) when not a scalar. */
static const char *scalar(const struct kc *k, struct as_node *map, const char *key, int *rc)
{
    struct as_node *n = as_node_get(map, key);
    if (n == NULL || n->kind == AS_NODE_NULL)
        return NULL;
    if (n->kind != AS_NODE_SCALAR) {
        *rc = at(k, n, "'%s' is %s, not a string", key, as_node_kind_name(n->kind));
        return NULL;
    }
    return n->value;
}

/* The entry of a named list (clusters, contexts, users) called name: its `what` mapping. */
static struct as_node *named(const struct kc *k, struct as_node *root, const char *list,
                             const char *what, const char *name, struct as_node *ref)
{
    struct as_node *seq = as_node_get(root, list);
    for (size_t i = 0; seq && seq->kind == AS_NODE_SEQ && i < seq->n; i++) {
        struct as_node *e = seq->items[i], *nm = as_node_get(e, "name");
        if (nm == NULL || nm->kind != AS_NODE_SCALAR || strcmp(nm->value, name) != 0)
            continue;
        struct as_node *body = as_node_get(e, what);
        if (body != NULL && body->kind == AS_NODE_MAP)
            return body;
        at(k, e, "%s '%s' has no mapping under its key", what, name);
        return NULL;
    }
    as_err_at(k->err, ref->file, ref->line, ref->col, "no %s named '%s' in %s", what, name,
              k->file);
    return NULL;
}

/* A path from the file, made relative to the kubeconfig's directory and checked readable. */
static char *path_of(const struct kc *k, struct as_node *map, const char *key, int *rc)
{
    const char *p = scalar(k, map, key, rc);
    if (p == NULL || *rc < 0)
        return NULL;
    struct as_sb sb = {0};
    if ((p[0] != '/' && (as_sb_puts(&sb, k->dir) < 0 || as_sb_puts(&sb, "/") < 0)) ||
        as_sb_puts(&sb, p) < 0) {
        as_sb_free(&sb);
        *rc = as_err_set(k->err, "out of memory");
        return NULL;
    }
    if (access(sb.buf, R_OK) != 0) {
        struct as_node *n = as_node_get(map, key);
        *rc = at(k, n, "%s: cannot read %s", key, sb.buf);
        as_sb_free(&sb);
        return NULL;
    }
    return sb.buf;
}

/* Base64 PEM text at key (the -data keys). */
static char *pem_of(const struct kc *k, struct as_node *map, const char *key, int *rc)
{
    const char *b = scalar(k, map, key, rc);
    if (b == NULL || *rc < 0)
        return NULL;
    size_t len;
    int bad;
    char *pem = k8s_base64(b, &len, &bad);
    if (pem != NULL && strlen(pem) == len && strstr(pem, "-----BEGIN ") != NULL)
        return pem;
    free(pem);
    *rc = pem == NULL && !bad ? as_err_set(k->err, "out of memory")
                              : at(k, as_node_get(map, key), "%s: %s", key,
                                   bad ? "not base64" : "not PEM text once decoded");
    return NULL;
}

static int dup_to(const struct kc *k, char **dst, const char *s)
{
    if (s == NULL)
        return 0;
    *dst = strdup(s);
    return *dst ? 0 : as_err_set(k->err, "out of memory");
}

static int cluster(const struct kc *k, struct as_node *c, struct as_node *ref)
{
    int rc = 0;
    struct k8s_auth *o = k->out;
    const char *server = scalar(k, c, "server", &rc);
    static const char *const unsupported[] = {"tls-server-name", "proxy-url", NULL};
    for (size_t i = 0; rc == 0 && unsupported[i]; i++)
        if (scalar(k, c, unsupported[i], &rc) != NULL)
            return at(k, as_node_get(c, unsupported[i]),
                      "'%s' is not supported by the kubernetes scaler%s", unsupported[i], "");
    if (rc < 0)
        return rc;
    if (server == NULL)
        return at(k, ref, "cluster '%s' has no server%s", ref->value, "");
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
        return at(k, as_node_get(c, "server"), "server '%s' is not an http:// or https:// URL%s",
                  server, "");
    const char *insecure = scalar(k, c, "insecure-skip-tls-verify", &rc);
    o->insecure = insecure && (strcmp(insecure, "true") == 0 || strcmp(insecure, "True") == 0 ||
                               strcmp(insecure, "TRUE") == 0);
    if (rc < 0 || dup_to(k, &o->server, server) < 0)
        return -1;
    o->ca_pem = pem_of(k, c, "certificate-authority-data", &rc);
    if (rc == 0 && o->ca_pem == NULL)
        o->ca_file = path_of(k, c, "certificate-authority", &rc);
    return rc;
}

/* What this scaler cannot do for a user: said plainly instead of failing later with a 401. */
static int impersonates(const struct kc *k, struct as_node *u, const char *name)
{
    static const char *const keys[] = {"as", "as-uid", "as-groups", "as-user-extra", NULL};
    for (size_t i = 0; keys[i]; i++)
        if (as_node_get(u, keys[i]) != NULL)
            return at(k, as_node_get(u, keys[i]),
                      "user '%s': impersonation ('%s') is not supported by the kubernetes scaler",
                      name, keys[i]);
    return 0;
}

/* A user without a credential this scaler can send: anonymous, unless it has a plugin. */
static int user_unsupported(const struct kc *k, struct as_node *u, const char *name)
{
    const char *how = as_node_get(u, "exec") ? "exec" : "auth-provider";
    struct as_node *n = as_node_get(u, how);
    if (n == NULL)
        return 0;
    return at(k, n,
              "user '%s' authenticates with an %s plugin, which the kubernetes scaler does not "
              "run: give it a token, tokenFile or client certificate (a ServiceAccount token, "
              "see docs/scalers/kubernetes.md)",
              name, how);
}

static int user_cert(const struct kc *k, struct as_node *u, const char *name)
{
    int rc = 0;
    struct k8s_auth *o = k->out;
    o->cert_pem = pem_of(k, u, "client-certificate-data", &rc);
    if (rc == 0 && o->cert_pem == NULL)
        o->cert_file = path_of(k, u, "client-certificate", &rc);
    if (rc == 0)
        o->key_pem = pem_of(k, u, "client-key-data", &rc);
    if (rc == 0 && o->key_pem == NULL)
        o->key_file = path_of(k, u, "client-key", &rc);
    if (rc < 0)
        return rc;
    int cert = o->cert_pem || o->cert_file, key = o->key_pem || o->key_file;
    if (cert != key)
        return at(k, u, "user '%s' has a client %s", name,
                  cert ? "certificate without its key" : "key without its certificate");
    return 0;
}

/* A token is sent as it is in a header: a control character in it (a line break inside a
 * quoted scalar) would end the Authorization header and start another. */
static int header_safe(const struct kc *k, struct as_node *u, const char *key, const char *v)
{
    if (as_has_control(v))
        return at(k, as_node_get(u, key), "'%s' holds a control character (a line break?)%s", key,
                  "");
    return 0;
}

static int user(const struct kc *k, struct as_node *u, const char *name)
{
    int rc = impersonates(k, u, name) < 0 ? -1 : user_cert(k, u, name);
    struct k8s_auth *o = k->out;
    const char *token = rc == 0 ? scalar(k, u, "token", &rc) : NULL;
    const char *user = rc == 0 ? scalar(k, u, "username", &rc) : NULL;
    const char *pass = rc == 0 ? scalar(k, u, "password", &rc) : NULL;
    if (rc == 0 && header_safe(k, u, "token", token) < 0)
        return -1;
    if (rc == 0)
        o->token_file = path_of(k, u, "tokenFile", &rc);
    if (rc < 0 || dup_to(k, &o->token, token) < 0 || dup_to(k, &o->username, user) < 0 ||
        dup_to(k, &o->password, pass) < 0)
        return -1;
    if (token)
        as_log_secret(token, strlen(token));
    if (pass)
        as_log_secret(pass, strlen(pass));
    int has = o->cert_file || o->cert_pem || o->token || o->token_file || o->username;
    return has ? 0 : user_unsupported(k, u, name);
}

static int resolve(struct kc *k, struct as_node *root, const char *context)
{
    if (root == NULL || root->kind != AS_NODE_MAP)
        return as_err_set(k->err, "%s is not a kubeconfig (not a mapping)", k->file);
    int rc = 0;
    struct as_node *cur = as_node_get(root, "current-context");
    const char *name = context ? context : scalar(k, root, "current-context", &rc);
    if (rc < 0)
        return rc;
    if (name == NULL || name[0] == '\0')
        return as_err_set(k->err, "%s has no current-context: set the scaler's 'context'", k->file);
    struct as_node *ctx = named(k, root, "contexts", "context", name, cur ? cur : root);
    if (ctx == NULL)
        return -1;
    const char *cname = scalar(k, ctx, "cluster", &rc), *uname = scalar(k, ctx, "user", &rc);
    const char *ns = scalar(k, ctx, "namespace", &rc);
    if (rc < 0)
        return rc;
    if (cname == NULL)
        return at(k, ctx, "context '%s' names no cluster%s", name, "");
    struct as_node *c = named(k, root, "clusters", "cluster", cname, as_node_get(ctx, "cluster"));
    if (c == NULL || cluster(k, c, as_node_get(ctx, "cluster")) < 0)
        return -1;
    if (ns && ns[0] != '\0' && dup_to(k, &k->out->ns, ns) < 0)
        return -1;
    snprintf(k->out->where, sizeof(k->out->where), "kubeconfig %s, context %s", k->file, name);
    if (uname == NULL || uname[0] == '\0')
        return 0; /* anonymous: e.g. `kubectl proxy` on http://127.0.0.1:8001 */
    struct as_node *u = named(k, root, "users", "user", uname, as_node_get(ctx, "user"));
    return u ? user(k, u, uname) : -1;
}

int k8s_kubeconfig_parse(const char *name, const char *text, size_t len, const char *context,
                         struct k8s_auth *out, struct as_err *err)
{
    memset(out, 0, sizeof(*out));
    char *copy = strdup(name);
    struct kc k = {.file = name, .dir = copy ? dirname(copy) : NULL, .out = out, .err = err};
    if (copy == NULL)
        return as_err_set(err, "out of memory");
    struct as_doc *doc = as_doc_parse(name, text, len, err);
    int rc = doc ? resolve(&k, doc->root, context) : -1;
    as_doc_free(doc);
    free(copy);
    if (rc < 0)
        k8s_auth_free(out);
    return rc;
}

int k8s_kubeconfig_load(const char *path, const char *context, struct k8s_auth *out,
                        struct as_err *err)
{
    memset(out, 0, sizeof(*out));
    char *text = k8s_read_small(path, KUBECONFIG_MAX, err);
    if (text == NULL)
        return -1;
    int rc = k8s_kubeconfig_parse(path, text, strlen(text), context, out, err);
    free(text);
    return rc;
}

/* ---- in-cluster ---- */

static char *join(const char *dir, const char *name)
{
    struct as_sb sb = {0};
    if (as_sb_printf(&sb, "%s/%s", dir, name) < 0) {
        as_sb_free(&sb);
        return NULL;
    }
    return sb.buf;
}

int k8s_incluster_load(const char *sa_dir, struct k8s_auth *out, struct as_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (host == NULL || port == NULL || !*host || !*port)
        return as_err_set(err, "not in a cluster: KUBERNETES_SERVICE_HOST and "
                               "KUBERNETES_SERVICE_PORT must be set (outside one, set "
                               "'kubeconfig')");
    struct as_sb url = {0};
    int v6 = strchr(host, ':') != NULL;
    if (as_sb_printf(&url, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port) < 0)
        goto oom;
    out->server = url.buf;
    if ((out->ca_file = join(sa_dir, "ca.crt")) == NULL ||
        (out->token_file = join(sa_dir, "token")) == NULL)
        goto oom;
    char *token = k8s_read_small(out->token_file, TOKEN_MAX, err);
    if (token == NULL || access(out->ca_file, R_OK) != 0) {
        if (token != NULL)
            as_err_set(err, "cannot read %s: %s", out->ca_file, strerror(errno));
        free(token);
        k8s_auth_free(out);
        return -1;
    }
    free(token);
    char *nsfile = join(sa_dir, "namespace");
    struct as_err ignored;
    out->ns = nsfile ? k8s_read_small(nsfile, 256, &ignored) : NULL;
    free(nsfile);
    snprintf(out->where, sizeof(out->where), "in-cluster (%s)", sa_dir);
    return 0;
oom:
    as_sb_free(&url);
    out->server = NULL;
    k8s_auth_free(out);
    return as_err_set(err, "out of memory");
}

/* ---- the token file ---- */

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

const char *k8s_token_get(struct k8s_token *t, int64_t now_ms, int *stale, struct as_err *err)
{
    struct stat st;
    *stale = 0;
    int changed = stat(t->path, &st) != 0 || st.st_dev != t->dev || st.st_ino != t->ino ||
                  st.st_size != t->size || mtime_ns(&st) != t->mtime_ns;
    if (t->value != NULL && !changed && now_ms - t->read_ms < K8S_TOKEN_REREAD_MS)
        return t->value;
    char *v = k8s_read_small(t->path, TOKEN_MAX, err);
    if (as_has_control(v)) {
        as_err_set(err, "%s holds a control character", t->path);
        free(v);
        v = NULL;
    }
    if (v != NULL && v[0] == '\0') {
        as_err_set(err, "%s is empty", t->path);
        free(v);
        v = NULL;
    }
    if (v == NULL) {
        *stale = t->value != NULL;
        return t->value;
    }
    if (t->value == NULL || strcmp(t->value, v) != 0)
        as_log_secret(v, strlen(v)); /* never logged, even when an answer echoes it */
    free(t->value);
    t->value = v;
    t->read_ms = now_ms;
    t->reads++;
    if (stat(t->path, &st) == 0) {
        t->dev = st.st_dev;
        t->ino = st.st_ino;
        t->size = st.st_size;
        t->mtime_ns = mtime_ns(&st);
    }
    return v;
}

void k8s_token_free(struct k8s_token *t)
{
    free(t->value);
    t->value = NULL;
}
