/* JSON helpers over jansson: RFC 6901 pointers and strict number extraction. */
#ifndef AS_JSON_H
#define AS_JSON_H

#include <jansson.h>

#include "util/err.h"

/* Checks that ptr is a valid RFC 6901 pointer ("" or "/a/b~1c/0"). Returns 0 or -1 with err. */
int as_json_pointer_check(const char *ptr, struct as_err *err);

/* Resolves ptr in doc. Returns the borrowed node, or NULL with err naming the first missing
 * reference token. */
json_t *as_json_pointer(json_t *doc, const char *ptr, struct as_err *err);

/* Reads a finite number at ptr (a JSON number, or a string holding one, as Prometheus and
 * etcd send). Returns 0, or -1 with err: missing, not a number, or not finite. */
int as_json_number_at(json_t *doc, const char *ptr, double *out, struct as_err *err);

/* Parses text (len bytes) and reads the number at ptr. Returns 0 or -1 with err. */
int as_json_parse_number(const char *text, size_t len, const char *ptr, double *out,
                         struct as_err *err);

#endif
