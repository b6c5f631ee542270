/* The engine: every group's round on the event loop (src/drivers/round.c), the groups'
 * lifecycle, reloads, shutdown, and the state on disk through the writer thread. */
#include "drivers/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/group.h"
#include "drivers/notify.h"
#include "drivers/persist.h"
#include "drivers/status.h"
#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/util.h"
#include "util/writer.h"

#define AS_STATE_SAVE_MS 10000 /* between two writes of a state without a scale */

static void group_stop(struct group_rt *rt);
static void maybe_all_stopped(struct as_engine *eng);
static void timeline(struct group_rt *rt);

int64_t as_engine_now(const struct as_engine *eng)
{
    return eng->clock_base + as_loop_now(eng->loop);
}

/* ---- persistence ---- */

struct save_wait {
    struct group_rt *rt;
    void (*done)(struct group_rt *, int ok);
};

static void on_saved(int ok, const char *error, void *arg)
{
    (void)error; /* logged by the writer's error hook */
    struct save_wait *w = arg;
    struct group_rt *rt = w->rt;
    void (*done)(struct group_rt *, int) = w->done;
    free(w);
    rt->ticket = 0;
    rt->n.state_write_errors += !ok;
    done(rt, ok);
}

void as_engine_save(struct group_rt *rt, int durable, void (*done)(struct group_rt *, int ok))
{
    const char *dir = rt->cfg->state_dir;
    int64_t now = as_engine_now(rt->eng);
    char path[4096];
    size_t len;
    int ok = 0;
    if (dir == NULL || dir[0] == '\0') {
        ok = 1;
        goto out;
    }
    if (!durable && rt->saved_ms >= 0 && now - rt->saved_ms < AS_STATE_SAVE_MS)
        return;
    rt->saved_ms = now;
    char *text = as_persist_text(rt->g, &rt->st, now, as_wall_ms(), &len);
    struct save_wait *w = done ? malloc(sizeof(*w)) : NULL;
    if (text == NULL || as_persist_path(path, sizeof(path), dir, rt->name) < 0 ||
        (done && w == NULL)) {
        free(text);
        free(w);
        rt->n.state_write_errors++;
        AS_LOG(AS_ERROR, "engine[%s]: cannot save the state (out of memory or path too long)",
               rt->name);
        goto out;
    }
    if (w != NULL)
        *w = (struct save_wait){rt, done};
    uint64_t ticket =
        as_writer_put(rt->eng->writer, path, text, len, durable, w ? on_saved : NULL, w);
    if (ticket == 0) {
        free(w);
        rt->n.state_write_errors++;
        AS_LOG(AS_ERROR, "engine[%s]: cannot queue the state write: out of memory", rt->name);
        goto out;
    }
    if (w != NULL)
        rt->ticket = ticket;
    return;
out:
    if (done)
        done(rt, ok);
}

/* Every failed state write, counted; logged at ERROR when its cause changes (a full disk
 * fails every group's write the same way), else at DEBUG. */
static void on_write_error(const char *path, const char *error, void *arg)
{
    struct as_engine *eng = arg;
    size_t n = strlen(path);
    const char *cause = strncmp(error, path, n) == 0 && error[n] == ':' ? error + n + 1 : error;
    int same = strcmp(cause, eng->write_error) == 0;
    eng->state_write_errors++;
    snprintf(eng->write_error, sizeof(eng->write_error), "%s", cause);
    AS_LOG(same ? AS_DEBUG : AS_ERROR, "engine: saving state: %s (%llu failed writes so far)",
           error, (unsigned long long)eng->state_write_errors);
}

