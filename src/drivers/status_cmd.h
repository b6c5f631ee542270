/* `autoscaler status` and `autoscaler queue GROUP` (docs/cli.md): what a running daemon's groups
 * are doing, read from its HTTP API (docs/api.md; drivers/api_client.h finds it).
 *
 * Each takes the arguments after the command's name, prints its own --help, and returns the
 * exit code: 0 answered; 1 the daemon could not be reached or answered an error (no such group,
 * no queue); 2 usage or configuration error. */
#ifndef AS_STATUS_CMD_H
#define AS_STATUS_CMD_H

int as_cmd_status(int argc, char **argv);
int as_cmd_queue(int argc, char **argv);

#endif
