/* A YAML document as a tree of nodes that remember their file, line and column.
 *
 * Scalars have ${env:NAME} and ${file:PATH} references already resolved; a scalar that
 * contained a reference is marked so its value is never printed. Mappings keep their order
 * and reject duplicate keys. Every map entry has a `used` flag that the option parser sets,
 * so anything left unused is reported as an unknown key at its exact position. */
#ifndef AS_CFG_H
#define AS_CFG_H

#include <stddef.h>

#include "util/err.h"

enum as_node_kind { AS_NODE_SCALAR, AS_NODE_MAP, AS_NODE_SEQ, AS_NODE_NULL };

struct as_node;

struct as_pair {
    struct as_node *key;
    struct as_node *value;
    int used;
};

struct as_node {
    enum as_node_kind kind;
    const char *file; /* borrowed from the document */
    int line, col;    /* 1-based */
    char *value;      /* scalar text, references resolved */
    char *raw;        /* scalar text as written (what is shown instead of a resolved reference) */
    int quoted;       /* scalar was quoted in the source */
    int from_ref;     /* scalar contained ${...}: never print `value` */
    size_t n;
    struct as_pair *pairs;  /* AS_NODE_MAP, n entries */
    struct as_node **items; /* AS_NODE_SEQ, n entries */
};

struct as_doc {
    char *file; /* path as given */
    struct as_node *root;
};

/* Parses a YAML file into a tree. Returns NULL with err set (file:line:col) on a syntax error,
 * a duplicate key, an anchor/alias, or an unresolvable reference. Caller frees with as_doc_free. */
struct as_doc *as_doc_load(const char *path, struct as_err *err);

/* Same, from a string; `name` is used in error positions. */
struct as_doc *as_doc_parse(const char *name, const char *text, size_t len, struct as_err *err);

void as_doc_free(struct as_doc *doc);

/* Looks up key in a map node and marks it used. NULL if absent or node is not a map. */
struct as_node *as_node_get(struct as_node *map, const char *key);

/* Reports the first unused key of a map as "unknown key". Returns 0 or -1. */
int as_node_check_unused(const struct as_node *map, const char *what, struct as_err *err);

/* Human name of a node kind for error messages ("a mapping"). */
const char *as_node_kind_name(enum as_node_kind kind);

/* Resolves ${env:NAME} and ${file:PATH} references inside s (relative file paths are taken
 * from base_dir). Returns a new string (caller frees), or NULL with err->msg set. */
char *as_resolve_refs(const char *s, const char *base_dir, int *had_ref, struct as_err *err);

#endif
