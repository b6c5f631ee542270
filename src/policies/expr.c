/* Expression compiler and evaluator for the `formula` policy (see expr.h for the grammar).
 *
 * A recursive-descent parser emits postfix operations straight into a fixed array; every
 * recursion counts against AS_EXPR_MAX_DEPTH, so hostile input cannot exhaust the C stack.
 * The evaluator is a stack machine over a local array as deep as the program is long.
 * An undefined value is carried as NaN, and every operation propagates it; a ternary or
 * && / || whose deciding operand is defined simply ignores the other side, which gives the
 * results of short-circuit evaluation without jumps. */
#include "policies/expr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum code {
    OP_NUM,
    OP_VAR,
    OP_NEG,
    OP_NOT,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_EQ,
    OP_NE,
    OP_AND,
    OP_OR,
    OP_COND,
    OP_MIN,
    OP_MAX,
    OP_ABS,
    OP_CEIL,
    OP_FLOOR,
};

enum tok {
    T_END,
    T_NUM,
    T_NAME,
    T_LP,
    T_RP,
    T_COMMA,
    T_QUEST,
    T_COLON,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_EQ,
    T_NE,
    T_AND,
    T_OR,
    T_NOT,
    T_LB,
    T_RB,
    T_BAD,
};

struct parser {
    const char *s;
    size_t pos;        /* where scanning resumes */
    enum tok tok;      /* the current token ... */
    size_t start, len; /* ... its place in s ... */
    double num;        /* ... and its value, for T_NUM */
    const char *const *names;
    size_t nnames;
    struct as_expr *e;
    int depth;
    int failed;
    char *msg;
    size_t msglen;
    size_t at;
};

static int fail(struct parser *p, size_t at, const char *fmt, const char *arg)
{
    if (!p->failed) {
        p->failed = 1;
        p->at = at;
        snprintf(p->msg, p->msglen, fmt, arg);
    }
    return -1;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && is_digit(c));
}

/* A number: digits [. digits] [e [+-] digits], or .digits; converted by strtod in the C
 * locale the daemon runs in. */
static int scan_number(struct parser *p)
{
    const char *s = p->s + p->start;
    size_t i = 0;
    while (is_digit(s[i]))
        i++;
    if (s[i] == '.')
        for (i++; is_digit(s[i]); i++)
            ;
    if ((s[i] == 'e' || s[i] == 'E') &&
        (is_digit(s[i + 1]) || ((s[i + 1] == '+' || s[i + 1] == '-') && is_digit(s[i + 2])))) {
        for (i += 2; is_digit(s[i]); i++)
            ;
    }
    char buf[64];
    if (i >= sizeof(buf) || is_name_char(s[i], 0) || s[i] == '.')
        return fail(p, p->start, "malformed number%s", "");
    memcpy(buf, s, i);
    buf[i] = '\0';
    p->num = strtod(buf, NULL);
    if (!isfinite(p->num))
        return fail(p, p->start, "number out of range%s", "");
    p->len = i;
    p->tok = T_NUM;
    return 0;
}

/* Two-character operators first, then one-character ones. */
static enum tok scan_op(const char *s, size_t *len)
{
    static const struct {
        const char *text;
        enum tok tok;
    } ops[] = {
        {"<=", T_LE},   {">=", T_GE},  {"==", T_EQ},   {"!=", T_NE},   {"&&", T_AND},
        {"||", T_OR},   {"(", T_LP},   {")", T_RP},    {",", T_COMMA}, {"?", T_QUEST},
        {":", T_COLON}, {"+", T_PLUS}, {"-", T_MINUS}, {"*", T_STAR},  {"/", T_SLASH},
        {"<", T_LT},    {">", T_GT},   {"!", T_NOT},   {"[", T_LB},    {"]", T_RB},
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t n = strlen(ops[i].text);
        if (strncmp(s, ops[i].text, n) == 0) {
            *len = n;
            return ops[i].tok;
        }
    }
    *len = 1;
    return T_BAD;
}

