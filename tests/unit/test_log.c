/* Logging: registered secrets never reach a line, whatever surrounds, overlaps or cuts them. */
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

#include "util/log.h"

static char log_path[] = "/tmp/as-test-log-XXXXXX";

static int setup(void **state)
{
    (void)state;
    int fd = mkstemp(log_path);
    if (fd < 0)
        return -1;
    close(fd);
    as_log_stderr(0);
    as_log_secrets_clear();
    return as_log_open(log_path);
}

static int teardown(void **state)
{
    (void)state;
    as_log_close();
    as_log_secrets_clear();
    as_log_stderr(1);
    unlink(log_path);
    memcpy(log_path + strlen(log_path) - 6, "XXXXXX", 6);
    return 0;
}

/* The message part of the last line written (after "TIMESTAMP LEVEL "); caller frees. */
static char *last_message(void)
{
    FILE *f = fopen(log_path, "r");
    assert_non_null(f);
    static char line[8192];
    char *last = NULL;
    while (fgets(line, sizeof(line), f) != NULL) {
        free(last);
        last = strdup(line);
    }
    fclose(f);
    assert_non_null(last);
    last[strcspn(last, "\n")] = '\0';
    char *msg = strstr(last, "INFO  ");
    assert_non_null(msg);
    char *out = strdup(msg + 6);
    free(last);
    return out;
}

static void assert_logged(const char *message, const char *want)
{
    AS_LOG(AS_INFO, "%s", message);
    char *got = last_message();
    int same = strcmp(got, want) == 0;
    if (!same)
        print_error("logged  %s\nwant    %s\ngot     %s\n", message, want, got);
    free(got);
    assert_true(same);
}

static void test_no_secrets(void **state)
{
    (void)state;
    assert_int_equal(as_log_secret_count(), 0);
    assert_logged("source/http_json[web/cpu]: http://x/a?b: refused",
                  "source/http_json[web/cpu]: http://x/a?b: refused");
}

static void test_masks_every_occurrence(void **state)
{
    (void)state;
    assert_int_equal(as_log_secret("s3cr3t-tok", 10), 0);
    assert_int_equal(as_log_secret_count(), 1);
    /* In a path, a bare query, an argument, at both ends, and the whole message. */
    assert_logged("GET http://x/s3cr3t-tok/status?s3cr3t-tok: refused",
                  "GET http://x/***/status?***: refused");
    assert_logged("s3cr3t-tok--token=s3cr3t-tok", "***--token=***");
    assert_logged("s3cr3t-tok", "***");
    assert_logged("s3cr3t-to s3cr3t-tOk", "s3cr3t-to s3cr3t-tOk"); /* exact bytes only */
}

static void test_lengths_and_short_values(void **state)
{
    (void)state;
    assert_int_equal(as_log_secret("abc", 3), 0); /* too short: ignored */
    assert_int_equal(as_log_secret("", 0), 0);
    assert_int_equal(as_log_secret_count(), 0);
    assert_int_equal(as_log_secret("wxyz", 4), 0);                /* indexed by 4 bytes */
    assert_int_equal(as_log_secret("pass-word", 9), 0);           /* by 8 */
    assert_int_equal(as_log_secret("0123456789abcdefXY", 18), 0); /* by 16 */
    assert_int_equal(as_log_secret("wxyz", 4), 0);                /* again: kept once */
    assert_int_equal(as_log_secret_count(), 3);
    assert_logged("abc wxyz pass-word 0123456789abcdefXY 0123456789abcdefX.",
                  "abc *** *** *** 0123456789abcdefX.");
}

/* Secrets that overlap, nest or touch are masked as their union: no piece of one is left. */
static void test_overlapping_and_adjacent(void **state)
{
    (void)state;
    assert_int_equal(as_log_secret("abcdef", 6), 0);
    assert_int_equal(as_log_secret("cdefgh", 6), 0);
    assert_int_equal(as_log_secret("1234", 4), 0);
    assert_int_equal(as_log_secret("5678", 4), 0);
    assert_int_equal(as_log_secret("outer-INNER-outer", 17), 0);
    assert_int_equal(as_log_secret("INNER", 5), 0);
    assert_logged("x abcdefgh y", "x *** y");          /* overlapping */
    assert_logged("x 12345678 y", "x *** y");          /* adjacent */
    assert_logged("x 1234abcdefgh5678 y", "x *** y");  /* a chain of both */
    assert_logged("x outer-INNER-outer y", "x *** y"); /* nested */
    assert_logged("x INNER-outer y", "x ***-outer y");
    assert_logged("x 1234 5678 y", "x *** *** y"); /* apart */
}

/* Tokens that share their first bytes ("ghp_...") are all found. */
static void test_common_prefixes(void **state)
{
    (void)state;
    assert_int_equal(as_log_secret("ghp_aaaa1111", 12), 0);
    assert_int_equal(as_log_secret("ghp_aaaa2222", 12), 0);
    assert_int_equal(as_log_secret("ghp_aaaa", 8), 0);
    assert_logged("a=ghp_aaaa2222 b=ghp_aaaa1111 c=ghp_aaaa3333 d=ghp_",
                  "a=*** b=*** c=***3333 d=ghp_");
}

