/* sources/redis: its URL, what its replies mean (replies built by hiredis' own reader from raw
 * RESP), its options, and the source itself on a real loop against a scripted server on
 * 127.0.0.1 (redis_fake.h): pipelined AUTH/SELECT, key_type auto, one connection kept between
 * rounds, and every failure (error replies, wrong types, timeouts, a server that closes or
 * answers twice) a failed measurement followed by a new connection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "config/cfg.h"
#include "config/opt.h"
#include "core/plugin.h"
#include "sources/redis_proto.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/util.h"

#include "redis_fake.h"

extern const struct as_source_ops as_source_redis;
static const struct as_source_ops *ops = &as_source_redis;

/* ---- the URL ---- */

static void url_ok(const char *url, const char *host, int port, int db, const char *user,
                   const char *pass)
{
    struct as_redis_url u;
    struct as_err err;
    as_err_clear(&err);
    if (as_redis_url_parse(url, &u, &err) < 0)
        fail_msg("%s: %s", url, err.msg);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_int_equal(u.db, db);
    if (user)
        assert_string_equal(u.username, user);
    else
        assert_null(u.username);
    if (pass)
        assert_string_equal(u.password, pass);
    else
        assert_null(u.password);
    assert_int_equal(u.tls, 0);
    as_redis_url_free(&u);
}

static void url_bad(const char *url, const char *msg)
{
    struct as_redis_url u;
    struct as_err err;
    as_err_clear(&err);
    if (as_redis_url_parse(url, &u, &err) == 0)
        fail_msg("%s: accepted", url);
    if (strstr(err.msg, msg) == NULL)
        fail_msg("%s: '%s' lacks '%s'", url, err.msg, msg);
    assert_null(strstr(err.msg, "s3cret")); /* never quotes the URL */
    as_redis_url_free(&u);
}

static void test_url(void **state)
{
    (void)state;
    url_ok("redis://127.0.0.1", "127.0.0.1", 6379, 0, NULL, NULL);
    url_ok("redis://localhost:6380/", "localhost", 6380, 0, NULL, NULL);
    url_ok("redis://redis.internal:1/15", "redis.internal", 1, 15, NULL, NULL);
    url_ok("REDIS://h_1-a.b:65535/2147483647", "h_1-a.b", 65535, 2147483647, NULL, NULL);
    url_ok("redis://[::1]:7000/3", "::1", 7000, 3, NULL, NULL);
    url_ok("redis://[::ffff:127.0.0.1]", "::ffff:127.0.0.1", 6379, 0, NULL, NULL);
    url_ok("redis://:s3cret@h", "h", 6379, 0, NULL, "s3cret");
    url_ok("redis://:@h", "h", 6379, 0, NULL, NULL);
    url_ok("redis://app:s3cret@h:1/2", "h", 1, 2, "app", "s3cret");
    /* A password by reference may hold '@', '/', ':' as is; or percent-encoded. */
    url_ok("redis://:p@ss/w:rd@h/1", "h", 6379, 1, NULL, "p@ss/w:rd");
    url_ok("redis://:p%40ss%2Fw%3Ard%25@h", "h", 6379, 0, NULL, "p@ss/w:rd%");
    url_ok("redis://us%65r:x@h", "h", 6379, 0, "user", "x");

    url_bad("http://h", "must start with redis://");
    url_bad("redis:/h", "must start with redis://");
    url_bad("", "must start with redis://");
    url_bad("redis://", "needs a host");
    url_bad("redis://:s3cret@", "needs a host");
    url_bad("redis://:s3cret@:6379", "needs a host");
    url_bad("redis://h:0", "port");
    url_bad("redis://h:65536", "port");
    url_bad("redis://h:", "port");
    url_bad("redis://h:s3cret", "port");
    url_bad("redis://h:-1", "port");
    url_bad("redis://h/x", "database");
    url_bad("redis://h/1/", "database");
    url_bad("redis://h/-1", "database");
    url_bad("redis://h/2147483648", "database");
    url_bad("redis://h?db=1", "query");
    url_bad("redis://h#x", "fragment");
    url_bad("redis://h o", "host name");
    url_bad("redis://[::1", "closing ']'");
    url_bad("redis://[::1]x", "only ':PORT'");
    url_bad("redis://[zz]", "IPv6");
    url_ok("redis://app@h", "h", 6379, 0, "app", NULL);
    url_bad("redis://:s3cret%2@h", "two hex digits");
    url_bad("redis://:s3cret%zz@h", "two hex digits");
    url_bad("redis://:s3cret%00@h", "NUL");

    struct as_redis_url u;
    struct as_err err;
    assert_int_equal(as_redis_url_parse("rediss://:s3cret@h:6380/1", &u, &err), 0);
    assert_int_equal(u.tls, 1);
    assert_string_equal(u.password, "s3cret");
    as_redis_url_free(&u);
    as_redis_url_free(NULL);
}

