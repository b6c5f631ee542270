/* /api/v1/... and /healthz, /readyz (docs/api.md has every answer with an example). Lists
 * are oldest first; `limit` keeps the newest N, `since` those after a time. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "config/opt.h"
#include "config/server_cfg.h"
#include "drivers/status.h"
#include "util/util.h"

#define AS_DECISIONS_DEFAULT 20 /* decisions in a group's own answer */

/* ---- health ---- */

void as_api_health(struct as_engine *eng, int ready, struct as_api_reply *r)
{
    struct as_engine_view ev;
    char msg[160];
    as_status_engine(eng, &ev);
    if (!ready) {
        as_api_text(r, 200, "text/plain; charset=utf-8", "ok\n", 3);
        return;
    }
    if (ev.stopping)
        snprintf(msg, sizeof(msg), "not ready: stopping\n");
    else if (ev.waiting > 0)
        snprintf(msg, sizeof(msg), "not ready: %zu of %zu group(s) have not finished a round\n",
                 ev.waiting, ev.ngroups);
    else
        snprintf(msg, sizeof(msg), "ready\n");
    as_api_text(r, ev.stopping || ev.waiting ? 503 : 200, "text/plain; charset=utf-8", msg,
                strlen(msg));
}

/* ---- pieces ---- */

static json_t *count_or_null(int v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

static json_t *time_or_null(int64_t ms)
{
    return ms > 0 ? json_integer(ms) : json_null();
}

static json_t *number_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *decision_json(const struct as_decision_rec *d)
{
    return json_pack("{s:I, s:i, s:i, s:o, s:i, s:i, s:s, s:s, s:s, s:I, s:I}", "time",
                     (json_int_t)d->t, "current", d->current, "desired", d->desired, "wanted",
                     count_or_null(d->wanted), "min", d->min, "max", d->max, "outcome",
                     as_outcome_name(d->outcome), "class", as_reason_class_name(d->cls), "reason",
                     d->reason, "first", (json_int_t)d->first, "rounds", (json_int_t)d->rounds);
}

static json_t *metric_json(const struct as_group_view *v, size_t i)
{
    struct as_metric_view m;
    as_status_metric(v, i, &m);
    return json_pack("{s:s, s:s, s:b, s:o, s:o, s:s?, s:o, s:i, s:I, s:I}", "name", m.name, "type",
                     m.type, "ok", m.ok, "value", m.ok ? number_or_null(m.value) : json_null(),
                     "target", m.has_target ? json_real(m.target) : json_null(), "target_kind",
                     m.has_target ? (m.avg ? "average_value" : "target") : NULL, "last_ok",
                     time_or_null(m.last_ok_ms), "failing", (int)m.failing, "measurements",
                     (json_int_t)m.n->measurements, "failures", (json_int_t)m.n->failures);
}

static json_t *counters_json(const struct as_group_counters *n)
{
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rounds", (json_int_t)n->rounds,
        "rounds_skipped", (json_int_t)n->rounds_skipped, "decisions", (json_int_t)n->decisions,
        "scales", (json_int_t)n->scales, "scale_ups", (json_int_t)n->scale_ups, "scale_downs",
        (json_int_t)n->scale_downs, "measure_failures", (json_int_t)n->measure_failures,
        "count_failures", (json_int_t)n->count_failures, "scale_failures",
        (json_int_t)n->scale_failures, "deadline_exceeded", (json_int_t)n->deadline_exceeded);
}

/* The queue policy's queue metric (its `metric` option, else the first); -1 for another
 * policy. */
static long queue_metric(const struct as_group_cfg *g)
{
    if (strcmp(g->policy->name, "queue") != 0)
        return -1;
    const struct as_opt *o = as_opt_find(g->policy->opts, "metric");
    const char *name = o ? *(char *const *)((const char *)g->policy_cfg + o->offset) : NULL;
    return name ? as_group_metric_index(g, name) : 0;
}

