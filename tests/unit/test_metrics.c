/* /metrics written as the client reads it (src/api/metrics.c) on a real engine of a few hundred
 * groups: the answer is the same whatever the pieces it is read in, and has the format of the
 * answer built whole before (every family, every group once, in order of name); a reload that
 * frees groups in the middle of an answer leaves it well-formed (and ASan checks that nothing
 * freed is read); an answer closed half-read frees everything. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "drivers/engine.h"
#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/util.h"

#define NGROUPS 300

struct rig {
    struct as_loop *loop;
    struct as_http *http;
    struct as_engine *eng;
};

/* Groups prefix000.. in steps of step from first, listed in the file out of name order. */
static void add_groups(struct as_sb *sb, const char *prefix, int first, int n, int step)
{
    for (int k = 0; k < n; k++) {
        int i = first + (k * 7 % n) * step; /* 7 and the counts used here are coprime */
        as_sb_printf(sb,
                     "  %s%03d:\n"
                     "    interval: 1h\n"
                     "    max: %d\n"
                     "    metrics:\n"
                     "      - {name: q, type: exec, command: [echo, '1'], target: 1}\n"
                     "%s"
                     "    scaler: {type: exec, command: [/bin/true]}\n",
                     prefix, i, 5 + i % 4,
                     i % 3 == 0 ? "      - {name: r, type: exec, command: [echo, '2'], "
                                  "average_value: 4}\n"
                                : "");
    }
}

static struct as_config *config(int step, int with_h)
{
    struct as_sb sb = {0};
    struct as_err err;
    as_sb_puts(&sb, "state_dir: ''\nhttp: {listen: ''}\ngroups:\n");
    add_groups(&sb, "g", 0, NGROUPS / step, step);
    if (with_h)
        add_groups(&sb, "h", 0, 100, 1);
    as_err_clear(&err);
    struct as_config *cfg = as_config_parse("metrics.yaml", sb.buf, &err);
    if (cfg == NULL)
        fail_msg("%s", err.msg);
    as_sb_free(&sb);
    return cfg;
}

static void rig_start(struct rig *r)
{
    struct as_engine_opts opts = {.dry_run = 1};
    struct as_config *cfg = config(1, 0);
    struct as_err err;
    as_log_stderr(0);
    r->loop = as_loop_new();
    r->http = as_http_new(r->loop);
    r->eng = as_engine_new(r->loop, r->http, cfg, &opts);
    as_config_unref(cfg);
    assert_non_null(r->eng);
    as_err_clear(&err);
    assert_int_equal(as_engine_start(r->eng, &err), 0);
}

static void on_stopped(void *arg)
{
    *(int *)arg = 1;
}

static void rig_stop(struct rig *r)
{
    int stopped = 0;
    as_engine_shutdown(r->eng, on_stopped, &stopped);
    int64_t end = as_mono_ms() + 5000;
    while (!stopped && as_mono_ms() < end)
        as_loop_once(r->loop, 20);
    assert_true(stopped);
    as_engine_free(r->eng);
    as_http_free(r->http);
    as_loop_free(r->loop);
}

/* Reads s to its end into sb in pieces of step bytes (0: 1, 2, 3 ... 97 and again). */
static void read_rest(struct as_metrics_stream *s, size_t step, struct as_sb *sb)
{
    char *buf = malloc(step ? step : 97);
    assert_non_null(buf);
    for (size_t i = 0;; i++) {
        size_t max = step ? step : 1 + i % 97;
        ssize_t n = as_metrics_read(s, buf, max);
        assert_true(n >= 0 && (size_t)n <= max);
        if (n == 0)
            break;
        assert_int_equal(as_sb_append(sb, buf, (size_t)n), 0);
    }
    free(buf);
}

static char *answer(struct as_engine *eng, size_t step)
{
    struct as_sb sb = {0};
    struct as_metrics_stream *s = as_metrics_open(eng);
    assert_non_null(s);
    read_rest(s, step, &sb);
    as_metrics_close(s);
    assert_non_null(sb.buf);
    return sb.buf;
}

/* The answer without the process' families (its CPU time and memory change between reads). */
static size_t before_process(const char *text)
{
    const char *p = strstr(text, "# HELP process_cpu_seconds_total");
    assert_non_null(p);
    return (size_t)(p - text);
}

/* A family as the answer built whole wrote it: its header, then line(i) for each group in
 * order of name. */
