/* The dispatcher (drivers/notify.h) with the `test` notifier on a real loop: which events a
 * notifier takes, retries with backoff, permanent failures, the deadline of a hanging
 * delivery, the queue bound, the rate limit with its count, a notifier that hangs beside one
 * that works, reloads and the shutdown flush with its bound; and the notifier configuration's
 * errors at their positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/notify_cfg.h"
#include "drivers/notify.h"
#include "notifiers/test.h"
#include "util/log.h"
#include "util/loop.h"

#define GROUPS                                                                                     \
    "groups:\n"                                                                                    \
    "  web:\n"                                                                                     \
    "    max: 5\n"                                                                                 \
    "    metrics: [{type: http_json, url: 'http://127.0.0.1:1/', pointer: /q, target: 1}]\n"       \
    "    scaler: {type: http, url: 'http://127.0.0.1:1/'}\n"                                       \
    "  db:\n"                                                                                      \
    "    max: 5\n"                                                                                 \
    "    metrics: [{type: http_json, url: 'http://127.0.0.1:1/', pointer: /q, target: 1}]\n"       \
    "    scaler: {type: http, url: 'http://127.0.0.1:1/'}\n"

struct rig {
    struct as_loop *loop;
    struct as_notify *n;
    struct as_config *cfg;
    int stopped;
};

static struct as_config *parse(const char *notifiers)
{
    char text[4096];
    snprintf(text, sizeof(text), GROUPS "notifiers:\n%s", notifiers);
    struct as_err err;
    as_err_clear(&err);
    struct as_config *cfg = as_config_parse("n.yaml", text, &err);
    if (cfg == NULL) {
        print_error("%s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
        fail();
    }
    return cfg;
}

static void rig_start(struct rig *r, const char *notifiers)
{
    *r = (struct rig){0};
    r->loop = as_loop_new();
    assert_non_null(r->loop);
    r->n = as_notify_new(r->loop, NULL, 0);
    assert_non_null(r->n);
    r->cfg = parse(notifiers);
    as_notify_apply(r->n, r->cfg);
}

static void on_stopped(void *arg)
{
    *(int *)arg = 1;
}

/* Runs the loop for ms milliseconds. */
static void run_for(struct rig *r, int64_t ms)
{
    int64_t end = as_mono_ms() + ms;
    for (int64_t now = as_mono_ms(); now < end; now = as_mono_ms())
        as_loop_once(r->loop, end - now);
}

static void rig_stop(struct rig *r, int64_t within_ms)
{
    int64_t t0 = as_mono_ms();
    as_notify_shutdown(r->n, on_stopped, &r->stopped);
    while (!r->stopped && as_mono_ms() - t0 < within_ms + 2000)
        as_loop_once(r->loop, 50);
    assert_true(r->stopped);
    assert_true(as_mono_ms() - t0 <= within_ms + 200);
    as_notify_free(r->n);
    as_config_unref(r->cfg);
    as_loop_free(r->loop);
}

static void emit(struct rig *r, enum as_ev_kind kind, const char *group, int from, int to)
{
    struct as_ev ev;
    as_ev_init(&ev, kind, group, as_wall_ms());
    ev.from = from;
    ev.to = to;
    as_notify_emit(r->n, &ev);
}

static struct as_test_notifier *t_of(struct rig *r, const char *name)
{
    struct as_test_notifier *t = as_notify_state(r->n, name);
    assert_non_null(t);
    return t;
}

static struct as_notify_counters counters(struct rig *r, const char *name)
{
    struct as_notify_counters c;
    assert_int_equal(as_notify_counters(r->n, name, &c), 0);
    return c;
}

/* Kinds and groups: what `on` and `groups` take, and the default (above_max only). */
static void test_subscriptions(void **unused)
{
    (void)unused;
    struct rig r;
    rig_start(&r, "  all: {type: test, on: [all], repeat_interval: 0s}\n"
                  "  dflt: {type: test}\n"
                  "  web-scales: {type: test, on: [scale, scale_failed], groups: [web]}\n");
    emit(&r, AS_EV_SCALE, "web", 1, 2);
    emit(&r, AS_EV_SCALE, "db", 1, 2);
    emit(&r, AS_EV_ABOVE_MAX, "db", 5, 5);
    emit(&r, AS_EV_MEASUREMENT, "web", 2, 2);
    run_for(&r, 50);
    struct as_test_notifier *all = t_of(&r, "all"), *dflt = t_of(&r, "dflt"),
                            *ws = t_of(&r, "web-scales");
    assert_int_equal(all->n, 4);
    assert_int_equal(dflt->n, 1);
    assert_int_equal(dflt->rec[0].kind, AS_EV_ABOVE_MAX);
    assert_string_equal(dflt->rec[0].text, "db above_max 5->5");
    assert_int_equal(ws->n, 1);
    assert_string_equal(ws->rec[0].group, "web");
    assert_int_equal(counters(&r, "dflt").events, 1);
    rig_stop(&r, 100);
}

