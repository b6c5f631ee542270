/* The strict, bounded XML reader (see xml.h). One pass over the bytes, an explicit stack of open
 * elements, no allocation. */
#include <stdint.h>
#include <string.h>

#include "util/xml.h"

struct reader {
    const char *start, *p, *end;
    char names[AS_XML_DEPTH_MAX][AS_XML_NAME_MAX + 1]; /* qualified names of the open elements */
    int has_child[AS_XML_DEPTH_MAX];
    struct as_xml_path path;
    char text[AS_XML_TEXT_MAX + 1]; /* the open element's text so far */
    size_t tlen;
    int nonblank;
    as_xml_cb cb;
    void *arg;
    struct as_err *err;
};

static int fail(struct reader *r, const char *what)
{
    return as_err_set(r->err, "XML: %s at byte %zu", what, (size_t)(r->p - r->start));
}

static int ws(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct reader *r)
{
    while (r->p < r->end && ws((unsigned char)*r->p))
        r->p++;
}

static int starts(const struct reader *r, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(r->end - r->p) >= n && memcmp(r->p, s, n) == 0;
}

/* ---- characters ---- */

/* Whether code point c is an XML Char. */
static int xml_char(uint32_t c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* Length of the well-formed UTF-8 sequence of an XML Char at p, or 0. */
static size_t utf8_char(const char *p, const char *end)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t avail = (size_t)(end - p), n;
    uint32_t c;
    if (s[0] < 0x80)
        return xml_char(s[0]) ? 1 : 0;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2, c = s[0] & 0x1F;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3, c = s[0] & 0x0F;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4, c = s[0] & 0x07;
    else
        return 0;
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    return c >= min[n] && xml_char(c) ? n : 0;
}

static size_t utf8_put(uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18);
    out[1] = (char)(0x80 | (c >> 12 & 0x3F));
    out[2] = (char)(0x80 | (c >> 6 & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Decodes the reference at r->p ('&') into out; returns its length, or 0 after fail(). */
static size_t reference(struct reader *r, char out[4])
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}};
    const char *p = r->p + 1;
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        size_t n = strlen(named[i].name);
        if ((size_t)(r->end - p) >= n && memcmp(p, named[i].name, n) == 0) {
            r->p = p + n;
            out[0] = named[i].c;
            return 1;
        }
    }
    if (p >= r->end || *p != '#')
        return fail(r, "unknown entity"), 0;
    int hexa = ++p < r->end && *p == 'x';
    uint32_t c = 0;
    size_t digits = 0;
    for (p += hexa; p < r->end && *p != ';' && digits < 8; p++, digits++) {
        int d = *p >= '0' && *p <= '9'           ? *p - '0'
                : hexa && *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : hexa && *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                                 : -1;
        if (d < 0)
            return fail(r, "bad character reference"), 0;
        c = c * (hexa ? 16 : 10) + (uint32_t)d;
    }
    if (p >= r->end || *p != ';' || digits == 0 || !xml_char(c))
        return fail(r, "bad character reference"), 0;
    r->p = p + 1;
    return utf8_put(c, out);
}

/* ---- text ---- */

static int add_text(struct reader *r, const char *s, size_t n)
{
    if (r->tlen + n > AS_XML_TEXT_MAX)
        return fail(r, "text too long");
    for (size_t i = 0; i < n; i++)
        r->nonblank |= !ws((unsigned char)s[i]);
    memcpy(r->text + r->tlen, s, n);
    r->tlen += n;
    return 0;
}

/* One piece of character data at r->p: a reference, a line end, or one character. */
static int char_data(struct reader *r)
{
    char buf[4];
    size_t n;
    if (*r->p == '&') {
        n = reference(r, buf);
        return n ? add_text(r, buf, n) : -1;
    }
    if (*r->p == '\r') { /* line ends read as \n (XML 1.0, 2.11) */
        r->p += r->p + 1 < r->end && r->p[1] == '\n' ? 2 : 1;
        return add_text(r, "\n", 1);
    }
    if (*r->p == '>' && r->p - r->start >= 2 && r->p[-1] == ']' && r->p[-2] == ']')
        return fail(r, "']]>' in text");
    n = utf8_char(r->p, r->end);
    if (n == 0)
        return fail(r, "a byte that is not an XML character in UTF-8");
    r->p += n;
    return add_text(r, r->p - n, n);
}

