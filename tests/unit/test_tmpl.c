/* The template language (util/tmpl.h) and the event fields it renders (core/event.h): every
 * construct, every compile error at its byte offset, and what an event's fields read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "util/log.h"
#include "util/tmpl.h"

static struct as_ev event(void)
{
    struct as_ev ev;
    as_ev_init(&ev, AS_EV_ABOVE_MAX, "web", 1795388968253LL); /* 2026-11-22T... */
    ev.from = 5;
    ev.to = 5;
    ev.wanted = 8;
    ev.min = 1;
    ev.max = 5;
    ev.nmetrics = 2;
    ev.metrics[0] = (struct as_ev_metric){"cpu", 1, 1.28, 0.8, 0};
    ev.metrics[1] = (struct as_ev_metric){"queue", 0, 0, 20, 1};
    as_ev_reason(&ev, "ceil(5*1.28/0.8)=8; capped at max 5 (from 8)");
    return ev;
}

/* The rendering of text over ev, or the compile error as "ERR@offset: message". */
static char *render(const char *text, const struct as_ev *ev)
{
    struct as_tmpl *t;
    size_t pos;
    char msg[160];
    struct as_sb sb = {0};
    if (as_tmpl_compile(text, as_ev_field_known, &t, &pos, msg, sizeof(msg)) < 0) {
        as_sb_printf(&sb, "ERR@%zu: %s", pos, msg);
        return sb.buf;
    }
    struct as_ev_view view = {ev, "ops"};
    assert_int_equal(as_tmpl_render(t, as_ev_field, &view, &sb), 0);
    as_tmpl_free(t);
    return sb.buf;
}

static void expect(const char *text, const struct as_ev *ev, const char *want)
{
    char *got = render(text, ev);
    if (strcmp(got, want) != 0) {
        print_error("template \"%s\": got \"%s\", want \"%s\"\n", text, got, want);
        free(got);
        fail();
    }
    free(got);
}

static void test_language(void **unused)
{
    (void)unused;
    struct as_ev ev = event();
    expect("", &ev, "");
    expect("plain", &ev, "plain");
    expect("{{group}} {{kind}} {{from}}->{{to}} ({{wanted}})", &ev, "web above_max 5->5 (8)");
    expect("{{ group }}|{{\tmin\t}}", &ev, "web|1");
    expect("{{#repeats}}and {{repeats}} more{{/repeats}}.", &ev, ".");
    expect("{{^repeats}}first{{/repeats}}", &ev, "first");
    ev.repeats = 12;
    expect("x{{#repeats}} (and {{repeats}} more like it){{/repeats}}", &ev,
           "x (and 12 more like it)");
    expect("{{^repeats}}first{{/repeats}}", &ev, "");
    expect("{{#metric}}[{{metric}}]{{/metric}}-", &ev, "-");
    expect("{{#wanted}}{{#max}}{{wanted}}>{{max}}{{/max}}{{/wanted}}", &ev, "8>5");
    expect("a{{! a comment }}b", &ev, "ab");
    expect("{{\"{{\"}}group{{\"}}\"}}", &ev, "{{group}}");
    expect("{{ \"a \\\" }}\" }}", &ev, "a \\\" }}");
    expect("}} {", &ev, "}} {");
    expect("{{value.cpu}}/{{target.cpu}} {{value.queue}}/{{target.queue}} [{{value.nope}}]", &ev,
           "1.28/0.8 failed/20 []");
    expect("{{values}}", &ev, "cpu=1.28 (target 0.8), queue=failed (average_value 20)");
    expect("{{time}} {{unix}}", &ev, "2026-11-22T23:09:28.253Z 1795388968");
    expect("{{notifier}} {{direction}}", &ev, "ops up");
    expect("{{summary}}", &ev, "web: wants 8, above max 5 (current 5, desired 5)");
}

