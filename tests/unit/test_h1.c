/* util/http1 (the response reader) and util/h1: numeric URLs, request formatting,
 * and a connection against a scripted server on 127.0.0.1 (keep-alive, chunked and
 * close-delimited bodies, an idle connection the server closed, 1xx, garbage, a refused
 * connection, a timeout, cancellation). */
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

#include "util/h1.h"
#include "util/http1.h"
#include "util/loop.h"
#include "util/util.h"

static int refuse(const char *data, size_t n, void *arg)
{
    (void)data;
    (void)n;
    (void)arg;
    return -1;
}

struct parsed {
    enum as_http1_result r;
    struct as_sb body;
    size_t used; /* bytes of the input the response took */
};

static int take_body(const char *data, size_t n, void *arg)
{
    return as_sb_append(arg, data, n);
}

/* Feeds text (len bytes) to a fresh reader in pieces of `step` bytes, as reads would bring
 * it, then the connection's end when eof. */
static void parse(struct as_http1 *p, const char *text, size_t len, size_t step, int eof,
                  struct parsed *out)
{
    memset(out, 0, sizeof(*out));
    as_http1_init(p, "Retry-After");
    size_t at = 0;
    out->r = AS_HTTP1_MORE;
    while (at < len && out->r == AS_HTTP1_MORE) {
        size_t n = len - at < step ? len - at : step, used = 0;
        out->r = as_http1_feed(p, text + at, n, &used, take_body, &out->body);
        at += out->r == AS_HTTP1_DONE ? used : n;
    }
    if (out->r == AS_HTTP1_MORE && eof)
        out->r = as_http1_eof(p);
    out->used = at;
}

/* Responses read in pieces of every size: the outcome, status, body, whether the connection
 * may carry the next request, the error, and the header asked for. */
