/* Policy `panic`: the Knative Pod Autoscaler (KPA) decision, exactly as `autoscaler.Scale` in
 * knative/serving pkg/autoscaler/scaling/autoscaler.go computes it:
 *   ready   = max(1, current)                     (current itself is kept for the EBC)
 *   maxUp   = ceil(max_scale_up_rate * ready);  maxDown = reachable ? floor(ready / rate) : 0
 *   dspc    = ceil(stable / target);            dppc    = ceil(panic / target)
 *   stable', panic' = dspc, dppc clamped to [maxDown, maxUp] (then raised to activation_scale)
 *   over    = dppc / ready >= panic_threshold   (dppc before clamping)
 *   over: enter or extend panic (panic time = now); not over and panic time + stable_window
 *   < now: leave panic (max panic pods = 0)
 *   desired = stable'; in panic: max panic pods = max(it, stable', panic'), desired = it
 *   scale_down_delay > 0: desired = max of the desired values of the last delay (2 s buckets),
 *     only while reachable (knative/serving#15831); the window records either way
 * The stable and panic values are either two of the group's metrics (stable_metric,
 * panic_metric) or averages the policy keeps of one metric (metric) over stable_window and
 * panic_window. A first round with more than one replica starts in panic with max panic pods =
 * current, as Knative's newAutoscaler does. In panic out->no_scale_down is set as well. */
#include "policies/panic.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/opt.h"

#define BUCKET_MS 2000 /* Knative's tickInterval: the delay window's and our history's buckets */
#define DELAY_MAX 96   /* delay-window entries (descending maxima); exact up to 96 distinct */
#define HIST_MAX 240   /* history buckets: 2 s wide up to an 8-minute stable window */
#define COUNT_MAX 1e9  /* replica counts are clamped here before they become ints */

struct panic_cfg {
    char *metric, *stable_metric, *panic_metric;
    double target, tbc, utilization, threshold, max_up, max_down, window_pct;
    int64_t stable_ms, panic_ms, delay_ms;
    int activation, reachable;
    /* Resolved by validate, not options. */
    int mi, si, pi;       /* metric indices, -1 when unused */
    int64_t panic_eff_ms; /* panic_window, or its percentage of stable_window */
    int64_t width_ms;     /* history bucket width */
};

struct panic_state {
    int init; /* 0: first round ever (or state lost): start as newAutoscaler */
    int in_panic;
    int max_panic_pods; /* Knative's maxPanicPods */
    int ndelay;
    int64_t panic_since_ms;       /* Knative's panicTime: last round over the threshold */
    int64_t delay_idx[DELAY_MAX]; /* bucket indexes, ascending */
    int32_t delay_val[DELAY_MAX]; /* their maxima, strictly descending */
    int hist_any;
    int64_t hist_last;     /* newest history bucket index */
    int64_t hist_width_ms; /* width the ring was filled with */
    double hist_sum[HIST_MAX];
    uint16_t hist_cnt[HIST_MAX];
};

_Static_assert(sizeof(struct panic_state) <= AS_POLICY_STATE_MAX,
               "the panic policy's state must fit the group's policy state area");

