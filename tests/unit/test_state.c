/* State persistence: a round trip keeps every window, event and counter; a corrupt or foreign
 * file is reported and ignored; the write is atomic (no temporary file left, old file intact
 * when the directory cannot be written). */
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

struct counter {
    int runs;
};

static int save(const void *cfg, const void *state, json_t *obj)
{
    (void)cfg;
    return json_object_set_new(obj, "runs", json_integer(((const struct counter *)state)->runs));
}

static int load(const void *cfg, void *state, const json_t *obj)
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
    .name = "counting", .opts = no_opts, .save = save, .load = load};

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
    ((struct counter *)st->policy)->runs = 7;
}

static void test_round_trip(void **unused)
{
    (void)unused;
    struct as_group_cfg g = group(&counting);
    struct as_group_state st = {0}, back = {0};
    struct as_err err;
    fill(&g, &st);
    assert_int_equal(as_state_save(dir, &g, &st, 1, &err), 0);
    assert_int_equal(as_state_load(dir, &g, &back, &err), 1);
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
    assert_int_equal(back.scales[0], 1060000);
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
    char tmp[128];
    snprintf(tmp, sizeof(tmp), "%s/web.json.tmp", dir);
    assert_int_equal(access(tmp, F_OK), -1); /* renamed into place */
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
        if (as_state_load(dir, &g, &st, &err) != -1 || st.recs.n != 0 || st.up.n != 0)
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
    assert_int_equal(as_state_load(dir, &g, &st, &err), 1);
    assert_int_equal(st.last_scale_ms, 42);
    assert_int_equal(((struct counter *)st.policy)->runs, 0);
    as_group_state_free(&st);
    /* No file: nothing restored, no error. */
    char path[128];
    snprintf(path, sizeof(path), "%s/web.json", dir);
    unlink(path);
    assert_int_equal(as_state_load(dir, &g, &st, &err), 0);
}

static void test_failed_write_keeps_old(void **unused)
{
    (void)unused;
    struct as_group_cfg g = group(&counting);
    struct as_group_state st = {0}, back = {0};
    struct as_err err;
    fill(&g, &st);
    assert_int_equal(as_state_save(dir, &g, &st, 1, &err), 0);
    /* The temporary file cannot be created (a directory is in its way, which stops root as
     * well as anyone): the save fails and the old file stays whole. */
    char tmp[128];
    snprintf(tmp, sizeof(tmp), "%s/web.json.tmp", dir);
    assert_int_equal(mkdir(tmp, 0700), 0);
    st.failures = 9;
    assert_int_equal(as_state_save(dir, &g, &st, 1, &err), -1);
    assert_non_null(strstr(err.msg, "cannot write"));
    rmdir(tmp);
    assert_int_equal(as_state_load(dir, &g, &back, &err), 1);
    assert_int_equal(back.failures, 2);
    as_group_state_free(&st);
    as_group_state_free(&back);
}

static void test_dir_init(void **unused)
{
    (void)unused;
    char nested[160];
    struct as_err err;
    snprintf(nested, sizeof(nested), "%s/a/b/c", dir);
    assert_int_equal(as_state_dir_init(nested, &err), 0);
    assert_int_equal(as_state_dir_init(nested, &err), 0); /* exists: fine */
    struct stat sb;
    assert_int_equal(stat(nested, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_corrupt_and_foreign),
        cmocka_unit_test(test_failed_write_keeps_old),
        cmocka_unit_test(test_dir_init),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