/* A failing delivery is retried with exponential backoff (equal jitter: the n-th wait is in
 * [d/2, d] with d = backoff * 2^n, at most backoff_max), then delivered. */
static void test_retry_backoff(void **unused)
{
    (void)unused;
    struct rig r;
    rig_start(&r, "  t: {type: test, on: [scale], fail: 3, retries: 3, backoff: 100ms, "
                  "backoff_max: 300ms}\n");
    emit(&r, AS_EV_SCALE, "web", 1, 2);
    run_for(&r, 1000);
    struct as_test_notifier *t = t_of(&r, "t");
    assert_int_equal(t->n, 4);
    int64_t lo[] = {50, 100, 150}, hi[] = {100, 200, 300};
    for (int i = 0; i < 3; i++) {
        int64_t gap = t->rec[i + 1].at_ms - t->rec[i].at_ms;
        if (gap < lo[i] || gap > hi[i] + 30) {
            print_error("retry %d after %lldms, want %lld..%lld\n", i + 1, (long long)gap,
                        (long long)lo[i], (long long)hi[i]);
            fail();
        }
        assert_false(t->rec[i].ok);
    }
    assert_true(t->rec[3].ok);
    struct as_notify_counters c = counters(&r, "t");
    assert_int_equal(c.failed, 3);
    assert_int_equal(c.retried, 3);
    assert_int_equal(c.delivered, 1);
    assert_int_equal(c.gave_up, 0);
    rig_stop(&r, 100);
}

/* Retries run out: the event is given up, and the next one is tried afresh. A permanent
 * failure is never retried. */
static void test_give_up(void **unused)
{
    (void)unused;
    struct rig r;
    rig_start(&r, "  few: {type: test, on: [scale], fail: 3, retries: 1, backoff: 10ms}\n"
                  "  perm: {type: test, on: [scale], fail: 1, permanent: true, backoff: 10ms}\n");
    emit(&r, AS_EV_SCALE, "web", 1, 2);
    run_for(&r, 200);
    emit(&r, AS_EV_SCALE, "web", 2, 3);
    run_for(&r, 200);
    struct as_test_notifier *few = t_of(&r, "few"), *perm = t_of(&r, "perm");
    assert_int_equal(few->n, 4); /* 2 attempts each: fail fail | fail ok */
    assert_true(few->rec[3].ok);
    assert_int_equal(few->rec[3].to, 3);
    assert_int_equal(counters(&r, "few").gave_up, 1);
    assert_int_equal(perm->n, 2); /* the permanent failure once, then the next event */
    assert_int_equal(perm->rec[0].to, 2);
    assert_int_equal(perm->rec[1].to, 3);
    assert_int_equal(counters(&r, "perm").gave_up, 1);
    assert_int_equal(counters(&r, "perm").retried, 0);
    rig_stop(&r, 100);
}

/* A delivery that never answers is cancelled at its timeout plus 100 ms, and costs nothing
 * to another notifier: that one delivers at once. */
static void test_deadline_and_isolation(void **unused)
{
    (void)unused;
    struct rig r;
    rig_start(&r, "  hangs: {type: test, on: [scale], hang: true, timeout: 200ms, retries: 0}\n"
                  "  works: {type: test, on: [scale]}\n");
    int64_t t0 = as_mono_ms();
    emit(&r, AS_EV_SCALE, "web", 1, 2);
    run_for(&r, 30);
    struct as_test_notifier *h = t_of(&r, "hangs"), *w = t_of(&r, "works");
    assert_int_equal(w->n, 1);
    assert_true(w->rec[0].at_ms - h->rec[0].at_ms < 20);
    assert_int_equal(h->cancels, 0);
    while (h->cancels == 0 && as_mono_ms() - t0 < 2000)
        as_loop_once(r.loop, 10);
    int64_t took = as_mono_ms() - t0;
    assert_int_equal(h->cancels, 1);
    assert_true(took >= 290 && took < 400); /* the loop's clock is cached per iteration */
    assert_int_equal(counters(&r, "hangs").gave_up, 1);
    rig_stop(&r, 300);
}