static void expect_family(const char *text, const char *name, const char *type, const char *help,
                          void (*line)(struct as_sb *sb, int i))
{
    struct as_sb want = {0};
    as_sb_printf(&want, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    for (int i = 0; i < NGROUPS; i++)
        line(&want, i);
    as_sb_puts(&want, "# HELP ");
    if (strstr(text, want.buf) == NULL)
        fail_msg("no family %s as expected:\n%.600s", name, want.buf);
    as_sb_free(&want);
}

static void max_line(struct as_sb *sb, int i)
{
    as_sb_printf(sb, "autoscaler_group_max_replicas{group=\"g%03d\"} %d\n", i, 5 + i % 4);
}

static void events_line(struct as_sb *sb, int i)
{
    as_sb_printf(sb,
                 "autoscaler_scale_events_total{group=\"g%03d\",direction=\"up\"} 0\n"
                 "autoscaler_scale_events_total{group=\"g%03d\",direction=\"down\"} 0\n",
                 i, i);
}

static void target_line(struct as_sb *sb, int i)
{
    as_sb_printf(sb, "autoscaler_metric_target{group=\"g%03d\",metric=\"q\"} 1\n", i);
    if (i % 3 == 0)
        as_sb_printf(sb, "autoscaler_metric_target{group=\"g%03d\",metric=\"r\"} 4\n", i);
}

/* Every family has its header, then only its own samples, each group's in order of name
 * (a group may have several lines in a row). Returns how many families. */
static int check_format(const char *text)
{
    char family[128] = "", last[64] = "";
    int families = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        char line[512];
        snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
        p = nl + 1;
        if (strncmp(line, "# HELP ", 7) == 0) {
            snprintf(family, sizeof(family), "%.*s", (int)strcspn(line + 7, " "), line + 7);
            last[0] = '\0';
            families++;
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(strncmp(line + 7, family, strlen(family)), 0);
            continue;
        }
        if (strncmp(line, family, strlen(family)) != 0)
            fail_msg("%s in family %s", line, family);
        const char *g = strstr(line, "{group=\"");
        if (g == NULL)
            continue;
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(g + 8, "\""), g + 8);
        if (strcmp(name, last) < 0)
            fail_msg("%s after group %s", line, last);
        snprintf(last, sizeof(last), "%s", name);
    }
    return families;
}

static void test_pieces_and_format(void **unused)
{
    (void)unused;
    struct rig r;
    rig_start(&r);
    char *whole = answer(r.eng, 1 << 24);
    size_t len = before_process(whole);
    static const size_t steps[] = {1, 7, 100, 4093, 0};
    for (size_t i = 0; i < AS_ARRAY_LEN(steps); i++) {
        char *again = answer(r.eng, steps[i]);
        if (before_process(again) != len || memcmp(again, whole, len) != 0)
            fail_msg("read in pieces of %zu, the answer differs", steps[i]);
        free(again);
    }
    /* the daemon's 17 families, the groups' 26, the notifiers' 6 and the process' 6 */
    assert_int_equal(check_format(whole), 17 + 26 + 6 + 6);
    assert_non_null(strstr(whole, "autoscaler_groups 300\n"));
    expect_family(whole, "autoscaler_group_max_replicas", "gauge",
                  "The max in effect now (schedules applied).", max_line);
    expect_family(whole, "autoscaler_scale_events_total", "counter",
                  "Scales known to have landed, by direction.", events_line);
    expect_family(whole, "autoscaler_metric_target", "gauge",
                  "The metric's target, or its average_value.", target_line);
    free(whole);
    rig_stop(&r);
}

/* How many lines of the family name the group. */
static int lines_of(const char *text, const char *family, const char *group)
{
    char key[160];
    int n = 0;
    snprintf(key, sizeof(key), "\n%s{group=\"%s\"", family, group);
    for (const char *p = strstr(text, key); p; p = strstr(p + 1, key))
        n++;
    return n;
}

static void test_reload_in_the_middle(void **unused)
{
    (void)unused;
    struct rig r;
    rig_start(&r);
    struct as_metrics_stream *s = as_metrics_open(r.eng);
    assert_non_null(s);
    struct as_sb sb = {0};
    char buf[1000];
    while (sb.len < 100000) { /* into the groups' families */
        ssize_t n = as_metrics_read(s, buf, sizeof(buf));
        assert_true(n > 0);
        as_sb_append(&sb, buf, (size_t)n);
    }
    /* Every odd group goes (and is freed at once: nothing of it is in flight), h000..h099
     * come. */
    struct as_config *cfg = config(2, 1);
    struct as_err err;
    as_err_clear(&err);
    assert_int_equal(as_engine_reload(r.eng, cfg, &err), 0);
    as_config_unref(cfg);
    read_rest(s, 0, &sb);
    as_metrics_close(s);
    assert_int_equal(check_format(sb.buf), 17 + 26 + 6 + 6);
    const char *last = "autoscaler_measurements_skipped_total";
    assert_int_equal(lines_of(sb.buf, last, "g006"), 2);
    assert_int_equal(lines_of(sb.buf, last, "g001"), 0);
    assert_int_equal(lines_of(sb.buf, last, "h041"), 1);
    const char *first = "autoscaler_group_min_replicas"; /* written before the reload */
    assert_int_equal(lines_of(sb.buf, first, "g001"), 1);
    assert_int_equal(lines_of(sb.buf, first, "h041"), 0);
    as_sb_free(&sb);
    rig_stop(&r);
}

/* A client that goes away: the stream is closed half-read (LeakSanitizer checks the rest). */
static void test_closed_half_read(void **unused)
{
    (void)unused;
    struct rig r;
    rig_start(&r);
    struct as_metrics_stream *s = as_metrics_open(r.eng);
    char buf[5000];
    assert_non_null(s);
    for (int i = 0; i < 20; i++)
        assert_true(as_metrics_read(s, buf, sizeof(buf)) > 0);
    as_metrics_close(s);
    rig_stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_and_format),
        cmocka_unit_test(test_reload_in_the_middle),
        cmocka_unit_test(test_closed_half_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
