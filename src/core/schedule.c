/* Time zones (TZif, RFC 8536, with its POSIX TZ footer), time-of-day schedules, cron. */
#include "core/schedule.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TZIF_MAX (1 << 20)
#define TYPES_MAX 256

/* A POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3"): the zone after the file's last transition. */
struct tz_rule_date {
    char kind; /* 'J' (1-365, no Feb 29), 'D' (0-365), 'M' (month.week.day) */
    int a, b, c;
    int32_t time; /* seconds after local midnight, may be negative or > 24 h */
};

struct tz_rule {
    int valid, has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    struct tz_rule_date start, end;
};

struct as_tz {
    char name[64];
    size_t n;    /* transitions */
    int64_t *at; /* UTC seconds, ascending */
    unsigned char *type;
    int ntypes;
    int32_t off[TYPES_MAX];
    struct tz_rule rule;
};

/* ---- civil dates (H. Hinnant's algorithms) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t as_days_from_civil(int year, int month, int mday)
{
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + mday - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void as_civil_from_days(int64_t day, struct as_civil *out)
{
    int64_t z = day + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    out->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
    out->month = (int)(mp < 10 ? mp + 3 : mp - 9);
    out->year = (int)(yoe + era * 400 + (out->month <= 2));
    out->day = day;
    out->wday = (int)(floor_div(day + 4, 7) * -7 + day + 4); /* 1970-01-01 was a Thursday */
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* ---- POSIX TZ strings ---- */

static const char *tz_name_skip(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q ? q + 1 : NULL;
    }
    const char *s = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] into seconds; hours up to 167 (TZif v3). */
