/* JSON helpers over jansson: RFC 6901 pointers and strict number extraction. */
#ifndef AS_JSON_H
#define AS_JSON_H

#include <jansson.h>

#include "util/err.h"

/* Flags of as_json_number_at and as_json_count_at. */
#define AS_JSON_NUMBERS_ONLY 0x0
/* Also accept a JSON string holding a decimal number: optional sign, digits, optional
 * fraction (".digits"), optional exponent ("e" or "E", optional sign, digits), nothing else
 * (no hex, no inf/nan, no spaces, not empty). */
#define AS_JSON_NUMERIC_STRINGS 0x1

/* Checks that ptr is a valid RFC 6901 pointer ("" or "/a/b~1c/0"). Returns 0 or -1 with err. */
int as_json_pointer_check(const char *ptr, struct as_err *err);

/* A decoded reference token as an array index (RFC 6901: "0" or digits without a leading
 * zero), in *out. Returns 0, or -1 when tok is not one. */
int as_json_array_index(const char *tok, size_t *out);

/* Resolves ptr in doc. Returns the borrowed node, or NULL with err naming the first missing
 * reference token. */
json_t *as_json_pointer(json_t *doc, const char *ptr, struct as_err *err);

/* Parses text (len bytes) as one JSON value: any value at the top, duplicate keys rejected,
 * every number read as a double (so a huge integer elsewhere in the document does not fail
 * it). Returns a new reference (caller json_decref()s it), or NULL with err
 * ("not JSON (line L column C: ...)"). */
json_t *as_json_load(const char *text, size_t len, struct as_err *err);

/* Reads a finite number at ptr: a JSON number, or with AS_JSON_NUMERIC_STRINGS also a string
 * holding a decimal number. Returns 0, or -1 with err: missing, not a number (null, boolean,
 * container, string), or not finite. */
int as_json_number_at(json_t *doc, const char *ptr, unsigned flags, double *out,
                      struct as_err *err);

/* Reads a replica count at ptr: as as_json_number_at, and a whole number in 0..INT_MAX.
 * Returns 0, or -1 with err: as_json_number_at's, or "replica count V is negative",
 * "... is not a whole number", "... is out of range (0..2147483647)" with the value read. */
int as_json_count_at(json_t *doc, const char *ptr, unsigned flags, int *out, struct as_err *err);

/* The fast path of as_json_load and then as_json_number_at(AS_JSON_NUMBERS_ONLY) for each of
 * n (<= AS_JSON_SCAN_MAX) pointers: one pass over text that builds no tree and allocates
 * nothing. Returns 1 with out[i] the number at ptrs[i] when text is a document as_json_load
 * accepts and every pointer leads to a finite JSON number in it; 0 when it cannot say so
 * (an error, another kind of value, or a document it does not read itself: escapes in keys,
 * surrogate escapes, more than AS_JSON_SCAN_KEYS keys in an object, more than
 * AS_JSON_SCAN_DEPTH levels). On 0 the caller takes the jansson path, which gives the values
 * or the exact error; it never has to, to be right. */
#define AS_JSON_SCAN_MAX 4
#define AS_JSON_SCAN_KEYS 32
#define AS_JSON_SCAN_DEPTH 64
int as_json_scan_numbers(const char *text, size_t len, const char *const *ptrs, size_t n,
                         double *out);

/* A replica count from a number read at ptr, as as_json_count_at checks it. */
int as_json_count_of(double v, int *out, struct as_err *err);

/* as_json_load, then as_json_number_at with AS_JSON_NUMBERS_ONLY. Returns 0 or -1 with err. */
int as_json_parse_number(const char *text, size_t len, const char *ptr, double *out,
                         struct as_err *err);

#endif
