/* The status API's views of the engine and its two changes: see status.h. */
#include "drivers/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/notify_cfg.h"
#include "config/server_cfg.h"
#include "drivers/group.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/util.h"

#define AS_STATUS_METRICS_MAX 256 /* values a round keeps (a group's first metrics) */

/* ---- the round's hooks ---- */

const struct as_group_cfg *as_status_effective(const struct group_rt *rt, struct as_group_cfg *eff)
{
    *eff = *rt->g;
    if (rt->st.api_paused)
        eff->paused = 1;
    if (rt->st.api_override_set)
        eff->override = rt->st.api_override;
    return eff;
}

/* The round's values: NaN for a failed (or skipped) measurement. */
static void round_values(const struct group_rt *rt, double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = rt->slots[i].obs.ok ? rt->slots[i].obs.value : NAN;
}

static size_t nvalues(const struct group_rt *rt)
{
    size_t n = as_timeline_nmetrics(rt->tl);
    return n < AS_STATUS_METRICS_MAX ? n : AS_STATUS_METRICS_MAX;
}

unsigned as_status_decided(struct group_rt *rt, int current, const struct as_decision *d,
                           int override)
{
    unsigned cls, outcome;
    as_decision_classify(current, d, override, &cls, &outcome);
    rt->by_class[outcome][cls]++;
    if (rt->tl != NULL) {
        double v[AS_STATUS_METRICS_MAX + 1];
        round_values(rt, v, nvalues(rt));
        as_timeline_decided(rt->tl, as_wall_ms(), current, d, cls, outcome, v);
    }
    return outcome * AS_RC_CLASSES + cls;
}

void as_status_held(struct group_rt *rt)
{
    if (rt->tl == NULL)
        return;
    double v[AS_STATUS_METRICS_MAX + 1];
    round_values(rt, v, nvalues(rt));
    as_timeline_held(rt->tl, as_wall_ms(), v);
}

void as_status_scaled(struct group_rt *rt, int from, int to)
{
    if (to > from)
        rt->n.scale_ups++;
    else if (to < from)
        rt->n.scale_downs++;
}

int as_status_timeline(struct group_rt *rt)
{
    const struct as_server_cfg *h = rt->cfg->http;
    size_t rounds = h ? (size_t)h->history_rounds : 0,
           decisions = h ? (size_t)h->history_decisions : 0;
    if (h == NULL || h->off)
        rounds = decisions = 0;
    size_t groups = rt->cfg->ngroups ? rt->cfg->ngroups : 1;
    size_t share = h ? (size_t)h->history_rounds_total / groups : 0;
    if (rounds > 0 && share < rounds) /* many groups: the total bounds the memory */
        rounds = share > 0 ? share : 1;
    if (rt->g->nmetrics > AS_STATUS_METRICS_MAX)
        rounds = 0;
    if (as_timeline_fits(rt->tl, rt->g, rounds, decisions))
        return 0;
    as_timeline_free(rt->tl);
    rt->tl = as_timeline_new(rounds, decisions, rt->g);
    return rt->tl == NULL && (rounds > 0 || decisions > 0) ? -1 : 0;
}

void as_status_round_end(struct group_rt *rt)
{
    int64_t ms = as_loop_now(rt->eng->loop) - rt->round_started_ms;
    rt->last_round_s = (double)(ms > 0 ? ms : 0) / 1000.0;
    as_round_hist_add(&rt->eng->round_hist, rt->last_round_s);
}

/* ---- views ---- */

static const char *phase_name(enum phase p)
{
    static const char *const names[] = {"idle",       "measuring", "persisting",
                                        "scaling",    "verifying", "waiting to retry",
                                        "re-reading", "stopping",  "stopped"};
    return p <= STOPPED ? names[p] : "?";
}

static int live(const struct group_rt *rt)
{
    return rt->phase != STOPPING && rt->phase != STOPPED && !rt->remove_after;
}

/* What the views show: a group until it has stopped (while the daemon stops, its pool's workers
 * are listed STOPPING until they are gone). */
