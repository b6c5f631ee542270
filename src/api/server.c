/* The HTTP server on the loop: see server.h. libmicrohttpd runs in its external-epoll mode:
 * its epoll descriptor is watched by our loop, MHD_run does whatever is ready without
 * blocking, and a loop timer covers its connection timeouts (and data that TLS buffered). */
#include "api/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "api/api.h"
#include "config/server_cfg.h"
#include "drivers/status.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/util.h"

#define AS_API_TICK_MS 1000 /* MHD_run at least this often (connection timeouts) */

struct as_api {
    struct as_loop *loop;
    struct as_engine *eng;
    struct MHD_Daemon *mhd;
    int efd;
    struct as_timer *timer;
    char address[80];
    char fingerprint[512]; /* what the listener was started with */
    char last_error[256];  /* libmicrohttpd's last message */
};

/* One request in progress: its body so far. */
struct request {
    struct as_sb body;
    int too_large;
};

/* ---- replies ---- */

int as_api_text(struct as_api_reply *r, int status, const char *ctype, const char *text, size_t len)
{
    free(r->body);
    r->body = malloc(len + 1);
    r->status = r->body ? status : 500;
    r->ctype = ctype;
    r->len = r->body ? len : 0;
    if (r->body != NULL)
        memcpy(r->body, text, len);
    return 0;
}

int as_api_json(struct as_api_reply *r, int status, json_t *doc)
{
    char *text =
        doc ? json_dumps(doc, JSON_INDENT(1) | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(doc);
    free(r->body);
    r->body = NULL;
    if (text == NULL)
        return as_api_text(r, 500, "application/json", "{\"error\": \"out of memory\"}\n", 27);
    size_t n = strlen(text);
    as_api_text(r, status, "application/json", text, n + 1);
    free(text);
    if (r->body != NULL)
        r->body[n] = '\n'; /* over the NUL copied */
    return 0;
}

int as_api_error(struct as_api_reply *r, int status, const char *fmt, ...)
{
    char msg[AS_ERR_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return as_api_json(r, status, json_pack("{s:s, s:i}", "error", msg, "status", status));
}

/* ---- auth ---- */

/* Constant time whatever the two lengths: the SHA-256 of each is compared. */
static int token_ok(const char *given, const char *want)
{
    unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned int na = 0, nb = 0;
    if (EVP_Digest(given, strlen(given), a, &na, EVP_sha256(), NULL) != 1 ||
        EVP_Digest(want, strlen(want), b, &nb, EVP_sha256(), NULL) != 1 || na != nb)
        return 0;
    return CRYPTO_memcmp(a, b, na) == 0;
}

/* 0 when the request may go on, else the reply is set (401 or 403). */
static int authorize(const struct as_server_cfg *h, struct MHD_Connection *c,
                     const struct as_route *route, struct as_api_reply *r)
{
    /* The dashboard's own files hold no data (a browser cannot send a bearer token for a
     * page it navigates to: the page asks for it and sends it with every API call). */
    int open = route->kind == AS_R_HEALTHZ || route->kind == AS_R_READYZ ||
               route->kind == AS_R_DASHBOARD || route->kind == AS_R_ASSET;
    int needed = route->write || (h->auth == AS_HTTP_AUTH_ALL && !open);
    if (!needed)
        return 0;
    if (h->token == NULL) {
        as_api_error(r, 403,
                     "this daemon has no http.token: the API is read-only (set http.token by "
                     "reference to allow pause, resume and override)");
        return -1;
    }
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *given = v != NULL && strncasecmp(v, "Bearer ", 7) == 0 ? v + 7 : NULL;
    if (given != NULL && token_ok(given, h->token))
        return 0;
    as_api_error(r, 401,
                 given ? "wrong token" : "this needs the token: Authorization: Bearer TOKEN");
    r->challenge = 1;
    return -1;
}

/* ---- requests ---- */

struct args {
    struct as_query *q;
    unsigned allowed;
    struct as_err err;
    int bad;
};

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value)
{
    (void)kind;
    struct args *a = cls;
    if (!a->bad && as_query_set(a->q, a->allowed, key, value, &a->err) < 0)
        a->bad = 1;
    return MHD_YES;
}

static const char *client_of(struct MHD_Connection *c, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    struct sockaddr_storage ss;
    snprintf(buf, len, "?");
    if (ci == NULL || ci->client_addr == NULL)
        return buf;
    memcpy(&ss, ci->client_addr,
           ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                  : sizeof(struct sockaddr_in));
    return as_listen_fmt(&ss, buf, len);
}

static void dispatch(struct as_api *api, struct MHD_Connection *c, const char *url,
                     const char *method, struct request *rq, struct as_api_reply *r)
{
    struct as_engine_view ev;
    as_status_engine(api->eng, &ev);
    const struct as_server_cfg *h = ev.cfg->http;
    struct as_route route;
    char who[80];
    int code = as_route_parse(method, url, &route);
    if (code == 404) {
        as_api_error(r, 404, "no such path (see /api/v1 for the endpoints)");
        return;
    }
    if (code == 400) {
        as_api_error(r, 400, "not a group name (1-63 of A-Z a-z 0-9 _ . -)");
        return;
    }
    if (authorize(h, c, &route, r) < 0)
        return;
    if (code == 405) {
        as_api_error(r, 405, "method %s not allowed here", method);
        as_route_allow(route.methods, r->allow, sizeof(r->allow));
        return;
    }
    if (rq->too_large) {
        as_api_error(r, 413, "the body is larger than http.max_request (%d bytes)", h->max_request);
        return;
    }
    struct as_query q = {0};
    struct args a = {.q = &q, .allowed = route.params};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_arg, &a);
    if (a.bad) {
        as_api_error(r, 400, "%s", a.err.msg);
        return;
    }
    switch (route.kind) {
    case AS_R_DASHBOARD:
    case AS_R_ASSET:
        as_api_asset(&route, r);
        return;
    case AS_R_METRICS:
        as_api_metrics(api->eng, r);
        return;
    case AS_R_HEALTHZ:
    case AS_R_READYZ:
        as_api_health(api->eng, route.kind == AS_R_READYZ, r);
        return;
    default:
        as_api_v1(api->eng, &route, &q, rq->body.buf ? rq->body.buf : "", rq->body.len,
                  client_of(c, who, sizeof(who)), r);
        return;
    }
}

