/* sources/postgresql without a server: the connection string check (no host name may reach
 * libpq's synchronous resolver, no password may reach a message) and the reading of a result
 * (built with libpq's PQmakeEmptyPGresult). The server side is tests/integration. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/postgresql.h"
#include "util/util.h"

static void expect_dsn_ok(const char *dsn, const char *env_host, const char *env_hostaddr,
                          int64_t want_timeout_ms)
{
    char why[256] = "";
    int64_t ms = -1;
    if (as_pg_check_dsn(dsn, env_host, env_hostaddr, &ms, why, sizeof(why)) < 0)
        fail_msg("%s: %s", dsn, why);
    if (ms != want_timeout_ms)
        fail_msg("%s: connect_timeout %lld ms, not %lld", dsn, (long long)ms,
                 (long long)want_timeout_ms);
}

static void expect_dsn_bad(const char *dsn, const char *env_host, const char *part,
                           const char *secret)
{
    char why[256] = "";
    int64_t ms = -1;
    if (as_pg_check_dsn(dsn, env_host, NULL, &ms, why, sizeof(why)) == 0)
        fail_msg("%s accepted", dsn);
    if (strstr(why, part) == NULL)
        fail_msg("%s: \"%s\" does not say \"%s\"", dsn, why, part);
    if (secret != NULL && strstr(why, secret) != NULL)
        fail_msg("%s: \"%s\" shows the secret", dsn, why);
}

static void test_dsn_hosts(void **state)
{
    (void)state;
    expect_dsn_ok("host=127.0.0.1 port=5432 dbname=jobs user=app", NULL, NULL, 0);
    expect_dsn_ok("postgresql://app:pw@127.0.0.1:5432/jobs", NULL, NULL, 0);
    expect_dsn_ok("postgresql://app@[::1]:5432/jobs", NULL, NULL, 0);
    expect_dsn_ok("host=/var/run/postgresql dbname=jobs", NULL, NULL, 0);
    expect_dsn_ok("host=localhost", NULL, NULL, 0);
    expect_dsn_ok("host=10.0.0.1,10.0.0.2 port=5432,5433", NULL, NULL, 0);
    expect_dsn_ok("dbname=jobs", NULL, NULL, 0); /* the default socket */
    /* a name with its address: libpq connects to hostaddr and resolves nothing */
    expect_dsn_ok("host=db.example.com hostaddr=10.0.0.5 sslmode=verify-full", NULL, NULL, 0);
    expect_dsn_ok("postgresql://app@db.example.com/jobs?hostaddr=10.0.0.5", NULL, NULL, 0);
    expect_dsn_ok("dbname=jobs", "db.example.com", "10.0.0.5", 0);
    expect_dsn_ok("dbname=jobs", "127.0.0.1", NULL, 0);

    expect_dsn_bad("host=db.example.com dbname=jobs", NULL, "host 'db.example.com' is a name",
                   NULL);
    expect_dsn_bad("postgresql://app:s3cr3tpw@db.example.com/jobs", NULL,
                   "host 'db.example.com' is a name", "s3cr3tpw");
    expect_dsn_bad("host=10.0.0.1,db2.example.com", NULL, "host 'db2.example.com'", NULL);
    expect_dsn_bad("dbname=jobs", "db.example.com", "host 'db.example.com'", NULL);
}

static void test_dsn_connect_timeout(void **state)
{
    (void)state;
    expect_dsn_ok("host=127.0.0.1 connect_timeout=10", NULL, NULL, 10000);
    expect_dsn_ok("host=127.0.0.1 connect_timeout=1", NULL, NULL, 2000); /* libpq's minimum */
    expect_dsn_ok("host=127.0.0.1 connect_timeout=0", NULL, NULL, 0);
    expect_dsn_ok("postgresql://127.0.0.1/x?connect_timeout=3", NULL, NULL, 3000);
    expect_dsn_bad("host=127.0.0.1 connect_timeout=soon", NULL, "connect_timeout", NULL);
    expect_dsn_bad("host=127.0.0.1 connect_timeout=99999", NULL, "connect_timeout", NULL);
}

static void test_dsn_syntax_never_shows_the_string(void **state)
{
    (void)state;
    expect_dsn_bad("host=127.0.0.1 password=hunter22 junk", NULL, "not a valid connection string",
                   "hunter22");
    expect_dsn_bad("host=127.0.0.1 password=hunter22 junk", NULL, "not a valid", "junk");
    expect_dsn_bad("postgresql://app:hunter22@127.0.0.1/%zz", NULL, "not a valid", "hunter22");
    expect_dsn_bad("postgresql://app:hunter22@[::1/x", NULL, "not a valid", "hunter22");
    expect_dsn_bad("host='127.0.0.1 password=hunter22", NULL, "not a valid", "hunter22");
    expect_dsn_bad("host=127.0.0.1 passwrd=hunter22", NULL, "not a valid", "hunter22");
}