/* ---- replies ---- */

/* The reply hiredis' reader makes of resp; NULL if it is incomplete or malformed. */
static redisReply *reply_of(const char *resp)
{
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    assert_int_equal(redisReaderFeed(r, resp, strlen(resp)), REDIS_OK);
    if (redisReaderGetReply(r, &reply) != REDIS_OK)
        reply = NULL;
    redisReaderFree(r);
    return reply;
}

static void count_is(const char *resp, long long want)
{
    redisReply *r = reply_of(resp);
    long long n = -1;
    char why[200] = "";
    if (as_redis_reply_count(r, &n, why, sizeof(why)) < 0)
        fail_msg("%s: %s", resp, why);
    assert_int_equal(n, want);
    freeReplyObject(r);
}

static void count_fails(const char *resp, const char *msg)
{
    redisReply *r = reply_of(resp);
    long long n;
    char why[200] = "";
    assert_int_equal(as_redis_reply_count(r, &n, why, sizeof(why)), -1);
    if (strstr(why, msg) == NULL)
        fail_msg("%s: '%s' lacks '%s'", resp, why, msg);
    freeReplyObject(r);
}

static void test_reply_count(void **state)
{
    (void)state;
    count_is(":0\r\n", 0);
    count_is(":42\r\n", 42);
    count_is(":9223372036854775807\r\n", 9223372036854775807LL);
    count_fails(":-2\r\n", "replied -2, a negative count");
    count_fails("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
                "WRONGTYPE Operation against a key holding the wrong kind of value");
    count_fails("$2\r\n42\r\n", "replied a string (\"42\"), not an integer");
    count_fails("$-1\r\n", "replied nil, not an integer");
    count_fails("*-1\r\n", "replied nil");
    count_fails("+OK\r\n", "replied a status (OK), not an integer");
    count_fails("*2\r\n:1\r\n:2\r\n", "replied an array of 2 elements");
    count_fails("$3\r\na\x01\x02\r\n", "a string (\"a..\")");
    char why[200];
    long long n;
    assert_int_equal(as_redis_reply_count(NULL, &n, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "no reply"));
    /* A long string is cut in the message. */
    char big[300] = "$200\r\n";
    memset(big + 6, 'a', 200);
    strcpy(big + 206, "\r\n");
    redisReply *r = reply_of(big);
    assert_int_equal(as_redis_reply_count(r, &n, why, sizeof(why)), -1);
    assert_true(strlen(why) < 120);
    assert_non_null(strstr(why, "...)"));
    freeReplyObject(r);
}

