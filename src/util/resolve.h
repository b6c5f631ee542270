/* Host names resolved without blocking the loop: getaddrinfo runs on a thread of its own (as
 * libcurl's threaded resolver does), and the answer comes back through the loop. */
#ifndef AS_RESOLVE_H
#define AS_RESOLVE_H

struct as_loop;
struct as_resolve;

#define AS_RESOLVE_ADDR_MAX 64

/* The answer: addr is the first IPv4 address found, else the first IPv6 one, in numeric
 * form; or NULL and error says why (getaddrinfo's message). Both borrowed for the call. */
typedef void (*as_resolve_cb)(const char *addr, const char *error, void *arg);

/* Whether host is already a numeric IPv4 or IPv6 address (nothing to resolve). */
int as_resolve_is_numeric(const char *host);

/* Starts resolving host (at most 253 bytes). cb runs exactly once, from the loop, unless
 * as_resolve_cancel() is called first; the handle is invalid once cb runs. Returns the
 * handle, or NULL (errno: ENOMEM, EAGAIN when no thread can be started, ENAMETOOLONG). */
struct as_resolve *as_resolve_start(struct as_loop *loop, const char *host, as_resolve_cb cb,
                                    void *arg);

/* cb will not run. getaddrinfo cannot be interrupted: its thread runs to its end and then
 * frees what is left. NULL is a no-op. */
void as_resolve_cancel(struct as_resolve *r);

#endif
