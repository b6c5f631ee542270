/* `autoscaler workers [-c FILE] [--group NAME] [--json]`: lists the workers of each process pool
 * of a running daemon (docs/cli.md, docs/scalers/process.md), as queue platforms' `worker list`
 * does: id, pid, status (BUSY, FREE, UNKNOWN, STOPPING, RESTARTING), when it started, since when
 * it is busy or idle, its task. It reads <state_dir>/<group>.workers, the list the pool keeps
 * (scalers/process_list.h), and tells a running daemon from one that died and left the file.
 *
 * Takes the arguments after the command's name, prints its own --help, and returns the exit
 * code: 0 every pool asked for was listed; 1 a pool could not be listed (no daemon runs it: no
 * list, or the list of a daemon that is gone; an unreadable list); 2 usage or configuration
 * error (no such group, not a process pool, state_dir empty). */
#ifndef AS_WORKERS_CMD_H
#define AS_WORKERS_CMD_H

int as_cmd_workers(int argc, char **argv);

#endif