static void test_reply_type_and_ok(void **state)
{
    (void)state;
    static const struct {
        const char *resp;
        enum as_redis_kind kind;
    } cases[] = {{"+list\r\n", AS_REDIS_LIST},     {"+zset\r\n", AS_REDIS_ZSET},
                 {"+set\r\n", AS_REDIS_SET},       {"+hash\r\n", AS_REDIS_HASH},
                 {"+stream\r\n", AS_REDIS_STREAM}, {"+none\r\n", AS_REDIS_NONE}};
    char why[200];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        redisReply *r = reply_of(cases[i].resp);
        enum as_redis_kind k = AS_REDIS_AUTO;
        assert_int_equal(as_redis_reply_type(r, &k, why, sizeof(why)), 0);
        assert_int_equal(k, cases[i].kind);
        freeReplyObject(r);
    }
    enum as_redis_kind k;
    redisReply *r = reply_of("+string\r\n");
    assert_int_equal(as_redis_reply_type(r, &k, why, sizeof(why)), -1);
    assert_string_equal(why, "holds a string, which has no length the source counts");
    freeReplyObject(r);
    r = reply_of("+lists\r\n");
    assert_int_equal(as_redis_reply_type(r, &k, why, sizeof(why)), -1);
    freeReplyObject(r);
    r = reply_of(":1\r\n");
    assert_int_equal(as_redis_reply_type(r, &k, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "not a type name"));
    freeReplyObject(r);

    r = reply_of("+OK\r\n");
    assert_int_equal(as_redis_reply_ok(r, why, sizeof(why)), 0);
    freeReplyObject(r);
    r = reply_of("-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    assert_int_equal(as_redis_reply_ok(r, why, sizeof(why)), -1);
    assert_string_equal(why, "WRONGPASS invalid username-password pair or user is disabled.");
    freeReplyObject(r);
    r = reply_of("$2\r\nOK\r\n"); /* a string is not a status */
    assert_int_equal(as_redis_reply_ok(r, why, sizeof(why)), -1);
    freeReplyObject(r);

    assert_string_equal(as_redis_kind_command(AS_REDIS_LIST), "LLEN");
    assert_string_equal(as_redis_kind_command(AS_REDIS_STREAM), "XLEN");
    assert_null(as_redis_kind_command(AS_REDIS_AUTO));
}

/* XINFO GROUPS as Redis 7.0 sends it (and Redis 6, without entries-read and lag). */
#define GROUP7(name, pending, lag)                                                                 \
    "*12\r\n$4\r\nname\r\n$" name "\r\n$9\r\nconsumers\r\n:2\r\n$7\r\npending\r\n" pending         \
    "$17\r\nlast-delivered-id\r\n$3\r\n1-0\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n" lag

static void xinfo(const char *resp, const char *group, int rc, long long pending, long long lag,
                  int has_lag, const char *msg)
{
    redisReply *r = reply_of(resp);
    struct as_redis_group_info g = {0};
    char why[200] = "";
    assert_int_equal(as_redis_xinfo_group(r, group, &g, why, sizeof(why)), rc);
    if (rc == 0) {
        assert_int_equal(g.pending, pending);
        assert_int_equal(g.lag, lag);
        assert_int_equal(g.has_lag, has_lag);
    } else if (strstr(why, msg) == NULL) {
        fail_msg("'%s' lacks '%s'", why, msg);
    }
    freeReplyObject(r);
}

static void test_reply_xinfo(void **state)
{
    (void)state;
    const char *two =
        "*2\r\n" GROUP7("1\r\na", ":3\r\n", ":7\r\n") GROUP7("1\r\nb", ":0\r\n", "$-1\r\n");
    xinfo(two, "a", 0, 3, 7, 1, NULL);
    xinfo(two, "b", 0, 0, -1, 1, NULL);
    xinfo(two, "c", -1, 0, 0, 0, "no consumer group 'c' on the stream (it has 2)");
    xinfo("*0\r\n", "a", -1, 0, 0, 0, "it has 0");
    const char *v6 = "*1\r\n*8\r\n$4\r\nname\r\n$1\r\na\r\n$9\r\nconsumers\r\n:0\r\n"
                     "$7\r\npending\r\n:5\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n";
    xinfo(v6, "a", 0, 5, -1, 0, NULL);
    xinfo("-ERR no such key\r\n", "a", -1, 0, 0, 0, "ERR no such key");
    xinfo(":1\r\n", "a", -1, 0, 0, 0, "not an array of groups");
    xinfo("*1\r\n:1\r\n", "a", -1, 0, 0, 0, "other than a list of groups");
    xinfo("*1\r\n" GROUP7("1\r\na", ":-3\r\n", ":7\r\n"), "a", -1, 0, 0, 0, "pending");
    xinfo("*1\r\n" GROUP7("1\r\na", "$1\r\n3\r\n", ":7\r\n"), "a", -1, 0, 0, 0, "pending");
    xinfo("*1\r\n" GROUP7("1\r\na", ":3\r\n", ":-1\r\n"), "a", -1, 0, 0, 0, "lag of the integer");
    xinfo("*1\r\n" GROUP7("1\r\na", ":3\r\n", "+x\r\n"), "a", -1, 0, 0, 0, "lag of a status");
    /* An odd number of fields: the last name has no value. */
    xinfo("*1\r\n*3\r\n$4\r\nname\r\n$1\r\na\r\n$7\r\npending\r\n", "a", -1, 0, 0, 0, "no pending");
}

