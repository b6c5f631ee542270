/* A YAML document as a tree of nodes that remember their file, line and column.
 *
 * Scalars have ${env:NAME} and ${file:PATH} references already resolved; a scalar that
 * contained a reference is marked so its value is never printed, and every value a reference
 * resolved to is registered with the log as a secret (util/log.h: it is written as "***").
 * Mappings keep their order and reject duplicate keys; a big mapping carries a hash index, so
 * loading and looking up are linear in the size of the document. Every map entry has a `used`
 * flag that the option parser sets, so anything left unused is reported as an unknown key at
 * its exact position. */
#ifndef AS_CFG_H
#define AS_CFG_H

#include <stddef.h>

#include "util/err.h"

struct as_sb;
struct as_opt;

/* A string -> index hash table over borrowed keys (each must outlive the table). Zero-initialise;
 * as_index_free releases. */
struct as_index_slot {
    const char *key; /* NULL: empty */
    size_t value;
};
struct as_index {
    struct as_index_slot *slots;
    size_t cap, n; /* cap is 0 or a power of two, at least twice n */
};

/* Adds key -> value. Returns 0, 1 when key is already there (its value is kept), or -1 on
 * ENOMEM (the index is unchanged). */
int as_index_put(struct as_index *ix, const char *key, size_t value);

/* The value of key, or -1 when it is absent. */
long as_index_get(const struct as_index *ix, const char *key);

void as_index_free(struct as_index *ix);

enum as_node_kind { AS_NODE_SCALAR, AS_NODE_MAP, AS_NODE_SEQ, AS_NODE_NULL };

struct as_node;

struct as_pair {
    struct as_node *key;
    struct as_node *value;
    int used;
};

struct as_node {
    enum as_node_kind kind;
    int line, col;    /* 1-based */
    int quoted;       /* scalar was quoted in the source */
    int from_ref;     /* scalar contained ${...}: never print `value` */
    int bad;          /* a reference in it failed (the error is kept in errs): `value` is the
                         text as written, and whoever reads it reports nothing more */
    const char *file; /* borrowed from the document */
    char *value;      /* scalar text, references resolved */
    char *raw;        /* scalar text as written when it held a reference (what is shown instead
                         of the resolved value); NULL when it held none (it is `value`) */
    size_t n;
    union {
        struct as_pair *pairs;  /* AS_NODE_MAP, n entries */
        struct as_node **items; /* AS_NODE_SEQ, n entries */
    };
    struct as_index *index; /* AS_NODE_MAP of many keys: key -> pair; NULL for small ones */
    struct as_errs *errs;   /* where every error of the document goes (as_node_keep); NULL:
                               the first error stops the parse */
};

struct as_doc {
    char *file; /* path as given */
    struct as_node *root;
};

/* Parses a YAML file (at most AS_CFG_FILE_MAX bytes) into a tree. Returns NULL with err set
 * (file:line:col) on a syntax error (text that is not UTF-8, a control character), a
 * duplicate key, an anchor/alias, a scalar holding a NUL byte, or an unresolvable reference;
 * a file that cannot be read (missing, a directory, unreadable) is an error at the file alone
 * (line 0: "FILE: why"). With errs, a reference that cannot be resolved is kept there and the
 * parse goes on (its node is marked `bad`), and every node carries errs so that whoever
 * checks the tree can keep its errors too (as_node_keep). Caller frees with as_doc_free. */
struct as_doc *as_doc_load(const char *path, struct as_errs *errs, struct as_err *err);

/* Same, from a string; `name` is used in error positions. */
struct as_doc *as_doc_parse(const char *name, const char *text, size_t len, struct as_err *err);
struct as_doc *as_doc_parse_all(const char *name, const char *text, size_t len,
                                struct as_errs *errs, struct as_err *err);

void as_doc_free(struct as_doc *doc);

/* Looks up key in a map node and marks it used. NULL if absent or node is not a map. */
struct as_node *as_node_get(struct as_node *map, const char *key);

/* Index of key's pair in a map node (not marked used), or -1. */
long as_node_find(const struct as_node *map, const char *key);

/* The error in err was found in n's document: when that document collects its errors (n's
 * errs) and err has a position, keeps it there and returns 0: the caller may go on to find
 * more. Returns -1 when the caller must stop (no collector; an error without a position, such
 * as running out of memory). */
int as_node_keep(const struct as_node *n, struct as_err *err);

/* Reports the unused keys of a map (each kept, see as_node_keep; without a collector the
 * first) as "unknown key 'k' in WHAT", with the nearest valid key when one is close ("did
 * you mean 'interval'?") or else the valid keys: the names of the option tables in `tables`
 * (NULL-terminated, may be NULL) and of `extra` (NULL-terminated, may be NULL). Returns 0 or
 * -1. */
int as_node_check_keys(const struct as_node *map, const char *what,
                       const struct as_opt *const *tables, const char *const *extra,
                       struct as_err *err);

/* as_node_check_keys without the valid keys (no suggestion). */
int as_node_check_unused(const struct as_node *map, const char *what, struct as_err *err);

/* Reports that map lacks the required `key` ("WHAT: missing required key 'key'"). When an
 * unused key of map looks like a misspelling of it, the error is at that key, names it, and
 * marks it used (one error for one typo, not two). Returns -1. */
int as_node_missing(struct as_node *map, const char *key, const char *what, struct as_err *err);

/* Human name of a node kind for error messages ("a mapping"). */
const char *as_node_kind_name(enum as_node_kind kind);

/* Canonical text of a node tree with resolved values (to tell whether options changed across a
 * reload; never printed). Top-level keys of a map listed in `skip` (NULL-terminated, may be
 * NULL) are left out. Returns 0 or -1 on ENOMEM. */
int as_node_fingerprint(const struct as_node *n, const char *const *skip, struct as_sb *sb);

/* Limits: the configuration file, and the file of one ${file:PATH} reference. */
#define AS_CFG_FILE_MAX (64 * 1024 * 1024)
#define AS_REF_FILE_MAX (64 * 1024)

/* Resolves ${env:NAME} and ${file:PATH} references inside s (relative file paths are taken
 * from base_dir). A file reference reads a regular file (or a symlink to one) of at most
 * AS_REF_FILE_MAX bytes without ever blocking; a value holding a NUL byte is an error. Each
 * resolved value is registered with as_log_secret. Returns a new string (caller frees), or
 * NULL with err->msg set. */
char *as_resolve_refs(const char *s, const char *base_dir, int *had_ref, struct as_err *err);

#endif
