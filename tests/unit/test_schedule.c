/* Time zones, time-of-day schedules and cron: tables of instants with the expected answer,
 * DST in real zones, and a cross-check of every offset against the C library. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/schedule.h"

#define H 3600LL
#define D 86400LL
#define SPRING 1774742400LL /* 2026-03-29 00:00 UTC, Sunday: Berlin 02:00 -> 03:00 at 01:00 UTC */
#define FALL 1792886400LL   /* 2026-10-25 00:00 UTC, Sunday: Berlin 03:00 -> 02:00 at 01:00 UTC */
#define MON 1780272000LL    /* 2026-06-01 00:00 UTC, Monday */

static struct as_tz *zone(const char *name)
{
    struct as_tz *tz = NULL;
    struct as_err err;
    as_err_clear(&err);
    if (as_tz_load(name, &tz, &err) < 0) {
        print_error("%s: %s\n", name, err.msg);
        fail();
    }
    return tz;
}

struct offset_row {
    const char *zone;
    int64_t t;
    int32_t want;
};

static const struct offset_row offsets[] = {
    {"Europe/Berlin", SPRING + H - 1, 3600},         /* 01:59:59 CET */
    {"Europe/Berlin", SPRING + H, 7200},             /* 03:00:00 CEST */
    {"Europe/Berlin", FALL + H - 1, 7200},           /* 02:59:59 CEST */
    {"Europe/Berlin", FALL + H, 3600},               /* 02:00:00 CET, again */
    {"Europe/Berlin", 4102444800LL + 180 * D, 7200}, /* 2100: from the TZ footer rule */
    {"Europe/Berlin", 4102444800LL, 3600},
    {"America/New_York", MON, -4 * 3600},
    {"Asia/Kolkata", MON, 19800},
    {"Australia/Sydney", MON, 10 * 3600},
    {"Australia/Sydney", MON + 200 * D, 11 * 3600},
    {"UTC", MON, 0},
};

static void test_offsets(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        struct as_tz *tz = zone(offsets[i].zone);
        int32_t got = as_tz_offset(tz, offsets[i].t);
        if (got != offsets[i].want) {
            print_error("%s at %lld: got %d want %d\n", offsets[i].zone, (long long)offsets[i].t,
                        got, offsets[i].want);
            fail();
        }
        as_tz_free(tz);
    }
    assert_int_equal(as_tz_offset(NULL, MON), 0);
}

/* Every 20 minutes from 1970 to 2040 (and hourly to 2100) against glibc's localtime_r.
 * The test process alone touches TZ; the daemon never does. */
static void test_against_libc(void **state)
{
    (void)state;
    static const char *const zones[] = {"Europe/Berlin", "America/New_York", "Australia/Sydney",
                                        "Asia/Kolkata",  "America/Santiago", "Pacific/Chatham",
                                        "Europe/London", "Asia/Tehran",      NULL};
    for (int z = 0; zones[z]; z++) {
        struct as_tz *tz = zone(zones[z]);
        setenv("TZ", zones[z], 1);
        tzset();
        for (int64_t t = 0; t < 4102444800LL; t += t < 2208988800LL ? 1200 : 3600) {
            time_t tt = (time_t)t;
            struct tm tm;
            localtime_r(&tt, &tm);
            if (tm.tm_gmtoff != as_tz_offset(tz, t)) {
                print_error("%s at %lld: got %d, libc %ld\n", zones[z], (long long)t,
                            as_tz_offset(tz, t), (long)tm.tm_gmtoff);
                fail();
            }
        }
        as_tz_free(tz);
    }
    unsetenv("TZ");
    tzset();
}

