/* util/xml: the strict, bounded XML reader. Each accepted document is checked by the trace of
 * its events ("+A +B =B:text -A"), each refused one by the reason and byte offset it gives. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "util/xml.h"

struct trace {
    char out[2048];
    int stop_at; /* stop the walk at this event (1-based), 0 never */
    int events;
};

/* "+name" for an open, "=name:text" for a close with text, "-name" for a close without. */
static int record(enum as_xml_event ev, const struct as_xml_path *path, const char *text,
                  size_t len, void *arg, struct as_err *err)
{
    struct trace *t = arg;
    size_t n = strlen(t->out);
    const char *name = path->name[path->depth - 1];
    if (ev == AS_XML_OPEN)
        snprintf(t->out + n, sizeof(t->out) - n, "%s+%s", n ? " " : "", name);
    else if (text)
        snprintf(t->out + n, sizeof(t->out) - n, "%s=%s:%.*s", n ? " " : "", name, (int)len, text);
    else
        snprintf(t->out + n, sizeof(t->out) - n, "%s-%s", n ? " " : "", name);
    if (text && strlen(text) != len)
        return as_err_set(err, "text length %zu but strlen %zu", len, strlen(text));
    if (++t->events == t->stop_at)
        return t->stop_at % 2 ? as_err_set(err, "stopped by the callback") : 1;
    return 0;
}

