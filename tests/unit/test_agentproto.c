/* The agent protocol (src/util/agentproto.c, docs/protocol.md): the documented example byte
 * for byte, round trips, and every rejection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/agentproto.h"

#define KEY "test-key-0123456789abcdef"
#define KEYLEN (sizeof(KEY) - 1)

/* docs/protocol.md, "A worked example": the same bytes. */
static const char example[] =
    "AS1 host=web-1 boot=0123456789abcdef seq=42 ts=1700000000000 "
    "interval=5000 cpu=0.4375 queue=12 "
    "mac=743272dd7dcc6cf11b1fe2bddbb7bc800788ee88dfdaaed2363525e7c7dc6359\n";

static struct as_agent_msg example_msg(void)
{
    struct as_agent_msg m = {.boot = 0x0123456789abcdefull,
                             .seq = 42,
                             .ts_ms = 1700000000000LL,
                             .interval_ms = 5000,
                             .nvalues = 2};
    strcpy(m.host, "web-1");
    strcpy(m.values[0].name, "cpu");
    m.values[0].value = 0.4375;
    strcpy(m.values[1].name, "queue");
    m.values[1].value = 12;
    return m;
}

static enum as_agent_status parse(const char *line, struct as_agent_msg *m, char *why)
{
    return as_agent_parse(line, strlen(line), KEY, KEYLEN, m, why, 200);
}

/* Signs text (everything before " mac=") with KEY and appends the MAC and the LF. */
static void sign(const char *text, char *out, size_t len)
{
    unsigned char mac[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), KEY, (int)KEYLEN, (const unsigned char *)text, strlen(text), mac, &n);
    int w = snprintf(out, len, "%s mac=", text);
    for (unsigned i = 0; i < n; i++)
        w += snprintf(out + w, len - (size_t)w, "%02x", mac[i]);
    snprintf(out + w, len - (size_t)w, "\n");
}

static void test_example_byte_for_byte(void **state)
{
    (void)state;
    struct as_agent_msg m = example_msg(), got;
    char buf[AS_AGENT_LINE_MAX + 1], why[200];
    int n = as_agent_format(&m, KEY, KEYLEN, buf, sizeof(buf));
    assert_int_equal(n, (int)strlen(example));
    assert_string_equal(buf, example);
    assert_int_equal(parse(example, &got, why), AS_AGENT_OK);
    assert_string_equal(got.host, "web-1");
    assert_true(got.boot == 0x0123456789abcdefull);
    assert_true(got.seq == 42);
    assert_true(got.ts_ms == 1700000000000LL);
    assert_int_equal(got.interval_ms, 5000);
    assert_int_equal(got.nvalues, 2);
    assert_true(as_agent_find(&got, "cpu")->value == 0.4375);
    assert_true(as_agent_find(&got, "queue")->value == 12);
    assert_null(as_agent_find(&got, "load"));
    /* Without its LF too. */
    assert_int_equal(as_agent_parse(example, strlen(example) - 1, KEY, KEYLEN, &got, why, 200),
                     AS_AGENT_OK);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct as_agent_msg m = {.boot = 1,
                             .seq = UINT64_MAX,
                             .ts_ms = 999999999999999LL,
                             .interval_ms = AS_AGENT_INTERVAL_MAX};
    memset(m.host, 'h', AS_AGENT_HOST_MAX);
    m.host[AS_AGENT_HOST_MAX] = '\0';
    for (size_t i = 0; i < AS_AGENT_VALUES_MAX; i++) {
        snprintf(m.values[i].name, sizeof(m.values[i].name), "v%zu_%s", i,
                 "abcdefghijklmnopqrstuvwxyz");
        m.values[i].value = i == 0 ? 0 : i * 123456.5;
    }
    m.nvalues = AS_AGENT_VALUES_MAX;
    char buf[AS_AGENT_LINE_MAX + 1], why[200];
    int n = as_agent_format(&m, KEY, KEYLEN, buf, sizeof(buf));
    assert_true(n > 0 && n <= AS_AGENT_LINE_MAX);
    struct as_agent_msg got;
    assert_int_equal(parse(buf, &got, why), AS_AGENT_OK);
    assert_string_equal(got.host, m.host);
    assert_true(got.seq == UINT64_MAX && got.boot == 1);
    assert_int_equal(got.nvalues, AS_AGENT_VALUES_MAX);
    for (size_t i = 0; i < AS_AGENT_VALUES_MAX; i++) {
        assert_string_equal(got.values[i].name, m.values[i].name);
        assert_true(got.values[i].value == m.values[i].value);
    }
    /* No values at all: a heartbeat. Numbers keep at most 6 decimals. */
    m = example_msg();
    m.nvalues = 1;
    m.values[0].value = 1.0 / 3;
    assert_true(as_agent_format(&m, KEY, KEYLEN, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, " cpu=0.333333 mac="));
    m.nvalues = 0;
    assert_true(as_agent_format(&m, KEY, KEYLEN, buf, sizeof(buf)) > 0);
    assert_int_equal(parse(buf, &got, why), AS_AGENT_OK);
    assert_int_equal(got.nvalues, 0);
    /* A buffer too small is an error, never a cut line. */
    m = example_msg();
    assert_int_equal(as_agent_format(&m, KEY, KEYLEN, buf, strlen(example)), -1);
}