static const char *tz_hms(const char *p, int32_t *out)
{
    int sign = 1, part[3] = {0, 0, 0};
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    for (int i = 0; i < 3; i++) {
        if (i > 0 && *p != ':')
            break;
        if (i > 0)
            p++;
        if (*p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9' && part[i] < 1000)
            part[i] = part[i] * 10 + (*p++ - '0');
    }
    if (part[0] > 167 || part[1] > 59 || part[2] > 59)
        return NULL;
    *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    return p;
}

static const char *tz_num(const char *p, int *out)
{
    if (*p < '0' || *p > '9')
        return NULL;
    *out = 0;
    while (*p >= '0' && *p <= '9' && *out < 10000)
        *out = *out * 10 + (*p++ - '0');
    return p;
}

static const char *tz_date(const char *p, struct tz_rule_date *d)
{
    d->time = 7200;
    if (*p == 'M') {
        d->kind = 'M';
        p = tz_num(p + 1, &d->a);
        if (p == NULL || *p++ != '.' || (p = tz_num(p, &d->b)) == NULL || *p++ != '.' ||
            (p = tz_num(p, &d->c)) == NULL)
            return NULL;
        if (d->a < 1 || d->a > 12 || d->b < 1 || d->b > 5 || d->c > 6)
            return NULL;
    } else {
        d->kind = *p == 'J' ? 'J' : 'D';
        p = tz_num(p + (*p == 'J'), &d->a);
        if (p == NULL || d->a > 365 || (d->kind == 'J' && d->a < 1))
            return NULL;
    }
    if (*p == '/')
        p = tz_hms(p + 1, &d->time);
    return p;
}

static int tz_rule_parse(const char *s, struct tz_rule *r)
{
    memset(r, 0, sizeof(*r));
    const char *p = tz_name_skip(s);
    int32_t off;
    if (p == NULL || (p = tz_hms(p, &off)) == NULL)
        return -1;
    r->std_off = -off; /* POSIX offsets are west of UTC */
    r->valid = 1;
    if (*p == '\0')
        return 0;
    if ((p = tz_name_skip(p)) == NULL)
        return -1;
    r->dst_off = r->std_off + 3600;
    if (*p != ',' && *p != '\0') {
        if ((p = tz_hms(p, &off)) == NULL)
            return -1;
        r->dst_off = -off;
    }
    if (*p != ',') /* no rule: POSIX leaves it to the implementation; we keep standard time */
        return 0;
    if ((p = tz_date(p + 1, &r->start)) == NULL || *p != ',' ||
        (p = tz_date(p + 1, &r->end)) == NULL || *p != '\0')
        return -1;
    r->has_dst = 1;
    return 0;
}

/* Day of the year (0-based) of a rule date in year y. */
static int rule_yday(const struct tz_rule_date *d, int y)
{
    if (d->kind == 'J')
        return d->a - 1 + (is_leap(y) && d->a >= 60);
    if (d->kind == 'D')
        return d->a;
    int64_t first = as_days_from_civil(y, d->a, 1);
    struct as_civil c;
    as_civil_from_days(first, &c);
    int mday = 1 + (d->c - c.wday + 7) % 7 + (d->b - 1) * 7;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int last = mdays[d->a - 1] + (d->a == 2 && is_leap(y));
    while (mday > last)
        mday -= 7;
    return (int)(first + mday - 1 - as_days_from_civil(y, 1, 1));
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    struct as_civil c;
    as_civil_from_days(floor_div(t + r->std_off, 86400), &c);
    int64_t y0 = as_days_from_civil(c.year, 1, 1) * 86400;
    int64_t start = y0 + rule_yday(&r->start, c.year) * 86400LL + r->start.time - r->std_off;
    int64_t end = y0 + rule_yday(&r->end, c.year) * 86400LL + r->end.time - r->dst_off;
    int dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? r->dst_off : r->std_off;
}

/* ---- TZif ---- */

static int64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    if (n == 4)
        return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

struct tzif_hdr {
    int64_t isut, isstd, leap, time, type, chars;
};

static size_t tzif_block(const unsigned char *b, size_t len, struct tzif_hdr *h, int tsize)
{
    if (len < 44 || memcmp(b, "TZif", 4) != 0)
        return 0;
    int64_t *f[] = {&h->isut, &h->isstd, &h->leap, &h->time, &h->type, &h->chars};
    for (int i = 0; i < 6; i++)
        *f[i] = be(b + 20 + 4 * i, 4);
    if (h->time < 0 || h->type < 1 || h->type > TYPES_MAX || h->chars < 0 || h->leap < 0 ||
        h->isut < 0 || h->isstd < 0)
        return 0;
    size_t need = 44 + (size_t)(h->time * (tsize + 1) + h->type * 6 + h->chars +
                                h->leap * (tsize + 4) + h->isstd + h->isut);
    return need <= len ? need : 0;
}

static int tzif_load(struct as_tz *tz, const unsigned char *b, size_t len)
{
    struct tzif_hdr h;
    size_t size = tzif_block(b, len, &h, 4);
    int tsize = 4;
    if (size == 0)
        return -1;
    if (b[4] >= '2') {
        b += size, len -= size;
        if ((size = tzif_block(b, len, &h, 8)) == 0)
            return -1;
        tsize = 8;
    }
    const unsigned char *p = b + 44;
    tz->n = (size_t)h.time;
    tz->at = calloc(tz->n + 1, sizeof(*tz->at));
    tz->type = calloc(tz->n + 1, 1);
    if (tz->at == NULL || tz->type == NULL)
        return -1;
    for (size_t i = 0; i < tz->n; i++, p += tsize)
        tz->at[i] = be(p, tsize);
    for (size_t i = 0; i < tz->n; i++, p++) {
        tz->type[i] = *p;
        if (*p >= h.type)
            return -1;
    }
    tz->ntypes = (int)h.type;
    for (int i = 0; i < tz->ntypes; i++, p += 6)
        tz->off[i] = (int32_t)be(p, 4);
    if (tsize == 8 && size < len && b[size] == '\n') {
        const char *foot = (const char *)b + size + 1;
        const char *nl = memchr(foot, '\n', len - size - 1);
        char rule[128];
        if (nl != NULL && nl - foot > 0 && (size_t)(nl - foot) < sizeof(rule)) {
            memcpy(rule, foot, (size_t)(nl - foot));
            rule[nl - foot] = '\0';
            if (tz_rule_parse(rule, &tz->rule) < 0)
                return -1;
        }
    }
    return 0;
}

int as_tz_from_tzif(const char *name, const unsigned char *buf, size_t len, struct as_tz **out,
                    struct as_err *err)
{
    struct as_tz *tz = calloc(1, sizeof(*tz));
    if (tz == NULL)
        return as_err_set(err, "out of memory");
    snprintf(tz->name, sizeof(tz->name), "%s", name);
    if (tzif_load(tz, buf, len) < 0) {
        as_tz_free(tz);
        return as_err_set(err, "time zone '%s': not a valid TZif file", name);
    }
    *out = tz;
    return 0;
}

static int valid_zone_name(const char *s)
{
    if (s[0] == '\0' || s[0] == '/' || strlen(s) >= 64 || strstr(s, "..") != NULL)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '/' || *s == '_' || *s == '-' || *s == '+'))
            return 0;
    return 1;
}

