/* Helpers shared by the sources that read an HTTP API (prometheus, rabbitmq): building the
 * request (percent-encoding, Basic credentials, the header list) and turning a failed or
 * non-2xx answer into a one-line reason. Not a backend: it exports no ops table. */
#ifndef AS_SOURCES_HTTP_API_H
#define AS_SOURCES_HTTP_API_H

#include <stddef.h>

#include "util/err.h"
#include "util/util.h"

struct as_http_resp;

/* Appends s percent-encoded as RFC 3986 asks for a query value or a path segment: every byte
 * but the unreserved ones (A-Z a-z 0-9 - . _ ~) becomes %XX ("/" too, so the vhost "/" is
 * "%2F"). Returns 0, or -1 on ENOMEM. */
int as_api_encode(struct as_sb *sb, const char *s);

/* The header "Authorization: Basic base64(user:password)" (password NULL: empty). The encoded
 * credentials are registered as a log secret, so they can never reach a log line. Caller
 * frees. NULL with err on ENOMEM. */
char *as_api_basic_auth(const char *user, const char *password, struct as_err *err);

/* A NULL-terminated header list: the n entries of extra (may be NULL) followed by up to three
 * more (NULL ones skipped). The strings are borrowed: the list is only valid while they are.
 * Caller frees the list itself. NULL with err on ENOMEM. */
char **as_api_headers(char *const *extra, const char *a, const char *b, const char *c,
                      struct as_err *err);

/* Whether headers (a "Name: value" list, may be NULL) sets the header name (case-insensitive). */
int as_api_has_header(char *const *headers, const char *name);

/* The reason of a transport failure: "timeout after N ms" or the client's error. */
void as_api_transport_error(const struct as_http_resp *r, char *buf, size_t len);

/* The start of an untrusted body for a reason, printable and at most 80 bytes. */
const char *as_api_snippet(const struct as_http_resp *r, char *buf, size_t len);

#endif