static void test_errors(void **unused)
{
    (void)unused;
    struct as_ev ev = event();
    expect("ab {{grop}}", &ev, "ERR@5: unknown field 'grop'");
    expect("{{group", &ev, "ERR@0: '{{' without '}}'");
    expect("x {{}}", &ev, "ERR@4: a tag without a name");
    expect("{{gr oup}}", &ev, "ERR@4: ' ' in a name (names are letters, digits, _ . -)");
    expect("{{#group}}x", &ev, "ERR@3: the section {{#group}} is not closed");
    expect("{{#group}}x{{/kind}}", &ev, "ERR@11: {{/kind}} closes the section {{#group}}");
    expect("x{{/kind}}", &ev, "ERR@1: {{/kind}} closes no section");
    expect("{{\"abc}}", &ev, "ERR@0: '{{' without '}}'");
    char deep[256] = "", *p = deep;
    for (int i = 0; i < AS_TMPL_DEPTH + 1; i++)
        p += sprintf(p, "{{#group}}");
    expect(deep, &ev, "ERR@80: sections nested more than 8 deep");
    char *big = malloc(AS_TMPL_TEXT_MAX + 2);
    assert_non_null(big);
    memset(big, 'a', AS_TMPL_TEXT_MAX + 1);
    big[AS_TMPL_TEXT_MAX + 1] = '\0';
    expect(big, &ev, "ERR@16384: longer than 16384 bytes");
    for (int i = 0; i < AS_TMPL_NODES_MAX + 1; i++)
        memcpy(big + i * 8, "{{kind}}", 8);
    big[(AS_TMPL_NODES_MAX + 1) * 8] = '\0';
    expect(big, &ev, "ERR@8192: more than 1024 text runs and tags");
    free(big);
}

/* A rendering is cut at AS_TMPL_OUT_MAX bytes. */
static void test_output_bound(void **unused)
{
    (void)unused;
    struct as_ev ev = event();
    as_ev_reason(&ev, "%0300d", 7);
    struct as_sb text = {0};
    for (int i = 0; i < 1000; i++)
        as_sb_puts(&text, "{{reason}}");
    char *out = render(text.buf, &ev);
    assert_int_equal(strlen(out), AS_TMPL_OUT_MAX);
    free(out);
    as_sb_free(&text);
}

/* Secrets and bytes that are not UTF-8 never stay in an event; the JSON form is complete. */
static void test_event_texts_and_json(void **unused)
{
    (void)unused;
    as_log_secret("hunter2-secret", 14);
    struct as_ev ev = event();
    as_ev_init(&ev, AS_EV_SOURCE_FAILED, "web", 1000);
    snprintf(ev.metric, sizeof(ev.metric), "cpu");
    as_ev_reason(&ev, "GET /x?t=hunter2-secret: HTTP 500: \xff\xfe bad\tbyte \xc3\xa9");
    assert_string_equal(ev.reason, "GET /x?t=***: HTTP 500: ?? bad?byte \xc3\xa9");
    json_t *doc = as_ev_json(&ev, "ops", "the text", "text");
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "text")), "the text");
    assert_string_equal(json_string_value(json_object_get(doc, "kind")), "source_failed");
    assert_string_equal(json_string_value(json_object_get(doc, "metric")), "cpu");
    assert_string_equal(json_string_value(json_object_get(doc, "notifier")), "ops");
    assert_true(json_is_null(json_object_get(doc, "from")));
    assert_string_equal(json_string_value(json_object_get(doc, "time")),
                        "1970-01-01T00:00:01.000Z");
    json_decref(doc);
    ev = event();
    doc = as_ev_json(&ev, NULL, "t", "content");
    assert_non_null(json_object_get(doc, "content"));
    assert_int_equal(json_integer_value(json_object_get(doc, "wanted")), 8);
    json_t *m = json_array_get(json_object_get(doc, "metrics"), 1);
    assert_true(json_is_null(json_object_get(m, "value")));
    assert_int_equal((int)json_real_value(json_object_get(m, "average_value")), 20);
    json_decref(doc);
    as_log_secrets_clear();
}

static void test_kinds(void **unused)
{
    (void)unused;
    for (int k = 0; k < AS_EV_KINDS; k++) {
        assert_int_equal(as_ev_kind_parse(as_ev_kind_name((enum as_ev_kind)k)), k);
        struct as_ev ev;
        char buf[256];
        as_ev_init(&ev, (enum as_ev_kind)k, "g", 0);
        assert_non_null(strstr(as_ev_summary(&ev, buf, sizeof(buf)), "g: "));
    }
    assert_int_equal(as_ev_kind_parse("leader_changed"), -1);
    assert_null(as_ev_kind_name(AS_EV_KINDS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_language),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_output_bound), cmocka_unit_test(test_event_texts_and_json),
        cmocka_unit_test(test_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
