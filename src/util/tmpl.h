/* A small template language for notification messages (docs/events.md, "Templates"):
 *
 *   text            copied as it is
 *   {{name}}        the value of a field (spaces inside the braces are allowed)
 *   {{#name}}..{{/name}}   the inside only when the field is set (not empty, not "0")
 *   {{^name}}..{{/name}}   the inside only when it is not
 *   {{! comment }}  nothing
 *   {{"text"}}      text as it is, e.g. {{"{{"}} writes two braces
 *
 * Names are letters, digits, '_', '.' and '-'. A template is compiled once (every error with
 * its byte offset, every name checked by the caller), then rendered any number of times
 * without failing but for memory. Sections nest up to AS_TMPL_DEPTH deep. */
#ifndef AS_TMPL_H
#define AS_TMPL_H

#include <stddef.h>

#include "util/util.h"

#define AS_TMPL_TEXT_MAX (16 * 1024) /* a template's length */
#define AS_TMPL_NODES_MAX 1024       /* tags and text runs in one template */
#define AS_TMPL_DEPTH 8              /* nested sections */
#define AS_TMPL_OUT_MAX (64 * 1024)  /* a rendering is cut at this many bytes */

struct as_tmpl;

/* Whether a field of this name exists (name is len bytes, not NUL-terminated). */
typedef int (*as_tmpl_known_fn)(const char *name, size_t len);

/* The value of a field: a NUL-terminated string, either buf (len bytes, the function writes
 * into it) or one that lives until the rendering ends. Never NULL: "" for no value. */
typedef const char *(*as_tmpl_value_fn)(void *arg, const char *name, size_t namelen, char *buf,
                                        size_t len);

/* Compiles text (NUL-terminated). Returns 0 with *out (free with as_tmpl_free), or -1 with
 * msg and *pos, the byte offset in text the error is at (0 for ENOMEM). known may be NULL
 * (every well-formed name is accepted). */
int as_tmpl_compile(const char *text, as_tmpl_known_fn known, struct as_tmpl **out, size_t *pos,
                    char *msg, size_t msglen);

/* Appends the rendering to out, at most AS_TMPL_OUT_MAX bytes of it. Returns 0, or -1 on
 * ENOMEM (out then holds what was appended so far). */
int as_tmpl_render(const struct as_tmpl *t, as_tmpl_value_fn value, void *arg, struct as_sb *out);

/* Whether the template uses a field of this name (a notifier computes costly fields only
 * when asked for). */
int as_tmpl_uses(const struct as_tmpl *t, const char *name);

void as_tmpl_free(struct as_tmpl *t);

#endif
