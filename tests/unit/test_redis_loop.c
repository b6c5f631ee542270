/* util/redis_loop: hiredis 0.14's asynchronous API on our loop, against a scripted server on
 * 127.0.0.1 (redis_fake.h), and its guards: a reply no command asked for, a reply of too many
 * elements or too many bytes close the connection instead of aborting the daemon (hiredis
 * asserts on an unasked reply). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/async.h>

#include "util/loop.h"
#include "util/redis_loop.h"
#include "util/util.h"

#include "redis_fake.h"

struct t {
    struct as_loop *loop;
    struct fake fake;
    redisAsyncContext *ac;
    int replies, nulls, disconnects, connect_errors;
    int free_in_cb;
    long long last_int;
    char last_str[64];
    char error[128];
};

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct t *t = priv;
    redisReply *r = reply;
    if (r == NULL) {
        t->nulls++;
        snprintf(t->error, sizeof(t->error), "%s", as_redis_error(ac));
        return;
    }
    t->replies++;
    if (r->type == REDIS_REPLY_INTEGER)
        t->last_int = r->integer;
    if (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING)
        snprintf(t->last_str, sizeof(t->last_str), "%s", r->str);
    if (t->free_in_cb) {
        redisAsyncFree(ac);
        t->ac = NULL;
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct t *t = ac->data;
    if (status != REDIS_OK) {
        t->connect_errors++;
        t->ac = NULL; /* hiredis frees it */
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct t *t = ac->data;
    t->disconnects++;
    snprintf(t->error, sizeof(t->error), "%s", as_redis_error(ac));
    t->ac = NULL;
}

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->loop = as_loop_new()) == NULL)
        return -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    if (t->ac)
        redisAsyncFree(t->ac);
    fake_stop(&t->fake);
    as_loop_free(t->loop);
    free(t);
    return 0;
}

static void connect_to(struct t *t, int port)
{
    t->ac = redisAsyncConnect("127.0.0.1", port);
    assert_non_null(t->ac);
    assert_int_equal(t->ac->err, 0);
    assert_int_equal(as_redis_attach(t->loop, t->ac), 0);
    assert_int_equal(as_redis_attach(t->loop, t->ac), -1); /* once */
    t->ac->data = t;
    redisAsyncSetConnectCallback(t->ac, on_connect);
    redisAsyncSetDisconnectCallback(t->ac, on_disconnect);
}

static void run_until(struct t *t, const int *what, int n, int64_t max_ms)
{
    int64_t end = as_mono_ms() + max_ms;
    while (*what < n && as_mono_ms() < end)
        as_loop_once(t->loop, 20);
}

static void ping(struct t *t)
{
    assert_int_equal(redisAsyncCommand(t->ac, on_reply, t, "PING"), REDIS_OK);
}

/* ---- handlers ---- */

static void h_pong(struct fake *f, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fake_replys(f, "+PONG\r\n");
}

static void h_twice(struct fake *f, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fake_replys(f, ":1\r\n:2\r\n");
}

static void h_raw(struct fake *f, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fake_replys(f, f->data);
}

/* ---- tests ---- */

static void test_commands_and_replies(void **state)
{
    struct t *t = *state;
    assert_int_equal(fake_start(&t->fake, t->loop, h_pong), 0);
    connect_to(t, t->fake.port);
    ping(t);
    ping(t);
    run_until(t, &t->replies, 2, 3000);
    assert_int_equal(t->replies, 2);
    assert_string_equal(t->last_str, "PONG");
    /* The connection stays, idle; a third command on it works. */
    as_loop_once(t->loop, 50);
    ping(t);
    run_until(t, &t->replies, 3, 3000);
    assert_int_equal(t->replies, 3);
    assert_int_equal(t->fake.accepts, 1);
    assert_int_equal(t->disconnects, 0);
}

