/* The daemon's HTTP server (docs/api.md): /metrics, /api/v1/..., /healthz, /readyz and the
 * dashboard at /, served by libmicrohttpd in its external-epoll mode on the daemon's own loop
 * (docs/design.md says why): every handler runs on the loop thread and reads the engine
 * directly, with no lock and no copy; every socket is non-blocking, so a slow client holds
 * only its own connection (bounded in number, size and idle time by `http:`). */
#ifndef AS_API_SERVER_H
#define AS_API_SERVER_H

#include "config/config.h"
#include "drivers/engine.h"
#include "util/err.h"

struct as_loop;
struct as_api;

/* A server for eng's daemon, not listening yet. NULL on ENOMEM. */
struct as_api *as_api_new(struct as_loop *loop, struct as_engine *eng);

/* Listens as cfg->http says (nothing when it is off), or, on a reload, restarts the listener
 * when its address, TLS or limits changed or it is not listening (the token and auth apply at
 * once either way). Returns 0, or -1 with err when the listener cannot start (the server then
 * serves nothing). A failure to bind the default address (http.listen not written) is only
 * logged at WARN and returns 0: the API never keeps a daemon from scaling. */
int as_api_apply(struct as_api *api, const struct as_config *cfg, int starting, struct as_err *err);

/* The address it listens on ("127.0.0.1:9711"), or "" when it does not. */
const char *as_api_address(const struct as_api *api);

/* Closes every connection and frees the server; NULL is a no-op. */
void as_api_free(struct as_api *api);

#endif
