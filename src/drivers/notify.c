/* The dispatcher (drivers/notify.h): queues, deliveries, deadlines, retries, rate limits,
 * reloads and the shutdown flush of the notifiers. Everything runs on the loop. */
#include "drivers/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/notify_cfg.h"
#include "util/backoff.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/tmpl.h"
#include "util/util.h"

/* One kind of event a notifier delivered lately, for the rate limit. */
struct rate {
    char key[AS_EV_NAME_MAX * 3 + 48]; /* group, kind, from, to, metric; "" unused */
    int64_t sent_ms;                   /* loop time of the last delivery of its kind */
    unsigned long held;                /* events like it held back since */
    struct as_ev last;                 /* the newest of them */
};

/* One notifier at run time. */
struct nrt {
    struct as_notify *n;
    struct as_config *cfg; /* a reference: c lives in it */
    struct as_notifier_cfg *c;
    int started, retiring, finishing;
    struct as_ev *q; /* a ring of waiting events */
    size_t qcap, qhead, qlen;
    struct as_ev cur; /* the event being delivered (busy) or waiting for its retry */
    int busy, attempt;
    struct as_sb text;
    struct as_timer *deadline, *retry, *sweep, *flush;
    int64_t sweep_at;
    struct as_backoff backoff;
    struct rate rates[AS_NOTIFY_RATE_KEYS];
    struct as_notify_counters cnt;
    struct as_fault_log fault, gave_up, drops;
    struct nrt *next;
};

struct as_notify {
    struct as_loop *loop;
    struct as_http *http;
    struct nrt *list;
    int stopping, dry_run;
    void (*done)(void *);
    void *done_arg;
};

static void kick(struct nrt *r);
static void flush_begin(struct nrt *r, int64_t bound_ms);

struct as_notify *as_notify_new(struct as_loop *loop, struct as_http *http, int dry_run)
{
    struct as_notify *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->loop = loop;
    n->http = http;
    n->dry_run = dry_run;
    return n;
}

static const char *kind(const struct as_ev *ev)
{
    return as_ev_kind_name(ev->kind);
}

/* ---- queue ---- */

static int grow(struct nrt *r)
{
    size_t cap = r->qcap ? r->qcap * 2 : 4;
    if (cap > (size_t)r->c->queue)
        cap = (size_t)r->c->queue;
    struct as_ev *q = malloc(cap * sizeof(*q));
    if (q == NULL)
        return -1;
    for (size_t i = 0; i < r->qlen; i++)
        q[i] = r->q[(r->qhead + i) % r->qcap];
    free(r->q);
    r->q = q;
    r->qcap = cap;
    r->qhead = 0;
    return 0;
}

static void dropped(struct nrt *r, const struct as_ev *ev, const char *why)
{
    r->cnt.dropped++;
    as_log_fault(&r->drops, AS_WARN, "notify[%s]: dropped the %s event of %s: %s (%llu dropped)",
                 r->c->name, kind(ev), ev->group, why, (unsigned long long)r->cnt.dropped);
}

static void enqueue(struct nrt *r, const struct as_ev *ev)
{
    if (r->qlen == (size_t)r->c->queue) {
        dropped(r, &r->q[r->qhead], "the queue is full (the oldest waiting one goes)");
        r->qhead = (r->qhead + 1) % r->qcap;
        r->qlen--;
    }
    if (r->qlen == r->qcap && grow(r) < 0) {
        dropped(r, ev, "out of memory");
        return;
    }
    r->q[(r->qhead + r->qlen) % r->qcap] = *ev;
    r->qlen++;
    kick(r);
}

/* ---- rate limit ---- */

static void rate_key(const struct as_ev *ev, char *buf, size_t len)
{
    snprintf(buf, len, "%s|%d|%d|%d|%s", ev->group, (int)ev->kind, ev->from, ev->to, ev->metric);
}

static int64_t on_sweep(struct as_loop *loop, void *arg);

static void arm_sweep(struct nrt *r, int64_t at)
{
    if (r->sweep != NULL && r->sweep_at <= at)
        return;
    as_loop_cancel_timer(r->n->loop, r->sweep);
    int64_t now = as_loop_now(r->n->loop);
    r->sweep = as_loop_add_timer(r->n->loop, at > now ? at - now : 0, on_sweep, r);
    r->sweep_at = at;
}

