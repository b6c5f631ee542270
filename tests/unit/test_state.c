/* State persistence: a round trip keeps every window, event, counter, intent and count; a
 * corrupt, foreign or out-of-range file is reported and ignored; restored stamps are moved by
 * the time on disk (the wall clock's, never negative) and never lie after now; state_dir is
 * created, and checked without creating anything. (The atomic write itself: test_writer.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/state.h"
#include "drivers/persist.h"

struct counter {
    int runs;
};

static int save(const void *cfg, const void *state, json_t *obj)
{
    (void)cfg;
    return json_object_set_new(obj, "runs", json_integer(((const struct counter *)state)->runs));
}

static int load_counter(const void *cfg, void *state, const json_t *obj)
{
    (void)cfg;
    json_t *r = json_object_get(obj, "runs");
    if (!json_is_integer(r))
        return -1;
    ((struct counter *)state)->runs = (int)json_integer_value(r);
    return 0;
}

static const struct as_opt no_opts[] = {AS_OPT_END};
static const struct as_policy_ops counting = {
    .name = "counting",
    .opts = no_opts,
    .state_size = sizeof(struct counter),
    .save = save,
    .load = load_counter};

static struct as_group_cfg group(const struct as_policy_ops *p)
{
    struct as_group_cfg g = {
        .name = "web", .min = 1, .max = 10, .policy = p, .override = -1, .history = 10};
    as_behavior_defaults(&g.behavior);
    return g;
}

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/as-test-state-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#define NOW 2000000LL

/* Saves st as the daemon does, at decision clock NOW and wall clock NOW. */
static void save_file(const struct as_group_cfg *g, const struct as_group_state *st)
{
    char path[128];
    size_t len;
    char *text = as_persist_text(g, st, NOW, NOW, &len);
    assert_non_null(text);
    assert_int_equal(as_persist_path(path, sizeof(path), dir, g->name), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    free(text);
}

/* Loads with the decision clock and the wall clock at now / wall. */
static int load_at(const struct as_group_cfg *g, struct as_group_state *st, int64_t now,
                   int64_t wall, struct as_restore *r, struct as_err *err)
{
    *r = (struct as_restore){.now_ms = now, .wall_ms = wall};
    return as_persist_load(dir, g, st, r, err);
}

static int load(const struct as_group_cfg *g, struct as_group_state *st, struct as_err *err)
{
    struct as_restore r;
    return load_at(g, st, NOW, NOW, &r, err);
}

static void fill(const struct as_group_cfg *g, struct as_group_state *st)
{
    int limited;
    for (int i = 0; i < 5; i++)
        as_behavior_stabilize(&g->behavior, &st->recs, 1000000 + i * 15000, 4, 4 + i, &limited);
    as_decide_scaled(g, st, 1030000, 4, 6);
    as_decide_scaled(g, st, 1060000, 6, 3);
    st->seeded = 1;
    st->idle = 1;
    st->failures = 2;
    st->idle_since_ms = 999;
    ((struct counter *)as_policy_state(st, g))->runs = 7;
}

static void test_round_trip(void **unused)
{
    (void)unused;
    struct as_group_cfg g = group(&counting);
    struct as_group_state st = {0}, back = {0};
    struct as_err err;
    fill(&g, &st);
    as_decide_intent(&st, 1090000, 3, 5);
    save_file(&g, &st);
    assert_int_equal(load(&g, &back, &err), 1);
    assert_int_equal(back.recs.n, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(back.recs.v[i].t, st.recs.v[i].t);
        assert_int_equal(back.recs.v[i].value, st.recs.v[i].value);
    }
    assert_int_equal(back.up.n, 1);
    assert_int_equal(back.up.v[0].value, 2);
    assert_int_equal(back.down.n, 1);
    assert_int_equal(back.down.v[0].value, 3);
    assert_int_equal(back.last_scale_ms, 1060000);
    assert_int_equal(back.nscales, 2);
    assert_int_equal(back.scales->t[0], 1060000);
    assert_int_equal(back.failures, 2);
    assert_int_equal(back.idle_since_ms, 999);
    assert_true(back.seeded);
    assert_int_equal(((struct counter *)back.policy)->runs, 7);
    assert_true(back.idle);
    assert_true(back.scaled_up);
    assert_int_equal(back.last_up_ms, 1030000);
    assert_int_equal(back.history.n, 2); /* the two scales, newest first */
    assert_int_equal(as_history_get(&back, 0)->to, 3);
    assert_int_equal(as_history_get(&back, 1)->to, 6);
    assert_int_equal(as_history_get(&back, 1)->t, 1030000);
    assert_true(back.count_known); /* the count the last scale set */
    assert_int_equal(back.count, 3);
    assert_true(back.pending); /* the intent in flight */
    assert_int_equal(back.intent.t, 1090000);
    assert_int_equal(back.intent.from, 3);
    assert_int_equal(back.intent.to, 5);
    as_group_state_free(&st);
    as_group_state_free(&back);
}

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_corrupt_and_foreign(void **unused)
{
    (void)unused;
    struct as_group_cfg g = group(&counting);
    const char *bad[] = {
        "{\"version\":1,",
        "[]",
        "{\"version\":2,\"group\":\"web\"}",
        "{\"version\":1,\"group\":\"api\",\"seeded\":true,\"recommendations\":[],"
        "\"scale_up_events\":[],\"scale_down_events\":[],\"last_scale_ms\":0,\"failures\":0,"
        "\"idle_since_ms\":0,\"scales\":[]}",
        "{\"version\":1,\"group\":\"web\",\"seeded\":true,\"recommendations\":[[1,\"x\"]],"
        "\"scale_up_events\":[],\"scale_down_events\":[],\"last_scale_ms\":0,\"failures\":0,"
        "\"idle_since_ms\":0,\"scales\":[]}",
        "{\"version\":1,\"group\":\"web\",\"seeded\":true,\"recommendations\":[],"
        "\"scale_up_events\":[[1,2]],\"scale_down_events\":[],\"last_scale_ms\":0,"
        "\"failures\":0,\"idle_since_ms\":0,\"scales\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct as_group_state st = {0};
        struct as_err err;
        as_err_clear(&err);
        write_file("web.json", bad[i]);
        if (load(&g, &st, &err) != -1 || st.recs.n != 0 || st.up.n != 0)
            fail_msg("case %zu loaded", i);
        assert_non_null(strstr(err.msg, "web.json"));
        as_group_state_free(&st);
    }
    /* A policy state that does not read back is dropped; the rest is kept. */
    write_file("web.json",
               "{\"version\":1,\"group\":\"web\",\"seeded\":true,\"recommendations\":"
               "[[5,3]],\"scale_up_events\":[],\"scale_down_events\":[],"
               "\"last_scale_ms\":42,\"failures\":0,\"idle_since_ms\":0,"
               "\"scales\":[],\"policy_type\":\"counting\",\"policy\":{\"runs\":\"x\"}}");
    struct as_group_state st = {0};
    struct as_err err;
    assert_int_equal(load(&g, &st, &err), 1);
    assert_int_equal(st.last_scale_ms, 42);
    assert_null(st.policy); /* it did not read back: the policy starts fresh */
    as_group_state_free(&st);
    /* No file: nothing restored, no error. */
    char path[128];
    snprintf(path, sizeof(path), "%s/web.json", dir);
    unlink(path);
    assert_int_equal(load(&g, &st, &err), 0);
}

/* A valid document with one number out of range: the whole file is rejected. */
static void test_out_of_range(void **unused)
{
    (void)unused;
    struct as_group_cfg g = group(&counting);
    static const char *const head =
        "{\"version\":2,\"group\":\"web\",\"saved_ms\":1000,\"saved_wall_ms\":1000,"
        "\"seeded\":true,";
    const char *bad[] = {
        /* event sizes that would overflow a sum */
        "\"recommendations\":[],\"scale_up_events\":[[1,2147483647,false],[2,2147483647,false]],"
        "\"scale_down_events\":[],\"last_scale_ms\":0,\"failures\":0,\"idle_since_ms\":0,"
        "\"scales\":[]}",
        "\"recommendations\":[[1,-1]],\"scale_up_events\":[],\"scale_down_events\":[],"
        "\"last_scale_ms\":0,\"failures\":0,\"idle_since_ms\":0,\"scales\":[]}",
        "\"recommendations\":[[-5,1]],\"scale_up_events\":[],\"scale_down_events\":[],"
        "\"last_scale_ms\":0,\"failures\":0,\"idle_since_ms\":0,\"scales\":[]}",
        "\"recommendations\":[[9223372036854775807,1]],\"scale_up_events\":[],"
        "\"scale_down_events\":[],\"last_scale_ms\":0,\"failures\":0,\"idle_since_ms\":0,"
        "\"scales\":[]}",
        "\"recommendations\":[],\"scale_up_events\":[],\"scale_down_events\":[],"
        "\"last_scale_ms\":1e300,\"failures\":0,\"idle_since_ms\":0,\"scales\":[]}",
        "\"recommendations\":[],\"scale_up_events\":[],\"scale_down_events\":[],"
        "\"last_scale_ms\":0,\"failures\":-3,\"idle_since_ms\":0,\"scales\":[]}",
        "\"recommendations\":[],\"scale_up_events\":[],\"scale_down_events\":[],"
        "\"last_scale_ms\":0,\"failures\":0,\"idle_since_ms\":0,\"scales\":[],"
        "\"count\":4000000000}",
        "\"recommendations\":[],\"scale_up_events\":[],\"scale_down_events\":[],"
        "\"last_scale_ms\":0,\"failures\":0,\"idle_since_ms\":0,\"scales\":[],"
        "\"pending\":[5,1,-2]}",
        "\"recommendations\":[],\"scale_up_events\":[],\"scale_down_events\":[],"
        "\"last_scale_ms\":0,\"failures\":0,\"idle_since_ms\":0,\"scales\":[],"
        "\"history\":[[5,1,2147483648,\"x\"]]}",
        "\"recommendations\":[],\"scale_up_events\":[],\"scale_down_events\":[],"
        "\"last_scale_ms\":0,\"failures\":0,\"idle_since_ms\":0,"
        "\"scales\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,"
        "28,29,30,31,32,33]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), "%s%s", head, bad[i]);
        write_file("web.json", text);
        struct as_group_state st = {0};
        struct as_err err;
        if (load(&g, &st, &err) != -1)
            fail_msg("case %zu loaded", i);
        assert_int_equal(st.up.n + st.recs.n + (size_t)st.pending + (size_t)st.count_known, 0);
        as_group_state_free(&st);
    }
}

/* Saved at decision clock 1000 s and wall clock W; restored later. */
static void save_at(const struct as_group_cfg *g, int64_t dec, int64_t wall)
{
    struct as_group_state st = {0};
    st.last_scale_ms = dec - 10000; /* a scale 10 s before the save */
    as_decide_intent(&st, dec - 5000, 2, 4);
    char path[128];
    size_t len;
    char *text = as_persist_text(g, &st, dec, wall, &len);
    as_persist_path(path, sizeof(path), dir, g->name);
    FILE *f = fopen(path, "w");
    fwrite(text, 1, len, f);
    fclose(f);
    free(text);
    as_group_state_free(&st);
}

/* The time on disk is the wall clock's: a restart 60 s later sees the scale 70 s ago, however
 * the old decision clock had drifted from the wall clock. */
static void test_time_on_disk(void **unused)
{
    (void)unused;
    struct as_group_cfg g = group(&counting);
    struct as_group_state st = {0};
    struct as_restore r;
    struct as_err err;
    /* The old process's decision clock ran an hour behind the wall clock (it stepped forward
     * while the daemon ran): the scale is still 70 s old, not an hour. */
    save_at(&g, 1000000, 1000000 + 3600000);
    assert_int_equal(load_at(&g, &st, 5000000, 1000000 + 3600000 + 60000, &r, &err), 1);
    assert_int_equal(5000000 - st.last_scale_ms, 70000);
    assert_int_equal(5000000 - st.intent.t, 65000);
    assert_int_equal(r.future_ms, 0);
    assert_int_equal(r.clamped, 0);
    as_group_state_free(&st);
    memset(&st, 0, sizeof(st));
    /* The wall clock stepped back an hour while the daemon was down: the file looks saved in
     * the future; its age counts as 0, nothing lies after now. */
    save_at(&g, 9000000, 9000000);
    assert_int_equal(load_at(&g, &st, 20000000, 9000000 - 3600000, &r, &err), 1);
    assert_int_equal(r.future_ms, 3600000);
    assert_int_equal(20000000 - st.last_scale_ms, 10000);
    assert_int_equal(20000000 - st.intent.t, 5000);
    as_group_state_free(&st);
    memset(&st, 0, sizeof(st));
    /* A version 1 file (wall clock stamps, no save time) with a stamp in the future: clamped. */
    write_file("web.json",
               "{\"version\":1,\"group\":\"web\",\"seeded\":true,\"recommendations\":"
               "[[5,3],[99999999,4]],\"scale_up_events\":[],\"scale_down_events\":[],"
               "\"last_scale_ms\":88888888,\"failures\":0,\"idle_since_ms\":0,\"scales\":[]}");
    assert_int_equal(load_at(&g, &st, 1000000, 1000000, &r, &err), 1);
    assert_int_equal(r.clamped, 2);
    assert_int_equal(st.recs.v[1].t, 1000000);
    assert_int_equal(st.last_scale_ms, 1000000);
    as_group_state_free(&st);
}

/* A state file that is a FIFO is refused at once, never read (which would block). */
static void test_fifo_refused(void **unused)
{
    (void)unused;
    struct as_group_cfg g = group(&counting);
    struct as_group_state st = {0};
    struct as_err err;
    char path[128];
    snprintf(path, sizeof(path), "%s/web.json", dir);
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(load(&g, &st, &err), -1);
    assert_non_null(strstr(err.msg, "not a regular file"));
    unlink(path);
}

static void test_dir_init_and_check(void **unused)
{
    (void)unused;
    char nested[160], file[160], under[200];
    struct as_err err;
    snprintf(nested, sizeof(nested), "%s/a/b/c", dir);
    assert_int_equal(as_persist_dir_check(nested, &err), 0); /* could be created ... */
    struct stat sb;
    assert_int_equal(stat(nested, &sb), -1); /* ... and was not */
    assert_int_equal(as_persist_dir_init(nested, &err), 0);
    assert_int_equal(as_persist_dir_init(nested, &err), 0); /* exists: fine */
    assert_int_equal(stat(nested, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    /* Under a regular file nothing can be created (this stops root as well as anyone). */
    snprintf(file, sizeof(file), "%s/plain", dir);
    write_file("plain", "x");
    snprintf(under, sizeof(under), "%s/sub/state", file);
    assert_int_equal(as_persist_dir_check(under, &err), -1);
    assert_non_null(strstr(err.msg, "not a directory"));
    assert_int_equal(as_persist_dir_init(under, &err), -1);
    assert_int_equal(as_persist_dir_check(file, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_corrupt_and_foreign),
        cmocka_unit_test(test_out_of_range), cmocka_unit_test(test_time_on_disk),
        cmocka_unit_test(test_fifo_refused), cmocka_unit_test(test_dir_init_and_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