static void test_to_utc(void **state)
{
    (void)state;
    struct as_tz *tz = zone("Europe/Berlin");
    /* gap: 02:30 does not exist on 2026-03-29, it becomes 03:30 CEST = 01:30 UTC */
    assert_int_equal(as_tz_to_utc(tz, SPRING + 2 * H + 1800), SPRING + H + 1800);
    assert_int_equal(as_tz_to_utc(tz, SPRING + 3 * H), SPRING + H);
    assert_int_equal(as_tz_to_utc(tz, SPRING + H + 1800), SPRING + 1800);
    /* overlap: 02:30 happens twice on 2026-10-25, the first is 00:30 UTC */
    assert_int_equal(as_tz_to_utc(tz, FALL + 2 * H + 1800), FALL + 1800);
    assert_int_equal(as_tz_to_utc(tz, FALL + 3 * H), FALL + 2 * H);
    assert_int_equal(as_tz_to_utc(NULL, 12345), 12345);
    struct as_civil c;
    as_tz_civil(tz, (SPRING + H) * 1000, &c);
    assert_int_equal(c.year, 2026);
    assert_int_equal(c.month, 3);
    assert_int_equal(c.mday, 29);
    assert_int_equal(c.hour, 3);
    assert_int_equal(c.wday, 0);
    as_tz_civil(NULL, -1, &c); /* one millisecond before the epoch */
    assert_int_equal(c.year, 1969);
    assert_int_equal(c.hour, 23);
    assert_int_equal(c.wday, 3);
    as_tz_free(tz);
}

static void test_bad_zones(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Mars/Olympus", "../etc/passwd", "/etc/localtime", "", "Europe/Berlin ", NULL};
    for (int i = 0; bad[i]; i++) {
        struct as_tz *tz = NULL;
        struct as_err err;
        as_err_clear(&err);
        assert_int_equal(as_tz_load(bad[i], &tz, &err), -1);
        assert_null(tz);
        assert_true(err.msg[0] != '\0');
    }
    static const unsigned char junk[] = "TZif2 not really";
    struct as_tz *tz = NULL;
    struct as_err err;
    assert_int_equal(as_tz_from_tzif("junk", junk, sizeof(junk), &tz, &err), -1);
    assert_non_null(strstr(err.msg, "not a valid TZif"));
}

/* ---- time of day ---- */

struct tod_row {
    const char *name;
    const char *zone;
    struct as_tod tod;
    int64_t t; /* UTC seconds */
    int want;
};

#define DAY3                                                                                       \
    {                                                                                              \
        3, {0, 480, 1080},                                                                         \
        {                                                                                          \
            1, 3, 1                                                                                \
        }                                                                                          \
    } /* 00:00 1, 08:00 3, 18:00 1 */
#define NIGHT                                                                                      \
    {                                                                                              \
        2, {360, 1320},                                                                            \
        {                                                                                          \
            1, 5                                                                                   \
        }                                                                                          \
    } /* 06:00 1, 22:00 5 */
#define DSTS                                                                                       \
    {                                                                                              \
        3, {0, 150, 240},                                                                          \
        {                                                                                          \
            1, 7, 2                                                                                \
        }                                                                                          \
    } /* 00:00 1, 02:30 7, 04:00 2 */