static void test_command_denied(void **state)
{
    (void)state;
    assert_true(as_redis_command_denied("subscribe"));
    assert_true(as_redis_command_denied("BLPOP"));
    assert_true(as_redis_command_denied("Select"));
    assert_true(as_redis_command_denied("CLIENT"));
    assert_false(as_redis_command_denied("LLEN"));
    assert_false(as_redis_command_denied("ZCOUNT"));
    assert_false(as_redis_command_denied("blpopx"));
}

/* ---- options ---- */

/* Parses and validates a metric's options; returns the state (caller frees with free_state),
 * or NULL with err. */
static void *parse(const char *yaml, struct as_err *err)
{
    as_err_clear(err);
    struct as_doc *doc = as_doc_parse("test.yaml", yaml, strlen(yaml), err);
    assert_non_null(doc);
    void *s = calloc(1, ops->state_size);
    assert_non_null(s);
    int rc = as_opts_parse(ops->opts, s, doc->root, "metric", err);
    if (rc == 0)
        rc = ops->validate(s, doc->root, err);
    as_doc_free(doc);
    if (rc == 0)
        return s;
    as_opts_free(ops->opts, s);
    free(s);
    return NULL;
}

static void free_state(void *s)
{
    as_opts_free(ops->opts, s);
    free(s);
}

static void opts_bad(const char *yaml, const char *msg, int line)
{
    struct as_err err;
    void *s = parse(yaml, &err);
    if (s != NULL)
        fail_msg("accepted: %s", yaml);
    if (strstr(err.msg, msg) == NULL)
        fail_msg("'%s' lacks '%s' for %s", err.msg, msg, yaml);
    assert_int_equal(err.line, line);
    assert_null(strstr(err.msg, "s3cret"));
}

static void test_options(void **state)
{
    (void)state;
    struct as_err err;
    const char *good[] = {
        "url: redis://127.0.0.1\nkey: celery\n",
        "url: redis://h/1\nkeys: [a, b]\nkey_type: auto\n",
        "url: redis://h\nstream: s\ngroup: g\nstream_value: pending\n",
        "url: redis://h\ncommand: [ZCOUNT, jobs, '-inf', '+inf']\n",
        "url: redis://h\nusername: app\npassword: s3cret\nkey: k\n",
        "url: redis://app@h\npassword: s3cret\nkey: k\n",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        void *s = parse(good[i], &err);
        if (s == NULL)
            fail_msg("%s: %s", good[i], err.msg);
        free_state(s);
    }
    opts_bad("key: k\n", "'url'", 1);
    opts_bad("url: rediss://:s3cret@h\nkey: k\n", "rediss:// (TLS) is not supported", 1);
    opts_bad("key: k\nurl: http://h\n", "must start with redis://", 2);
    opts_bad("url: redis://:s3cret@h\npassword: s3cret\nkey: k\n", "give it once", 1);
    opts_bad("url: redis://u:s3cret@h\nusername: u\nkey: k\n", "give it once", 1);
    opts_bad("url: redis://h\nusername: u\nkey: k\n", "needs a password", 1);
    opts_bad("url: redis://s3cret@h\nkey: k\n", "redis://:PASSWORD@HOST", 1);
    opts_bad("url: redis://h\n", "exactly one of", 1);
    opts_bad("url: redis://h\nkey: a\nkeys: [b]\n", "exactly one of", 3);
    opts_bad("url: redis://h\nkey: a\ncommand: [DBSIZE]\n", "exactly one of", 3);
    opts_bad("url: redis://h\nstream: s\n", "'stream' and 'group' go together", 2);
    opts_bad("url: redis://h\nkey: k\ngroup: g\n", "'stream' and 'group' go together", 3);
    opts_bad("url: redis://h\ncommand: [DBSIZE]\nkey_type: zset\n", "applies to 'key'", 3);
    opts_bad("url: redis://h\nkey: k\nstream_value: lag\n", "applies to 'stream'", 3);
    opts_bad("url: redis://h\ncommand: [blpop, q, 0]\n", "may not be blpop", 2);
    opts_bad("url: redis://h\ncommand: []\n", "command", 2);
    opts_bad("url: redis://h\nkeys: []\n", "keys", 2);
    opts_bad("url: redis://h\nkey: k\nkey_type: string\n", "key_type", 3);
}

