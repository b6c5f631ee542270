/* A group's decision state as JSON, so a restart neither forgets a cooldown, a window or a
 * scale in flight nor scales down on an empty history. Pure: the files themselves are
 * written and read by the drivers (src/drivers/persist.c).
 *
 * Time: every stamp is on the decision clock (struct as_obs.now_ms). The JSON also carries
 * when it was saved, on the decision clock and on the wall clock; a restore shifts every
 * stamp so that the time the state spent on disk is the wall clock's (never negative: a
 * wall clock that stepped back counts as no time at all), then clamps any stamp still after
 * now to now. Every restored number is range-checked: a file that holds anything out of range
 * is rejected whole, and the group starts fresh. */
#ifndef AS_STATE_H
#define AS_STATE_H

#include "core/decide.h"

#define AS_STATE_VERSION 2

/* What a restore needs to know of now, and what it did. */
struct as_restore {
    int64_t now_ms;    /* in: the decision clock now */
    int64_t wall_ms;   /* in: the wall clock now */
    int64_t shift_ms;  /* out: added to every stamp */
    int64_t future_ms; /* out: how far after the wall clock now the state was saved (> 0: the
                          wall clock stepped back), else 0 */
    size_t clamped;    /* out: stamps still after now_ms after the shift, set to now_ms */
};

/* The JSON form of st at now (decision clock) and wall (wall clock). Caller owns the result
 * (json_decref); NULL on ENOMEM. */
json_t *as_state_to_json(const struct as_group_cfg *g, const struct as_group_state *st,
                         int64_t now_ms, int64_t wall_ms);

/* Fills a fresh (zeroed) st from its JSON form, moved in time as described above. Returns 0,
 * or -1 with err when the document is malformed, out of range or another group's or
 * version's (st is left fresh, so the caller can go on). The policy's own state is kept only
 * if the same policy wrote it and it reads back; otherwise it starts fresh. */
int as_state_from_json(const struct as_group_cfg *g, const json_t *doc, struct as_group_state *st,
                       struct as_restore *r, struct as_err *err);

#endif
