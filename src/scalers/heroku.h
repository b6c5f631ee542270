/* The Heroku Platform API's formation answers and rate limits, read without trusting them:
 * for the `heroku` scaler, its unit tests and its fuzz target. Follows the Platform API
 * Reference (https://devcenter.heroku.com/articles/platform-api-reference): Formation Info
 * and Formation Update, Errors, Rate Limits. Not a backend: the ops table is in heroku.c. */
#ifndef AS_SCALERS_HEROKU_H
#define AS_SCALERS_HEROKU_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* One request token's worth of time: an account's pool refills at about 75 tokens a minute. */
#define AS_HEROKU_TOKEN_MS 800

/* The "quantity" of a formation (the body of Formation Info or Formation Update): a JSON
 * object whose quantity is a JSON number (never a string), whole, 0..INT_MAX. Returns 0 with
 * *out, or -1 with err ("response is not JSON (...)", "response is not a formation: ...",
 * "replica count 2.5 is not a whole number", ...). */
int as_heroku_quantity(const char *body, size_t len, int *out, struct as_err *err);

/* The reason of an answer that is not 2xx, into buf: "HTTP 422 invalid_params: MESSAGE" from
 * Heroku's error object ({"id": "...", "message": "..."}, both strings), else "HTTP 503: "
 * and the start of the body, printable. Always NUL-terminates buf (len > 0). */
void as_heroku_reason(long status, const char *body, size_t blen, char *buf, size_t len);

/* Whether retrying cannot fix an answer of this status: 3xx (redirects are not followed) and
 * 4xx, but 408, 409, 425 and 429; 5xx are transient. */
int as_heroku_permanent(long status);

/* The request tokens a RateLimit-Remaining value reports: a whole number >= 0, or -1 when
 * the value is absent (NULL) or not one. */
long as_heroku_remaining(const char *value);

/* How long calls are held after an answer that reported `remaining` tokens (-1: none) or
 * was a 429 (rate_limited: the pool is empty, whatever the header says): while fewer than
 * max(reserve, 1) tokens are left, the time the pool needs to refill to that, at one token
 * per AS_HEROKU_TOKEN_MS; 0 otherwise. */
int64_t as_heroku_hold_ms(long remaining, int rate_limited, int reserve);

#endif