static int read_small(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    int rc = -1;
    *buf = malloc(TZIF_MAX);
    if (*buf == NULL)
        goto out;
    *len = fread(*buf, 1, TZIF_MAX, f);
    rc = ferror(f) || *len == TZIF_MAX ? -1 : 0;
out:
    fclose(f);
    return rc;
}

int as_tz_load(const char *name, struct as_tz **out, struct as_err *err)
{
    *out = NULL;
    if (!valid_zone_name(name))
        return as_err_set(err, "'%s' is not a time zone name like Europe/Berlin", name);
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
        struct as_tz *tz = calloc(1, sizeof(*tz));
        if (tz == NULL)
            return as_err_set(err, "out of memory");
        snprintf(tz->name, sizeof(tz->name), "%s", name);
        tz->ntypes = 1;
        *out = tz;
        return 0;
    }
    const char *dir = getenv("TZDIR");
    char path[512];
    unsigned char *buf = NULL;
    size_t len = 0;
    int n =
        snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", name);
    int rc;
    if (n < 0 || (size_t)n >= sizeof(path) || read_small(path, &buf, &len) < 0)
        rc = as_err_set(err, "unknown time zone '%s' (no readable %s)", name, path);
    else
        rc = as_tz_from_tzif(name, buf, len, out, err);
    free(buf);
    return rc;
}

void as_tz_free(struct as_tz *tz)
{
    if (tz == NULL)
        return;
    free(tz->at);
    free(tz->type);
    free(tz);
}

const char *as_tz_name(const struct as_tz *tz)
{
    return tz ? tz->name : "UTC";
}

int32_t as_tz_offset(const struct as_tz *tz, int64_t utc_s)
{
    if (tz == NULL)
        return 0;
    if (tz->n == 0 || utc_s < tz->at[0])
        return tz->n == 0 && tz->rule.valid ? rule_offset(&tz->rule, utc_s) : tz->off[0];
    if (utc_s >= tz->at[tz->n - 1] && tz->rule.valid)
        return rule_offset(&tz->rule, utc_s);
    size_t lo = 0, hi = tz->n; /* the last transition at or before utc_s */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= utc_s)
            lo = mid;
        else
            hi = mid;
    }
    return tz->off[tz->type[lo]];
}

int64_t as_tz_to_utc(const struct as_tz *tz, int64_t local_s)
{
    /* The offsets a day before and after cover every real transition. */
    int32_t before = as_tz_offset(tz, local_s - 86400), after = as_tz_offset(tz, local_s + 86400);
    int64_t a = local_s - before, b = local_s - after;
    int ok_a = as_tz_offset(tz, a) == before, ok_b = as_tz_offset(tz, b) == after;
    if (ok_a && ok_b)
        return a < b ? a : b; /* overlap: the first occurrence */
    if (ok_a)
        return a;
    if (ok_b)
        return b;
    return a; /* gap: moved forward by its length */
}

void as_tz_civil(const struct as_tz *tz, int64_t utc_ms, struct as_civil *out)
{
    int64_t s = floor_div(utc_ms, 1000);
    int64_t local = s + as_tz_offset(tz, s);
    int64_t day = floor_div(local, 86400), sec = local - day * 86400;
    as_civil_from_days(day, out);
    out->hour = (int)(sec / 3600);
    out->minute = (int)(sec / 60 % 60);
    out->second = (int)(sec % 60);
}

/* ---- time of day ---- */

int as_tod_parse_time(const char *s, int *minute)
{
    int d[4];
    if (strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0, j = 0; i < 5; i++) {
        if (i == 2)
            continue;
        if (s[i] < '0' || s[i] > '9')
            return -1;
        d[j++] = s[i] - '0';
    }
    int h = d[0] * 10 + d[1], m = d[2] * 10 + d[3];
    if (h > 23 || m > 59)
        return -1;
    *minute = h * 60 + m;
    return 0;
}

int as_tod_at_minute(const struct as_tod *tod, int m)
{
    int v = tod->count[tod->n - 1];
    for (int i = 0; i < tod->n && tod->minute[i] <= m; i++)
        v = tod->count[i];
    return v;
}

