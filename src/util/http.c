#include "util/http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/loop.h"
#include "util/util.h"

struct as_http {
    struct as_loop *loop;
    CURLM *multi;
    struct as_timer *timer;
    size_t active;
};

struct as_http_call {
    struct as_http *http;
    CURL *easy;
    struct curl_slist *headers;
    char *body_copy;
    struct as_sb resp;
    size_t max_body;
    int truncated;
    int64_t started;
    as_http_cb cb;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
};

static void call_free(struct as_http_call *c)
{
    curl_multi_remove_handle(c->http->multi, c->easy);
    curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    free(c->body_copy);
    as_sb_free(&c->resp);
    c->http->active--;
    free(c);
}

static void check_done(struct as_http *http)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(http->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct as_http_call *c = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        CURLcode code = msg->data.result;
        struct as_http_resp r = {0};
        r.ok = code == CURLE_OK && !c->truncated;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r.status);
        if (code != CURLE_OK)
            r.status = 0;
        r.body = c->resp.buf ? c->resp.buf : "";
        r.len = c->resp.len;
        r.truncated = c->truncated;
        r.timed_out = code == CURLE_OPERATION_TIMEDOUT;
        r.error = c->truncated   ? "response body larger than the limit"
                  : c->errbuf[0] ? c->errbuf
                                 : curl_easy_strerror(code);
        r.elapsed_ms = as_loop_now(http->loop) - c->started;
        curl_multi_remove_handle(http->multi, c->easy);
        c->cb(&r, c->arg); /* r borrows c's buffers: free afterwards */
        call_free(c);
    }
}

static void on_fd(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    struct as_http *http = arg;
    int flags =
        ((events & AS_READ) ? CURL_CSELECT_IN : 0) | ((events & AS_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(http->multi, fd, flags, &running);
    check_done(http);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    struct as_http *http = userp;
    int events = what == CURL_POLL_REMOVE ? 0
                 : what == CURL_POLL_IN   ? AS_READ
                 : what == CURL_POLL_OUT  ? AS_WRITE
                                          : AS_READ | AS_WRITE;
    if (as_loop_watch_fd(http->loop, s, events, on_fd, http) < 0)
        AS_LOG(AS_ERROR, "http: cannot watch socket %d", s);
    return 0;
}

static int64_t on_timer(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct as_http *http = arg;
    http->timer = NULL;
    int running;
    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(http);
    return AS_TIMER_STOP;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct as_http *http = userp;
    as_loop_cancel_timer(http->loop, http->timer);
    http->timer = NULL;
    if (timeout_ms >= 0) {
        http->timer = as_loop_add_timer(http->loop, timeout_ms, on_timer, http);
        if (http->timer == NULL)
            return -1;
    }
    return 0;
}

struct as_http *as_http_new(struct as_loop *loop)
{
    static int global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        global_done = 1;
    }
    struct as_http *http = calloc(1, sizeof(*http));
    if (http == NULL)
        return NULL;
    http->loop = loop;
    http->multi = curl_multi_init();
    if (http->multi == NULL) {
        free(http);
        return NULL;
    }
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
    return http;
}

void as_http_free(struct as_http *http)
{
    if (http == NULL)
        return;
    as_loop_cancel_timer(http->loop, http->timer);
    curl_multi_cleanup(http->multi);
    free(http);
}

int as_http_url_ok(const char *url)
{
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

size_t as_http_active(const struct as_http *http)
{
    return http->active;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct as_http_call *c = arg;
    size_t n = size * nmemb;
    if (c->resp.len + n > c->max_body) {
        c->truncated = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return as_sb_append(&c->resp, data, n) == 0 ? n : 0;
}

static int setup(struct as_http_call *c, const struct as_http_req *req)
{
    CURL *e = c->easy;
    const char *method = req->method ? req->method : "GET";
    int rc = 0;
    rc |= curl_easy_setopt(e, CURLOPT_URL, req->url);
    rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)req->timeout_ms);
    rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, "autoscaler/" AS_VERSION);
    rc |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (req->insecure) {
        rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (req->ca_file)
        rc |= curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file);
    if (strcmp(method, "GET") != 0)
        rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (req->body) {
        c->body_copy = strdup(req->body);
        if (c->body_copy == NULL)
            return -1;
        rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body_copy);
        rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body_copy));
    }
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        struct curl_slist *h = curl_slist_append(c->headers, req->headers[i]);
        if (h == NULL)
            return -1;
        c->headers = h;
    }
    if (req->body) { /* no "Expect: 100-continue" round trip */
        struct curl_slist *h = curl_slist_append(c->headers, "Expect:");
        if (h == NULL)
            return -1;
        c->headers = h;
    }
    rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    return rc == 0 ? 0 : -1;
}

struct as_http_call *as_http_start(struct as_http *http, const struct as_http_req *req,
                                   as_http_cb cb, void *arg)
{
    struct as_http_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->http = http;
    c->cb = cb;
    c->arg = arg;
    c->max_body = req->max_body ? req->max_body : AS_HTTP_BODY_MAX;
    c->started = as_loop_now(http->loop);
    c->easy = curl_easy_init();
    http->active++;
    if (c->easy == NULL || setup(c, req) < 0 ||
        curl_multi_add_handle(http->multi, c->easy) != CURLM_OK) {
        if (c->easy == NULL) {
            http->active--;
            free(c);
            return NULL;
        }
        call_free(c);
        return NULL;
    }
    return c;
}

void as_http_cancel(struct as_http_call *call)
{
    if (call != NULL)
        call_free(call);
}
