/* util/http_plain through the HTTP client (util/http.c) against a scripted server on
 * 127.0.0.1 (script_server.h): which calls go without libcurl and which with it (told apart by
 * the request's head: curl asks for an Accept-Encoding, the plain client does not), a kept
 * connection, a name's address learned from curl, an answer the plain client does not read
 * sending its origin to curl, a refused connection's error, the header asked for, the proxy
 * rule and the switch; a connection the server closed taken after the open ones. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/http.h"
#include "util/loop.h"
#include "util/util.h"

#include "script_server.h"

struct got {
    int done, ok, code;
    long status;
    size_t header_count;
    char body[256], error[256], header[64], head[2048];
};

static void on_got(const struct as_http_resp *r, void *arg)
{
    struct got *g = arg;
    g->done = 1;
    g->ok = r->ok;
    g->code = r->curl_code;
    g->status = r->status;
    g->header_count = r->header_count;
    snprintf(g->body, sizeof(g->body), "%s", r->body);
    snprintf(g->error, sizeof(g->error), "%s", r->error ? r->error : "");
    snprintf(g->header, sizeof(g->header), "%s", r->header ? r->header : "");
}

/* One call to url with headers (NULL-terminated, may be NULL); its answer and the head the
 * server saw. */
static struct got call(struct as_loop *loop, struct as_http *http, const char *url,
                       const char *const *headers, const char *method)
{
    struct got g = {0};
    struct as_http_req req = {.url = url,
                              .method = method,
                              .headers = headers,
                              .timeout_ms = 3000,
                              .header = "Retry-After"};
    assert_non_null(as_http_start(http, &req, on_got, &g));
    int64_t end = as_mono_ms() + 5000;
    while (!g.done && as_mono_ms() < end)
        as_loop_once(loop, 10);
    assert_int_equal(g.done, 1);
    sv_last(g.head, sizeof(g.head));
    return g;
}

static int by_curl(const struct got *g)
{
    return strstr(g->head, "Accept-Encoding:") != NULL;
}

static const char OK[] = "HTTP/1.1 200 OK\r\nRetry-After: 3\r\nContent-Length: 7\r\n\r\n{\"v\":1}";

