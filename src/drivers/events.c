#include "drivers/events.h"

#include <stdio.h>
#include <string.h>

#include "drivers/notify.h"
#include "util/util.h"

/* An event of the group with the round's metrics (values and targets). */
static void make(struct group_rt *rt, struct as_ev *ev, enum as_ev_kind kind, int from, int to)
{
    as_ev_init(ev, kind, rt->name, as_wall_ms());
    ev->from = from;
    ev->to = to;
    as_bounds_at(rt->g, ev->time_ms, &ev->min, &ev->max);
    for (size_t i = 0; i < rt->g->nmetrics && i < AS_EV_METRICS_MAX; i++) {
        const struct as_metric_cfg *m = &rt->g->metrics[i];
        struct as_ev_metric *e = &ev->metrics[ev->nmetrics++];
        snprintf(e->name, sizeof(e->name), "%s", m->name);
        e->ok = rt->slots[i].obs.ok;
        e->value = rt->slots[i].obs.value;
        e->avg = m->target <= 0 && m->average_value > 0;
        e->target = e->avg ? m->average_value : m->target;
    }
}

static void emit(struct group_rt *rt, struct as_ev *ev)
{
    as_ev_mask(ev);
    as_notify_emit(rt->eng->notify, ev);
}

/* Whether some notifier takes events of this kind (else none is made). */
static int wanted(const struct group_rt *rt, enum as_ev_kind kind)
{
    return (as_notify_kinds(rt->eng->notify) & (1u << kind)) != 0;
}

void as_round_event(struct group_rt *rt, enum as_ev_kind kind, int from, int to, const char *reason)
{
    struct as_ev ev;
    if (!wanted(rt, kind))
        return;
    make(rt, &ev, kind, from, to);
    snprintf(ev.reason, sizeof(ev.reason), "%s", reason ? reason : "");
    emit(rt, &ev);
}

static void flagged(struct group_rt *rt, const struct as_ev *base, enum as_ev_kind kind, int to,
                    const char *reason)
{
    struct as_ev ev = *base;
    ev.kind = kind;
    ev.to = to;
    if (reason != NULL)
        snprintf(ev.reason, sizeof(ev.reason), "%s", reason);
    emit(rt, &ev);
}

/* "3 scale-ups within 1 min (more than 2)" or "6 replicas added within 30 min (more than 5)",
 * as the decision's reason says it. */
static void too_rapid_why(const struct group_rt *rt, int current, const struct as_decision *d,
                          char *buf, size_t len)
{
    const struct as_too_rapid *tr = &rt->g->too_rapid;
    int up = d->desired > current;
    char w[32];
    as_duration_words(tr->within_ms, w, sizeof(w));
    if (tr->scales > 0 && d->too_rapid_events > tr->scales)
        snprintf(buf, len, "%d scale-%s within %s (more than %d)", d->too_rapid_events,
                 up ? "ups" : "downs", w, tr->scales);
    else
        snprintf(buf, len, "%d replicas %s within %s (more than %d)", d->too_rapid_replicas,
                 up ? "added" : "removed", w, tr->replicas);
}

void as_round_decision_events(struct group_rt *rt, int current, const struct as_decision *d)
{
    struct as_ev ev;
    char why[160];
    unsigned decision_kinds = 1u << AS_EV_MEASUREMENT | 1u << AS_EV_ABOVE_MAX |
                              1u << AS_EV_BELOW_MIN | 1u << AS_EV_FALLBACK | 1u << AS_EV_PAUSED |
                              1u << AS_EV_TOO_RAPID;
    if ((as_notify_kinds(rt->eng->notify) & decision_kinds) == 0)
        return;
    make(rt, &ev, AS_EV_MEASUREMENT, current, d->desired);
    ev.wanted = d->wanted;
    ev.min = d->min;
    ev.max = d->max;
    snprintf(ev.reason, sizeof(ev.reason), "%s", d->reason);
    as_ev_mask(&ev);
    as_notify_emit(rt->eng->notify, &ev);
    if (d->above_max)
        flagged(rt, &ev, AS_EV_ABOVE_MAX, d->desired, NULL);
    if (d->below_min)
        flagged(rt, &ev, AS_EV_BELOW_MIN, d->desired, NULL);
    if (d->fallback)
        flagged(rt, &ev, AS_EV_FALLBACK, d->desired, NULL);
    if (d->paused)
        flagged(rt, &ev, AS_EV_PAUSED, d->paused_to, NULL);
    if (d->too_rapid) {
        too_rapid_why(rt, current, d, why, sizeof(why));
        flagged(rt, &ev, AS_EV_TOO_RAPID, d->desired, why);
    }
}

void as_round_metric_event(struct group_rt *rt, size_t i, int ok, const char *error)
{
    const struct slot *s = &rt->slots[i];
    char why[64];
    if ((ok && s->failing == 0) || (!ok && s->failing > 0) ||
        !wanted(rt, ok ? AS_EV_RECOVERED : AS_EV_SOURCE_FAILED))
        return;
    struct as_ev ev;
    make(rt, &ev, ok ? AS_EV_RECOVERED : AS_EV_SOURCE_FAILED, -1, -1);
    snprintf(ev.metric, sizeof(ev.metric), "%s", rt->g->metrics[i].name);
    if (i < AS_EV_METRICS_MAX) { /* only this metric: the others may not have answered yet */
        ev.metrics[0] = ev.metrics[i];
        ev.nmetrics = 1;
    } else {
        ev.nmetrics = 0;
    }
    if (ok)
        snprintf(why, sizeof(why), "after %u failed measurement%s", s->failing,
                 s->failing == 1 ? "" : "s");
    snprintf(ev.reason, sizeof(ev.reason), "%s", ok ? why : error && error[0] ? error : "failed");
    emit(rt, &ev);
}
