/* The forecaster of the `predictive` policy (docs/policies/predictive.md): a Holt-Winters
 * model of a group's demand (in replica units), chosen by bench/forecast/forecast.py.
 *   - a fast level and slope (Holt's linear method, time constants 2 and 10 min) of the
 *     deseasonalized demand, updated every round: the short-term part;
 *   - multiplicative seasons learned from 5-minute bucket means: daily (288 x 5 min) and
 *     weekly (168 x 1 h) indices, with a slow level, updated robustly (an innovation beyond 3
 *     mean deviations is clipped: a flash crowd is neither a new level nor a new season), and
 *     used once a whole day (week) has been learned;
 *   forecast(t + lead) = max(0, fast + slope x D(lead)) x S(t + lead), D(lead) = 10 min x
 *   (1 - exp(-lead / 10 min)): a damped trend.
 * It also checks itself: each forecast is compared with the demand when its time comes, as is
 * "no change" (the demand when the forecast was made); both mean relative errors are kept.
 * Pure: no clock, no I/O; the whole state is one flat struct of fixed size. */
#ifndef AS_FORECAST_H
#define AS_FORECAST_H

#include <stdint.h>

#define AS_FC_BUCKET_MS 300000LL /* 5 minutes */
#define AS_FC_DAY 288            /* daily indices, 5 min each */
#define AS_FC_WEEK 168           /* weekly indices, 1 h each */
#define AS_FC_PENDING 16         /* forecasts waiting for their time to be checked */
#define AS_FC_DEMAND_MAX 1e9     /* a larger demand is learned as this (replicas) */

struct as_fc_params {
    int64_t lead_ms; /* how far ahead */
    int daily, weekly;
};

struct as_fc_pending {
    int64_t due_ms; /* decision clock */
    float f;        /* the forecast for due_ms */
    float naive;    /* the demand when it was made */
};

struct as_fc {
    int init;           /* a round was learned */
    int on;             /* seasons in use: 1 daily, 2 weekly (after a whole period) */
    int nclose;         /* buckets closed (capped) */
    int nev;            /* forecasts checked (capped) */
    int npend;          /* pend[0] is the oldest */
    int32_t bcnt;       /* rounds in the open bucket */
    int64_t last_ms;    /* decision clock of the last learned round */
    int64_t learned_ms; /* history learned, gaps left out */
    int64_t push_ms;    /* when the newest pending forecast was made */
    int64_t bucket;     /* wall-clock index of the open bucket */
    double bsum;        /* its sum of demand */
    double level, dev;  /* slow level (bucket means, deseasonalized), mean |innovation| */
    double fast, slope; /* short-term level and its slope per ms, deseasonalized */
    double ef, en;      /* mean relative error of the forecasts, of "no change" */
    struct as_fc_pending pend[AS_FC_PENDING];
    float daily[AS_FC_DAY]; /* 0: not seen yet */
    float weekly[AS_FC_WEEK];
};

/* Learns the demand d (finite, >= 0; above AS_FC_DEMAND_MAX learned as it) measured at now_ms
 * (decision clock) and wall_ms (for the seasons), and checks the pending forecasts that are due. A
 * round with an unknown demand is simply not learned: a gap, never a zero. */
void as_fc_learn(struct as_fc *s, const struct as_fc_params *p, int64_t now_ms, int64_t wall_ms,
                 double d);

/* The forecast of the demand at wall_ms + lead (after as_fc_learn of this round), or NaN
 * before anything was learned. */
double as_fc_forecast(const struct as_fc *s, const struct as_fc_params *p, int64_t wall_ms);

/* The combined seasonal index at wall_ms (1 where nothing is known). */
double as_fc_season(const struct as_fc *s, const struct as_fc_params *p, int64_t wall_ms);

/* Checks the state's invariants (a loaded state): 0 usable, -1 corrupt. */
int as_fc_valid(const struct as_fc *s);

#endif
