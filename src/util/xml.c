/* The strict, bounded XML reader (see xml.h) on libexpat. Expat reads the bytes: UTF-8 and XML
 * characters, well-formedness, references, CDATA, line ends. This file refuses what expat would
 * take and we do not (a DOCTYPE, UTF-16, mixed content, our bounds), keeps the path of local
 * names and calls the callback. Expat allocates through malloc, realloc and free named here, so
 * that the allocation-failure sweep's --wrap (tests/alloc) reaches them: it cannot reach a
 * shared library's own calls. */
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "util/xml.h"

/* The longest document read: above every answer a caller takes (aws_asg: 8 MiB), far below
 * XML_Parse's int length. */
#define XML_DOC_MAX (16 * 1024 * 1024)

struct reader {
    XML_Parser xp;
    char names[AS_XML_DEPTH_MAX][AS_XML_NAME_MAX + 1]; /* qualified names of the open elements */
    int has_child[AS_XML_DEPTH_MAX];
    struct as_xml_path path;
    char text[AS_XML_TEXT_MAX + 1]; /* the open element's text since its last tag */
    size_t tlen;
    int nonblank;
    int root_seen;
    long long prolog_end; /* where the last blank, comment or PI before the root ended */
    int failed;           /* err is set and expat stopped: the events it still sends are ignored */
    as_xml_cb cb;
    void *arg;
    struct as_err *err;
};

static long long offset(const struct reader *r)
{
    XML_Index i = XML_GetCurrentByteIndex(r->xp);
    return i < 0 ? 0 : (long long)i;
}

static void stop(struct reader *r)
{
    r->failed = 1;
    XML_StopParser(r->xp, XML_FALSE);
}

/* Refuses the document at the current event. */
static void refuse(struct reader *r, const char *what)
{
    as_err_set(r->err, "XML: %s at byte %lld", what, offset(r));
    stop(r);
}

static int emit(struct reader *r, enum as_xml_event ev, const char *text, size_t len)
{
    r->err->msg[0] = '\0';
    if (r->cb(ev, &r->path, text, len, r->arg, r->err) == 0)
        return 0;
    if (r->err->msg[0] == '\0')
        refuse(r, "refused by the reader");
    else
        stop(r);
    return -1;
}

/* Why a start tag is refused, or NULL. */
static const char *start_refused(const struct reader *r, size_t n, const char *colon)
{
    if (r->path.depth == AS_XML_DEPTH_MAX)
        return "elements nested too deep";
    if (n > AS_XML_NAME_MAX)
        return "name too long";
    if (colon && colon[1] == '\0')
        return "a name without a local part";
    if (r->path.depth > 0 && r->nonblank)
        return "text beside child elements";
    return NULL;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct reader *r = ud;
    size_t d = r->path.depth, n = strlen(name);
    const char *colon = strrchr(name, ':'), *why;
    (void)atts;
    if (r->failed)
        return;
    r->root_seen = 1;
    why = start_refused(r, n, colon);
    if (why) {
        refuse(r, why);
        return;
    }
    if (d > 0)
        r->has_child[d - 1] = 1;
    memcpy(r->names[d], name, n + 1);
    r->path.name[d] = colon ? r->names[d] + (colon + 1 - name) : r->names[d];
    r->has_child[d] = 0;
    r->path.depth = d + 1;
    r->tlen = 0;
    r->nonblank = 0;
    emit(r, AS_XML_OPEN, NULL, 0);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct reader *r = ud;
    (void)name; /* expat checked that it matches */
    if (r->failed)
        return;
    size_t d = r->path.depth - 1;
    int leaf = !r->has_child[d];
    r->text[r->tlen] = '\0';
    if (emit(r, AS_XML_CLOSE, leaf ? r->text : NULL, leaf ? r->tlen : 0) < 0)
        return;
    r->path.depth = d;
    r->tlen = 0;
    r->nonblank = 0;
}