static void state_restore(struct group_rt *rt)
{
    const char *dir = rt->cfg->state_dir;
    struct as_err err;
    struct as_restore r = {.now_ms = as_engine_now(rt->eng), .wall_ms = as_wall_ms()};
    if (dir == NULL || dir[0] == '\0')
        return;
    int rc = as_persist_load(dir, rt->g, &rt->st, &r, &err);
    if (rc < 0) {
        AS_LOG(AS_ERROR, "engine[%s]: state file ignored, starting fresh: %s", rt->name, err.msg);
        return;
    }
    if (rc == 0)
        return;
    if (r.future_ms > 0 || r.clamped > 0)
        AS_LOG(AS_WARN,
               "engine[%s]: the state was saved %llds after now (the wall clock "
               "stepped back?): %zu stamp(s) set to now, its age taken as 0",
               rt->name, (long long)r.future_ms / 1000, r.clamped);
    int64_t now = r.now_ms;
    AS_LOG(AS_INFO,
           "engine[%s]: state restored: %zu recommendation(s), %zu scale event(s), "
           "last scale %llds ago, count %d%s",
           rt->name, rt->st.recs.n, rt->st.up.n + rt->st.down.n,
           rt->st.last_scale_ms ? (long long)(now - rt->st.last_scale_ms) / 1000 : -1LL,
           rt->st.count_known ? rt->st.count : -1, rt->st.count_known ? "" : " (unknown)");
    if (rt->st.pending)
        AS_LOG(AS_WARN,
               "engine[%s]: a scale %d->%d was in flight %llds ago when the daemon "
               "stopped: it counts as a scale until the count is read",
               rt->name, rt->st.intent.from, rt->st.intent.to,
               (long long)(now - rt->st.intent.t) / 1000);
}

/* ---- backends ---- */

static void on_wake(void *arg);
static void wake_arm(struct group_rt *rt, int64_t delay_ms);
static int live(const struct group_rt *rt);

static struct as_ctx ctx_for(struct group_rt *rt, const char *name, int64_t timeout_ms)
{
    return (struct as_ctx){.loop = rt->eng->loop,
                           .http = rt->eng->http,
                           .group = rt->name,
                           .name = name,
                           .timeout_ms = timeout_ms,
                           .state_dir = rt->cfg->state_dir[0] ? rt->cfg->state_dir : NULL,
                           .dry_run = rt->eng->opts.dry_run};
}

static int sources_start(struct group_rt *rt, struct as_err *err)
{
    for (size_t i = 0; i < rt->g->nmetrics; i++) {
        struct as_metric_cfg *m = &rt->g->metrics[i];
        struct as_ctx ctx = ctx_for(rt, m->name, m->timeout_ms);
        rt->slots[i].rt = rt;
        ctx.wake = on_wake; /* only a source's ctx offers it: the slot says which */
        ctx.wake_arg = &rt->slots[i];
        if (m->ops->start && m->ops->start(m->state, &ctx, err) < 0)
            return -1;
    }
    return 0;
}

static void sources_stop(struct group_rt *rt)
{
    for (size_t i = 0; i < rt->g->nmetrics; i++)
        if (rt->g->metrics[i].ops->stop)
            rt->g->metrics[i].ops->stop(rt->g->metrics[i].state);
}

struct retiring {
    struct as_engine *eng;
    struct as_config *cfg;
};

static void on_retired(void *arg)
{
    struct retiring *r = arg;
    struct as_engine *eng = r->eng;
    as_config_unref(r->cfg);
    free(r);
    eng->retiring--;
    maybe_all_stopped(eng);
}

/* Stops a scaler instance that lives in cfg; cfg stays alive until the stop completes. r is
 * allocated by the caller beforehand (a scaler that could not be stopped for want of memory
 * would keep its resources, and a process pool its workers); it is used or freed here. */
static void scaler_retire(struct as_engine *eng, struct as_config *cfg, struct as_scaler_cfg *s,
                          struct retiring *r)
{
    if (s->ops->cancel)
        s->ops->cancel(s->state);
    if (s->ops->stop == NULL) {
        free(r);
        return;
    }
    *r = (struct retiring){eng, cfg};
    as_config_ref(cfg);
    eng->retiring++;
    s->ops->stop(s->state, on_retired, r);
}

/* ---- ticks and round ends ---- */

