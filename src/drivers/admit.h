/* Backpressure for the engine's rounds (docs/performance.md): at most `max` groups measure at
 * once. A group whose tick finds them all taken waits in one FIFO, in the order the groups
 * fell due, and starts as soon as a measurement ends; its further ticks while it waits (or
 * measures) are coalesced into that one round and counted, never queued. So an overloaded
 * daemon holds a bounded number of calls in flight, no call waits with its deadline running,
 * and every group's effective interval stretches by the same factor. A window of
 * AS_ADMIT_WINDOW_MS measures the rounds started per second against the configuration's; the
 * overload (a window in which a tick was coalesced because its group waited) is logged once
 * (WARN, with both rates) and its end once (INFO).
 * Internal to the drivers. */
#ifndef AS_ADMIT_H
#define AS_ADMIT_H

#include <stddef.h>
#include <stdint.h>

#include "drivers/timeline.h"

struct as_engine;
struct as_timer;
struct group_rt;

#define AS_ADMIT_MAX 1024       /* rounds measuring at once when the configuration says none */
#define AS_ADMIT_WINDOW_MS 5000 /* the rate is measured over this window */

struct as_admit {
    size_t measuring, max;
    struct group_rt *head, *tail; /* waiting, oldest first */
    size_t nwaiting;
    struct as_timer *pump, *window;
    int64_t window_start;
    /* in this window: rounds started, those of them after a wait, ticks coalesced */
    uint64_t started, delayed, coalesced;
    uint64_t delayed_total, coalesced_total; /* since start */
    double rate, configured;   /* rounds per second: the last window's, the configuration's */
    int overloaded;            /* the last window had ticks coalesced (logged when it changes) */
    struct as_round_hist wait; /* how long rounds waited for their start (0 when none) */
};

/* Sets the bound (the configuration's rounds_in_flight) and starts the window timer. Returns
 * 0, or -1 out of memory. */
int as_admit_init(struct as_engine *eng);

/* A reload's bound; a larger one lets waiting groups start at once. */
void as_admit_set_max(struct as_engine *eng, int max);

/* Cancels the timers (the engine is stopping or freed). */
void as_admit_fini(struct as_engine *eng);

/* A tick of an idle group: 1 when it may start its round now (a slot is taken for it), 0 when
 * it was put in the FIFO (the engine starts it later through as_engine_round_start). */
int as_admit_tick(struct group_rt *rt);

/* A tick that found the group busy: 1 when it waits or its round started late (the tick is
 * coalesced into that round, counted, and overload is the engine's to say), 0 when its round
 * is merely slow (the caller says so for the group). */
int as_admit_coalesced(struct group_rt *rt);

/* The group's measurement is over (or its round ended, or it stops): frees its slot and lets
 * the oldest waiting group start, from the loop. Idempotent. */
void as_admit_release(struct group_rt *rt);

/* Takes a stopping group out of the FIFO (and frees its slot). */
void as_admit_forget(struct group_rt *rt);

#endif
