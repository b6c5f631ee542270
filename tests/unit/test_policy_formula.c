/* Policy `formula` (KEDA scaling modifiers) and its expression language (policies/expr.h):
 * values and precedence, short-circuit results, undefined values, every parse error with its
 * offset, a few thousand random and garbage strings that must neither crash nor allocate,
 * then the policy through as_config_parse and as_decide: both metric types, failures, and
 * configuration errors at their exact line:column. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/decide.h"
#include "policies/expr.h"

extern const struct as_policy_ops as_policy_formula_ops;

#define F NAN /* a failed measurement, or an undefined formula value */

static const char *const names[] = {"a", "b", "c", "queue_len"};
static const double vals[] = {2, 5, 1, 40};

struct value_row {
    const char *text;
    double a;    /* overrides vals[0] when not 2 */
    double want; /* F: undefined */
};

static const struct value_row value_rows[] = {
    {"1 + 2 * 3", 2, 7},
    {"(1 + 2) * 3", 2, 9},
    {"10 - 4 - 3", 2, 3},
    {"8 / 4 / 2", 2, 1},
    {"-a + b", 2, 3},
    {"- -a", 2, 2},
    {"+a", 2, 2},
    {"-a * -b", 2, 10},
    {"queue_len / 10 + c", 2, 5},
    {"a > b ? a : b", 2, 5},
    {"a < b == 1", 2, 1},
    {"1 < 2 && 3 > 4", 2, 0},
    {"0 || 2", 2, 1},
    {"!0", 2, 1},
    {"!a", 2, 0},
    {"1 ? 2 : 3 ? 4 : 5", 2, 2},
    {"0 ? 2 : 0 ? 4 : 5", 2, 5},
    {"c * 2 > 1 ? 10 : 20", 2, 10},
    {"(a > 1) + (b > 1) + (c > 1)", 2, 2},
    {"a <= 2 && a >= 2 && a != 3 && a == 2", 2, 1},
    {"min(a, b, c)", 2, 1},
    {"max(a, b, c)", 2, 5},
    {"max(a)", 2, 2},
    {"min(max(a, c), b)", 2, 2},
    {"max([a, b, c])", 2, 5},
    {"min([b]) + max( [ a ,c ] )", 2, 7},
    {"abs(-3.5)", 2, 3.5},
    {"ceil(2.1)", 2, 3},
    {"floor(-2.1)", 2, -3},
    {"1e3 + .5", 2, 1000.5},
    {"2.5E-1", 2, 0.25},
    {" \t\n7\r\n", 2, 7},
    {"max (a, b)", 2, 5},
    /* Division by zero and overflow are undefined, unless a ternary or && / || drops that
     * side, as expr-lang's short-circuit evaluation would. */
    {"b / a", 0, F},
    {"a == 0 ? 0 : b / a", 0, 0},
    {"a != 0 ? b / a : 0", 0, 0},
    {"a != 0 && b / a > 1", 0, 0},
    {"a == 0 || b / a > 1", 0, 1},
    {"a != 0 || b / a > 1", 0, F},
    {"b / a > 1 ? 1 : 2", 0, F},
    {"min(a, b / a)", 0, F},
    {"!(b / a)", 0, F},
    {"0 / 0", 2, F},
    {"1e308 * 10", 2, F},
    {"1e308 * 10 - 1e308 * 10", 2, F},
    {"-1e308 - 1e308 > 0", 2, F},
};

static void test_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(value_rows) / sizeof(value_rows[0]); i++) {
        const struct value_row *r = &value_rows[i];
        struct as_expr e;
        char msg[128];
        size_t at = 0;
        double v[4] = {r->a, vals[1], vals[2], vals[3]}, got = -12345;
        if (as_expr_parse(&e, r->text, names, 4, msg, sizeof(msg), &at) < 0) {
            print_error("'%s': parse error at %zu: %s\n", r->text, at, msg);
            fail();
        }
        int rc = as_expr_eval(&e, v, 4, &got);
        if (isnan(r->want) ? rc != -1 : rc != 0 || got != r->want) {
            print_error("'%s': got rc %d value %g, want %g\n", r->text, rc, got, r->want);
            fail();
        }
    }
}

struct error_row {
    const char *text;
    size_t at;
    const char *msg;
};