static const char *phase_name(enum phase p)
{
    static const char *const names[] = {"idle",       "measuring", "persisting",
                                        "scaling",    "verifying", "waiting to retry",
                                        "re-reading", "stopping",  "stopped"};
    return names[p];
}

static int group_switch(struct group_rt *rt, struct as_config *cfg, struct as_group_cfg *g,
                        struct as_err *err);

/* A reload that came while the group was in a round is applied at its next tick, never from
 * inside a backend's callback (the old backends are stopped and may be freed). */
static void apply_next(struct group_rt *rt)
{
    struct as_config *cfg = rt->next_cfg;
    struct as_err err;
    rt->next_cfg = NULL;
    as_err_clear(&err);
    if (group_switch(rt, cfg, as_config_group(cfg, rt->name), &err) < 0)
        AS_LOG(AS_ERROR, "engine[%s]: applying the new configuration: %s", rt->name, err.msg);
    as_config_unref(cfg);
}

void as_engine_round_start(struct group_rt *rt)
{
    if (rt->next_cfg != NULL)
        apply_next(rt); /* may replace rt->tick (a new interval): this one then stops */
    rt->round_started_ms = as_loop_now(rt->eng->loop);
    as_round_begin(rt);
}

/* Starts the group's round, or puts it in the FIFO of groups waiting for a measuring slot
 * (admit.c starts it then). A round can end within as_round_begin (no memory for its calls'
 * deadlines), and its end can stop the group (shutdown, --once): the group is freed only
 * after we are done. */
static void round_now(struct group_rt *rt)
{
    struct as_engine *eng = rt->eng;
    if (!as_admit_tick(rt))
        return;
    eng->walking++;
    as_engine_round_start(rt);
    eng->walking--;
    maybe_all_stopped(eng);
}

static int64_t on_tick(struct as_loop *loop, void *arg)
{
    struct group_rt *rt = arg;
    if (rt->eng->stopping) {
        rt->tick = NULL; /* the loop frees it when we return */
        return AS_TIMER_STOP;
    }
    as_round_hist_add(&rt->eng->tick_lateness, (double)as_loop_timer_lateness(loop) / 1000.0);
    if (rt->phase != IDLE || rt->waiting) {
        if (rt->woken && !rt->waiting) /* a report's round is running: this tick is in it */
            return rt->g->interval_ms;
        rt->n.rounds_skipped++;
        /* Overloaded, every group's ticks coalesce: the engine says so once (admit.c). */
        if (!as_admit_coalesced(rt))
            AS_LOG(AS_WARN, "engine[%s]: round skipped: the previous one is still %s", rt->name,
                   phase_name(rt->phase));
        return rt->g->interval_ms;
    }
    int64_t next = rt->g->interval_ms; /* read first: the round may apply a new configuration */
    rt->woken = 0;
    round_now(rt);
    return next; /* ignored when the group stopped: its stop cancelled this timer */
}

/* A source's report changed a value (an `agents` metric with `react`): the group's round as
 * soon as it is idle and its last round began AS_WAKE_GAP_MS ago or more (a wake while a
 * round or a scale runs is kept for its end: the reports that came meanwhile are news too);
 * the ticks go on. The report is new data for that source, so its backoff after failures
 * ends; the group's other sources keep theirs. The round starts from a timer, like a tick,
 * never inside the source's own callback. */
static int64_t on_wake_timer(struct as_loop *loop, void *arg)
{
    struct group_rt *rt = arg;
    struct as_engine *eng = rt->eng;
    rt->wake_timer = NULL;
    if (eng->stopping || !live(rt) || rt->tick == NULL)
        return AS_TIMER_STOP;
    if (rt->phase != IDLE || rt->waiting)
        return AS_TIMER_STOP; /* still pending: the round's end arms this again */
    int64_t left = rt->round_started_ms + AS_WAKE_GAP_MS - as_loop_now(loop);
    if (left > 0) {
        wake_arm(rt, left);
        return AS_TIMER_STOP;
    }
    rt->wake_pending = 0;
    rt->woken = 1;
    AS_LOG(AS_DEBUG, "engine[%s]: a report changed a value: the round now", rt->name);
    round_now(rt);
    return AS_TIMER_STOP;
}

