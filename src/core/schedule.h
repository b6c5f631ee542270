/* Time zones, time-of-day schedules and cron expressions for the group bounds.
 *
 * Time zones are read from the system's compiled IANA database (TZif files under $TZDIR or
 * /usr/share/zoneinfo) once, when the configuration is loaded; every conversion afterwards is
 * a pure function of the loaded table (no TZ variable, no tzset, no global state), so `run`,
 * `replay` and the tests agree bit for bit and groups in different zones never interfere.
 *
 * Local wall-clock times are turned into instants with one rule everywhere (java.time's):
 * a time that does not exist (inside a spring-forward gap) is moved forward by the length of
 * the gap (02:30 becomes 03:30 CEST); a time that exists twice (fall-back overlap) means its
 * first occurrence. A schedule entry or a cron time therefore happens exactly once a day. */
#ifndef AS_SCHEDULE_H
#define AS_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* ---- time zones ---- */

struct as_tz;

/* Loads the zone `name` ("Europe/Berlin", "UTC"). "UTC" and "Etc/UTC" need no file.
 * Returns 0 with *out set (caller frees with as_tz_free), or -1 with err->msg set. */
int as_tz_load(const char *name, struct as_tz **out, struct as_err *err);

/* Same from the bytes of a TZif file (tests). */
int as_tz_from_tzif(const char *name, const unsigned char *buf, size_t len, struct as_tz **out,
                    struct as_err *err);

void as_tz_free(struct as_tz *tz);

/* The zone's name as given to as_tz_load; borrowed. "UTC" for NULL. */
const char *as_tz_name(const struct as_tz *tz);

/* UTC offset in seconds at the instant utc_s (seconds since the epoch). tz NULL: UTC. */
int32_t as_tz_offset(const struct as_tz *tz, int64_t utc_s);

/* The instant of the local wall-clock time local_s (seconds since 1970-01-01 00:00 local),
 * with the gap and overlap rules above. */
int64_t as_tz_to_utc(const struct as_tz *tz, int64_t local_s);

/* A broken-down local time. */
struct as_civil {
    int year, month, mday; /* month 1-12, mday 1-31 */
    int hour, minute, second;
    int wday;    /* 0 = Sunday */
    int64_t day; /* local days since 1970-01-01 */
};

/* Local wall-clock time of the instant utc_ms in tz. */
void as_tz_civil(const struct as_tz *tz, int64_t utc_ms, struct as_civil *out);

/* Local days since 1970-01-01 of a civil date, and back. */
int64_t as_days_from_civil(int year, int month, int mday);
void as_civil_from_days(int64_t day, struct as_civil *out);

/* ---- time-of-day schedules: {"00:00": 1, "08:00": 3, "18:00": 1} ---- */

#define AS_TOD_MAX 48

struct as_tod {
    int n;                  /* entries, sorted by minute, distinct */
    int minute[AS_TOD_MAX]; /* minute of the day, 0-1439 */
    int count[AS_TOD_MAX];
};

/* Parses "HH:MM" (00:00 to 23:59, two digits each). Returns 0 or -1. */
int as_tod_parse_time(const char *s, int *minute);

/* The count in effect at utc_ms: the entry whose latest occurrence is at or before utc_ms; an
 * instant before the day's first entry is governed by the previous day's last one (so
 * {"06:00": 1, "22:00": 5} gives 5 from 22:00 to 06:00). tod->n must be >= 1. */
int as_tod_at(const struct as_tod *tod, const struct as_tz *tz, int64_t utc_ms);

/* The count the entry-by-entry step function gives at minute m of a day (wall clock, no
 * zone), for validation. */
int as_tod_at_minute(const struct as_tod *tod, int m);

/* ---- cron: "m h dom mon dow" ---- */

struct as_cron {
    uint64_t minutes; /* bit i: minute i */
    uint32_t hours;
    uint32_t mdays;           /* bits 1-31 */
    uint32_t months;          /* bits 1-12 */
    uint32_t wdays;           /* bits 0-6, 0 = Sunday (7 is folded into 0) */
    int mday_star, wday_star; /* the field was `*` (or `*` with a step) */
};

/* Parses five fields with `*`, numbers, lists `a,b`, ranges `a-b`, steps `*\/n` and `a-b/n`,
 * month names jan-dec and day names sun-sat; or one of @yearly @annually @monthly @weekly
 * @daily @midnight @hourly. Returns 0, or -1 with msg set and *pos the 0-based offset of the
 * offending character. */
int as_cron_parse(const char *s, struct as_cron *c, int *pos, char *msg, size_t len);

/* Whether a local day matches (Vixie cron: with both day-of-month and day-of-week
 * restricted, either one matching is enough). */
int as_cron_day_matches(const struct as_cron *c, const struct as_civil *day);

#define AS_CRON_NONE INT64_MIN

/* The latest fire instant (UTC seconds) in (now_s - lookback_s, now_s], or AS_CRON_NONE. */
int64_t as_cron_prev(const struct as_cron *c, const struct as_tz *tz, int64_t now_s,
                     int64_t lookback_s);

/* ---- scheduled capacity: `schedules: [{cron: "0 8 * * 1-5", duration: 10h, min: 5}]` ---- */

#define AS_SCHED_LOOKBACK_S (35LL * 86400) /* the longest start-to-end window with `end` */

struct as_sched {
    char *cron; /* start, as written */
    char *end;  /* end cron as written, or NULL (then duration_ms) */
    int64_t duration_ms;
    char *timezone;         /* NULL: the group's */
    int min, max, replicas; /* -1: not set by this entry */
    struct as_cron start_c, end_c;
    struct as_tz *tz; /* owned; NULL: use the group's zone */
};

/* Whether the entry's window contains utc_ms: [fire, fire + duration) or [fire, next end
 * fire). group_tz is used when the entry has no zone of its own. */
int as_sched_active(const struct as_sched *s, const struct as_tz *group_tz, int64_t utc_ms);

#endif
