/* config/hosts: the self-hosted pool's hosts and ports (hostile input first: nothing that
 * could inject HAProxy configuration or a second Runtime API command gets through), server
 * names, entry and provision files, the directory and the template. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/hosts.h"
#include "util/util.h"

/* ---- hosts and ports ---- */

static void test_host_check(void **state)
{
    (void)state;
    static const struct {
        const char *in, *canon; /* canon NULL: rejected */
    } rows[] = {
        {"app1.example.com", "app1.example.com"},
        {"APP1.Example.COM", "app1.example.com"},
        {"localhost", "localhost"},
        {"a-b.c9", "a-b.c9"},
        {"10.0.0.5", "10.0.0.5"},
        {"::1", "::1"},
        {"[::1]", "::1"},
        {"2001:DB8:0:0::1", "2001:db8::1"},
        {"[2001:db8::1]", "2001:db8::1"},
        {"", NULL},
        {"app1 example.com", NULL},
        {"app1\nserver evil 6.6.6.6:80", NULL},
        {"app1\r", NULL},
        {"app1\t", NULL},
        {"app#1", NULL},
        {"app1#", NULL},
        {"\"app1\"", NULL},
        {"'app1'", NULL},
        {"app1;show info", NULL},
        {"app1/x", NULL},
        {"app1\\", NULL},
        {"-c", NULL},
        {"--weight", NULL},
        {"app-", NULL},
        {"app_1", NULL},
        {"app..com", NULL},
        {".app", NULL},
        {"app.", NULL},
        {"caf\xc3\xa9.com", NULL},
        {"10.0.0.256", NULL},
        {"010.0.0.1", NULL},
        {"1.2.3", NULL},
        {"12345", NULL},
        {"[::1", NULL},
        {"::1]", NULL},
        {"[]", NULL},
        {"[10.0.0.1]", NULL},
        {"fe80::1%eth0", NULL},
        {"2001:db8::1/64", NULL},
        {"[::1]:80", NULL},
        {"app1:80", NULL},
        {"app1 check inter 1", NULL},
        {"127.0.0.1 backup", NULL},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(rows); i++) {
        char canon[AS_HOST_MAX], why[160] = "";
        int rc = as_host_check(rows[i].in, canon, why, sizeof(why));
        if (rows[i].canon == NULL && rc == 0)
            fail_msg("row %zu: accepted \"%s\" as %s", i, rows[i].in, canon);
        if (rows[i].canon != NULL && (rc != 0 || strcmp(canon, rows[i].canon) != 0))
            fail_msg("row %zu: \"%s\": rc %d %s (%s)", i, rows[i].in, rc, rc ? "" : canon, why);
        if (rc != 0)
            assert_true(why[0] != '\0');
    }
    char label[80], name[300];
    memset(label, 'a', 64);
    label[64] = '\0';
    assert_int_equal(as_host_check(label, name, NULL, 0), -1); /* a 64-byte label */
    label[63] = '\0';
    assert_int_equal(as_host_check(label, name, NULL, 0), 0);
    snprintf(name, sizeof(name), "%s.%s.%s.%.61s", label, label, label, label); /* 253 */
    char canon[AS_HOST_MAX];
    assert_int_equal(strlen(name), 253);
    assert_int_equal(as_host_check(name, canon, NULL, 0), 0);
    strcat(name, "a");
    assert_int_equal(as_host_check(name, canon, NULL, 0), -1);
}

static void test_port_check(void **state)
{
    (void)state;
    static const char *const good[] = {"1", "80", "8080", "65535"};
    static const char *const bad[] = {"",   "0",     "65536",  "080",  "+80",  "-1",  " 80", "80 ",
                                      "8o", "99999", "123456", "80\n", "0x50", "80;", "1e3"};
    int port;
    for (size_t i = 0; i < AS_ARRAY_LEN(good); i++) {
        assert_int_equal(as_port_check(good[i], &port, NULL, 0), 0);
        assert_int_equal(port, atoi(good[i]));
    }
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
        if (as_port_check(bad[i], &port, NULL, 0) == 0)
            fail_msg("accepted port \"%s\"", bad[i]);
}

