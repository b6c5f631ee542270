/* Notifier `exec`: runs a command per event, without a shell, in its own process group (util/
 * proc.h): each argument a template, the event in AUTOSCALER_EVENT_* environment variables and
 * as JSON (one line) on its standard input. Exit 0 delivers; exit 126 or 127, or a program
 * that cannot be started, is permanent; any other exit, a signal or the timeout (the process
 * group gets SIGTERM, SIGKILL 50 ms later) is retried by the dispatcher. */
#include <ctype.h>
#include <errno.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/event.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/tmpl.h"
#include "util/util.h"

#define STDERR_KEEP 4096
#define KILL_GRACE_MS 50

struct exec_notifier {
    char **command, **env;
    char *working_dir;
    /* runtime */
    struct as_ctx ctx;
    struct as_tmpl **args; /* command[i] compiled */
    size_t nargs;
    struct as_proc *proc;
    struct as_timer *deferred;
    as_notify_cb done;
    void *arg;
};

static const struct as_opt opts[] = {
    {"command", AS_OPT_STRLIST, offsetof(struct exec_notifier, command), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "Program and arguments (no shell); each argument is a template (docs/events.md), e.g. "
     "[notify-send, \"{{summary}}\"]."},
    {"env", AS_OPT_HEADERS, offsetof(struct exec_notifier, env), NULL, AS_NO_BOUNDS, 0, NULL,
     "Extra environment variables (NAME: value), beside AUTOSCALER_EVENT_*."},
    {"working_dir", AS_OPT_STR, offsetof(struct exec_notifier, working_dir), NULL, AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL, "Directory the command runs in (default: the daemon's)."},
    AS_OPT_END,
};

/* The event's fields in the environment, each AUTOSCALER_EVENT_<FIELD>. */
static const char *const env_fields[] = {
    "kind",   "group",   "time",   "unix",   "from",    "to",   "wanted",   "min", "max",
    "reason", "summary", "metric", "values", "repeats", "host", "notifier", NULL,
};

static int compile_arg(const char *text, struct as_tmpl **t, const struct as_node *at,
                       struct as_err *err)
{
    size_t pos;
    char msg[160];
    if (as_tmpl_compile(text, as_ev_field_known, t, &pos, msg, sizeof(msg)) == 0)
        return 0;
    return as_err_at(err, at->file, at->line, at->col, "'command': %s", msg);
}

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct exec_notifier *x = state;
    const char *file;
    int line, col;
    for (size_t i = 0; x->env && x->env[i]; i++) {
        const char *colon = strstr(x->env[i], ": ");
        if (as_env_name_ok(x->env[i], colon ? (size_t)(colon - x->env[i]) : 0))
            continue;
        as_node_pos(map, "env", &file, &line, &col);
        return as_err_at(err, file, line, col,
                         "'env' names must be letters, digits and _ and may not start with a "
                         "digit or AUTOSCALER_ (entry %zu)",
                         i + 1);
    }
    struct as_node *list = as_node_get(map, "command");
    for (size_t i = 0; x->command[i]; i++) {
        struct as_tmpl *t;
        if (compile_arg(x->command[i], &t, list->items[i], err) < 0)
            return -1;
        as_tmpl_free(t);
    }
    return 0;
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct exec_notifier *x = state;
    x->ctx = *ctx;
    while (x->command[x->nargs])
        x->nargs++;
    x->args = calloc(x->nargs, sizeof(*x->args));
    if (x->args == NULL)
        return as_err_set(err, "out of memory");
    for (size_t i = 0; i < x->nargs; i++) {
        size_t pos;
        char msg[160];
        if (as_tmpl_compile(x->command[i], as_ev_field_known, &x->args[i], &pos, msg, sizeof(msg)) <
            0)
            return as_err_set(err, "'command': %s", msg);
    }
    return 0;
}

static void finish(struct exec_notifier *x, const struct as_notify_result *r)
{
    as_notify_cb done = x->done;
    x->done = NULL;
    done(r, x->arg);
}

static void fail_soon(struct exec_notifier *x, const char *why, int permanent)
{
    struct as_notify_result r = {.ok = 0, .permanent = permanent};
    snprintf(r.error, sizeof(r.error), "%s", why);
    as_notify_cb done = x->done;
    x->done = NULL;
    if (as_defer_notify(x->ctx.loop, &x->deferred, done, &r, x->arg) < 0)
        AS_LOG(AS_ERROR, "notify/exec[%s]: out of memory reporting: %s", x->ctx.name, why);
}

/* The last non-empty line of text, printable, into buf. */
static const char *last_line(const char *text, size_t len, char *buf, size_t size)
{
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    size_t b = len;
    while (b > 0 && text[b - 1] != '\n')
        b--;
    return as_printable(text + b, len - b, buf, size);
}

static void on_exit_(const struct as_proc_result *pr, void *arg)
{
    struct exec_notifier *x = arg;
    struct as_notify_result r = {.ok = 1};
    x->proc = NULL;
    if (pr->timed_out || pr->exit_code != 0) {
        char how[64], tail[161];
        as_proc_describe(pr, how, sizeof(how));
        last_line(pr->err, pr->err_len, tail, sizeof(tail));
        r.ok = 0;
        r.permanent = !pr->timed_out && (pr->exit_code == 126 || pr->exit_code == 127);
        snprintf(r.error, sizeof(r.error), "%s%s%s", how, tail[0] ? ": " : "", tail);
    }
    finish(x, &r);
}