/* A large answer (/api/v1's with their history) leaves transient blocks whose pages would stay
 * in the RSS: they go back once it is sent. */
#define LARGE_REPLY (1024 * 1024)

static void free_large(void *body)
{
    free(body);
    as_release_memory();
}

/* libmicrohttpd asks for the next bytes when the connection has room for them; the stream
 * is closed when the answer is done or the client went away. */
static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    ssize_t n = as_metrics_read(cls, buf, max);
    if (n < 0) /* out of memory: the connection is closed, the client sees the answer cut */
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return n > 0 ? n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void close_stream(void *cls)
{
    as_metrics_close(cls);
}

#define STREAM_BLOCK 16384 /* without chunked encoding (HTTP/1.0), the response's own buffer */

static struct MHD_Response *response_of(struct as_api_reply *r)
{
    struct MHD_Response *resp;
    if (r->stream != NULL) { /* chunked: its length is known at its end */
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, read_stream,
                                                 r->stream, close_stream);
        if (resp == NULL)
            as_metrics_close(r->stream);
        r->stream = NULL;
        return resp;
    }
    /* Freed by our own free (MHD_RESPMEM_MUST_FREE would free it inside libmicrohttpd, with an
     * allocator other than the one that made it when ours is wrapped, as tests/alloc does). */
    resp = MHD_create_response_from_buffer_with_free_callback(
        r->len, r->body, r->len >= LARGE_REPLY ? free_large : free);
    if (resp == NULL)
        free(r->body);
    r->body = NULL;
    return resp;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct as_api_reply *r)
{
    struct MHD_Response *resp = response_of(r);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    /* Nothing the daemon serves loads anything from elsewhere; the page only its own script,
     * style and API. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            r->page ? "default-src 'none'; script-src 'self'; style-src 'self'; "
                                      "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                                      "form-action 'none'; frame-ancestors 'none'"
                                    : "default-src 'none'; frame-ancestors 'none'");
    if (r->allow[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->challenge)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"autoscaler\"");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static int max_request(const struct as_api *api)
{
    struct as_engine_view ev;
    as_status_engine(api->eng, &ev);
    return ev.cfg->http->max_request;
}

/* A body announced larger than the limit is refused before it is read. */
static int announced_too_large(struct MHD_Connection *c, int max)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long n;
    return v != NULL && (as_parse_long(v, &n) < 0 || n < 0 || n > max);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    (void)version;
    struct as_api *api = cls;
    struct request *rq = *req_cls;
    struct as_api_reply r = {.status = 500, .ctype = "application/json"};
    int max = max_request(api);
    if (rq == NULL) {
        rq = calloc(1, sizeof(*rq));
        *req_cls = rq;
        if (rq == NULL)
            return MHD_NO;
        if (!announced_too_large(c, max))
            return MHD_YES;
        rq->too_large = 1; /* answered now: libmicrohttpd closes the connection after */
    } else if (*upload_size > 0) {
        if (rq->body.len + *upload_size > (size_t)max)
            rq->too_large = 1;
        else if (as_sb_append(&rq->body, upload, *upload_size) < 0)
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    dispatch(api, c, url, method, rq, &r);
    return send_reply(c, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct request *rq = *req_cls;
    if (rq != NULL) {
        as_sb_free(&rq->body);
        free(rq);
    }
    *req_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct as_api *api = cls;
    vsnprintf(api->last_error, sizeof(api->last_error), fmt, ap);
    size_t n = strlen(api->last_error);
    while (n > 0 && (api->last_error[n - 1] == '\n' || api->last_error[n - 1] == '.'))
        api->last_error[--n] = '\0';
    AS_LOG(AS_DEBUG, "http: %s", api->last_error);
}

/* ---- the loop ---- */

static int64_t on_timer(struct as_loop *loop, void *arg);

/* Runs whatever libmicrohttpd has ready, then arms the timer for what it waits for next. */
static void run(struct as_api *api)
{
    MHD_UNSIGNED_LONG_LONG to = AS_API_TICK_MS;
    MHD_run(api->mhd);
    if (MHD_get_timeout(api->mhd, &to) != MHD_YES || to > AS_API_TICK_MS)
        to = AS_API_TICK_MS;
    as_loop_cancel_timer(api->loop, api->timer);
    api->timer = as_loop_add_timer(api->loop, (int64_t)to, on_timer, api);
}

static int64_t on_timer(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct as_api *api = arg;
    api->timer = NULL; /* the loop drops this one: run() adds the next */
    run(api);
    return AS_TIMER_STOP;
}

static void on_ready(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    run(arg);
}

static void stop_listener(struct as_api *api)
{
    if (api->mhd == NULL)
        return;
    as_loop_watch_fd(api->loop, api->efd, 0, NULL, NULL);
    as_loop_cancel_timer(api->loop, api->timer);
    api->timer = NULL;
    MHD_stop_daemon(api->mhd);
    api->mhd = NULL;
    api->efd = -1;
    api->address[0] = '\0';
}

static void fingerprint(const struct as_server_cfg *h, char *buf, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char tls[2 * EVP_MAX_MD_SIZE + 1] = "";
    if (h->cert_pem != NULL) { /* the certificate and key themselves: a renewal restarts */
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
            EVP_DigestUpdate(ctx, h->cert_pem, strlen(h->cert_pem)) == 1 &&
            EVP_DigestUpdate(ctx, h->key_pem, strlen(h->key_pem)) == 1 &&
            EVP_DigestFinal_ex(ctx, md, &n) == 1)
            for (unsigned i = 0; i < n; i++)
                snprintf(tls + 2 * i, 3, "%02x", md[i]);
        EVP_MD_CTX_free(ctx);
    }
    snprintf(buf, len, "%s|%d|%d|%lld|%s", h->off ? "" : h->listen, h->max_connections,
             h->max_request, (long long)h->timeout_ms, tls);
}

static int start_listener(struct as_api *api, const struct as_server_cfg *h, struct as_err *err)
{
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    uint16_t port = ntohs(((const struct sockaddr_in *)&h->addr)->sin_port);
    if (h->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (h->cert_pem != NULL) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return as_err_set(err, "http: this libmicrohttpd was built without TLS");
        flags |= MHD_USE_TLS;
    }
    /* Headers and the body share the connection's memory pool: room for both. */
    size_t pool = (size_t)h->max_request * 2 + 16384;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, (void *)&h->addr},
        {MHD_OPTION_CONNECTION_LIMIT, h->max_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)((h->timeout_ms + 999) / 1000), NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)pool, NULL},
        {h->cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, h->cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, h->key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    api->last_error[0] = '\0';
    api->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, api, MHD_OPTION_ARRAY, opts,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
                                MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, api, MHD_OPTION_END);
    if (api->mhd == NULL)
        return as_err_set(err, "http: cannot listen on %s: %s", h->listen,
                          api->last_error[0] ? api->last_error : "libmicrohttpd refused");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    api->efd = info ? info->epoll_fd : -1;
    if (api->efd < 0 || as_loop_watch_fd(api->loop, api->efd, AS_READ, on_ready, api) < 0) {
        MHD_stop_daemon(api->mhd);
        api->mhd = NULL;
        return as_err_set(err, "http: cannot watch the server's descriptor");
    }
    as_listen_fmt(&h->addr, api->address, sizeof(api->address));
    run(api);
    AS_LOG(AS_INFO, "http: listening on %s://%s (/metrics, /api/v1, dashboard at /)%s",
           h->cert_pem ? "https" : "http", api->address,
           h->token ? "" : "; read-only: no http.token");
    return 0;
}