/* With 100000 secrets each line still finds its own, and leaves look-alikes alone. */
static void test_many_secrets(void **state)
{
    (void)state;
    for (int i = 0; i < 100000; i++) {
        char tok[40];
        int n = snprintf(tok, sizeof(tok), "token-%06d-%08x", i, (unsigned)i * 2654435761u);
        assert_int_equal(as_log_secret(tok, (size_t)n), 0);
    }
    assert_int_equal(as_log_secret_count(), 100000);
    char tok[40], msg[200], want[200];
    for (int i = 0; i < 100000; i += 9973) {
        int n = snprintf(tok, sizeof(tok), "token-%06d-%08x", i, (unsigned)i * 2654435761u);
        /* The token, and a look-alike that differs in its last byte. */
        snprintf(msg, sizeof(msg), "GET http://x/g%d/%s?%.*sZ", i, tok, n - 1, tok);
        snprintf(want, sizeof(want), "GET http://x/g%d/***?%.*sZ", i, n - 1, tok);
        assert_logged(msg, want);
    }
}

/* A message longer than a line is masked before it is cut: the start of a secret that the cut
 * would have kept is not left at the end of the line. */
static void test_cut_line(void **state)
{
    (void)state;
    const char *secret = "SECRET-0123456789-abcdefghij";
    assert_int_equal(as_log_secret(secret, strlen(secret)), 0);
    for (size_t pad = 1980; pad < 2060; pad += 3) {
        char msg[4096];
        memset(msg, '.', pad);
        snprintf(msg + pad, sizeof(msg) - pad, "%s and more", secret);
        AS_LOG(AS_INFO, "%s", msg);
        char *got = last_message();
        assert_null(strstr(got, "SECR"));
        assert_true(strlen(got) < 2048);
        free(got);
    }
}

/* A secret that something cut short before logging (a bounded response body at the end of the
 * message) is masked from its index prefix (4, 8 or 16 bytes, by its length) to the end. */
static void test_cut_short_at_the_end(void **state)
{
    (void)state;
    assert_int_equal(as_log_secret("tkn-0123456789abcdef0123", 24), 0);
    assert_int_equal(as_log_secret("pw-12345678", 11), 0);
    assert_logged("HTTP 500: /svc/?tkn-0123456789abcdef01", "HTTP 500: /svc/?***");
    assert_logged("HTTP 500: /svc/?tkn-0123456789abcdef", "HTTP 500: /svc/?***");
    assert_logged("HTTP 500: /svc/?pw-12345", "HTTP 500: /svc/?***");
    assert_logged("HTTP 500: /svc/?pw-1234", "HTTP 500: /svc/?pw-1234"); /* under 8 bytes */
    assert_logged("tkn-0123456789abcdef01 in the middle", "tkn-0123456789abcdef01 in the middle");
}

/* Secrets with a newline are matched before newlines become spaces. */
static void test_newlines(void **state)
{
    (void)state;
    assert_int_equal(as_log_secret("line1\nline2", 11), 0);
    assert_logged("a line1\nline2 b\nc", "a *** b c");
}

/* as_log_mask on its own, as as_log_write uses it. */
static void test_mask_in_place(void **state)
{
    (void)state;
    char s[] = "aaaa-bbbb";
    assert_int_equal(as_log_mask(s, strlen(s)), strlen(s)); /* nothing registered */
    assert_int_equal(as_log_secret("bbbb", 4), 0);
    assert_int_equal(as_log_mask(s, strlen(s)), 8);
    assert_string_equal(s, "aaaa-***");
}

static void *register_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        char tok[32];
        int n = snprintf(tok, sizeof(tok), "thread-secret-%d", i);
        if (as_log_secret(tok, (size_t)n) < 0)
            return "oom";
    }
    return NULL;
}

/* The configuration may be parsed on a thread while the loop logs. */
static void test_threads(void **state)
{
    (void)state;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, register_many, NULL), 0);
    for (int i = 0; i < 2000; i++)
        AS_LOG(AS_INFO, "round %d: thread-secret-%d", i, i);
    void *rc;
    assert_int_equal(pthread_join(t, &rc), 0);
    assert_null(rc);
    assert_int_equal(as_log_secret_count(), 2000);
    assert_logged("x thread-secret-1999 y", "x *** y");
}

