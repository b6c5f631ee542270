/* util/haproxy_rt: the Runtime API client (one command per connection, a deadline on each,
 * bounded answers, cancel) against an in-process UNIX socket server, and the parsers of `show
 * servers state` and `show stat` on answers captured from HAProxy 2.6.12 and on garbage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/haproxy_rt.h"
#include "util/loop.h"
#include "util/util.h"

/* `show servers state app` and `show stat app 4 -1` of HAProxy 2.6.12 (Debian 12), two
 * servers: s1 in maintenance and down, s2 running, drained, 3 sessions. */
#define STATE_HEADER                                                                               \
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "           \
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "   \
    "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord "  \
    "srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"
static const char state_26[] =
    "1\n" STATE_HEADER "3 app 1 s1 127.0.0.1 0 1 1 1 0 8 2 0 6 0 0 0 - 28081 - 0 0 - - 0\n"
    "3 app 2 s2 10.0.0.2 2 8 3 3 7 1 0 2 2 0 0 0 - 28082 - 0 0 - - 0\n"
    "4 other 1 s1 10.9.9.9 2 0 1 1 0 1 0 2 2 0 0 0 - 80 - 0 0 - - 0\n\n";

#define STAT_HEADER                                                                                \
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,"     \
    "wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,"   \
    "lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration\n"
static const char stat_26[] = STAT_HEADER
    "app,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,1,1,0,0,,1,3,1,,0,,2,0,,0,L4CON,,0\n"
    "app,s2,1,2,3,5,,40,0,0,,0,,0,0,0,0,DRAIN,3,1,0,0,0,7,0,,1,3,2,,12,,2,0,,1,L7OK,200,1\n"
    "\n";

