/* `autoscaler demo`: the embedded default. A local app whose load steps up and down, a
 * process pool of real worker processes, and the daemon holding the app's CPU at 0.80. */
#ifndef AS_DEMO_H
#define AS_DEMO_H

#include <stdint.h>

/* Each takes the arguments after its command name and returns an exit code. */
int as_demo_main(int argc, char **argv);
int as_demo_app_main(int argc, char **argv);    /* the app: status API + worker heartbeats */
int as_demo_worker_main(int argc, char **argv); /* one worker: heartbeats until SIGTERM */

/* The demo's load at `elapsed_ms` after the app started (a repeating step profile). */
double as_demo_load(int64_t elapsed_ms);

#endif