static void wake_arm(struct group_rt *rt, int64_t delay_ms)
{
    if (rt->wake_timer == NULL)
        rt->wake_timer = as_loop_add_timer(rt->eng->loop, delay_ms, on_wake_timer, rt);
}

static void on_wake(void *arg)
{
    struct slot *s = arg;
    struct group_rt *rt = s->rt;
    s->next_ms = 0;
    if (rt->eng->opts.once || rt->eng->stopping)
        return;
    rt->wake_pending = 1;
    wake_arm(rt, 0);
}

static void check_rounds_done(struct as_engine *eng)
{
    if (!eng->opts.once || eng->rounds_cb == NULL)
        return;
    for (struct group_rt *rt = eng->groups; rt; rt = rt->next)
        if (rt->rounds < 1)
            return;
    as_engine_cb cb = eng->rounds_cb;
    eng->rounds_cb = NULL;
    cb(eng->rounds_arg);
}

/* --once: a round that held only to confirm a count is run again at once (a few times), so
 * that one run decides from a confirmed count. */
static int once_again(struct group_rt *rt)
{
    if (!rt->eng->opts.once || !rt->unconfirmed || rt->eng->stopping ||
        rt->confirm_tries++ > rt->g->count_confirm + 1)
        return 0;
    as_loop_cancel_timer(rt->eng->loop, rt->tick);
    rt->tick = as_loop_add_timer(rt->eng->loop, 0, on_tick, rt);
    return rt->tick != NULL;
}

void as_engine_round_end(struct group_rt *rt)
{
    struct as_engine *eng = rt->eng;
    as_admit_release(rt); /* a round that ended before its decision */
    as_status_round_end(rt);
    if (once_again(rt))
        return;
    rt->rounds++;
    if (eng->stopping || rt->remove_after) {
        group_stop(rt);
        return;
    }
    /* A report came while this round ran; or a woken round held for a count to confirm (as
     * after a scale), whose next read would otherwise wait for the tick: a few times, as many
     * as the confirmation takes. */
    if (rt->woken && rt->unconfirmed && rt->wake_confirms++ <= rt->g->count_confirm)
        rt->wake_pending = 1;
    else if (!rt->unconfirmed)
        rt->wake_confirms = 0;
    if (rt->wake_pending)
        wake_arm(rt, 0);
    check_rounds_done(eng);
}

/* ---- stop ---- */

static void on_scaler_stopped(void *arg)
{
    struct group_rt *rt = arg;
    rt->phase = STOPPED;
    rt->eng->nstopped++;
    maybe_all_stopped(rt->eng);
}

/* Stops the group's backends; the group is unlinked and freed once everything stopped. */
static void group_stop(struct group_rt *rt)
{
    as_engine_save(rt, 1, NULL);
    as_loop_cancel_timer(rt->eng->loop, rt->tick);
    rt->tick = NULL;
    as_loop_cancel_timer(rt->eng->loop, rt->wake_timer);
    rt->wake_timer = NULL;
    if (rt->phase == RETRY_WAIT)
        AS_LOG(AS_WARN,
               "engine[%s]: shutting down: abandoning the retry of %d->%d (it counts "
               "as a scale until the count is read)",
               rt->name, rt->from, rt->want);
    as_round_cancel(rt);
    as_admit_forget(rt);
    sources_stop(rt);
    rt->phase = STOPPING;
    struct as_scaler_cfg *s = &rt->g->scaler;
    if (s->ops->stop)
        s->ops->stop(s->state, on_scaler_stopped, rt);
    else
        on_scaler_stopped(rt);
}

/* The group's slots and their per-replica buffers (rt->g still the slots' config). */
static void slots_free(struct group_rt *rt)
{
    for (size_t i = 0; rt->slots != NULL && i < rt->g->nmetrics; i++)
        free(rt->slots[i].reps);
    free(rt->slots);
    rt->slots = NULL;
}

