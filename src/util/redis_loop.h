/* hiredis' asynchronous API on our loop (util/loop.h), written against hiredis 0.14.
 *
 * The socket of a redisAsyncContext is watched with as_loop_watch_fd; its read and write
 * events drive redisAsyncHandleRead/Write, and hiredis' addRead/delRead/addWrite/delWrite
 * hooks change what is watched. The adapter's state is freed by hiredis' cleanup hook, that
 * is when the context is freed (redisAsyncFree, or a connection that fails or closes).
 *
 * It also guards the daemon against a server that misbehaves, since hiredis 0.14 asserts (and
 * so aborts the process) on a reply that no command asked for:
 *  - a reply that arrives while no command is waiting for one (bytes a server sends unasked,
 *    an extra reply after the last one, data on an idle connection) closes the connection:
 *    "the server sent a reply no command asked for". An error reply is let through: hiredis
 *    closes the connection with its text itself (e.g. "ERR max number of clients reached").
 *  - a reply made of more than AS_REDIS_MAX_OBJECTS elements (all levels counted), or more than
 *    AS_REDIS_MAX_BUFFER bytes buffered without a complete reply, closes the connection.
 *    (Debian's hiredis 0.14.1 itself refuses a negative or out-of-range length.)
 * The commands waiting then get a NULL reply, and as_redis_error() says why. Subscriptions and
 * MONITOR, whose messages come unasked by design, are not guarded: do not use them. */
#ifndef AS_REDIS_LOOP_H
#define AS_REDIS_LOOP_H

#include <stddef.h>

#include <hiredis/async.h>

struct as_loop;

#define AS_REDIS_MAX_OBJECTS (1L << 20)         /* elements in one reply */
#define AS_REDIS_MAX_BUFFER (16L * 1024 * 1024) /* bytes of one incomplete reply */

/* Attaches ac (fresh from redisAsyncConnect, without an error) to loop. Call it before
 * redisAsyncSetConnectCallback and before any command. Returns 0, or -1 on ENOMEM or when ac
 * is already attached to an event library (ac is then unchanged; free it yourself). */
int as_redis_attach(struct as_loop *loop, redisAsyncContext *ac);

/* Why ac's commands got a NULL reply or why it closed: the adapter's own reason when it closed
 * the connection (above), else hiredis' error text ("Connection refused", "Server closed the
 * connection"), else "connection closed". Borrowed until ac is freed. */
const char *as_redis_error(const redisAsyncContext *ac);

/* A reply reader with the adapter's limits but no connection (so no check for unasked
 * replies), for tests and fuzzing: redisReaderFeed and redisReaderGetReply as usual. NULL on
 * ENOMEM. Free with as_redis_reader_free (NULL-safe). */
redisReader *as_redis_reader_new(void);
void as_redis_reader_free(redisReader *r);

/* Why the reader failed: a limit's reason, else hiredis' error text. */
const char *as_redis_reader_error(const redisReader *r);

#endif
