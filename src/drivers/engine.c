#include "drivers/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/backoff.h"
#include "core/decide.h"
#include "util/log.h"
#include "util/loop.h"
#include "core/state.h"
#include "util/util.h"

enum phase { IDLE, MEASURING, SCALING, RETRY_WAIT, STOPPING, STOPPED };

struct group_rt;

struct slot {
    struct group_rt *rt;
    size_t index;
    int pending;
    struct as_metric_obs obs;
    int replicas; /* reported by the source, -1 if none */
};

struct group_rt {
    struct as_engine *eng;
    char *name; /* owned: outlives any one config */
    struct as_config *cfg;
    struct as_group_cfg *g;
    struct as_group_state st;
    enum phase phase;
    struct as_timer *tick, *retry_timer;
    struct slot *slots;
    size_t pending;
    int get_pending, got_current;
    int scaler_current, last_set;
    int from, want, attempt;
    int64_t scale_started;
    struct as_backoff backoff;
    int rounds;
    int64_t saved_ms;           /* when the state was last written (wall clock) */
    struct as_config *next_cfg; /* switch when the scale call ends */
    int remove_after;
    struct group_rt *next;
};

struct as_engine {
    struct as_loop *loop;
    struct as_http *http;
    struct as_config *cfg;
    struct as_engine_opts opts;
    struct group_rt *groups;
    int stopping;
    int walking;     /* inside a walk of the group list: defer freeing groups */
    size_t retiring; /* scalers whose stop is still running */
    as_engine_cb rounds_cb, stop_cb;
    void *rounds_arg, *stop_arg;
};

static void round_begin(struct group_rt *rt);
static void group_stop(struct group_rt *rt);

#define AS_STATE_SAVE_MS 10000 /* between two writes of an unchanged-scale state */

/* Persists the group's state: durably (fsync) after a scale or at stop (force); otherwise at
 * most every AS_STATE_SAVE_MS and without fsync (a whole file, safe against a crash of the
 * daemon), so thousands of groups cost no fsync storm on the loop. */
static void state_save(struct group_rt *rt, int force)
{
    const char *dir = rt->cfg->state_dir;
    int64_t now = as_wall_ms();
    if (dir == NULL || dir[0] == '\0' || (!force && now - rt->saved_ms < AS_STATE_SAVE_MS))
        return;
    struct as_err err;
    as_err_clear(&err);
    if (as_state_save(dir, rt->g, &rt->st, force, &err) < 0)
        AS_LOG(AS_ERROR, "engine[%s]: saving state: %s", rt->name, err.msg);
    rt->saved_ms = now;
}

static void state_restore(struct group_rt *rt)
{
    const char *dir = rt->cfg->state_dir;
    struct as_err err;
    as_err_clear(&err);
    if (dir == NULL || dir[0] == '\0')
        return;
    int rc = as_state_load(dir, rt->g, &rt->st, &err);
    if (rc < 0)
        AS_LOG(AS_ERROR, "engine[%s]: state file ignored, starting fresh: %s", rt->name, err.msg);
    else if (rc > 0)
        AS_LOG(AS_INFO,
               "engine[%s]: state restored: %zu recommendation(s), %zu scale event(s), "
               "last scale %llds ago",
               rt->name, rt->st.recs.n, rt->st.up.n + rt->st.down.n,
               rt->st.last_scale_ms ? (long long)(as_wall_ms() - rt->st.last_scale_ms) / 1000
                                    : -1LL);
}
static void maybe_all_stopped(struct as_engine *eng);

/* ---- backends ---- */

static struct as_ctx ctx_for(struct group_rt *rt, const char *name, int64_t timeout_ms)
{
    return (struct as_ctx){.loop = rt->eng->loop,
                           .http = rt->eng->http,
                           .group = rt->name,
                           .name = name,
                           .timeout_ms = timeout_ms,
                           .state_dir = rt->cfg->state_dir[0] ? rt->cfg->state_dir : NULL};
}