/* Delivers what e held back: its newest event, counting the others. */
static void release_held(struct nrt *r, struct rate *e, int64_t now)
{
    struct as_ev ev = e->last;
    ev.repeats = e->held - 1;
    e->held = 0;
    e->sent_ms = now;
    r->cnt.summaries++;
    enqueue(r, &ev);
}

static int64_t on_sweep(struct as_loop *loop, void *arg)
{
    struct nrt *r = arg;
    int64_t now = as_loop_now(loop), next = INT64_MAX;
    r->sweep = NULL;
    for (size_t i = 0; i < AS_NOTIFY_RATE_KEYS; i++) {
        struct rate *e = &r->rates[i];
        if (e->held == 0)
            continue;
        if (now - e->sent_ms >= r->c->repeat_interval_ms)
            release_held(r, e, now);
        else if (e->sent_ms + r->c->repeat_interval_ms < next)
            next = e->sent_ms + r->c->repeat_interval_ms;
    }
    if (next != INT64_MAX)
        arm_sweep(r, next);
    return AS_TIMER_STOP;
}

/* The entry for key: its own, else a free or stale one, else the one sent longest ago (what
 * it held back is delivered first). */
static struct rate *rate_entry(struct nrt *r, const char *key, int64_t now)
{
    struct rate *free_e = NULL, *oldest = NULL;
    for (size_t i = 0; i < AS_NOTIFY_RATE_KEYS; i++) {
        struct rate *e = &r->rates[i];
        if (e->key[0] != '\0' && strcmp(e->key, key) == 0)
            return e;
        int stale =
            e->key[0] == '\0' || (e->held == 0 && now - e->sent_ms >= r->c->repeat_interval_ms);
        if (stale && free_e == NULL)
            free_e = e;
        if (oldest == NULL || e->sent_ms < oldest->sent_ms)
            oldest = e;
    }
    struct rate *e = free_e ? free_e : oldest;
    if (e->held > 0)
        release_held(r, e, now);
    snprintf(e->key, sizeof(e->key), "%s", key);
    e->held = 0;
    e->sent_ms = INT64_MIN / 2; /* never sent */
    return e;
}

/* Whether ev is held back (counted) rather than queued. */
static int held_back(struct nrt *r, const struct as_ev *ev)
{
    if (r->c->repeat_interval_ms <= 0)
        return 0;
    char key[sizeof(r->rates[0].key)];
    int64_t now = as_loop_now(r->n->loop);
    rate_key(ev, key, sizeof(key));
    struct rate *e = rate_entry(r, key, now);
    if (now - e->sent_ms >= r->c->repeat_interval_ms && e->held > 0)
        release_held(r, e, now); /* the sweep is due: what it holds goes first */
    if (now - e->sent_ms >= r->c->repeat_interval_ms) {
        e->sent_ms = now;
        return 0;
    }
    e->held++;
    e->last = *ev;
    r->cnt.held++;
    arm_sweep(r, e->sent_ms + r->c->repeat_interval_ms);
    return 1;
}

void as_notify_emit(struct as_notify *n, const struct as_ev *ev)
{
    for (struct nrt *r = n->list; r; r = r->next) {
        const struct as_notifier_cfg *c = r->c;
        if (r->retiring || !(c->kinds & (1u << ev->kind)) || !as_notifier_wants_group(c, ev->group))
            continue;
        r->cnt.events++;
        if (!r->started) {
            dropped(r, ev, "the notifier did not start");
            continue;
        }
        struct as_ev copy = *ev;
        copy.repeats = 0;
        if (!held_back(r, &copy))
            enqueue(r, &copy);
    }
}

/* ---- delivery ---- */

static void on_done(const struct as_notify_result *res, void *arg);

static int64_t on_deadline(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct nrt *r = arg;
    r->deadline = NULL;
    if (r->c->ops->cancel)
        r->c->ops->cancel(r->c->state);
    struct as_notify_result res = {.ok = 0};
    snprintf(res.error, sizeof(res.error), "no answer within %lldms: cancelled",
             (long long)(r->c->timeout_ms + AS_NOTIFY_SLACK_MS));
    on_done(&res, r);
    return AS_TIMER_STOP;
}

