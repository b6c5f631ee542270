/* The self-hosted mode's commands (docs/selfhosted.md): `autoscaler add-host`, `remove-host`,
 * `generate`, and `init --selfhosted DIR`. Each takes the arguments after its name, prints
 * its own --help, and returns the exit code: 0 success, 1 runtime failure (cannot write, the
 * check or the reload failed), 2 usage or configuration error (a bad host or port, a bad
 * hosts.d entry or template, no haproxy group). */
#ifndef AS_HOSTS_CMD_H
#define AS_HOSTS_CMD_H

int as_cmd_add_host(int argc, char **argv);
int as_cmd_remove_host(int argc, char **argv);
int as_cmd_generate(int argc, char **argv);

/* `autoscaler init --selfhosted DIR [--force]`: argv as for init (the flag among them). */
int as_cmd_init_selfhosted(int argc, char **argv);

/* Whether init's arguments ask for the self-hosted starter files. */
int as_cmd_init_is_selfhosted(int argc, char **argv);

#endif