/* ---- the source against the scripted server ---- */

struct src {
    struct as_loop *loop;
    struct fake fake;
    void *state;
    int calls;
    struct as_measurement m;
    int stop_in_done;     /* the engine may stop a source from its done callback */
    char store[8][2][96]; /* the fake's keys: name, RESP reply to their length */
};

static void on_measured(const struct as_measurement *m, void *arg)
{
    struct src *t = arg;
    t->calls++;
    t->m = *m;
    if (t->stop_in_done) {
        ops->stop(t->state);
        free_state(t->state);
        t->state = NULL;
    }
}

static int src_setup(void **state)
{
    struct src *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->loop = as_loop_new()) == NULL)
        return -1;
    *state = t;
    return 0;
}

static int src_teardown(void **state)
{
    struct src *t = *state;
    if (t->state) {
        ops->stop(t->state);
        free_state(t->state);
    }
    fake_stop(&t->fake);
    as_loop_free(t->loop);
    free(t);
    return 0;
}

/* Parses yaml ("{{port}}" is the fake's port), validates and starts the source. */
static void configure(struct src *t, const char *yaml, int64_t timeout_ms)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", t->fake.port);
    const char *keys[] = {"port"};
    const char *values[] = {port};
    char *text = as_template(yaml, keys, values, 1);
    struct as_err err;
    t->state = parse(text, &err);
    if (t->state == NULL)
        fail_msg("%s: %s", text, err.msg);
    free(text);
    struct as_ctx ctx = {.loop = t->loop, .group = "g", .name = "q", .timeout_ms = timeout_ms};
    assert_int_equal(ops->start(t->state, &ctx, &err), 0);
}

/* One measurement, run to its end (at most max_ms). */
static const struct as_measurement *measure(struct src *t, int64_t max_ms)
{
    int before = t->calls;
    ops->measure(t->state, on_measured, t);
    assert_int_equal(t->calls, before); /* never re-entrant */
    int64_t end = as_mono_ms() + max_ms;
    while (t->calls == before && as_mono_ms() < end)
        as_loop_once(t->loop, 20);
    assert_int_equal(t->calls, before + 1);
    return &t->m;
}

static void expect_count(struct src *t, double v)
{
    const struct as_measurement *m = measure(t, 3000);
    if (!m->ok)
        fail_msg("failed: %s", m->error);
    assert_true(m->value == v);
    assert_int_equal(m->replicas, -1);
}

static void expect_fail(struct src *t, const char *msg, int64_t max_ms)
{
    const struct as_measurement *m = measure(t, max_ms);
    assert_false(m->ok);
    if (strstr(m->error, msg) == NULL)
        fail_msg("'%s' lacks '%s'", m->error, msg);
}

/* A small Redis: AUTH s3cret, SELECT, TYPE and lengths from t->store, a few fixed answers. */
static void h_redis(struct fake *f, int argc, char **argv)
{
    struct src *t = f->data;
    const char *cmd = argv[0];
    if (strcmp(cmd, "AUTH") == 0)
        return fake_replys(f, strcmp(argv[argc - 1], "s3cret") == 0
                                  ? "+OK\r\n"
                                  : "-WRONGPASS invalid username-password pair or user is "
                                    "disabled.\r\n");
    if (strcmp(cmd, "SELECT") == 0)
        return fake_replys(f, atoi(argv[1]) < 16 ? "+OK\r\n" : "-ERR DB index is out of range\r\n");
    if (strcmp(cmd, "XINFO") == 0)
        return fake_replys(f, "*1\r\n" GROUP7("1\r\na", ":3\r\n", ":7\r\n"));
    if (strcmp(cmd, "TTL") == 0)
        return fake_replys(f, ":-2\r\n");
    if (strcmp(cmd, "GET") == 0)
        return fake_replys(f, "$2\r\n12\r\n");
    if (strcmp(cmd, "HANG") == 0)
        return;
    for (int i = 0; i < 8 && argc > 1; i++) {
        if (strcmp(t->store[i][0], argv[1]) != 0)
            continue;
        if (strcmp(cmd, "TYPE") == 0) {
            char buf[64];
            snprintf(buf, sizeof(buf), "+%s\r\n", t->store[i][1][0] == ':' ? "list" : "string");
            if (strncmp(argv[1], "z", 1) == 0)
                snprintf(buf, sizeof(buf), "+zset\r\n");
            return fake_replys(f, buf);
        }
        return fake_replys(f, t->store[i][1]);
    }
    fake_replys(f, strcmp(cmd, "TYPE") == 0 ? "+none\r\n" : ":0\r\n");
}