static void attempt(struct nrt *r)
{
    struct as_ev_view view = {&r->cur, r->c->name};
    r->text.len = 0;
    if (as_tmpl_render(r->c->tmpl, as_ev_field, &view, &r->text) < 0 || r->text.buf == NULL) {
        struct as_notify_result res = {.ok = 0, .permanent = 1, .error = "out of memory"};
        r->busy = 1;
        on_done(&res, r);
        return;
    }
    r->text.len = as_log_mask(r->text.buf, r->text.len);
    r->attempt++;
    r->busy = 1;
    r->deadline =
        as_loop_add_timer(r->n->loop, r->c->timeout_ms + AS_NOTIFY_SLACK_MS, on_deadline, r);
    if (r->deadline == NULL) { /* a delivery without its deadline could hold the queue */
        struct as_notify_result res = {.ok = 0, .error = "out of memory for the deadline"};
        on_done(&res, r);
        return;
    }
    r->c->ops->deliver(r->c->state, &r->cur, r->text.buf, on_done, r);
}

static int64_t on_retry(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct nrt *r = arg;
    r->retry = NULL;
    attempt(r);
    return AS_TIMER_STOP;
}

static int64_t on_finish(struct as_loop *loop, void *arg);
static void finish(struct nrt *r);

/* --dry-run: what would be delivered is logged, nothing is sent. */
static void dry_run(struct nrt *r)
{
    while (r->qlen > 0) {
        struct as_ev_view view = {&r->q[r->qhead], r->c->name};
        r->text.len = 0;
        if (as_tmpl_render(r->c->tmpl, as_ev_field, &view, &r->text) == 0 && r->text.buf)
            AS_LOG(AS_INFO, "notify[%s]: dry-run: would deliver the %s event of %s: %s", r->c->name,
                   kind(view.ev), view.ev->group, r->text.buf);
        r->cnt.delivered++;
        r->qhead = (r->qhead + 1) % r->qcap;
        r->qlen--;
    }
}

/* Takes the next waiting event, or ends a flush once nothing waits. */
static void kick(struct nrt *r)
{
    if (r->busy || r->retry != NULL || r->finishing)
        return;
    if (r->n->dry_run)
        dry_run(r);
    if (r->qlen == 0) {
        if (r->retiring) { /* finished from the loop, not inside a backend's callback */
            as_loop_cancel_timer(r->n->loop, r->flush);
            r->flush = as_loop_add_timer(r->n->loop, 0, on_finish, r);
            r->finishing = 1;
            if (r->flush == NULL) /* out of memory: at once (backends answer last thing) */
                finish(r);
        }
        return;
    }
    r->cur = r->q[r->qhead];
    r->qhead = (r->qhead + 1) % r->qcap;
    r->qlen--;
    r->attempt = 0;
    as_backoff_reset(&r->backoff);
    attempt(r);
}

static void failed(struct nrt *r, const struct as_notify_result *res)
{
    int total = r->c->retries + 1;
    r->cnt.failed++;
    as_log_fault(&r->fault, AS_WARN,
                 "notify[%s]: delivering the %s event of %s failed (attempt %d/%d%s): %s",
                 r->c->name, kind(&r->cur), r->cur.group, r->attempt, total,
                 res->permanent ? ", permanent" : "", res->error);
    if (!res->permanent && r->attempt < total && !r->retiring) {
        r->cnt.retried++;
        r->retry = as_loop_add_timer(r->n->loop, as_backoff_next(&r->backoff), on_retry, r);
        if (r->retry != NULL)
            return;
    }
    r->cnt.gave_up++;
    as_log_fault(&r->gave_up, AS_ERROR,
                 "notify[%s]: gave up on the %s event of %s after %d attempt(s): %s", r->c->name,
                 kind(&r->cur), r->cur.group, r->attempt, res->error);
}

static void on_done(const struct as_notify_result *res, void *arg)
{
    struct nrt *r = arg;
    as_loop_cancel_timer(r->n->loop, r->deadline);
    r->deadline = NULL;
    r->busy = 0;
    if (res->ok) {
        r->cnt.delivered++;
        as_log_recovered(&r->fault, "notify[%s]: delivering works again", r->c->name);
        r->gave_up = (struct as_fault_log){0};
    } else {
        failed(r, res);
    }
    kick(r);
}

/* ---- lifecycle ---- */