static json_t *summary_json(const struct as_group_view *v)
{
    json_t *metrics = json_array();
    for (size_t i = 0; metrics && i < v->nmetrics; i++)
        json_array_append_new(metrics, metric_json(v, i));
    char interval[32];
    long q = queue_metric(v->g);
    json_t *o = json_pack(
        "{s:s, s:s, s:o, s:o, s:i, s:i, s:b, s:s?, s:o, s:o, s:s?, s:o, s:o, s:s, s:s, s:s, "
        "s:I, s:o, s:o, s:i, s:f, s:o, s:b, s:s?}",
        "name", v->name, "phase", v->phase, "replicas", count_or_null(v->current), "desired",
        v->decided ? json_integer(v->last.desired) : json_null(), "min", v->min, "max", v->max,
        "paused", v->paused, "paused_by", v->paused_by, "paused_at", time_or_null(v->paused_at),
        "override", count_or_null(v->override), "override_by", v->override_by, "override_at",
        time_or_null(v->override_at), "scaling",
        v->scaling ? json_pack("{s:i, s:i}", "from", v->scale_from, "to", v->scale_to)
                   : json_null(),
        "policy", v->g->policy->name, "scaler", v->g->scaler.type, "interval",
        as_duration_fmt(v->g->interval_ms, interval, sizeof(interval)), "interval_ms",
        (json_int_t)v->g->interval_ms, "last_decision",
        v->decided ? decision_json(&v->last) : json_null(), "metrics", metrics, "rounds", v->rounds,
        "last_round_seconds", v->last_round_s, "counters", counters_json(v->n), "workers",
        v->g->scaler.ops->worker_list != NULL, "queue_metric",
        q >= 0 ? v->g->metrics[q].name : NULL);
    return o;
}

/* ---- lists over the timeline ---- */

/* Which of n entries (i-th newest = i) to show, oldest first: [first, n) reversed. */
static size_t window(const struct as_query *q, size_t n, size_t def)
{
    size_t limit = q->given & AS_Q_LIMIT ? (size_t)q->limit : def;
    return n < limit ? n : limit;
}

static json_t *decisions_json(const struct as_group_view *v, const struct as_query *q, size_t def)
{
    json_t *a = json_array();
    struct as_decision_rec d;
    size_t n = window(q, as_timeline_decisions(v->tl), def);
    for (size_t i = n; a != NULL && i-- > 0;)
        if (as_timeline_decision(v->tl, i, &d) == 0 && (!(q->given & AS_Q_SINCE) || d.t > q->since))
            json_array_append_new(a, decision_json(&d));
    return a;
}

static json_t *values_json(const double *values, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, number_or_null(values[i]));
    return a;
}

static json_t *rounds_json(const struct as_group_view *v, const struct as_query *q)
{
    json_t *a = json_array();
    struct as_round_point p;
    size_t nm = as_timeline_nmetrics(v->tl);
    size_t n = window(q, as_timeline_rounds(v->tl), SIZE_MAX);
    for (size_t i = n; a != NULL && i-- > 0;)
        if (as_timeline_round(v->tl, i, &p) == 0 && (!(q->given & AS_Q_SINCE) || p.t > q->since))
            json_array_append_new(a, json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "time",
                                               (json_int_t)p.t, "current", count_or_null(p.current),
                                               "desired", count_or_null(p.desired), "min",
                                               count_or_null(p.min), "max", count_or_null(p.max),
                                               "values", values_json(p.values, nm)));
    return a;
}

static json_t *metric_names(const struct as_group_view *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < as_timeline_nmetrics(v->tl); i++)
        json_array_append_new(a, json_string(as_timeline_metric(v->tl, i)));
    return a;
}

static json_t *scales_json(const struct as_group_view *v)
{
    json_t *a = json_array();
    const struct as_event *e;
    size_t n = 0;
    while (as_history_get(v->st, n) != NULL)
        n++;
    for (size_t i = n; a != NULL && i-- > 0;) {
        e = as_history_get(v->st, i);
        /* the history runs on the decision clock: in `run` the wall clock at start carried on */
        json_array_append_new(a, json_pack("{s:I, s:i, s:i, s:s}", "time", (json_int_t)e->t, "from",
                                           e->from, "to", e->to, "reason",
                                           e->reason ? e->reason : ""));
    }
    return a;
}

/* ---- answers ---- */

struct call {
    const struct as_route *route;
    const struct as_query *q;
    struct as_api_reply *r;
    int changed; /* a change's enum as_status_rc */
};

