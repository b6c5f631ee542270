/* The client side of the daemon's HTTP API (docs/api.md), for `autoscaler status`, `queue` and
 * `workers`: where the API is (--url, else the configuration's http.listen), the token to send,
 * and one blocking GET with libcurl's easy interface (a command, not the daemon's loop). */
#ifndef AS_API_CLIENT_H
#define AS_API_CLIENT_H

#include <jansson.h>

#include "config/config.h"
#include "util/err.h"

struct as_api_target {
    char url[512]; /* "http://127.0.0.1:9711", no trailing slash */
    char *token;   /* owned; NULL: none */
    char *cafile;  /* owned; NULL: the system's */
    int pin;       /* cafile is the daemon's own certificate: trusted as is, any host name */
    char *config;  /* owned: the real path of the configuration it came from; NULL: --url */
};

/* The target of a command: url (--url) wins; else cfg's http.listen (a wildcard address is
 * reached on loopback; https with the daemon's own certificate pinned when it has tls_cert).
 * The token: token_file's first line, else $AUTOSCALER_TOKEN, else cfg's http.token. cfg and
 * the other arguments may be NULL. Returns 0, or -1 with err (the server is off, an unreadable
 * token file). Free with as_api_target_free. */
int as_api_target(struct as_api_target *t, const struct as_config *cfg, const char *url,
                  const char *token_file, struct as_err *err);

void as_api_target_free(struct as_api_target *t);

/* GET path (with its query). Returns the HTTP status with *out the parsed JSON answer (caller
 * json_decrefs; the body of an error answer too, when it is JSON); or -1 with err when the
 * daemon could not be reached or did not answer JSON ("cannot reach http://...: ..."). */
long as_api_get(const struct as_api_target *t, const char *path, json_t **out, struct as_err *err);

/* When t came from a configuration: checks that the daemon answering runs that same file
 * (two daemons on a host may share the default address). Returns 0, or -1 with err. */
int as_api_same_config(const struct as_api_target *t, struct as_err *err);

#endif