static struct nrt *nrt_new(struct as_notify *n, struct as_config *cfg, struct as_notifier_cfg *c)
{
    struct nrt *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        AS_LOG(AS_ERROR, "notify[%s]: out of memory: not started", c->name);
        return NULL;
    }
    r->n = n;
    r->cfg = cfg;
    as_config_ref(cfg);
    r->c = c;
    as_backoff_init(&r->backoff, c->backoff_ms, c->backoff_max_ms, 0);
    struct as_ctx ctx = {
        .loop = n->loop, .http = n->http, .name = c->name, .timeout_ms = c->timeout_ms};
    struct as_err err;
    as_err_clear(&err);
    r->started = n->dry_run || c->ops->start == NULL || c->ops->start(c->state, &ctx, &err) == 0;
    if (r->started)
        AS_LOG(AS_INFO, "notify[%s]: started: %s%s", c->name, c->type,
               n->dry_run ? " (dry run: events are logged, not delivered)" : "");
    else
        AS_LOG(AS_ERROR, "notify[%s]: cannot start (its events are dropped): %s", c->name, err.msg);
    r->next = n->list;
    n->list = r;
    return r;
}

/* The shutdown is over once every notifier has stopped. */
static void maybe_done(struct as_notify *n)
{
    if (!n->stopping || n->list != NULL || n->done == NULL)
        return;
    void (*done)(void *) = n->done;
    n->done = NULL;
    done(n->done_arg);
}

static void nrt_free(struct nrt *r)
{
    struct as_loop *loop = r->n->loop;
    as_loop_cancel_timer(loop, r->deadline);
    as_loop_cancel_timer(loop, r->retry);
    as_loop_cancel_timer(loop, r->sweep);
    as_loop_cancel_timer(loop, r->flush);
    if (r->busy && r->c->ops->cancel)
        r->c->ops->cancel(r->c->state);
    if (r->c->ops->stop) /* after a failed start too: stop tolerates a half-started state */
        r->c->ops->stop(r->c->state);
    as_config_unref(r->cfg);
    as_sb_free(&r->text);
    free(r->q);
    free(r);
}

/* A retiring notifier is done: what still waits is dropped, the backend stopped. */
static void finish(struct nrt *r)
{
    struct as_notify *n = r->n;
    size_t left = r->qlen + (r->busy || r->retry != NULL);
    if (left > 0) {
        r->cnt.dropped += left;
        AS_LOG(AS_WARN, "notify[%s]: stopping: %zu event(s) not delivered within %lldms",
               r->c->name, left,
               (long long)(r->c->timeout_ms < AS_NOTIFY_FLUSH_MAX_MS ? r->c->timeout_ms
                                                                     : AS_NOTIFY_FLUSH_MAX_MS));
    }
    AS_LOG(AS_INFO, "notify[%s]: stopped (delivered %llu, dropped %llu)", r->c->name,
           (unsigned long long)r->cnt.delivered, (unsigned long long)r->cnt.dropped);
    struct nrt **p = &n->list;
    while (*p != r)
        p = &(*p)->next;
    *p = r->next;
    nrt_free(r);
    maybe_done(n);
}

static int64_t on_finish(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct nrt *r = arg;
    r->flush = NULL;
    finish(r);
    return AS_TIMER_STOP;
}

/* No new events; what waits (and what the rate limit held back) is delivered without retries
 * within bound_ms, then the notifier stops. */
static void flush_begin(struct nrt *r, int64_t bound_ms)
{
    int64_t now = as_loop_now(r->n->loop);
    r->retiring = 1;
    as_loop_cancel_timer(r->n->loop, r->sweep);
    r->sweep = NULL;
    for (size_t i = 0; r->started && i < AS_NOTIFY_RATE_KEYS; i++)
        if (r->rates[i].held > 0)
            release_held(r, &r->rates[i], now);
    if (r->retry != NULL) { /* no retries now: what waits for one is given up */
        as_loop_cancel_timer(r->n->loop, r->retry);
        r->retry = NULL;
        r->cnt.gave_up++;
    }
    if (r->busy || r->qlen > 0) {
        r->flush = as_loop_add_timer(r->n->loop, bound_ms, on_finish, r);
        if (r->flush == NULL) { /* out of memory: no bound, so no flush: stop now */
            finish(r);
            return;
        }
    }
    kick(r); /* with nothing waiting, arms the finish at once */
}

static int64_t flush_bound(const struct nrt *r)
{
    return r->c->timeout_ms < AS_NOTIFY_FLUSH_MAX_MS ? r->c->timeout_ms : AS_NOTIFY_FLUSH_MAX_MS;
}

static struct nrt *live(struct as_notify *n, const char *name)
{
    for (struct nrt *r = n->list; r; r = r->next)
        if (!r->retiring && strcmp(r->c->name, name) == 0)
            return r;
    return NULL;
}