static void store(struct src *t, int i, const char *key, const char *resp)
{
    snprintf(t->store[i][0], sizeof(t->store[i][0]), "%s", key);
    snprintf(t->store[i][1], sizeof(t->store[i][1]), "%s", resp);
}

static void start_fake(struct src *t)
{
    assert_int_equal(fake_start(&t->fake, t->loop, h_redis), 0);
    t->fake.data = t;
}

static void test_list_length_and_kept_connection(void **state)
{
    struct src *t = *state;
    start_fake(t);
    store(t, 0, "celery", ":42\r\n");
    configure(t, "url: redis://127.0.0.1:{{port}}\nkey: celery\n", 2000);
    expect_count(t, 42);
    store(t, 0, "celery", ":7\r\n");
    expect_count(t, 7);
    assert_int_equal(t->fake.accepts, 1); /* one connection for both rounds */
    assert_string_equal(t->fake.seen, "LLEN celery|LLEN celery|");
}

static void test_auth_select_and_sum(void **state)
{
    struct src *t = *state;
    start_fake(t);
    store(t, 0, "a", ":1\r\n");
    store(t, 1, "b", ":20\r\n");
    configure(t, "url: redis://:s3cret@127.0.0.1:{{port}}/3\nkeys: [a, b, missing]\n", 2000);
    expect_count(t, 21);
    expect_count(t, 21);
    assert_string_equal(t->fake.seen,
                        "AUTH s3cret|SELECT 3|LLEN a|LLEN b|LLEN missing|LLEN a|LLEN b|LLEN "
                        "missing|");
}

static void test_username_password_keys(void **state)
{
    struct src *t = *state;
    start_fake(t);
    store(t, 0, "k", ":5\r\n");
    configure(t, "url: redis://127.0.0.1:{{port}}\nusername: app\npassword: s3cret\nkey: k\n",
              2000);
    expect_count(t, 5);
    assert_string_equal(t->fake.seen, "AUTH app s3cret|LLEN k|");
}

static void test_key_type_auto(void **state)
{
    struct src *t = *state;
    start_fake(t);
    store(t, 0, "l", ":4\r\n");
    store(t, 1, "zs", ":5\r\n");
    configure(t, "url: redis://127.0.0.1:{{port}}\nkeys: [l, zs, gone]\nkey_type: auto\n", 2000);
    expect_count(t, 9);
    assert_string_equal(t->fake.seen, "TYPE l|TYPE zs|TYPE gone|LLEN l|ZCARD zs|");
    /* Every key missing: 0 without a second round trip. */
    store(t, 0, "", "");
    store(t, 1, "", "");
    t->fake.seen[0] = '\0';
    expect_count(t, 0);
    assert_string_equal(t->fake.seen, "TYPE l|TYPE zs|TYPE gone|");
    /* A key of a type without a length. */
    store(t, 0, "l", "$1\r\nx\r\n");
    expect_fail(t, "key l holds a string, which has no length", 2000);
}

static void test_stream_and_command(void **state)
{
    struct src *t = *state;
    start_fake(t);
    configure(t, "url: redis://127.0.0.1:{{port}}\nstream: s\ngroup: a\n", 2000);
    expect_count(t, 10); /* backlog = lag 7 + pending 3 */
    ops->stop(t->state);
    free_state(t->state);
    configure(t, "url: redis://127.0.0.1:{{port}}\nstream: s\ngroup: a\nstream_value: lag\n", 2000);
    expect_count(t, 7);
    ops->stop(t->state);
    free_state(t->state);
    configure(t, "url: redis://127.0.0.1:{{port}}\nstream: s\ngroup: zz\n", 2000);
    expect_fail(t, "XINFO GROUPS s: no consumer group 'zz'", 2000);
    ops->stop(t->state);
    free_state(t->state);
    configure(t, "url: redis://127.0.0.1:{{port}}\ncommand: [TTL, nothing]\n", 2000);
    expect_fail(t, "TTL: replied -2, a negative count", 2000);
    ops->stop(t->state);
    free_state(t->state);
    configure(t, "url: redis://127.0.0.1:{{port}}\ncommand: [GET, n]\n", 2000);
    expect_fail(t, "GET: replied a string (\"12\"), not an integer", 2000);
}

