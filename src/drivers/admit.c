#include "drivers/admit.h"

#include <stdlib.h>

#include "drivers/group.h"
#include "util/log.h"
#include "util/loop.h"

static int64_t on_pump(struct as_loop *loop, void *arg);

/* The configuration's rounds per second: every live group once per interval. */
static double configured_rate(const struct as_engine *eng)
{
    double r = 0;
    for (const struct group_rt *rt = eng->groups; rt; rt = rt->next)
        if (rt->phase != STOPPING && rt->phase != STOPPED && rt->g->interval_ms > 0)
            r += 1000.0 / (double)rt->g->interval_ms;
    return r;
}

static void window_end(struct as_engine *eng, struct as_admit *a, int64_t now)
{
    double secs = (double)(now - a->window_start) / 1000.0;
    a->rate = secs > 0 ? (double)a->started / secs : 0;
    a->configured = configured_rate(eng);
    int busy = a->coalesced > 0; /* a group lost a tick to its wait */
    if (busy && !a->overloaded)
        AS_LOG(AS_WARN,
               "engine: overloaded: rounds start at %.1f/s of the %.1f/s configured; %zu "
               "groups wait their turn (at most %zu measure at once), every group's interval "
               "stretches alike and late ticks are coalesced",
               a->rate, a->configured, a->nwaiting, a->max);
    else if (!busy && a->overloaded)
        AS_LOG(AS_INFO,
               "engine: overload over: rounds start at %.1f/s of the %.1f/s configured "
               "(%llu rounds waited, %llu ticks coalesced since start)",
               a->rate, a->configured, (unsigned long long)a->delayed_total,
               (unsigned long long)a->coalesced_total);
    a->overloaded = busy;
    a->started = a->delayed = a->coalesced = 0;
    a->window_start = now;
}

static int64_t on_window(struct as_loop *loop, void *arg)
{
    struct as_engine *eng = arg;
    window_end(eng, &eng->admit, as_loop_now(loop));
    return AS_ADMIT_WINDOW_MS;
}

int as_admit_init(struct as_engine *eng)
{
    struct as_admit *a = &eng->admit;
    a->max = eng->cfg->rounds_in_flight > 0 ? (size_t)eng->cfg->rounds_in_flight : AS_ADMIT_MAX;
    a->window_start = as_loop_now(eng->loop);
    a->window = as_loop_add_timer(eng->loop, AS_ADMIT_WINDOW_MS, on_window, eng);
    return a->window == NULL ? -1 : 0;
}

void as_admit_fini(struct as_engine *eng)
{
    struct as_admit *a = &eng->admit;
    as_loop_cancel_timer(eng->loop, a->window);
    as_loop_cancel_timer(eng->loop, a->pump);
    a->window = a->pump = NULL;
}

static void take(struct as_admit *a, struct group_rt *rt)
{
    rt->admitted = 1;
    a->measuring++;
    a->started++;
}

int as_admit_tick(struct group_rt *rt)
{
    struct as_admit *a = &rt->eng->admit;
    rt->due_ms = as_loop_now(rt->eng->loop);
    rt->late = 0;
    if (a->measuring < a->max && a->head == NULL) {
        take(a, rt);
        as_round_hist_add(&a->wait, 0);
        return 1;
    }
    rt->waiting = 1;
    rt->wait_next = NULL;
    if (a->tail != NULL)
        a->tail->wait_next = rt;
    else
        a->head = rt;
    a->tail = rt;
    a->nwaiting++;
    return 0;
}

int as_admit_coalesced(struct group_rt *rt)
{
    struct as_admit *a = &rt->eng->admit;
    if (!rt->waiting && !rt->late)
        return 0;
    a->coalesced++;
    a->coalesced_total++;
    return 1;
}

/* Starts the oldest waiting group while a slot is free, from the loop (never from inside the
 * callback that ended another group's measurement). */
static void pump_soon(struct as_engine *eng)
{
    struct as_admit *a = &eng->admit;
    if (a->pump == NULL && a->head != NULL && a->measuring < a->max && !eng->stopping)
        a->pump = as_loop_add_timer(eng->loop, 0, on_pump, eng);
}

void as_admit_set_max(struct as_engine *eng, int max)
{
    eng->admit.max = max > 0 ? (size_t)max : AS_ADMIT_MAX;
    pump_soon(eng); /* a larger bound starts waiting groups at once */
}

void as_admit_release(struct group_rt *rt)
{
    if (!rt->admitted)
        return;
    rt->admitted = 0;
    rt->eng->admit.measuring--;
    pump_soon(rt->eng);
}

void as_admit_forget(struct group_rt *rt)
{
    struct as_admit *a = &rt->eng->admit;
    if (rt->waiting) {
        struct group_rt **pp = &a->head, *prev = NULL;
        while (*pp != NULL && *pp != rt) {
            prev = *pp;
            pp = &prev->wait_next;
        }
        if (*pp == rt) {
            *pp = rt->wait_next;
            if (a->tail == rt)
                a->tail = prev;
            a->nwaiting--;
        }
        rt->waiting = 0;
        rt->wait_next = NULL;
    }
    as_admit_release(rt);
}

static int64_t on_pump(struct as_loop *loop, void *arg)
{
    struct as_engine *eng = arg;
    struct as_admit *a = &eng->admit;
    int64_t now = as_loop_now(loop);
    a->pump = NULL;
    eng->walking++; /* a round can end (and its group stop) within as_engine_round_start */
    while (a->head != NULL && a->measuring < a->max && !eng->stopping) {
        struct group_rt *rt = a->head;
        a->head = rt->wait_next;
        if (a->head == NULL)
            a->tail = NULL;
        a->nwaiting--;
        rt->waiting = 0;
        rt->wait_next = NULL;
        take(a, rt);
        rt->late = 1;
        a->delayed++;
        a->delayed_total++;
        as_round_hist_add(&a->wait, (double)(now - rt->due_ms) / 1000.0);
        as_engine_round_start(rt);
    }
    eng->walking--;
    as_engine_reap(eng);
    return AS_TIMER_STOP;
}