/* Decoded text of the open element, in pieces. */
static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct reader *r = ud;
    size_t n = (size_t)len;
    if (r->failed)
        return;
    if (r->tlen + n > AS_XML_TEXT_MAX) {
        refuse(r, "text too long");
        return;
    }
    for (size_t i = 0; i < n; i++)
        r->nonblank |= s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r';
    if (r->nonblank && r->has_child[r->path.depth - 1]) {
        refuse(r, "text beside child elements");
        return;
    }
    memcpy(r->text + r->tlen, s, n);
    r->tlen += n;
}

/* Refused at its start, before any declaration in it is read: no DTD, so no entity. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    refuse(ud, "a DOCTYPE or declaration (refused)");
}

/* Everything else (blanks, comments, PIs, the XML declaration): before the root, where it ends
 * tells a document that is not XML from a broken comment or PI in its prolog. */
static void XMLCALL on_other(void *ud, const XML_Char *s, int len)
{
    struct reader *r = ud;
    (void)s, (void)len;
    if (!r->root_seen)
        r->prolog_end = offset(r) + XML_GetCurrentByteCount(r->xp);
}

/* Expat's reason, in this reader's words where there are some. */
static const char *reason(const struct reader *r, enum XML_Error code)
{
    switch (code) {
    case XML_ERROR_NO_MEMORY:
        return "out of memory";
    case XML_ERROR_NO_ELEMENTS:
        return r->root_seen ? "unexpected end of document" : "no root element";
    case XML_ERROR_SYNTAX:
    case XML_ERROR_INVALID_TOKEN:
        if (!r->root_seen && offset(r) == r->prolog_end)
            return "a root element expected";
        break;
    case XML_ERROR_JUNK_AFTER_DOC_ELEMENT:
        return "content after the root element";
    case XML_ERROR_TAG_MISMATCH:
        return "an end tag that does not match its start tag";
    case XML_ERROR_UNDEFINED_ENTITY:
        return "unknown entity";
    case XML_ERROR_BAD_CHAR_REF:
        return "bad character reference";
    case XML_ERROR_UNCLOSED_CDATA_SECTION:
        return "unterminated CDATA section";
    default:
        break;
    }
    const XML_LChar *s = XML_ErrorString(code);
    return s ? s : "not well-formed";
}

static void handlers(struct reader *r)
{
    XML_SetUserData(r->xp, r);
    XML_SetElementHandler(r->xp, on_start, on_end);
    XML_SetCharacterDataHandler(r->xp, on_text);
    XML_SetStartDoctypeDeclHandler(r->xp, on_doctype);
    XML_SetDefaultHandlerExpand(r->xp, on_other);
    /* The default already, said here: no parameter entity, no external DTD or entity loaded. */
    XML_SetParamEntityParsing(r->xp, XML_PARAM_ENTITY_PARSING_NEVER);
}

int as_xml_parse(const char *doc, size_t len, as_xml_cb cb, void *arg, struct as_err *err)
{
    static const XML_Memory_Handling_Suite mem = {malloc, realloc, free};
    struct reader r = {.cb = cb, .arg = arg};
    struct as_err scratch;
    r.err = err ? err : &scratch;
    as_err_clear(r.err);
    if (len > XML_DOC_MAX)
        return as_err_set(r.err, "XML: a document longer than %d bytes at byte %d", XML_DOC_MAX,
                          XML_DOC_MAX);
    /* Told "UTF-8", expat ignores the document's encoding declaration but still takes UTF-16
     * from a byte order mark or a NUL in the first two bytes: never UTF-8 XML, refused here. */
    for (size_t i = 0; i < len && i < 2; i++)
        if (doc[i] == '\0' || (unsigned char)doc[i] >= 0xFE)
            return as_err_set(r.err, "XML: not UTF-8 at byte %zu", i);
    r.xp = XML_ParserCreate_MM("UTF-8", &mem, NULL);
    if (r.xp == NULL)
        return as_err_set(r.err, "XML: out of memory at byte 0");
    handlers(&r);
    int ok = XML_Parse(r.xp, doc, (int)len, XML_TRUE) == XML_STATUS_OK && !r.failed;
    if (!ok && !r.failed)
        as_err_set(r.err, "XML: %s at byte %lld", reason(&r, XML_GetErrorCode(r.xp)), offset(&r));
    XML_ParserFree(r.xp);
    return ok ? 0 : -1;
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