static int sources_start(struct group_rt *rt, struct as_err *err)
{
    for (size_t i = 0; i < rt->g->nmetrics; i++) {
        struct as_metric_cfg *m = &rt->g->metrics[i];
        struct as_ctx ctx = ctx_for(rt, m->name, m->timeout_ms);
        if (m->ops->start && m->ops->start(m->state, &ctx, err) < 0)
            return -1;
    }
    return 0;
}

static void sources_cancel(struct group_rt *rt)
{
    for (size_t i = 0; i < rt->g->nmetrics; i++)
        if (rt->slots[i].pending && rt->g->metrics[i].ops->cancel)
            rt->g->metrics[i].ops->cancel(rt->g->metrics[i].state);
    rt->pending = 0;
}

static void sources_stop(struct group_rt *rt)
{
    sources_cancel(rt);
    for (size_t i = 0; i < rt->g->nmetrics; i++)
        if (rt->g->metrics[i].ops->stop)
            rt->g->metrics[i].ops->stop(rt->g->metrics[i].state);
}

static int scaler_can_get(const struct as_scaler_cfg *s)
{
    return s->ops->get != NULL && (s->ops->can_get == NULL || s->ops->can_get(s->state));
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

/* Stops a scaler instance that lives in cfg; cfg stays alive until the stop completes. */
static void scaler_retire(struct as_engine *eng, struct as_config *cfg, struct as_scaler_cfg *s)
{
    if (s->ops->cancel)
        s->ops->cancel(s->state);
    if (s->ops->stop == NULL)
        return;
    struct retiring *r = malloc(sizeof(*r));
    if (r == NULL) {
        AS_LOG(AS_ERROR, "engine: out of memory stopping a scaler");
        return;
    }
    *r = (struct retiring){eng, cfg};
    as_config_ref(cfg);
    eng->retiring++;
    s->ops->stop(s->state, on_retired, r);
}

/* ---- the round: measure ---- */

static int64_t on_tick(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct group_rt *rt = arg;
    if (rt->eng->stopping)
        return AS_TIMER_STOP;
    if (rt->phase != IDLE) {
        AS_LOG(AS_WARN, "engine[%s]: round skipped: the previous one is still %s", rt->name,
               rt->phase == MEASURING ? "measuring" : "scaling");
        return rt->g->interval_ms;
    }
    round_begin(rt);
    return rt->g->interval_ms;
}

static void decide_and_act(struct group_rt *rt);

static void on_measured(const struct as_measurement *m, void *arg)
{
    struct slot *s = arg;
    struct group_rt *rt = s->rt;
    s->pending = 0;
    s->obs.ok = m->ok;
    s->obs.value = m->ok ? m->value : 0;
    s->replicas = m->ok ? m->replicas : -1;
    if (--rt->pending == 0)
        decide_and_act(rt);
}

static void on_current(const struct as_scale_result *r, void *arg)
{
    struct group_rt *rt = arg;
    rt->get_pending = 0;
    rt->got_current = r->ok;
    rt->scaler_current = r->ok ? r->replicas : -1;
    if (!r->ok)
        AS_LOG(AS_ERROR, "engine[%s]: reading the replica count via %s failed: %s", rt->name,
               rt->g->scaler.type, r->error);
    if (--rt->pending == 0)
        decide_and_act(rt);
}

static void round_begin(struct group_rt *rt)
{
    struct as_group_cfg *g = rt->g;
    rt->phase = MEASURING;
    rt->pending = g->nmetrics + 1; /* +1 guards against synchronous completion */
    for (size_t i = 0; i < g->nmetrics; i++) {
        rt->slots[i] = (struct slot){.rt = rt, .index = i, .pending = 1, .replicas = -1};
        g->metrics[i].ops->measure(g->metrics[i].state, on_measured, &rt->slots[i]);
    }
    rt->got_current = 0;
    if (scaler_can_get(&g->scaler)) {
        rt->pending++;
        rt->get_pending = 1;
        g->scaler.ops->get(g->scaler.state, on_current, rt);
    }
    if (--rt->pending == 0)
        decide_and_act(rt);
}

/* ---- decide ---- */

/* The count to decide from: the scaler's answer, else a source's, else the last one set. */
static int current_replicas(const struct group_rt *rt, const char **from)
{
    if (rt->got_current) {
        *from = "scaler";
        return rt->scaler_current;
    }
    for (size_t i = 0; i < rt->g->nmetrics; i++)
        if (rt->slots[i].replicas >= 0) {
            *from = "metric";
            return rt->slots[i].replicas;
        }
    *from = "last set";
    return rt->last_set;
}

static void round_end(struct group_rt *rt);
static void scale_start(struct group_rt *rt);

#define AS_WORKERS_MAX 1024

/* What the scaler knows of each replica (age, idle time), for warmup and the queue policy. */
static size_t scaler_workers(struct group_rt *rt, struct as_replica_obs *out, size_t max)
{
    const struct as_scaler_cfg *s = &rt->g->scaler;
    struct as_worker_info info[AS_WORKERS_MAX];
    if (s->ops->workers == NULL)
        return 0;
    size_t n = s->ops->workers(s->state, info, max < AS_WORKERS_MAX ? max : AS_WORKERS_MAX);
    for (size_t i = 0; i < n; i++)
        out[i] = (struct as_replica_obs){
            .ok = 1, .ready = 1, .age_ms = info[i].age_ms, .idle_ms = info[i].idle_ms};
    return n;
}

static void log_decision(const struct group_rt *rt, int current, const struct as_decision *d)
{
    char values[512];
    size_t o = 0;
    values[0] = '\0';
    for (size_t i = 0; i < rt->g->nmetrics && o < sizeof(values); i++) {
        const struct slot *s = &rt->slots[i];
        int n = s->obs.ok ? snprintf(values + o, sizeof(values) - o, " %s=%g",
                                     rt->g->metrics[i].name, s->obs.value)
                          : snprintf(values + o, sizeof(values) - o, " %s=failed",
                                     rt->g->metrics[i].name);
        if (n < 0)
            break;
        o += (size_t)n;
    }
    AS_LOG(AS_INFO, "engine[%s]: decision current=%d desired=%d%s reason=\"%s\"", rt->name, current,
           d->desired, values, d->reason);
}

static void decide_and_act(struct group_rt *rt)
{
    const char *from;
    int current = current_replicas(rt, &from);
    if (current < 0) {
        AS_LOG(AS_ERROR,
               "engine[%s]: current replica count unknown (no scaler get, no "
               "replicas_pointer, nothing set yet): no decision",
               rt->name);
        round_end(rt);
        return;
    }
    struct as_metric_obs obs[rt->g->nmetrics];
    for (size_t i = 0; i < rt->g->nmetrics; i++)
        obs[i] = rt->slots[i].obs;
    /* Decisions use the wall clock: their state (windows, events) outlives the process. */
    struct as_obs o = {.now_ms = as_wall_ms(), .current = current, .n = rt->g->nmetrics, .m = obs};
    struct as_replica_obs workers[AS_WORKERS_MAX];
    o.workers = workers;
    o.nworkers = scaler_workers(rt, workers, AS_WORKERS_MAX);
    struct as_decision d;
    as_decide(rt->g, &rt->st, &o, &d);
    log_decision(rt, current, &d);
    if (d.too_rapid)
        AS_LOG(AS_WARN,
               "engine[%s]: too rapid scaling: %d->%d would exceed %d scale events in "
               "%llds",
               rt->name, current, d.desired, rt->g->too_rapid.scales,
               (long long)rt->g->too_rapid.within_ms / 1000);
    state_save(rt, 0);
    if (d.desired == current) {
        round_end(rt);
        return;
    }
    if (rt->eng->opts.dry_run) {
        AS_LOG(AS_INFO, "engine[%s]: dry-run: would scale %d->%d via %s", rt->name, current,
               d.desired, rt->g->scaler.type);
        round_end(rt);
        return;
    }
    rt->from = current;
    rt->want = d.desired;
    rt->attempt = 0;
    as_backoff_reset(&rt->backoff);
    scale_start(rt);
}

/* ---- scale ---- */

static void on_scaled(const struct as_scale_result *r, void *arg);
static void on_reread(const struct as_scale_result *r, void *arg);

static void scale_start(struct group_rt *rt)
{
    rt->phase = SCALING;
    rt->attempt++;
    rt->scale_started = as_loop_now(rt->eng->loop);
    rt->g->scaler.ops->set(rt->g->scaler.state, rt->want, on_scaled, rt);
}

static int64_t on_retry(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct group_rt *rt = arg;
    rt->retry_timer = NULL;
    rt->phase = SCALING;
    if (scaler_can_get(&rt->g->scaler)) /* re-read: the last attempt may have landed */
        rt->g->scaler.ops->get(rt->g->scaler.state, on_reread, rt);
    else
        scale_start(rt);
    return AS_TIMER_STOP;
}

static void on_reread(const struct as_scale_result *r, void *arg)
{
    struct group_rt *rt = arg;
    if (r->ok && r->replicas == rt->want) {
        AS_LOG(AS_INFO, "engine[%s]: scaled %d->%d via %s (the earlier attempt landed)", rt->name,
               rt->from, rt->want, rt->g->scaler.type);
        as_decide_scaled(rt->g, &rt->st, as_wall_ms(), rt->from, rt->want);
        state_save(rt, 1);
        rt->last_set = rt->want;
        round_end(rt);
        return;
    }
    if (!r->ok)
        AS_LOG(AS_WARN, "engine[%s]: re-reading the count before retry failed: %s", rt->name,
               r->error);
    if (rt->eng->stopping) {
        AS_LOG(AS_WARN, "engine[%s]: shutting down: not retrying %d->%d", rt->name, rt->from,
               rt->want);
        round_end(rt);
        return;
    }
    scale_start(rt);
}

static void on_scaled(const struct as_scale_result *r, void *arg)
{
    struct group_rt *rt = arg;
    int64_t ms = as_loop_now(rt->eng->loop) - rt->scale_started;
    int total = rt->g->scaler.retries + 1;
    if (r->ok) {
        AS_LOG(AS_INFO, "engine[%s]: scaled %d->%d via %s in %lldms", rt->name, rt->from, rt->want,
               rt->g->scaler.type, (long long)ms);
        as_decide_scaled(rt->g, &rt->st, as_wall_ms(), rt->from, rt->want);
        state_save(rt, 1);
        rt->last_set = rt->want;
        round_end(rt);
        return;
    }
    AS_LOG(AS_ERROR, "engine[%s]: scale %d->%d via %s failed (attempt %d/%d%s): %s", rt->name,
           rt->from, rt->want, rt->g->scaler.type, rt->attempt, total,
           r->permanent ? ", permanent" : "", r->error);
    if (r->permanent || rt->attempt >= total || rt->eng->stopping) {
        if (!r->permanent && rt->attempt < total)
            AS_LOG(AS_WARN, "engine[%s]: shutting down: not retrying %d->%d", rt->name, rt->from,
                   rt->want);
        else
            AS_LOG(AS_ERROR, "engine[%s]: giving up on %d->%d until the next round", rt->name,
                   rt->from, rt->want);
        round_end(rt);
        return;
    }
    int64_t delay = as_backoff_next(&rt->backoff);
    rt->phase = RETRY_WAIT;
    rt->retry_timer = as_loop_add_timer(rt->eng->loop, delay, on_retry, rt);
    if (rt->retry_timer == NULL)
        round_end(rt);
}

/* ---- round end, reload switch, stop ---- */

static int group_switch(struct group_rt *rt, struct as_config *cfg, struct as_group_cfg *g,
                        struct as_err *err);

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

static void round_end(struct group_rt *rt)
{
    struct as_engine *eng = rt->eng;
    rt->phase = IDLE;
    rt->rounds++;
    if (rt->next_cfg != NULL) {
        struct as_config *cfg = rt->next_cfg;
        struct as_err err;
        rt->next_cfg = NULL;
        as_err_clear(&err);
        if (group_switch(rt, cfg, as_config_group(cfg, rt->name), &err) < 0)
            AS_LOG(AS_ERROR, "engine[%s]: applying the new configuration: %s", rt->name, err.msg);
        as_config_unref(cfg);
    }
    if (eng->stopping || rt->remove_after) {
        group_stop(rt);
        return;
    }
    check_rounds_done(eng);
}

static void on_scaler_stopped(void *arg)
{
    struct group_rt *rt = arg;
    rt->phase = STOPPED;
    maybe_all_stopped(rt->eng);
}

/* Stops the group's backends; the group is unlinked and freed once everything stopped. */
static void group_stop(struct group_rt *rt)
{
    state_save(rt, 1);
    as_loop_cancel_timer(rt->eng->loop, rt->tick);
    as_loop_cancel_timer(rt->eng->loop, rt->retry_timer);
    rt->tick = rt->retry_timer = NULL;
    if (rt->phase == MEASURING) {
        sources_cancel(rt);
        if (rt->get_pending && rt->g->scaler.ops->cancel)
            rt->g->scaler.ops->cancel(rt->g->scaler.state);
    }
    if (rt->phase == RETRY_WAIT)
        AS_LOG(AS_WARN, "engine[%s]: shutting down: abandoning the retry of %d->%d", rt->name,
               rt->from, rt->want);
    sources_stop(rt);
    rt->phase = STOPPING;
    struct as_scaler_cfg *s = &rt->g->scaler;
    if (s->ops->cancel)
        s->ops->cancel(s->state);
    if (s->ops->stop)
        s->ops->stop(s->state, on_scaler_stopped, rt);
    else
        on_scaler_stopped(rt);
}

static void group_free(struct group_rt *rt)
{
    as_group_state_free(&rt->st);
    as_config_unref(rt->next_cfg);
    as_config_unref(rt->cfg);
    free(rt->slots);
    free(rt->name);
    free(rt);
}

static void maybe_all_stopped(struct as_engine *eng)
{
    if (eng->walking)
        return;
    struct group_rt **pp = &eng->groups;
    while (*pp) {
        struct group_rt *rt = *pp;
        if (rt->phase == STOPPED) {
            *pp = rt->next;
            AS_LOG(AS_INFO, "engine[%s]: stopped", rt->name);
            group_free(rt);
        } else {
            pp = &rt->next;
        }
    }
    if (eng->stopping && eng->groups == NULL && eng->retiring == 0 && eng->stop_cb) {
        as_engine_cb cb = eng->stop_cb;
        eng->stop_cb = NULL;
        cb(eng->stop_arg);
    }
}

/* Points the group at a new config (same name): sources restart; the scaler is kept when
 * its options are unchanged, else the old one is stopped and the new one started. */
static int group_switch(struct group_rt *rt, struct as_config *cfg, struct as_group_cfg *g,
                        struct as_err *err)
{
    struct slot *slots = calloc(g->nmetrics, sizeof(*slots));
    if (slots == NULL)
        return as_err_set(err, "out of memory");
    if (rt->phase == MEASURING) {
        sources_cancel(rt);
        if (rt->get_pending && rt->g->scaler.ops->cancel)
            rt->g->scaler.ops->cancel(rt->g->scaler.state);
        rt->phase = IDLE;
    }
    sources_stop(rt);
    struct as_scaler_cfg *old = &rt->g->scaler;
    int keep = old->ops == g->scaler.ops && strcmp(old->fingerprint, g->scaler.fingerprint) == 0;
    if (keep) {
        void *running = old->state; /* move the live instance into the new config */
        old->state = g->scaler.state;
        g->scaler.state = running;
    } else {
        scaler_retire(rt->eng, rt->cfg, old);
    }
    if (rt->g->policy != g->policy) /* another policy's state means nothing to this one */
        memset(rt->st.policy, 0, sizeof(rt->st.policy));
    as_config_ref(cfg);
    as_config_unref(rt->cfg);
    free(rt->slots);
    int64_t old_interval = rt->g->interval_ms;
    rt->cfg = cfg;
    rt->g = g;
    rt->slots = slots;
    int rc = sources_start(rt, err);
    if (rc == 0 && !keep && g->scaler.ops->start) {
        struct as_ctx ctx = ctx_for(rt, g->scaler.ops->name, g->scaler.timeout_ms);
        rc = g->scaler.ops->start(g->scaler.state, &ctx, err);
    }
    as_backoff_init(&rt->backoff, g->scaler.backoff_ms, g->scaler.backoff_max_ms, 0);
    if (old_interval != g->interval_ms && rt->tick != NULL) {
        as_loop_cancel_timer(rt->eng->loop, rt->tick);
        rt->tick = as_loop_add_timer(rt->eng->loop, g->interval_ms, on_tick, rt);
    }
    AS_LOG(AS_INFO, "engine[%s]: configuration applied%s", rt->name, keep ? "" : " (new scaler)");
    return rc;
}

/* ---- groups ---- */

static uint64_t name_seed(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: a stable per-group jitter seed */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
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
    rt->last_set = -1;
    rt->scaler_current = -1;
    as_backoff_init(&rt->backoff, g->scaler.backoff_ms, g->scaler.backoff_max_ms,
                    name_seed(g->name));
    state_restore(rt);
    rt->saved_ms = as_wall_ms(); /* the first periodic save comes one period after start */
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
    eng->loop = loop;
    eng->http = http;
    eng->cfg = cfg;
    as_config_ref(cfg);
    eng->opts = *opts;
    return eng;
}

int as_engine_start(struct as_engine *eng, struct as_err *err)
{
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

static struct group_rt *find_group(struct as_engine *eng, const char *name)
{
    for (struct group_rt *rt = eng->groups; rt; rt = rt->next)
        if (strcmp(rt->name, name) == 0 && rt->phase != STOPPING && rt->phase != STOPPED)
            return rt;
    return NULL;
}

int as_engine_reload(struct as_engine *eng, struct as_config *cfg, struct as_err *err)
{
    int rc = 0;
    eng->walking++;
    for (struct group_rt *rt = eng->groups; rt; rt = rt->next)
        if (rt->phase != STOPPING && rt->phase != STOPPED && !as_config_group(cfg, rt->name)) {
            AS_LOG(AS_INFO, "engine[%s]: removed from the configuration", rt->name);
            if (rt->phase == SCALING || rt->phase == RETRY_WAIT)
                rt->remove_after = 1;
            else
                group_stop(rt);
        }
    for (size_t i = 0; i < cfg->ngroups; i++) {
        struct as_group_cfg *g = &cfg->groups[i];
        struct group_rt *rt = find_group(eng, g->name);
        if (rt != NULL && (rt->phase == SCALING || rt->phase == RETRY_WAIT)) {
            as_config_unref(rt->next_cfg);
            rt->next_cfg = cfg;
            as_config_ref(cfg);
        } else if (rt != NULL) {
            if (group_switch(rt, cfg, g, err) < 0)
                rc = -1;
        } else if ((rt = group_new(eng, cfg, g)) == NULL || group_start(rt, 0, err) < 0) {
            rc = -1;
        }
    }
    eng->walking--;
    as_config_unref(eng->cfg);
    eng->cfg = cfg;
    as_config_ref(cfg);
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
    eng->stop_cb = done;
    eng->stop_arg = arg;
    eng->walking++;
    for (struct group_rt *rt = eng->groups; rt; rt = rt->next) {
        if (rt->phase == SCALING) {
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

void as_engine_free(struct as_engine *eng)
{
    if (eng == NULL)
        return;
    while (eng->groups) {
        struct group_rt *rt = eng->groups;
        eng->groups = rt->next;
        group_free(rt);
    }
    as_config_unref(eng->cfg);
    free(eng);
}