static void group_free(struct group_rt *rt)
{
    rt->eng->groups_freed++;
    free(as_writer_forget(rt->eng->writer, rt->ticket)); /* its struct save_wait */
    as_group_state_free(&rt->st);
    free(rt->get_error);
    as_timeline_free(rt->tl);
    slots_free(rt);
    as_config_unref(rt->next_cfg);
    as_config_unref(rt->cfg);
    free(rt->name);
    free(rt);
}

/* Frees the groups that have stopped (a walk of the list only when there are some: this runs
 * after every tick) and reports the end of a shutdown. */
void as_engine_reap(struct as_engine *eng)
{
    maybe_all_stopped(eng);
}

static void maybe_all_stopped(struct as_engine *eng)
{
    if (eng->walking)
        return;
    struct group_rt **pp = &eng->groups;
    while (eng->nstopped > 0 && *pp) {
        struct group_rt *rt = *pp;
        if (rt->phase == STOPPED) {
            *pp = rt->next;
            eng->nstopped--;
            AS_LOG(AS_INFO, "engine[%s]: stopped", rt->name);
            group_free(rt);
        } else {
            pp = &rt->next;
        }
    }
    if (eng->stopping && eng->groups == NULL && eng->retiring == 0 && eng->stop_cb) {
        as_engine_cb cb = eng->stop_cb;
        eng->stop_cb = NULL;
        as_notify_shutdown(eng->notify, cb, eng->stop_arg); /* the last events flushed */
    }
}

/* ---- reload ---- */

/* Points the group at a new config (same name): sources restart; the scaler is kept when
 * its options are unchanged, else the old one is stopped and the new one started. */
static int group_switch(struct group_rt *rt, struct as_config *cfg, struct as_group_cfg *g,
                        struct as_err *err)
{
    struct slot *slots = calloc(g->nmetrics, sizeof(*slots));
    struct retiring *retire = malloc(sizeof(*retire));
    if (slots == NULL || retire == NULL) {
        free(slots);
        free(retire);
        return as_err_set(err, "out of memory");
    }
    sources_stop(rt); /* between rounds: nothing in flight */
    struct as_scaler_cfg *old = &rt->g->scaler;
    int keep = old->ops == g->scaler.ops && strcmp(old->fingerprint, g->scaler.fingerprint) == 0;
    if (keep) {
        void *running = old->state; /* move the live instance into the new config */
        old->state = g->scaler.state;
        g->scaler.state = running;
        free(retire);
    } else {
        scaler_retire(rt->eng, rt->cfg, old, retire);
    }
    if (rt->g->policy != g->policy) /* another policy's state means nothing to this one */
        as_policy_state_reset(&rt->st);
    int64_t old_interval = rt->g->interval_ms; /* rt->g goes with the old config */
    uint64_t old_digest = rt->g->digest;
    slots_free(rt);
    as_config_ref(cfg);
    as_config_unref(rt->cfg);
    rt->cfg = cfg;
    rt->g = g;
    rt->slots = slots;
    timeline(rt);
    int rc = sources_start(rt, err);
    if (rc == 0 && !keep && g->scaler.ops->start) {
        struct as_ctx ctx = ctx_for(rt, g->scaler.ops->name, g->scaler.timeout_ms);
        rc = g->scaler.ops->start(g->scaler.state, &ctx, err);
    }
    as_backoff_init(&rt->backoff, g->scaler.backoff_ms, g->scaler.backoff_max_ms, 0);
    int same = old_digest == g->digest;
    if (old_interval != g->interval_ms && rt->tick != NULL) {
        as_loop_cancel_timer(rt->eng->loop, rt->tick);
        rt->tick = as_loop_add_timer(rt->eng->loop, g->interval_ms, on_tick, rt);
    }
    /* a reload of 10,000 groups that changes one says so once, not 10,000 times */
    AS_LOG(same ? AS_DEBUG : AS_INFO, "engine[%s]: configuration applied%s", rt->name,
           same   ? " (unchanged)"
           : keep ? ""
                  : " (new scaler)");
    return rc;
}