/* At most `queue` events wait; the oldest waiting one is dropped when a new one comes. */
static void test_queue_bound(void **unused)
{
    (void)unused;
    struct rig r;
    rig_start(&r,
              "  slow: {type: test, on: [scale], delay: 100ms, queue: 3, repeat_interval: 0s}\n");
    for (int i = 0; i < 10; i++)
        emit(&r, AS_EV_SCALE, "web", i, i + 1);
    struct as_notify_counters c = counters(&r, "slow");
    assert_int_equal(c.dropped, 6); /* 1 in flight, 3 waiting */
    run_for(&r, 600);
    struct as_test_notifier *t = t_of(&r, "slow");
    assert_int_equal(t->n, 4);
    int want[] = {0, 7, 8, 9};
    for (int i = 0; i < 4; i++)
        assert_int_equal(t->rec[i].from, want[i]);
    rig_stop(&r, 100);
}

/* The same event over and over: the first goes at once, the rest are held back until the
 * interval ends, then the last one goes with the count of the others. A different event is
 * never held back by it. */
static void test_rate_limit(void **unused)
{
    (void)unused;
    struct rig r;
    rig_start(&r, "  t: {type: test, on: [above_max, scale], repeat_interval: 300ms}\n");
    for (int i = 0; i < 13; i++)
        emit(&r, AS_EV_ABOVE_MAX, "web", 5, 5);
    emit(&r, AS_EV_SCALE, "web", 1, 2);
    run_for(&r, 100);
    struct as_test_notifier *t = t_of(&r, "t");
    assert_int_equal(t->n, 2);
    assert_string_equal(t->rec[0].text, "web above_max 5->5");
    assert_int_equal(t->rec[1].kind, AS_EV_SCALE);
    run_for(&r, 300);
    assert_int_equal(t->n, 3);
    assert_int_equal(t->rec[2].repeats, 11);
    assert_string_equal(t->rec[2].text, "web above_max 5->5 (and 11 more like it)");
    struct as_notify_counters c = counters(&r, "t");
    assert_int_equal(c.held, 12);
    assert_int_equal(c.summaries, 1);
    emit(&r, AS_EV_ABOVE_MAX, "web", 5, 5); /* within the new interval: held back */
    run_for(&r, 50);
    assert_int_equal(t->n, 3);
    emit(&r, AS_EV_ABOVE_MAX, "db", 5, 5); /* another group: not like it */
    run_for(&r, 50);
    assert_int_equal(t->n, 4);
    run_for(&r, 300);
    assert_int_equal(t->n, 5);
    assert_int_equal(t->rec[4].repeats, 0); /* one held back: delivered as itself */
    rig_stop(&r, 100);
}

/* A reload keeps an unchanged notifier (its state, its waiting events), replaces a changed
 * one, and lets a removed one deliver what waits before it stops. */
static void test_reload(void **unused)
{
    (void)unused;
    struct rig r;
    rig_start(&r, "  same: {type: test, on: [scale], delay: 100ms, repeat_interval: 0s}\n"
                  "  changed: {type: test, on: [scale]}\n"
                  "  gone: {type: test, on: [scale], delay: 100ms, repeat_interval: 0s}\n");
    for (int i = 0; i < 3; i++)
        emit(&r, AS_EV_SCALE, "web", i, i + 1);
    struct as_test_notifier *same = t_of(&r, "same"), *changed = t_of(&r, "changed");
    struct as_config *cfg2 =
        parse("  same: {type: test, on: [scale], delay: 100ms, repeat_interval: 0s}\n"
              "  changed: {type: test, on: [scale], fail: 1}\n");
    as_notify_apply(r.n, cfg2);
    assert_ptr_equal(t_of(&r, "same"), same);
    assert_ptr_not_equal(t_of(&r, "changed"), changed);
    assert_null(as_notify_state(r.n, "gone"));
    as_config_unref(r.cfg);
    r.cfg = cfg2;
    run_for(&r, 500);
    assert_int_equal(same->n, 3); /* every waiting event, across the reload */
    emit(&r, AS_EV_SCALE, "web", 7, 8);
    run_for(&r, 150);
    assert_int_equal(same->n, 4);
    assert_int_equal(t_of(&r, "changed")->n, 1); /* only the event after the reload */
    rig_stop(&r, 1000);
}

/* Shutdown: what waits is delivered without retries within the bound; a hanging notifier is
 * cut at it; held-back events go out first. */
static void test_shutdown_flush(void **unused)
{
    (void)unused;
    struct rig r;
    rig_start(&r, "  hangs: {type: test, on: [scale], hang: true, timeout: 300ms}\n"
                  "  held: {type: test, on: [scale], repeat_interval: 1h}\n");
    emit(&r, AS_EV_SCALE, "web", 1, 2);
    emit(&r, AS_EV_SCALE, "web", 1, 2);
    emit(&r, AS_EV_SCALE, "web", 1, 2);
    run_for(&r, 20);
    struct as_test_notifier *held = t_of(&r, "held");
    assert_int_equal(held->n, 1);
    struct as_test_notifier *hangs = t_of(&r, "hangs");
    int64_t t0 = as_mono_ms();
    as_notify_shutdown(r.n, on_stopped, &r.stopped);
    while (!r.stopped && as_mono_ms() - t0 < 3000)
        as_loop_once(r.loop, 20);
    int64_t took = as_mono_ms() - t0;
    assert_true(r.stopped);
    assert_true(took >= 280 && took < 450);
    assert_int_equal(held->n, 2); /* the held-back one, with its count */
    assert_int_equal(held->rec[1].repeats, 1);
    assert_true(held->stopped);
    assert_true(hangs->stopped);
    as_notify_free(r.n);
    as_config_unref(r.cfg);
    as_loop_free(r.loop);
}

