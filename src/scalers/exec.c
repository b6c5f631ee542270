/* Scaler `exec`: runs a command to set the replica count and, optionally, one to read it.
 *   set: runs `command` without a shell, {{replicas}} and {{group}} substituted in every
 *        argument and `env` value, AUTOSCALER_REPLICAS and AUTOSCALER_GROUP in its environment.
 *        Exit 0 succeeds. Another exit, a signal, or the scaler timeout (SIGTERM to the process
 *        group, SIGKILL after `grace`) is transient; exit 126 or 127, or a program that cannot
 *        be started at all, is permanent. The error carries the last line of stderr.
 *   get: runs `get` the same way (only {{group}}); its stdout, trimmed, must be a whole number
 *        >= 0. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "core/plugin.h"
#include "util/proc.h"
#include "util/util.h"

struct exec_scaler {
    char **command, **get_cmd, **env;
    char *working_dir;
    int64_t grace;
    /* runtime */
    struct as_ctx ctx;
    char **env_tmpl; /* `env` as NAME=value templates */
    struct as_proc *proc;
    struct as_timer *deferred;
    int want;
    as_scale_cb done;
    void *arg;
};

static const struct as_opt opts[] = {
    {"command", AS_OPT_STRLIST, offsetof(struct exec_scaler, command), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Program and arguments that set the count (no shell); {{replicas}} and {{group}} are "
     "substituted."},
    {"get", AS_OPT_STRLIST, offsetof(struct exec_scaler, get_cmd), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL,
     "Program and arguments that print the current count on stdout; {{group}} is substituted."},
    {"env", AS_OPT_HEADERS, offsetof(struct exec_scaler, env), NULL, AS_NO_BOUNDS, 0, NULL,
     "Extra environment variables (NAME: value) for both commands; {{replicas}} and {{group}} "
     "are substituted in values."},
    {"working_dir", AS_OPT_STR, offsetof(struct exec_scaler, working_dir), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL, "Directory the commands run in (default: the daemon's)."},
    {"grace", AS_OPT_DURATION, offsetof(struct exec_scaler, grace), "2s", 1, 600000, 0, NULL,
     "After a timeout, how long SIGTERM is given before SIGKILL."},
    AS_OPT_END,
};

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct exec_scaler *s = state;
    for (size_t i = 0; s->env && s->env[i]; i++) {
        const char *colon = strstr(s->env[i], ": ");
        size_t n = colon ? (size_t)(colon - s->env[i]) : 0;
        if (as_env_name_ok(s->env[i], n))
            continue;
        const char *file;
        int line, col;
        as_node_pos(map, "env", &file, &line, &col);
        return as_err_at(err, file, line, col,
                         "'env' names must be letters, digits and _ and may not start with a "
                         "digit or AUTOSCALER_ (entry %zu)",
                         i + 1);
    }
    return 0;
}

/* "NAME: value" (as the option parser stores a mapping) to "NAME=value". */
static char **env_templates(char **headers)
{
    size_t n = 0;
    while (headers && headers[n])
        n++;
    char **list = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; list && i < n; i++) {
        struct as_sb sb = {0};
        const char *colon = strstr(headers[i], ": ");
        size_t len = colon ? (size_t)(colon - headers[i]) : strlen(headers[i]);
        if (as_sb_append(&sb, headers[i], len) < 0 ||
            as_sb_printf(&sb, "=%s", colon ? colon + 2 : "") < 0) {
            as_sb_free(&sb);
            as_strv_free(list);
            return NULL;
        }
        list[i] = sb.buf;
    }
    return list;
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct exec_scaler *s = state;
    s->ctx = *ctx;
    s->env_tmpl = env_templates(s->env);
    if (s->env_tmpl == NULL)
        return as_err_set(err, "out of memory");
    return 0;
}

/* Copies a NULL-terminated list of templates with the placeholders substituted, after up to
 * two fixed leading entries. Caller frees with free_list; NULL on ENOMEM. */
static char **expand(char *const *tmpl, const char *const *fixed, size_t nfixed,
                     const char *const *keys, const char *const *values, size_t n)
{
    size_t len = 0;
    while (tmpl && tmpl[len])
        len++;
    char **list = calloc(nfixed + len + 1, sizeof(char *));
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < nfixed + len; i++) {
        list[i] = i < nfixed ? as_strdup(fixed[i]) : as_template(tmpl[i - nfixed], keys, values, n);
        if (list[i] == NULL) {
            as_strv_free(list);
            return NULL;
        }
    }
    return list;
}

static void finish(struct exec_scaler *s, const struct as_scale_result *r)
{
    as_scale_cb done = s->done;
    s->done = NULL;
    done(r, s->arg);
}