static const struct tod_row tods[] = {
    {"day: midnight", "UTC", DAY3, MON, 1},
    {"day: 07:59:59", "UTC", DAY3, MON + 8 * H - 1, 1},
    {"day: 08:00 exactly", "UTC", DAY3, MON + 8 * H, 3},
    {"day: 17:59:59", "UTC", DAY3, MON + 18 * H - 1, 3},
    {"day: 18:00", "UTC", DAY3, MON + 18 * H, 1},
    {"day: 23:59:59", "UTC", DAY3, MON + D - 1, 1},
    {"night: 21:59:59", "UTC", NIGHT, MON + 22 * H - 1, 1},
    {"night: 22:00", "UTC", NIGHT, MON + 22 * H, 5},
    {"night: across midnight", "UTC", NIGHT, MON + D, 5},
    {"night: 05:59:59 next day", "UTC", NIGHT, MON + D + 6 * H - 1, 5},
    {"night: 06:00", "UTC", NIGHT, MON + D + 6 * H, 1},
    {"night: before the first entry of the first day", "UTC", NIGHT, 0, 5},
    {"Berlin summer: 08:00 CEST is 06:00 UTC", "Europe/Berlin", DAY3, MON + 6 * H, 3},
    {"Berlin summer: 07:59 CEST", "Europe/Berlin", DAY3, MON + 6 * H - 1, 1},
    {"spring: 01:59:59 CET", "Europe/Berlin", DSTS, SPRING + H - 1, 1},
    {"spring: 03:00 CEST, 02:30 not yet (moved to 03:30)", "Europe/Berlin", DSTS, SPRING + H, 1},
    {"spring: 03:30 CEST", "Europe/Berlin", DSTS, SPRING + H + 1800, 7},
    {"spring: 04:00 CEST", "Europe/Berlin", DSTS, SPRING + 2 * H, 2},
    {"fall: 02:29 CEST", "Europe/Berlin", DSTS, FALL + 1799, 1},
    {"fall: 02:30 CEST", "Europe/Berlin", DSTS, FALL + 1800, 7},
    {"fall: 02:15 CET, the repeated hour keeps 7", "Europe/Berlin", DSTS, FALL + H + 900, 7},
    {"fall: 02:45 CET", "Europe/Berlin", DSTS, FALL + H + 2700, 7},
    {"fall: 04:00 CET", "Europe/Berlin", DSTS, FALL + 3 * H, 2},
    {"one entry: always", "Europe/Berlin", {1, {600}, {4}}, FALL + 3 * H, 4},
};

static void test_tod(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(tods) / sizeof(tods[0]); i++) {
        const struct tod_row *r = &tods[i];
        struct as_tz *tz = zone(r->zone);
        int got = as_tod_at(&r->tod, tz, r->t * 1000);
        if (got != r->want) {
            print_error("%s: got %d want %d\n", r->name, got, r->want);
            fail();
        }
        as_tz_free(tz);
    }
    assert_int_equal(as_tod_at_minute(&tods[6].tod, 0), 5);
    assert_int_equal(as_tod_at_minute(&tods[6].tod, 360), 1);
}