static void test_names_and_pairs(void **state)
{
    (void)state;
    char out[AS_HOST_NAME_MAX], why[160];
    as_host_server_name("app1.example.com", 8080, out, sizeof(out));
    assert_string_equal(out, "app1.example.com_8080");
    as_host_server_name("2001:db8::1", 80, out, sizeof(out));
    assert_string_equal(out, "2001_db8__1_80");
    as_host_address("2001:db8::1", 80, out, sizeof(out));
    assert_string_equal(out, "[2001:db8::1]:80");
    as_host_address("10.0.0.5", 80, out, sizeof(out));
    assert_string_equal(out, "10.0.0.5:80");

    struct as_host_entry e = {.weight = 7, .origin = AS_HOST_PROVISIONED};
    assert_int_equal(as_host_parse_pair("10.0.0.5:8080", &e, why, sizeof(why)), 0);
    assert_string_equal(e.host, "10.0.0.5");
    assert_int_equal(e.port, 8080);
    assert_string_equal(e.name, "10.0.0.5_8080");
    assert_int_equal(e.weight, 7); /* left as it was */
    assert_int_equal(as_host_parse_pair("[2001:DB8::1]:443", &e, why, sizeof(why)), 0);
    assert_string_equal(e.host, "2001:db8::1");
    assert_int_equal(as_host_parse_pair("App.Example.com:1", &e, why, sizeof(why)), 0);
    assert_string_equal(e.name, "app.example.com_1");
    static const char *const bad[] = {"10.0.0.5", "10.0.0.5:",
                                      ":80",      "::1:80",
                                      "[::1]80",  "a:80:90",
                                      "a b:80",   "a:80 ",
                                      "a:80\n",   "a:80 check",
                                      "a\n:80",   "a:0",
                                      "[::1:80",  "a#:80",
                                      "a:80#",    "host:80;show info",
                                      "x:65536",  ""};
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
        if (as_host_parse_pair(bad[i], &e, why, sizeof(why)) == 0)
            fail_msg("accepted pair \"%s\"", bad[i]);
    assert_int_equal(as_host_entry_init(&e, "app1", "80", 257, 0, why, sizeof(why)), -1);
    assert_int_equal(as_host_entry_init(&e, "app1", "80", 3, 0, why, sizeof(why)), 0);
    assert_int_equal(e.weight, 3);
    assert_int_equal(e.state, AS_HOST_ACTIVE);
    assert_true(e.added_ms > 1600000000000LL);
}

/* ---- files ---- */

static void test_entry_round_trip(void **state)
{
    (void)state;
    struct as_host_entry e, back;
    struct as_sb sb = {0};
    char why[200];
    int line;
    assert_int_equal(
        as_host_entry_init(&e, "app2.example.com", "8080", 2, AS_HOST_PROVISIONED, why, 200), 0);
    strcpy(e.id, "p1700000000000-0a1b2c3d");
    e.state = AS_HOST_DRAINING;
    e.since_ms = 1700000300000;
    assert_int_equal(as_host_entry_format(&e, &sb), 0);
    assert_non_null(strstr(sb.buf, "state=draining\nsince=1700000300000\n"));
    assert_int_equal(as_host_entry_parse(sb.buf, sb.len, &back, &line, why, sizeof(why)), 0);
    assert_string_equal(back.host, e.host);
    assert_string_equal(back.name, e.name);
    assert_string_equal(back.id, e.id);
    assert_int_equal(back.port, e.port);
    assert_int_equal(back.weight, e.weight);
    assert_int_equal(back.origin, e.origin);
    assert_int_equal(back.state, e.state);
    assert_int_equal(back.added_ms, e.added_ms);
    assert_int_equal(back.since_ms, e.since_ms);
    as_sb_free(&sb);
    /* a minimal file: defaults */
    const char *min = "# hand-written\n\nhost=10.0.0.7\nport=81\n";
    assert_int_equal(as_host_entry_parse(min, strlen(min), &back, &line, why, sizeof(why)), 0);
    assert_int_equal(back.weight, 1);
    assert_int_equal(back.origin, AS_HOST_MANUAL);
    assert_int_equal(back.state, AS_HOST_ACTIVE);
    assert_string_equal(back.id, "");
}

static void test_entry_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int line; /* the line at fault, 0: the file */
    } rows[] = {
        {"host=a\n", 0},
        {"port=80\n", 0},
        {"host=a\nport=80\nhost=b\n", 3},
        {"host=a\nport=80\ncolor=red\n", 3},
        {"host=a\nport=80\nweight=257\n", 3},
        {"host=a\nport=80\nweight=-1\n", 3},
        {"host=a\nport=80\nweight=01\n", 3},
        {"host=a\nport=80\norigin=cloud\n", 3},
        {"host=a\nport=80\nstate=draining\n", 0},
        {"host=a\nport=80\nstate=gone\nsince=1\n", 3},
        {"host=a\nport=80\nadded=yesterday\n", 3},
        {"host=a\nport=80\nid=../../etc\n", 3},
        {"host=a\nport=80\nid=P1\n", 3},
        {"host=a b\nport=80\n", 0},
        {"host=a\nport=80 \n", 0},
        {"host=a\r\nport=80\r\n", 0},
        {"host=evil\nserver x 6.6.6.6:80\nport=80\n", 2},
        {"host=a\nport=80\n = \n", 3},
        {"host=a\nport=80\njunk\n", 3},
        {"host=a;show info\nport=80\n", 0},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(rows); i++) {
        struct as_host_entry e;
        char why[200] = "";
        int line = -1;
        if (as_host_entry_parse(rows[i].text, strlen(rows[i].text), &e, &line, why, sizeof(why)) ==
            0)
            fail_msg("row %zu accepted", i);
        if (line != rows[i].line)
            fail_msg("row %zu: line %d, want %d (%s)", i, line, rows[i].line, why);
    }
    char big[AS_HOST_FILE_MAX + 2], why[200];
    struct as_host_entry e;
    int line;
    /* a misspelt key names the nearest */
    assert_int_equal(
        as_host_entry_parse("host=a\nport=80\nwieght=2\n", 24, &e, &line, why, sizeof(why)), -1);
    assert_string_equal(why, "unknown key 'wieght' (did you mean 'weight'?)");
    memset(big, '#', sizeof(big));
    assert_int_equal(as_host_entry_parse(big, sizeof(big), &e, &line, NULL, 0), -1);
    assert_int_equal(as_host_entry_parse("host=a\0\nport=80\n", 16, &e, &line, NULL, 0), -1);
}

