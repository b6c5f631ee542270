/* The strict XML reader (util/xml.h). Invariants checked on every event: the path is 1 to
 * AS_XML_DEPTH_MAX names deep, each name non-empty, bounded and matched by as_xml_path_is with
 * the path spelled out; opens and closes nest; a text is NUL-terminated at its length, holds no
 * NUL, is bounded and well-formed UTF-8. After a walk that succeeded every element is closed
 * and the input was UTF-8 (not UTF-16, which expat would take from a byte order mark);
 * after one that failed there is a message "XML: ... at byte N" with N within the input. Each
 * input with events is walked again with a callback that refuses its k-th event (k from the
 * input), with or without a message: no event may follow, and the walk fails with that message
 * or the generic one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xml.h"

struct walk {
    size_t depth, events;
    size_t stop_at; /* refuse this event (1-based), 0 never */
    int quiet;      /* refuse without a message */
};

static int utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = s[i] < 0x80 ? 1 : s[i] >= 0xF0 ? 4 : s[i] >= 0xE0 ? 3 : s[i] >= 0xC2 ? 2 : 0;
        if (k == 0 || i + k > n)
            return 0;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        i += k;
    }
    return 1;
}

static void check_path(const struct as_xml_path *p)
{
    char pattern[AS_XML_DEPTH_MAX * (AS_XML_NAME_MAX + 1) + 1];
    size_t o = 0;
    if (p->depth == 0 || p->depth > AS_XML_DEPTH_MAX)
        abort();
    for (size_t i = 0; i < p->depth; i++) {
        size_t n = strlen(p->name[i]);
        if (n == 0 || n > AS_XML_NAME_MAX || strchr(p->name[i], ':') != NULL)
            abort();
        if (i > 0)
            pattern[o++] = '/';
        memcpy(pattern + o, p->name[i], n);
        o += n;
    }
    pattern[o] = '\0';
    if (!as_xml_path_is(p, pattern))
        abort();
}

static int on_event(enum as_xml_event ev, const struct as_xml_path *path, const char *text,
                    size_t len, void *arg, struct as_err *err)
{
    struct walk *w = arg;
    check_path(path);
    if (w->stop_at && w->events >= w->stop_at)
        abort(); /* an event after the callback refused */
    if (++w->events == w->stop_at)
        return w->quiet ? 1 : as_err_set(err, "stopped at %zu", w->stop_at);
    if (ev == AS_XML_OPEN) {
        if (path->depth != w->depth + 1 || text != NULL)
            abort();
        w->depth++;
        return 0;
    }
    if (path->depth != w->depth)
        abort();
    w->depth--;
    if (text && (len > AS_XML_TEXT_MAX || text[len] != '\0' || strlen(text) != len ||
                 !utf8_ok((const unsigned char *)text, len)))
        abort();
    return 0;
}

/* "XML: ... at byte N" with N <= size. */
static void check_error(const char *msg, size_t size)
{
    const char *at = strstr(msg, " at byte ");
    char *end;
    if (strncmp(msg, "XML: ", 5) != 0 || at == NULL)
        abort();
    unsigned long long n = strtoull(at + 9, &end, 10);
    if (*end != '\0' || n > size)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct walk w = {0};
    struct as_err err;
    char want[64];
    int rc = as_xml_parse((const char *)data, size, on_event, &w, &err);
    if (rc == 0 && (w.depth != 0 || w.events == 0 || !utf8_ok(data, size)))
        abort();
    if (rc != 0 && rc != -1)
        abort();
    if (rc != 0)
        check_error(err.msg, size);
    if (w.events == 0)
        return 0;
    size_t k = 1 + (size ? data[size / 2] : 0) % w.events;
    w = (struct walk){.stop_at = k, .quiet = size && data[0] % 2};
    if (as_xml_parse((const char *)data, size, on_event, &w, &err) != -1 || w.events != k)
        abort();
    snprintf(want, sizeof(want), "stopped at %zu", k);
    if (w.quiet ? strncmp(err.msg, "XML: refused by the reader at byte ", 35) != 0
                : strcmp(err.msg, want) != 0)
        abort();
    if (w.quiet)
        check_error(err.msg, size);
    return 0;
}
