/* An in-process libmicrohttpd server on 127.0.0.1 for the http_latency and loadtest tests
 * (one thread per connection, so delays overlap). Include once, from the test file; call
 * ts_start() and ts_stop(). Paths:
 *   /delay/N      200 "ok" after N ms
 *   /status/N     status N
 *   /flaky        503 on every second request, else 200
 *   /hdr?v=TEXT   200 with "X-Response-Time: TEXT"
 *   /seq          200 with "X-Response-Time: Kms", K = 1, 2, 3, ... (ts_reset() restarts it)
 *   /dup          200 with X-Response-Time twice
 *   /redirect     302 to http://example.invalid/elsewhere
 *   anything else 200 "ok"
 * Every request is counted per path, with the most in flight at once. */
#ifndef AS_TEST_TIMING_SERVER_H
#define AS_TEST_TIMING_SERVER_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <microhttpd.h>

#define TS_PATHS 16

static struct {
    pthread_mutex_t mu;
    int seq, flaky;
    int inflight, max_inflight;
    int total;
    char paths[TS_PATHS][64];
    int counts[TS_PATHS];
    char last_host[128];
} ts = {.mu = PTHREAD_MUTEX_INITIALIZER};

static struct MHD_Daemon *ts_mhd;
static int ts_port;

static void ts_reset(void)
{
    pthread_mutex_lock(&ts.mu);
    ts.seq = ts.flaky = ts.max_inflight = ts.total = 0;
    memset(ts.paths, 0, sizeof(ts.paths));
    memset(ts.counts, 0, sizeof(ts.counts));
    ts.last_host[0] = '\0';
    pthread_mutex_unlock(&ts.mu);
}

/* Requests seen on path. */
static int ts_count(const char *path)
{
    int n = 0;
    pthread_mutex_lock(&ts.mu);
    for (int i = 0; i < TS_PATHS; i++)
        if (strcmp(ts.paths[i], path) == 0)
            n = ts.counts[i];
    pthread_mutex_unlock(&ts.mu);
    return n;
}

static int ts_get(const int *field)
{
    pthread_mutex_lock(&ts.mu);
    int n = *field;
    pthread_mutex_unlock(&ts.mu);
    return n;
}

static void ts_count_in(const char *url, const char *host)
{
    pthread_mutex_lock(&ts.mu);
    ts.total++;
    if (++ts.inflight > ts.max_inflight)
        ts.max_inflight = ts.inflight;
    snprintf(ts.last_host, sizeof(ts.last_host), "%s", host ? host : "");
    for (int i = 0; i < TS_PATHS; i++)
        if (ts.paths[i][0] == '\0' || strcmp(ts.paths[i], url) == 0) {
            snprintf(ts.paths[i], sizeof(ts.paths[i]), "%s", url);
            ts.counts[i]++;
            break;
        }
    pthread_mutex_unlock(&ts.mu);
}

static enum MHD_Result ts_reply(struct MHD_Connection *c, unsigned status, const char *name,
                                const char *value, int twice)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(2, "ok", MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    if (name && value) {
        MHD_add_response_header(r, name, value);
        if (twice)
            MHD_add_response_header(r, name, value);
    }
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result ts_route(struct MHD_Connection *c, const char *url)
{
    char text[64];
    if (strncmp(url, "/delay/", 7) == 0) {
        usleep((useconds_t)atoi(url + 7) * 1000);
        return ts_reply(c, 200, NULL, NULL, 0);
    }
    if (strncmp(url, "/status/", 8) == 0)
        return ts_reply(c, (unsigned)atoi(url + 8), NULL, NULL, 0);
    if (strcmp(url, "/flaky") == 0) {
        pthread_mutex_lock(&ts.mu);
        int n = ++ts.flaky;
        pthread_mutex_unlock(&ts.mu);
        return ts_reply(c, n % 2 == 0 ? 503 : 200, NULL, NULL, 0);
    }
    if (strcmp(url, "/hdr") == 0) {
        const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "v");
        return ts_reply(c, 200, "X-Response-Time", v ? v : "", 0);
    }
    if (strcmp(url, "/seq") == 0) {
        pthread_mutex_lock(&ts.mu);
        snprintf(text, sizeof(text), "%dms", ++ts.seq);
        pthread_mutex_unlock(&ts.mu);
        return ts_reply(c, 200, "X-Response-Time", text, 0);
    }
    if (strcmp(url, "/dup") == 0)
        return ts_reply(c, 200, "X-Response-Time", "5ms", 1);
    if (strcmp(url, "/redirect") == 0)
        return ts_reply(c, 302, "Location", "http://example.invalid/elsewhere", 0);
    return ts_reply(c, 200, NULL, NULL, 0);
}

static enum MHD_Result ts_handler(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **req_cls)
{
    (void)cls;
    (void)method;
    (void)version;
    (void)data;
    if (*req_cls == NULL) {
        *req_cls = c;
        return MHD_YES;
    }
    if (*size) { /* a body: read and drop */
        *size = 0;
        return MHD_YES;
    }
    ts_count_in(url, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"));
    enum MHD_Result ret = ts_route(c, url);
    pthread_mutex_lock(&ts.mu);
    ts.inflight--;
    pthread_mutex_unlock(&ts.mu);
    return ret;
}

static int ts_start(void **state)
{
    (void)state;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ts_mhd =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                         NULL, ts_handler, NULL, MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_END);
    if (ts_mhd == NULL)
        return -1;
    ts_port = MHD_get_daemon_info(ts_mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static int ts_stop(void **state)
{
    (void)state;
    MHD_stop_daemon(ts_mhd);
    return 0;
}

#endif
