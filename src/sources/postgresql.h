/* The checks of source `postgresql` (postgresql.c) that need no server, apart for tests. */
#ifndef AS_SOURCES_POSTGRESQL_H
#define AS_SOURCES_POSTGRESQL_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* Checks a connection string (key=value or postgresql:// URI) without connecting: it parses,
 * and every host it names is an IP address, a Unix-socket directory or "localhost" unless
 * hostaddr is given too (libpq resolves names synchronously, which would stall the event loop).
 * An empty host falls back to env_host (PGHOST), an empty hostaddr to env_hostaddr (PGHOSTADDR);
 * either may be NULL. *connect_timeout_ms gets the string's connect_timeout (0: none; 1 second
 * counts as 2, as libpq does). Returns 0, or -1 with a one-line reason that never quotes the
 * string itself (it may hold a password). */
int as_pg_check_dsn(const char *dsn, const char *env_host, const char *env_hostaddr,
                    int64_t *connect_timeout_ms, char *why, size_t whylen);

/* The one number a query's result holds: one row, one column of a numeric type (smallint,
 * integer, bigint, real, double precision, numeric), not NULL, finite and >= 0. An error result
 * gives the server's message. Returns 0 with *out, or -1 with a one-line reason. */
int as_pg_result_value(PGresult *r, double *out, char *why, size_t whylen);

/* Copies msg (a libpq message, possibly several lines) into buf as one line: runs of white
 * space become one space, the ends are trimmed. Returns buf. */
const char *as_pg_one_line(const char *msg, char *buf, size_t len);

#endif