/* Each failure drops the connection: the next measurement connects (and AUTHs) again. */
static void test_failures_reconnect(void **state)
{
    struct src *t = *state;
    start_fake(t);
    store(t, 0, "s", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    store(t, 1, "n", "$-1\r\n");
    configure(t, "url: redis://:s3cret@127.0.0.1:{{port}}\nkey: s\n", 2000);
    char want[128];
    snprintf(want, sizeof(want),
             "127.0.0.1:%d: LLEN s: WRONGTYPE Operation against a key holding the wrong kind of "
             "value",
             t->fake.port);
    expect_fail(t, want, 2000);
    expect_fail(t, want, 2000);
    assert_int_equal(t->fake.accepts, 2);
    assert_string_equal(t->fake.seen, "AUTH s3cret|LLEN s|AUTH s3cret|LLEN s|");
    store(t, 0, "s", ":3\r\n");
    expect_count(t, 3);
    assert_int_equal(t->fake.accepts, 3);
}

static void test_wrong_password_and_db(void **state)
{
    struct src *t = *state;
    start_fake(t);
    configure(t, "url: redis://:wrong@127.0.0.1:{{port}}\nkey: k\n", 2000);
    expect_fail(t, "AUTH failed: WRONGPASS invalid username-password pair", 2000);
    ops->stop(t->state);
    free_state(t->state);
    configure(t, "url: redis://127.0.0.1:{{port}}/99\nkey: k\n", 2000);
    expect_fail(t, "SELECT 99 failed: ERR DB index is out of range", 2000);
}

static void test_timeout_and_refused(void **state)
{
    struct src *t = *state;
    start_fake(t);
    configure(t, "url: redis://127.0.0.1:{{port}}\ncommand: [HANG]\n", 300);
    int64_t t0 = as_mono_ms();
    expect_fail(t, "timeout after 3", 2000);
    assert_true(as_mono_ms() - t0 < 1000);
    expect_fail(t, "timeout after 3", 2000);
    assert_int_equal(t->fake.accepts, 2);
    ops->stop(t->state);
    free_state(t->state);
    t->state = NULL;

    int port = closed_port();
    char yaml[128];
    snprintf(yaml, sizeof(yaml), "url: redis://127.0.0.1:%d\nkey: k\n", port);
    configure(t, yaml, 1000);
    expect_fail(t, "Connection refused", 2000);
    expect_fail(t, "Connection refused", 2000);
}

static void h_close(struct fake *f, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fake_replys(f, f->commands == 1 ? "*2\r\n:1\r\n" : ":6\r\n:7\r\n");
    f->close_after = f->commands == 1;
}

/* A server that closes mid-reply, then one that answers twice (hiredis 0.14 would abort on
 * the second reply without the adapter's guard). */
static void test_closed_and_twice(void **state)
{
    struct src *t = *state;
    assert_int_equal(fake_start(&t->fake, t->loop, h_close), 0);
    configure(t, "url: redis://127.0.0.1:{{port}}\nkey: k\n", 2000);
    expect_fail(t, "connection lost: Server closed the connection", 2000);
    expect_count(t, 6); /* the extra ":7" closes the connection afterwards */
    int64_t end = as_mono_ms() + 2000;
    while (fake_open(&t->fake) > 0 && as_mono_ms() < end)
        as_loop_once(t->loop, 20);
    assert_int_equal(fake_open(&t->fake), 0);
    expect_count(t, 6);
    assert_int_equal(t->fake.accepts, 3);
}

static void test_cancel_and_stop(void **state)
{
    struct src *t = *state;
    start_fake(t);
    configure(t, "url: redis://127.0.0.1:{{port}}\ncommand: [HANG]\n", 300);
    ops->measure(t->state, on_measured, t);
    for (int i = 0; i < 5; i++)
        as_loop_once(t->loop, 20);
    ops->cancel(t->state);
    int64_t end = as_mono_ms() + 600;
    while (as_mono_ms() < end)
        as_loop_once(t->loop, 20);
    assert_int_equal(t->calls, 0); /* cancelled: done never runs */
    /* A failure known at once is deferred; cancel drops it too. */
    ops->stop(t->state);
    free_state(t->state);
    t->state = NULL;
    char yaml[128];
    snprintf(yaml, sizeof(yaml), "url: redis://127.0.0.1:%d\nkey: k\n", closed_port());
    configure(t, yaml, 300);
    ops->measure(t->state, on_measured, t);
    ops->cancel(t->state);
    for (int i = 0; i < 5; i++)
        as_loop_once(t->loop, 20);
    assert_int_equal(t->calls, 0);
    /* stop with a measurement in flight */
    ops->measure(t->state, on_measured, t);
    ops->stop(t->state);
    for (int i = 0; i < 5; i++)
        as_loop_once(t->loop, 20);
    assert_int_equal(t->calls, 0);
}

/* The engine may stop and free the source from its done callback, inside hiredis' callback. */
static void test_stop_inside_done(void **state)
{
    struct src *t = *state;
    start_fake(t);
    store(t, 0, "k", ":1\r\n");
    configure(t, "url: redis://127.0.0.1:{{port}}\nkeys: [k, k]\n", 2000);
    t->stop_in_done = 1;
    expect_count(t, 2);
    assert_null(t->state);
    configure(t, "url: redis://127.0.0.1:{{port}}\nkey: s\n", 2000);
    store(t, 1, "s", "-ERR no\r\n");
    t->stop_in_done = 1;
    expect_fail(t, "ERR no", 2000);
    assert_null(t->state);
    for (int i = 0; i < 5; i++)
        as_loop_once(t->loop, 20);
}

static void test_host_names(void **state)
{
    struct src *t = *state;
    start_fake(t);
    store(t, 0, "k", ":8\r\n");
    configure(t, "url: redis://localhost:{{port}}\nkey: k\n", 3000);
    expect_count(t, 8);
    expect_count(t, 8);
    ops->stop(t->state);
    free_state(t->state);
    t->state = NULL;
    configure(t, "url: redis://no-such-host.invalid:{{port}}\nkey: k\n", 5000);
    expect_fail(t, "cannot resolve no-such-host.invalid", 6000);
}

/* A password given literally is masked in the log all the same. */
static void test_password_registered_as_secret(void **state)
{
    struct src *t = *state;
    as_log_secrets_clear();
    start_fake(t);
    configure(t, "url: redis://127.0.0.1:{{port}}\npassword: lit3ral-pw\nkey: k\n", 2000);
    char line[64] = "x lit3ral-pw y";
    as_log_mask(line, strlen(line));
    assert_string_equal(line, "x *** y");
    as_log_secrets_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_reply_count),
        cmocka_unit_test(test_reply_type_and_ok),
        cmocka_unit_test(test_reply_xinfo),
        cmocka_unit_test(test_command_denied),
        cmocka_unit_test(test_options),
        cmocka_unit_test_setup_teardown(test_list_length_and_kept_connection, src_setup,
                                        src_teardown),
        cmocka_unit_test_setup_teardown(test_auth_select_and_sum, src_setup, src_teardown),
        cmocka_unit_test_setup_teardown(test_username_password_keys, src_setup, src_teardown),
        cmocka_unit_test_setup_teardown(test_key_type_auto, src_setup, src_teardown),
        cmocka_unit_test_setup_teardown(test_stream_and_command, src_setup, src_teardown),
        cmocka_unit_test_setup_teardown(test_failures_reconnect, src_setup, src_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password_and_db, src_setup, src_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_and_refused, src_setup, src_teardown),
        cmocka_unit_test_setup_teardown(test_closed_and_twice, src_setup, src_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_stop, src_setup, src_teardown),
        cmocka_unit_test_setup_teardown(test_stop_inside_done, src_setup, src_teardown),
        cmocka_unit_test_setup_teardown(test_host_names, src_setup, src_teardown),
        cmocka_unit_test_setup_teardown(test_password_registered_as_secret, src_setup,
                                        src_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
