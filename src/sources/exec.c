/* Source `exec`: runs a command each measurement and reads the number it prints on stdout: the
 * whole output as one decimal number, or, with `pointer`, a JSON document and the number at
 * that pointer.
 *
 * The command runs without a shell ({{group}} and {{metric}} substituted in every argument),
 * or with `shell: true` as `/bin/sh -c STRING`. Its environment is the daemon's plus
 * AUTOSCALER_GROUP, AUTOSCALER_METRIC and `env`. It runs in its own process group
 * (util/proc.h): at the metric's timeout the whole group gets SIGTERM, and SIGKILL a moment
 * later (the engine's deadline, 100 ms after the timeout, kills it anyway).
 *
 * Failed measurement: the command cannot be started, exits non-zero, dies of a signal or the
 * timeout, prints more than 64 KiB, or prints anything but the number (which must be finite and
 * >= 0). The reason carries the last line of its stderr. Never read as zero. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/plugin.h"
#include "sources/exec.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/util.h"

#define EXEC_GRACE_MS 50 /* SIGTERM -> SIGKILL at the timeout: within the engine's slack */
#define EXEC_NUMBER_MAX 64

struct exec_src {
    char **command, **env;
    char *working_dir, *pointer;
    int shell;
    /* runtime */
    struct as_ctx ctx;
    char **argv, **envv; /* substituted once: the group and the metric never change */
    struct as_proc *proc;
    struct as_timer *deferred;
    as_measure_cb done;
    void *arg;
    struct as_fault_log fault;
};

static const struct as_opt opts[] = {
    {"command", AS_OPT_STRLIST, offsetof(struct exec_src, command), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Program and arguments, run without a shell; {{group}} and {{metric}} are substituted. "
     "With shell: true, one string for /bin/sh -c."},
    {"shell", AS_OPT_BOOL, offsetof(struct exec_src, shell), "false", AS_NO_BOUNDS, 0, NULL,
     "Run the one string of command with /bin/sh -c (pipes, globs; mind the quoting: nothing "
     "is substituted in it, use \"$AUTOSCALER_GROUP\")."},
    {"pointer", AS_OPT_STR, offsetof(struct exec_src, pointer), NULL, AS_NO_BOUNDS, 0, NULL,
     "Read stdout as JSON and take the number at this RFC 6901 pointer; unset: stdout is one "
     "number."},
    {"env", AS_OPT_HEADERS, offsetof(struct exec_src, env), NULL, AS_NO_BOUNDS, 0, NULL,
     "Extra environment variables (NAME: value); {{group}} and {{metric}} are substituted in "
     "values. AUTOSCALER_GROUP and AUTOSCALER_METRIC are always set."},
    {"working_dir", AS_OPT_STR, offsetof(struct exec_src, working_dir), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL, "Directory the command runs in (default: the daemon's)."},
    AS_OPT_END,
};

/* ---- the output parser (exec.h) ---- */

static int is_decimal(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    for (; i < n && isdigit((unsigned char)s[i]); i++)
        digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && isdigit((unsigned char)s[i]); i++)
            digits++;
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp = 0;
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (; i < n && isdigit((unsigned char)s[i]); i++)
            exp++;
        if (exp == 0)
            return 0;
    }
    return i == n;
}