static void test_reader(void **state)
{
    (void)state;
    enum { M = AS_HTTP1_MORE, D = AS_HTTP1_DONE, E = AS_HTTP1_ERROR, U = AS_HTTP1_UNSUPPORTED };
    struct {
        const char *text;
        int eof; /* the connection ends after text */
        int r, status;
        const char *body; /* for D; the text's tail after the response follows `extra` */
        size_t extra;
        int keep;
        const char *why; /* for E and U */
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, D, 200, "hello", 0, 1, NULL},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1", 0, D, 200, "hello", 8, 1,
         NULL},
        {"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", 0, D, 200, "hi", 0, 1, NULL}, /* bare LF */
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0, D, 200,
         "hello", 0, 1, NULL},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nA;name=val\r\n0123456789\r\n"
         "3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n",
         0, D, 200, "0123456789abc", 0, 1, NULL},
        {"HTTP/1.1 204 No Content\r\n\r\n", 0, D, 204, "", 0, 1, NULL},
        {"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n", 0, D, 304, "", 0, 0, NULL},
        {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\n"
         "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz",
         0, D, 200, "z", 0, 1, NULL},
        {"HTTP/1.1 200 OK\r\n\r\nto the end", 1, D, 200, "to the end", 0, 0, NULL},
        {"HTTP/1.1 200 OK\r\n\r\nto the end", 0, M, 0, NULL, 0, 0, NULL},
        {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0, D, 200, "", 0, 0, NULL},
        {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n", 0, D, 200, "", 0,
         1, NULL},
        {"HTTP/1.1 503\r\ncontent-length:  2 \r\nCONNECTION: foo, close\r\n\r\nno", 0, D, 503, "no",
         0, 0, NULL},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 0, D, 200,
         "hello", 0, 1, NULL},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", 0, M, 0, NULL, 0, 0, NULL},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", 1, E, 0, NULL, 0, 0,
         "closed before the response ended"},
        {"", 1, E, 0, NULL, 0, 0, "empty reply"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 0, E, 0, NULL, 0, 0,
         "conflicting Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, E, 0, NULL, 0, 0,
         "malformed Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n", 0, E, 0, NULL, 0, 0,
         "malformed Content-Length"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 0, E, 0,
         NULL, 0, 0, "both Content-Length and chunked"},
        {"HTTP/2 200\r\n\r\n", 0, E, 0, NULL, 0, 0, "not an HTTP/1 response"},
        {"HTTP/1.1 2000 OK\r\n\r\n", 0, E, 0, NULL, 0, 0, "malformed status line"},
        {"HTTP/1.1 099 Low\r\n\r\n", 0, E, 0, NULL, 0, 0, "malformed status line"},
        {"HTTP/1.1 200 O\x01K\r\n\r\n", 0, E, 0, NULL, 0, 0, "malformed status line"},
        {"HTTP/1.1 200 A reason of words\x7f\r\n\r\n", 0, E, 0, NULL, 0, 0,
         "malformed status line"},
        {"HTTP/1.1 101 Switching\r\n\r\n", 0, E, 0, NULL, 0, 0, "protocol switch"},
        {"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", 0, E, 0, NULL, 0, 0, "malformed header"},
        {"HTTP/1.1 200 OK\r\nName : x\r\n\r\n", 0, E, 0, NULL, 0, 0, "malformed header"},
        {"HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n", 0, E, 0, NULL, 0, 0, "malformed header"},
        /* values read 8 bytes at a time: a control byte or DEL anywhere in a long one */
        {"HTTP/1.1 200 OK\r\nX: abcdefghij\x1fklmnopqrstuvwxyz\r\n\r\n", 0, E, 0, NULL, 0, 0,
         "malformed header"},
        {"HTTP/1.1 200 OK\r\nX: abcdefgh\x7fijklmnopqrst\r\n\r\n", 0, E, 0, NULL, 0, 0,
         "malformed header"},
        {"HTTP/1.1 200 OK\r\nX: abcdefghijk\x0blmnopqrstuvwxyz\r\n\r\n", 0, E, 0, NULL, 0, 0,
         "malformed header"},
        {"HTTP/1.1 200 OK\r\nX: a\tb caf\xc3\xa9 \x80\xff ~ tab\there and there\r\n"
         "Content-Length: 1\r\n\r\nz",
         0, D, 200, "z", 0, 1, NULL},
        {"\x7f\xff garbage\r\n\r\n", 0, E, 0, NULL, 0, 0, "not an HTTP/1 response"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n", 0, E, 0, NULL, 0,
         0, "malformed chunk end"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nG\r\n", 0, E, 0, NULL, 0, 0,
         "malformed chunk size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 0, E, 0, NULL, 0, 0,
         "malformed chunk size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1234567890123456\r\n", 0, E, 0, NULL,
         0, 0, "malformed chunk size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 1, E, 0, NULL, 0, 0,
         "closed before the response ended"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, U, 0, NULL, 0, 0,
         "transfer coding"},
        {"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n", 0, U, 0, NULL, 0, 0,
         "Content-Encoding"},
        {"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n", 0, U, 0, NULL, 0, 0, "folded"},
    };
    struct as_http1 p = {0};
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++)
        for (size_t step = 1; step <= 256; step *= 4) {
            struct parsed out;
            size_t len = strlen(cases[i].text);
            parse(&p, cases[i].text, len, step, cases[i].eof, &out);
            int ok = (int)out.r == cases[i].r;
            if (ok && (int)out.r == D)
                ok = p.status == cases[i].status && p.keep_alive == cases[i].keep &&
                     out.used == len - cases[i].extra &&
                     strcmp(out.body.buf ? out.body.buf : "", cases[i].body) == 0;
            if (ok && ((int)out.r == E || (int)out.r == U))
                ok = strstr(p.error, cases[i].why) != NULL;
            if (!ok)
                fail_msg("case %zu step %zu: r=%d status=%d keep=%d used=%zu body='%s' error='%s'",
                         i, step, out.r, p.status, p.keep_alive, out.used,
                         out.body.buf ? out.body.buf : "", p.error ? p.error : "");
            as_sb_free(&out.body);
        }
    as_http1_free(&p);
}

/* The header asked for: its value once, its count when repeated; the bounds of a head; a
 * body callback that refuses. */
/* RFC 9110's tchar, byte by byte, against its grammar written out. */
static void test_tchar(void **state)
{
    (void)state;
    const char *extra = "!#$%&'*+-.^_`|~";
    for (int c = -1; c < 256; c++) {
        int want = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c > 0 && c < 128 && strchr(extra, c) != NULL);
        if (as_http1_tchar(c) != want)
            fail_msg("byte %d: want %d", c, want);
    }
}