static int shown(const struct group_rt *rt)
{
    return rt->phase != STOPPED;
}

static void view_of(const struct group_rt *rt, struct as_group_view *v)
{
    const struct as_group_state *st = &rt->st;
    *v = (struct as_group_view){.name = rt->name,
                                .g = rt->g,
                                .cfg = rt->cfg,
                                .phase = phase_name(rt->phase),
                                .current = st->count_known ? st->count : -1,
                                .override = -1,
                                .rounds = rt->rounds,
                                .last_round_s = rt->last_round_s,
                                .nmetrics = rt->g->nmetrics,
                                .n = &rt->n,
                                .by_class = rt->by_class,
                                .tl = rt->tl,
                                .st = st,
                                .rt = rt};
    as_bounds_at(rt->g, as_wall_ms(), &v->min, &v->max);
    v->decided = as_timeline_decision(rt->tl, 0, &v->last) == 0;
    v->paused = st->api_paused || rt->g->paused;
    v->paused_by = st->api_paused ? "api" : rt->g->paused ? "configuration" : NULL;
    v->paused_at = st->api_paused ? st->api_paused_at : 0;
    v->override = st->api_override_set ? st->api_override : rt->g->override;
    v->override_by = st->api_override_set ? "api" : rt->g->override >= 0 ? "configuration" : NULL;
    v->override_at = st->api_override_set ? st->api_override_at : 0;
    v->scaling = st->pending;
    v->scale_from = st->pending ? st->intent.from : -1;
    v->scale_to = st->pending ? st->intent.to : -1;
}

void as_status_metric(const struct as_group_view *v, size_t i, struct as_metric_view *out)
{
    const struct group_rt *rt = v->rt;
    const struct as_metric_cfg *m = &rt->g->metrics[i];
    const struct slot *s = &rt->slots[i];
    *out = (struct as_metric_view){.name = m->name,
                                   .type = m->type,
                                   .measured = s->n.measurements + s->n.skipped > 0,
                                   .ok = s->obs.ok,
                                   .value = s->obs.ok ? s->obs.value : 0,
                                   .has_target = m->target > 0 || m->average_value > 0,
                                   .avg = m->target <= 0 && m->average_value > 0,
                                   .last_ok_ms = s->last_ok_ms,
                                   .failing = s->failing,
                                   .n = &s->n};
    out->target = out->avg ? m->average_value : m->target;
}

json_t *as_status_workers(const struct as_group_view *v)
{
    const struct as_scaler_cfg *s = &v->g->scaler;
    return s->ops->worker_list ? s->ops->worker_list(s->state) : NULL;
}

void as_status_engine(const struct as_engine *eng, struct as_engine_view *out)
{
    *out = (struct as_engine_view){.started_ms = eng->started_wall_ms,
                                   .stopping = eng->stopping,
                                   .dry_run = eng->opts.dry_run,
                                   .state_write_errors = eng->state_write_errors,
                                   .rounds = &eng->round_hist,
                                   .cfg = eng->cfg};
    for (const struct group_rt *rt = eng->groups; rt; rt = rt->next) {
        if (!shown(rt))
            continue;
        out->ngroups++;
        out->waiting += rt->rounds < 1;
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const struct group_rt *const *)a)->name,
                  (*(const struct group_rt *const *)b)->name);
}

int as_status_groups(const struct as_engine *eng, struct as_status_groups *out)
{
    size_t n = 0;
    for (const struct group_rt *rt = eng->groups; rt; rt = rt->next)
        n += shown(rt);
    *out = (struct as_status_groups){.rt = calloc(n + 1, sizeof(*out->rt)),
                                     .freed = eng->groups_freed};
    if (out->rt == NULL)
        return -1;
    for (const struct group_rt *rt = eng->groups; rt; rt = rt->next)
        if (shown(rt))
            out->rt[out->n++] = rt;
    qsort(out->rt, out->n, sizeof(*out->rt), by_name);
    return 0;
}

void as_status_groups_free(struct as_status_groups *l)
{
    free(l->rt);
    *l = (struct as_status_groups){0};
}

