/* A group's state on disk: one JSON file per group in the state directory (state_dir), its
 * form defined by core/state.h. Writes go through the writer thread (util/writer.h); this
 * module names the files, makes the text, reads a file back at start and checks directories. */
#ifndef AS_PERSIST_H
#define AS_PERSIST_H

#include <stddef.h>

#include "core/state.h"

/* dir/<group>.json into buf. Returns 0, or -1 when it does not fit. */
int as_persist_path(char *buf, size_t len, const char *dir, const char *group);

/* Creates dir (and its parents) if missing. Returns 0 or -1 with err. */
int as_persist_dir_init(const char *dir, struct as_err *err);

/* Whether dir exists as a writable directory or could be created (its nearest existing
 * ancestor is a writable directory), without creating anything: what `check` reports.
 * Returns 0 or -1 with err. */
int as_persist_dir_check(const char *dir, struct as_err *err);

/* The state file's text (JSON and a newline) for st at now / wall. Caller frees; NULL on
 * ENOMEM. *len gets its length. */
char *as_persist_text(const struct as_group_cfg *g, const struct as_group_state *st, int64_t now_ms,
                      int64_t wall_ms, size_t *len);

/* Reads dir/<group>.json into st (which must be fresh: zeroed), moved in time as r says.
 * Returns 1 when restored, 0 when there is no file, -1 with err (naming the file) when it is
 * unreadable, corrupt or out of range (st is left fresh, so the caller can go on). Only a
 * regular file is read, never blocking. */
int as_persist_load(const char *dir, const struct as_group_cfg *g, struct as_group_state *st,
                    struct as_restore *r, struct as_err *err);

#endif
