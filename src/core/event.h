/* Events: what happened to a group, as data (docs/events.md). The engine makes them at fixed
 * points of a round; the dispatcher (drivers/notify.c) hands each to the notifiers that
 * subscribed to its kind, each rendering it with its template. Plain values, copied freely:
 * an event owns no memory. (struct as_event of decide.h is a history entry, not this.)
 *
 * Nothing secret ever reaches an event: every text in it is masked as log lines are
 * (as_log_mask: a value that came from ${env:} or ${file:} reads "***"). */
#ifndef AS_EVENT_H
#define AS_EVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/decide.h"
#include "core/plugin.h"

enum as_ev_kind {
    AS_EV_MEASUREMENT = 0, /* a round reached a decision */
    AS_EV_SCALE,           /* a scale landed */
    AS_EV_SCALE_FAILED,    /* a scale was given up (retries spent, permanent, no effect) */
    AS_EV_BELOW_MIN,       /* the decision's below_min */
    AS_EV_ABOVE_MAX,       /* the decision's above_max */
    AS_EV_TOO_RAPID,       /* the decision's too_rapid */
    AS_EV_SOURCE_FAILED,   /* a metric failed after it had worked (or at its first attempt) */
    AS_EV_RECOVERED,       /* a failing metric was measured again */
    AS_EV_FALLBACK,        /* the decision's fallback */
    AS_EV_PAUSED,          /* `paused` held a change */
    AS_EV_KINDS
};

#define AS_EV_METRICS_MAX 16 /* metrics an event carries (a group's first ones) */
#define AS_EV_NAME_MAX 64

struct as_ev_metric {
    char name[AS_EV_NAME_MAX];
    int ok;        /* 0: the measurement failed */
    double value;  /* when ok */
    double target; /* the metric's target, or its average_value (avg = 1); 0: none */
    int avg;
};

struct as_ev {
    enum as_ev_kind kind;
    char group[AS_EV_NAME_MAX];
    int64_t time_ms; /* wall clock, ms since the epoch */
    /* Counts, -1 where they mean nothing: from the current count, to the decision's (a scale's
     * result; for `paused` the count it would have been), wanted the count the policy called
     * for (decide.h), min and max the bounds in effect. */
    int from, to, wanted, min, max;
    char metric[AS_EV_NAME_MAX]; /* source_failed, recovered: which metric */
    char reason[AS_REASON_MAX];  /* the decision's reason, or what failed */
    size_t nmetrics;
    struct as_ev_metric metrics[AS_EV_METRICS_MAX];
    unsigned long repeats; /* events like it that were not delivered (the rate limit) */
};

/* "measurement", "scale", ...; NULL for an unknown kind. */
const char *as_ev_kind_name(enum as_ev_kind kind);

/* The kind of a name, or -1. */
int as_ev_kind_parse(const char *name);

/* A fresh event: every count -1, no metric, no reason. */
void as_ev_init(struct as_ev *ev, enum as_ev_kind kind, const char *group, int64_t time_ms);

/* Sets the reason (cut to fit) and masks every registered secret in the event's texts. */
void as_ev_reason(struct as_ev *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Masks every registered secret in the event's texts (as_log_mask). */
void as_ev_mask(struct as_ev *ev);

/* What a template sees: the event and the notifier rendering it. */
struct as_ev_view {
    const struct as_ev *ev;
    const char *notifier;
};

/* Template fields (util/tmpl.h): as_tmpl_known_fn and as_tmpl_value_fn over a struct
 * as_ev_view. The fields are listed in docs/events.md. */
int as_ev_field_known(const char *name, size_t len);
const char *as_ev_field(void *view, const char *name, size_t len, char *buf, size_t buflen);

/* A one-line sentence for the event ("web: scaled 3 -> 5"), into buf. Returns buf. */
const char *as_ev_summary(const struct as_ev *ev, char *buf, size_t len);

/* The event as a JSON object (the webhook's body, the exec notifier's stdin), with the
 * rendered text under text_key. Caller owns the result; NULL on ENOMEM. */
json_t *as_ev_json(const struct as_ev *view_ev, const char *notifier, const char *text,
                   const char *text_key);

/* Delivers a notifier's result from the loop on its next iteration (never re-entrantly), for
 * backends whose answer is known at once; as as_defer_scale (plugin.h). */
int as_defer_notify(struct as_loop *loop, struct as_timer **slot, as_notify_cb cb,
                    const struct as_notify_result *r, void *arg);

#endif