static void test_refused(void **state)
{
    struct t *t = *state;
    int port = closed_port();
    t->ac = redisAsyncConnect("127.0.0.1", port);
    assert_non_null(t->ac);
    if (t->ac->err) { /* refused at once: nothing to attach */
        assert_non_null(strstr(t->ac->errstr, "refused"));
        return;
    }
    assert_int_equal(as_redis_attach(t->loop, t->ac), 0);
    t->ac->data = t;
    redisAsyncSetConnectCallback(t->ac, on_connect);
    ping(t);
    run_until(t, &t->nulls, 1, 3000);
    assert_int_equal(t->nulls, 1);
    assert_int_equal(t->connect_errors, 1);
    assert_non_null(strstr(t->error, "refused"));
}

/* Two replies to one command: hiredis 0.14 would assert on the second. */
static void test_extra_reply_closes(void **state)
{
    struct t *t = *state;
    assert_int_equal(fake_start(&t->fake, t->loop, h_twice), 0);
    connect_to(t, t->fake.port);
    ping(t);
    run_until(t, &t->disconnects, 1, 3000);
    assert_int_equal(t->replies, 1);
    assert_int_equal(t->last_int, 1);
    assert_int_equal(t->disconnects, 1);
    assert_null(t->ac);
}

/* Bytes on an idle connection: closed, not an abort. */
static void test_unasked_reply_on_idle_connection(void **state)
{
    struct t *t = *state;
    assert_int_equal(fake_start(&t->fake, t->loop, h_pong), 0);
    connect_to(t, t->fake.port);
    ping(t);
    run_until(t, &t->replies, 1, 3000);
    assert_int_equal(t->replies, 1);
    for (int i = 0; i < FAKE_CONNS; i++)
        if (t->fake.conns[i].fd >= 0)
            assert_int_equal(send(t->fake.conns[i].fd, ":9\r\n", 4, 0), 4);
    run_until(t, &t->disconnects, 1, 3000);
    assert_int_equal(t->disconnects, 1);
    assert_int_equal(t->replies, 1);
    assert_int_equal(t->nulls, 0);
}

/* An error nobody asked for (a server at maxclients sends one at connect): hiredis closes
 * the connection with its text. */
static void test_unasked_error_keeps_its_text(void **state)
{
    struct t *t = *state;
    assert_int_equal(fake_start(&t->fake, t->loop, h_pong), 0);
    connect_to(t, t->fake.port);
    ping(t);
    run_until(t, &t->replies, 1, 3000);
    for (int i = 0; i < FAKE_CONNS; i++)
        if (t->fake.conns[i].fd >= 0)
            send(t->fake.conns[i].fd, "-ERR max number of clients reached\r\n", 36, 0);
    run_until(t, &t->disconnects, 1, 3000);
    assert_int_equal(t->disconnects, 1);
    assert_non_null(strstr(t->error, "max number of clients"));
}

static void test_too_many_elements(void **state)
{
    struct t *t = *state;
    assert_int_equal(fake_start(&t->fake, t->loop, h_raw), 0);
    t->fake.data = "*2000000\r\n:1\r\n:1\r\n";
    connect_to(t, t->fake.port);
    ping(t);
    run_until(t, &t->nulls, 1, 3000);
    assert_int_equal(t->nulls, 1);
    assert_int_equal(t->replies, 0);
    assert_non_null(strstr(t->error, "more than 1048576 elements"));
}

/* Many small arrays inside one reply count together. */
static void test_too_many_nested_elements(void **state)
{
    struct t *t = *state;
    assert_int_equal(fake_start(&t->fake, t->loop, h_raw), 0);
    t->fake.data = "*3\r\n*600000\r\n*600000\r\n:1\r\n";
    connect_to(t, t->fake.port);
    ping(t);
    run_until(t, &t->nulls, 1, 3000);
    assert_int_equal(t->nulls, 1);
    assert_non_null(strstr(t->error, "more than"));
}

struct writer {
    int fd;
    size_t bytes;
};

