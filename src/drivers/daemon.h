/* The daemon around the engine: loop, HTTP client, signals, reload, log file. */
#ifndef AS_DAEMON_H
#define AS_DAEMON_H

#include "config/config.h"
#include "drivers/engine.h"

/* Runs cfg until SIGINT/SIGTERM (or, with opts->once, one round per group). path is
 * re-read on SIGHUP; NULL disables reload. Borrows cfg. Returns the process exit code
 * (0 clean stop, 1 runtime failure). */
int as_daemon_run(struct as_config *cfg, const char *path, const struct as_engine_opts *opts);

#endif
