#include "drivers/timeline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

/* ---- classes ---- */

const char *as_reason_class_name(unsigned cls)
{
    static const char *const names[AS_RC_CLASSES] = {
        "policy", "max", "min", "bounds", "no_recommendation", "fallback", "paused", "override"};
    return cls < AS_RC_CLASSES ? names[cls] : "policy";
}

const char *as_outcome_name(unsigned outcome)
{
    static const char *const names[AS_OUTCOMES] = {"up", "down", "hold"};
    return outcome < AS_OUTCOMES ? names[outcome] : "hold";
}

void as_decision_classify(int current, const struct as_decision *d, int override, unsigned *cls,
                          unsigned *outcome)
{
    *outcome = d->desired > current ? AS_OUT_UP : d->desired < current ? AS_OUT_DOWN : AS_OUT_HOLD;
    if (override)
        *cls = AS_RC_OVERRIDE;
    else if (d->paused)
        *cls = AS_RC_PAUSED;
    else if (d->fallback)
        *cls = AS_RC_FALLBACK;
    else if (d->min >= 0 && (current > d->max || current < d->min))
        *cls = AS_RC_BOUNDS;
    else if (d->above_max)
        *cls = AS_RC_MAX;
    else if (d->below_min)
        *cls = AS_RC_MIN;
    else if (d->wanted < 0)
        *cls = AS_RC_NO_RECOMMENDATION;
    else
        *cls = AS_RC_POLICY;
}

/* ---- histogram ---- */

const double as_round_bounds[AS_ROUND_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                  0.5,   1,    2.5,   5,    10,  30};

void as_round_hist_add(struct as_round_hist *h, double seconds)
{
    for (size_t i = 0; i < AS_ROUND_BUCKETS; i++)
        if (seconds <= as_round_bounds[i])
            h->le[i]++;
    h->count++;
    h->sum += seconds;
}

/* ---- rings ---- */

struct point {
    int64_t t;
    int current, desired, min, max;
};

struct as_timeline {
    size_t nmetrics;
    char **names; /* nmetrics */
    size_t cap_rounds, nrounds, head_round;
    struct point *rounds;
    double *values; /* cap_rounds * nmetrics */
    size_t cap_dec, ndec, head_dec;
    size_t alloc_dec;            /* records allocated: grown by doubling up to cap_dec */
    struct as_decision_rec *dec; /* reasons owned */
    size_t *reason_cap;          /* alloc_dec: the bytes allocated for each reason */
};

void as_timeline_free(struct as_timeline *tl)
{
    if (tl == NULL)
        return;
    for (size_t i = 0; i < tl->nmetrics && tl->names; i++)
        free(tl->names[i]);
    for (size_t i = 0; i < tl->ndec; i++)
        free((char *)tl->dec[i].reason);
    free(tl->names);
    free(tl->rounds);
    free(tl->values);
    free(tl->dec);
    free(tl->reason_cap);
    free(tl);
}

struct as_timeline *as_timeline_new(size_t rounds, size_t decisions, const struct as_group_cfg *g)
{
    if (rounds == 0 && decisions == 0)
        return NULL;
    struct as_timeline *tl = calloc(1, sizeof(*tl));
    if (tl == NULL)
        return NULL;
    tl->nmetrics = g->nmetrics;
    tl->cap_rounds = rounds;
    tl->cap_dec = decisions;
    tl->names = calloc(g->nmetrics + 1, sizeof(*tl->names));
    tl->rounds = calloc(rounds + 1, sizeof(*tl->rounds));
    tl->values = calloc(rounds * g->nmetrics + 1, sizeof(*tl->values));
    int bad = !tl->names || !tl->rounds || !tl->values;
    for (size_t i = 0; !bad && i < g->nmetrics; i++)
        bad = (tl->names[i] = strdup(g->metrics[i].name)) == NULL;
    if (bad) {
        as_timeline_free(tl);
        return NULL;
    }
    return tl;
}

int as_timeline_fits(const struct as_timeline *tl, const struct as_group_cfg *g, size_t rounds,
                     size_t decisions)
{
    if (tl == NULL)
        return rounds == 0 && decisions == 0;
    if (tl->cap_rounds != rounds || tl->cap_dec != decisions || tl->nmetrics != g->nmetrics)
        return 0;
    for (size_t i = 0; i < g->nmetrics; i++)
        if (strcmp(tl->names[i], g->metrics[i].name) != 0)
            return 0;
    return 1;
}

/* Copies reason into record i's buffer, grown when too short; out of memory, the old text
 * stays (a stale reason, never a missing record). */
static void set_reason(struct as_timeline *tl, size_t i, const char *reason)
{
    size_t n = strlen(reason) + 1;
    char *buf = (char *)tl->dec[i].reason;
    if (n > tl->reason_cap[i]) {
        char *grown = realloc(buf, n);
        if (grown == NULL)
            return;
        buf = grown;
        tl->reason_cap[i] = n;
        tl->dec[i].reason = buf;
    }
    memcpy(buf, reason, n);
}