double as_panic_ebc(double tbc, double total_value, int ready, double panic_value)
{
    if (tbc == 0)
        return 0;
    if (tbc < 0)
        return -1;
    return floor((double)ready * total_value - tbc - panic_value);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t ring_pos(int64_t idx)
{
    int64_t p = idx % HIST_MAX;
    return p < 0 ? p + HIST_MAX : p;
}

static int to_count(double v)
{
    return v > COUNT_MAX ? (int)COUNT_MAX : v < 0 ? 0 : (int)v;
}

/* ---- history (own averages, `metric:`) ---- */

static void hist_clear(struct panic_state *s)
{
    memset(s->hist_sum, 0, sizeof(s->hist_sum));
    memset(s->hist_cnt, 0, sizeof(s->hist_cnt));
    s->hist_any = 0;
}

static void hist_record(struct panic_state *s, int64_t width, int64_t now_ms, double v)
{
    int64_t idx = floor_div(now_ms, width);
    if (s->hist_width_ms != width) { /* a reload changed the window: the old buckets mislead */
        hist_clear(s);
        s->hist_width_ms = width;
    }
    if (!s->hist_any) {
        s->hist_any = 1;
        s->hist_last = idx;
    } else if (idx > s->hist_last) {
        int64_t n = idx - s->hist_last < HIST_MAX ? idx - s->hist_last : HIST_MAX;
        for (int64_t k = 1; k <= n; k++) { /* buckets that scrolled out become the new ones */
            s->hist_sum[ring_pos(s->hist_last + k)] = 0;
            s->hist_cnt[ring_pos(s->hist_last + k)] = 0;
        }
        s->hist_last = idx;
    } else if (s->hist_last - idx >= HIST_MAX) {
        return; /* the clock went back further than the ring reaches */
    }
    int64_t p = ring_pos(idx);
    if (s->hist_cnt[p] < UINT16_MAX) {
        s->hist_sum[p] += v;
        s->hist_cnt[p]++;
    }
}

/* Mean of the samples in the buckets (now - window, now]. Returns -1 when there are none. */
static int hist_average(const struct panic_state *s, int64_t width, int64_t now_ms,
                        int64_t window_ms, double *avg)
{
    int64_t cur = floor_div(now_ms, width), nb = (window_ms + width - 1) / width;
    double sum = 0;
    long cnt = 0;
    for (int64_t k = 0; k < nb && k < HIST_MAX; k++) {
        int64_t i = cur - k;
        if (!s->hist_any || i > s->hist_last || s->hist_last - i >= HIST_MAX)
            continue;
        sum += s->hist_sum[ring_pos(i)];
        cnt += s->hist_cnt[ring_pos(i)];
    }
    if (cnt == 0)
        return -1;
    *avg = sum / (double)cnt;
    return 0;
}

/* ---- scale-down delay (Knative's max.TimeWindow: descending maxima over 2 s buckets) ---- */

/* Frees one slot without ever lowering the window's maximum: the two neighbours closest in
 * value merge into one entry with the larger value and the later bucket (conservative). */
static void delay_squeeze(struct panic_state *s)
{
    int best = 0;
    for (int i = 1; i + 1 < s->ndelay; i++)
        if (s->delay_val[i] - s->delay_val[i + 1] < s->delay_val[best] - s->delay_val[best + 1])
            best = i;
    s->delay_idx[best] = s->delay_idx[best + 1];
    memmove(&s->delay_idx[best + 1], &s->delay_idx[best + 2],
            (size_t)(s->ndelay - best - 2) * sizeof(s->delay_idx[0]));
    memmove(&s->delay_val[best + 1], &s->delay_val[best + 2],
            (size_t)(s->ndelay - best - 2) * sizeof(s->delay_val[0]));
    s->ndelay--;
}

/* Records v at now and returns the largest value recorded in the last delay_ms. */
static int delay_record(struct panic_state *s, int64_t now_ms, int64_t delay_ms, int v)
{
    int64_t idx = floor_div(now_ms, 1000) / (BUCKET_MS / 1000), nb = (delay_ms + 1999) / 2000;
    while (s->ndelay > 0 && v >= s->delay_val[s->ndelay - 1]) /* can never be the max again */
        s->ndelay--;
    int drop = 0;
    while (drop < s->ndelay && idx - s->delay_idx[drop] >= nb)
        drop++;
    s->ndelay -= drop;
    memmove(s->delay_idx, s->delay_idx + drop, (size_t)s->ndelay * sizeof(s->delay_idx[0]));
    memmove(s->delay_val, s->delay_val + drop, (size_t)s->ndelay * sizeof(s->delay_val[0]));
    if (s->ndelay > 0 && s->delay_idx[s->ndelay - 1] == idx) { /* same bucket: keep the larger */
        if (s->delay_val[s->ndelay - 1] > v)
            v = s->delay_val[s->ndelay - 1];
        s->ndelay--;
    }
    if (s->ndelay == DELAY_MAX)
        delay_squeeze(s);
    s->delay_idx[s->ndelay] = idx;
    s->delay_val[s->ndelay++] = v;
    return s->delay_val[0];
}

/* ---- the decision ---- */

struct step {
    double ready, max_up, max_down, dspc, dppc, stable, panic;
    int sdes, pdes;
};

static void say(struct as_rec *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends to the reason; truncation is acceptable for a human-readable reason. */
static void say(struct as_rec *out, const char *fmt, ...)
{
    size_t len = strlen(out->reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason + len, sizeof(out->reason) - len, fmt, ap);
    va_end(ap);
}

static int fail(const struct as_group_cfg *g, int i, struct as_rec *out)
{
    snprintf(out->reason, sizeof(out->reason), "panic: metric %s failed: no decision",
             g->metrics[i].name);
    return -1;
}

/* The stable and panic values of this round. Returns -1 (out says why) when one is unknown. */
static int values(const struct panic_cfg *c, const struct as_group_cfg *g, const struct as_obs *obs,
                  struct panic_state *s, struct step *st, struct as_rec *out)
{
    if (c->mi < 0) {
        if ((size_t)c->si >= obs->n || !obs->m[c->si].ok)
            return fail(g, c->si, out);
        if ((size_t)c->pi >= obs->n || !obs->m[c->pi].ok)
            return fail(g, c->pi, out);
        st->stable = obs->m[c->si].value;
        st->panic = obs->m[c->pi].value;
        return 0;
    }
    /* A failed round records nothing: the windows average the samples that were measured. */
    if ((size_t)c->mi >= obs->n || !obs->m[c->mi].ok)
        return fail(g, c->mi, out);
    hist_record(s, c->width_ms, obs->now_ms, obs->m[c->mi].value);
    if (hist_average(s, c->width_ms, obs->now_ms, c->stable_ms, &st->stable) < 0 ||
        hist_average(s, c->width_ms, obs->now_ms, c->panic_eff_ms, &st->panic) < 0) {
        snprintf(out->reason, sizeof(out->reason),
                 "panic: no sample of %s in the windows "
                 "(the clock went back?): no decision",
                 g->metrics[c->mi].name);
        return -1;
    }
    return 0;
}

static void limits(const struct panic_cfg *c, int current, struct step *st)
{
    st->ready = current > 1 ? current : 1;
    st->max_up = ceil(c->max_up * st->ready);
    st->max_down = c->reachable ? floor(st->ready / c->max_down) : 0;
    st->dspc = ceil(st->stable / c->target);
    st->dppc = ceil(st->panic / c->target);
    st->sdes = to_count(fmin(fmax(st->dspc, st->max_down), st->max_up));
    st->pdes = to_count(fmin(fmax(st->dppc, st->max_down), st->max_up));
    if (c->activation > 1) { /* a revision that is used at all gets at least activation_scale */
        if (st->dspc > 0 && st->sdes < c->activation)
            st->sdes = c->activation;
        if (st->dppc > 0 && st->pdes < c->activation)
            st->pdes = c->activation;
    }
}

/* Enters, extends or leaves panic; returns the desired count before the delay window. */
static int panic_mode(const struct panic_cfg *c, const struct as_obs *obs, struct panic_state *s,
                      const struct step *st, struct as_rec *out)
{
    int over = st->dppc / st->ready >= c->threshold;
    double ago = (double)(obs->now_ms - s->panic_since_ms) / 1000.0;
    say(out, ": the panic window wants %gx the ready %s threshold %g: ", st->dppc / st->ready,
        over ? ">=" : "<", c->threshold);
    if (over) {
        say(out, s->in_panic ? "panic extended" : "panic entered");
        s->in_panic = 1;
        s->panic_since_ms = obs->now_ms;
    } else if (s->in_panic && s->panic_since_ms + c->stable_ms < obs->now_ms) {
        /* The surge has made its way into the stable window. */
        say(out, "panic left (last over the threshold %g s ago)", ago);
        s->in_panic = 0;
        s->max_panic_pods = 0;
    } else if (s->in_panic) {
        say(out, "in panic (last over the threshold %g s ago)", ago);
    } else {
        say(out, "stable mode");
    }
    if (!s->in_panic) {
        say(out, ": desired %d", st->sdes);
        return st->sdes;
    }
    /* The stable window can see more than the panic one: provision for the larger. */
    int want = st->sdes > st->pdes ? st->sdes : st->pdes;
    say(out, ": desired max(stable %d, panic %d)=%d", st->sdes, st->pdes, want);
    if (want > s->max_panic_pods)
        s->max_panic_pods = want;
    else if (want < s->max_panic_pods)
        say(out, ", held at %d: no scale-down in panic", s->max_panic_pods);
    out->no_scale_down = 1;
    return s->max_panic_pods;
}

static void decide(const struct panic_cfg *c, const struct as_obs *obs, struct panic_state *s,
                   struct step *st, struct as_rec *out)
{
    limits(c, obs->current, st);
    snprintf(out->reason, sizeof(out->reason),
             "stable window ceil(%g/%g)=%g, panic window ceil(%g/%g)=%g, within [%g,%g], %d ready",
             st->stable, c->target, st->dspc, st->panic, c->target, st->dppc, st->max_down,
             st->max_up, obs->current);
    int desired = panic_mode(c, obs, s, st, out);
    if (c->delay_ms > 0) {
        /* Recorded always; applied only while reachable (knative/serving#15831): a revision
         * that takes no traffic need not be kept for the delay. */
        int delayed = delay_record(s, obs->now_ms, c->delay_ms, desired);
        char d[32];
        if (delayed != desired && c->reachable) {
            say(out, "; held at %d by the %s scale-down delay", delayed,
                as_duration_words(c->delay_ms, d, sizeof(d)));
            desired = delayed;
        } else if (delayed != desired) {
            say(out, "; not held at %d by the %s scale-down delay: not reachable", delayed,
                as_duration_words(c->delay_ms, d, sizeof(d)));
        }
    }
    double ebc = as_panic_ebc(c->tbc, c->target / c->utilization, obs->current, st->panic);
    say(out, "; excess burst capacity %g", ebc);
    out->desired = desired;
    out->valid = 1;
}

/* Knative's newAutoscaler: a restart with more than one replica starts in panic, keeping at
 * least the current scale until the windows hold enough data to decide. */
static void start(struct panic_state *s, const struct as_obs *obs)
{
    s->init = 1;
    s->max_panic_pods = obs->current;
    if (obs->current > 1) {
        s->in_panic = 1;
        s->panic_since_ms = obs->now_ms;
    }
}

static void recommend(const void *cfg, const struct as_group_cfg *g, const struct as_obs *obs,
                      void *state, struct as_rec *out)
{
    const struct panic_cfg *c = cfg;
    struct panic_state s; /* copied: the state area need not be aligned for int64_t */
    struct step st = {0};
    memcpy(&s, state, sizeof(s));
    out->desired = obs->current;
    out->valid = 0;
    out->no_scale_down = 0;
    out->reason[0] = '\0';
    int fresh = !s.init;
    if (fresh)
        start(&s, obs);
    if (values(c, g, obs, &s, &st, out) == 0) {
        decide(c, obs, &s, &st, out);
        if (fresh && obs->current > 1)
            say(out, " (first round with %d replicas: started in panic)", obs->current);
    } else if (s.in_panic) {
        out->no_scale_down = 1;
    }
    memcpy(state, &s, sizeof(s));
}

/* ---- configuration ---- */

static int fail_at(const struct as_group_cfg *g, struct as_node *map, const char *key,
                   struct as_err *err, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* An error at key's value (or the policy mapping), prefixed like the config's own errors. */
static int fail_at(const struct as_group_cfg *g, struct as_node *map, const char *key,
                   struct as_err *err, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return as_err_key(err, map, key, "group '%s' policy: %s", g->name, msg);
}

static int metric_index(const struct as_group_cfg *g, struct as_node *map, const char *key,
                        const char *name, int *idx, struct as_err *err)
{
    long i = as_group_metric_index(g, name);
    if (i >= 0) {
        *idx = (int)i;
        return 0;
    }
    return fail_at(g, map, key, err, "'%s': the group has no metric named '%s'", key, name);
}

static int resolve_metrics(struct panic_cfg *c, const struct as_group_cfg *g, struct as_node *map,
                           struct as_err *err)
{
    c->mi = c->si = c->pi = -1;
    if (c->metric != NULL && (c->stable_metric != NULL || c->panic_metric != NULL))
        return fail_at(g, map, c->stable_metric ? "stable_metric" : "panic_metric", err,
                       "set either 'metric' or 'stable_metric' and 'panic_metric', not both");
    if ((c->stable_metric == NULL) != (c->panic_metric == NULL))
        return fail_at(g, map, c->stable_metric ? "stable_metric" : "panic_metric", err,
                       "'stable_metric' and 'panic_metric' go together");
    if (c->stable_metric != NULL) {
        if (metric_index(g, map, "stable_metric", c->stable_metric, &c->si, err) < 0)
            return -1;
        return metric_index(g, map, "panic_metric", c->panic_metric, &c->pi, err);
    }
    if (c->metric != NULL)
        return metric_index(g, map, "metric", c->metric, &c->mi, err);
    if (g->nmetrics != 1)
        return fail_at(g, map, "type", err,
                       "the group has %zu metrics: name one with 'metric', or two with "
                       "'stable_metric' and 'panic_metric'",
                       g->nmetrics);
    c->mi = 0;
    return 0;
}

static int validate(void *cfg, const struct as_group_cfg *g, struct as_node *map,
                    struct as_err *err)
{
    struct panic_cfg *c = cfg;
    if (resolve_metrics(c, g, map, err) < 0)
        return -1;
    if (c->tbc < 0 && c->tbc != -1)
        return fail_at(g, map, "target_burst_capacity", err,
                       "'target_burst_capacity' must be -1 (unlimited) or at least 0");
    if (c->max_up <= 1)
        return fail_at(g, map, "max_scale_up_rate", err, "'max_scale_up_rate' must exceed 1");
    if (c->max_down <= 1)
        return fail_at(g, map, "max_scale_down_rate", err, "'max_scale_down_rate' must exceed 1");
    if (c->panic_ms > 0 && as_node_get(map, "panic_window_percentage") != NULL)
        return fail_at(g, map, "panic_window_percentage", err,
                       "set either 'panic_window' or 'panic_window_percentage', not both");
    c->panic_eff_ms = c->panic_ms > 0
                          ? c->panic_ms
                          : (int64_t)llround((double)c->stable_ms * c->window_pct / 100);
    if (c->panic_eff_ms < 1000)
        return fail_at(g, map, c->panic_ms > 0 ? "panic_window" : "panic_window_percentage", err,
                       "the panic window must be at least 1s");
    if (c->panic_eff_ms > c->stable_ms)
        return fail_at(g, map, "panic_window", err,
                       "'panic_window' must not be longer than 'stable_window'");
    /* 2 s buckets as Knative while the stable window fits the ring, wider beyond. */
    int64_t per = (int64_t)BUCKET_MS * HIST_MAX;
    c->width_ms = (int64_t)BUCKET_MS * ((c->stable_ms + per - 1) / per);
    return 0;
}

/* ---- state as JSON ---- */

static int save_history(const struct panic_state *s, json_t *obj)
{
    json_t *h = json_object(), *b = json_array();
    int rc = h == NULL || b == NULL ||
             json_object_set_new(h, "width_ms", json_integer(s->hist_width_ms)) < 0 ||
             json_object_set_new(h, "last", json_integer(s->hist_last)) < 0;
    for (int64_t k = 0; rc == 0 && k < HIST_MAX; k++) {
        int64_t i = s->hist_last - k, p = ring_pos(i);
        if (s->hist_cnt[p] > 0)
            rc = json_array_append_new(
                b, json_pack("[I,f,i]", (json_int_t)i, s->hist_sum[p], (int)s->hist_cnt[p]));
    }
    if (rc != 0) {
        json_decref(h);
        json_decref(b);
        return -1;
    }
    if (json_object_set_new(h, "buckets", b) < 0) { /* b is released either way */
        json_decref(h);
        return -1;
    }
    return json_object_set_new(obj, "history", h);
}

static int save(const void *cfg, const void *state, json_t *obj)
{
    (void)cfg;
    struct panic_state s;
    memcpy(&s, state, sizeof(s));
    json_t *d = json_array();
    if (d == NULL)
        return -1;
    for (int i = 0; i < s.ndelay && i < DELAY_MAX; i++) {
        if (json_array_append_new(
                d, json_pack("[I,i]", (json_int_t)s.delay_idx[i], (int)s.delay_val[i])) < 0) {
            json_decref(d);
            return -1;
        }
    }
    if (json_object_set_new(obj, "delay", d) < 0 ||
        json_object_set_new(obj, "panic", json_boolean(s.in_panic)) < 0 ||
        json_object_set_new(obj, "panic_time_ms", json_integer(s.panic_since_ms)) < 0 ||
        json_object_set_new(obj, "max_panic_pods", json_integer(s.max_panic_pods)) < 0)
        return -1;
    return s.hist_any ? save_history(&s, obj) : 0;
}

static int load_delay(struct panic_state *s, const json_t *d)
{
    size_t i;
    json_t *e;
    if (!json_is_array(d) || json_array_size(d) > DELAY_MAX)
        return -1;
    json_array_foreach(d, i, e)
    {
        json_int_t idx;
        int val;
        if (json_unpack((json_t *)e, "[Ii!]", &idx, &val) < 0 || val < 0 || idx < 0 ||
            idx > AS_TIME_MAX / BUCKET_MS ||
            (i > 0 && (idx <= s->delay_idx[i - 1] || val >= s->delay_val[i - 1])))
            return -1;
        s->delay_idx[i] = idx;
        s->delay_val[i] = val;
        s->ndelay = (int)i + 1;
    }
    return 0;
}

/* History saved with another bucket width (the window changed) is dropped, not an error. */
static int load_history(const struct panic_cfg *c, struct panic_state *s, const json_t *h)
{
    json_int_t width, last, idx;
    json_t *b, *e;
    size_t i;
    if (json_unpack((json_t *)h, "{s:I,s:I,s:o!}", "width_ms", &width, "last", &last, "buckets",
                    &b) < 0 ||
        !json_is_array(b) || width <= 0 || width > AS_TIME_MAX || last < 0 ||
        last > AS_TIME_MAX / width)
        return -1;
    if (width != c->width_ms)
        return 0;
    s->hist_any = 1;
    s->hist_width_ms = width;
    s->hist_last = last;
    json_array_foreach(b, i, e)
    {
        double sum;
        int cnt;
        if (json_unpack(e, "[IFi!]", &idx, &sum, &cnt) < 0 || cnt <= 0 || cnt > UINT16_MAX ||
            idx > last || last - idx >= HIST_MAX || !isfinite(sum))
            return -1;
        s->hist_sum[ring_pos(idx)] = sum;
        s->hist_cnt[ring_pos(idx)] = (uint16_t)cnt;
    }
    return 0;
}

static int load(const void *cfg, void *state, const json_t *obj)
{
    struct panic_state s = {0};
    int panic, pods;
    json_int_t since;
    json_t *d, *h = NULL;
    if (json_unpack((json_t *)obj, "{s:b,s:I,s:i,s:o,s?o!}", "panic", &panic, "panic_time_ms",
                    &since, "max_panic_pods", &pods, "delay", &d, "history", &h) < 0 ||
        pods < 0 || pods > AS_COUNT_MAX || since < 0 || since > AS_TIME_MAX ||
        load_delay(&s, d) < 0 || (h != NULL && load_history(cfg, &s, h) < 0))
        return -1;
    s.init = 1;
    s.in_panic = panic;
    s.panic_since_ms = since;
    s.max_panic_pods = pods;
    memcpy(state, &s, sizeof(s));
    return 0;
}

/* Moves the panic time, the delay window and the history by shift_ms (whole buckets for the
 * windows); what would lie after now is dropped. */
static void restored(const void *cfg, void *state, int64_t shift_ms, int64_t now_ms)
{
    (void)cfg;
    struct panic_state s;
    memcpy(&s, state, sizeof(s));
    s.panic_since_ms += shift_ms;
    if (s.panic_since_ms > now_ms)
        s.panic_since_ms = now_ms;
    int64_t db = floor_div(shift_ms, BUCKET_MS), now_b = floor_div(now_ms, BUCKET_MS);
    for (int i = 0; i < s.ndelay; i++)
        s.delay_idx[i] += db;
    while (s.ndelay > 0 && s.delay_idx[s.ndelay - 1] > now_b)
        s.ndelay--;
    if (s.hist_any && s.hist_width_ms > 0) {
        s.hist_last += floor_div(shift_ms, s.hist_width_ms);
        if (s.hist_last > floor_div(now_ms, s.hist_width_ms))
            hist_clear(&s);
    }
    memcpy(state, &s, sizeof(s));
}

#define OFF(f) offsetof(struct panic_cfg, f)

static const struct as_opt opts[] = {
    {"metric", AS_OPT_STR, OFF(metric), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL,
     "The group's metric (a total, e.g. in-flight requests) the policy averages itself over "
     "stable_window and panic_window. Default: the group's only metric."},
    {"stable_metric", AS_OPT_STR, OFF(stable_metric), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL,
     "A metric that already is the stable-window average (with panic_metric, instead of metric)."},
    {"panic_metric", AS_OPT_STR, OFF(panic_metric), NULL, AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL,
     "A metric that already is the panic-window average (with stable_metric)."},
    {"target", AS_OPT_DOUBLE, OFF(target), NULL, 1e-9, 1e15, AS_OPT_REQUIRED, NULL,
     "Target value per replica (Knative's TargetValue): desired = ceil(value / target)."},
    {"target_burst_capacity", AS_OPT_DOUBLE, OFF(tbc), "211", -1, 1e15, 0, NULL,
     "Burst capacity to keep (Knative's TBC); -1 unlimited. Only reported, as the excess burst "
     "capacity in reasons."},
    {"target_utilization", AS_OPT_DOUBLE, OFF(utilization), "0.7", 0.01, 1, 0, NULL,
     "Share of a replica's capacity that target is; capacity = target / this (for ebc only)."},
    {"panic_threshold", AS_OPT_DOUBLE, OFF(threshold), "2.0", 1, 1e6, 0, NULL,
     "Panic when ceil(panic value / target) / ready replicas reaches this (2.0 = 200 %)."},
    {"max_scale_up_rate", AS_OPT_DOUBLE, OFF(max_up), "1000", 1, 1e9, 0, NULL,
     "At most ceil(rate * ready) replicas in one round; must exceed 1."},
    {"max_scale_down_rate", AS_OPT_DOUBLE, OFF(max_down), "2", 1, 1e9, 0, NULL,
     "At least floor(ready / rate) replicas in one round; must exceed 1."},
    {"stable_window", AS_OPT_DURATION, OFF(stable_ms), "60s", 6000, 3600000, 0, NULL,
     "Averaging window of the stable value, and how long panic lasts after the last surge."},
    {"panic_window", AS_OPT_DURATION, OFF(panic_ms), NULL, 1000, 3600000, 0, NULL,
     "Averaging window of the panic value. Default: panic_window_percentage of stable_window."},
    {"panic_window_percentage", AS_OPT_DOUBLE, OFF(window_pct), "10", 1, 100, 0, NULL,
     "The panic window as a percentage of stable_window (when panic_window is not set)."},
    {"scale_down_delay", AS_OPT_DURATION, OFF(delay_ms), "0s", 0, 3600000, 0, NULL,
     "Decide the largest count wanted within this long (2 s buckets); 0 = no delay."},
    {"activation_scale", AS_OPT_INT, OFF(activation), "1", 1, 1000000, 0, NULL,
     "Smallest count above zero: a nonzero recommendation below it is raised to it."},
    {"reachable", AS_OPT_BOOL, OFF(reachable), "true", AS_NO_BOUNDS, 0, NULL,
     "false: the group takes no traffic, so scale-down is neither rate limited nor delayed."},
    AS_OPT_END,
};

const struct as_policy_ops as_policy_panic_ops = {
    .name = "panic",
    .opts = opts,
    .cfg_size = sizeof(struct panic_cfg),
    .summary = "Knative's KPA: stable and panic windows, panic mode that never scales down, "
               "rate limits and scale-down delay.",
    .state_size = sizeof(struct panic_state),
    .metric_targets = 0,
    .validate = validate,
    .recommend = recommend,
    .save = save,
    .load = load,
    .restored = restored,
};
