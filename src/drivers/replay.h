/* `autoscaler replay`: recorded observations through the same decision code as `run`, on a
 * virtual clock. Output rows are `t,current,desired,reason`, byte-identical between runs.
 * The input formats are described in docs/replay.md. */
#ifndef AS_REPLAY_H
#define AS_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

enum as_replay_format {
    AS_REPLAY_AUTO = 0, /* by the name (.jsonl/.ndjson, .csv), else by the first character */
    AS_REPLAY_CSV,
    AS_REPLAY_JSONL,
};

struct as_replay_opts {
    enum as_replay_format format;
    int64_t start_ms; /* wall-clock time of t = 0 (Unix ms): now = start_ms + t * 1000 */
};

/* Parses `csv` or `jsonl`. Returns 0, or -1 with err. */
int as_replay_format_parse(const char *s, enum as_replay_format *out, struct as_err *err);

/* Parses a --start value: epoch seconds (`1700000000`, `1700000000.5`) or an RFC 3339 time
 * (`2024-03-01T08:00:00Z`, `2024-03-01T09:00:00.250+01:00`). Returns 0 with Unix ms in out,
 * or -1 with err. */
int as_replay_start_parse(const char *s, int64_t *out, struct as_err *err);

/* Reads observations from in (CSV or JSON Lines, see docs/replay.md), decides every row with
 * as_decide and records the result with as_decide_scaled (in a replay every scale lands).
 * Writes the header and one row per input row to out. Without a replicas value the previous
 * decision is the current count (the first row starts at the group's min).
 * Returns 0, or -1 with err at `input_name:LINE:1` for bad input (nothing past that line is
 * written) or without position for a read error or an allocation failure. opts may be NULL
 * (auto format, start 0). */
int as_replay(const struct as_group_cfg *g, FILE *in, const char *input_name,
              const struct as_replay_opts *opts, FILE *out, struct as_err *err);

/* CSV only, start 0: as_replay with AS_REPLAY_CSV. */
int as_replay_csv(const struct as_group_cfg *g, FILE *in, const char *input_name, FILE *out,
                  struct as_err *err);

#endif
