/* Internal to the configuration loader (config.c and the parts of a group it leaves to
 * other files): shared steps of parsing a group. */
#ifndef AS_CONFIG_PARSE_H
#define AS_CONFIG_PARSE_H

#include "config/config.h"

#define AS_INT_MAX_OPT 1000000 /* the largest min, max or count a key accepts */

/* "WHAT must be KIND, not ..." at n unless n is of that kind. Returns 0 or -1. */
int as_cfg_expect(const struct as_node *n, enum as_node_kind kind, const char *what,
                  struct as_err *err);

/* After a step of the parse that returned rc: 0 to go on, -1 to stop. A failed step's error is
 * kept with n's document (as_node_keep) and *bad set, so that the steps after it still run
 * and `check` reports every error; without a collector, the first error stops the parse. */
int as_cfg_step(int rc, const struct as_node *n, int *bad, struct as_err *err);

/* A group's min/max schedules and time zone (keys_ok: its own keys parsed, so min and max can
 * be compared). Returns 0 or -1 with err. */
int as_config_parse_bounds(struct as_group_cfg *g, struct as_node *n, int keys_ok, const char *what,
                           struct as_err *err);

/* A group's `schedules` list (list may be NULL). Returns 0 or -1 with err. */
int as_config_parse_schedules(struct as_group_cfg *g, struct as_node *list, struct as_err *err);

#endif