static void test_tod_parse(void **state)
{
    (void)state;
    int m;
    assert_int_equal(as_tod_parse_time("00:00", &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(as_tod_parse_time("23:59", &m), 0);
    assert_int_equal(m, 1439);
    static const char *const bad[] = {"24:00",  "8:00",  "08:60", "08-00", "0800",
                                      "08:00 ", "ab:cd", "",      NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(as_tod_parse_time(bad[i], &m), -1);
}

/* ---- cron ---- */

struct cron_good {
    const char *expr;
    uint64_t minutes;
    uint32_t hours, mdays, months, wdays;
};

#define ALL_H 0xffffffu
#define ALL_MD 0xfffffffeu
#define ALL_MO 0x1ffeu
#define ALL_WD 0x7fu

static const struct cron_good goods[] = {
    {"0 8 * * 1-5", 1, 1u << 8, ALL_MD, ALL_MO, 0x3e},
    {"*/15 * * * *", 1ULL | 1ULL << 15 | 1ULL << 30 | 1ULL << 45, ALL_H, ALL_MD, ALL_MO, ALL_WD},
    {"0 0 1,15 * *", 1, 1, 1u << 1 | 1u << 15, ALL_MO, ALL_WD},
    {"0 9-17/4 * jan-mar mon,FRI", 1, 1u << 9 | 1u << 13 | 1u << 17, ALL_MD, 0xe,
     1u << 1 | 1u << 5},
    {"@daily", 1, 1, ALL_MD, ALL_MO, ALL_WD},
    {"@hourly", 1, ALL_H, ALL_MD, ALL_MO, ALL_WD},
    {"0 0 * * 7", 1, 1, ALL_MD, ALL_MO, 1},
    {"  5/20   0   *  *  *  ", 1ULL << 5 | 1ULL << 25 | 1ULL << 45, 1, ALL_MD, ALL_MO, ALL_WD},
    {"59 23 31 12 6", 1ULL << 59, 1u << 23, 1u << 31, 1u << 12, 1u << 6},
};

struct cron_bad {
    const char *expr;
    int pos;
    const char *msg;
};

static const struct cron_bad bads[] = {
    {"0 8 * *", 7, "expected 5 fields"},
    {"", 0, "expected 5 fields"},
    {"60 * * * *", 0, "minute: out of range (0-59)"},
    {"0 24 * * *", 2, "hour: out of range (0-23)"},
    {"0 8 * * 1-9", 10, "day of week: out of range (0-7)"},
    {"0 8 0 * *", 4, "day of month: out of range (1-31)"},
    {"0 8 * 13 *", 6, "month: out of range (1-12)"},
    {"*/0 * * * *", 2, "minute: step must be from 1 to 60"},
    {"0 8 * * * *", 10, "more than 5 fields"},
    {"5-1 * * * *", 0, "range goes backwards"},
    {"@often", 0, "unknown macro"},
    {"0 8 * * mon-", 12, "day of week: expected a number"},
    {"0,,5 * * * *", 2, "minute: expected a number"},
    {"0 8 * * x", 8, "day of week: expected a number"},
    {"0 8? * * *", 3, "hour: unexpected character '?'"},
};

static void test_cron_parse(void **state)
{
    (void)state;
    char msg[160];
    int pos;
    struct as_cron c;
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        const struct cron_good *g = &goods[i];
        if (as_cron_parse(g->expr, &c, &pos, msg, sizeof(msg)) < 0) {
            print_error("'%s': %d: %s\n", g->expr, pos, msg);
            fail();
        }
        if (c.minutes != g->minutes || c.hours != g->hours || c.mdays != g->mdays ||
            c.months != g->months || c.wdays != g->wdays) {
            print_error("'%s': %llx %x %x %x %x\n", g->expr, (unsigned long long)c.minutes, c.hours,
                        c.mdays, c.months, c.wdays);
            fail();
        }
    }
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        const struct cron_bad *b = &bads[i];
        pos = -1;
        msg[0] = '\0';
        if (as_cron_parse(b->expr, &c, &pos, msg, sizeof(msg)) == 0 || pos != b->pos ||
            strstr(msg, b->msg) == NULL) {
            print_error("'%s': got pos %d '%s', want %d '%s'\n", b->expr, pos, msg, b->pos, b->msg);
            fail();
        }
    }
}

struct prev_row {
    const char *name, *zone, *expr;
    int64_t now, lookback, want; /* want AS_CRON_NONE: none */
};

static const struct prev_row prevs[] = {
    {"weekday 08:00, Monday 09:00", "UTC", "0 8 * * 1-5", MON + 9 * H, 2 * D, MON + 8 * H},
    {"at the minute itself", "UTC", "0 8 * * 1-5", MON + 8 * H, D, MON + 8 * H},
    {"one second before", "UTC", "0 8 * * 1-5", MON + 8 * H - 1, 4 * D, MON - 3 * D + 8 * H},
    {"Saturday looks back to Friday", "UTC", "0 8 * * 1-5", MON + 5 * D + 10 * H, 2 * D,
     MON + 4 * D + 8 * H},
    {"lookback too short", "UTC", "0 8 * * 1-5", MON + 9 * H, H, AS_CRON_NONE},
    {"every 15 minutes", "UTC", "*/15 * * * *", MON + 10 * H + 1000, 3600, MON + 10 * H + 900},
    {"dom or dow: Friday 5 June", "UTC", "0 0 13 * 5", MON + 5 * D, 10 * D, MON + 4 * D},
    {"Berlin 08:00 is 06:00 UTC in summer", "Europe/Berlin", "0 8 * * *", MON + 7 * H, D,
     MON + 6 * H},
    {"spring gap: 02:30 fires at 03:30 CEST", "Europe/Berlin", "30 2 * * *", SPRING + 2 * H, 3 * H,
     SPRING + H + 1800},
    {"spring gap: not before", "Europe/Berlin", "30 2 * * *", SPRING + H + 1799, 3 * H,
     AS_CRON_NONE},
    {"fall overlap: 02:30 fires once, first", "Europe/Berlin", "30 2 * * *", FALL + H + 2700, 6 * H,
     FALL + 1800},
    {"Sydney 09:00", "Australia/Sydney", "0 9 * * *", MON + 12 * H, D, MON - D + 23 * H},
};

static void test_cron_prev(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(prevs) / sizeof(prevs[0]); i++) {
        const struct prev_row *r = &prevs[i];
        struct as_cron c;
        char msg[160];
        int pos;
        assert_int_equal(as_cron_parse(r->expr, &c, &pos, msg, sizeof(msg)), 0);
        struct as_tz *tz = zone(r->zone);
        int64_t got = as_cron_prev(&c, tz, r->now, r->lookback);
        if (got != r->want) {
            print_error("%s: got %lld want %lld\n", r->name, (long long)got, (long long)r->want);
            fail();
        }
        as_tz_free(tz);
    }
}