/* The ring is kept in record order 0..ndec-1 from the oldest while it grows (the oldest is
 * replaced only once alloc_dec is cap_dec), so growing it is a realloc. */
static int grow_dec(struct as_timeline *tl)
{
    size_t want = tl->alloc_dec ? tl->alloc_dec * 2 : 1; /* a steady group needs one */
    if (want > tl->cap_dec)
        want = tl->cap_dec;
    struct as_decision_rec *dec = realloc(tl->dec, want * sizeof(*dec));
    if (dec == NULL)
        return -1;
    tl->dec = dec;
    size_t *cap = realloc(tl->reason_cap, want * sizeof(*cap));
    if (cap == NULL)
        return -1; /* dec is larger than alloc_dec says: harmless, freed with the rest */
    tl->reason_cap = cap;
    memset(dec + tl->alloc_dec, 0, (want - tl->alloc_dec) * sizeof(*dec));
    memset(cap + tl->alloc_dec, 0, (want - tl->alloc_dec) * sizeof(*cap));
    tl->alloc_dec = want;
    return 0;
}

static void add_round(struct as_timeline *tl, const struct point *p, const double *values)
{
    if (tl->cap_rounds == 0)
        return;
    tl->head_round = tl->nrounds == 0 ? 0 : (tl->head_round + 1) % tl->cap_rounds;
    if (tl->nrounds < tl->cap_rounds)
        tl->nrounds++;
    tl->rounds[tl->head_round] = *p;
    memcpy(tl->values + tl->head_round * tl->nmetrics, values, tl->nmetrics * sizeof(*values));
}

void as_timeline_decided(struct as_timeline *tl, int64_t t, int current,
                         const struct as_decision *d, unsigned cls, unsigned outcome,
                         const double *values)
{
    if (tl == NULL)
        return;
    add_round(tl, &(struct point){t, current, d->desired, d->min, d->max}, values);
    if (tl->cap_dec == 0)
        return;
    struct as_decision_rec *r = tl->ndec > 0 ? &tl->dec[tl->head_dec] : NULL;
    if (r != NULL && r->current == current && r->desired == d->desired &&
        r->wanted == d->wanted && r->min == d->min && r->max == d->max && r->cls == cls &&
        r->outcome == outcome) {
        r->t = t;
        r->rounds++;
        set_reason(tl, tl->head_dec, d->reason);
        return;
    }
    /* Records 0..ndec-1 are in order from the oldest until the ring is full (or could not
     * grow): only then does it wrap, replacing its oldest; it grows again only when in order. */
    int in_order = tl->ndec == 0 || tl->head_dec == tl->ndec - 1;
    if (tl->ndec == tl->alloc_dec && tl->alloc_dec < tl->cap_dec && in_order)
        (void)grow_dec(tl); /* out of memory: the ring wraps at the size it has */
    if (tl->alloc_dec == 0)
        return;
    size_t at = tl->ndec < tl->alloc_dec && in_order ? tl->ndec : (tl->head_dec + 1) % tl->ndec;
    if (at == tl->ndec)
        tl->ndec++;
    tl->head_dec = at;
    r = &tl->dec[at];
    const char *keep = r->reason; /* its buffer is reused for the new reason */
    *r = (struct as_decision_rec){t,   current, d->desired, d->wanted, d->min, d->max,
                                  cls, outcome, keep,       t,         1};
    set_reason(tl, at, d->reason);
}

void as_timeline_held(struct as_timeline *tl, int64_t t, const double *values)
{
    if (tl != NULL)
        add_round(tl, &(struct point){t, -1, -1, -1, -1}, values);
}

size_t as_timeline_nmetrics(const struct as_timeline *tl)
{
    return tl ? tl->nmetrics : 0;
}

const char *as_timeline_metric(const struct as_timeline *tl, size_t i)
{
    return tl && i < tl->nmetrics ? tl->names[i] : NULL;
}

size_t as_timeline_rounds(const struct as_timeline *tl)
{
    return tl ? tl->nrounds : 0;
}

int as_timeline_round(const struct as_timeline *tl, size_t i, struct as_round_point *out)
{
    if (tl == NULL || i >= tl->nrounds)
        return -1;
    size_t at = (tl->head_round + tl->cap_rounds - i) % tl->cap_rounds;
    const struct point *p = &tl->rounds[at];
    *out = (struct as_round_point){p->t,   p->current, p->desired,
                                   p->min, p->max,     tl->values + at * tl->nmetrics};
    return 0;
}

size_t as_timeline_decisions(const struct as_timeline *tl)
{
    return tl ? tl->ndec : 0;
}

int as_timeline_decision(const struct as_timeline *tl, size_t i, struct as_decision_rec *out)
{
    if (tl == NULL || i >= tl->ndec)
        return -1;
    *out = tl->dec[(tl->head_dec + tl->ndec - i) % tl->ndec];
    if (out->reason == NULL)
        out->reason = "";
    return 0;
}
