/* An in-process libmicrohttpd server on 127.0.0.1 for the unit tests of the scalers that call
 * a provider's API (heroku, nomad): it answers every request with what api_serve() set (a
 * status, a body, one extra header, a delay) and records what it was asked (method, path,
 * decoded query, body and the headers these APIs use). Include once, from the test file;
 * api_start() and api_stop() from the group's setup and teardown. */
#ifndef AS_TEST_API_SERVER_H
#define AS_TEST_API_SERVER_H

static struct {
    pthread_mutex_t mu;
    unsigned status;
    char body[2048];
    char header[2][128]; /* name and value of one more response header ("" none) */
    int delay_ms;
    int requests;
    char method[16], path[256], query[256], req_body[1024];
    char accept[128], auth[256], ctype[128], token[256];
} api = {.mu = PTHREAD_MUTEX_INITIALIZER};

static struct MHD_Daemon *api_mhd;
static int api_port;

/* What the server answers from now on; header "Name: value" or NULL. */
static void api_serve(unsigned status, const char *body, const char *header, int delay_ms)
{
    pthread_mutex_lock(&api.mu);
    api.status = status;
    snprintf(api.body, sizeof(api.body), "%s", body);
    api.header[0][0] = api.header[1][0] = '\0';
    const char *colon = header ? strchr(header, ':') : NULL;
    if (colon) {
        snprintf(api.header[0], sizeof(api.header[0]), "%.*s", (int)(colon - header), header);
        snprintf(api.header[1], sizeof(api.header[1]), "%s", colon + 2);
    }
    api.delay_ms = delay_ms;
    pthread_mutex_unlock(&api.mu);
}

static inline int api_requests(void)
{
    pthread_mutex_lock(&api.mu);
    int n = api.requests;
    pthread_mutex_unlock(&api.mu);
    return n;
}

static enum MHD_Result api_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)cls;
    (void)kind;
    size_t n = strlen(api.query);
    snprintf(api.query + n, sizeof(api.query) - n, "%s%s=%s", n ? "&" : "", key,
             value ? value : "");
    return MHD_YES;
}

static void api_copy(char *dst, size_t len, struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(dst, len, "%s", v ? v : "");
}

static void api_record(struct MHD_Connection *c, const char *url, const char *method)
{
    api.requests++;
    snprintf(api.method, sizeof(api.method), "%s", method);
    snprintf(api.path, sizeof(api.path), "%s", url);
    api.query[0] = '\0';
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, api_arg, NULL);
    api_copy(api.accept, sizeof(api.accept), c, "Accept");
    api_copy(api.auth, sizeof(api.auth), c, "Authorization");
    api_copy(api.ctype, sizeof(api.ctype), c, "Content-Type");
    api_copy(api.token, sizeof(api.token), c, "X-Nomad-Token");
}

static enum MHD_Result api_handler(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *data,
                                   size_t *size, void **req_cls)
{
    (void)cls;
    (void)version;
    if (*req_cls == NULL) {
        *req_cls = c;
        pthread_mutex_lock(&api.mu);
        api.req_body[0] = '\0';
        pthread_mutex_unlock(&api.mu);
        return MHD_YES;
    }
    pthread_mutex_lock(&api.mu);
    if (*size) {
        size_t n = strlen(api.req_body), room = sizeof(api.req_body) - 1 - n;
        strncat(api.req_body, data, *size < room ? *size : room);
        *size = 0;
        pthread_mutex_unlock(&api.mu);
        return MHD_YES;
    }
    api_record(c, url, method);
    unsigned status = api.status;
    int delay = api.delay_ms;
    char body[sizeof(api.body)], hname[128], hvalue[128];
    snprintf(body, sizeof(body), "%s", api.body);
    snprintf(hname, sizeof(hname), "%s", api.header[0]);
    snprintf(hvalue, sizeof(hvalue), "%s", api.header[1]);
    pthread_mutex_unlock(&api.mu);
    if (delay)
        usleep((useconds_t)delay * 1000);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    if (hname[0])
        MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static int api_start(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    api_mhd =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                         NULL, api_handler, NULL, MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_END);
    if (api_mhd == NULL)
        return -1;
    api_port = MHD_get_daemon_info(api_mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static void api_stop(void)
{
    MHD_stop_daemon(api_mhd);
}

#endif