static const struct error_row error_rows[] = {
    {"", 0, "unexpected end of formula"},
    {"a +", 3, "unexpected end of formula"},
    {"foo + 1", 0, "unknown metric 'foo'"},
    {"1 + bar(2)", 4, "unknown function 'bar'"},
    {"(1 + 2", 6, "expected ')' at the end"},
    {"1 + 2)", 5, "unbalanced ')'"},
    {"1 2", 2, "unexpected '2' after a complete expression"},
    {"a # b", 2, "unexpected character '#'"},
    {"a = b", 2, "unexpected character '='"},
    {"a & b", 2, "unexpected character '&'"},
    {"a | b", 2, "unexpected character '|'"},
    {"a \x01 b", 2, "unexpected character \\x01"},
    {"a \xc3\xa9", 2, "unexpected character \\xc3"},
    {"1.2.3", 0, "malformed number"},
    {"12abc", 0, "malformed number"},
    {"0x10", 0, "malformed number"},
    {"1e999", 0, "number out of range"},
    {"abs(1, 2)", 0, "abs() takes exactly one argument"},
    {"min()", 0, "min() needs at least one argument"},
    {"min(a,)", 6, "unexpected ')'"},
    {"min(a b)", 6, "expected ',' or ')' here"},
    {"a ? b", 5, "expected ':' at the end"},
    {"a ? b c", 6, "expected ':' here"},
    {"* a", 0, "unexpected '*'"},
    {"a * ", 4, "unexpected end of formula"},
    {"()", 1, "unexpected ')'"},
    {"a.b", 1, "unexpected character '.'"},
    {"max([a, b)", 9, "expected ',' or ']' here"},
    {"max([a, b]", 10, "expected ')' at the end"},
    {"max([])", 0, "max() needs at least one argument"},
    {"abs([a])", 4, "unexpected '['"},
    {"[a]", 0, "unexpected '['"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(error_rows) / sizeof(error_rows[0]); i++) {
        const struct error_row *r = &error_rows[i];
        struct as_expr e;
        char msg[128] = "";
        size_t at = 999;
        int rc = as_expr_parse(&e, r->text, names, 4, msg, sizeof(msg), &at);
        if (rc != -1 || at != r->at || strstr(msg, r->msg) == NULL || e.n != 0) {
            print_error("'%s': got rc %d at %zu '%s', want at %zu '%s'\n", r->text, rc, at, msg,
                        r->at, r->msg);
            fail();
        }
    }
}