static int named(const struct as_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nnotifiers; i++)
        if (strcmp(cfg->notifiers[i].name, name) == 0)
            return 1;
    return 0;
}

/* The new config's c takes over r's running backend (same type, same keys). */
static void keep(struct nrt *r, struct as_config *cfg, struct as_notifier_cfg *c)
{
    void *running = r->c->state;
    r->c->state = c->state;
    c->state = running;
    r->c = c;
    as_config_ref(cfg);
    as_config_unref(r->cfg);
    r->cfg = cfg;
}

void as_notify_apply(struct as_notify *n, struct as_config *cfg)
{
    struct nrt *old = n->list, *kept = NULL;
    n->list = NULL; /* rebuilt: kept and new ones first, then the rest of the old list */
    for (size_t i = 0; i < cfg->nnotifiers; i++) {
        struct as_notifier_cfg *c = &cfg->notifiers[i];
        struct nrt **p = &old;
        while (*p && ((*p)->retiring || strcmp((*p)->c->name, c->name) != 0))
            p = &(*p)->next;
        struct nrt *r = *p;
        if (r != NULL && r->c->ops == c->ops && strcmp(r->c->fingerprint, c->fingerprint) == 0) {
            *p = r->next;
            keep(r, cfg, c);
            r->next = kept;
            kept = r;
        }
    }
    while (kept) {
        struct nrt *r = kept;
        kept = r->next;
        r->next = n->list;
        n->list = r;
    }
    for (size_t i = 0; i < cfg->nnotifiers; i++)
        if (live(n, cfg->notifiers[i].name) == NULL)
            nrt_new(n, cfg, &cfg->notifiers[i]);
    struct nrt **tail = &n->list;
    while (*tail)
        tail = &(*tail)->next;
    *tail = old;
    for (struct nrt *r = old, *next; r; r = next) {
        next = r->next; /* flush_begin may free r (out of memory) */
        if (!r->retiring) {
            AS_LOG(AS_INFO, "notify[%s]: %s by the new configuration: retiring", r->c->name,
                   named(cfg, r->c->name) ? "changed" : "removed");
            flush_begin(r, flush_bound(r));
        }
    }
}

unsigned as_notify_kinds(const struct as_notify *n)
{
    unsigned kinds = 0;
    for (const struct nrt *r = n ? n->list : NULL; r; r = r->next)
        if (!r->retiring)
            kinds |= r->c->kinds;
    return kinds;
}

void as_notify_shutdown(struct as_notify *n, void (*done)(void *), void *arg)
{
    n->stopping = 1;
    n->done = done;
    n->done_arg = arg;
    for (struct nrt *r = n->list, *next; r; r = next) {
        next = r->next; /* flush_begin may free r (out of memory) */
        if (!r->retiring)
            flush_begin(r, flush_bound(r));
    }
    maybe_done(n);
}

void as_notify_log_counters(const struct as_notify *n)
{
    for (const struct nrt *r = n->list; r; r = r->next) {
        const struct as_notify_counters *c = &r->cnt;
        AS_LOG(AS_INFO,
               "notify[%s]: counters events=%llu delivered=%llu failed=%llu retried=%llu "
               "gave_up=%llu dropped=%llu held=%llu summaries=%llu queued=%zu%s",
               r->c->name, (unsigned long long)c->events, (unsigned long long)c->delivered,
               (unsigned long long)c->failed, (unsigned long long)c->retried,
               (unsigned long long)c->gave_up, (unsigned long long)c->dropped,
               (unsigned long long)c->held, (unsigned long long)c->summaries, r->qlen,
               r->retiring ? " (retiring)" : "");
    }
}

static const struct nrt *find(const struct as_notify *n, const char *name)
{
    for (const struct nrt *r = n->list; r; r = r->next)
        if (!r->retiring && strcmp(r->c->name, name) == 0)
            return r;
    return NULL;
}

int as_notify_counters(const struct as_notify *n, const char *name, struct as_notify_counters *c)
{
    const struct nrt *r = find(n, name);
    if (r == NULL)
        return -1;
    *c = r->cnt;
    return 0;
}

void *as_notify_state(const struct as_notify *n, const char *name)
{
    const struct nrt *r = find(n, name);
    return r ? r->c->state : NULL;
}

void as_notify_free(struct as_notify *n)
{
    if (n == NULL)
        return;
    while (n->list) {
        struct nrt *r = n->list;
        n->list = r->next;
        nrt_free(r);
    }
    free(n);
}