static void test_parse_state(void **state)
{
    (void)state;
    struct as_hart_server v[4];
    size_t n;
    char why[200];
    assert_int_equal(as_hart_parse_state(state_26, strlen(state_26), "app", v, 4, &n, why, 200), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "s1");
    assert_int_equal(v[0].op, 0);
    assert_int_equal(v[0].admin, AS_HART_ADMIN_FMAINT);
    assert_string_equal(v[1].addr, "10.0.0.2");
    assert_int_equal(v[1].port, 28082);
    assert_int_equal(v[1].weight, 3);
    assert_int_equal(v[1].admin, AS_HART_ADMIN_FDRAIN);
    assert_int_equal(v[1].scur, -1);
    assert_int_equal(as_hart_parse_state(state_26, strlen(state_26), "other", v, 4, &n, why, 200),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(as_hart_parse_state(state_26, strlen(state_26), "none", v, 4, &n, why, 200),
                     0);
    assert_int_equal(n, 0);
    assert_int_equal(as_hart_parse_state(state_26, strlen(state_26), "app", v, 1, &n, why, 200),
                     -1);
    static const char *const bad[] = {
        "Can't find backend.\n",
        "",
        "2\n" STATE_HEADER,
        "1\n",
        "1\nbe_id be_name\n",
        "1\n# be_id be_name srv_id srv_name\n3 app 1 s1\n",
        "1\n" STATE_HEADER "3 app 1 s1 127.0.0.1 0 1\n",
        "1\n" STATE_HEADER "3 app 1 s1 127.0.0.1 9 1 1 1 0 8 2 0 6 0 0 0 - 28081 - 0 0 - - 0\n",
        "1\n" STATE_HEADER "3 app 1 s1 127.0.0.1 0 x 1 1 0 8 2 0 6 0 0 0 - 28081 - 0 0 - - 0\n",
        "1\n" STATE_HEADER "3 app 1 s1 127.0.0.1 0 1 999 1 0 8 2 0 6 0 0 0 - 28081 - 0 0 - - 0\n",
        "1\n" STATE_HEADER "3 app 1 s1 127.0.0.1 0 1 1 1 0 8 2 0 6 0 0 0 - 99999 - 0 0 - - 0\n",
        "1\n" STATE_HEADER "3 app 1 s\x01 127.0.0.1 0 1 1 1 0 8 2 0 6 0 0 0 - 1 - 0 0 - - 0\n",
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++) {
        why[0] = '\0';
        if (as_hart_parse_state(bad[i], strlen(bad[i]), "app", v, 4, &n, why, sizeof(why)) == 0)
            fail_msg("row %zu parsed", i);
        assert_true(why[0] != '\0');
    }
    as_hart_parse_state(bad[0], strlen(bad[0]), "app", v, 4, &n, why, sizeof(why));
    assert_non_null(strstr(why, "Can't find backend."));
}

static void test_merge_stat(void **state)
{
    (void)state;
    struct as_hart_server v[3];
    size_t n;
    char why[200];
    assert_int_equal(as_hart_parse_state(state_26, strlen(state_26), "app", v, 3, &n, why, 200), 0);
    assert_int_equal(as_hart_merge_stat(stat_26, strlen(stat_26), "app", v, n, why, 200), 0);
    assert_int_equal(v[0].scur, 0);
    assert_string_equal(v[0].status, "MAINT");
    assert_int_equal(v[1].scur, 3);
    assert_int_equal(v[1].qcur, 1);
    assert_string_equal(v[1].status, "DRAIN");
    /* a server without a row keeps scur -1; rows of other proxies are skipped */
    static const char other[] = STAT_HEADER "web,s1,0,0,9,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,1,1,0,0,"
                                            ",1,3,1,,0,,2,0,,0,L4CON,,0\n";
    assert_int_equal(as_hart_parse_state(state_26, strlen(state_26), "app", v, 3, &n, why, 200), 0);
    assert_int_equal(as_hart_merge_stat(other, strlen(other), "app", v, n, why, 200), 0);
    assert_int_equal(v[0].scur, -1);
    /* a long status is cut, not an error */
    static const char lng[] = "# pxname,svname,qcur,scur,status,bck\n"
                              "app,s1,0,2,MAINT (via some_backend/some_server_name),0\n";
    assert_int_equal(as_hart_merge_stat(lng, strlen(lng), "app", v, n, why, 200), 0);
    assert_int_equal(v[0].scur, 2);
    assert_int_equal(strlen(v[0].status), sizeof(v[0].status) - 1);
    static const char *const bad[] = {
        "No such proxy.\n",
        "",
        "# pxname,svname,qcur,status,bck\napp,s1,0,UP,0\n",
        "# pxname,svname,qcur,scur,status,bck\napp,s1,0,x,UP,0\n",
        "# pxname,svname,qcur,scur,status,bck\napp,s1,0,-1,UP,0\n",
        "# pxname,svname,qcur,scur,status,bck\napp,s1,0\n",
        "# pxname,svname,qcur,scur,status,bck\napp,s1,0,1,\"UP,0\n",
        "pxname,svname,qcur,scur,status,bck\n",
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
        if (as_hart_merge_stat(bad[i], strlen(bad[i]), "app", v, n, why, sizeof(why)) == 0)
            fail_msg("row %zu parsed", i);
}

static void test_replies_and_addresses(void **state)
{
    (void)state;
    char buf[64], why[160];
    assert_true(as_hart_reply_is("\n", 1, ""));
    assert_true(as_hart_reply_is("", 0, ""));
    assert_true(as_hart_reply_is("Server deleted.\n\n", 17, "Server deleted."));
    assert_false(as_hart_reply_is("No such server.\n", 16, ""));
    assert_false(as_hart_reply_is("Server deleted.x\n", 17, "Server deleted."));
    assert_string_equal(as_hart_reply_line("\n  Unknown command\nhelp...\n", 27, buf, sizeof(buf)),
                        "Unknown command");
    assert_string_equal(as_hart_reply_line("a\x01z\n", 4, buf, sizeof(buf)), "a.z");
    assert_string_equal(as_hart_reply_line("", 0, buf, sizeof(buf)), "(an empty answer)");
    static const char *const good[] = {"/run/haproxy/admin.sock", "unix@/x.sock", "unix@rel.sock",
                                       "127.0.0.1:9999", "ipv4@10.0.0.1:1"};
    static const char *const bad[] = {
        "x",       "unix@",        "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536",
        "host:80", "ipv4@host:80", "[::1]:80"};
    for (size_t i = 0; i < AS_ARRAY_LEN(good); i++)
        assert_int_equal(as_hart_addr_check(good[i], why, sizeof(why)), 0);
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
        if (as_hart_addr_check(bad[i], why, sizeof(why)) == 0)
            fail_msg("accepted address %s", bad[i]);
}

/* ---- the client against a server ---- */

enum mode { ANSWER, HANG, HUGE };

struct server {
    char path[108];
    int fd;
    pthread_t thread;
    enum mode mode;
    char got[256];
    int stop;
};

static void *serve(void *arg)
{
    struct server *sv = arg;
    for (;;) {
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0 || sv->stop) {
            if (c >= 0)
                close(c);
            return NULL;
        }
        ssize_t n = read(c, sv->got, sizeof(sv->got) - 1);
        sv->got[n > 0 ? n : 0] = '\0';
        if (sv->mode == ANSWER) {
            if (write(c, "New server registered.\n\n", 24) < 0)
                break;
        } else if (sv->mode == HUGE) {
            static char block[65536];
            memset(block, 'x', sizeof(block));
            for (int i = 0; i < 160; i++) /* 10 MiB: more than an answer may be */
                if (write(c, block, sizeof(block)) < 0)
                    break;
        } else {
            char b[16];
            while (read(c, b, sizeof(b)) > 0) /* until the client closes */
                ;
        }
        close(c);
    }
    return NULL;
}

static void server_start(struct server *sv, enum mode mode)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    memset(sv, 0, sizeof(*sv));
    sv->mode = mode;
    snprintf(sv->path, sizeof(sv->path), "/tmp/as-test-hart-%d.sock", (int)getpid());
    unlink(sv->path);
    strcpy(un.sun_path, sv->path);
    sv->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(sv->fd, (struct sockaddr *)&un, sizeof(un)), 0);
    assert_int_equal(listen(sv->fd, 8), 0);
    assert_int_equal(pthread_create(&sv->thread, NULL, serve, sv), 0);
}