static int parse_plain(const char *s, size_t n, double *value, char *why, size_t whylen)
{
    char shown[41], buf[EXEC_NUMBER_MAX];
    if (!is_decimal(s, n) || n >= sizeof(buf)) {
        snprintf(why, whylen, "printed \"%s%s\", not a number",
                 as_printable(s, n, shown, sizeof(shown)), n >= sizeof(shown) ? "..." : "");
        return -1;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    double v = strtod(buf, NULL); /* an underflow is a valid ~0 */
    if (!isfinite(v)) {
        snprintf(why, whylen, "printed %s, which is not a finite number", buf);
        return -1;
    }
    if (v < 0) {
        snprintf(why, whylen, "printed a negative number (%s)", buf);
        return -1;
    }
    *value = v == 0 ? 0 : v; /* no -0 */
    return 0;
}

static int parse_json(const char *s, size_t n, const char *pointer, double *value, char *why,
                      size_t whylen)
{
    struct as_err err;
    as_err_clear(&err);
    json_t *doc = as_json_load(s, n, &err);
    if (doc == NULL) {
        snprintf(why, whylen, "output is %s", err.msg);
        return -1;
    }
    double v;
    int rc = as_json_number_at(doc, pointer, AS_JSON_NUMBERS_ONLY, &v, &err);
    json_decref(doc);
    if (rc < 0) {
        snprintf(why, whylen, "%s", err.msg);
        return -1;
    }
    if (v < 0) {
        snprintf(why, whylen, "value at %s is negative (%g)", pointer, v);
        return -1;
    }
    *value = v == 0 ? 0 : v;
    return 0;
}

int as_source_exec_parse(const char *out, size_t len, const char *pointer, double *value, char *why,
                         size_t whylen)
{
    size_t b = 0, e = len;
    while (b < e && isspace((unsigned char)out[b]))
        b++;
    while (e > b && isspace((unsigned char)out[e - 1]))
        e--;
    if (b == e) {
        snprintf(why, whylen, "printed nothing");
        return -1;
    }
    if (pointer != NULL)
        return parse_json(out + b, e - b, pointer, value, why, whylen);
    return parse_plain(out + b, e - b, value, why, whylen);
}

/* ---- configuration ---- */

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct exec_src *s = state;
    if (s->shell && s->command[1] != NULL)
        return as_err_key(err, map, "command",
                          "with 'shell: true', 'command' is one string for /bin/sh -c");
    if (s->command[0][0] == '\0')
        return as_err_key(err, map, "command",
                          "'command' needs a program: its first entry is empty");
    if (s->pointer && as_json_pointer_check(s->pointer, err) < 0)
        return as_err_key(err, map, "pointer", "%s", err->msg);
    for (size_t i = 0; s->env && s->env[i]; i++) {
        const char *colon = strstr(s->env[i], ": ");
        if (!as_env_name_ok(s->env[i], colon ? (size_t)(colon - s->env[i]) : 0))
            return as_err_key(err, map, "env",
                              "'env' names must be letters, digits and _ and may not start with a "
                              "digit or AUTOSCALER_");
    }
    return 0;
}

/* A NULL-terminated copy of the first n entries of src (NULL-terminated if n is SIZE_MAX),
 * each substituted, or "NAME: value" turned into "NAME=value" substituted when env is set, after
 * the entries of fixed. NULL on ENOMEM. */
static char **build_list(char *const *src, const char *const *fixed, size_t nfixed, int env,
                         int substitute, const struct as_ctx *ctx)
{
    static const char *const keys[] = {"group", "metric"};
    const char *values[] = {ctx->group, ctx->name};
    size_t n = 0;
    while (src && src[n])
        n++;
    char **list = calloc(nfixed + n + 1, sizeof(char *));
    for (size_t i = 0; list && i < nfixed + n; i++) {
        if (i < nfixed) {
            list[i] = as_strdup(fixed[i]);
        } else if (env) {
            const char *item = src[i - nfixed], *colon = strstr(item, ": ");
            int klen = colon ? (int)(colon - item) : (int)strlen(item);
            char *value = as_template(colon ? colon + 2 : "", keys, values, 2);
            struct as_sb sb = {0};
            if (value != NULL && as_sb_printf(&sb, "%.*s=%s", klen, item, value) < 0)
                as_sb_free(&sb);
            free(value);
            list[i] = sb.buf;
        } else {
            list[i] = substitute ? as_template(src[i - nfixed], keys, values, 2)
                                 : as_strdup(src[i - nfixed]);
        }
        if (list[i] == NULL) {
            as_strv_free(list);
            return NULL;
        }
    }
    return list;
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct exec_src *s = state;
    s->ctx = *ctx;
    struct as_sb group = {0}, metric = {0};
    int rc = as_sb_printf(&group, "AUTOSCALER_GROUP=%s", ctx->group) |
             as_sb_printf(&metric, "AUTOSCALER_METRIC=%s", ctx->name);
    const char *fixed_env[] = {group.buf, metric.buf};
    const char *shell[] = {"/bin/sh", "-c"};
    if (rc == 0) {
        s->envv = build_list(s->env, fixed_env, 2, 1, 1, ctx);
        s->argv = s->shell ? build_list(s->command, shell, 2, 0, 0, ctx)
                           : build_list(s->command, NULL, 0, 0, 1, ctx);
    }
    as_sb_free(&group);
    as_sb_free(&metric);
    if (s->envv == NULL || s->argv == NULL)
        return as_err_set(err, "out of memory");
    return 0;
}

