/* Arithmetic expressions over metric values, for the `formula` policy: KEDA's scaling-modifier
 * formulas (expr-lang) restricted to numbers.
 *
 * Grammar, loosest binding first (expr-lang's precedence):
 *   c ? a : b        right-associative; c is true when non-zero
 *   ||   &&          true = 1, false = 0; the right side only matters when the left does not
 *                    decide (short-circuit semantics)
 *   < <= > >= == !=  one level, left-associative; 1 or 0
 *   + -   * /        left-associative
 *   - + !            unary
 *   numbers (12, 0.5, .5, 1e3), metric names, ( ... ),
 *   min(a, ...), max(a, ...) (or min([a, ...]), max([a, ...]), as expr-lang), abs(x),
 *   ceil(x), floor(x)
 *
 * Parsed once (as_expr_parse) into a fixed array of postfix operations; evaluation
 * (as_expr_eval) never allocates and never fails on any program. A division by zero, an
 * overflow or any other non-finite intermediate makes the value undefined, unless a ternary or
 * && / || discards that side, as short-circuit evaluation would. */
#ifndef AS_EXPR_H
#define AS_EXPR_H

#include <stddef.h>

#define AS_EXPR_MAX_OPS 256  /* operations in one formula */
#define AS_EXPR_MAX_DEPTH 32 /* nesting of parentheses, calls, ternaries and unary operators */
#define AS_EXPR_MAX_ARGS 32  /* arguments of one min/max */
#define AS_EXPR_MAX_VARS 64  /* names an expression can refer to */

struct as_expr_op {
    unsigned char code; /* enum in expr.c */
    unsigned char argc; /* min/max: number of arguments */
    unsigned short var; /* a name: its index in the names given to as_expr_parse */
    double num;         /* a number */
};

struct as_expr {
    size_t n;
    struct as_expr_op ops[AS_EXPR_MAX_OPS];
};

/* Compiles text into e (caller-owned storage; nothing is allocated). A name must be one of
 * names[0..nnames-1] (nnames <= AS_EXPR_MAX_VARS), except where it is followed by '(' (a
 * function). Returns 0, or -1 with a message in msg (msglen bytes) and the 0-based byte offset
 * of the offending token in *at. */
int as_expr_parse(struct as_expr *e, const char *text, const char *const *names, size_t nnames,
                  char *msg, size_t msglen, size_t *at);

/* Evaluates e with vals[i] as the value of names[i]. Returns 0 with a finite *out, or -1 when
 * the value is undefined (division by zero, overflow, a name beyond nvals, an empty program). */
int as_expr_eval(const struct as_expr *e, const double *vals, size_t nvals, double *out);

/* 1 if e refers to name number var, else 0. */
int as_expr_uses(const struct as_expr *e, size_t var);

#endif