/* The limits: nesting, length, arguments, names. */
static void test_limits(void **state)
{
    (void)state;
    char text[4096];
    struct as_expr e;
    char msg[128];
    size_t at;
    double v;
    /* 31 parentheses parse (32 levels with the whole formula), 32 and 33 do not. */
    for (int depth = 31; depth <= 33; depth++) {
        int n = 0;
        for (int i = 0; i < depth; i++)
            text[n++] = '(';
        text[n++] = '1';
        for (int i = 0; i < depth; i++)
            text[n++] = ')';
        text[n] = '\0';
        int rc = as_expr_parse(&e, text, names, 4, msg, sizeof(msg), &at);
        assert_int_equal(rc, depth < 32 ? 0 : -1);
        if (rc < 0)
            assert_non_null(strstr(msg, "nested too deeply"));
    }
    memset(text, '-', 40);
    strcpy(text + 40, "1");
    assert_int_equal(as_expr_parse(&e, text, names, 4, msg, sizeof(msg), &at), -1);
    assert_non_null(strstr(msg, "nested too deeply"));
    /* 128 ones and 127 '+': 255 operations fit; one more term does not. */
    size_t n = 0;
    for (int i = 0; i < 128; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s1", i ? "+" : "");
    assert_int_equal(as_expr_parse(&e, text, names, 4, msg, sizeof(msg), &at), 0);
    assert_int_equal(e.n, 255);
    assert_int_equal(as_expr_eval(&e, vals, 4, &v), 0);
    assert_true(v == 128);
    strcat(text, "+1");
    assert_int_equal(as_expr_parse(&e, text, names, 4, msg, sizeof(msg), &at), -1);
    assert_non_null(strstr(msg, "formula too long"));
    /* 32 arguments, then 33. */
    for (int args = 32; args <= 33; args++) {
        strcpy(text, "max(a");
        for (int i = 1; i < args; i++)
            strcat(text, ",1");
        strcat(text, ")");
        int rc = as_expr_parse(&e, text, names, 4, msg, sizeof(msg), &at);
        assert_int_equal(rc, args == 32 ? 0 : -1);
        if (rc == 0)
            assert_int_equal(as_expr_eval(&e, vals, 4, &v), 0);
        else
            assert_non_null(strstr(msg, "more than 32 arguments"));
    }
    assert_true(v == 2);
    /* More names than an expression can index. */
    const char *many[AS_EXPR_MAX_VARS + 1];
    for (int i = 0; i <= AS_EXPR_MAX_VARS; i++)
        many[i] = "x";
    assert_int_equal(as_expr_parse(&e, "1", many, AS_EXPR_MAX_VARS + 1, msg, sizeof(msg), &at), -1);
}

/* A program as_expr_parse would never make is still evaluated safely. */
static void test_eval_robust(void **state)
{
    (void)state;
    struct as_expr e = {0};
    double v;
    assert_int_equal(as_expr_eval(&e, vals, 4, &v), -1); /* empty */
    char msg[64];
    size_t at;
    assert_int_equal(as_expr_parse(&e, "queue_len + a", names, 4, msg, sizeof(msg), &at), 0);
    assert_int_equal(as_expr_eval(&e, vals, 1, &v), -1); /* queue_len beyond nvals */
    assert_int_equal(as_expr_uses(&e, 3), 1);
    assert_int_equal(as_expr_uses(&e, 0), 1);
    assert_int_equal(as_expr_uses(&e, 1), 0);
    e.n = 1; /* just a name: fine */
    assert_int_equal(as_expr_eval(&e, vals, 4, &v), 0);
    e.ops[0].code = 200; /* unknown code with nothing on the stack */
    assert_int_equal(as_expr_eval(&e, vals, 4, &v), -1);
}

/* Random token soup and random bytes: parse must return 0 or -1, and any program it accepts
 * must evaluate to 0 with a finite value or -1. ASan and UBSan watch for the rest. */
static uint32_t rng(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void fill_garbage(char *buf, size_t len, uint32_t *seed)
{
    static const char *const pieces[] = {
        "a",      "b",  "queue_len", "nope",  "1",    "0",    "2.5",  ".5",    "1e308",
        "1e-308", "(",  ")",         ",",     "?",    ":",    "+",    "-",     "*",
        "/",      "[",  "]",         "max([", "<",    "<=",   ">",    ">=",    "==",
        "!=",     "&&", "||",        "!",     "min(", "max(", "abs(", "ceil(", "floor(",
        " ",      "=",  "&",         "|",     "#",    "\t",   "1..2", "e",     "9e",
    };
    size_t n = 0, want = rng(seed) % (len - 1);
    int bytes = rng(seed) % 4 == 0;
    while (n < want) {
        if (bytes) {
            buf[n++] = (char)(rng(seed) % 255 + 1);
            continue;
        }
        const char *p = pieces[rng(seed) % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t k = strlen(p);
        if (n + k >= len)
            break;
        memcpy(buf + n, p, k);
        n += k;
    }
    buf[n] = '\0';
}

static void test_garbage(void **state)
{
    (void)state;
    uint32_t seed = 12345;
    int parsed = 0;
    for (int i = 0; i < 5000; i++) {
        char text[600], msg[128];
        struct as_expr e;
        size_t at = 0;
        double v[4] = {rng(&seed) % 3, 0, 1e308, -1e-308}, out;
        fill_garbage(text, sizeof(text), &seed);
        int rc = as_expr_parse(&e, text, names, 4, msg, sizeof(msg), &at);
        assert_true(rc == 0 || rc == -1);
        if (rc < 0) {
            assert_true(at <= strlen(text));
            assert_true(msg[0] != '\0');
            continue;
        }
        parsed++;
        rc = as_expr_eval(&e, v, 4, &out);
        assert_true(rc == -1 || (rc == 0 && isfinite(out)));
    }
    assert_true(parsed > 0); /* the soup does make some valid programs */
}

/* ---- the policy ---- */

#define HEAD                                                                                       \
    "log_file: ''\n"                                                                               \
    "groups:\n"                                                                                    \
    "  web:\n"                                                                                     \
    "    min: 1\n"                                                                                 \
    "    max: 100\n"                                                                               \
    "    behavior: off\n"

#define METRICS                                                                                    \
    "    metrics:\n"                                                                               \
    "      - name: queue\n"                                                                        \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /queue\n"                                                                    \
    "      - name: cpu\n"                                                                          \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /cpu\n"                                                                      \
    "      - name: spare\n"                                                                        \
    "        type: http_json\n"                                                                    \
    "        url: http://127.0.0.1:1/s\n"                                                          \
    "        pointer: /spare\n"                                                                    \
    "    scaler: {type: http, url: http://127.0.0.1:1/r}\n"

/* The default metric type, average_value: desired = ceil(value / 5). */
static const char *const avg_cfg = HEAD "    policy:\n"
                                        "      type: formula\n"
                                        "      formula: queue / 10 + cpu\n"
                                        "      target: 5\n" METRICS;

/* metric_type value: desired = ceil(current * value / 10). */
static const char *const value_cfg = HEAD "    policy:\n"
                                          "      type: formula\n"
                                          "      formula: \"cpu > 0 ? queue / cpu : 0\"\n"
                                          "      target: 10\n"
                                          "      metric_type: value\n"
                                          "      activation_target: 2\n" METRICS;

struct row {
    const char *name;
    const char *const *cfg;
    int current;
    double queue, cpu, spare;
    int want;
    const char *reason;
    int raw; /* 1: the policy's own recommendation, not the decision */
};

static const struct row rows[] = {
    {"average_value: within tolerance", &avg_cfg, 2, 40, 6, 0, 2,
     "formula=10 average_value=5 ratio=1.000 within tolerance 0.1: keep 2 (queue=40, cpu=6)", 0},
    {"average_value: scale up", &avg_cfg, 2, 250, 5, 0, 6,
     "formula=30 average_value=5: ceil(30/5)=6 (queue=250, cpu=5)", 0},
    {"average_value: scale down", &avg_cfg, 6, 10, 0, 0, 1,
     "formula=1 average_value=5: ceil(1/5)=1", 0},
    {"average_value: from zero", &avg_cfg, 0, 100, 2, 0, 3,
     "formula=12 average_value=5: ceil(12/5)=3 from zero", 1},
    {"a used metric failed: hold", &avg_cfg, 4, F, 1, 0, 4, "formula: metric queue failed: hold 4",
     0},
    {"the other used metric failed", &avg_cfg, 4, 10, F, 0, 4, "formula: metric cpu failed: hold 4",
     0},
    {"an unused metric failed: scale up", &avg_cfg, 2, 250, 5, F, 6, "ceil(30/5)=6", 0},
    {"an unused metric failed: no scale-down", &avg_cfg, 6, 10, 0, F, 6, "might want more", 0},
    {"value: ratio 2 doubles", &value_cfg, 3, 40, 2, 0, 6,
     "formula=20 target=10 ratio=2.000: ceil(2.000*3)=6 (queue=40, cpu=2)", 0},
    {"value: the ternary keeps a division by zero out", &value_cfg, 3, 40, 0, 0, 0,
     "formula=0 target=10 ratio=0.000: ceil(0.000*3)=0 (queue=40, cpu=0)", 1},
    {"value: within tolerance", &value_cfg, 4, 21, 2, 0, 4, "within tolerance 0.1: keep 4", 0},
};

static struct as_config *load(const char *text)
{
    struct as_err err;
    as_err_clear(&err);
    struct as_config *cfg = as_config_parse("formula.yaml", text, &err);
    if (cfg == NULL) {
        char buf[AS_ERR_MAX + 300];
        print_error("config: %s\n", as_err_str(&err, buf, sizeof(buf)));
        fail();
    }
    return cfg;
}

/* The policy's raw recommendation, before the core's rules (for counts of zero, which the
 * core's scale-to-zero rules would otherwise decide). */
static void raw_recommend(const struct as_group_cfg *g, const struct as_obs *obs,
                          struct as_decision *d)
{
    static unsigned char st[AS_POLICY_STATE_MAX];
    struct as_rec rec = {0};
    memset(st, 0, sizeof(st));
    g->policy->recommend(g->policy_cfg, g, obs, st, &rec);
    assert_true(rec.valid > 0);
    d->desired = rec.desired;
    snprintf(d->reason, sizeof(d->reason), "%s", rec.reason);
}

static int decide(const char *text, int current, const double *v, struct as_decision *d, int raw)
{
    struct as_config *cfg = load(text);
    const struct as_group_cfg *g = &cfg->groups[0];
    assert_ptr_equal(g->policy, &as_policy_formula_ops);
    struct as_metric_obs m[3];
    for (int i = 0; i < 3; i++)
        m[i] = (struct as_metric_obs){.ok = !isnan(v[i]), .value = isnan(v[i]) ? 0 : v[i]};
    struct as_obs obs = {.now_ms = 1000, .current = current, .n = 3, .m = m};
    struct as_group_state st = {0};
    if (raw)
        raw_recommend(g, &obs, d);
    else
        as_decide(g, &st, &obs, d);
    as_group_state_free(&st);
    as_config_unref(cfg);
    return d->desired;
}

static void test_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        double v[3] = {r->queue, r->cpu, r->spare};
        struct as_decision d;
        decide(*r->cfg, r->current, v, &d, r->raw);
        if (d.desired != r->want || strstr(d.reason, r->reason) == NULL) {
            print_error("%s: got %d (%s), want %d (reason containing '%s')\n", r->name, d.desired,
                        d.reason, r->want, r->reason);
            fail();
        }
    }
}

static void test_division_by_zero(void **state)
{
    (void)state;
    const char *text = HEAD "    policy:\n      type: formula\n      formula: queue / cpu\n"
                            "      target: 5\n" METRICS;
    double v[3] = {10, 0, 0};
    struct as_decision d;
    assert_int_equal(decide(text, 3, v, &d, 0), 3);
    assert_non_null(strstr(d.reason, "formula undefined (division by zero or overflow) with "
                                     "queue=10, cpu=0: hold 3"));
}

#define POLICY HEAD "    policy:\n      type: formula\n"

struct bad_case {
    const char *text;
    int line, col;
    const char *msg;
};

static const struct bad_case bad_cases[] = {
    {POLICY "      formula: queue + latency\n      target: 1\n" METRICS, 9, 16,
     "formula: unknown metric 'latency' at character 9 (metrics: queue, cpu, spare)"},
    {POLICY "      formula: \"(queue + 1\"\n      target: 1\n" METRICS, 9, 16,
     "formula: expected ')' at the end at character 11"},
    {POLICY "      formula: queue\n      target: 0\n" METRICS, 10, 15, "'target' must be above 0"},
    {POLICY "      formula: queue\n      target: -2\n" METRICS, 10, 15, "'target' must be above 0"},
    {POLICY "      target: 1\n" METRICS, 8, 7, "missing required key 'formula'"},
    {POLICY "      formula: queue\n" METRICS, 8, 7, "missing required key 'target'"},
    {POLICY "      formula: ''\n      target: 1\n" METRICS, 9, 16, "may not be empty"},
    {POLICY "      formula: queue\n      target: 1\n      metric_type: Utilization\n" METRICS, 11,
     20, "must be one of: average_value, value"},
    {POLICY "      formula: queue\n      target: 1\n      activation_target: -1\n" METRICS, 11, 26,
     "'activation_target' must be between 0 and"},
    {POLICY "      formula: queue\n      target: 1\n      threshold: 3\n" METRICS, 11, 7,
     "unknown key 'threshold'"},
};

static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct as_err err;
        as_err_clear(&err);
        struct as_config *cfg = as_config_parse("bad.yaml", c->text, &err);
        if (cfg != NULL || err.line != c->line || err.col != c->col ||
            strstr(err.msg, c->msg) == NULL) {
            print_error("case %zu: got %s:%d:%d: %s\nwant line %d col %d containing '%s'\n", i,
                        err.file, err.line, err.col, err.msg, c->line, c->col, c->msg);
            as_config_unref(cfg);
            fail();
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),           cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),           cmocka_unit_test(test_eval_robust),
        cmocka_unit_test(test_garbage),          cmocka_unit_test(test_rows),
        cmocka_unit_test(test_division_by_zero), cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