/* Plain GETs on one kept connection; the caller's headers sent, its Accept instead of ours. */
static void test_plain_keeps_a_connection(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/status?x=1#frag", sv.port);
    script(OK, 0, 0);
    const char *hdrs[] = {"Authorization: Bearer t0k", "Accept: application/json", NULL};
    for (int i = 0; i < 3; i++) {
        struct got g = call(loop, http, url, hdrs, NULL);
        assert_true(g.ok);
        assert_int_equal(g.status, 200);
        assert_string_equal(g.body, "{\"v\":1}");
        assert_string_equal(g.header, "3");
        assert_int_equal(g.header_count, 1);
        assert_false(by_curl(&g));
        char want[256];
        snprintf(
            want, sizeof(want),
            "GET /status?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: autoscaler/" AS_VERSION
            "\r\nAuthorization: Bearer t0k\r\nAccept: application/json\r\n\r\n",
            sv.port);
        assert_string_equal(g.head, want);
    }
    assert_int_equal(sv_get(&sv.conns), 1);
    /* a POST, a header the client owns, a URL curl would rewrite: curl's */
    const char *conn[] = {"Connection: close", NULL};
    struct got g = call(loop, http, url, conn, NULL);
    assert_true(g.ok && by_curl(&g));
    g = call(loop, http, url, NULL, "DELETE");
    assert_true(g.ok && by_curl(&g));
    /* a header with a blank value or a control byte: not the plain client's to send */
    const char *blank[] = {"X-Blank: \t ", NULL}, *ctl[] = {"X-Ctl: a\x01b", NULL};
    g = call(loop, http, url, blank, NULL);
    assert_true(g.ok && by_curl(&g)); /* (curl drops a header without a value) */
    g = call(loop, http, url, ctl, NULL);
    assert_true(g.ok && by_curl(&g) && strstr(g.head, "X-Ctl: a\x01b") != NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/a/../status", sv.port);
    g = call(loop, http, url, NULL, NULL);
    assert_true(g.ok && by_curl(&g));
    assert_non_null(strstr(g.head, "GET /status HTTP/1.1"));
    /* switched off: curl's */
    as_http_set_plain(http, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/status", sv.port);
    g = call(loop, http, url, NULL, NULL);
    assert_true(g.ok && by_curl(&g));
    as_http_free(http);
    as_loop_free(loop);
}

/* Two kept connections; an answer that closes one puts it behind the other, which the next
 * request takes (no new connection while an open one waits). */
static void test_closed_connection_goes_last(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/status", sv.port);
    script(OK, 0, 0);
    struct got a = {0}, b = {0};
    struct as_http_req req = {.url = url, .timeout_ms = 3000};
    assert_non_null(as_http_start(http, &req, on_got, &a));
    assert_non_null(as_http_start(http, &req, on_got, &b));
    int64_t end = as_mono_ms() + 5000;
    while (!(a.done && b.done) && as_mono_ms() < end)
        as_loop_once(loop, 10);
    assert_true(a.ok && b.ok);
    assert_int_equal(sv_get(&sv.conns), 2);
    script("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", 1, 0);
    struct got g = call(loop, http, url, NULL, NULL);
    assert_true(g.ok && !by_curl(&g));
    script(OK, 0, 0);
    g = call(loop, http, url, NULL, NULL);
    assert_true(g.ok && !by_curl(&g));
    assert_int_equal(sv_get(&sv.conns), 0); /* the other kept connection, not a new one */
    as_http_free(http);
    as_loop_free(loop);
}

/* A name: the first call through curl, which finds the address; then plain. */
static void test_name_learned_from_curl(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    char url[128];
    snprintf(url, sizeof(url), "http://localhost:%d/s", sv.port);
    script(OK, 0, 0);
    struct got g = call(loop, http, url, NULL, NULL);
    assert_true(g.ok && by_curl(&g));
    g = call(loop, http, url, NULL, NULL);
    assert_true(g.ok);
    assert_false(by_curl(&g));
    char host[64];
    snprintf(host, sizeof(host), "Host: localhost:%d\r\n", sv.port);
    assert_non_null(strstr(g.head, host));
    as_http_free(http);
    as_loop_free(loop);
}

/* An answer the plain client does not read fails that call; the origin goes to curl. */
static void test_unsupported_answer_goes_to_curl(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/s", sv.port);
    script("HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 2\r\n\r\nok", 0, 0);
    struct got g = call(loop, http, url, NULL, NULL);
    assert_false(g.ok);
    assert_false(by_curl(&g));
    assert_non_null(strstr(g.error, "libcurl"));
    for (int i = 0; i < 2; i++) {
        g = call(loop, http, url, NULL, NULL);
        assert_true(g.ok && by_curl(&g));
        assert_string_equal(g.body, "ok");
    }
    as_http_free(http);
    as_loop_free(loop);
}

/* Failures read as curl's: a refused connection, a malformed answer, a body over the limit. */
static void test_failures(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, len), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd); /* nobody listens there */
    char url[128], want[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/s", ntohs(sin.sin_port));
    struct got g = call(loop, http, url, NULL, NULL);
    assert_false(g.ok);
    assert_int_equal(g.code, 7); /* CURLE_COULDNT_CONNECT */
    snprintf(want, sizeof(want), "Failed to connect to 127.0.0.1 port %d after ",
             ntohs(sin.sin_port));
    assert_non_null(strstr(g.error, want));
    assert_non_null(strstr(g.error, "Connection refused"));

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/s", sv.port);
    script("HTTP/1.1 abc\r\n\r\n", 0, 0);
    g = call(loop, http, url, NULL, NULL);
    assert_false(g.ok);
    assert_int_equal(g.code, 8); /* CURLE_WEIRD_SERVER_REPLY */
    assert_string_equal(g.error, "malformed response: malformed status line");

    script("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 1, 0);
    g = call(loop, http, url, NULL, NULL);
    assert_false(g.ok);
    assert_int_equal(g.code, 18); /* CURLE_PARTIAL_FILE */
    assert_int_equal(as_http_active(http), 0);
    as_http_free(http);
    as_loop_free(loop);
}

/* With a proxy in the environment every call is curl's, through the proxy. */
static void test_proxy_means_curl(void **state)
{
    (void)state;
    char proxy[64], url[64];
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", sv.port);
    setenv("http_proxy", proxy, 1);
    struct as_loop *loop = as_loop_new();
    struct as_http *http = as_http_new(loop);
    script(OK, 0, 0);
    snprintf(url, sizeof(url), "http://127.0.0.2:%d/s", sv.port);
    struct got g = call(loop, http, url, NULL, NULL);
    assert_true(g.ok && by_curl(&g));
    char want[96];
    snprintf(want, sizeof(want), "GET %s HTTP/1.1", url); /* the absolute form: to a proxy */
    assert_non_null(strstr(g.head, want));
    unsetenv("http_proxy");
    as_http_free(http);
    as_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_keeps_a_connection),
        cmocka_unit_test(test_closed_connection_goes_last),
        cmocka_unit_test(test_name_learned_from_curl),
        cmocka_unit_test(test_unsupported_answer_goes_to_curl),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_proxy_means_curl),
    };
    return cmocka_run_group_tests(tests, sv_start, sv_stop);
}
