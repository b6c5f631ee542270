/* A group's decision state on disk, so a restart neither forgets a cooldown or a window nor
 * scales down on an empty history. One JSON file per group in the state directory, written
 * atomically: temporary file, fsync, rename, fsync of the directory. */
#ifndef AS_STATE_H
#define AS_STATE_H

#include "core/decide.h"

/* Creates dir (and its parents) if missing. Returns 0 or -1 with err. */
int as_state_dir_init(const char *dir, struct as_err *err);

/* Writes st as dir/<group>.json through a temporary file and rename, so the file is always
 * whole. With durable, the data and the rename are also fsync'd (survives a power loss, not
 * only a crash of the process); without, the page cache holds them. Returns 0 or -1 with err
 * (nothing is replaced then). */
int as_state_save(const char *dir, const struct as_group_cfg *g, const struct as_group_state *st,
                  int durable, struct as_err *err);

/* Reads dir/<group>.json into st (which must be fresh: zeroed). Returns 1 when restored,
 * 0 when there is no file, -1 with err when the file is unreadable or corrupt (st is left
 * fresh, so the caller can go on). */
int as_state_load(const char *dir, const struct as_group_cfg *g, struct as_group_state *st,
                  struct as_err *err);

/* The JSON form of st (tests, and `save`). Caller owns the result (json_decref). */
json_t *as_state_to_json(const struct as_group_cfg *g, const struct as_group_state *st);

/* Fills a fresh st from its JSON form. Returns 0 or -1 with err (st is left fresh). */
int as_state_from_json(const struct as_group_cfg *g, const json_t *doc, struct as_group_state *st,
                       struct as_err *err);

#endif
