/* hosts.d (src/config/hosts.c): the input as an entry file, a provision file, a HOST:PORT line
 * (a provision command's output), a host, and a template rendered with a fixed pool. What is
 * accepted must be safe and stable: an entry formats again and parses back to the same fields,
 * its host checks again to itself and holds no byte that could start a new HAProxy word or
 * line; a rendered template holds no "{{" and every server line is one line. Violations
 * abort. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/hosts.h"

static void safe_word(const char *s)
{
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9') && !strchr(".-:", *s))
            abort();
}

static void entry(const char *text, size_t len)
{
    struct as_host_entry e, back;
    struct as_sb sb = {0};
    char why[200], canon[AS_HOST_MAX];
    int line;
    if (as_host_entry_parse(text, len, &e, &line, why, sizeof(why)) < 0)
        return;
    safe_word(e.host);
    if (as_host_check(e.host, canon, why, sizeof(why)) < 0 || strcmp(canon, e.host) != 0)
        abort();
    if (as_host_entry_format(&e, &sb) < 0)
        abort();
    if (as_host_entry_parse(sb.buf, sb.len, &back, &line, why, sizeof(why)) < 0 ||
        strcmp(back.name, e.name) != 0 || strcmp(back.id, e.id) != 0 || back.port != e.port ||
        back.weight != e.weight || back.state != e.state || back.origin != e.origin ||
        back.added_ms != e.added_ms || (e.state && back.since_ms != e.since_ms))
        abort();
    as_sb_free(&sb);
}

static void pair(const char *text, size_t len)
{
    char buf[600], canon[AS_HOST_MAX];
    struct as_host_entry e = {0};
    size_t n = strcspn(text, "\n");
    n = n < len ? n : len;
    n = n < sizeof(buf) - 1 ? n : sizeof(buf) - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    if (as_host_parse_pair(buf, &e, NULL, 0) == 0) {
        safe_word(e.host);
        if (e.port < 1 || e.port > 65535 || strchr(e.name, ' ') != NULL)
            abort();
    }
    if (as_host_check(buf, canon, NULL, 0) == 0)
        safe_word(canon);
}

static void render(const char *text, size_t len)
{
    static struct as_host_entry v[2];
    struct as_hosts h = {.v = v, .n = 2};
    struct as_sb out = {0};
    struct as_err err;
    const char *opts[] = {"check", "inter", "2s", NULL};
    char why[100];
    if (v[0].port == 0 && (as_host_entry_init(&v[0], "10.0.0.1", "80", 1, 0, why, 100) < 0 ||
                           as_host_entry_init(&v[1], "::1", "81", 2, 1, why, 100) < 0))
        abort();
    as_err_clear(&err);
    if (as_hosts_render(text, len, "t", &h, opts, &out, &err) == 0 && out.buf != NULL) {
        for (size_t i = 0; i + 1 < out.len; i++)
            if (out.buf[i] == '{' && out.buf[i + 1] == '{')
                abort();
    } else if (err.msg[0] == '\0' && out.len > 0) {
        abort();
    }
    as_sb_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct as_host_prov p;
    int line;
    entry(text, size);
    if (as_host_prov_parse(text, size, &p, &line, NULL, 0) == 0 && !as_prov_id_ok(p.id))
        abort();
    pair(text, size);
    render(text, size);
    return 0;
}
