/* A strict, bounded XML reader for API responses (AWS's Query APIs answer in XML), on libexpat.
 * It walks the document once and reports each element's opening and closing, with the path of
 * element names from the root, and the text of each element that has no child element. Expat
 * allocates (through malloc, freed before as_xml_parse returns); an allocation that fails is an
 * error ("out of memory"), never a crash.
 *
 * What it takes (XML 1.0, the part API responses use): UTF-8 only, whatever the declaration
 * says, with an optional byte order mark and XML declaration; one root element; start tags
 * with attributes (checked by expat, not reported), empty-element tags, end tags matching their
 * start tag; text with the five predefined entities and character references; CDATA sections;
 * comments and processing instructions. Names are XML names (expat's rules, non-ASCII letters
 * included); without namespace processing, a "p:" prefix is dropped from the reported name.
 * What it refuses: a DOCTYPE (at its start, before any declaration in it is read: no DTD, no
 * entity expansion, nothing external loaded), any other entity, text beside child elements that
 * is not blank (mixed content), malformed UTF-8, any UTF-16, control characters, more than one
 * root, anything after the root but blanks, comments and PIs, duplicate attributes, an element
 * nesting deeper than AS_XML_DEPTH_MAX, a name longer than AS_XML_NAME_MAX bytes, a text longer
 * than AS_XML_TEXT_MAX bytes, a document longer than 16 MiB. */
#ifndef AS_XML_H
#define AS_XML_H

#include <stddef.h>

#include "util/err.h"

#define AS_XML_DEPTH_MAX 32
#define AS_XML_NAME_MAX 64
#define AS_XML_TEXT_MAX 8192

/* The elements open at an event, root first, by local name (a "p:" prefix dropped). */
struct as_xml_path {
    size_t depth;
    const char *name[AS_XML_DEPTH_MAX];
};

enum as_xml_event {
    AS_XML_OPEN,  /* an element opened: path ends with it */
    AS_XML_CLOSE, /* it closed: path still ends with it; text is its text when it had no
                     child element (decoded, NUL-terminated, maybe ""), NULL otherwise */
};

/* Called for each event; text is borrowed for the call. A non-zero return stops the walk:
 * as_xml_parse then returns -1 with the message the callback put in err (or a generic one). */
typedef int (*as_xml_cb)(enum as_xml_event ev, const struct as_xml_path *path, const char *text,
                         size_t len, void *arg, struct as_err *err);

/* Walks the len bytes at doc. Returns 0, or -1 with err ("XML: ... at byte N": this reader's
 * words or expat's, such as "not well-formed (invalid token)"; N is where expat found the fault,
 * or for a refusal of ours or the callback's, where the refused tag or text starts, the end of
 * an empty-element tag for its close). */
int as_xml_parse(const char *doc, size_t len, as_xml_cb cb, void *arg, struct as_err *err);

/* Whether path is exactly pattern: local names separated by '/' ("A/B/member/C"). */
int as_xml_path_is(const struct as_xml_path *path, const char *pattern);

#endif