static void test_format_refuses(void **state)
{
    (void)state;
    char buf[AS_AGENT_LINE_MAX + 1];
    struct as_agent_msg m = example_msg();
    m.values[0].value = 1.5; /* cpu above 1 */
    assert_int_equal(as_agent_format(&m, KEY, KEYLEN, buf, sizeof(buf)), -1);
    m = example_msg();
    m.values[1].value = -1;
    assert_int_equal(as_agent_format(&m, KEY, KEYLEN, buf, sizeof(buf)), -1);
    m.values[1].value = 1e15;
    assert_int_equal(as_agent_format(&m, KEY, KEYLEN, buf, sizeof(buf)), -1);
    m = example_msg();
    strcpy(m.values[1].name, "cpu"); /* repeated */
    assert_int_equal(as_agent_format(&m, KEY, KEYLEN, buf, sizeof(buf)), -1);
    strcpy(m.values[1].name, "mac"); /* reserved */
    assert_int_equal(as_agent_format(&m, KEY, KEYLEN, buf, sizeof(buf)), -1);
    m = example_msg();
    strcpy(m.host, "web 1");
    assert_int_equal(as_agent_format(&m, KEY, KEYLEN, buf, sizeof(buf)), -1);
    m = example_msg();
    m.seq = 0;
    assert_int_equal(as_agent_format(&m, KEY, KEYLEN, buf, sizeof(buf)), -1);
}

struct bad {
    const char *text; /* signed with KEY unless it holds " mac=" already */
    enum as_agent_status want;
};

static void check_bad(const struct bad *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char line[4096], why[200] = "";
        struct as_agent_msg m;
        if (strstr(cases[i].text, " mac=") != NULL)
            snprintf(line, sizeof(line), "%s", cases[i].text);
        else
            sign(cases[i].text, line, sizeof(line));
        enum as_agent_status st = parse(line, &m, why);
        if (st != cases[i].want || (st != AS_AGENT_OK && why[0] == '\0')) {
            print_error("case %zu '%s': got %s (%s), want %s\n", i, cases[i].text,
                        as_agent_status_name(st), why, as_agent_status_name(cases[i].want));
            fail();
        }
    }
}

#define HEAD "AS1 host=web-1 boot=0123456789abcdef seq=42 ts=1700000000000 interval=5000"

