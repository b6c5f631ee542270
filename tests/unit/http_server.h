/* An in-process libmicrohttpd server on 127.0.0.1 for the HTTP client, source and scaler
 * tests: ordinary paths answer as serve() tells them; a few paths are hostile (see
 * special()). Include once, from the test file; setup() and teardown() start and stop it. */
#ifndef AS_TEST_HTTP_SERVER_H
#define AS_TEST_HTTP_SERVER_H

/* ---- the server ---- */

static struct {
    pthread_mutex_t mu;
    unsigned status;
    char body[512];
    int delay_ms;
    int requests;
    int release;      /* ends every /hang and /trickle answer */
    int hangs, loops; /* requests seen on /hang and /loop */
    int inflight, max_inflight;
    char last_method[16], last_url[128], last_body[256], last_ctype[64], last_auth[128];
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void serve(unsigned status, const char *body, int delay_ms)
{
    pthread_mutex_lock(&srv.mu);
    srv.hangs = srv.loops = srv.max_inflight = 0;
    srv.status = status;
    snprintf(srv.body, sizeof(srv.body), "%s", body);
    srv.delay_ms = delay_ms;
    pthread_mutex_unlock(&srv.mu);
}

/* Sleeps up to ms, in steps, until the test releases the server. */
static void nap(int ms)
{
    for (int t = 0; t < ms; t += 20) {
        pthread_mutex_lock(&srv.mu);
        int released = srv.release;
        pthread_mutex_unlock(&srv.mu);
        if (released)
            return;
        usleep(20000);
    }
}

/* /trickle: one byte a second, "{\"v\": 1}" in all, unless released. */
static ssize_t trickle(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    static const char text[] = "{\"v\": 1}";
    if (pos >= sizeof(text) - 1 || max == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (pos > 0)
        nap(1000);
    buf[0] = text[pos];
    return 1;
}

static void count_in(const char *url, int delta);

static void trickled(void *cls)
{
    (void)cls;
    count_in("/trickle", -1);
}

/* Answers the hostile paths; NULL for the ordinary ones. */
static struct MHD_Response *special(const char *url, unsigned *status)
{
    static char garbage[] = "\x00\xff\xfe{\"v\":\x00 1}\x80";
    *status = 200;
    if (strcmp(url, "/hang") == 0) {
        nap(3000);
        return MHD_create_response_from_buffer(2, "{}", MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/slow") == 0) {
        usleep(150000);
        return MHD_create_response_from_buffer(7, "{\"v\":1}", MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/trickle") == 0) { /* in flight until MHD is done with it */
        count_in(url, 1);
        return MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1, trickle, NULL, trickled);
    }
    if (strcmp(url, "/garbage") == 0)
        return MHD_create_response_from_buffer(sizeof(garbage) - 1, garbage,
                                               MHD_RESPMEM_PERSISTENT);
    size_t n = strcmp(url, "/big") == 0 ? 2 * AS_HTTP_BODY_MAX : 200000;
    if (strcmp(url, "/big") != 0 && strcmp(url, "/deep") != 0)
        return NULL;
    char *body = malloc(n); /* /big: 2 MiB of digits; /deep: 200000 nested arrays */
    if (body == NULL)
        return NULL;
    memset(body, strcmp(url, "/big") == 0 ? '7' : '[', n);
    return MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result answer(struct MHD_Connection *c, const char *url)
{
    unsigned status = 302;
    struct MHD_Response *r = NULL;
    if (strcmp(url, "/loop") == 0) { /* a redirect to itself */
        r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        if (r != NULL)
            MHD_add_response_header(r, "Location", "/loop");
    } else {
        r = special(url, &status);
    }
    if (r == NULL)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static int is_special(const char *url)
{
    const char *paths[] = {"/hang", "/slow", "/trickle", "/garbage", "/big", "/deep", "/loop"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (strcmp(url, paths[i]) == 0)
            return 1;
    return 0;
}

static void count_in(const char *url, int delta)
{
    pthread_mutex_lock(&srv.mu);
    srv.inflight += delta;
    if (srv.inflight > srv.max_inflight)
        srv.max_inflight = srv.inflight;
    if (delta > 0) {
        srv.hangs += strcmp(url, "/hang") == 0;
        srv.loops += strcmp(url, "/loop") == 0;
    }
    pthread_mutex_unlock(&srv.mu);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **req_cls)
{
    (void)cls;
    (void)version;
    if (*req_cls == NULL) {
        *req_cls = c;
        pthread_mutex_lock(&srv.mu);
        srv.last_body[0] = '\0';
        pthread_mutex_unlock(&srv.mu);
        return MHD_YES;
    }
    if (is_special(url) && *size == 0) {
        count_in(url, 1);
        enum MHD_Result ret = answer(c, url);
        count_in(url, -1);
        return ret;
    }
    pthread_mutex_lock(&srv.mu);
    if (*size) {
        strncat(srv.last_body, data, *size < 200 ? *size : 200);
        *size = 0;
        pthread_mutex_unlock(&srv.mu);
        return MHD_YES;
    }
    srv.requests++;
    snprintf(srv.last_method, sizeof(srv.last_method), "%s", method);
    snprintf(srv.last_url, sizeof(srv.last_url), "%s", url);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    snprintf(srv.last_ctype, sizeof(srv.last_ctype), "%s", ct ? ct : "");
    snprintf(srv.last_auth, sizeof(srv.last_auth), "%s", auth ? auth : "");
    unsigned status = srv.status;
    int delay = srv.delay_ms;
    char body[512];
    snprintf(body, sizeof(body), "%s", srv.body);
    pthread_mutex_unlock(&srv.mu);
    if (delay)
        usleep((useconds_t)delay * 1000);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static struct MHD_Daemon *mhd;
static int port;

static int setup(void **state)
{
    (void)state;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                           NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_END);
    if (mhd == NULL)
        return -1;
    port = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(mhd);
    return 0;
}

static int server_count(const int *field)
{
    pthread_mutex_lock(&srv.mu);
    int n = *field;
    pthread_mutex_unlock(&srv.mu);
    return n;
}

/* Lets the server end every /hang and /trickle answer, and waits until it has (bounded), so
 * that the next test starts with a quiet server. */
static void server_release(void)
{
    pthread_mutex_lock(&srv.mu);
    srv.release = 1;
    pthread_mutex_unlock(&srv.mu);
    int64_t end = as_mono_ms() + 3000;
    while (server_count(&srv.inflight) > 0 && as_mono_ms() < end)
        usleep(10000);
    pthread_mutex_lock(&srv.mu);
    srv.release = 0;
    pthread_mutex_unlock(&srv.mu);
}

#endif