struct active_row {
    const char *name, *cron, *end;
    int64_t duration_ms, t;
    int want;
};

static const struct active_row actives[] = {
    {"window: before", "0 8 * * 1-5", NULL, 10 * H * 1000, MON + 8 * H - 1, 0},
    {"window: start", "0 8 * * 1-5", NULL, 10 * H * 1000, MON + 8 * H, 1},
    {"window: last second", "0 8 * * 1-5", NULL, 10 * H * 1000, MON + 18 * H - 1, 1},
    {"window: end is exclusive", "0 8 * * 1-5", NULL, 10 * H * 1000, MON + 18 * H, 0},
    {"window: Saturday", "0 8 * * 1-5", NULL, 10 * H * 1000, MON + 5 * D + 9 * H, 0},
    {"window across midnight", "0 22 * * *", NULL, 8 * H * 1000, MON + D + 3 * H, 1},
    {"end cron: 23:00", "0 22 * * *", "0 6 * * *", 0, MON + 23 * H, 1},
    {"end cron: 03:00 next day", "0 22 * * *", "0 6 * * *", 0, MON + D + 3 * H, 1},
    {"end cron: 06:00", "0 22 * * *", "0 6 * * *", 0, MON + D + 6 * H, 0},
    {"end cron: noon", "0 22 * * *", "0 6 * * *", 0, MON + D + 12 * H, 0},
    {"end cron: weekend Fri 18:00 to Mon 06:00", "0 18 * * 5", "0 6 * * 1", 0, MON + 6 * D + 12 * H,
     1},
};

static void test_active(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(actives) / sizeof(actives[0]); i++) {
        const struct active_row *r = &actives[i];
        struct as_sched s = {.end = (char *)r->end, .duration_ms = r->duration_ms};
        char msg[160];
        int pos;
        assert_int_equal(as_cron_parse(r->cron, &s.start_c, &pos, msg, sizeof(msg)), 0);
        if (r->end)
            assert_int_equal(as_cron_parse(r->end, &s.end_c, &pos, msg, sizeof(msg)), 0);
        int got = as_sched_active(&s, NULL, r->t * 1000);
        if (got != r->want) {
            print_error("%s: got %d want %d\n", r->name, got, r->want);
            fail();
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets),    cmocka_unit_test(test_against_libc),
        cmocka_unit_test(test_to_utc),     cmocka_unit_test(test_bad_zones),
        cmocka_unit_test(test_tod),        cmocka_unit_test(test_tod_parse),
        cmocka_unit_test(test_cron_parse), cmocka_unit_test(test_cron_prev),
        cmocka_unit_test(test_active),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
