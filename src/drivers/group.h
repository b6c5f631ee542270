/* A group at run time, shared by the engine (src/drivers/engine.c: groups' lifecycle,
 * reload, shutdown, persistence) and the round (src/drivers/round.c: measure -> count ->
 * decide -> intent -> scale -> verify). Internal to the drivers. */
#ifndef AS_GROUP_H
#define AS_GROUP_H

#include <stdint.h>

#include "core/decide.h"
#include "drivers/admit.h"
#include "drivers/engine.h"
#include "drivers/timeline.h"
#include "util/backoff.h"
#include "util/log.h"

struct as_writer;
struct as_notify;
struct as_timeline;

enum phase {
    IDLE,       /* between rounds */
    MEASURING,  /* sources and the count read in flight */
    PERSISTING, /* the intent to scale is being written durably */
    SCALING,    /* the scaler's set in flight */
    VERIFYING,  /* reading the count back after a set */
    RETRY_WAIT, /* a failed set waits for its retry */
    REREADING,  /* reading the count before a retry (the last attempt may have landed) */
    STOPPING,
    STOPPED,
};

struct group_rt;

/* One metric's measurement in this round. */
struct slot {
    struct group_rt *rt;
    int pending;
    struct as_timer *deadline;
    struct as_metric_obs obs;
    int replicas;                /* reported by the source, -1 if none */
    struct as_replica_obs *reps; /* the per-replica values of obs, owned, kept across rounds */
    size_t capreps;
    unsigned failing;   /* measurements failed in a row (the source's backoff) */
    int64_t next_ms;    /* loop time of the next attempt while backing off */
    int64_t last_ok_ms; /* wall clock of the last successful measurement; 0: none yet */
    struct as_metric_counters n;
};

struct group_rt {
    struct as_engine *eng;
    char *name; /* owned: outlives any one config */
    struct as_config *cfg;
    struct as_group_cfg *g;
    struct as_group_state st;
    struct as_group_counters n;
    enum phase phase;
    struct as_timer *tick, *retry_timer, *deadline;
    struct slot *slots;
    size_t pending;
    int get_pending, got_current;
    int scaler_current;
    char *get_error; /* why this round's read of the count failed; owned, NULL: none yet */
    int from, want, attempt;
    int64_t scale_started;
    struct as_backoff backoff;
    int rounds;                      /* rounds that reached a decision or a definite failure */
    int unconfirmed;                 /* this round held for an unconfirmed count */
    int confirm_tries;               /* --once: rounds read again at once for a confirmation */
    int64_t saved_ms;                /* decision clock of the last state write; -1: never */
    uint64_t ticket;                 /* the writer's ticket of a write whose callback we wait for */
    struct as_fault_log count_fault; /* the count could not be trusted (logged on change) */
    struct as_fault_log scale_fault; /* sets without effect (logged on change) */
    struct as_config *next_cfg;      /* switch when the scale call ends */
    int remove_after;
    struct as_timeline *tl;   /* recent rounds and decisions for the status API; NULL: none */
    int64_t round_started_ms; /* loop time the current round began */
    double last_round_s;      /* how long the last finished round took */
    uint32_t by_class[AS_OUTCOMES][AS_RC_CLASSES]; /* decisions (timeline.h): 136 years at 1/s */
    int admitted, waiting;      /* holds a measuring slot; waits for one (drivers/admit.h) */
    int late;                   /* the round started after a wait for a slot */
    int woken;                  /* the round was started by a source's report (on_wake) */
    int wake_pending;           /* a report asked for a round not started yet */
    int wake_confirms;          /* woken rounds in a row held for an unconfirmed count */
    struct as_timer *wake_timer; /* starts it (engine.c's on_wake_timer) */
    uint32_t said;              /* what the last decision said, for its log line; 0: none yet */
    struct group_rt *wait_next; /* in the engine's FIFO of waiting groups */
    int64_t due_ms;             /* loop time of the tick its round is for */
    struct group_rt *next;
};

struct as_engine {
    struct as_loop *loop;
    struct as_http *http;
    struct as_notify *notify; /* the notifiers (drivers/notify.h); NULL: none */
    struct as_writer *writer;
    struct as_config *cfg;
    struct as_engine_opts opts;
    struct group_rt *groups;
    int64_t clock_base;          /* decision clock = clock_base + the loop's monotonic now */
    uint64_t state_write_errors; /* every failed state write, whoever's */
    char write_error[256];       /* the cause of the last one (logged again on change) */
    int stopping;
    int walking;     /* inside a walk of the group list: defer freeing groups */
    size_t nstopped; /* groups STOPPED and not yet freed */
    size_t retiring; /* scalers whose stop is still running */
    as_engine_cb rounds_cb, stop_cb;
    void *rounds_arg, *stop_arg;
    struct as_round_hist round_hist; /* every group's round durations (drivers/timeline.h) */
    int64_t started_wall_ms;         /* when the engine was made */
    struct as_admit admit;           /* backpressure: rounds measuring at once (admit.h) */
    struct as_round_hist tick_lateness; /* how late ticks ran after they were due (the loop's) */
    uint64_t groups_freed; /* since start: status.h's lists of groups hold while it stays */
};

/* The decision clock now: the wall clock at start carried on by the monotonic clock. */
int64_t as_engine_now(const struct as_engine *eng);

/* Starts the round of a group admitted by drivers/admit.c (a reload that waited is applied
 * first). The caller holds eng->walking and calls as_engine_reap after. */
void as_engine_round_start(struct group_rt *rt);

/* Frees the groups that stopped (unless the engine is walking its list) and reports the end
 * of a shutdown. */
void as_engine_reap(struct as_engine *eng);

/* Starts a round (measure); the round ends by itself in round_end. */
void as_round_begin(struct group_rt *rt);

/* Cancels whatever the round has in flight (shutdown, reload): no callback runs after. */
void as_round_cancel(struct group_rt *rt);

/* Called by the round when it is over (the engine applies a pending reload or stops the
 * group). */
void as_engine_round_end(struct group_rt *rt);

/* Writes the group's state: durably (and at once) when durable, else at most every
 * AS_STATE_SAVE_MS. done (may be NULL) runs when a durable write has finished, with ok 0 when
 * it failed; without a state_dir it runs at once with ok 1. */
void as_engine_save(struct group_rt *rt, int durable, void (*done)(struct group_rt *, int ok));

#endif
