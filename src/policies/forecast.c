/* The predictive policy's forecaster: see forecast.h. */
#include "policies/forecast.h"

#include <math.h>
#include <string.h>

#define FAST_TAU_MS 120000.0  /* short-term level */
#define SLOPE_TAU_MS 600000.0 /* its slope */
#define DAMP_MS 600000.0      /* the slope is followed about this far ahead */
#define GAP_MS 600000         /* a longer silence is a gap: not counted as history */
#define ALPHA 0.1             /* slow level, per bucket */
#define GAMMA_D 0.1           /* daily index, per bucket */
#define GAMMA_W (0.05 / 12)   /* weekly index, per bucket (12 buckets an hour) */
#define DEV_W 0.05            /* mean |innovation| */
#define CLIP 3.0              /* innovations beyond CLIP mean deviations are clipped */
#define WARM 12               /* buckets before clipping starts (the deviation is known) */
#define EV_W 0.02             /* the error means: about the last 50 checks */
#define RMIN 0.2              /* seasonal indices stay within [RMIN, RMAX] */
#define RMAX 5.0
#define BIG 1e12 /* a loaded level, deviation, forecast or error beyond this is corrupt */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t mod(int64_t a, int64_t b)
{
    int64_t m = a % b;
    return m < 0 ? m + b : m;
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static double ewma_k(double dt, double tau)
{
    return 1.0 - exp(-dt / tau);
}

/* Index i of v, or when it is not known yet the nearest known one before it (1 if none): an
 * unknown index never makes the season jump between two rounds. */
static double known(const float *v, int n, int64_t i)
{
    for (int k = 0; k < n; k++) {
        float x = v[mod(i - k, n)];
        if (x > 0)
            return x;
    }
    return 1.0;
}

/* The daily index at a wall time, linear between bucket centres. */
static double daily_at(const struct as_fc *s, int64_t wall_ms)
{
    double x = (double)mod(wall_ms, AS_FC_BUCKET_MS * AS_FC_DAY) / AS_FC_BUCKET_MS - 0.5;
    double i = floor(x), f = x - i;
    double a = known(s->daily, AS_FC_DAY, (int64_t)i);
    double b =
        s->daily[mod((int64_t)i + 1, AS_FC_DAY)] > 0 ? s->daily[mod((int64_t)i + 1, AS_FC_DAY)] : a;
    return a * (1 - f) + b * f;
}

double as_fc_season(const struct as_fc *s, const struct as_fc_params *p, int64_t wall_ms)
{
    double d = p->daily && (s->on & 1) ? daily_at(s, wall_ms) : 1.0;
    double w =
        p->weekly && (s->on & 2) ? known(s->weekly, AS_FC_WEEK, floor_div(wall_ms, 3600000)) : 1.0;
    return d * w;
}

/* Scales the known indices of v to a mean of 1 and returns the factor taken out. */
static double normalize(float *v, int n)
{
    double sum = 0;
    int known = 0;
    for (int i = 0; i < n; i++)
        if (v[i] > 0)
            sum += v[i], known++;
    if (known == 0 || sum <= 0)
        return 1.0;
    double m = sum / known;
    for (int i = 0; i < n; i++)
        if (v[i] > 0)
            v[i] = (float)clampd(v[i] / m, RMIN, RMAX);
    return m;
}

/* One seasonal index: set at its first sight, then smoothed. */
static void index_update(float *v, double r, double gamma)
{
    r = clampd(r, RMIN, RMAX);
    *v = *v > 0 ? (float)(*v + gamma * (r - *v)) : (float)r;
}

/* A closed bucket's mean x: Holt-Winters (multiplicative, no trend) with clipped innovations. */
static void bucket_close(struct as_fc *s, const struct as_fc_params *p, int64_t b, double x)
{
    int di = (int)mod(b, AS_FC_DAY), wi = (int)mod(floor_div(b, 12), AS_FC_WEEK);
    double sd = p->daily && s->daily[di] > 0 ? s->daily[di] : 1.0;
    double sw = p->weekly && s->weekly[wi] > 0 ? s->weekly[wi] : 1.0;
    if (s->nclose == 0 || s->level <= 1e-9) {
        s->level = x / (sd * sw);
        s->nclose = 1;
        return;
    }
    double pred = s->level * sd * sw, e = x - pred;
    double lim = s->nclose >= WARM ? CLIP * fmax(s->dev, 1e-9) : INFINITY;
    double xc = pred + clampd(e, -lim, lim);
    /* The deviation learns from the clipped innovation too: it grows by at most 10 % a bucket,
     * so a lasting change is followed within hours and a 30-minute crowd barely moves it. */
    s->dev = s->nclose == 1 ? fabs(e) : s->dev + DEV_W * (fabs(xc - pred) - s->dev);
    if (p->daily)
        index_update(&s->daily[di], xc / (s->level * sw), GAMMA_D);
    sd = p->daily ? s->daily[di] : 1.0;
    if (p->weekly)
        index_update(&s->weekly[wi], xc / (s->level * sd), GAMMA_W);
    sw = p->weekly ? s->weekly[wi] : 1.0;
    s->level = fmax(0.0, ALPHA * xc / (sd * sw) + (1 - ALPHA) * s->level);
    double md = p->daily ? normalize(s->daily, AS_FC_DAY) : 1.0;
    double mw = p->weekly ? normalize(s->weekly, AS_FC_WEEK) : 1.0;
    double m = (s->on & 1 ? md : 1.0) * (s->on & 2 ? mw : 1.0);
    s->level *= md * mw; /* what the indices gave up, the levels take */
    s->fast *= m;
    s->slope *= m;
    if (s->nclose < 1000000)
        s->nclose++;
}

static void bucket_add(struct as_fc *s, const struct as_fc_params *p, int64_t wall_ms, double d)
{
    int64_t b = floor_div(wall_ms, AS_FC_BUCKET_MS);
    if (s->bcnt > 0 && b != s->bucket) {
        if (b > s->bucket) /* the wall clock going back only drops the open bucket */
            bucket_close(s, p, s->bucket, s->bsum / s->bcnt);
        s->bsum = 0;
        s->bcnt = 0;
    }
    s->bucket = b;
    s->bsum += d;
    s->bcnt++;
}

/* Compares the forecasts now due with the demand d; drops those long overdue (a gap). */
static void check(struct as_fc *s, const struct as_fc_params *p, int64_t now_ms, double d)
{
    int k = 0;
    while (k < s->npend && s->pend[k].due_ms <= now_ms) {
        const struct as_fc_pending *q = &s->pend[k++];
        if (now_ms - q->due_ms > p->lead_ms + GAP_MS)
            continue;
        double scale = fmax(d, 1.0); /* errors in replicas, relative above one replica */
        s->ef += EV_W * (fabs(d - q->f) / scale - s->ef);
        s->en += EV_W * (fabs(d - q->naive) / scale - s->en);
        if (s->nev < 1000000)
            s->nev++;
    }
    s->npend -= k;
    memmove(s->pend, s->pend + k, (size_t)s->npend * sizeof(s->pend[0]));
}

/* Keeps this round's forecast for checking, at most one per lead/8 (bounded by the ring). */
static void push(struct as_fc *s, const struct as_fc_params *p, int64_t now_ms, int64_t wall_ms,
                 double d)
{
    if (s->npend > 0 && now_ms - s->push_ms < p->lead_ms / 8)
        return;
    double f = as_fc_forecast(s, p, wall_ms);
    if (!isfinite(f))
        return;
    if (s->npend == AS_FC_PENDING) {
        memmove(s->pend, s->pend + 1, (AS_FC_PENDING - 1) * sizeof(s->pend[0]));
        s->npend--;
    }
    s->pend[s->npend++] = (struct as_fc_pending){now_ms + p->lead_ms, (float)f, (float)d};
    s->push_ms = now_ms;
}

/* A season is used once a whole period of it has been learned (before that its indices would
 * absorb any trend of the first day); the short-term level is carried over when one starts
 * (or stops: the options changed). */
static void seasons_on(struct as_fc *s, const struct as_fc_params *p, int64_t wall_ms)
{
    int on = (p->daily && s->learned_ms >= AS_FC_BUCKET_MS * AS_FC_DAY ? 1 : 0) |
             (p->weekly && s->learned_ms >= AS_FC_BUCKET_MS * AS_FC_DAY * 7 ? 2 : 0);
    if (on == s->on)
        return;
    double before = as_fc_season(s, p, wall_ms);
    s->on = on;
    double r = before / as_fc_season(s, p, wall_ms);
    s->fast *= r;
    s->slope *= r;
}

void as_fc_learn(struct as_fc *s, const struct as_fc_params *p, int64_t now_ms, int64_t wall_ms,
                 double d)
{
    if (!isfinite(d) || d < 0)
        return;
    d = fmin(d, AS_FC_DEMAND_MAX); /* keeps every product below finite bounds */
    check(s, p, now_ms, d);
    bucket_add(s, p, wall_ms, d);
    seasons_on(s, p, wall_ms);
    double ds = d / as_fc_season(s, p, wall_ms);
    if (!s->init || now_ms <= s->last_ms || now_ms - s->last_ms > GAP_MS) {
        if (!s->init || now_ms - s->last_ms > GAP_MS) { /* first round, or after a gap */
            s->fast = ds;
            s->slope = 0;
        }
    } else {
        /* Holt's linear method: the level carries its slope, so a ramp is followed without
         * the lag of a plain average. */
        double dt = (double)(now_ms - s->last_ms), prev = s->fast;
        double pred = fmax(0.0, s->fast + s->slope * dt);
        s->fast = pred + ewma_k(dt, FAST_TAU_MS) * (ds - pred);
        s->slope += ewma_k(dt, SLOPE_TAU_MS) * ((s->fast - prev) / dt - s->slope);
        s->learned_ms += now_ms - s->last_ms;
    }
    s->init = 1;
    if (now_ms > s->last_ms || s->last_ms == 0)
        s->last_ms = now_ms;
    push(s, p, now_ms, wall_ms, d);
}

double as_fc_forecast(const struct as_fc *s, const struct as_fc_params *p, int64_t wall_ms)
{
    if (!s->init)
        return NAN;
    /* A damped trend: the slope counts for at most DAMP_MS ahead, its noise would grow with the
     * lead otherwise. */
    double ahead = DAMP_MS * (1 - exp(-(double)p->lead_ms / DAMP_MS));
    return fmax(0.0, s->fast + s->slope * ahead) * as_fc_season(s, p, wall_ms + p->lead_ms);
}

static int in_range(double v, double hi)
{
    return isfinite(v) && v >= 0 && v <= hi;
}

int as_fc_valid(const struct as_fc *s)
{
    if (s->npend < 0 || s->npend > AS_FC_PENDING || s->on < 0 || s->on > 3 || s->bcnt < 0 ||
        s->nclose < 0 || s->nev < 0 || !in_range(s->bsum, BIG * 1e6) || !in_range(s->level, BIG) ||
        !in_range(s->dev, BIG) || !in_range(s->fast, BIG) || !isfinite(s->slope) ||
        fabs(s->slope) > AS_FC_DEMAND_MAX || !in_range(s->ef, BIG) || !in_range(s->en, BIG) ||
        s->learned_ms < 0)
        return -1;
    for (int i = 0; i < AS_FC_DAY; i++)
        if (!(s->daily[i] == 0 || (s->daily[i] >= RMIN - 1e-6 && s->daily[i] <= RMAX + 1e-6)))
            return -1;
    for (int i = 0; i < AS_FC_WEEK; i++)
        if (!(s->weekly[i] == 0 || (s->weekly[i] >= RMIN - 1e-6 && s->weekly[i] <= RMAX + 1e-6)))
            return -1;
    for (int i = 0; i < s->npend; i++)
        if (!in_range(s->pend[i].f, BIG) || !in_range(s->pend[i].naive, BIG))
            return -1;
    return 0;
}
