/* What the status API (src/api/) must never show of a configuration: every value a ${env:} or
 * ${file:} reference resolved to (whatever its length: the log only masks values of at least
 * AS_LOG_SECRET_MIN bytes), every registered secret inside a longer text, and every option
 * flagged AS_OPT_SECRET (the caller's rule). */
#ifndef AS_REDACT_H
#define AS_REDACT_H

#include "config/cfg.h"
#include "util/err.h"

#define AS_REDACTED "<redacted>"

struct as_config;

/* Collects into *out (NULL-terminated, as_strv_free) the value of every scalar of the tree
 * that held a reference. Returns 0, or -1 with err on ENOMEM. */
int as_redact_collect(const struct as_node *root, char ***out, struct as_err *err);

/* Whether text must not be shown: it is the value of a reference of cfg, or holds a
 * registered secret (util/log.h). */
int as_redact_needed(const struct as_config *cfg, const char *text);

#endif
