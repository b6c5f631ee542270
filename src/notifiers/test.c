/* Notifier `test` (notifiers/test.h): every attempt recorded in memory, answered after
 * `delay`, failing the first `fail` attempts (permanently with `permanent`), or never
 * answered (`hang`). */
#include "notifiers/test.h"

#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/loop.h"

static const struct as_opt opts[] = {
    {"fail", AS_OPT_INT, offsetof(struct as_test_notifier, fail), "0", 0, 1000000, 0, NULL,
     "The first this many attempts fail."},
    {"permanent", AS_OPT_BOOL, offsetof(struct as_test_notifier, permanent), "false", AS_NO_BOUNDS,
     0, NULL, "Those failures are permanent (not retried)."},
    {"delay", AS_OPT_DURATION, offsetof(struct as_test_notifier, delay_ms), "0s", 0, 3600000, 0,
     NULL, "Each answer comes this late."},
    {"hang", AS_OPT_BOOL, offsetof(struct as_test_notifier, hang), "false", AS_NO_BOUNDS, 0, NULL,
     "Never answer (the dispatcher cancels at the deadline)."},
    AS_OPT_END,
};

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    (void)err;
    struct as_test_notifier *t = state;
    t->ctx = *ctx;
    return 0;
}

static int64_t on_timer(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct as_test_notifier *t = arg;
    t->timer = NULL;
    as_notify_cb done = t->done;
    t->done = NULL;
    done(&t->result, t->arg);
    return AS_TIMER_STOP;
}

static void deliver(void *state, const struct as_ev *ev, const char *text, as_notify_cb done,
                    void *arg)
{
    struct as_test_notifier *t = state;
    int ok = t->attempts >= t->fail;
    t->attempts++;
    if (t->n < AS_TEST_RECORDS) {
        struct as_test_record *r = &t->rec[t->n++];
        *r = (struct as_test_record){.kind = ev->kind,
                                     .from = ev->from,
                                     .to = ev->to,
                                     .repeats = ev->repeats,
                                     .at_ms = as_loop_now(t->ctx.loop),
                                     .ok = ok && !t->hang};
        snprintf(r->group, sizeof(r->group), "%s", ev->group);
        snprintf(r->text, sizeof(r->text), "%s", text);
    }
    t->done = done;
    t->arg = arg;
    t->result = (struct as_notify_result){.ok = ok, .permanent = !ok && t->permanent};
    if (!ok)
        snprintf(t->result.error, sizeof(t->result.error), "test failure %d of %d", t->attempts,
                 t->fail);
    if (t->hang)
        return;
    t->timer = as_loop_add_timer(t->ctx.loop, t->delay_ms, on_timer, t);
    if (t->timer == NULL)
        AS_LOG(AS_ERROR, "notify/test[%s]: out of memory: no answer", t->ctx.name);
}

static void cancel(void *state)
{
    struct as_test_notifier *t = state;
    as_loop_cancel_timer(t->ctx.loop, t->timer);
    t->timer = NULL;
    t->done = NULL;
    t->cancels++;
}

static void stop(void *state)
{
    struct as_test_notifier *t = state;
    if (t->ctx.loop != NULL)
        cancel(t);
    t->stopped = 1;
}

const struct as_notifier_ops as_notifier_test = {
    .name = "test",
    .opts = opts,
    .state_size = sizeof(struct as_test_notifier),
    .summary = "Records every delivery in memory, failing, answering late or hanging as told "
               "(for tests).",
    .template = "{{group}} {{kind}} {{from}}->{{to}}{{#repeats}} (and {{repeats}} more like "
                "it){{/repeats}}",
    .start = start,
    .deliver = deliver,
    .cancel = cancel,
    .stop = stop,
};