static int next(struct parser *p)
{
    const char *s = p->s;
    while (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r')
        p->pos++;
    p->start = p->pos;
    char c = s[p->pos];
    if (c == '\0') {
        p->tok = T_END;
        p->len = 0;
    } else if (is_digit(c) || (c == '.' && is_digit(s[p->pos + 1]))) {
        if (scan_number(p) < 0)
            return -1;
    } else if (is_name_char(c, 1)) {
        size_t n = 1;
        while (is_name_char(s[p->pos + n], 0))
            n++;
        p->tok = T_NAME;
        p->len = n;
    } else {
        p->tok = scan_op(s + p->pos, &p->len);
        if (p->tok == T_BAD) {
            char shown[8];
            unsigned u = (unsigned char)c;
            if (u >= 0x21 && u < 0x7f)
                snprintf(shown, sizeof(shown), "'%c'", (char)u);
            else
                snprintf(shown, sizeof(shown), "\\x%02x", u);
            return fail(p, p->start, "unexpected character %s", shown);
        }
    }
    p->pos += p->len;
    return 0;
}

static int emit(struct parser *p, enum code code, unsigned argc, unsigned var, double num)
{
    struct as_expr *e = p->e;
    if (e->n >= AS_EXPR_MAX_OPS)
        return fail(p, p->start, "formula too long (more than %s operations)", "256");
    e->ops[e->n++] = (struct as_expr_op){.code = (unsigned char)code,
                                         .argc = (unsigned char)argc,
                                         .var = (unsigned short)var,
                                         .num = num};
    return 0;
}

static int expect(struct parser *p, enum tok tok, const char *what)
{
    if (p->tok != tok)
        return fail(p, p->start, p->tok == T_END ? "expected %s at the end" : "expected %s here",
                    what);
    return next(p);
}

static int ternary(struct parser *p);

/* The current token's text, bounded for messages. */
static const char *token_text(const struct parser *p, char *buf, size_t len)
{
    size_t n = p->len < len - 1 ? p->len : len - 1;
    memcpy(buf, p->s + p->start, n);
    buf[n] = '\0';
    return buf;
}

static int call(struct parser *p, const char *fn, size_t at)
{
    static const struct {
        const char *name;
        enum code code;
        int variadic;
    } fns[] = {{"min", OP_MIN, 1},
               {"max", OP_MAX, 1},
               {"abs", OP_ABS, 0},
               {"ceil", OP_CEIL, 0},
               {"floor", OP_FLOOR, 0}};
    size_t f = 0;
    while (f < sizeof(fns) / sizeof(fns[0]) && strcmp(fns[f].name, fn) != 0)
        f++;
    if (f == sizeof(fns) / sizeof(fns[0]))
        return fail(p, at, "unknown function '%s' (min, max, abs, ceil, floor)", fn);
    if (next(p) < 0 || next(p) < 0) /* the name, then '(' */
        return -1;
    /* expr-lang's min and max also take one array: max([a, b]), as KEDA's examples write. */
    int array = fns[f].variadic && p->tok == T_LB;
    enum tok close = array ? T_RB : T_RP;
    if (array && next(p) < 0)
        return -1;
    unsigned argc = 0;
    while (p->tok != close) {
        if (argc > 0 && expect(p, T_COMMA, array ? "',' or ']'" : "',' or ')'") < 0)
            return -1;
        if (++argc > AS_EXPR_MAX_ARGS)
            return fail(p, p->start, "more than %s arguments", "32");
        if (ternary(p) < 0)
            return -1;
    }
    if (argc == 0 || (!fns[f].variadic && argc != 1))
        return fail(p, at,
                    fns[f].variadic ? "%s() needs at least one argument"
                                    : "%s() takes exactly one argument",
                    fn);
    if (next(p) < 0 || (array && expect(p, T_RP, "')'") < 0))
        return -1;
    return emit(p, fns[f].code, argc, 0, 0);
}

static int name(struct parser *p)
{
    char buf[64];
    size_t at = p->start;
    token_text(p, buf, sizeof(buf));
    size_t i = p->pos;
    while (p->s[i] == ' ' || p->s[i] == '\t' || p->s[i] == '\n' || p->s[i] == '\r')
        i++;
    if (p->s[i] == '(')
        return call(p, buf, at);
    for (size_t v = 0; v < p->nnames; v++)
        if (strlen(p->names[v]) == p->len && strncmp(p->names[v], p->s + at, p->len) == 0)
            return emit(p, OP_VAR, 0, (unsigned)v, 0) < 0 ? -1 : next(p);
    return fail(p, at, "unknown metric '%s'", buf);
}

static int primary(struct parser *p)
{
    char buf[32];
    switch (p->tok) {
    case T_NUM:
        return emit(p, OP_NUM, 0, 0, p->num) < 0 ? -1 : next(p);
    case T_NAME:
        return name(p);
    case T_LP:
        if (next(p) < 0 || ternary(p) < 0)
            return -1;
        return expect(p, T_RP, "')'");
    case T_END:
        return fail(p, p->start, "unexpected end of formula%s", "");
    default:
        return fail(p, p->start, "unexpected '%s'", token_text(p, buf, sizeof(buf)));
    }
}

static int unary(struct parser *p)
{
    enum tok t = p->tok;
    if (t != T_MINUS && t != T_PLUS && t != T_NOT)
        return primary(p);
    if (++p->depth > AS_EXPR_MAX_DEPTH)
        return fail(p, p->start, "nested too deeply (more than %s levels)", "32");
    if (next(p) < 0 || unary(p) < 0)
        return -1;
    p->depth--;
    if (t == T_PLUS)
        return 0;
    return emit(p, t == T_MINUS ? OP_NEG : OP_NOT, 0, 0, 0);
}

/* One left-associative level: operand { op operand }, with ops mapped tok -> code. */
struct level {
    int (*operand)(struct parser *p);
    enum tok toks[6];
    enum code codes[6];
    int n;
};

static int binary(struct parser *p, const struct level *l)
{
    if (l->operand(p) < 0)
        return -1;
    for (;;) {
        int i = 0;
        while (i < l->n && l->toks[i] != p->tok)
            i++;
        if (i == l->n)
            return 0;
        if (next(p) < 0 || l->operand(p) < 0 || emit(p, l->codes[i], 0, 0, 0) < 0)
            return -1;
    }
}

static int mul(struct parser *p)
{
    static const struct level l = {unary, {T_STAR, T_SLASH}, {OP_MUL, OP_DIV}, 2};
    return binary(p, &l);
}

static int add(struct parser *p)
{
    static const struct level l = {mul, {T_PLUS, T_MINUS}, {OP_ADD, OP_SUB}, 2};
    return binary(p, &l);
}

static int compare(struct parser *p)
{
    static const struct level l = {
        add, {T_LT, T_LE, T_GT, T_GE, T_EQ, T_NE}, {OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE}, 6};
    return binary(p, &l);
}

static int and_level(struct parser *p)
{
    static const struct level l = {compare, {T_AND}, {OP_AND}, 1};
    return binary(p, &l);
}

static int or_level(struct parser *p)
{
    static const struct level l = {and_level, {T_OR}, {OP_OR}, 1};
    return binary(p, &l);
}

static int ternary(struct parser *p)
{
    if (++p->depth > AS_EXPR_MAX_DEPTH)
        return fail(p, p->start, "nested too deeply (more than %s levels)", "32");
    if (or_level(p) < 0)
        return -1;
    if (p->tok == T_QUEST) {
        if (next(p) < 0 || ternary(p) < 0 || expect(p, T_COLON, "':'") < 0 || ternary(p) < 0 ||
            emit(p, OP_COND, 0, 0, 0) < 0)
            return -1;
    }
    p->depth--;
    return 0;
}

int as_expr_parse(struct as_expr *e, const char *text, const char *const *names, size_t nnames,
                  char *msg, size_t msglen, size_t *at)
{
    char none[1], tok[32];
    struct parser p = {.s = text,
                       .names = names,
                       .nnames = nnames,
                       .e = e,
                       .msg = msglen ? msg : none,
                       .msglen = msglen ? msglen : 1};
    e->n = 0;
    if (nnames > AS_EXPR_MAX_VARS)
        fail(&p, 0, "more than %s metrics", "64");
    else if (next(&p) == 0 && ternary(&p) == 0 && p.tok == T_RP)
        fail(&p, p.start, "unbalanced '%s'", ")");
    else if (!p.failed && p.tok != T_END)
        fail(&p, p.start, "unexpected '%s' after a complete expression",
             token_text(&p, tok, sizeof(tok)));
    if (!p.failed)
        return 0;
    e->n = 0;
    if (at)
        *at = p.at;
    return -1;
}

/* Truth of a defined value (NaN is handled by the caller). */
static int truth(double v)
{
    return v != 0;
}

/* Binary operators. Comparisons and logic give NaN for NaN operands, so an undefined value
 * is never mistaken for false. */
static double binop(enum code code, double a, double b)
{
    if (code == OP_AND)
        return isnan(a) ? NAN : !truth(a) ? 0 : isnan(b) ? NAN : truth(b);
    if (code == OP_OR)
        return isnan(a) ? NAN : truth(a) ? 1 : isnan(b) ? NAN : truth(b);
    if (isnan(a) || isnan(b))
        return NAN;
    switch (code) {
    case OP_ADD:
        return a + b;
    case OP_SUB:
        return a - b;
    case OP_MUL:
        return a * b;
    case OP_DIV:
        return b == 0 ? NAN : a / b;
    case OP_LT:
        return a < b;
    case OP_LE:
        return a <= b;
    case OP_GT:
        return a > b;
    case OP_GE:
        return a >= b;
    case OP_EQ:
        return a == b;
    case OP_NE:
        return a != b;
    default:
        return NAN;
    }
}

static double unop(enum code code, double a)
{
    if (isnan(a))
        return NAN;
    switch (code) {
    case OP_NEG:
        return -a;
    case OP_NOT:
        return !truth(a);
    case OP_ABS:
        return fabs(a);
    case OP_CEIL:
        return ceil(a);
    case OP_FLOOR:
        return floor(a);
    default:
        return NAN;
    }
}

/* min/max over the top argc values; any NaN makes the result NaN (fmin would hide it). */
static double extreme(enum code code, const double *v, unsigned argc)
{
    double r = v[0];
    for (unsigned i = 0; i < argc; i++) {
        if (isnan(v[i]))
            return NAN;
        if (code == OP_MIN ? v[i] < r : v[i] > r)
            r = v[i];
    }
    return r;
}

/* Operands an operation takes from the stack. */
static size_t arity(const struct as_expr_op *op)
{
    switch (op->code) {
    case OP_NUM:
    case OP_VAR:
        return 0;
    case OP_NEG:
    case OP_NOT:
    case OP_ABS:
    case OP_CEIL:
    case OP_FLOOR:
        return 1;
    case OP_COND:
        return 3;
    case OP_MIN:
    case OP_MAX:
        return op->argc;
    default:
        return 2;
    }
}

static double step(const struct as_expr_op *op, const double *top, const double *vals, size_t nvals)
{
    switch (op->code) {
    case OP_NUM:
        return op->num;
    case OP_VAR:
        return op->var < nvals ? vals[op->var] : NAN;
    case OP_COND:
        return isnan(top[0]) ? NAN : truth(top[0]) ? top[1] : top[2];
    case OP_MIN:
    case OP_MAX:
        return extreme(op->code, top, op->argc);
    default:
        break;
    }
    return arity(op) == 1 ? unop(op->code, top[0]) : binop(op->code, top[0], top[1]);
}

int as_expr_eval(const struct as_expr *e, const double *vals, size_t nvals, double *out)
{
    double stack[AS_EXPR_MAX_OPS];
    size_t sp = 0;
    for (size_t i = 0; i < e->n && i < AS_EXPR_MAX_OPS; i++) {
        const struct as_expr_op *op = &e->ops[i];
        size_t k = arity(op);
        if (sp < k || (k == 0 && op->code != OP_NUM && op->code != OP_VAR))
            return -1; /* not a program as_expr_parse makes */
        sp -= k;
        double r = step(op, &stack[sp], vals, nvals);
        /* An overflow to infinity is as undefined as a division by zero. */
        stack[sp++] = isfinite(r) ? r : NAN;
    }
    if (sp != 1 || isnan(stack[0]))
        return -1;
    *out = stack[0];
    return 0;
}

int as_expr_uses(const struct as_expr *e, size_t var)
{
    for (size_t i = 0; i < e->n && i < AS_EXPR_MAX_OPS; i++)
        if (e->ops[i].code == OP_VAR && e->ops[i].var == var)
            return 1;
    return 0;
}