/* Skips to just after terminator, checking each character; "what" names it in errors. */
static int skip_to(struct reader *r, const char *terminator, const char *what, int cdata)
{
    size_t tn = strlen(terminator);
    while (!starts(r, terminator)) {
        if (r->p >= r->end)
            return fail(r, what);
        size_t n = utf8_char(r->p, r->end);
        if (n == 0)
            return fail(r, "a byte that is not an XML character in UTF-8");
        if (!cdata && starts(r, "--") && strcmp(terminator, "-->") == 0)
            return fail(r, "'--' in a comment");
        if (cdata && add_text(r, r->p, n) < 0)
            return -1;
        r->p += n;
    }
    r->p += tn;
    return 0;
}

/* A comment, a PI or a CDATA section at r->p; 1 if there was one, 0 if not, -1 on error. */
static int markup(struct reader *r, int in_element)
{
    if (starts(r, "<!--")) {
        r->p += 4;
        return skip_to(r, "-->", "unterminated comment", 0) < 0 ? -1 : 1;
    }
    if (starts(r, "<?")) {
        r->p += 2;
        return skip_to(r, "?>", "unterminated processing instruction", 0) < 0 ? -1 : 1;
    }
    if (in_element && starts(r, "<![CDATA[")) {
        r->p += 9;
        return skip_to(r, "]]>", "unterminated CDATA section", 1) < 0 ? -1 : 1;
    }
    if (starts(r, "<!"))
        return fail(r, "a DOCTYPE or declaration (refused)");
    return 0;
}

/* ---- tags ---- */

static int name_start(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':';
}