int as_tod_at(const struct as_tod *tod, const struct as_tz *tz, int64_t utc_ms)
{
    struct as_civil c;
    as_tz_civil(tz, utc_ms, &c);
    int64_t now = floor_div(utc_ms, 1000), best = AS_CRON_NONE;
    int v = tod->count[tod->n - 1];
    for (int64_t day = c.day - 1; day <= c.day + 1; day++)
        for (int i = 0; i < tod->n; i++) {
            int64_t t = as_tz_to_utc(tz, day * 86400 + tod->minute[i] * 60LL);
            if (t <= now && t >= best) {
                best = t;
                v = tod->count[i];
            }
        }
    return v;
}

/* ---- cron ---- */

struct cron_field {
    const char *what;
    int lo, hi;
    const char *const *names; /* 3-letter names for lo, lo+1, ... or NULL */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct cron_field cron_fields[5] = {
    {"minute", 0, 59, NULL},          {"hour", 0, 23, NULL},
    {"day of month", 1, 31, NULL},    {"month", 1, 12, month_names},
    {"day of week", 0, 7, day_names},
};

struct cron_parse {
    const char *s, *p; /* whole expression, cursor */
    char *msg;
    size_t len;
    int pos;
};

static int cron_fail(struct cron_parse *cp, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cron_fail(struct cron_parse *cp, const char *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cp->pos = (int)(at - cp->s);
    vsnprintf(cp->msg, cp->len, fmt, ap);
    va_end(ap);
    return -1;
}

static int cron_value(struct cron_parse *cp, const struct cron_field *f, int *v)
{
    const char *at = cp->p;
    for (int i = 0; f->names && f->names[i]; i++)
        if (strncasecmp(cp->p, f->names[i], 3) == 0) {
            cp->p += 3;
            *v = f->lo + i;
            return 0;
        }
    if (*cp->p < '0' || *cp->p > '9')
        return cron_fail(cp, at, "%s: expected a number from %d to %d", f->what, f->lo, f->hi);
    for (*v = 0; *cp->p >= '0' && *cp->p <= '9' && *v < 1000; cp->p++)
        *v = *v * 10 + (*cp->p - '0');
    if (*v < f->lo || *v > f->hi)
        return cron_fail(cp, at, "%s: out of range (%d-%d)", f->what, f->lo, f->hi);
    return 0;
}

/* One list element: `*`, `n`, `a-b`, each with an optional `/step`. */
static int cron_item(struct cron_parse *cp, const struct cron_field *f, uint64_t *bits, int *star)
{
    int a = f->lo, b = f->hi, step = 1;
    const char *at = cp->p;
    if (*cp->p == '*') {
        cp->p++;
        *star = 1;
    } else {
        if (cron_value(cp, f, &a) < 0)
            return -1;
        b = a;
        if (*cp->p == '-') {
            cp->p++;
            if (cron_value(cp, f, &b) < 0)
                return -1;
        }
        if (b < a)
            return cron_fail(cp, at, "%s: range goes backwards (%d-%d)", f->what, a, b);
    }
    if (*cp->p == '/') {
        const char *sat = ++cp->p;
        struct cron_field sf = {f->what, 1, f->hi - f->lo + 1, NULL};
        if (cron_value(cp, &sf, &step) < 0)
            return cron_fail(cp, sat, "%s: step must be from %d to %d", f->what, 1, sf.hi);
        if (at[0] != '*' && a == b)
            b = f->hi; /* `5/15` means 5-59/15, as in Vixie cron */
    }
    for (int v = a; v <= b; v += step)
        *bits |= 1ULL << v;
    return 0;
}

static int cron_field_parse(struct cron_parse *cp, const struct cron_field *f, uint64_t *bits,
                            int *star)
{
    *bits = 0;
    *star = 0;
    int items = 0;
    for (;;) {
        if (cron_item(cp, f, bits, star) < 0)
            return -1;
        items++;
        if (*cp->p != ',')
            break;
        cp->p++;
    }
    if (items > 1)
        *star = 0;
    if (*cp->p != '\0' && *cp->p != ' ' && *cp->p != '\t')
        return cron_fail(cp, cp->p, "%s: unexpected character '%c'", f->what, *cp->p);
    return 0;
}

static const char *cron_macro(const char *s)
{
    static const char *const m[][2] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        if (strcmp(s, m[i][0]) == 0)
            return m[i][1];
    return NULL;
}

int as_cron_parse(const char *s, struct as_cron *c, int *pos, char *msg, size_t len)
{
    struct cron_parse cp = {s, s, msg, len, 0};
    memset(c, 0, sizeof(*c));
    if (s[0] == '@') {
        const char *m = cron_macro(s);
        if (m == NULL) {
            *pos = 0;
            snprintf(msg, len, "unknown macro (use @yearly, @monthly, @weekly, @daily, @hourly)");
            return -1;
        }
        return as_cron_parse(m, c, pos, msg, len);
    }
    uint64_t bits[5];
    int star[5];
    for (int i = 0; i < 5; i++) {
        while (*cp.p == ' ' || *cp.p == '\t')
            cp.p++;
        if (*cp.p == '\0') {
            *pos = (int)(cp.p - s);
            snprintf(msg, len,
                     "expected 5 fields (minute hour day-of-month month day-of-week), "
                     "found %d",
                     i);
            return -1;
        }
        if (cron_field_parse(&cp, &cron_fields[i], &bits[i], &star[i]) < 0) {
            *pos = cp.pos;
            return -1;
        }
    }
    while (*cp.p == ' ' || *cp.p == '\t')
        cp.p++;
    if (*cp.p != '\0') {
        *pos = (int)(cp.p - s);
        snprintf(msg, len, "more than 5 fields");
        return -1;
    }
    c->minutes = bits[0];
    c->hours = (uint32_t)bits[1];
    c->mdays = (uint32_t)bits[2];
    c->months = (uint32_t)bits[3];
    c->wdays = (uint32_t)((bits[4] | bits[4] >> 7) & 0x7f);
    c->mday_star = star[2];
    c->wday_star = star[4];
    return 0;
}

int as_cron_day_matches(const struct as_cron *c, const struct as_civil *day)
{
    if (!(c->months >> day->month & 1))
        return 0;
    int md = (int)(c->mdays >> day->mday & 1), wd = (int)(c->wdays >> day->wday & 1);
    if (c->mday_star || c->wday_star)
        return md && wd;
    return md || wd;
}

/* The latest fire instant of one local day that is at or before now, or AS_CRON_NONE. */
static int64_t cron_day_prev(const struct as_cron *c, const struct as_tz *tz, int64_t day,
                             int64_t now)
{
    int64_t best = AS_CRON_NONE;
    for (int h = 23; h >= 0; h--) {
        if (!(c->hours >> h & 1))
            continue;
        for (int m = 59; m >= 0; m--) {
            if (!(c->minutes >> m & 1))
                continue;
            int64_t t = as_tz_to_utc(tz, day * 86400 + h * 3600 + m * 60);
            if (t <= now && t > best)
                best = t;
            if (best != AS_CRON_NONE && t < best - 6 * 3600)
                return best; /* earlier times of the day cannot come later than best */
        }
    }
    return best;
}

int64_t as_cron_prev(const struct as_cron *c, const struct as_tz *tz, int64_t now_s,
                     int64_t lookback_s)
{
    struct as_civil now_c, d;
    as_tz_civil(tz, now_s * 1000, &now_c);
    int64_t best = AS_CRON_NONE, found_day = 0;
    int64_t last_day = floor_div(now_s - lookback_s, 86400) - 2; /* offsets are below a day */
    for (int64_t day = now_c.day + 1; day >= last_day; day--) {
        if (best != AS_CRON_NONE && day < found_day - 1)
            break;
        as_civil_from_days(day, &d);
        if (!as_cron_day_matches(c, &d))
            continue;
        int64_t t = cron_day_prev(c, tz, day, now_s);
        if (t != AS_CRON_NONE && t > best) {
            best = t;
            found_day = day;
        }
    }
    return best != AS_CRON_NONE && best > now_s - lookback_s ? best : AS_CRON_NONE;
}

/* ---- scheduled capacity ---- */

int as_sched_active(const struct as_sched *s, const struct as_tz *group_tz, int64_t utc_ms)
{
    const struct as_tz *tz = s->tz ? s->tz : group_tz;
    int64_t now = floor_div(utc_ms, 1000);
    if (s->end == NULL) {
        int64_t start = as_cron_prev(&s->start_c, tz, now, s->duration_ms / 1000 + 1);
        return start != AS_CRON_NONE && utc_ms < start * 1000 + s->duration_ms;
    }
    int64_t start = as_cron_prev(&s->start_c, tz, now, AS_SCHED_LOOKBACK_S);
    if (start == AS_CRON_NONE)
        return 0;
    int64_t end = as_cron_prev(&s->end_c, tz, now, now - start + 1);
    return end == AS_CRON_NONE;
}
