/* Notifier `log`: the event as one line of the daemon's own log, at a level of its own. */
#include <stdio.h>

#include "core/event.h"
#include "util/log.h"

struct log_notifier {
    int level; /* enum as_log_level */
    /* runtime */
    struct as_ctx ctx;
    struct as_timer *deferred;
};

static const char *const levels[] = {"debug", "info", "warn", "error", NULL};

static const struct as_opt opts[] = {
    {"level", AS_OPT_ENUM, offsetof(struct log_notifier, level), "info", AS_NO_BOUNDS, 0, levels,
     "The level of the line (a line below the daemon's log_level is not written, and counts "
     "as delivered)."},
    AS_OPT_END,
};

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    (void)err;
    struct log_notifier *l = state;
    l->ctx = *ctx;
    return 0;
}

static void deliver(void *state, const struct as_ev *ev, const char *text, as_notify_cb done,
                    void *arg)
{
    (void)ev;
    struct log_notifier *l = state;
    AS_LOG((enum as_log_level)l->level, "notify[%s]: %s", l->ctx.name, text);
    struct as_notify_result r = {.ok = 1};
    if (as_defer_notify(l->ctx.loop, &l->deferred, done, &r, arg) < 0)
        AS_LOG(AS_ERROR, "notify/log[%s]: out of memory reporting a delivery", l->ctx.name);
}

static void cancel(void *state)
{
    struct log_notifier *l = state;
    as_defer_cancel(l->ctx.loop, &l->deferred);
}

static void stop(void *state)
{
    struct log_notifier *l = state;
    if (l->ctx.loop != NULL)
        cancel(l);
}

const struct as_notifier_ops as_notifier_log = {
    .name = "log",
    .opts = opts,
    .state_size = sizeof(struct log_notifier),
    .summary = "Writes each event as one line of the daemon's log (autoscalebot's "
               "LoggerBackend), at a level of its own.",
    .template = "{{summary}}{{#repeats}} (and {{repeats}} more like it){{/repeats}}",
    .start = start,
    .deliver = deliver,
    .cancel = cancel,
    .stop = stop,
};