static void test_rejections(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        /* A changed value with the old MAC; the example under another key is below. */
        {HEAD " cpu=0.9375 queue=12 "
              "mac=743272dd7dcc6cf11b1fe2bddbb7bc800788ee88dfdaaed2363525e7c7dc6359",
         AS_AGENT_BAD_MAC},
        {HEAD " cpu=0.4375 queue=12 "
              "mac=743272DD7dcc6cf11b1fe2bddbb7bc800788ee88dfdaaed2363525e7c7dc6359",
         AS_AGENT_MALFORMED}, /* uppercase hex */
        {HEAD " cpu=0.4375 queue=12 mac=743272dd", AS_AGENT_MALFORMED},
        {HEAD " cpu=0.4375 queue=12", AS_AGENT_OK},
        {"AS2 host=web-1 whatever", AS_AGENT_VERSION},
        {"AS10 host=web-1 whatever", AS_AGENT_VERSION},
        {"AS1x host=web-1", AS_AGENT_MALFORMED},
        {"GET / HTTP/1.1", AS_AGENT_MALFORMED},
        {"", AS_AGENT_MALFORMED},
        {"AS1  host=web-1 boot=0123456789abcdef seq=42 ts=1700000000000 interval=5000",
         AS_AGENT_MALFORMED}, /* two spaces */
        {"AS1 boot=0123456789abcdef host=web-1 seq=42 ts=1700000000000 interval=5000",
         AS_AGENT_MALFORMED}, /* order */
        {"AS1 host=-web boot=0123456789abcdef seq=42 ts=1700000000000 interval=5000",
         AS_AGENT_MALFORMED},
        {"AS1 host=web/1 boot=0123456789abcdef seq=42 ts=1700000000000 interval=5000",
         AS_AGENT_MALFORMED},
        {"AS1 host=web-1 boot=0123456789ABCDEF seq=42 ts=1700000000000 interval=5000",
         AS_AGENT_MALFORMED},
        {"AS1 host=web-1 boot=0123456789abcde seq=42 ts=1700000000000 interval=5000",
         AS_AGENT_MALFORMED},
        {"AS1 host=web-1 boot=0123456789abcdef seq=042 ts=1700000000000 interval=5000",
         AS_AGENT_MALFORMED},
        {"AS1 host=web-1 boot=0123456789abcdef seq=18446744073709551616 ts=1700000000000 "
         "interval=5000",
         AS_AGENT_MALFORMED}, /* 2^64 */
        {"AS1 host=web-1 boot=0123456789abcdef seq=-1 ts=1700000000000 interval=5000",
         AS_AGENT_MALFORMED},
        {"AS1 host=web-1 boot=0123456789abcdef seq=42 ts=1700000000000", AS_AGENT_MALFORMED},
        {HEAD " cpu=nan", AS_AGENT_MALFORMED},
        {HEAD " cpu=-0.5", AS_AGENT_MALFORMED},
        {HEAD " cpu=inf", AS_AGENT_MALFORMED},
        {HEAD " cpu=1e-3", AS_AGENT_MALFORMED},
        {HEAD " cpu=.5", AS_AGENT_MALFORMED},
        {HEAD " cpu=5.", AS_AGENT_MALFORMED},
        {HEAD " cpu=0x1", AS_AGENT_MALFORMED},
        {HEAD " cpu=", AS_AGENT_MALFORMED},
        {HEAD " cpu=0.5 cpu=0.5", AS_AGENT_MALFORMED},
        {HEAD " seq=1", AS_AGENT_MALFORMED}, /* reserved name */
        {HEAD " Load=1", AS_AGENT_MALFORMED},
        {HEAD " load=1000000000000000", AS_AGENT_MALFORMED}, /* 16 digits */
        {HEAD " load=999999999999999.5", AS_AGENT_OK},
        {HEAD " load=999999999999999.99", AS_AGENT_BAD_VALUE}, /* rounds to 1e15 */
        {HEAD " cpu=0.5\r", AS_AGENT_MALFORMED},
        {HEAD " cpu=1.0000001", AS_AGENT_BAD_VALUE},
        {HEAD " cpu=1.0", AS_AGENT_OK},
        {"AS1 host=web-1 boot=0000000000000000 seq=42 ts=1700000000000 interval=5000",
         AS_AGENT_BAD_VALUE},
        {"AS1 host=web-1 boot=0123456789abcdef seq=0 ts=1700000000000 interval=5000",
         AS_AGENT_BAD_VALUE},
        {"AS1 host=web-1 boot=0123456789abcdef seq=42 ts=1700000000000 interval=99",
         AS_AGENT_BAD_VALUE},
        {"AS1 host=web-1 boot=0123456789abcdef seq=42 ts=1700000000000 interval=86400001",
         AS_AGENT_BAD_VALUE},
    };
    check_bad(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A value of exactly c bytes (" vNN<pad>=DIGITS", 6 <= c <= 65) appended at p. */
static size_t value_of_cost(char *p, size_t k, size_t c)
{
    size_t d = c - 2 - 3 > 31 ? 31 : c - 2 - 3; /* digits and dot */
    if (d == 16)                                /* "15 digits." is not a number */
        d = 15;
    size_t l = c - 2 - d; /* name length, 3..32 */
    char num[40] = "111111111111111", name[40];
    if (d > 15)
        snprintf(num, sizeof(num), "111111111111111.%.*s", (int)(d - 16), "1111111111111111");
    else
        num[d] = '\0';
    snprintf(name, sizeof(name), "v%02zu%.*s", k, (int)(l - 3), "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    return (size_t)sprintf(p, " %s=%s", name, num);
}

/* A signed line of exactly total bytes, its LF included. */
static void signed_of_length(size_t total, char *out, size_t len)
{
    char text[2 * AS_AGENT_LINE_MAX];
    size_t n = (size_t)sprintf(text, HEAD), need = total - 1 - 69 - n, k = 0;
    while (need >= 6) {
        size_t c = need > 65 ? (need - 65 < 6 ? need - 6 : 65) : need;
        n += value_of_cost(text + n, k++, c);
        need -= c;
    }
    assert_int_equal(need, 0);
    assert_true(k <= AS_AGENT_VALUES_MAX);
    sign(text, out, len);
}

static void test_wrong_key_and_length(void **state)
{
    (void)state;
    struct as_agent_msg m;
    char why[200];
    assert_int_equal(
        as_agent_parse(example, strlen(example), "another-key-0123456", 19, &m, why, sizeof(why)),
        AS_AGENT_BAD_MAC);
    /* Every single changed byte of the example is rejected. */
    for (size_t i = 0; i + 1 < strlen(example); i++) {
        char line[sizeof(example)];
        memcpy(line, example, sizeof(example));
        line[i] ^= 0x01;
        assert_int_not_equal(parse(line, &m, why), AS_AGENT_OK);
    }
    /* 1023 bytes and the LF: accepted; 1024 and the LF: too long. */
    char line[AS_AGENT_LINE_MAX + 80];
    signed_of_length(AS_AGENT_LINE_MAX, line, sizeof(line));
    assert_int_equal(strlen(line), AS_AGENT_LINE_MAX);
    assert_int_equal(parse(line, &m, why), AS_AGENT_OK);
    signed_of_length(AS_AGENT_LINE_MAX + 1, line, sizeof(line));
    assert_int_equal(strlen(line), AS_AGENT_LINE_MAX + 1);
    assert_int_equal(parse(line, &m, why), AS_AGENT_TOO_LONG);
    char big[AS_AGENT_LINE_MAX + 2];
    memset(big, 'A', sizeof(big));
    big[AS_AGENT_LINE_MAX] = '\n';
    big[AS_AGENT_LINE_MAX + 1] = '\0';
    assert_int_equal(parse(big, &m, why), AS_AGENT_TOO_LONG);
    big[AS_AGENT_LINE_MAX - 1] = '\n';
    big[AS_AGENT_LINE_MAX] = '\0';
    assert_int_equal(parse(big, &m, why), AS_AGENT_MALFORMED); /* 1023 + LF: not too long */
}

static void test_admit(void **state)
{
    (void)state;
    struct as_agent_peer peer = {0};
    struct as_agent_msg m = example_msg();
    int64_t now = m.ts_ms, skew = 30000;
    char why[200];
    assert_int_equal(as_agent_admit(&peer, &m, now, skew, why, sizeof(why)), AS_AGENT_OK);
    /* The same message again, or an older one of the same boot: replayed. */
    assert_int_equal(as_agent_admit(&peer, &m, now, skew, why, sizeof(why)), AS_AGENT_REPLAY);
    m.seq = 41;
    assert_int_equal(as_agent_admit(&peer, &m, now, skew, why, sizeof(why)), AS_AGENT_REPLAY);
    /* A later one, with a gap: fine. */
    m.seq = 45;
    m.ts_ms += 5000;
    assert_int_equal(as_agent_admit(&peer, &m, now, skew, why, sizeof(why)), AS_AGENT_OK);
    assert_true(peer.seq == 45);
    /* A restarted agent: new boot, later timestamp, sequence from 1. */
    struct as_agent_msg r = m;
    r.boot = 0xfeedull;
    r.seq = 1;
    r.ts_ms = m.ts_ms + 1;
    assert_int_equal(as_agent_admit(&peer, &r, now, skew, why, sizeof(why)), AS_AGENT_OK);
    /* The old boot's messages, even a higher sequence, are now old. */
    m.seq = 46;
    assert_int_equal(as_agent_admit(&peer, &m, now, skew, why, sizeof(why)), AS_AGENT_OLD_BOOT);
    /* A third boot whose timestamp is not after the last accepted: old. */
    r.boot = 0xbeefull;
    assert_int_equal(as_agent_admit(&peer, &r, now, skew, why, sizeof(why)), AS_AGENT_OLD_BOOT);
    /* Out of the window either way: stale, even for an unknown host. */
    struct as_agent_peer fresh = {0};
    r.ts_ms = now - skew - 1;
    assert_int_equal(as_agent_admit(&fresh, &r, now, skew, why, sizeof(why)), AS_AGENT_STALE);
    r.ts_ms = now + skew + 1;
    assert_int_equal(as_agent_admit(&fresh, &r, now, skew, why, sizeof(why)), AS_AGENT_STALE);
    assert_false(fresh.known);
    r.ts_ms = now + skew;
    assert_int_equal(as_agent_admit(&fresh, &r, now, skew, why, sizeof(why)), AS_AGENT_OK);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(as_agent_host_ok("web-1.example.com"));
    assert_true(as_agent_host_ok("A_b"));
    assert_false(as_agent_host_ok(""));
    assert_false(as_agent_host_ok(".web"));
    assert_false(as_agent_host_ok("web 1"));
    char h[AS_AGENT_HOST_MAX + 2];
    memset(h, 'a', sizeof(h) - 1);
    h[sizeof(h) - 1] = '\0';
    assert_false(as_agent_host_ok(h));
    h[AS_AGENT_HOST_MAX] = '\0';
    assert_true(as_agent_host_ok(h));
    assert_true(as_agent_name_ok("queue_depth2"));
    assert_false(as_agent_name_ok("2queue"));
    assert_false(as_agent_name_ok("Queue"));
    assert_false(as_agent_name_ok("interval"));
    assert_string_equal(as_agent_status_name(AS_AGENT_BAD_MAC), "bad_mac");
    assert_string_equal(as_agent_status_name(AS_AGENT_REPLAY), "replayed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_byte_for_byte),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_format_refuses),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_wrong_key_and_length),
        cmocka_unit_test(test_admit),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
