/* `autoscaler tune` (docs/tune.md): the policy parameters of a group that serve a traffic trace
 * at the least cost within the SLO, searched on one part of the trace (src/sim/tune.h) and
 * reported on the rest. */
#ifndef AS_TUNE_CMD_H
#define AS_TUNE_CMD_H

/* The command; argv after `tune`. Exit codes: 0, 1 (cannot read or write, out of memory),
 * 2 (usage, configuration or trace error). */
int as_cmd_tune(int argc, char **argv);

#endif