/* ---- results ---- */

static PGresult *result(ExecStatusType st, Oid type, int ncols, int nrows, const char *value)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, st);
    assert_non_null(r);
    if (st != PGRES_TUPLES_OK)
        return r;
    PGresAttDesc cols[2] = {
        {.name = "n", .typid = type, .typlen = -1, .atttypmod = -1},
        {.name = "m", .typid = type, .typlen = -1, .atttypmod = -1},
    };
    assert_true(PQsetResultAttrs(r, ncols, cols));
    for (int row = 0; row < nrows; row++)
        for (int col = 0; col < ncols; col++)
            assert_true(PQsetvalue(r, row, col, (char *)value, value ? (int)strlen(value) : -1));
    return r;
}

static void expect_number(Oid type, const char *text, double want)
{
    PGresult *r = result(PGRES_TUPLES_OK, type, 1, 1, text);
    char why[256] = "";
    double v = -1;
    if (as_pg_result_value(r, &v, why, sizeof(why)) < 0)
        fail_msg("%s (oid %u): %s", text, (unsigned)type, why);
    if (v != want)
        fail_msg("%s: %g, not %g", text, v, want);
    PQclear(r);
}

static void expect_refused(PGresult *r, const char *part)
{
    char why[256] = "";
    double v = -1;
    if (as_pg_result_value(r, &v, why, sizeof(why)) == 0)
        fail_msg("read as %g", v);
    if (strstr(why, part) == NULL)
        fail_msg("\"%s\" does not say \"%s\"", why, part);
    PQclear(r);
}

static void test_result_numbers(void **state)
{
    (void)state;
    expect_number(20, "7", 7);           /* bigint: count(*) */
    expect_number(23, "0", 0);           /* integer */
    expect_number(21, "12", 12);         /* smallint */
    expect_number(1700, "2.50", 2.5);    /* numeric: avg(), sum() */
    expect_number(701, "1e+100", 1e100); /* double precision */
    expect_number(700, "0.25", 0.25);    /* real */
    expect_number(1700, "-0", 0);
}

static void test_result_refused(void **state)
{
    (void)state;
    expect_refused(result(PGRES_TUPLES_OK, 20, 1, 0, NULL), "no row");
    expect_refused(result(PGRES_TUPLES_OK, 20, 1, 2, "1"), "returned 2 rows, not one");
    expect_refused(result(PGRES_TUPLES_OK, 20, 2, 1, "1"), "returned 2 columns, not one");
    expect_refused(result(PGRES_TUPLES_OK, 20, 1, 1, NULL), "column \"n\" is NULL");
    expect_refused(result(PGRES_TUPLES_OK, 25, 1, 1, "5"), "column \"n\" is not a number");
    expect_refused(result(PGRES_TUPLES_OK, 1186, 1, 1, "00:05:00"), "type oid 1186");
    expect_refused(result(PGRES_TUPLES_OK, 701, 1, 1, "NaN"), "is NaN, not a finite number");
    expect_refused(result(PGRES_TUPLES_OK, 701, 1, 1, "Infinity"), "not a finite number");
    expect_refused(result(PGRES_TUPLES_OK, 1700, 1, 1, "-3"), "negative (-3)");
    expect_refused(result(PGRES_COMMAND_OK, 0, 0, 0, NULL), "a command");
    expect_refused(result(PGRES_EMPTY_QUERY, 0, 0, 0, NULL), "a command (empty)");
    PGresult *r = result(PGRES_FATAL_ERROR, 0, 0, 0, NULL);
    double v;
    char why[64];
    assert_int_equal(as_pg_result_value(r, &v, why, sizeof(why)), -1);
    PQclear(r);
}

static void test_one_line(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(as_pg_one_line("connection to server failed: refused\n\tIs the server "
                                       "running?\n",
                                       buf, sizeof(buf)),
                        "connection to server failed: refused Is the server running?");
    assert_string_equal(as_pg_one_line("  \n", buf, sizeof(buf)), "");
    assert_string_equal(as_pg_one_line(NULL, buf, sizeof(buf)), "");
    assert_string_equal(as_pg_one_line("a\x01z", buf, sizeof(buf)), "a.z");
    assert_string_equal(as_pg_one_line("abcdefgh", buf, 5), "abcd");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dsn_hosts),
        cmocka_unit_test(test_dsn_connect_timeout),
        cmocka_unit_test(test_dsn_syntax_never_shows_the_string),
        cmocka_unit_test(test_result_numbers),
        cmocka_unit_test(test_result_refused),
        cmocka_unit_test(test_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
