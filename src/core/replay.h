/* `autoscaler replay`: recorded observations through the same decision code as `run`, on a
 * virtual clock. Output rows are `t,current,desired,reason`, byte-identical between runs. */
#ifndef AS_REPLAY_H
#define AS_REPLAY_H

#include <stdio.h>

#include "core/config.h"

/* Reads CSV from in: a header `t,replicas,<metric name>...` (replicas optional; columns in any
 * order; every metric of the group must have a column), t in seconds, an empty cell (or
 * "null"/"NaN") is a failed measurement. Without a replicas value the previous decision is
 * the current count (the first row starts at the group's min).
 * Writes the header and one row per input row to out. Returns 0, or -1 with err naming the
 * input line. `input_name` is used in error messages. */
int as_replay_csv(const struct as_group_cfg *g, FILE *in, const char *input_name, FILE *out,
                  struct as_err *err);

#endif
