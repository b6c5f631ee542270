#include "config/redact.h"

#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/log.h"
#include "util/util.h"

struct refs {
    char **v;
    size_t n, cap;
};

static int add(struct refs *r, const char *value)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i], value) == 0)
            return 0;
    if (r->n + 1 >= r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        char **v = realloc(r->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        r->v = v;
        r->cap = cap;
    }
    if ((r->v[r->n] = strdup(value)) == NULL)
        return -1;
    r->v[++r->n] = NULL;
    return 0;
}

static int walk(const struct as_node *n, struct refs *r)
{
    if (n == NULL)
        return 0;
    switch (n->kind) {
    case AS_NODE_SCALAR:
        return n->from_ref ? add(r, n->value) : 0;
    case AS_NODE_MAP:
        for (size_t i = 0; i < n->n; i++)
            if (walk(n->pairs[i].key, r) < 0 || walk(n->pairs[i].value, r) < 0)
                return -1;
        return 0;
    case AS_NODE_SEQ:
        for (size_t i = 0; i < n->n; i++)
            if (walk(n->items[i], r) < 0)
                return -1;
        return 0;
    case AS_NODE_NULL:
        return 0;
    }
    return 0;
}

int as_redact_collect(const struct as_node *root, char ***out, struct as_err *err)
{
    struct refs r = {0};
    *out = NULL;
    if (walk(root, &r) < 0) {
        as_strv_free(r.v);
        return as_err_set(err, "out of memory");
    }
    *out = r.v;
    return 0;
}

int as_redact_needed(const struct as_config *cfg, const char *text)
{
    if (text == NULL)
        return 0;
    for (size_t i = 0; cfg->ref_values != NULL && cfg->ref_values[i]; i++)
        if (strcmp(cfg->ref_values[i], text) == 0)
            return 1;
    size_t len = strlen(text);
    char stack[512];
    char *buf = len < sizeof(stack) ? stack : malloc(len + 1);
    if (buf == NULL)
        return 1; /* cannot tell: never show it */
    memcpy(buf, text, len + 1);
    int masked = as_log_mask(buf, len) != len || memcmp(buf, text, len) != 0;
    if (buf != stack)
        free(buf);
    return masked;
}