static void test_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        const char *trace;
    } cases[] = {
        {"<a/>", "+a =a:"},
        {"<a></a>", "+a =a:"},
        {"<a>x</a>", "+a =a:x"},
        {"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a>x</a>\n", "+a =a:x"},
        {"<!-- before --><?pi x?>\n<a>1</a><!-- after -->\n<?pi?>\n ", "+a =a:1"},
        {"<R xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">\n  <B>\n    <C>7</C>\n"
         "    <D />\n  </B>\n</R>\n",
         "+R +B +C =C:7 +D =D: -B -R"},
        {"<p:a xmlns:p=\"urn:x\"><p:b>t</p:b></p:a>", "+a +b =b:t -a"},
        {"<a k='v' k2 = \"w&amp;&#x41;\"\t>v</a >", "+a =a:v"},
        {"<a>&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#xe9;&#x1F600;</a>",
         "+a =a:<>&\"'AB\xC3\xA9\xF0\x9F\x98\x80"},
        {"<a><![CDATA[<not> &a; tag]]></a>", "+a =a:<not> &a; tag"},
        {"<\xC3\xA9t\xC3\xA9>x</\xC3\xA9t\xC3\xA9>", "+\xC3\xA9t\xC3\xA9 =\xC3\xA9t\xC3\xA9:x"}, /* XML names */
        {"<a>x<![CDATA[]]]]><![CDATA[>]]>y</a>", "+a =a:x]]>y"},
        {"<a>l1\r\nl2\rl3</a>", "+a =a:l1\nl2\nl3"},
        {"<a>caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80</a>",
         "+a =a:caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
        {"<a>\n <!-- c --> <b/> <?p?>\n</a>", "+a +b =b: -a"},
        {"<a>]></a>", "+a =a:]>"},
        {"<m><member>1</member><member>2</member></m>",
         "+m +member =member:1 +member =member:2 -m"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct trace t = {0};
        struct as_err err;
        if (as_xml_parse(cases[i].doc, strlen(cases[i].doc), record, &t, &err) != 0)
            fail_msg("case %zu: %s", i, err.msg);
        if (strcmp(t.out, cases[i].trace) != 0)
            fail_msg("case %zu: '%s'", i, t.out);
    }
}

static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        const char *error;
    } cases[] = {
        {"", "XML: no root element at byte 0"},
        {"   ", "XML: no root element at byte 3"},
        {"text", "XML: a root element expected at byte 0"},
        {"<a>", "XML: unexpected end of document at byte 3"},
        {"<a></b>", "XML: an end tag that does not match its start tag at byte 5"},
        {"<a/><b/>", "XML: content after the root element at byte 4"},
        {"<a/>x", "XML: content after the root element at byte 4"},
        {"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
         "XML: a DOCTYPE or declaration (refused) at byte 12"},
        {"<a><!DOCTYPE a></a>", "XML: not well-formed (invalid token) at byte 5"},
        {"<a>&x;</a>", "XML: unknown entity at byte 3"},
        {"<a>&#0;</a>", "XML: bad character reference"},
        {"<a>&#xD800;</a>", "XML: bad character reference"},
        {"<a>&#x110000;</a>", "XML: bad character reference"},
        {"<a>&#;</a>", "XML: not well-formed (invalid token) at byte 5"},
        {"<a>&#1234567890;</a>", "XML: bad character reference"},
        {"<a>&amp</a>", "XML: not well-formed (invalid token) at byte 7"},
        {"<a>x<b/></a>", "XML: text beside child elements"},
        {"<a><b/>x</a>", "XML: text beside child elements"},
        {"<a><![CDATA[x]]><b/></a>", "XML: text beside child elements"},
        {"<a>]]></a>", "XML: not well-formed (invalid token) at byte 5"},
        {"<a>\x01</a>", "XML: not well-formed (invalid token) at byte 3"},
        {"<a>\xC3</a>", "XML: not well-formed (invalid token) at byte 3"},
        {"<a>\xC0\x80</a>", "XML: not well-formed (invalid token) at byte 3"},
        {"<a>\xED\xA0\x80</a>", "XML: not well-formed (invalid token) at byte 3"},
        {"<a>\xEF\xBF\xBE</a>", "XML: not well-formed (invalid token) at byte 3"},
        {"<a>\xF4\x90\x80\x80</a>", "XML: not well-formed (invalid token) at byte 3"},
        {"<a>\xFF</a>", "XML: not well-formed (invalid token) at byte 3"},
        {"<a><!-- a -- b --></a>", "XML: not well-formed (invalid token) at byte 12"},
        {"<a><!-- x</a>", "XML: unclosed token at byte 3"},
        {"<a><![CDATA[x</a>", "XML: unterminated CDATA section"},
        {"<a><?p x</a>", "XML: unclosed token at byte 3"},
        {"<![CDATA[x]]><a/>", "XML: a root element expected at byte 0"},
        {"<a b></a>", "XML: not well-formed (invalid token) at byte 4"},
        {"<a b=c></a>", "XML: not well-formed (invalid token) at byte 5"},
        {"<a b=\"c\"d=\"e\"></a>", "XML: not well-formed (invalid token) at byte 8"},
        {"<a b=\"<\"></a>", "XML: not well-formed (invalid token) at byte 6"},
        {"<a b=\"c", "XML: unclosed token at byte 0"},
        {"<a", "XML: unclosed token at byte 0"},
        {"<1a/>", "XML: not well-formed (invalid token) at byte 1"},
        {"<a:/>", "XML: a name without a local part"},
        {"<a>< b/></a>", "XML: not well-formed (invalid token) at byte 4"},
        {"<a></a x>", "XML: not well-formed (invalid token) at byte 7"},
        {"<a b=\"1\" b=\"2\"/>", "XML: duplicate attribute"},
        {"<a><?xml version=\"1.0\"?></a>", "XML: "},
        {"\xFF\xFE<", "XML: not UTF-8 at byte 0"}, /* UTF-16 byte order marks */
        {"\xFE\xFF<", "XML: not UTF-8 at byte 0"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct trace t = {0};
        struct as_err err;
        if (as_xml_parse(cases[i].doc, strlen(cases[i].doc), record, &t, &err) == 0)
            fail_msg("case %zu accepted: '%s'", i, t.out);
        if (strstr(err.msg, cases[i].error) == NULL)
            fail_msg("case %zu: '%s'", i, err.msg);
    }
    /* A NUL byte inside the document (the length says where it ends, not the NUL). */
    struct as_err err;
    assert_int_equal(as_xml_parse("<a>\0</a>", 8, record, &(struct trace){0}, &err), -1);
    assert_string_equal(err.msg, "XML: not well-formed (invalid token) at byte 3");
    /* UTF-16 without a byte order mark: a NUL in the first two bytes */
    assert_int_equal(as_xml_parse("<\0a\0/\0>\0", 8, record, &(struct trace){0}, &err), -1);
    assert_string_equal(err.msg, "XML: not UTF-8 at byte 1");
    /* a document over 16 MiB is refused before it is read */
    assert_int_equal(as_xml_parse("<a/>", (size_t)16 * 1024 * 1024 + 1, record,
                                  &(struct trace){0}, &err),
                     -1);
    assert_non_null(strstr(err.msg, "a document longer than"));
}

