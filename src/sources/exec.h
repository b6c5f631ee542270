/* The output parser of source `exec` (exec.c), apart so that tests and the fuzz target can feed
 * it text. */
#ifndef AS_SOURCES_EXEC_H
#define AS_SOURCES_EXEC_H

#include <stddef.h>

/* The number a command printed. Without pointer: its whole output, surrounding white space
 * aside, is one decimal number (optional sign, digits, optional fraction, optional exponent:
 * "42", "0.5", "1e3"; not "0x10", "inf", "1,5" or "5 jobs"). With pointer: the output is one
 * JSON document and the number is the JSON number at that RFC 6901 pointer. The value must be
 * finite and >= 0. out need not be NUL-terminated. Returns 0 with *value, or -1 with a one-line
 * reason in why ("printed \"abc\", not a number"). */
int as_source_exec_parse(const char *out, size_t len, const char *pointer, double *value, char *why,
                         size_t whylen);

#endif
