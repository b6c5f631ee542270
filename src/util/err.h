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

/* Formats "file:line:col: msg", "file: msg" (a file without a position: line 0) or just msg
 * into buf. Returns buf. */
const char *as_err_str(const struct as_err *err, char *buf, size_t len);

/* Every error found in one input, to report them all at once (`autoscaler check`). Errors are
 * added as found; as_errs_sort puts them in file order. At most AS_ERRS_KEEP are kept, the
 * rest only counted. Zero-initialise; as_errs_free releases. */
#define AS_ERRS_KEEP 1000
struct as_errs {
    struct as_err *v;
    size_t n, cap;
    size_t dropped;     /* found beyond AS_ERRS_KEEP */
    struct as_err last; /* the last one added (kept or dropped), to add a repeat once */
};

/* Adds a copy of err, unless it repeats the last one added (an error passed up through
 * several callers is added once). Returns 0, or -1 on ENOMEM. */
int as_errs_add(struct as_errs *l, const struct as_err *err);

/* Sorts by file, line and column (errors at one position keep the order they were found in)
 * and drops exact duplicates. */
void as_errs_sort(struct as_errs *l);

void as_errs_free(struct as_errs *l);

#endif