static void defer_failure(struct exec_scaler *s, const char *msg, int permanent)
{
    struct as_scale_result r = {.ok = 0, .permanent = permanent, .replicas = -1};
    snprintf(r.error, sizeof(r.error), "%s", msg);
    if (as_defer_scale(s->ctx.loop, &s->deferred, s->done, &r, s->arg) < 0)
        AS_LOG(AS_ERROR, "scaler/exec[%s]: out of memory reporting: %s", s->ctx.group, msg);
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

static void describe_failure(const struct as_proc_result *pr, struct as_scale_result *r)
{
    char how[64], tail[161];
    as_proc_describe(pr, how, sizeof(how));
    last_line(pr->err, pr->err_len, tail, sizeof(tail));
    r->ok = 0;
    r->replicas = -1;
    r->permanent = !pr->timed_out && (pr->exit_code == 126 || pr->exit_code == 127);
    if (tail[0] != '\0')
        snprintf(r->error, sizeof(r->error), "%s: %s", how, tail);
    else
        snprintf(r->error, sizeof(r->error), "%s", how);
}

static void on_set(const struct as_proc_result *pr, void *arg)
{
    struct exec_scaler *s = arg;
    struct as_scale_result r = {.ok = 1, .replicas = s->want};
    s->proc = NULL;
    if (pr->timed_out || pr->exit_code != 0)
        describe_failure(pr, &r);
    finish(s, &r);
}

static void parse_count(const struct as_proc_result *pr, struct as_scale_result *r)
{
    char text[32], shown[41];
    size_t b = 0, e = pr->out_len;
    while (b < e && isspace((unsigned char)pr->out[b]))
        b++;
    while (e > b && isspace((unsigned char)pr->out[e - 1]))
        e--;
    long v = -1;
    if (e - b < sizeof(text)) {
        memcpy(text, pr->out + b, e - b);
        text[e - b] = '\0';
        if (as_parse_long(text, &v) < 0 || v > 1000000000L)
            v = -1;
    }
    if (v >= 0) {
        r->ok = 1;
        r->replicas = (int)v;
        return;
    }
    snprintf(r->error, sizeof(r->error), "'get' printed \"%s\", not a whole number >= 0",
             as_printable(pr->out + b, e - b, shown, sizeof(shown)));
}

static void on_get(const struct as_proc_result *pr, void *arg)
{
    struct exec_scaler *s = arg;
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    s->proc = NULL;
    if (pr->timed_out || pr->exit_code != 0)
        describe_failure(pr, &r);
    else
        parse_count(pr, &r);
    finish(s, &r);
}

static void launch(struct exec_scaler *s, char **argv, char **env, as_proc_cb cb)
{
    assert(s->proc == NULL && s->deferred == NULL); /* one call at a time */
    if (argv == NULL || env == NULL) {
        defer_failure(s, "out of memory", 0);
        return;
    }
    struct as_proc_opts o = {.argv = (const char *const *)argv,
                             .env = (const char *const *)env,
                             .cwd = s->working_dir,
                             .out = AS_PROC_CAPTURE,
                             .err = AS_PROC_CAPTURE,
                             .timeout_ms = s->ctx.timeout_ms,
                             .grace_ms = s->grace};
    struct as_err err;
    as_err_clear(&err);
    s->proc = as_proc_spawn(s->ctx.loop, &o, cb, s, &err);
    if (s->proc != NULL)
        return;
    int e = errno;
    defer_failure(s, err.msg, e != ENOMEM && e != EMFILE && e != ENFILE && e != EAGAIN);
}

static void set(void *state, int want, as_scale_cb done, void *arg)
{
    struct exec_scaler *s = state;
    char replicas[16], env_replicas[48];
    snprintf(replicas, sizeof(replicas), "%d", want);
    snprintf(env_replicas, sizeof(env_replicas), "AUTOSCALER_REPLICAS=%d", want);
    const char *keys[] = {"replicas", "group"};
    const char *values[] = {replicas, s->ctx.group};
    struct as_sb group = {0};
    int rc = as_sb_printf(&group, "AUTOSCALER_GROUP=%s", s->ctx.group);
    const char *fixed[] = {env_replicas, group.buf};
    char **argv = expand(s->command, NULL, 0, keys, values, 2);
    char **env = rc == 0 ? expand(s->env_tmpl, fixed, 2, keys, values, 2) : NULL;
    s->want = want;
    s->done = done;
    s->arg = arg;
    launch(s, argv, env, on_set);
    as_strv_free(argv);
    as_strv_free(env);
    as_sb_free(&group);
}

static void get(void *state, as_scale_cb done, void *arg)
{
    struct exec_scaler *s = state;
    const char *keys[] = {"group"};
    const char *values[] = {s->ctx.group};
    struct as_sb group = {0};
    int rc = as_sb_printf(&group, "AUTOSCALER_GROUP=%s", s->ctx.group);
    const char *fixed[] = {group.buf};
    char **argv = expand(s->get_cmd, NULL, 0, keys, values, 1);
    char **env = rc == 0 ? expand(s->env_tmpl, fixed, 1, keys, values, 1) : NULL;
    s->done = done;
    s->arg = arg;
    launch(s, argv, env, on_get);
    as_strv_free(argv);
    as_strv_free(env);
    as_sb_free(&group);
}

static int can_get(const void *state)
{
    const struct exec_scaler *s = state;
    return s->get_cmd != NULL;
}

static void cancel(void *state)
{
    struct exec_scaler *s = state;
    as_proc_abandon(s->proc);
    s->proc = NULL;
    as_defer_cancel(s->ctx.loop, &s->deferred);
    s->done = NULL;
}

static void stop(void *state, as_stopped_cb done, void *arg)
{
    struct exec_scaler *s = state;
    if (s->ctx.loop != NULL)
        cancel(s);
    as_strv_free(s->env_tmpl);
    s->env_tmpl = NULL;
    done(arg);
}

const struct as_scaler_ops as_scaler_exec = {
    .name = "exec",
    .opts = opts,
    .state_size = sizeof(struct exec_scaler),
    .summary = "Runs a command (no shell) to set the replica count, and optionally one that "
               "prints it.",
    .validate = validate,
    .start = start,
    .get = get,
    .can_get = can_get,
    .set = set,
    .cancel = cancel,
    .stop = stop,
};