static int name_char(int c)
{
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* Reads a name at r->p into out (qualified, NUL-terminated). */
static int read_name(struct reader *r, char out[AS_XML_NAME_MAX + 1])
{
    size_t n = 0;
    if (r->p >= r->end || !name_start((unsigned char)*r->p))
        return fail(r, "a name expected");
    while (r->p < r->end && name_char((unsigned char)*r->p)) {
        if (n == AS_XML_NAME_MAX)
            return fail(r, "name too long");
        out[n++] = *r->p++;
    }
    out[n] = '\0';
    const char *colon = strrchr(out, ':');
    if (colon && colon[1] == '\0')
        return fail(r, "a name without a local part");
    return 0;
}

static const char *local_name(const char *qname)
{
    const char *colon = strrchr(qname, ':');
    return colon ? colon + 1 : qname;
}

/* An attribute value at r->p (the quote): checked, not kept. */
static int attr_value(struct reader *r)
{
    char q = *r->p++, buf[4];
    while (r->p < r->end && *r->p != q) {
        if (*r->p == '&') {
            if (reference(r, buf) == 0)
                return -1;
            continue;
        }
        size_t n = *r->p == '<' ? 0 : utf8_char(r->p, r->end);
        if (n == 0)
            return fail(r, "a bad character in an attribute value");
        r->p += n;
    }
    if (r->p >= r->end)
        return fail(r, "unterminated attribute value");
    r->p++;
    return 0;
}

/* Attributes up to '>' or "/>"; *empty says which. */
static int attributes(struct reader *r, int *empty)
{
    char name[AS_XML_NAME_MAX + 1];
    for (;;) {
        const char *before = r->p;
        skip_ws(r);
        if (starts(r, "/>") || starts(r, ">")) {
            *empty = *r->p == '/';
            r->p += *empty ? 2 : 1;
            return 0;
        }
        if (r->p == before)
            return fail(r, r->p >= r->end ? "unterminated tag" : "a blank expected");
        if (read_name(r, name) < 0)
            return -1;
        skip_ws(r);
        if (r->p >= r->end || *r->p != '=')
            return fail(r, "'=' expected");
        r->p++;
        skip_ws(r);
        if (r->p >= r->end || (*r->p != '"' && *r->p != '\''))
            return fail(r, "a quoted attribute value expected");
        if (attr_value(r) < 0)
            return -1;
    }
}

static int emit(struct reader *r, enum as_xml_event ev, const char *text, size_t len)
{
    r->err->msg[0] = '\0';
    if (r->cb(ev, &r->path, text, len, r->arg, r->err) == 0)
        return 0;
    if (r->err->msg[0] == '\0')
        fail(r, "refused by the reader");
    return -1;
}

/* A start tag at r->p ('<' and a name start): pushed, reported, and closed at once if empty. */
static int start_tag(struct reader *r)
{
    size_t d = r->path.depth;
    int empty;
    if (d == AS_XML_DEPTH_MAX)
        return fail(r, "elements nested too deep");
    r->p++;
    if (read_name(r, r->names[d]) < 0 || attributes(r, &empty) < 0)
        return -1;
    r->has_child[d] = 0;
    r->path.name[d] = local_name(r->names[d]);
    r->path.depth = d + 1;
    r->tlen = 0;
    r->nonblank = 0;
    if (emit(r, AS_XML_OPEN, NULL, 0) < 0)
        return -1;
    if (!empty)
        return 0;
    r->text[0] = '\0';
    if (emit(r, AS_XML_CLOSE, r->text, 0) < 0)
        return -1;
    r->path.depth = d;
    return 0;
}

static int end_tag(struct reader *r)
{
    char name[AS_XML_NAME_MAX + 1];
    size_t d = r->path.depth - 1;
    r->p += 2;
    if (read_name(r, name) < 0)
        return -1;
    if (strcmp(name, r->names[d]) != 0)
        return fail(r, "an end tag that does not match its start tag");
    skip_ws(r);
    if (r->p >= r->end || *r->p != '>')
        return fail(r, "'>' expected");
    r->p++;
    if (r->has_child[d] && r->nonblank)
        return fail(r, "text beside child elements");
    r->text[r->tlen] = '\0';
    if (emit(r, AS_XML_CLOSE, r->has_child[d] ? NULL : r->text, r->has_child[d] ? 0 : r->tlen) < 0)
        return -1;
    r->path.depth = d;
    r->tlen = 0;
    r->nonblank = 0;
    return 0;
}

/* The content of the open elements, until the root closes. */
static int content(struct reader *r)
{
    while (r->path.depth > 0) {
        if (r->p >= r->end)
            return fail(r, "unexpected end of document");
        if (*r->p != '<') {
            if (char_data(r) < 0)
                return -1;
            continue;
        }
        int m = markup(r, 1);
        if (m != 0) {
            if (m < 0)
                return -1;
            continue;
        }
        if (starts(r, "</")) {
            if (end_tag(r) < 0)
                return -1;
            continue;
        }
        if (r->nonblank)
            return fail(r, "text beside child elements");
        r->has_child[r->path.depth - 1] = 1;
        if (start_tag(r) < 0)
            return -1;
    }
    return 0;
}

/* Blanks, comments and PIs. Returns 0 or -1. */
static int misc(struct reader *r)
{
    for (;;) {
        skip_ws(r);
        int m = markup(r, 0);
        if (m <= 0)
            return m;
    }
}

int as_xml_parse(const char *doc, size_t len, as_xml_cb cb, void *arg, struct as_err *err)
{
    struct reader r = {.start = doc, .p = doc, .end = doc + len, .cb = cb, .arg = arg};
    struct as_err scratch;
    r.err = err ? err : &scratch;
    as_err_clear(r.err);
    if (len >= 3 && memcmp(doc, "\xEF\xBB\xBF", 3) == 0)
        r.p += 3;
    if (misc(&r) < 0)
        return -1;
    if (r.p >= r.end || *r.p != '<' || r.p + 1 >= r.end || !name_start((unsigned char)r.p[1]))
        return fail(&r, r.p >= r.end ? "no root element" : "a root element expected");
    if (start_tag(&r) < 0 || content(&r) < 0 || misc(&r) < 0)
        return -1;
    if (r.p < r.end)
        return fail(&r, "content after the root element");
    return 0;
}

int as_xml_path_is(const struct as_xml_path *path, const char *pattern)
{
    const char *p = pattern;
    for (size_t i = 0; i < path->depth; i++) {
        size_t n = strlen(path->name[i]);
        if (strncmp(p, path->name[i], n) != 0)
            return 0;
        p += n;
        if (i + 1 < path->depth && *p++ != '/')
            return 0;
    }
    return *p == '\0';
}