static void answer_group(const struct as_group_view *v, const struct call *c)
{
    json_t *o = summary_json(v);
    if (o != NULL &&
        (json_object_set_new(o, "config", as_api_config_json(v->cfg, v->g)) < 0 ||
         json_object_set_new(o, "decisions", decisions_json(v, c->q, AS_DECISIONS_DEFAULT)) < 0 ||
         json_object_set_new(o, "scales", scales_json(v)) < 0)) {
        json_decref(o);
        o = NULL;
    }
    as_api_json(c->r, 200, o);
}

static void answer_workers(const struct as_group_view *v, const struct call *c)
{
    json_t *w = as_status_workers(v);
    if (v->g->scaler.ops->worker_list == NULL) {
        as_api_error(c->r, 404, "group '%s' scales with %s: only process pools list their workers",
                     v->name, v->g->scaler.type);
        return;
    }
    as_api_json(c->r, 200, w);
}

static void answer_queue(const struct as_group_view *v, const struct call *c)
{
    long k =
        c->q->given & AS_Q_METRIC ? as_group_metric_index(v->g, c->q->metric) : queue_metric(v->g);
    if (k < 0 && (c->q->given & AS_Q_METRIC)) {
        as_api_error(c->r, 404, "group '%s' has no metric '%s'", v->name, c->q->metric);
        return;
    }
    if (k < 0) {
        as_api_error(c->r, 404,
                     "group '%s' has no queue (its policy is %s): name the metric with "
                     "?metric=NAME",
                     v->name, v->g->policy->name);
        return;
    }
    json_t *a = json_array();
    struct as_round_point p;
    size_t n = window(c->q, as_timeline_rounds(v->tl), SIZE_MAX);
    for (size_t i = n; a != NULL && i-- > 0;)
        if (as_timeline_round(v->tl, i, &p) == 0 &&
            (!(c->q->given & AS_Q_SINCE) || p.t > c->q->since))
            json_array_append_new(
                a, json_pack("{s:I, s:o, s:o, s:o}", "time", (json_int_t)p.t, "length",
                             (size_t)k < as_timeline_nmetrics(v->tl) ? number_or_null(p.values[k])
                                                                     : json_null(),
                             "replicas", count_or_null(p.current), "desired",
                             count_or_null(p.desired)));
    as_api_json(c->r, 200,
                json_pack("{s:s, s:s, s:s, s:o}", "group", v->name, "metric", v->g->metrics[k].name,
                          "policy", v->g->policy->name, "rounds", a));
}

static void answer_change(const struct as_group_view *v, const struct call *c, int rc)
{
    json_t *o = json_pack("{s:s, s:b, s:s?, s:o, s:s?}", "group", v->name, "paused", v->paused,
                          "paused_by", v->paused_by, "override", count_or_null(v->override),
                          "override_by", v->override_by);
    if (rc == AS_STATUS_CONFIG_PAUSED) {
        json_object_set_new(o, "error",
                            json_string("the API's pause is lifted, but the configuration still "
                                        "pauses the group (paused: true): edit it and reload"));
        json_object_set_new(o, "status", json_integer(409));
    }
    as_api_json(c->r, rc == AS_STATUS_CONFIG_PAUSED ? 409 : 200, o);
}

static void on_group(const struct as_group_view *v, void *arg)
{
    const struct call *c = arg;
    switch (c->route->kind) {
    case AS_R_GROUP:
        answer_group(v, c);
        return;
    case AS_R_CONFIG:
        as_api_json(
            c->r, 200,
            json_pack("{s:s, s:o}", "group", v->name, "config", as_api_config_json(v->cfg, v->g)));
        return;
    case AS_R_DECISIONS:
        as_api_json(c->r, 200,
                    json_pack("{s:s, s:o}", "group", v->name, "decisions",
                              decisions_json(v, c->q, SIZE_MAX)));
        return;
    case AS_R_ROUNDS:
        as_api_json(c->r, 200,
                    json_pack("{s:s, s:o, s:o}", "group", v->name, "metrics", metric_names(v),
                              "rounds", rounds_json(v, c->q)));
        return;
    case AS_R_WORKERS:
        answer_workers(v, c);
        return;
    case AS_R_QUEUE:
        answer_queue(v, c);
        return;
    default:
        answer_change(v, c, c->changed);
        return;
    }
}

static void on_summary(const struct as_group_view *v, void *arg)
{
    json_array_append_new(arg, summary_json(v));
}