static void server_stop(struct server *sv)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    sv->stop = 1;
    strcpy(un.sun_path, sv->path);
    int c = socket(AF_UNIX, SOCK_STREAM, 0); /* wakes accept */
    connect(c, (struct sockaddr *)&un, sizeof(un));
    close(c);
    pthread_join(sv->thread, NULL);
    close(sv->fd);
    unlink(sv->path);
}

struct answer {
    int calls;
    char reply[128], error[256];
    size_t len;
};

static void on_answer(const char *reply, size_t len, const char *error, void *arg)
{
    struct answer *a = arg;
    a->calls++;
    a->len = len;
    snprintf(a->reply, sizeof(a->reply), "%s", reply ? reply : "");
    snprintf(a->error, sizeof(a->error), "%s", error ? error : "");
}

static void run(struct as_loop *loop, struct answer *a, int64_t max_ms)
{
    int64_t end = as_mono_ms() + max_ms;
    while (a->calls == 0 && as_mono_ms() < end)
        as_loop_once(loop, 20);
}

static void test_client(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    struct server sv;
    struct answer a = {0};
    server_start(&sv, ANSWER);
    assert_non_null(
        as_hart_send(loop, sv.path, "add server app/x 10.0.0.1:80", 1000, on_answer, &a));
    assert_int_equal(a.calls, 0); /* never from inside the call */
    run(loop, &a, 3000);
    assert_int_equal(a.calls, 1);
    assert_string_equal(a.error, "");
    assert_string_equal(a.reply, "New server registered.\n\n");
    assert_string_equal(sv.got, "add server app/x 10.0.0.1:80\n");
    /* a command that is not one line is refused before anything is sent */
    assert_null(as_hart_send(loop, sv.path, "show info\nshow stat", 1000, on_answer, &a));
    assert_null(as_hart_send(loop, sv.path, "", 1000, on_answer, &a));
    server_stop(&sv);

    /* nothing listening: the error, from the loop */
    memset(&a, 0, sizeof(a));
    assert_non_null(as_hart_send(loop, sv.path, "show info", 1000, on_answer, &a));
    assert_int_equal(a.calls, 0);
    run(loop, &a, 3000);
    assert_non_null(strstr(a.error, "connect"));

    /* an answer that never ends: the deadline */
    server_start(&sv, HANG);
    memset(&a, 0, sizeof(a));
    int64_t t0 = as_mono_ms();
    assert_non_null(as_hart_send(loop, sv.path, "show stat", 300, on_answer, &a));
    run(loop, &a, 3000);
    assert_int_equal(a.calls, 1);
    assert_non_null(strstr(a.error, "no answer within 300 ms"));
    assert_true(as_mono_ms() - t0 < 1500);
    /* cancel: the callback never runs */
    memset(&a, 0, sizeof(a));
    struct as_hart *h = as_hart_send(loop, sv.path, "show stat", 300, on_answer, &a);
    as_loop_once(loop, 50);
    as_hart_cancel(h);
    for (int i = 0; i < 20; i++)
        as_loop_once(loop, 30);
    assert_int_equal(a.calls, 0);
    server_stop(&sv);

    /* an answer larger than the bound */
    server_start(&sv, HUGE);
    memset(&a, 0, sizeof(a));
    assert_non_null(as_hart_send(loop, sv.path, "show stat", 5000, on_answer, &a));
    run(loop, &a, 6000);
    assert_non_null(strstr(a.error, "larger than"));
    server_stop(&sv);
    as_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_state),
        cmocka_unit_test(test_merge_stat),
        cmocka_unit_test(test_replies_and_addresses),
        cmocka_unit_test(test_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