/* ---- groups ---- */

/* What the status API keeps of the group's rounds; without memory for it, nothing (logged). */
static void timeline(struct group_rt *rt)
{
    if (as_status_timeline(rt) < 0)
        AS_LOG(AS_ERROR, "engine[%s]: out of memory: the API keeps no history of this group",
               rt->name);
}

static uint64_t name_seed(const char *s)
{
    return as_fnv1a(AS_FNV_BASIS, s, strlen(s)); /* a stable per-group jitter seed */
}

static struct group_rt *group_new(struct as_engine *eng, struct as_config *cfg,
                                  struct as_group_cfg *g)
{
    struct group_rt *rt = calloc(1, sizeof(*rt));
    if (rt == NULL)
        return NULL;
    rt->name = strdup(g->name);
    rt->slots = calloc(g->nmetrics, sizeof(*rt->slots));
    if (rt->name == NULL || rt->slots == NULL) {
        free(rt->name);
        free(rt->slots);
        free(rt);
        return NULL;
    }
    rt->eng = eng;
    rt->cfg = cfg;
    as_config_ref(cfg);
    rt->g = g;
    rt->scaler_current = -1;
    rt->saved_ms = -1; /* the first round writes the state */
    as_backoff_init(&rt->backoff, g->scaler.backoff_ms, g->scaler.backoff_max_ms,
                    name_seed(g->name));
    state_restore(rt);
    timeline(rt);
    rt->next = eng->groups;
    eng->groups = rt;
    return rt;
}

/* First round after delay_ms: the engine staggers groups so thousands of them do not all
 * measure in the same millisecond. */
static int group_start(struct group_rt *rt, int64_t delay_ms, struct as_err *err)
{
    struct as_scaler_cfg *s = &rt->g->scaler;
    struct as_ctx ctx = ctx_for(rt, s->ops->name, s->timeout_ms);
    if (sources_start(rt, err) < 0 || (s->ops->start && s->ops->start(s->state, &ctx, err) < 0))
        return -1;
    rt->tick = as_loop_add_timer(rt->eng->loop, delay_ms, on_tick, rt);
    if (rt->tick == NULL)
        return as_err_set(err, "out of memory");
    AS_LOG(AS_INFO,
           "engine[%s]: started: every %lldms, %zu metric(s), scaler %s, replicas "
           "%d..%d%s",
           rt->name, (long long)rt->g->interval_ms, rt->g->nmetrics, s->type, rt->g->min,
           rt->g->max, rt->eng->opts.dry_run ? " (dry run)" : "");
    return 0;
}

struct as_engine *as_engine_new(struct as_loop *loop, struct as_http *http, struct as_config *cfg,
                                const struct as_engine_opts *opts)
{
    struct as_engine *eng = calloc(1, sizeof(*eng));
    if (eng == NULL)
        return NULL;
    eng->writer = as_writer_new(loop);
    eng->notify = as_notify_new(loop, http, opts->dry_run);
    if (eng->writer == NULL || eng->notify == NULL) {
        as_writer_free(eng->writer);
        as_notify_free(eng->notify);
        free(eng);
        return NULL;
    }
    as_writer_on_error(eng->writer, on_write_error, eng);
    eng->loop = loop;
    eng->http = http;
    eng->cfg = cfg;
    as_config_ref(cfg);
    eng->opts = *opts;
    /* Decisions run on this clock: the wall clock now, carried on by the monotonic clock,
     * so a step of the wall clock never freezes or rushes a window or a cooldown. */
    eng->clock_base = as_wall_ms() - as_loop_now(loop);
    eng->started_wall_ms = as_wall_ms();
    return eng;
}

