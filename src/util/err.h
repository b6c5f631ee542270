/* Error detail carried beside a negative return code. */
#ifndef AS_ERR_H
#define AS_ERR_H

#include <stddef.h>

#define AS_ERR_MAX 512

/* Where an error was found: set for configuration errors, empty otherwise. */
struct as_err {
    char msg[AS_ERR_MAX];
    char file[256]; /* empty when the error has no source position */
    int line;       /* 1-based */
    int col;        /* 1-based */
};

/* Reset to "no error". */
void as_err_clear(struct as_err *err);

/* printf-style message without position; err may be NULL. Returns -1 for `return as_err_set(...)`.
 */
int as_err_set(struct as_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Same with a source position (1-based line and column). Returns -1. */
int as_err_at(struct as_err *err, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Formats "file:line:col: msg" (or just msg) into buf. Returns buf. */
const char *as_err_str(const struct as_err *err, char *buf, size_t len);

#endif