/* The bounds: depth, name length, text length. */
static void test_bounds(void **state)
{
    (void)state;
    struct as_sb sb = {0};
    struct as_err err;
    for (int i = 0; i < AS_XML_DEPTH_MAX; i++)
        assert_int_equal(as_sb_puts(&sb, "<d>"), 0);
    for (int i = 0; i < AS_XML_DEPTH_MAX; i++)
        assert_int_equal(as_sb_puts(&sb, "</d>"), 0);
    assert_int_equal(as_xml_parse(sb.buf, sb.len, record, &(struct trace){0}, &err), 0);
    as_sb_free(&sb);
    for (int i = 0; i <= AS_XML_DEPTH_MAX; i++)
        assert_int_equal(as_sb_puts(&sb, "<d>"), 0);
    assert_int_equal(as_xml_parse(sb.buf, sb.len, record, &(struct trace){0}, &err), -1);
    assert_non_null(strstr(err.msg, "elements nested too deep"));
    as_sb_free(&sb);

    char name[AS_XML_NAME_MAX + 2], doc[4 * AS_XML_NAME_MAX];
    memset(name, 'n', sizeof(name));
    name[AS_XML_NAME_MAX] = '\0';
    snprintf(doc, sizeof(doc), "<%s>x</%s>", name, name);
    assert_int_equal(as_xml_parse(doc, strlen(doc), record, &(struct trace){0}, &err), 0);
    name[AS_XML_NAME_MAX] = 'n';
    name[AS_XML_NAME_MAX + 1] = '\0';
    snprintf(doc, sizeof(doc), "<%s>x</%s>", name, name);
    assert_int_equal(as_xml_parse(doc, strlen(doc), record, &(struct trace){0}, &err), -1);
    assert_non_null(strstr(err.msg, "name too long"));

    assert_int_equal(as_sb_puts(&sb, "<a>"), 0);
    for (int i = 0; i < AS_XML_TEXT_MAX; i++)
        assert_int_equal(as_sb_puts(&sb, "t"), 0);
    assert_int_equal(as_sb_puts(&sb, "</a>"), 0);
    struct trace t = {0};
    assert_int_equal(as_xml_parse(sb.buf, sb.len, record, &t, &err), 0);
    as_sb_free(&sb);
    assert_int_equal(as_sb_puts(&sb, "<a>&amp;"), 0);
    for (int i = 0; i < AS_XML_TEXT_MAX; i++)
        assert_int_equal(as_sb_puts(&sb, "t"), 0);
    assert_int_equal(as_sb_puts(&sb, "</a>"), 0);
    assert_int_equal(as_xml_parse(sb.buf, sb.len, record, &t, &err), -1);
    assert_non_null(strstr(err.msg, "text too long"));
    as_sb_free(&sb);
}

/* A callback that refuses stops the walk with its message, or a generic one. */
static void test_callback_stops(void **state)
{
    (void)state;
    const char *doc = "<a><b>1</b><c>2</c></a>";
    struct trace t = {.stop_at = 3};
    struct as_err err;
    assert_int_equal(as_xml_parse(doc, strlen(doc), record, &t, &err), -1);
    assert_string_equal(err.msg, "stopped by the callback");
    assert_string_equal(t.out, "+a +b =b:1");
    t = (struct trace){.stop_at = 2};
    assert_int_equal(as_xml_parse(doc, strlen(doc), record, &t, &err), -1);
    assert_string_equal(err.msg, "XML: refused by the reader at byte 3");
    assert_int_equal(as_xml_parse(doc, strlen(doc), record, &(struct trace){0}, NULL), 0);
}

static void test_path_is(void **state)
{
    (void)state;
    struct as_xml_path p = {.depth = 3, .name = {"A", "B", "member"}};
    assert_true(as_xml_path_is(&p, "A/B/member"));
    assert_false(as_xml_path_is(&p, "A/B"));
    assert_false(as_xml_path_is(&p, "A/B/member/C"));
    assert_false(as_xml_path_is(&p, "A/B/members"));
    assert_false(as_xml_path_is(&p, "A/Bx/member"));
    assert_false(as_xml_path_is(&p, "AB/member"));
    assert_false(as_xml_path_is(&p, "A/B/membe"));
    assert_false(as_xml_path_is(&p, ""));
    p.depth = 0;
    assert_true(as_xml_path_is(&p, ""));
    assert_false(as_xml_path_is(&p, "A"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bounds),   cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_path_is),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