int as_engine_start(struct as_engine *eng, struct as_err *err)
{
    as_notify_apply(eng->notify, eng->cfg);
    as_http_set_host_max(eng->http, (size_t)eng->cfg->calls_per_host);
    as_http_set_plain(eng->http, eng->cfg->plain_http);
    if (as_admit_init(eng) < 0)
        return as_err_set(err, "out of memory");
    /* Start in file order (the list is built by prepending, so walk backwards). */
    for (size_t i = eng->cfg->ngroups; i-- > 0;)
        if (group_new(eng, eng->cfg, &eng->cfg->groups[i]) == NULL)
            return as_err_set(err, "out of memory");
    /* About 1 ms of stagger per group, never more than a group's interval. */
    size_t n = eng->cfg->ngroups, i = 0;
    for (struct group_rt *rt = eng->groups; rt; rt = rt->next, i++) {
        int64_t spread = (int64_t)n < rt->g->interval_ms ? (int64_t)n : rt->g->interval_ms;
        if (group_start(rt, (int64_t)i * spread / (int64_t)n, err) < 0) {
            char msg[AS_ERR_MAX];
            snprintf(msg, sizeof(msg), "%s", err->msg);
            return as_err_set(err, "group '%s': %s", rt->name, msg);
        }
    }
    return 0;
}

static int live(const struct group_rt *rt)
{
    return rt->phase != STOPPING && rt->phase != STOPPED && !rt->remove_after;
}

/* Whether the group is in the middle of a scale (shutdown waits for its end). */
static int busy(const struct group_rt *rt)
{
    return rt->phase != IDLE && rt->phase != MEASURING;
}

int as_engine_reload(struct as_engine *eng, struct as_config *cfg, struct as_err *err)
{
    int rc = 0;
    char *matched = calloc(cfg->ngroups ? cfg->ngroups : 1, 1);
    if (matched == NULL)
        return as_err_set(err, "out of memory");
    size_t changed = 0, same = 0, added = 0, removed = 0;
    eng->walking++;
    for (struct group_rt *rt = eng->groups; rt; rt = rt->next) {
        if (!live(rt))
            continue;
        struct as_group_cfg *g = as_config_group(cfg, rt->name);
        if (g == NULL) {
            removed++;
            AS_LOG(AS_INFO, "engine[%s]: removed from the configuration", rt->name);
            if (busy(rt))
                rt->remove_after = 1;
            else
                group_stop(rt);
            continue;
        }
        matched[g - cfg->groups] = 1;
        if (g->digest == rt->g->digest)
            same++;
        else
            changed++;
        if (rt->phase != IDLE) { /* a round in flight finishes on its config */
            as_config_unref(rt->next_cfg);
            rt->next_cfg = cfg;
            as_config_ref(cfg);
        } else if (group_switch(rt, cfg, g, err) < 0) {
            rc = -1;
        }
    }
    for (size_t i = 0; i < cfg->ngroups; i++) {
        if (matched[i])
            continue;
        added++;
        struct group_rt *rt = group_new(eng, cfg, &cfg->groups[i]);
        if (rt == NULL)
            rc = as_err_set(err, "group '%s': out of memory", cfg->groups[i].name);
        else if (group_start(rt, 0, err) < 0)
            rc = -1;
    }
    free(matched);
    eng->walking--;
    AS_LOG(AS_INFO, "engine: reload: %zu group(s) changed, %zu unchanged, %zu added, %zu removed",
           changed, same, added, removed);
    as_notify_apply(eng->notify, cfg);
    as_config_unref(eng->cfg);
    eng->cfg = cfg;
    as_config_ref(cfg);
    as_admit_set_max(eng, cfg->rounds_in_flight);
    as_http_set_host_max(eng->http, (size_t)cfg->calls_per_host);
    as_http_set_plain(eng->http, cfg->plain_http);
    maybe_all_stopped(eng);
    return rc;
}

void as_engine_on_rounds_done(struct as_engine *eng, as_engine_cb done, void *arg)
{
    eng->rounds_cb = done;
    eng->rounds_arg = arg;
}

