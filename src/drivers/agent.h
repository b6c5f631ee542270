/* `autoscaler agent` (alias `autoscaler daemon`): runs on each application host and reports
 * this host's CPU utilization (and optionally numbers printed by commands) to the master's
 * `agents` source every interval, in the line protocol of docs/protocol.md, signed with the
 * shared secret. It keeps no backlog: a report made while the master is unreachable is dropped,
 * and the connection is retried with backoff (at most AS_AGENT_RETRY_MAX_MS apart). */
#ifndef AS_AGENT_H
#define AS_AGENT_H

#define AS_AGENT_RETRY_MAX_MS 5000 /* the longest wait between two connection attempts */
#define AS_AGENT_COMMANDS_MAX 15   /* --command values, cpu aside */

/* Runs the agent with the arguments after the command name until SIGTERM or SIGINT. Returns
 * the exit code: 0 stopped cleanly, 1 runtime failure, 2 usage error (printed to stderr). */
int as_agent_main(int argc, char **argv);

#endif