/* Secrets never reach a message: a template from a reference and an event's texts. */
static void test_no_secret_in_text(void **unused)
{
    (void)unused;
    setenv("AS_TEST_NOTIFY_SECRET", "s3cr3t-value-42", 1);
    struct rig r;
    rig_start(&r, "  t: {type: test, on: [scale_failed], template: '{{reason}} "
                  "${env:AS_TEST_NOTIFY_SECRET}'}\n");
    struct as_ev ev;
    as_ev_init(&ev, AS_EV_SCALE_FAILED, "web", 0);
    as_ev_reason(&ev, "HTTP 401 for token s3cr3t-value-42");
    as_notify_emit(r.n, &ev);
    run_for(&r, 30);
    struct as_test_notifier *t = t_of(&r, "t");
    assert_int_equal(t->n, 1);
    assert_null(strstr(t->rec[0].text, "s3cr3t"));
    assert_string_equal(t->rec[0].text, "HTTP 401 for token *** ***");
    rig_stop(&r, 100);
    as_log_secrets_clear();
}

/* --dry-run: no notifier starts, nothing is delivered; each event is logged and counted. */
static void test_dry_run(void **unused)
{
    (void)unused;
    struct rig r = {0};
    r.loop = as_loop_new();
    r.n = as_notify_new(r.loop, NULL, 1);
    r.cfg = parse("  t: {type: test, on: [scale], repeat_interval: 0s}\n");
    as_notify_apply(r.n, r.cfg);
    emit(&r, AS_EV_SCALE, "web", 1, 2);
    emit(&r, AS_EV_SCALE, "web", 2, 3);
    run_for(&r, 30);
    struct as_test_notifier *t = t_of(&r, "t");
    assert_int_equal(t->n, 0);
    assert_null(t->ctx.loop); /* never started */
    assert_int_equal(counters(&r, "t").delivered, 2);
    rig_stop(&r, 100);
}

static int fails;

static void config_error(const char *notifiers, int line, int col, const char *msg)
{
    char text[4096];
    snprintf(text, sizeof(text), GROUPS "notifiers:\n%s", notifiers);
    struct as_err err;
    as_err_clear(&err);
    struct as_config *cfg = as_config_parse("n.yaml", text, &err);
    if (cfg != NULL || err.line != line || err.col != col || strstr(err.msg, msg) == NULL) {
        print_error("%s\n-> %d:%d: %s\nwant %d:%d: %s\n", notifiers, err.line, err.col, err.msg,
                    line, col, msg);
        as_config_unref(cfg);
        fails++;
    }
}

static void test_config_errors(void **unused)
{
    (void)unused;
    config_error("  a: {type: pager}\n", 11, 13, "unknown notifier type 'pager'");
    config_error("  a: {on: [scale]}\n", 11, 6, "missing required key 'type'");
    config_error("  a: {type: test, on: [scale, nope]}\n", 11, 31, "unknown event 'nope'");
    config_error("  a: {type: test, on: [leader_changed]}\n", 11, 24, "no leader election");
    config_error("  a: {type: test, groups: [web, api]}\n", 11, 33, "no group named 'api'");
    config_error("  a: {type: test, template: 'x {{grop}}'}\n", 11, 34, "unknown field 'grop'");
    config_error("  a:\n    type: test\n    template: x {{#group}}\n", 13, 20, "is not closed");
    config_error("  a: {type: test, colour: red}\n", 11, 19, "unknown key 'colour'");
    config_error("  a: {type: test, queue: 0}\n", 11, 26, "'queue' must be between 1 and 10000");
    config_error("  a b: {type: test}\n", 11, 3, "notifier name 'a b'");
    config_error("  a: [type, test]\n", 11, 6, "must be a mapping");
    assert_int_equal(fails, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subscriptions),
        cmocka_unit_test(test_retry_backoff),
        cmocka_unit_test(test_give_up),
        cmocka_unit_test(test_deadline_and_isolation),
        cmocka_unit_test(test_queue_bound),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_shutdown_flush),
        cmocka_unit_test(test_no_secret_in_text),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