void as_engine_shutdown(struct as_engine *eng, as_engine_cb done, void *arg)
{
    eng->stopping = 1;
    as_admit_fini(eng);
    eng->stop_cb = done;
    eng->stop_arg = arg;
    eng->walking++;
    for (struct group_rt *rt = eng->groups; rt; rt = rt->next) {
        if (busy(rt) && rt->phase != RETRY_WAIT && live(rt)) {
            AS_LOG(AS_INFO, "engine[%s]: waiting for the scale call %d->%d to finish", rt->name,
                   rt->from, rt->want);
            continue;
        }
        if (rt->phase != STOPPING && rt->phase != STOPPED)
            group_stop(rt);
    }
    eng->walking--;
    maybe_all_stopped(eng);
}

void as_engine_load(const struct as_engine *eng, struct as_engine_load *out)
{
    const struct as_admit *a = &eng->admit;
    *out = (struct as_engine_load){.measuring = a->measuring,
                                   .max = a->max,
                                   .waiting = a->nwaiting,
                                   .overloaded = a->overloaded,
                                   .rate = a->rate,
                                   .configured = a->configured,
                                   .delayed = a->delayed_total,
                                   .coalesced = a->coalesced_total,
                                   .wait = &a->wait,
                                   .host_waits = as_http_host_waits(eng->http),
                                   .lateness = &eng->tick_lateness};
    as_http_calls(eng->http, &out->plain_calls, &out->curl_calls);
}

void as_engine_log_counters(const struct as_engine *eng)
{
    struct as_writer_stats w;
    as_writer_stats(eng->writer, &w);
    AS_LOG(AS_INFO,
           "engine: counters state_writes=%llu state_write_errors=%llu "
           "state_writes_pending=%zu",
           (unsigned long long)w.written, (unsigned long long)eng->state_write_errors, w.pending);
    for (const struct group_rt *rt = eng->groups; rt; rt = rt->next) {
        const struct as_group_counters *c = &rt->n;
        AS_LOG(AS_INFO,
               "engine[%s]: counters rounds=%llu rounds_skipped=%llu decisions=%llu scales=%llu "
               "measure_failures=%llu count_failures=%llu count_implausible=%llu "
               "count_unconfirmed=%llu scale_failures=%llu scale_ineffective=%llu "
               "deadline_exceeded=%llu state_write_errors=%llu",
               rt->name, (unsigned long long)c->rounds, (unsigned long long)c->rounds_skipped,
               (unsigned long long)c->decisions, (unsigned long long)c->scales,
               (unsigned long long)c->measure_failures, (unsigned long long)c->count_failures,
               (unsigned long long)c->count_implausible, (unsigned long long)c->count_unconfirmed,
               (unsigned long long)c->scale_failures, (unsigned long long)c->scale_ineffective,
               (unsigned long long)c->deadline_exceeded, (unsigned long long)c->state_write_errors);
        for (size_t i = 0; rt->slots != NULL && i < rt->g->nmetrics; i++) {
            const struct as_metric_counters *m = &rt->slots[i].n;
            AS_LOG(AS_INFO,
                   "engine[%s]: metric %s counters measurements=%llu failures=%llu skipped=%llu "
                   "deadline_exceeded=%llu failing=%u",
                   rt->name, rt->g->metrics[i].name, (unsigned long long)m->measurements,
                   (unsigned long long)m->failures, (unsigned long long)m->skipped,
                   (unsigned long long)m->deadline_exceeded, rt->slots[i].failing);
        }
    }
    as_notify_log_counters(eng->notify);
}

void as_engine_free(struct as_engine *eng)
{
    if (eng == NULL)
        return;
    as_admit_fini(eng);
    as_writer_flush(eng->writer); /* the last writes land; their callbacks still see groups */
    while (eng->groups) {
        struct group_rt *rt = eng->groups;
        eng->groups = rt->next;
        group_free(rt);
    }
    as_writer_free(eng->writer);
    as_notify_free(eng->notify);
    as_config_unref(eng->cfg);
    free(eng);
}