/* The event's JSON, one line, in a memory file the child reads as its stdin; -1 on failure. */
static int stdin_of(const struct exec_notifier *x, const struct as_ev *ev, const char *text)
{
    json_t *doc = as_ev_json(ev, x->ctx.name, text, "text");
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(doc);
    int fd = s ? (int)syscall(SYS_memfd_create, "autoscaler-event", MFD_CLOEXEC) : -1;
    size_t len = s ? strlen(s) : 0;
    if (fd >= 0 && (write(fd, s, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
                    lseek(fd, 0, SEEK_SET) != 0)) {
        close(fd);
        fd = -1;
    }
    free(s);
    return fd;
}

/* "AUTOSCALER_EVENT_KIND=scale", ..., "AUTOSCALER_EVENT_TEXT=...", then `env`; NULL on ENOMEM. */
static char **environment(const struct exec_notifier *x, const struct as_ev *ev, const char *text)
{
    size_t nf = AS_ARRAY_LEN(env_fields) - 1, ne = 0;
    while (x->env && x->env[ne])
        ne++;
    char **list = calloc(nf + 1 + ne + 1, sizeof(char *));
    struct as_ev_view view = {ev, x->ctx.name};
    char buf[4096];
    for (size_t i = 0; list && i < nf + 1 + ne; i++) {
        struct as_sb sb = {0};
        int rc;
        if (i < nf) {
            const char *f = env_fields[i];
            const char *v = as_ev_field(&view, f, strlen(f), buf, sizeof(buf));
            rc = as_sb_puts(&sb, "AUTOSCALER_EVENT_");
            for (const char *p = f; rc == 0 && *p; p++)
                rc = as_sb_printf(&sb, "%c", toupper((unsigned char)*p));
            rc |= rc == 0 ? as_sb_printf(&sb, "=%s", v) : 0;
        } else if (i == nf) {
            rc = as_sb_printf(&sb, "AUTOSCALER_EVENT_TEXT=%s", text);
        } else {
            const char *e = x->env[i - nf - 1], *colon = strstr(e, ": ");
            size_t n = colon ? (size_t)(colon - e) : strlen(e);
            rc = as_sb_append(&sb, e, n);
            if (rc == 0)
                rc = as_sb_printf(&sb, "=%s", colon ? colon + 2 : "");
        }
        if (rc != 0) {
            as_sb_free(&sb);
            as_strv_free(list);
            return NULL;
        }
        list[i] = sb.buf;
    }
    return list;
}

/* The arguments rendered for ev; NULL on ENOMEM. */
static char **arguments(const struct exec_notifier *x, const struct as_ev *ev)
{
    char **argv = calloc(x->nargs + 1, sizeof(char *));
    struct as_ev_view view = {ev, x->ctx.name};
    for (size_t i = 0; argv && i < x->nargs; i++) {
        struct as_sb sb = {0};
        if (as_tmpl_render(x->args[i], as_ev_field, &view, &sb) < 0) {
            as_sb_free(&sb);
            as_strv_free(argv);
            return NULL;
        }
        argv[i] = sb.buf;
        as_log_mask(argv[i], sb.len);
    }
    return argv;
}

static void deliver(void *state, const struct as_ev *ev, const char *text, as_notify_cb done,
                    void *arg)
{
    struct exec_notifier *x = state;
    x->done = done;
    x->arg = arg;
    char **argv = arguments(x, ev), **env = environment(x, ev, text);
    int in = stdin_of(x, ev, text);
    if (argv == NULL || env == NULL || in < 0) {
        fail_soon(x, "out of memory (or no memory file for its input)", 0);
        goto out;
    }
    struct as_proc_opts o = {.argv = (const char *const *)argv,
                             .env = (const char *const *)env,
                             .cwd = x->working_dir,
                             .out = AS_PROC_NULL,
                             .err = AS_PROC_CAPTURE,
                             .capture_max = STDERR_KEEP,
                             .timeout_ms = x->ctx.timeout_ms,
                             .grace_ms = KILL_GRACE_MS,
                             .stdin_fd = in};
    struct as_err err;
    as_err_clear(&err);
    x->proc = as_proc_spawn(x->ctx.loop, &o, on_exit_, x, &err);
    if (x->proc == NULL) {
        int e = errno;
        fail_soon(x, err.msg, e == ENOENT || e == EACCES || e == ENOEXEC || e == ENOTDIR);
    }
out:
    if (in >= 0)
        close(in);
    as_strv_free(argv);
    as_strv_free(env);
}

static void cancel(void *state)
{
    struct exec_notifier *x = state;
    as_proc_abandon(x->proc); /* SIGKILL to its process group */
    x->proc = NULL;
    as_defer_cancel(x->ctx.loop, &x->deferred);
    x->done = NULL;
}

static void stop(void *state)
{
    struct exec_notifier *x = state;
    if (x->ctx.loop == NULL)
        return;
    cancel(x);
    for (size_t i = 0; x->args && i < x->nargs; i++)
        as_tmpl_free(x->args[i]);
    free(x->args);
    x->args = NULL;
}

const struct as_notifier_ops as_notifier_exec = {
    .name = "exec",
    .opts = opts,
    .state_size = sizeof(struct exec_notifier),
    .summary = "Runs a command per event (no shell, its own process group, killed at the "
               "timeout): the event in AUTOSCALER_EVENT_* variables and as JSON on stdin.",
    .template = "{{summary}}{{#repeats}} (and {{repeats}} more like it){{/repeats}}",
    .validate = validate,
    .start = start,
    .deliver = deliver,
    .cancel = cancel,
    .stop = stop,
};