/* The whole log file, and how many lines hold needle. */
static int count_lines(const char *needle)
{
    FILE *f = fopen(log_path, "r");
    assert_non_null(f);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* A fault repeated every round is logged when it starts and when it changes (numbers aside),
 * at DEBUG in between; the recovery once, with the number of repeats. */
static void test_fault_logged_on_change(void **state)
{
    (void)state;
    struct as_fault_log f = {0};
    enum as_log_level saved = as_log_min;
    as_log_min = AS_INFO;
    as_log_recovered(&f, "nothing to recover from"); /* no fault yet: silent */
    for (int i = 0; i < 5; i++)
        as_log_fault(&f, AS_ERROR, "src: timeout after %d ms", 800 + i);
    assert_int_equal(count_lines("ERROR src: timeout after"), 1);
    as_log_fault(&f, AS_ERROR, "src: HTTP 500: down");
    as_log_fault(&f, AS_ERROR, "src: HTTP 503: down");
    assert_int_equal(count_lines("ERROR src: HTTP 500: down"), 1);
    assert_int_equal(count_lines("HTTP 503"), 0);
    as_log_recovered(&f, "src: measuring again");
    assert_int_equal(count_lines("INFO  src: measuring again (after 1 repeat of the fault)"), 1);
    as_log_recovered(&f, "src: measuring again");
    assert_int_equal(count_lines("measuring again"), 1);
    as_log_fault(&f, AS_ERROR, "src: timeout after 900 ms"); /* a new fault after recovery */
    assert_int_equal(count_lines("ERROR src: timeout after"), 2);
    as_log_min = saved;
}

/* A long reason at INFO keeps its last part (the rule that settled the count) and its start. */
static void test_shorten(void **state)
{
    (void)state;
    char r[400];
    snprintf(r, sizeof(r), "cpu=0.3 target=0.8: ceil(0.39*8)=4");
    assert_int_equal(as_log_shorten(r, 60), strlen("cpu=0.3 target=0.8: ceil(0.39*8)=4"));
    assert_string_equal(r, "cpu=0.3 target=0.8: ceil(0.39*8)=4"); /* fits: unchanged */
    snprintf(r, sizeof(r),
             "cpu=0.3125 target=0.8 ratio=0.391: ceil(0.391*8)=4; held at 8 by "
             "the 30 s scale-down window (wanted 4)");
    size_t n = as_log_shorten(r, 70);
    assert_true(n <= 70);
    assert_int_equal(n, strlen(r));
    assert_string_equal(r, "cpu=0.3125 ... held at 8 by the 30 s scale-down window (wanted 4)");
    /* no room for the start: the rule alone */
    snprintf(r, sizeof(r),
             "cpu=0.3125 target=0.8 ratio=0.391: ceil(0.391*8)=4; held at 8 by "
             "the 30 s scale-down window (wanted 4)");
    assert_int_equal(as_log_shorten(r, 56), 54);
    assert_string_equal(r, "... held at 8 by the 30 s scale-down window (wanted 4)");
    /* several parts: the middle ones go first, no dangling separator */
    snprintf(r, sizeof(r),
             "q=40 > max_queue_size 10: 1+2=3; capped at max 2 (wanted 3); held "
             "at 1 by the cooldown, 12 s left (wanted 2)");
    n = as_log_shorten(r, 80);
    assert_true(n <= 80);
    assert_string_equal(r, "q=40 > max_queue_size 10: ... held at 1 by the cooldown, 12 s left "
                           "(wanted 2)");
    /* one long part: its start and its end, cut between words */
    snprintf(r, sizeof(r),
             "stable window ceil(20/1)=20, panic window ceil(30/1)=30, within "
             "[0,50], 5 ready: the panic window wants 6x the ready >= threshold "
             "2: panic extended: desired max(stable 20, panic 30)=30");
    n = as_log_shorten(r, 80);
    assert_true(n <= 80 && n >= 60);
    assert_non_null(strstr(r, " ... "));
    assert_int_equal(strncmp(r, "stable window", 13), 0);
    assert_non_null(strstr(r, "max(stable 20, panic 30)=30"));
    /* never inside a UTF-8 character */
    snprintf(
        r, sizeof(r), "%s",
        "m\xc3\xa9trique=\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    n = as_log_shorten(r, 31);
    assert_true(n <= 31);
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)r[i] & 0xC0) == 0xC0)
            assert_true(i + 1 < n && ((unsigned char)r[i + 1] & 0xC0) == 0x80);
}

/* A long fault (an API's whole error message) is logged whole, and two long faults that
 * differ only near their end are two faults (a 192-byte copy once cut both the line and the
 * comparison). */
static void test_long_fault_whole(void **state)
{
    (void)state;
    struct as_fault_log f = {0};
    char msg[600];
    memset(msg, 'x', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    as_log_fault(&f, AS_ERROR, "src: %s: no decision, hold", msg);
    assert_int_equal(count_lines("x: no decision, hold"), 1);
    as_log_fault(&f, AS_ERROR, "src: %s: no decision, hold 3", msg);
    assert_int_equal(count_lines("x: no decision, hold 3"), 1);
    assert_int_equal(sizeof(f) <= 24, 1); /* no copy of the text kept */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_masks_every_occurrence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lengths_and_short_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlapping_and_adjacent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_common_prefixes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_short_at_the_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newlines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mask_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_logged_on_change, setup, teardown),
        cmocka_unit_test(test_shorten),
        cmocka_unit_test_setup_teardown(test_long_fault_whole, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