static void test_provision_files(void **state)
{
    (void)state;
    struct as_host_prov p = {.started_ms = 1700000000000}, back;
    struct as_sb sb = {0};
    char why[200], id[AS_PROV_ID_MAX], id2[AS_PROV_ID_MAX];
    int line;
    as_prov_id_new(id);
    as_prov_id_new(id2);
    assert_true(as_prov_id_ok(id));
    assert_string_not_equal(id, id2);
    memcpy(p.id, id, sizeof(id));
    assert_int_equal(as_host_prov_format(&p, &sb), 0);
    assert_int_equal(as_host_prov_parse(sb.buf, sb.len, &back, &line, why, sizeof(why)), 0);
    assert_string_equal(back.id, id);
    assert_int_equal(back.started_ms, 1700000000000);
    as_sb_free(&sb);
    static const char *const bad[] = {
        "started=1\n",    "id=a\nid=b\n",
        "id=a b\n",       "id=-a\n",
        "id=a\nhost=x\n", "id=a\nstarted=x\n",
        "id=A\n",         "id=0123456789012345678901234567890123456789\n"};
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
        if (as_host_prov_parse(bad[i], strlen(bad[i]), &back, &line, why, sizeof(why)) == 0)
            fail_msg("accepted provision \"%s\"", bad[i]);
}

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_directory(void **state)
{
    (void)state;
    char dir[] = "/tmp/as-test-hosts-XXXXXX", sub[128], path[512];
    struct as_hosts h = {0};
    struct as_host_entry e;
    struct as_err err;
    char why[200];
    as_err_clear(&err);
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof(sub), "%s/hosts.d", dir);
    assert_int_equal(as_hosts_load(sub, &h, &err), 0); /* missing: an empty pool */
    assert_int_equal(h.n + h.nprov, 0);
    assert_int_equal(as_host_entry_init(&e, "b.example", "80", 1, 0, why, sizeof(why)), 0);
    assert_int_equal(as_host_entry_write(sub, &e, &err), 0);
    assert_int_equal(as_host_entry_init(&e, "10.0.0.1", "81", 5, 1, why, sizeof(why)), 0);
    assert_int_equal(as_host_entry_write(sub, &e, &err), 0);
    put(sub, "p1-ab.provision", "id=p1-ab\nstarted=5\n");
    put(sub, "README", "not an entry\n");
    put(sub, ".x.host", "junk\n");
    put(sub, "10.0.0.1_81.host.tmp", "junk\n");
    put(sub, ".lock", "123\n");
    assert_int_equal(as_hosts_load(sub, &h, &err), 0);
    assert_int_equal(h.n, 2);
    assert_string_equal(h.v[0].name, "10.0.0.1_81"); /* sorted by name */
    assert_int_equal(h.v[0].weight, 5);
    assert_string_equal(h.v[1].name, "b.example_80");
    assert_int_equal(h.nprov, 1);
    assert_string_equal(h.prov[0].id, "p1-ab");
    assert_non_null(as_hosts_find(&h, "b.example_80"));
    assert_null(as_hosts_find(&h, "b.example_81"));
    /* an entry under another server's name, a bad one, a misnamed provision */
    put(sub, "c_80.host", "host=d\nport=80\n");
    assert_int_equal(as_hosts_load(sub, &h, &err), -1);
    assert_non_null(strstr(err.msg, "must be named d_80.host"));
    assert_int_equal(h.n, 0);
    unlink(strcat(strcpy(path, sub), "/c_80.host"));
    put(sub, "e_80.host", "host=e\nport=80\nweight=x\n");
    as_err_clear(&err);
    assert_int_equal(as_hosts_load(sub, &h, &err), -1);
    assert_int_equal(err.line, 3);
    assert_non_null(strstr(err.file, "e_80.host"));
    unlink(strcat(strcpy(path, sub), "/e_80.host"));
    put(sub, "p2.provision", "id=p3\n");
    assert_int_equal(as_hosts_load(sub, &h, &err), -1);
    unlink(strcat(strcpy(path, sub), "/p2.provision"));
    /* removal */
    assert_int_equal(as_host_entry_path(sub, "b.example_80", path, sizeof(path)), 0);
    assert_int_equal(as_hosts_unlink(path, 1, &err), 0);
    assert_int_equal(as_hosts_unlink(path, 1, &err), 1);
    assert_int_equal(as_hosts_load(sub, &h, &err), 0);
    assert_int_equal(h.n, 1);
    as_hosts_free(&h);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

