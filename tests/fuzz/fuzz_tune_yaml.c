/* The YAML a tuning candidate is written as (src/sim/tune_yaml.c), on arbitrary documents:
 * whatever mapping the input holds, written back (with a key set below it, added when absent)
 * it parses again, and writing that again gives the same text. A quoting or indentation
 * mistake shows as a document the parser refuses or reads differently: abort(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/tune.h"
#include "util/log.h"

/* "groups:\n" + the mapping written as group g; NULL when out of memory. */
static char *write_back(const struct as_node *map, const struct as_tune_space *sp, const double *v)
{
    struct as_sb sb = {0};
    if (as_sb_puts(&sb, "groups:\n") < 0 || as_tune_emit(&sb, "g", map, sp, v, 0, 2) < 0) {
        as_sb_free(&sb);
        return NULL;
    }
    return sb.buf;
}

static const struct as_node *group_of(const struct as_doc *doc)
{
    long i = as_node_find(doc->root, "groups");
    const struct as_node *groups = i >= 0 ? doc->root->pairs[i].value : NULL;
    long k = groups && groups->kind == AS_NODE_MAP ? as_node_find(groups, "g") : -1;
    return k >= 0 ? groups->pairs[k].value : NULL;
}

static void round_trip(const struct as_node *map, const struct as_tune_space *sp, const double *v)
{
    char *t1 = write_back(map, sp, v), *t2 = NULL;
    struct as_err err;
    struct as_doc *d = NULL;
    if (t1 == NULL)
        return;
    d = as_doc_parse("again.yaml", t1, strlen(t1), &err);
    if (d == NULL) {
        fprintf(stderr, "written back, it does not parse: %s:%d:%d: %s\n---\n%s---\n", err.file,
                err.line, err.col, err.msg, t1);
        abort();
    }
    /* the key set is in the text now: write it as it is */
    t2 = write_back(group_of(d), NULL, NULL);
    if (t2 != NULL && strcmp(t1, t2) != 0) {
        fprintf(stderr, "written back twice, it differs:\n---\n%s---\n%s---\n", t1, t2);
        abort();
    }
    free(t1);
    free(t2);
    as_doc_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct as_err err;
    struct as_doc *doc = as_doc_parse("fuzz.yaml", (const char *)data, size, &err);
    if (doc != NULL && doc->root != NULL && doc->root->kind == AS_NODE_MAP) {
        struct as_tune_space sp = {.n = 2};
        sp.p[0] = (struct as_tune_param){.path = "interval", .type = AS_OPT_DURATION};
        sp.p[1] = (struct as_tune_param){.path = "metrics.cpu.target", .type = AS_OPT_DOUBLE};
        double v[2] = {15000, 0.62};
        round_trip(doc->root, NULL, NULL);
        round_trip(doc->root, &sp, v);
    }
    as_doc_free(doc);
    as_log_secrets_clear(); /* references register their values */
    return 0;
}
