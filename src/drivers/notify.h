/* The dispatcher: hands each event (core/event.h) to the notifiers that take it, and delivers
 * it without ever holding up the loop or a group (docs/events.md, "Delivery").
 *
 *   - Each notifier has a bounded queue of its own (`queue`; when full, the oldest waiting
 *     event is dropped, counted and logged) and one delivery in flight at a time, with a
 *     deadline the dispatcher enforces (`timeout` + 100 ms: the backend is cancelled), so a
 *     notifier that hangs costs only its own deadline, and never another notifier or a group.
 *   - A failed delivery is retried `retries` times with exponential backoff and jitter
 *     (util/backoff.h), logged when the failure starts or changes; a permanent failure is
 *     given up at once.
 *   - Repeated events are rate-limited per notifier: an event like one delivered less than
 *     `repeat_interval` ago (same group, kind, from, to and metric) is held back and counted;
 *     when the interval ends, the last one held back is delivered with its count ("(and 12
 *     more like it)").
 *   - A reload keeps a notifier whose keys did not change (its queue, its rate limits and the
 *     delivery in flight); one that changed or went away retires: it takes no new event and
 *     delivers what waits within its flush bound, then stops.
 *   - Shutdown: every notifier delivers what waits (held-back events included) without
 *     retries, within its `timeout` and at most AS_NOTIFY_FLUSH_MAX_MS; the rest is dropped and
 *     logged. */
#ifndef AS_NOTIFY_H
#define AS_NOTIFY_H

#include <stdint.h>

#include "config/config.h"
#include "core/event.h"

#define AS_NOTIFY_SLACK_MS 100      /* beyond a notifier's timeout before it is cancelled */
#define AS_NOTIFY_FLUSH_MAX_MS 5000 /* the longest a shutdown waits for a notifier */
#define AS_NOTIFY_RATE_KEYS 64      /* kinds of events a notifier keeps rate limits for */

struct as_loop;
struct as_http;
struct as_notify;

struct as_notify_counters {
    uint64_t events;    /* events this notifier took (its kinds and groups) */
    uint64_t delivered; /* deliveries that succeeded */
    uint64_t failed;    /* attempts that failed (deadline included) */
    uint64_t retried;   /* retries scheduled */
    uint64_t gave_up;   /* events given up after their last attempt */
    uint64_t dropped;   /* events dropped: queue full, not started, shutdown bound */
    uint64_t held;      /* events held back by the rate limit */
    uint64_t summaries; /* held-back events delivered with their count */
};

/* A dispatcher with no notifier; NULL on ENOMEM. http may be NULL (no webhook, no email).
 * With dry_run (`run --dry-run`), no notifier is started and nothing is delivered: each event
 * a notifier would deliver is logged with its text instead. */
struct as_notify *as_notify_new(struct as_loop *loop, struct as_http *http, int dry_run);

/* Runs cfg's notifiers (takes references to cfg as needed): see the reload rule above. A
 * notifier that cannot start is logged and off (its events are dropped and counted). */
void as_notify_apply(struct as_notify *n, struct as_config *cfg);

/* Queues ev (copied) for every notifier that takes it. Never blocks, never fails: an event
 * that cannot be queued is dropped and counted. */
void as_notify_emit(struct as_notify *n, const struct as_ev *ev);

/* The kinds (bit 1 << enum as_ev_kind) some live notifier takes: an event of another kind
 * need not even be made. */
unsigned as_notify_kinds(const struct as_notify *n);

/* Stops every notifier as described above; done runs (from the loop) once all have stopped.
 * Events emitted meanwhile are still queued until each notifier's bound. */
void as_notify_shutdown(struct as_notify *n, void (*done)(void *), void *arg);

/* One line of counters per notifier (SIGUSR1). */
void as_notify_log_counters(const struct as_notify *n);

/* The counters and the backend state of the live notifier of that name (tests); -1 / NULL
 * when there is none. */
int as_notify_counters(const struct as_notify *n, const char *name, struct as_notify_counters *c);
void *as_notify_state(const struct as_notify *n, const char *name);

/* Frees a dispatcher that has shut down (or never ran a notifier). */
void as_notify_free(struct as_notify *n);

#endif