/* ---- the template ---- */

static struct as_hosts three(void)
{
    static struct as_host_entry v[3];
    char why[200];
    assert_int_equal(as_host_entry_init(&v[0], "10.0.0.1", "80", 1, 0, why, sizeof(why)), 0);
    assert_int_equal(as_host_entry_init(&v[1], "::1", "81", 3, 1, why, sizeof(why)), 0);
    assert_int_equal(as_host_entry_init(&v[2], "gone.example", "82", 1, 1, why, sizeof(why)), 0);
    v[1].state = AS_HOST_DRAINING;
    v[2].state = AS_HOST_DEPROVISIONING;
    return (struct as_hosts){.v = v, .n = 3};
}

static void test_render(void **state)
{
    (void)state;
    struct as_hosts h = three();
    struct as_sb out = {0};
    struct as_err err;
    const char *opts[] = {"check", "inter", "2s", NULL};
    const char *tmpl = "backend app\n    balance roundrobin\n    {{servers}}  \r\n# end";
    as_err_clear(&err);
    assert_int_equal(as_hosts_render(tmpl, strlen(tmpl), "t", &h, opts, &out, &err), 0);
    assert_string_equal(out.buf, "backend app\n    balance roundrobin\n"
                                 "    server 10.0.0.1_80 10.0.0.1:80 weight 1 check inter 2s\n"
                                 "    server __1_81 [::1]:81 weight 0 check inter 2s\n"
                                 "# end");
    as_sb_free(&out);
    struct as_hosts none = {0};
    assert_int_equal(as_hosts_render("a\n{{servers}}\nb\n", 16, "t", &none, NULL, &out, &err), 0);
    assert_string_equal(out.buf, "a\nb\n");
    as_sb_free(&out);
    static const struct {
        const char *tmpl;
        int line, col;
    } bad[] = {
        {"a\n  {{server}}\n", 2, 3},
        {"a\n  server x {{servers}}\n", 2, 12},
        {"{{servers}} x\n", 1, 1},
        {"a {{ b\n", 1, 3},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++) {
        as_err_clear(&err);
        if (as_hosts_render(bad[i].tmpl, strlen(bad[i].tmpl), "t", &h, opts, &out, &err) == 0)
            fail_msg("row %zu rendered", i);
        if (err.line != bad[i].line || err.col != bad[i].col)
            fail_msg("row %zu: %d:%d, want %d:%d", i, err.line, err.col, bad[i].line, bad[i].col);
        as_sb_free(&out);
    }
    assert_int_equal(as_hosts_render("a\0b\n", 4, "t", &h, opts, &out, &err), -1);
    as_sb_free(&out);
}

static void test_option_ok(void **state)
{
    (void)state;
    static const char *const good[] = {
        "check",           "inter", "2s",          "ssl",     "verify", "none",  "ca-file",
        "/etc/ssl/ca.pem", "alpn",  "h2,http/1.1", "maxconn", "100",    "proto", "h2"};
    static const char *const bad[] = {"",      "a b", "a;b",  "#",           "a\nb",
                                      "\"x\"", "'x'", "a\\b", "{{servers}}", "x\ty"};
    for (size_t i = 0; i < AS_ARRAY_LEN(good); i++)
        assert_true(as_host_option_ok(good[i]));
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
        if (as_host_option_ok(bad[i]))
            fail_msg("accepted option \"%s\"", bad[i]);
    char long_opt[130];
    memset(long_opt, 'a', 129);
    long_opt[129] = '\0';
    assert_false(as_host_option_ok(long_opt));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_check),      cmocka_unit_test(test_port_check),
        cmocka_unit_test(test_names_and_pairs), cmocka_unit_test(test_entry_round_trip),
        cmocka_unit_test(test_entry_errors),    cmocka_unit_test(test_provision_files),
        cmocka_unit_test(test_directory),       cmocka_unit_test(test_render),
        cmocka_unit_test(test_option_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