static void answer_status(struct as_engine *eng, struct as_api_reply *r)
{
    struct as_engine_view ev;
    as_status_engine(eng, &ev);
    const struct as_server_cfg *h = ev.cfg->http;
    static const char *const auths[] = {"writes", "all"};
    char real[PATH_MAX];
    const char *file = ev.cfg->file ? ev.cfg->file : "";
    as_api_json(r, 200,
                json_pack("{s:s, s:i, s:I, s:I, s:s, s:s, s:i, s:i, s:b, s:b, s:b, s:{s:s, s:b, "
                          "s:s}}",
                          "version", AS_VERSION, "pid", (int)getpid(), "started",
                          (json_int_t)ev.started_ms, "uptime_ms",
                          (json_int_t)(as_wall_ms() - ev.started_ms), "config", file, "config_path",
                          realpath(file, real) ? real : file, "groups", (int)ev.ngroups, "waiting",
                          (int)ev.waiting, "ready", ev.waiting == 0 && !ev.stopping, "stopping",
                          ev.stopping, "dry_run", ev.dry_run, "http", "listen", h->listen, "token",
                          h->token != NULL, "auth", auths[h->auth ? 1 : 0]));
}

static void answer_index(struct as_api_reply *r)
{
    static const char *const paths[] = {
        "GET /api/v1/status",
        "GET /api/v1/groups",
        "GET /api/v1/groups/{group}?limit=N",
        "GET /api/v1/groups/{group}/config",
        "GET /api/v1/groups/{group}/decisions?limit=N&since=MS",
        "GET /api/v1/groups/{group}/rounds?limit=N&since=MS",
        "GET /api/v1/groups/{group}/workers",
        "GET /api/v1/groups/{group}/queue?limit=N&since=MS&metric=NAME",
        "POST /api/v1/groups/{group}/pause",
        "POST /api/v1/groups/{group}/resume",
        "POST /api/v1/groups/{group}/override {\"replicas\": N|null}",
        "DELETE /api/v1/groups/{group}/override",
        "GET /metrics",
        "GET /healthz",
        "GET /readyz",
        "GET / (the dashboard)",
    };
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < AS_ARRAY_LEN(paths); i++)
        json_array_append_new(a, json_string(paths[i]));
    as_api_json(
        r, 200,
        json_pack("{s:s, s:o, s:s}", "version", AS_VERSION, "endpoints", a, "docs", "docs/api.md"));
}

/* A change, then the group's state after it. */
static void change(struct as_engine *eng, const struct as_route *route, const char *body,
                   size_t len, const char *who, struct call *c)
{
    struct as_err err;
    int replicas = -1, rc;
    as_err_clear(&err);
    if (route->kind == AS_R_OVERRIDE && route->method != AS_M_DELETE &&
        as_override_parse(body, len, &replicas, &err) < 0) {
        as_api_error(c->r, 400, "%s", err.msg);
        return;
    }
    if (route->kind == AS_R_OVERRIDE)
        rc = as_status_override(eng, route->group, replicas, who);
    else
        rc = as_status_pause(eng, route->group, route->kind == AS_R_PAUSE, who);
    if (rc == AS_STATUS_NO_GROUP) {
        as_api_error(c->r, 404, "no group '%s'", route->group);
        return;
    }
    c->changed = rc;
    as_status_group(eng, route->group, on_group, c);
}

void as_api_v1(struct as_engine *eng, const struct as_route *route, const struct as_query *q,
               const char *body, size_t len, const char *who, struct as_api_reply *r)
{
    struct call c = {route, q, r, AS_STATUS_OK};
    switch (route->kind) {
    case AS_R_INDEX:
        answer_index(r);
        return;
    case AS_R_STATUS:
        answer_status(eng, r);
        return;
    case AS_R_GROUPS: {
        json_t *a = json_array();
        as_status_each(eng, on_summary, a);
        as_api_json(r, 200, json_pack("{s:o}", "groups", a));
        return;
    }
    case AS_R_PAUSE:
    case AS_R_RESUME:
    case AS_R_OVERRIDE:
        change(eng, route, body, len, who, &c);
        return;
    default:
        if (as_status_group(eng, route->group, on_group, &c) < 0)
            as_api_error(r, 404, "no group '%s'", route->group);
        return;
    }
}
