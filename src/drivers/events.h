/* The events of a group's round (docs/events.md), built from what the round knows and handed
 * to the engine's dispatcher (drivers/notify.h). Internal to the drivers. */
#ifndef AS_DRIVER_EVENTS_H
#define AS_DRIVER_EVENTS_H

#include <stddef.h>

#include "core/event.h"
#include "drivers/group.h"

/* One event of the group (from, to: -1 when they mean nothing), with the round's metrics;
 * reason may be NULL. */
void as_round_event(struct group_rt *rt, enum as_ev_kind kind, int from, int to,
                    const char *reason);

/* The events of a decision from `current`: measurement, and above_max, below_min, too_rapid,
 * fallback, paused as its flags say. */
void as_round_decision_events(struct group_rt *rt, int current, const struct as_decision *d);

/* source_failed when metric i failed after it had worked (or at its first attempt), recovered
 * when it worked after failing; call with the outcome before the slot's failure count moves. */
void as_round_metric_event(struct group_rt *rt, size_t i, int ok, const char *error);

#endif
