/* The top-level `http:` section: the daemon's HTTP server (/metrics, /api/v1, the dashboard;
 * src/api/). On by default on 127.0.0.1 (docs/api.md says why); `listen: ""` turns it off.
 * Binding any address other than a loopback one requires a `token`, given by reference. */
#ifndef AS_SERVER_CFG_H
#define AS_SERVER_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/cfg.h"
#include "config/opt.h"
#include "util/err.h"

#define AS_HTTP_DEFAULT_PORT 9711
#define AS_HTTP_DEFAULT_LISTEN "127.0.0.1:9711"
#define AS_HTTP_TOKEN_MIN 16      /* bytes: shorter tokens are refused */
#define AS_HTTP_PEM_MAX (1 << 20) /* a certificate or key file */

enum as_http_auth { AS_HTTP_AUTH_WRITES = 0, AS_HTTP_AUTH_ALL };

struct as_server_cfg {
    char *listen;   /* "HOST:PORT"; "" off */
    char *token;    /* bearer token; NULL none (mutations are then refused) */
    int auth;       /* enum as_http_auth: what needs the token besides mutations */
    char *tls_cert; /* PEM file paths, both or neither */
    char *tls_key;
    int max_connections;
    int max_request;       /* bytes of a request's body, and the bound of its headers */
    int64_t timeout_ms;    /* an idle connection is closed after this */
    int history_rounds;    /* rounds kept per group for the API and the dashboard */
    int history_rounds_total; /* ... and across all groups: each keeps its share at most */
    int history_decisions; /* decisions (with their reasons) kept per group */
    /* derived */
    int off;                      /* listen is "" */
    int listen_given;             /* `listen` was written (else the default) */
    struct sockaddr_storage addr; /* where to bind */
    socklen_t addrlen;
    int loopback;    /* addr is 127.0.0.0/8 or ::1 */
    char *cert_file; /* tls_cert's path, taken from the file's directory when relative */
    char *cert_pem;  /* the files' contents, read when the configuration is loaded */
    char *key_pem;
    int line, col; /* where `http:` is (or the top of the file) */
};

/* The section's keys, for `autoscaler options` and the docs. */
extern const struct as_opt as_server_opts[];

/* Parses `http:` (node may be NULL: every default) into a new *out. Relative TLS paths are
 * taken from the directory of the file node came from (root: the document's root, for its
 * position and file when node is NULL). Returns 0, or -1 with err at the exact position; *out
 * is then NULL. Free with as_server_cfg_free. */
int as_server_cfg_parse(struct as_node *node, const struct as_node *root,
                        struct as_server_cfg **out, struct as_err *err);

void as_server_cfg_free(struct as_server_cfg *s);

/* Parses "HOST:PORT" (HOST a numeric IPv4 address, "[IPv6]", "localhost" or "*" for every
 * IPv4 address; PORT 1..65535) into addr. Never allocates. Returns 0, or -1 with err->msg. */
int as_listen_parse(const char *text, struct sockaddr_storage *addr, socklen_t *len, int *loopback,
                    struct as_err *err);

/* "127.0.0.1:9711" or "[::1]:9711" for addr, into buf. Returns buf. */
const char *as_listen_fmt(const struct sockaddr_storage *addr, char *buf, size_t len);

#endif