int as_status_groups_valid(const struct as_engine *eng, const struct as_status_groups *l)
{
    return l->freed == eng->groups_freed;
}

const char *as_status_groups_name(const struct as_status_groups *l, size_t i)
{
    return l->rt[i]->name;
}

int as_status_groups_view(const struct as_status_groups *l, size_t i, struct as_group_view *v)
{
    if (!shown(l->rt[i]))
        return -1;
    view_of(l->rt[i], v);
    return 0;
}

void as_status_each(const struct as_engine *eng, as_group_view_fn fn, void *arg)
{
    struct as_status_groups l;
    struct as_group_view v;
    if (as_status_groups(eng, &l) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            view_of(l.rt[i], &v);
            fn(&v, arg);
        }
        as_status_groups_free(&l);
        return;
    }
    /* Without memory to sort, the engine's order. */
    for (const struct group_rt *rt = eng->groups; rt; rt = rt->next)
        if (shown(rt)) {
            view_of(rt, &v);
            fn(&v, arg);
        }
}

/* The group of that name that changes may reach (live), or any shown. */
static struct group_rt *find(const struct as_engine *eng, const char *name, int any)
{
    for (struct group_rt *rt = eng->groups; rt; rt = rt->next)
        if ((any ? shown(rt) : live(rt)) && strcmp(rt->name, name) == 0)
            return rt;
    return NULL;
}

int as_status_group(const struct as_engine *eng, const char *name, as_group_view_fn fn, void *arg)
{
    const struct group_rt *rt = find(eng, name, 1);
    struct as_group_view v;
    if (rt == NULL)
        return -1;
    view_of(rt, &v);
    fn(&v, arg);
    return 0;
}

void as_status_notifiers(const struct as_engine *eng,
                         void (*fn)(const char *name, const char *type,
                                    const struct as_notify_counters *c, void *arg),
                         void *arg)
{
    struct as_notify_counters c;
    for (size_t i = 0; i < eng->cfg->nnotifiers; i++) {
        const struct as_notifier_cfg *n = &eng->cfg->notifiers[i];
        if (as_notify_counters(eng->notify, n->name, &c) == 0)
            fn(n->name, n->type, &c, arg);
    }
}

/* ---- changes ---- */

int as_status_pause(struct as_engine *eng, const char *name, int on, const char *who)
{
    struct group_rt *rt = find(eng, name, 0);
    if (rt == NULL)
        return AS_STATUS_NO_GROUP;
    if (rt->st.api_paused != on) {
        rt->st.api_paused = on;
        rt->st.api_paused_at = on ? as_wall_ms() : 0;
        AS_LOG(AS_INFO, "engine[%s]: %s through the API by %s%s", rt->name,
               on ? "paused" : "resumed", who,
               !on && rt->g->paused ? " (the configuration still pauses it: paused: true)" : "");
        as_engine_save(rt, 1, NULL);
    }
    return !on && rt->g->paused ? AS_STATUS_CONFIG_PAUSED : AS_STATUS_OK;
}

int as_status_override(struct as_engine *eng, const char *name, int replicas, const char *who)
{
    struct group_rt *rt = find(eng, name, 0);
    if (rt == NULL)
        return AS_STATUS_NO_GROUP;
    int set = replicas >= 0;
    if (rt->st.api_override_set == set && (!set || rt->st.api_override == replicas))
        return AS_STATUS_OK;
    rt->st.api_override_set = set;
    rt->st.api_override = set ? replicas : 0;
    rt->st.api_override_at = set ? as_wall_ms() : 0;
    if (set)
        AS_LOG(AS_INFO, "engine[%s]: manual count %d set through the API by %s", rt->name, replicas,
               who);
    else
        AS_LOG(AS_INFO, "engine[%s]: manual count cleared through the API by %s%s", rt->name, who,
               rt->g->override >= 0 ? " (the configuration's override applies)" : "");
    as_engine_save(rt, 1, NULL);
    return AS_STATUS_OK;
}
