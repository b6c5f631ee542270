/* The formula language (policies/expr.h) on arbitrary bytes: a parse either fails with a
 * message and an offset inside the text, or gives a program that evaluates, without
 * allocating, to a finite value or "undefined", whatever the metric values (zeros for
 * divisions by zero, huge ones for overflows). Any other outcome aborts. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policies/expr.h"

static const char *const names[] = {"cpu", "queue", "a", "b", "c", "d", "x", "y", "z"};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static void check_eval(const struct as_expr *e, double fill)
{
    double vals[NNAMES], out = 0;
    for (size_t i = 0; i < NNAMES; i++)
        vals[i] = i % 2 ? fill : (double)i;
    int rc = as_expr_eval(e, vals, NNAMES, &out);
    if (rc != -1 && (rc != 0 || !isfinite(out)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* an embedded NUL just ends the formula early */
    struct as_expr e;
    char msg[160];
    size_t at = 0;
    int rc = as_expr_parse(&e, text, names, NNAMES, msg, sizeof(msg), &at);
    if (rc == -1) {
        if (at > strlen(text) || msg[0] == '\0' || e.n != 0)
            abort();
    } else if (rc != 0 || e.n == 0 || e.n > AS_EXPR_MAX_OPS) {
        abort();
    } else {
        static const double fills[] = {0, 1, -1, 1e308, -1e308, 1e-308, 0.5};
        for (size_t i = 0; i < sizeof(fills) / sizeof(fills[0]); i++)
            check_eval(&e, fills[i]);
    }
    free(text);
    return 0;
}