static void test_reader_bounds(void **state)
{
    (void)state;
    struct as_http1 p = {0};
    struct parsed out;
    const char *one = "HTTP/1.1 429 Too Many\r\nretry-after:  7 \r\nContent-Length: 0\r\n\r\n";
    parse(&p, one, strlen(one), 3, 0, &out);
    assert_int_equal(out.r, AS_HTTP1_DONE);
    assert_int_equal(p.want_count, 1);
    assert_string_equal(p.want_value, "7");
    const char *two =
        "HTTP/1.1 429 X\r\nRetry-After: 7\r\nRetry-After: 9\r\nContent-Length: 0\r\n\r\n";
    parse(&p, two, strlen(two), 300, 0, &out);
    assert_int_equal(out.r, AS_HTTP1_DONE);
    assert_int_equal(p.want_count, 2);

    /* a header line too long, headers too many: errors, however the bytes come */
    size_t big = AS_HTTP1_HEAD_MAX + 100;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memcpy(text, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(text + 20, 'a', big - 20);
    text[big] = '\0';
    parse(&p, text, big, 1000, 0, &out);
    assert_int_equal(out.r, AS_HTTP1_ERROR);
    assert_non_null(strstr(p.error, "line too long"));
    size_t at = 17;
    while (at + 12 < big) { /* short lines, many of them */
        memcpy(text + at, "X-A: 12345\r\n", 12);
        at += 12;
    }
    parse(&p, text, at, 4096, 0, &out);
    assert_int_equal(out.r, AS_HTTP1_ERROR);
    assert_string_equal(p.error, "response headers too large");
    free(text);

    /* a body the callback refuses */
    const char *body = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    as_http1_init(&p, NULL);
    size_t used;
    assert_int_equal(as_http1_feed(&p, body, strlen(body), &used, refuse, NULL), AS_HTTP1_ERROR);
    assert_string_equal(p.error, "body refused");
    as_http1_free(&p);
}

static void test_numeric_url_and_format(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    socklen_t len;
    const char *path;
    assert_int_equal(as_h1_numeric_url("http://127.0.0.1:8080/base", &ss, &len, &path), 0);
    assert_string_equal(path, "/base");
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
    assert_int_equal(as_h1_numeric_url("http://10.0.0.1", &ss, &len, &path), 0);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 80);
    assert_string_equal(path, "");
    assert_int_equal(as_h1_numeric_url("http://[::1]:81/x", &ss, &len, &path), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    const char *bad[] = {"https://127.0.0.1/",     "http://localhost:80/", "http://127.0.0.1:0/",
                         "http://127.0.0.1:99999", "http://u@127.0.0.1/",  "http://[::1/",
                         "http://127.0.0.1:/",     "http://[::1]x/",       "http://127.1.1/"};
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
        if (as_h1_numeric_url(bad[i], &ss, &len, &path) == 0)
            fail_msg("%s taken", bad[i]);
    const char *hdrs[] = {"X-A: 1", NULL};
    char buf[512];
    size_t n = as_h1_format_request(NULL, 0, "POST", "h:1", 3, "/p?q=1", hdrs, "body");
    assert_int_equal(
        as_h1_format_request(buf, sizeof(buf), "POST", "h:1", 3, "/p?q=1", hdrs, "body"), n);
    buf[n] = '\0';
    assert_string_equal(buf,
                        "POST /p?q=1 HTTP/1.1\r\nHost: h:1\r\nUser-Agent: autoscaler/" AS_VERSION
                        "\r\nAccept: */*\r\nX-A: 1\r\nContent-Length: 4\r\n\r\nbody");
    const char *host[] = {"host: other", NULL};
    n = as_h1_format_request(buf, sizeof(buf), "GET", "h:1", 3, "/", host, NULL);
    buf[n] = '\0';
    assert_null(strstr(buf, "Host: h:1"));
    assert_non_null(strstr(buf, "host: other\r\n\r\n"));
}

#include "script_server.h"

struct got {
    int done;
    struct as_h1_resp r;
    char error[128];
};

static void on_resp(const struct as_h1_resp *r, void *arg)
{
    struct got *g = arg;
    g->done++;
    g->r = *r;
    snprintf(g->error, sizeof(g->error), "%s", r->error ? r->error : "");
}

static const char GET[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/* One request on c; its answer. */
static struct got one(struct as_loop *loop, struct as_h1 *c, int64_t timeout_ms)
{
    struct got g = {0};
    assert_int_equal(as_h1_send(c, GET, sizeof(GET) - 1, timeout_ms, on_resp, &g), 0);
    assert_int_equal(g.done, 0); /* never from within as_h1_send */
    int64_t end = as_mono_ms() + 5000;
    while (!g.done && as_mono_ms() < end)
        as_loop_once(loop, 10);
    assert_int_equal(g.done, 1);
    return g;
}

static struct as_h1 *conn_to(struct as_loop *loop, int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct as_h1 *c = as_h1_new(loop, (struct sockaddr *)&sin, sizeof(sin));
    assert_non_null(c);
    return c;
}

static void test_connection(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    struct as_h1 *c = conn_to(loop, sv.port);
    struct {
        const char *reply;
        int close_after, n, ok, conns;
        long status;
        const char *error;
    } cases[] = {
        /* keep-alive: three requests, one connection */
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, 3, 1, 1, 200, ""},
        {"HTTP/1.1 404 No\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n", 0, 3,
         1, 1, 404, ""},
        {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 0, 2, 1,
         1, 201, ""},
        /* the body ends with the connection: a new one each time */
        {"HTTP/1.0 200 OK\r\n\r\nall of it", 1, 2, 1, 2, 200, ""},
        /* the server drops idle connections without saying so: sent again on a new one */
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1, 3, 1, 3, 200, ""},
        {"\x01garbage\r\n\r\n", 0, 2, 0, 2, 0, "not an HTTP/1 response"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 1, 1, 0, 1, 0,
         "the connection closed before the response ended"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        script(cases[i].reply, cases[i].close_after, 0);
        as_h1_cancel(c); /* a fresh connection for each case */
        for (int k = 0; k < cases[i].n; k++) {
            struct got g = one(loop, c, 2000);
            if (g.r.ok != cases[i].ok || g.r.status != cases[i].status ||
                strstr(g.error, cases[i].error) == NULL || g.r.elapsed_us <= 0)
                fail_msg("case %zu request %d: ok=%d status=%ld error='%s'", i, k, g.r.ok,
                         g.r.status, g.error);
        }
        int64_t end = as_mono_ms() + 1000; /* the server counts a connection when it accepts */
        while (sv_get(&sv.conns) < cases[i].conns && as_mono_ms() < end)
            usleep(5000);
        if (sv_get(&sv.conns) != cases[i].conns)
            fail_msg("case %zu: %d connections, want %d", i, sv_get(&sv.conns), cases[i].conns);
    }
    /* no answer: the deadline */
    script("", 0, 1);
    int64_t t0 = as_mono_ms();
    struct got g = one(loop, c, 150);
    assert_true(!g.r.ok && g.r.timed_out);
    assert_true(as_mono_ms() - t0 >= 140);
    /* cancelled: no callback; the connection works again */
    struct got g2 = {0};
    assert_int_equal(as_h1_send(c, GET, sizeof(GET) - 1, 1000, on_resp, &g2), 0);
    assert_int_equal(as_h1_send(c, GET, sizeof(GET) - 1, 1000, on_resp, &g2), -1); /* busy */
    as_h1_cancel(c);
    for (int k = 0; k < 20; k++)
        as_loop_once(loop, 10);
    assert_int_equal(g2.done, 0);
    script("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 0);
    assert_true(one(loop, c, 1000).r.ok);
    as_h1_free(c);
    /* refused: reported from the loop */
    int port;
    {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET};
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(sin);
        bind(fd, (struct sockaddr *)&sin, len);
        getsockname(fd, (struct sockaddr *)&sin, &len);
        port = ntohs(sin.sin_port);
        close(fd);
    }
    c = conn_to(loop, port);
    g = one(loop, c, 1000);
    assert_false(g.r.ok);
    assert_non_null(strstr(g.error, "refused"));
    as_h1_free(c);
    as_h1_free(NULL);
    as_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader),        cmocka_unit_test(test_tchar),
        cmocka_unit_test(test_reader_bounds), cmocka_unit_test(test_numeric_url_and_format),
        cmocka_unit_test(test_connection),
    };
    return cmocka_run_group_tests(tests, sv_start, sv_stop);
}
