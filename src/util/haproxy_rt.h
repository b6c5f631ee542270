/* The HAProxy Runtime API (the stats socket, HAProxy 2.6 management guide, section 9.3) on
 * our loop, and the parsers of its answers.
 *
 * One command per connection, in the socket's non-interactive mode: connect, send the
 * command and a newline, read until HAProxy closes the connection. Every command has a
 * timeout and a bounded answer (AS_HART_REPLY_MAX). The Runtime API answers errors as text,
 * not codes: the caller compares the answer with what the command prints on success
 * (as_hart_reply_is). The parsers never trust the answer: a line or a field that does not fit
 * is an error, never a guess. */
#ifndef AS_HAPROXY_RT_H
#define AS_HAPROXY_RT_H

#include <stddef.h>
#include <stdint.h>

struct as_loop;
struct as_hart;

#define AS_HART_REPLY_MAX (8 * 1024 * 1024) /* bytes of one answer */
#define AS_HART_CMD_MAX 1024                /* bytes of one command */
#define AS_HART_NAME_MAX 128                /* a backend or server name and its NUL */
#define AS_HART_SERVERS_MAX 4096            /* servers of one backend */

/* Checks a socket address: "/path" or "unix@PATH" (a UNIX socket; a relative path is taken
 * from the working directory), or "IPV4:PORT" / "ipv4@IPV4:PORT" (TCP). Returns 0, or -1 with
 * why. */
int as_hart_addr_check(const char *addr, char *why, size_t why_len);

/* The answer: reply (NUL-terminated, len bytes) or NULL and error ("connect
 * /run/haproxy.sock: No such file or directory", "timeout after 2000 ms"); borrowed for the
 * call. */
typedef void (*as_hart_cb)(const char *reply, size_t len, const char *error, void *arg);

/* Sends cmd (one line, no newline in it, at most AS_HART_CMD_MAX bytes) to addr. cb runs
 * exactly once, from the loop (never from inside this call), unless as_hart_cancel is called
 * first. Returns the handle (owned by this module, invalid once cb runs), or NULL on ENOMEM
 * or a bad cmd (cb will not run). */
struct as_hart *as_hart_send(struct as_loop *loop, const char *addr, const char *cmd,
                             int64_t timeout_ms, as_hart_cb cb, void *arg);

/* Closes the connection; cb will not run. NULL is a no-op. */
void as_hart_cancel(struct as_hart *h);

/* Whether the answer, without trailing blanks and newlines, is exactly expect ("" for the
 * commands that print nothing on success). */
int as_hart_reply_is(const char *reply, size_t len, const char *expect);

/* The first non-empty line of an answer, printable and bounded, into buf. Returns buf. */
const char *as_hart_reply_line(const char *reply, size_t len, char *buf, size_t buf_len);

/* SRV_ADMF_* of `show servers state`'s srv_admin_state (management guide, 9.3). */
#define AS_HART_ADMIN_MAINT 0x27u  /* FMAINT, IMAINT, CMAINT, RMAINT */
#define AS_HART_ADMIN_DRAIN 0x18u  /* FDRAIN, IDRAIN */
#define AS_HART_ADMIN_FMAINT 0x01u /* forced (`disable server`, `set server ... state maint`) */
#define AS_HART_ADMIN_FDRAIN 0x08u /* forced (`set server ... state drain`) */

/* One server of a backend, as the two answers below describe it. */
struct as_hart_server {
    char name[AS_HART_NAME_MAX];
    char addr[80]; /* srv_addr, an IP address ("-" or "" unknown) */
    int port;      /* srv_port, 0 unknown */
    int op;        /* srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping */
    unsigned admin;
    int weight;      /* srv_uweight */
    long scur;       /* `show stat`: current sessions; -1 before as_hart_merge_stat */
    long qcur;       /* queued requests; -1 unknown */
    int backup;      /* `show stat` bck = 1 */
    char status[32]; /* `show stat` status ("UP", "DRAIN", "MAINT", "DOWN", "no check") */
};

/* Parses `show servers state BACKEND` (format version 1): the servers of backend in order,
 * at most max, into v and *n (scur and qcur -1). Returns 0, or -1 with why (an error answer
 * such as "Can't find backend." is quoted in it). */
int as_hart_parse_state(const char *text, size_t len, const char *backend, struct as_hart_server *v,
                        size_t max, size_t *n, char *why, size_t why_len);

/* Fills scur, qcur, backup and status of v[0..n) from `show stat BACKEND 4 -1` (CSV with a
 * "# pxname,svname,..." header; the columns found by name). Rows of other proxies and of
 * servers not in v are skipped; a server in v without a row keeps scur -1. Returns 0, or -1
 * with why. */
int as_hart_merge_stat(const char *text, size_t len, const char *backend, struct as_hart_server *v,
                       size_t n, char *why, size_t why_len);

#endif
