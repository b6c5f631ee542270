/* Notifier `console`: the event as one line on the daemon's standard output.
 *
 * The line is written without ever blocking the loop: on a pipe or a terminal, only once the
 * descriptor is writable (a line is at most PIPE_BUF bytes, so one writable pipe takes it
 * whole); a regular file or /dev/null, which cannot be polled, is written at once. A reader
 * that stops reading costs the deliveries their deadline, nothing more. Each console notifier
 * writes through a descriptor of its own (a dup of 1), so several can wait at once. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/event.h"
#include "util/log.h"
#include "util/loop.h"

#define LINE_MAX_BYTES PIPE_BUF

struct console_notifier {
    /* runtime */
    struct as_ctx ctx;
    int fd;       /* our dup of 1, -1 before start */
    int pollable; /* the loop can watch fd */
    int watching;
    char line[LINE_MAX_BYTES];
    size_t len;
    struct as_timer *deferred;
    as_notify_cb done;
    void *arg;
};

static const struct as_opt opts[] = {
    AS_OPT_END,
};

static void noop(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop, (void)fd, (void)events, (void)arg;
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct console_notifier *c = state;
    c->ctx = *ctx;
    c->fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
    if (c->fd < 0)
        return as_err_set(err, "standard output: %s", strerror(errno));
    c->pollable = as_loop_watch_fd(ctx->loop, c->fd, AS_WRITE, noop, c) == 0;
    if (c->pollable)
        as_loop_watch_fd(ctx->loop, c->fd, 0, NULL, NULL);
    return 0;
}

/* Writes the line; the result goes to the dispatcher from the loop. */
static void write_line(struct console_notifier *c)
{
    struct as_notify_result r = {.ok = 1};
    ssize_t n;
    do
        n = write(c->fd, c->line, c->len);
    while (n < 0 && errno == EINTR);
    if (n < 0 || (size_t)n != c->len) {
        r.ok = 0;
        snprintf(r.error, sizeof(r.error), "standard output: %s",
                 n < 0 ? strerror(errno) : "short write");
    }
    as_notify_cb done = c->done;
    c->done = NULL;
    if (as_defer_notify(c->ctx.loop, &c->deferred, done, &r, c->arg) < 0)
        AS_LOG(AS_ERROR, "notify/console[%s]: out of memory reporting a delivery", c->ctx.name);
}

static void on_writable(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    struct console_notifier *c = arg;
    as_loop_watch_fd(loop, fd, 0, NULL, NULL);
    c->watching = 0;
    write_line(c);
}

static void deliver(void *state, const struct as_ev *ev, const char *text, as_notify_cb done,
                    void *arg)
{
    (void)ev;
    struct console_notifier *c = state;
    size_t n = strcspn(text, "\n"); /* one line, whatever the template */
    if (n > sizeof(c->line) - 1)
        n = sizeof(c->line) - 1;
    memcpy(c->line, text, n);
    c->line[n] = '\n';
    c->len = n + 1;
    c->done = done;
    c->arg = arg;
    if (c->pollable && as_loop_watch_fd(c->ctx.loop, c->fd, AS_WRITE, on_writable, c) == 0) {
        c->watching = 1;
        return;
    }
    write_line(c);
}

static void cancel(void *state)
{
    struct console_notifier *c = state;
    if (c->watching)
        as_loop_watch_fd(c->ctx.loop, c->fd, 0, NULL, NULL);
    c->watching = 0;
    as_defer_cancel(c->ctx.loop, &c->deferred);
    c->done = NULL;
}

static void stop(void *state)
{
    struct console_notifier *c = state;
    if (c->ctx.loop == NULL)
        return;
    cancel(c);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

const struct as_notifier_ops as_notifier_console = {
    .name = "console",
    .opts = opts,
    .state_size = sizeof(struct console_notifier),
    .summary = "Prints each event as one line on the daemon's standard output (autoscalebot's "
               "ConsoleBackend).",
    .template = "{{time}} {{summary}}{{#repeats}} (and {{repeats}} more like it){{/repeats}}",
    .start = start,
    .deliver = deliver,
    .cancel = cancel,
    .stop = stop,
};