int as_api_apply(struct as_api *api, const struct as_config *cfg, int starting, struct as_err *err)
{
    const struct as_server_cfg *h = cfg->http;
    char fp[sizeof(api->fingerprint)];
    fingerprint(h, fp, sizeof(fp));
    if (!starting && strcmp(fp, api->fingerprint) == 0 && (api->mhd != NULL || h->off))
        return 0;
    stop_listener(api);
    snprintf(api->fingerprint, sizeof(api->fingerprint), "%s", fp);
    if (h->off) {
        AS_LOG(AS_INFO, "http: off (http.listen is empty)");
        return 0;
    }
    if (start_listener(api, h, err) == 0)
        return 0;
    if (!h->listen_given) { /* the default address: at start, and tried again at a reload */
        AS_LOG(AS_WARN, "%s (the default address; set http.listen, or \"\" for no server)",
               err->msg);
        as_err_clear(err);
        return 0;
    }
    return -1;
}

const char *as_api_address(const struct as_api *api)
{
    return api->address;
}

struct as_api *as_api_new(struct as_loop *loop, struct as_engine *eng)
{
    struct as_api *api = calloc(1, sizeof(*api));
    if (api == NULL)
        return NULL;
    api->loop = loop;
    api->eng = eng;
    api->efd = -1;
    return api;
}

void as_api_free(struct as_api *api)
{
    if (api == NULL)
        return;
    stop_listener(api);
    free(api);
}