static void *write_big(void *arg)
{
    struct writer *w = arg;
    static char chunk[65536];
    memset(chunk, 'x', sizeof(chunk));
    const char *head = "$100000000\r\n";
    send(w->fd, head, strlen(head), MSG_NOSIGNAL);
    while (w->bytes < 64u * 1024 * 1024) {
        ssize_t n = send(w->fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the client closed */
        w->bytes += (size_t)n;
    }
    close(w->fd);
    return NULL;
}

static void test_too_many_bytes(void **state)
{
    struct t *t = *state;
    assert_int_equal(fake_start(&t->fake, t->loop, NULL), 0);
    connect_to(t, t->fake.port);
    ping(t);
    run_until(t, &t->fake.commands, 1, 3000);
    struct writer w = {.fd = -1};
    for (int i = 0; i < FAKE_CONNS; i++)
        if (t->fake.conns[i].fd >= 0)
            w.fd = dup(t->fake.conns[i].fd);
    assert_true(w.fd >= 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, write_big, &w), 0);
    run_until(t, &t->nulls, 1, 10000);
    fake_stop(&t->fake); /* so that the writer's send fails */
    pthread_join(th, NULL);
    assert_int_equal(t->nulls, 1);
    assert_non_null(strstr(t->error, "larger than 16 MiB"));
    assert_true(w.bytes < 64u * 1024 * 1024);
}

static void test_closed_mid_reply(void **state)
{
    struct t *t = *state;
    assert_int_equal(fake_start(&t->fake, t->loop, h_raw), 0);
    t->fake.data = "*2\r\n:1\r\n";
    t->fake.close_after = 1;
    connect_to(t, t->fake.port);
    ping(t);
    run_until(t, &t->nulls, 1, 3000);
    assert_int_equal(t->nulls, 1);
    assert_non_null(strstr(t->error, "closed"));
}

static void test_free_inside_callback(void **state)
{
    struct t *t = *state;
    assert_int_equal(fake_start(&t->fake, t->loop, h_pong), 0);
    connect_to(t, t->fake.port);
    t->free_in_cb = 1;
    ping(t);
    ping(t); /* gets a NULL reply when the first one's callback frees the context */
    run_until(t, &t->replies, 1, 3000);
    assert_int_equal(t->replies, 1);
    assert_int_equal(t->nulls, 1);
    assert_null(t->ac);
    /* The server sees the connection close. */
    int64_t end = as_mono_ms() + 3000;
    while (fake_open(&t->fake) > 0 && as_mono_ms() < end)
        as_loop_once(t->loop, 20);
    assert_int_equal(fake_open(&t->fake), 0);
}

static void test_free_before_connected(void **state)
{
    struct t *t = *state;
    assert_int_equal(fake_start(&t->fake, t->loop, h_pong), 0);
    connect_to(t, t->fake.port);
    ping(t);
    redisAsyncFree(t->ac);
    t->ac = NULL;
    assert_int_equal(t->nulls, 1);
    as_loop_once(t->loop, 20);
}

/* The same limits on a reader without a connection (for fuzzing). */
static void test_reader(void **state)
{
    (void)state;
    redisReader *r = as_redis_reader_new();
    assert_non_null(r);
    const char *ok = ":1\r\n*2\r\n$1\r\na\r\n:2\r\n";
    assert_int_equal(redisReaderFeed(r, ok, strlen(ok)), REDIS_OK);
    void *reply;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
        assert_non_null(reply);
        freeReplyObject(reply);
    }
    const char *big = "*1048577\r\n";
    assert_int_equal(redisReaderFeed(r, big, strlen(big)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_ERR);
    assert_string_equal(as_redis_reader_error(r), "a reply of more than 1048576 elements");
    as_redis_reader_free(r);
    as_redis_reader_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commands_and_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extra_reply_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unasked_reply_on_idle_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unasked_error_keeps_its_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_elements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_nested_elements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_mid_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_inside_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_before_connected, setup, teardown),
        cmocka_unit_test(test_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