/* ---- measuring ---- */

static void log_result(struct exec_src *s, const struct as_measurement *m)
{
    if (m->ok)
        as_log_recovered(&s->fault, "source/exec[%s/%s]: measuring again", s->ctx.group,
                         s->ctx.name);
    else
        as_log_fault(&s->fault, AS_ERROR, "source/exec[%s/%s]: %s", s->ctx.group, s->ctx.name,
                     m->error);
}

/* The last non-empty line of text, printable and bounded, into buf ("" if none). */
static const char *last_line(const char *text, size_t len, char *buf, size_t size)
{
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    size_t start = len;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    while (start < len && isspace((unsigned char)text[start]))
        start++;
    return as_printable(text + start, len - start, buf, size);
}

static void judge(const struct exec_src *s, const struct as_proc_result *pr,
                  struct as_measurement *m)
{
    char why[160], tail[121];
    if (pr->timed_out || pr->exit_code != 0)
        as_proc_describe(pr, why, sizeof(why));
    else if (pr->out_truncated)
        snprintf(why, sizeof(why), "printed more than %d bytes", AS_PROC_CAPTURE_MAX);
    else if (as_source_exec_parse(pr->out, pr->out_len, s->pointer, &m->value, why, sizeof(why)) ==
             0)
        m->ok = 1;
    if (m->ok)
        return;
    last_line(pr->err, pr->err_len, tail, sizeof(tail));
    if (tail[0] != '\0')
        snprintf(m->error, sizeof(m->error), "%s (stderr: %s)", why, tail);
    else
        snprintf(m->error, sizeof(m->error), "%s", why);
}

static void on_done(const struct as_proc_result *pr, void *arg)
{
    struct exec_src *s = arg;
    struct as_measurement m = {.replicas = -1};
    s->proc = NULL;
    judge(s, pr, &m);
    log_result(s, &m);
    as_measure_cb done = s->done;
    s->done = NULL;
    done(&m, s->arg);
}

static void measure(void *state, as_measure_cb done, void *arg)
{
    struct exec_src *s = state;
    struct as_proc_opts o = {.argv = (const char *const *)s->argv,
                             .env = (const char *const *)s->envv,
                             .cwd = s->working_dir,
                             .out = AS_PROC_CAPTURE,
                             .err = AS_PROC_CAPTURE,
                             .timeout_ms = s->ctx.timeout_ms,
                             .grace_ms = EXEC_GRACE_MS};
    struct as_err err;
    as_err_clear(&err);
    s->done = done;
    s->arg = arg;
    s->proc = as_proc_spawn(s->ctx.loop, &o, on_done, s, &err);
    if (s->proc != NULL)
        return;
    struct as_measurement m = {.replicas = -1};
    snprintf(m.error, sizeof(m.error), "%s", err.msg[0] ? err.msg : strerror(errno));
    log_result(s, &m);
    if (as_defer_measurement(s->ctx.loop, &s->deferred, done, &m, arg) < 0)
        AS_LOG(AS_ERROR, "source/exec[%s/%s]: out of memory", s->ctx.group, s->ctx.name);
}

static void cancel(void *state)
{
    struct exec_src *s = state;
    as_proc_abandon(s->proc);
    s->proc = NULL;
    as_defer_cancel(s->ctx.loop, &s->deferred);
    s->done = NULL;
}

static void stop(void *state)
{
    struct exec_src *s = state;
    if (s->ctx.loop != NULL)
        cancel(s);
    as_strv_free(s->argv);
    as_strv_free(s->envv);
    s->argv = s->envv = NULL;
}

const struct as_source_ops as_source_exec = {
    .name = "exec",
    .opts = opts,
    .state_size = sizeof(struct exec_src),
    .summary = "A number a command prints (no shell unless asked), or the number at a JSON "
               "pointer in its output.",
    .validate = validate,
    .start = start,
    .measure = measure,
    .cancel = cancel,
    .stop = stop,
};
