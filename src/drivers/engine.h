/* The engine: every group's measure -> decide -> scale -> notify round on the event loop.
 * A group never waits for another; each has its own timer, and all I/O is asynchronous. */
#ifndef AS_ENGINE_H
#define AS_ENGINE_H

#include <stdint.h>

#include "config/config.h"

struct as_loop;
struct as_http;
struct as_engine;

struct as_engine_opts {
    int dry_run;           /* decide and log, never call a scaler's set */
    int once;              /* one round per group, then call the idle callback */
    int64_t stop_after_ms; /* the daemon stops by itself after this long; 0: never */
};

typedef void (*as_engine_cb)(void *arg);

/* One metric of a group, since its configuration was last applied. */
struct as_metric_counters {
    uint64_t measurements; /* attempts made */
    uint64_t failures;     /* attempts that failed (deadline included) */
    uint64_t skipped;      /* rounds without an attempt: the source is backing off */
    uint64_t deadline_exceeded;
};

/* What happened to a group since start: every fault is counted here (and logged on change). */
struct as_group_counters {
    uint64_t rounds;             /* rounds started */
    uint64_t rounds_skipped;     /* ticks that found the previous round still running */
    uint64_t decisions;          /* rounds that reached a decision */
    uint64_t scales;             /* scales known to have landed */
    uint64_t scale_ups;          /* ... of them, up */
    uint64_t scale_downs;        /* ... and down */
    uint64_t measure_failures;   /* failed measurements (any metric) */
    uint64_t count_failures;     /* the current count could not be read */
    uint64_t count_implausible;  /* a count above count_max */
    uint64_t count_unconfirmed;  /* a changed count held for confirmation */
    uint64_t scale_failures;     /* failed scale calls (each attempt) */
    uint64_t scale_ineffective;  /* sets that answered OK and changed nothing */
    uint64_t deadline_exceeded;  /* calls the engine cancelled at their deadline */
    uint64_t state_write_errors; /* durable state writes of this group (scale intents) that
                                    failed; every failed write: the engine's own counters line */
};

/* Creates an engine for cfg (takes a reference). NULL on ENOMEM. */
struct as_engine *as_engine_new(struct as_loop *loop, struct as_http *http, struct as_config *cfg,
                                const struct as_engine_opts *opts);

/* Starts every group's backends and timers. On failure (a backend cannot start) returns -1
 * with err; groups already started keep running until shutdown. */
int as_engine_start(struct as_engine *eng, struct as_err *err);

/* Replaces the configuration (takes a reference to cfg). Groups keep their state; a scaler
 * whose options did not change keeps running (a process pool keeps its workers); a group in
 * the middle of a scale call switches when the call ends. Returns 0 or -1 with err. */
int as_engine_reload(struct as_engine *eng, struct as_config *cfg, struct as_err *err);

/* With opts.once: done runs when every group has finished one round. */
void as_engine_on_rounds_done(struct as_engine *eng, as_engine_cb done, void *arg);

/* Stops cleanly: no new rounds; measurements are cancelled; a scale call in flight is let
 * finish (and logged) but not retried; then every backend is stopped (process pools are
 * terminated and reaped). done runs once everything has stopped. */
void as_engine_shutdown(struct as_engine *eng, as_engine_cb done, void *arg);

/* Backpressure (drivers/admit.h): rounds measuring now and their bound, groups waiting for a
 * slot, whether the last window was overloaded, rounds started per second in it against the
 * configuration's, rounds that waited and ticks coalesced since start, and the histogram of
 * the waits (borrowed, valid while the engine lives). */
struct as_round_hist;
struct as_engine_load {
    size_t measuring, max, waiting;
    int overloaded;
    double rate, configured;
    uint64_t delayed, coalesced;
    const struct as_round_hist *wait;
    const struct as_round_hist *lateness; /* how late groups' ticks ran after they were due */
    uint64_t host_waits; /* HTTP calls that waited for their host's bound (calls_per_host) */
    uint64_t plain_calls, curl_calls; /* HTTP calls started, by client (plain_http) */
};
void as_engine_load(const struct as_engine *eng, struct as_engine_load *out);

/* Logs every group's counters, one line per group (SIGUSR1). */
void as_engine_log_counters(const struct as_engine *eng);

/* Frees an engine that has shut down (or never started). */
void as_engine_free(struct as_engine *eng);

#endif
